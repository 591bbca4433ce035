"""Keystroke -> repaint latency in real Chromium, and the server's compute per rerun.

``python -m bench.latency [--keys 20] [--pages explore compare] [--long 200] [--server-reps 40] [--no-browser]``

Browser part: a private ``streamlit run app.py``, Debian's Chromium, one key at a time (each key waits for the
previous one's repaint, then 250 ms of quiet). Stamped inside the page on one clock (see bench/common.py's
monitor): keydown -> the next-token bars name the new character (bars), -> the BertViz iframe gets its new page
(frame), -> BertViz's SVG lists the new tokens (bv). Also keydown -> script running (debounce + queue) and the
script's run time as the browser sees it. On Explore (one view) and Compare (two of each), with a short word and
with a 200-character input.

Server part (in-process, no browser): what one Explore rerun computes — capture, next-token probabilities, the
plotly figures (serialised to JSON, as st.plotly_chart does), the BertViz page and the JSON exports — uncached
(new text) and cached (the capture comes back from st.cache_data as a pickled copy). Run on a fresh thread per
rerun, as Streamlit does, with torch.set_num_threads(1) per run (the app now) and only once at import (before).

Head lab part (issue 15): the same, for one keystroke on the Head lab page with the knock-out tool open (the intact
forward, the one extra knocked-out forward, the before/after bars, the cached importance table).

Targets (issue 4/7): p50 <= 200 ms, p95 <= 400 ms keystroke -> BertViz, server <= 20 ms per rerun; Head lab
knock-out <= 30 ms.
"""

from __future__ import annotations

import argparse
import pickle
import threading
import time

from bench.common import (
    ARM_JS,
    DONE_JS,
    MONITOR_JS,
    READ_JS,
    Server,
    append_results,
    fmt_ms,
    guard_offline,
    launch_chromium,
    machine_info,
    md_table,
    summary,
)
from models import registry

TYPED = "capybaraelephantowlsquidbeetroot"  # no letter repeats its neighbour: every key changes the title
LONG_SEED = "flycatchercapybarawatermelonbutterfly"


def expected(text: str, block_size: int = 48) -> tuple[str, list[str]]:
    from models.vocab import DEFAULT_VOCAB

    tokens = list(DEFAULT_VOCAB.encode(text, max_len=block_size).tokens)
    return f"Next token after “{text[-1]}”", tokens


# ---- browser ------------------------------------------------------------------------------------------------------
def measure_typing(
    page,
    base_url: str,
    path: str,
    param: str,
    start_text: str,
    keys: str,
    n_views: int,
    settle_s: float = 0.25,
    timeout_ms: int = 15_000,
) -> list[dict]:
    from urllib.parse import quote

    page.goto(f"{base_url}/{path}?{param}={quote(start_text)}")
    box = page.get_by_role("textbox", name="Type a word", exact=True)
    box.wait_for(timeout=90_000)
    page.evaluate(MONITOR_JS)
    # Wait until the starting text is fully drawn, in every view.
    title, tokens = expected(start_text) if start_text else ("Next token after <BOS> (start of a word)", ["<BOS>"])
    page.evaluate(ARM_JS, [title, tokens, n_views])
    page.evaluate("() => { window.__lab.kd = performance.now(); }")
    page.wait_for_function("() => window.__lab.marks.bv != null", timeout=90_000)
    box.click()
    box.press("End")
    page.wait_for_timeout(500)
    text, out = start_text, []
    for ch in keys:
        text += ch
        title, tokens = expected(text)
        page.evaluate(ARM_JS, [title, tokens, n_views])
        page.keyboard.press(ch)
        try:
            page.wait_for_function(DONE_JS, timeout=timeout_ms)
            m = page.evaluate(READ_JS)
            kd = m["kd"]
            rel = lambda k: (m[k] - kd) if m.get(k) is not None else None  # noqa: E731
            out.append(
                {
                    "key": ch,
                    "bars": rel("bars"),
                    "frame": rel("frame"),
                    "bv": rel("bv"),
                    "run": rel("run"),
                    "script": (m["idle"] - m["run"])
                    if m.get("idle") is not None and m.get("run") is not None
                    else None,
                    "error": None,
                }
            )
        except Exception as e:  # a keystroke whose views never showed it: counted, then resynchronise
            out.append(
                {
                    "key": ch,
                    "bars": None,
                    "frame": None,
                    "bv": None,
                    "run": None,
                    "script": None,
                    "error": type(e).__name__,
                }
            )
            page.wait_for_timeout(2000)
        page.wait_for_timeout(settle_s * 1000)
    return out


def browser_rows(n_keys: int, pages: list[str], long_len: int, short_only: bool = False) -> tuple[list, str, list]:
    from playwright.sync_api import sync_playwright

    keys = (TYPED * 3)[:n_keys]
    long_text = (LONG_SEED * 10)[:long_len]
    scenarios = []
    if "explore" in pages:
        scenarios += [("Explore", "", "text", "", 1), (f"Explore, {long_len}-char input", "", "text", long_text, 1)]
    if "compare" in pages:
        scenarios += [
            ("Compare (2 models)", "compare", "text", "", 2),
            (f"Compare, {long_len}-char input", "compare", "text", long_text, 2),
        ]
    if short_only:
        scenarios = [s for s in scenarios if not s[3]]
    rows, blocked, raw = [], [], {}
    with Server() as server, sync_playwright() as pw:
        server.wait_healthy()
        browser = launch_chromium(pw)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        guard_offline(page, blocked)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for label, path, param, start, n in scenarios:
            res = measure_typing(page, server.url, path, param, start, keys, n)
            raw[label] = res
            ok = [r for r in res if r["error"] is None]
            bars, bv, frame = ([r[k] for r in ok if r[k] is not None] for k in ("bars", "bv", "frame"))
            run = [r["run"] for r in ok if r["run"] is not None]
            script = [r["script"] for r in ok if r["script"] is not None]
            draw = [r["bv"] - r["frame"] for r in ok if r["bv"] is not None and r["frame"] is not None]
            b50, b95, bmax = summary(bars)
            v50, v95, vmax = summary(bv)
            rows.append(
                (
                    label,
                    len(res),
                    len(res) - len(ok),
                    fmt_ms(b50),
                    fmt_ms(b95),
                    fmt_ms(bmax),
                    fmt_ms(v50),
                    fmt_ms(v95),
                    fmt_ms(vmax),
                    fmt_ms(summary(run)[0]),
                    fmt_ms(summary(script)[0]),
                    fmt_ms(summary(draw)[0]),
                    "met" if v50 <= 200 and v95 <= 400 and len(ok) == len(res) else "NOT met",
                )
            )
        browser.close()
    notes = f"non-localhost requests: {len(blocked)}; page errors: {len(errors)}"
    return rows, notes, raw


# ---- server compute ---------------------------------------------------------------------------------------------
def explore_rerun(bundle, cap, text: str, words) -> None:
    """What app_pages/1_explore.py computes per rerun once it has a capture (figures serialised like
    st.plotly_chart does; the export figures and JSON are built lazily, on click)."""
    import plotly.io

    from models.data import next_char_counts
    from viz import figures as F
    from viz.bertviz_view import live_parts
    from viz.metrics import next_token_probs

    live_parts(cap.bertviz_kwargs(), "head")  # what the persistent BertViz frame receives; sent first
    probs = next_token_probs(cap.next_token_logits(), 1.0, 8)
    seen = next_char_counts(text.lower(), words) if text else {}
    figs = [F.next_token_bars(probs, bundle.vocab, top_k=8, expected=next(iter(seen), None)), F.entropy_heatmap(cap)]
    name = cap.names()[0]
    figs += [
        F.attention_heatmap(cap, name, 0, query=len(cap.tgt_tokens) - 1),
        F.query_entropy(cap, name, 0, query=len(cap.tgt_tokens) - 1),
    ]
    for f in figs:  # as st.plotly_chart does (the JSON exports are built on click)
        plotly.io.to_json(f.to_dict(), validate=False)


def breakdown_rows(reps: int, long_len: int) -> list:
    """Where one uncached Explore rerun's server time goes, piece by piece (median ms over ``reps``)."""
    import statistics

    import plotly.io
    import torch

    from models.capture import capture
    from models.checkpoint import load_checkpoint
    from models.data import next_char_counts
    from ui.cache import shipped_words
    from viz import figures as F
    from viz.bertviz_view import live_parts
    from viz.metrics import next_token_probs

    torch.set_num_threads(1)
    words = shipped_words()
    rows = []
    for name in [s.name for s in registry.one_per_architecture()]:
        b = load_checkpoint(name)
        for label, text in (("word", "capybar"), (f"{long_len} chars", (LONG_SEED * 10)[:long_len])):
            cap = capture(b, text)
            nm = cap.names()[0]
            q = len(cap.tgt_tokens) - 1
            probs = next_token_probs(cap.next_token_logits(), 1.0, 8)
            family = "blocks" if not cap.is_seq2seq else "encoder"
            figs = {}
            steps = {
                "capture (forward + copy patterns)": lambda: capture(b, text),
                "st.cache_data copy of the capture (pickle round trip)": lambda: pickle.loads(pickle.dumps(cap)),
                "next-token probs + word-list hint": lambda: (
                    next_token_probs(cap.next_token_logits(), 1.0, 8),
                    next_char_counts(text, words),
                ),
                "figure: next-token bars": lambda: figs.update(bars=F.next_token_bars(probs, b.vocab, top_k=8)),
                "figure: entropy heatmap": lambda: figs.update(ent=F.entropy_heatmap(cap)),
                "figure: attention heatmap": lambda: figs.update(heat=F.attention_heatmap(cap, nm, 0, query=q)),
                "figure: per-query entropy": lambda: figs.update(qent=F.query_entropy(cap, nm, 0, query=q)),
                "st.plotly_chart serialisation (to_dict + to_json, 4 figures)": lambda: [
                    plotly.io.to_json(f.to_dict(), validate=False) for f in figs.values()
                ],
                "BertViz head view (markup + script for the live frame)": lambda: live_parts(cap.bertviz_kwargs()),
                "JSON exports (only when a download button is clicked now)": lambda: (
                    cap.to_json("all", family=family),
                    cap.to_json("layer", family=family, layer=0),
                ),
            }
            total = 0.0
            for what, fn in steps.items():
                fn()
                ms = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    fn()
                    ms.append((time.perf_counter() - t0) * 1000)
                med = statistics.median(ms)
                total += med if not ("pickle" in what or "JSON exports" in what) else 0
                rows.append((name, label, what, f"{med:.1f}"))
            rows.append((name, label, "**sum (uncached rerun)**", f"**{total:.1f}**"))
    return rows


def server_rows(reps: int, long_len: int) -> list:
    import torch

    from models.capture import capture
    from models.checkpoint import load_checkpoint
    from ui.cache import shipped_words

    words = shipped_words()
    rows = []
    for name in [s.name for s in registry.one_per_architecture()]:
        b = load_checkpoint(name)
        for label, texts in (
            ("word", [TYPED[: i + 1] for i in range(min(reps, len(TYPED)))]),
            (f"{long_len} chars", [(LONG_SEED * 10)[: long_len - 5 + i % 5] for i in range(reps)]),
        ):
            texts = (texts * (reps // len(texts) + 1))[:reps]
            caps = {t: capture(b, t) for t in texts}
            blobs = {t: pickle.dumps(caps[t]) for t in texts}
            explore_rerun(b, caps[texts[0]], texts[0], words)  # warm: imports, plotly templates

            def run(fn, fresh: bool, per_run_threads: bool) -> list[float]:
                times = []
                for t in texts:
                    box = {}

                    def work():
                        if per_run_threads:
                            torch.set_num_threads(1)
                        t0 = time.perf_counter()
                        fn(t)
                        box["ms"] = (time.perf_counter() - t0) * 1000

                    if fresh:
                        th = threading.Thread(target=work)
                        th.start()
                        th.join()
                    else:
                        work()
                    times.append(box["ms"])
                return times

            uncached = lambda t: explore_rerun(b, capture(b, t), t, words)  # noqa: E731
            cached = lambda t: explore_rerun(b, pickle.loads(blobs[t]), t, words)  # noqa: E731
            only_capture = lambda t: capture(b, t)  # noqa: E731
            torch.set_num_threads(1)
            res = {
                "capture only, fresh thread, 1 torch thread": run(only_capture, True, True),
                "uncached rerun, fresh thread, 1 torch thread (app now)": run(uncached, True, True),
                "cached rerun, fresh thread, 1 torch thread (app now)": run(cached, True, True),
                "uncached rerun, fresh thread, threads set once at import (before)": run(uncached, True, False),
            }
            for what, ms in res.items():
                p50, p95, mx = summary(ms)
                target = "" if "capture only" in what else ("met" if p50 <= 20 else "NOT met")
                rows.append((name, label, what, len(ms), f"{p50:.1f}", f"{p95:.1f}", f"{mx:.1f}", target))
    return rows


def heads_knockout_rerun(bundle, text: str, knocked_out, cached_tables: bytes) -> None:
    """What app_pages/6_heads.py computes per keystroke with the knock-out tool open: the intact capture and the
    knocked-out one (the one extra forward), both next-token distributions and their comparison, the two bar
    figures serialised, and the per-checkpoint importance + roles tables back from st.cache_data (a pickled copy)."""
    import plotly.io

    from models.capture import capture
    from viz import figures as F
    from viz.metrics import distribution_comparison, next_token_probs

    cap, ko = capture(bundle, text), capture(bundle, text, knocked_out=knocked_out)
    p_all, p_ko = next_token_probs(cap.next_token_logits()), next_token_probs(ko.next_token_logits())
    distribution_comparison(p_all, p_ko)
    pickle.loads(cached_tables)
    for f in (F.next_token_bars(p_all, bundle.vocab, top_k=8), F.next_token_bars(p_ko, bundle.vocab, top_k=8)):
        plotly.io.to_json(f.to_dict(), validate=False)


def heads_rows(reps: int) -> list:
    """Server compute per keystroke on the Head lab with the knock-out tool open (target p50 <= 30 ms), each rerun
    on a fresh thread with one torch thread, as the app runs it: one head knocked out, and every head."""
    import torch

    from models.checkpoint import load_checkpoint
    from models.heads import attention_modules, head_importance, head_roles
    from ui.cache import validation_words

    words = validation_words()
    rows = []
    for name in registry.shipped_names():
        b = load_checkpoint(name)
        heads = [(m, h) for m, n in attention_modules(b.model) for h in range(n)]
        tables = pickle.dumps((head_importance(b, words), head_roles(b, words)))
        texts = [(TYPED * 2)[: i % len(TYPED) + 1] for i in range(reps)]
        for what, ko in (("1 head knocked out", heads[:1]), (f"all {len(heads)} heads knocked out", heads)):
            heads_knockout_rerun(b, texts[0], ko, tables)  # warm
            times = []
            for t in texts:
                box = {}

                def work():
                    torch.set_num_threads(1)
                    t0 = time.perf_counter()
                    heads_knockout_rerun(b, t, ko, tables)
                    box["ms"] = (time.perf_counter() - t0) * 1000

                th = threading.Thread(target=work)
                th.start()
                th.join()
                times.append(box["ms"])
            p50, p95, mx = summary(times)
            rows.append(
                (name, what, len(times), f"{p50:.1f}", f"{p95:.1f}", f"{mx:.1f}", "met" if p50 <= 30 else "NOT met")
            )
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=20, help="keystrokes per scenario (default 20)")
    ap.add_argument("--pages", nargs="+", default=["explore", "compare"], choices=["explore", "compare"])
    ap.add_argument("--long", type=int, default=200, help="length of the long input (default 200)")
    ap.add_argument("--short-only", action="store_true", help="skip the long-input scenarios")
    ap.add_argument("--server-reps", type=int, default=40, help="reruns per server measurement (default 40)")
    ap.add_argument("--no-browser", action="store_true", help="server compute only")
    ap.add_argument("--no-server", action="store_true", help="browser typing only")
    ap.add_argument(
        "--browser-path",
        action="store_true",
        help="Explore's browser path instead (issue 24; bench/browser_path.py): key -> paint, page weight",
    )
    ap.add_argument("--trace", action="store_true", help="with --browser-path: split each key's ms by phase")
    args = ap.parse_args(argv)
    if args.browser_path:
        from bench import browser_path

        return browser_path.main(["--keys", str(args.keys), *(["--trace"] if args.trace else [])])

    sections = [machine_info("cpu")]
    print(sections[0])
    if not args.no_server:
        srows = server_rows(args.server_reps, args.long)
        shead = (
            "model",
            "input",
            "what (one Explore rerun, server side)",
            "n",
            "p50 ms",
            "p95 ms",
            "max ms",
            "target p50 <= 20 ms",
        )
        stable = md_table(shead, srows)
        print("\nServer compute per rerun\n" + stable)
        sections.append("**Server compute per rerun** (in-process)\n\n" + stable)
        ktable = md_table(
            ("model", "input", "piece of one Explore rerun", "median ms"),
            breakdown_rows(max(5, args.server_reps // 4), args.long),
        )
        print("\nWhere the server time goes\n" + ktable)
        sections.append("**Where the server time goes** (median per piece)\n\n" + ktable)
        htable = md_table(
            ("model", "knock-out", "n", "p50 ms", "p95 ms", "max ms", "target p50 <= 30 ms"),
            heads_rows(args.server_reps),
        )
        print("\nHead lab, knock-out tool open: server compute per keystroke\n" + htable)
        sections.append("**Head lab, knock-out tool open: server compute per keystroke** (in-process)\n\n" + htable)
    if not args.no_browser:
        brows, notes, _ = browser_rows(args.keys, args.pages, args.long, short_only=args.short_only)
        bhead = (
            "scenario",
            "keys",
            "missed",
            "bars p50",
            "bars p95",
            "bars max",
            "BertViz p50",
            "BertViz p95",
            "BertViz max",
            "key -> script starts p50",
            "script run p50",
            "new data in frame -> SVG found p50",
            "target (BertViz p50 <= 200, p95 <= 400)",
        )
        btable = md_table(bhead, brows)
        print("\nKeystroke -> repaint in Chromium (ms)\n" + btable + "\n" + notes)
        sections.append(
            f"**Keystroke -> repaint in Chromium** (ms, {args.keys} keys each, one at a time)\n\n"
            + btable
            + "\n\n"
            + notes
        )
    append_results("latency", "\n\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
