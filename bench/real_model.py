"""The Real model page's costs: load time (first de-quantizing load, cached load), keystroke -> repaint in real
Chromium, and the server's memory.

``python -m bench.real_model [--keys 12] [--first-load] [--no-browser] [--forward-only] [--batch 1 4 8 16]
[--page-cpu]``

Browser part: a private ``streamlit run app.py``, Debian's Chromium on /real_model, one key at a time (each key
waits for the previous one's repaint and 300 ms of quiet). Timed from the key press to the first painted frame
(requestAnimationFrame polling) where (bars) the next-token chart's title names the new last token and (bv) the
BertViz head view's last token is the new one. The expected tokens come from the model's own tokenizer. The
server's resident memory is read before the page opens, after the model is loaded, and after typing.

Server part (in-process): what one keystroke's rerun computes, wall and CPU time (see :func:`server_rerun`).

``--batch B ...``: B sessions typing at once through the process's micro-batcher (services/lm_batcher.py), CPU
per appended token on one torch thread (see :func:`batched_forward`).

``--page-cpu``: the page's own cost per key: one simulated student (bench.classroom's Tab: Streamlit's WebSocket
protocol, no browser) types the lecture sentence twice into a private server, each key waiting until its bars are
shown and 0.3 s more; the server's CPU time per key on the second pass (every forward pass cached), and key -> bars.

``--first-load`` also times a de-quantizing load from the GGUF into an empty temporary cache (tens of seconds).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import Server, append_results, fmt_ms, guard_offline, launch_chromium, machine_info, md_table, summary

START = "The animal didn't cross the street because it was too tired"
TYPED = " and went to sleep early"

# The page's per-key views are drawn in the browser by the live-views component (ui/live/live.js, mode "server")
# from the data each run sends: a key is shown when the bars' title, and BertViz's last key-column token, name the
# key's last token. That data comes only from a run of the new text (started after the key).
LAST_BAR_TITLE_JS = """(want) => [...document.querySelectorAll('[data-testid="al-live-bars"] .al-title')]
    .some(t => t.textContent === want)"""
LAST_BV_TOKEN_JS = """(want) => {
    const t = [...document.querySelectorAll('[data-testid="al-live-bertviz"] #vis svg text')].map(e => e.textContent);
    return t.length > 0 && t[t.length - 1] === want;
}"""


def load_times(first: bool) -> list[list[str]]:
    from models import hf_lm, hf_setup

    rows = []
    if first:
        with tempfile.TemporaryDirectory(prefix="attention-lab-bench-cache-") as tmp:
            t0 = time.perf_counter()
            b = hf_lm.load_bundled(cache_dir=Path(tmp) / "smollm2")
            rows.append(
                [
                    "first load: de-quantize the GGUF + write the safetensors cache",
                    f"{time.perf_counter() - t0:.1f} s",
                    f"{b.n_bytes / 1e6:,.0f} MB weights",
                ]
            )
            del b
    t0 = time.perf_counter()
    b = hf_lm.load_bundled()
    rows.append(
        [
            "cached load (safetensors), in-process",
            f"{time.perf_counter() - t0:.1f} s",
            f"{sum(f.stat().st_size for f in hf_setup.bundled_cache_dir().iterdir()) / 1e6:,.0f} MB on disk",
        ]
    )
    return rows


def server_rerun(n_keys: int) -> list[list[str]]:
    """What one keystroke costs the server, in-process, on one torch thread: the forward pass with attention, the
    BertViz head view's parts, the page's four figures (serialised as st.plotly_chart does) and the pickle that
    st.cache_data makes. Wall and CPU time (CPU time is what a busy machine can't inflate)."""
    import pickle

    import torch

    from models import hf_lm
    from viz import figures as F
    from viz import head_lab_figures
    from viz.bertviz_view import live_parts
    from viz.metrics import next_token_probs, word_attention_lesson

    torch.set_num_threads(1)
    b = hf_lm.load_bundled()
    vocab = hf_lm.TokenVocab(b.tokenizer)
    parts = {
        "forward (capture_lm)": ([], []),
        "BertViz head view": ([], []),
        "figures + lesson": ([], []),
        "cache pickle": ([], []),
    }

    def timed(name, fn):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        parts[name][0].append((time.perf_counter() - w0) * 1000)
        parts[name][1].append((time.process_time() - c0) * 1000)
        return out

    text = START
    for ch in TYPED[:n_keys]:
        text += ch
        cap = timed("forward (capture_lm)", lambda: hf_lm.capture_lm(b, text))
        timed("BertViz head view", lambda: live_parts(cap.bertviz_kwargs(), "head"))

        def figures():
            probs = next_token_probs(cap.next_token_logits(), 1.0, 10)
            figs = [
                F.next_token_bars(probs, vocab, top_k=10),
                F.entropy_heatmap(cap),
                F.attention_heatmap(cap, cap.names()[0], 0),
            ]
            lesson = word_attention_lesson(cap, "it", ("animal", "street"))
            figs.append(head_lab_figures.candidate_heads_bars(lesson["weights"]))
            return [f.to_json() for f in figs]

        timed("figures + lesson", figures)
        timed("cache pickle", lambda: pickle.loads(pickle.dumps(cap)))
    rows = []
    for name, (wall, cpu) in parts.items():
        rows.append(
            [
                f"server per keystroke: {name} ({len(wall)} texts)",
                f"p50 {fmt_ms(summary(wall)[0])} ms wall",
                f"p50 {fmt_ms(summary(cpu)[0])} ms CPU, max {fmt_ms(max(wall))} ms wall",
            ]
        )
    return rows


def prefix_forward(n_keys: int) -> list[list[str]]:
    """The forward pass per keystroke, before and after the prefix cache (models/hf_prefix_cache.py), CPU time on
    one torch thread: the full pass over every token (before); the pass over the changed tokens only, with the
    prefix's keys/values from the cache (after), also per token it computed; and a second student typing the same
    keys into the same process (everything cached: the capture is assembled from the rows)."""
    import torch

    from models import hf_lm
    from models.hf_prefix_cache import PrefixCache

    torch.set_num_threads(1)
    b = hf_lm.load_bundled()
    cache = PrefixCache()
    hf_lm.capture_lm(b, START, prefix=cache, key="bench")  # the page opened on the lecture sentence
    full, cached, per_token, again, tokens = [], [], [], [], []

    def cpu(fn):
        c0 = time.process_time()
        fn()
        return (time.process_time() - c0) * 1000

    text = START
    for ch in TYPED[:n_keys]:
        text += ch
        full.append(cpu(lambda: hf_lm.capture_lm(b, text)))
        before = cache.computed
        cached.append(cpu(lambda: hf_lm.capture_lm(b, text, prefix=cache, key="bench")))
        tokens.append(cache.computed - before)
        per_token.append(cached[-1] / max(1, tokens[-1]))
    text = START
    for ch in TYPED[:n_keys]:
        text += ch
        again.append(cpu(lambda: hf_lm.capture_lm(b, text, prefix=cache, key="bench")))
    T = len(hf_lm.encode(b, text)[0])
    rows = [
        [
            f"forward per keystroke, full pass (before; {len(full)} keys, up to {T} tokens)",
            f"p50 {fmt_ms(summary(full)[0])} ms CPU",
            f"p95 {fmt_ms(summary(full)[1])} ms",
        ],
        [
            "forward per keystroke, prefix cache (after)",
            f"p50 {fmt_ms(summary(cached)[0])} ms CPU",
            f"p95 {fmt_ms(summary(cached)[1])} ms; tokens computed per key: mean {sum(tokens) / len(tokens):.2f}, "
            f"max {max(tokens)}",
        ],
        [
            "forward per appended token computed, prefix cache (after)",
            f"p50 {fmt_ms(summary(per_token)[0])} ms CPU",
            f"p95 {fmt_ms(summary(per_token)[1])} ms",
        ],
        [
            "a second student typing the same keys (all cached)",
            f"p50 {fmt_ms(summary(again)[0])} ms CPU",
            f"p95 {fmt_ms(summary(again)[1])} ms",
        ],
        [
            "prefix cache after typing",
            f"{len(cache)} tokens, {cache.nbytes / 1e6:.1f} MB",
            f"bound {cache.max_bytes / 1e6:.0f} MB",
        ],
    ]
    return rows


def batched_forward(n_keys: int, sizes: list[int]) -> list[list[str]]:
    """CPU time per appended token when B sessions type at once, one torch thread.

    (a) the padded forward alone (models/hf_prefix_cache.forward_rows): B rows, each one new token after its own
    cached prefix of ~12 tokens; (b) B session threads typing ``n_keys`` keys of their own sentence (no two share
    a prefix, so nothing is reused across sessions) through one Batcher, all pressing a key at the same moment
    (a barrier per key), each waiting for its capture: the process's CPU time over the tokens the model computed
    (forward, the sessions' own cache walks and the assembly of their captures), the mean rows per pass, and a
    key's wall time."""
    import threading

    import torch

    from models import hf_lm
    from models.hf_prefix_cache import PrefixCache, Row, capture_ids, forward_rows
    from services.lm_batcher import Batcher

    torch.set_num_threads(1)
    b = hf_lm.load_bundled()
    rows = []
    for B in sizes:
        cache = PrefixCache()
        base = [f"Student {i} wrote: {START}" for i in range(B)]
        batch = []
        for t in base:
            ids, _ = hf_lm.encode(b, t)
            ids = ids[:13]
            capture_ids(b, ids[:12], cache, "bench")
            batch.append(Row(tuple(ids), cache.walk("bench", ids)[:12]))
        forward_rows(b.model, batch)  # warm
        cpu = []
        for _ in range(3):
            c0 = time.process_time()
            forward_rows(b.model, batch)
            cpu.append((time.process_time() - c0) * 1000)
        direct = min(cpu)
        cache = PrefixCache()
        batcher = Batcher()
        for t in base:
            hf_lm.capture_lm(b, t, prefix=cache, key="bench")  # every session's page opened on its sentence
        go = threading.Barrier(B)
        walls: list[float] = []

        def student(i):
            text = base[i]
            torch.set_num_threads(1)
            for ch in TYPED[:n_keys]:
                text += ch
                go.wait()
                w0 = time.perf_counter()
                hf_lm.capture_lm(b, text, prefix=cache, key="bench", batcher=batcher)
                walls.append((time.perf_counter() - w0) * 1000)

        before, c0 = cache.computed, time.process_time()
        threads = [threading.Thread(target=student, args=(i,)) for i in range(B)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        cpu_ms, tokens = (time.process_time() - c0) * 1000, cache.computed - before
        passes = batcher.batches
        rows.append(
            [
                f"B = {B}: {B} sessions × {n_keys} keys through the batcher",
                f"{fmt_ms(cpu_ms / max(1, tokens))} ms CPU per appended token",
                f"{tokens} tokens in {len(passes)} passes (mean {sum(passes) / max(1, len(passes)):.1f} rows); "
                f"key wall p50 {fmt_ms(summary(walls)[0])} / p95 {fmt_ms(summary(walls)[1])} ms; padded forward "
                f"alone, B one-token rows: {fmt_ms(direct)} ms CPU = {fmt_ms(direct / B)} ms a token",
            ]
        )
    return rows


def page_cpu(n_keys: int) -> list[list[str]]:
    """See the module docstring (``--page-cpu``)."""
    import asyncio

    from bench import classroom as C

    async def student(server) -> tuple[float, list[float]]:
        rec = C.Record("s0", "real_model")
        t0 = time.perf_counter()
        tab = C.Tab(server.url, rec, "real_model", lambda: time.perf_counter() - t0)
        await tab.open(query="")
        box = C.BOX["real_model"]
        wid = tab.set_value(box, "string_value", "T")
        await tab.rerun()
        await tab.wait_finished(180)
        C.real_last_token("The")  # the tokenizer loads before any key is timed
        cpu = 0.0
        for _ in range(2):  # the first pass computes the forward passes, the second finds them cached
            text, cpu0 = "", server.cpu_seconds()
            for ch in C.LECTURE[:n_keys]:
                text += ch
                tab.set_value(box, "string_value", text)
                rec.keys.append(C.Key(text, time.perf_counter(), C.real_last_token(text)))
                tab.watch = tab.widget_fragment.get(wid, "")  # a box inside an st.fragment: that fragment's rerun
                await tab.rerun(fragment=tab.watch, auto=False)
                end = time.perf_counter() + C.KEY_TIMEOUT_S
                while rec.keys[-1].latency is None and time.perf_counter() < end:
                    await asyncio.sleep(0.005)
                await tab.wait_finished(30)
                await asyncio.sleep(0.3)
            cpu = (server.cpu_seconds() - cpu0) * 1000 / n_keys
        await tab.close()
        return cpu, [k.latency * 1000 for k in rec.keys[-n_keys:] if k.latency is not None]

    with Server() as server:
        server.wait_healthy()
        cpu, bars = asyncio.run(student(server))
    p50, p95, mx = summary(bars)
    return [
        [
            f"server CPU per key, one student retyping the lecture ({n_keys} keys, forward passes cached)",
            f"{fmt_ms(cpu)} ms",
            f"key -> bars p50 {fmt_ms(p50)} / p95 {fmt_ms(p95)} / max {fmt_ms(mx)} ms ({len(bars)} of {n_keys} shown)",
        ]
    ]


def typing(n_keys: int) -> tuple[list[list[str]], list[str]]:
    from playwright.sync_api import sync_playwright

    from models import hf_lm

    b = hf_lm.load_bundled()
    notes = []
    with Server() as server, sync_playwright() as pw:
        t_health = server.wait_healthy()
        rss0 = server.rss_mb()
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        blocked: list[str] = []
        guard_offline(page, blocked)
        t0 = time.perf_counter()
        page.goto(f"{server.url}/real_model")
        page.wait_for_function(LAST_BV_TOKEN_JS, arg="␣tired", timeout=180_000, polling="raf")
        t_first = time.perf_counter() - t0
        rss1 = server.rss_mb()
        box = page.get_by_role("textbox", name="Type a sentence", exact=True)
        box.click()
        box.press("End")
        page.wait_for_timeout(800)
        text, bars, bv = START, [], []
        for ch in TYPED[:n_keys]:
            text += ch
            last = hf_lm.capture_lm(b, text).tgt_tokens[-1]
            want_title = f"Next token after “{last}”"
            t0 = time.perf_counter()
            page.keyboard.press(ch if ch != " " else "Space")
            page.wait_for_function(LAST_BAR_TITLE_JS, arg=want_title, timeout=30_000, polling="raf")
            bars.append((time.perf_counter() - t0) * 1000)
            page.wait_for_function(LAST_BV_TOKEN_JS, arg=last, timeout=30_000, polling="raf")
            bv.append((time.perf_counter() - t0) * 1000)
            page.wait_for_timeout(300)
        rss2 = server.rss_mb()
        browser.close()
    p50b, p95b, maxb = summary(bars)
    p50v, p95v, maxv = summary(bv)
    rows = [
        ["server start -> /_stcore/health", f"{t_health:.1f} s", ""],
        ["page open -> BertViz drawn (model loaded from the cache in the server)", f"{t_first:.1f} s", ""],
        [
            f"keystroke -> next-token bars ({len(bars)} keys)",
            f"p50 {fmt_ms(p50b)} ms",
            f"p95 {fmt_ms(p95b)}, max {fmt_ms(maxb)} ms",
        ],
        [
            f"keystroke -> BertViz head view ({len(bv)} keys)",
            f"p50 {fmt_ms(p50v)} ms",
            f"p95 {fmt_ms(p95v)}, max {fmt_ms(maxv)} ms",
        ],
        ["server RSS: started / model loaded / after typing", f"{rss0:,.0f} / {rss1:,.0f} / {rss2:,.0f} MiB", ""],
    ]
    if blocked:
        notes.append(f"{len(blocked)} request(s) to other hosts were blocked: {blocked[:3]}")
    return rows, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.real_model", description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=12, help=f"keystrokes (at most {len(TYPED)})")
    ap.add_argument("--first-load", action="store_true", help="also time a de-quantizing load (tens of seconds)")
    ap.add_argument("--no-browser", action="store_true", help="load and server compute only")
    ap.add_argument(
        "--forward-only",
        action="store_true",
        help="only the forward pass per keystroke, before and after the prefix cache",
    )
    ap.add_argument(
        "--batch",
        type=int,
        nargs="+",
        metavar="B",
        help="only CPU per appended token with B sessions typing at once through the micro-batcher",
    )
    ap.add_argument("--page-cpu", action="store_true", help="only the page's own server CPU per key (one student)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.page_cpu:
        body = machine_info() + "\n\n" + md_table(["Real model page, one student", "value", ""], page_cpu(args.keys))
        print(body)
        append_results(
            f"Real model page: server CPU per key (`python -m bench.real_model --page-cpu --keys {args.keys}`)", body
        )
        return 0
    if args.batch:
        body = (
            machine_info()
            + "\n\n"
            + md_table(
                ["Real model, B sessions at once, one torch thread", "value", ""],
                batched_forward(args.keys, args.batch),
            )
        )
        print(body)
        append_results(
            "Real model: CPU per appended token, sessions batched "
            f"(`python -m bench.real_model --batch {' '.join(map(str, args.batch))} --keys {args.keys}`)",
            body,
        )
        return 0
    if args.forward_only:
        body = (
            machine_info()
            + "\n\n"
            + md_table(["Real model forward, one torch thread", "value", ""], prefix_forward(args.keys))
        )
        print(body)
        append_results(
            "Real model: forward per keystroke, before / after the prefix cache "
            f"(`python -m bench.real_model --forward-only --keys {args.keys}`)",
            body,
        )
        return 0
    rows = load_times(args.first_load) + server_rerun(args.keys)
    trows, notes = ([], []) if args.no_browser else typing(args.keys)
    body = machine_info() + "\n\n" + md_table(["Real model page", "value", ""], rows + trows)
    if notes:
        body += "\n\n" + "\n".join(notes)
    print(body)
    append_results("Real model page (SmolLM2-135M): load, keystroke latency, memory", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
