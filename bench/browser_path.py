"""Explore's browser path (issue 24) in real Chromium: keystroke -> every live view painted, the page weight a
student downloads, and what the browser sends the server while typing.

``python -m bench.latency --browser-path [--keys 20]`` (or ``python -m bench.browser_path``): a private
``streamlit run app.py``, Debian's Chromium, ``/?browser=1&model=M`` for each shipped model, one key at a time
(250 ms apart, so each key is timed alone; the word goes to the server only after a 400 ms pause).

How paint is detected: the component (ui/live/live.js) runs the forward pass and redraws every view (next-token
bars, entropy heatmap, attention heatmap with its row, BertViz's head view) synchronously in the key's ``input``
handler, then calls ``requestAnimationFrame`` and, inside it, ``setTimeout(0)``: that callback runs once the frame
holding the new views has been produced (after style, layout and paint), and pushes ``{key, painted}`` to
``window.__attentionLabPaints``. ``key`` is the input event's ``timeStamp`` and ``painted`` is ``performance.now()``,
one clock. The bench checks that the drawn tokens are the typed word's, and that each side's bars, BertViz head view
and heatmap show the new character (VIEWS_SHOW), before it trusts a number.

Where a key's milliseconds go (``--trace``): the typing is recorded with Chromium's tracing (Playwright's
``browser.start_tracing``, the DevTools timeline categories) and each key's window on the renderer's main thread, from
its ``input`` event to the next key, is split by trace event: script (``FunctionCall``: the forward pass and the
redraw, minus the style and layout it forces), style (``UpdateLayoutTree``), layout (``Layout``), pre-paint, paint,
and layerize + commit (handing the frame to the compositor). Tracing costs time itself, so a traced run's latencies
are a little higher than an untraced run's; the split is what it is for.

Page weight: Chrome DevTools Protocol on a fresh browser context, cold cache: every HTTP response's encoded bytes
(HTML, Streamlit's JS and CSS, fonts, the weights file, d3/jQuery) plus the WebSocket frames the server sends
(the page's elements, the component's JS and data). Then how many frames the browser sent while typing.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.common import Server, append_results, fmt_ms, guard_offline, launch_chromium, machine_info, md_table, summary
from models import registry

TYPED = "capybaraelephantowlsquidbeetroot"
# Each view of each side shows the new character (the views are redrawn in place, so a stale one would not show in
# data-drawn alone): the bars' title names it, BertViz's head view lists every token with it last, and the heatmap
# (title, T query labels, T key labels, two axis titles) has it as its last query and its last key. Returns what is
# stale.
VIEWS_SHOW = """([tokens]) => {
  const T = tokens.length, last = tokens[T - 1], stale = [];
  document.querySelectorAll('[data-testid="al-live-side"]').forEach((side, i) => {
    const texts = (id, sel) => [...side.querySelectorAll(`[data-testid="${id}"] ${sel}`)].map((t) => t.textContent);
    if (!(texts("al-live-bars", "svg text")[0] || "").includes("\u201c" + last + "\u201d")) stale.push(i + " bars");
    if (texts("al-live-bertviz", "#vis > svg > #left text").join(" ") !== tokens.join(" ")) stale.push(i + " bertviz");
    const heat = texts("al-live-heatmap", "svg text");
    if (heat.length !== 2 * T + 3 || heat[T] !== last || heat[2 * T] !== last) stale.push(i + " heatmap");
  });
  return stale;
}"""
TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink", "cc"]
PHASES = (  # trace event -> phase of a key, in the order a key's frame runs them
    ("FunctionCall", "script"),
    ("UpdateLayoutTree", "style"),
    ("Layout", "layout"),
    ("PrePaint", "pre-paint"),
    ("Paint", "paint"),
    ("Layerize", "layerize + commit"),
    ("Commit", "layerize + commit"),
)
PHASE_NAMES = tuple(dict.fromkeys(p for _, p in PHASES))


def trace_split(events: list[dict], window_us: float = 240_000) -> list[dict[str, float]]:
    """Per typed key (one ``input`` event each, in order), the ms its window on the renderer's main thread spent in
    each phase of PHASES. A key's window runs from its ``input`` event to the next key's (at most ``window_us``).
    Events nested in another counted one count once, in the innermost phase: the style and layout that script
    forces count as style and layout, not script; a ``Paint`` inside ``Paint`` counts once."""
    names = dict(PHASES)
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    inputs = sorted(
        (
            e
            for e in events
            if e.get("name") == "EventDispatch" and e.get("args", {}).get("data", {}).get("type") == "input"
        ),
        key=lambda e: e["ts"],
    )
    if not inputs:
        return []
    main = (inputs[0]["pid"], inputs[0]["tid"])
    assert threads.get(main, "CrRendererMain") == "CrRendererMain", threads.get(main)
    spans = sorted(
        (e["ts"], e["ts"] + e["dur"], names[e["name"]])
        for e in events
        if e.get("ph") == "X" and (e["pid"], e["tid"]) == main and e.get("name") in names and "dur" in e
    )
    starts = [e["ts"] for e in inputs]
    out: list[dict[str, float]] = [dict.fromkeys(PHASE_NAMES, 0.0) for _ in inputs]
    stack: list[list] = []  # open spans: [end, phase, self time so far in us, start]

    def close(span):
        end, phase, own, start = span
        i = max((j for j, t in enumerate(starts) if t <= start + 1), default=None)  # the key whose window holds it
        if i is not None and start < starts[i] + window_us and (i + 1 == len(starts) or start < starts[i + 1]):
            out[i][phase] += own / 1000

    for start, end, phase in spans:
        while stack and stack[-1][0] <= start:
            close(stack.pop())
        if stack:
            stack[-1][2] -= end - start  # the parent loses this nested time
        stack.append([end, phase, end - start, start])
    while stack:
        close(stack.pop())
    return out


MODELS = tuple(s.name for s in registry.MODELS if s.runs_in_browser)  # every shipped model the browser runs
LIVE = '[data-testid="al-live"]'


def measure(page, base_url: str, model: str | None, keys: str, gap_ms: int = 250, trace: bool = False) -> dict:
    """``model`` None: Compare with its two default models (MiniFormer and the leak-free FullTransformer).
    ``trace``: record the typing with Chromium's tracing and split each key's ms by phase (trace_split)."""
    sent: list[int] = []
    received: list[int] = []
    http: dict[str, int] = {}

    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on(
        "Network.loadingFinished",
        lambda e: http.__setitem__(urls.get(e["requestId"], e["requestId"]), int(e["encodedDataLength"])),
    )
    cdp.on("Network.webSocketFrameReceived", lambda e: received.append(len(e["response"]["payloadData"])))
    cdp.on("Network.webSocketFrameSent", lambda e: sent.append(len(e["response"]["payloadData"])))
    t0 = time.perf_counter()
    page.goto(f"{base_url}/?browser=1&model={model}" if model else f"{base_url}/compare?browser=1")
    page.wait_for_function(
        f"() => document.querySelector('{LIVE}')?.getAttribute('data-drawn') === '<BOS>'"
        " && document.querySelector('[data-testid=\"al-live-bertviz\"] svg')",
        timeout=120_000,
    )
    interactive_s = time.perf_counter() - t0
    page.wait_for_timeout(1500)
    weight = {
        "http": sum(http.values()),
        "ws": sum(received),
        "weights": sum(v for k, v in http.items() if "/app/static/weights/" in k and "/bertviz-" not in k),
        "templates": sum(v for k, v in http.items() if "/app/static/weights/bertviz-" in k),
        "vendor": sum(v for k, v in http.items() if "/app/static/vendor/" in k),
    }
    box = page.locator('[data-testid="al-live-input"]')
    box.click()
    page.evaluate("() => { window.__attentionLabPaints = []; }")
    lat, missed, parts, counted = [], 0, [], []
    if trace:
        page.context.browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
    for i, ch in enumerate(keys):
        page.keyboard.press(ch)
        page.wait_for_timeout(gap_ms)
        paints = page.evaluate("() => window.__attentionLabPaints")
        drawn = page.locator(LIVE).get_attribute("data-drawn")
        want = " ".join(["<BOS>", *keys[: i + 1][-47:]])
        if len(paints) != i + 1 or drawn != want or page.evaluate(VIEWS_SHOW, [want.split(" ")]):
            missed += 1
            continue
        counted.append(i)
        last = paints[-1]
        lat.append(last["painted"] - last["key"])
        parts.append((last["forward"], last["views"], last["bertviz"], last["painted"] - last["drawn"]))
    phases = []
    if trace:
        import json

        split = trace_split(json.loads(page.context.browser.stop_tracing())["traceEvents"])
        phases = [split[i] for i in counted if i < len(split)]
    # Frames: a burst at a student's pace (80 ms a key), counted from the first key until every view shows the
    # last one; then the pause, after which the word goes to the server once.
    page.wait_for_timeout(1500)
    burst = "kiwi"
    sent_before = len(sent)
    box.press_sequentially(burst, delay=80)
    want = " ".join(["<BOS>", *(keys + burst)[-47:]])
    page.wait_for_function(
        f"() => document.querySelector('{LIVE}').getAttribute('data-drawn') === {want!r}", timeout=10_000
    )
    sent_typing = len(sent) - sent_before
    page.wait_for_timeout(1500)
    return {
        "lat": lat,
        "missed": missed,
        "parts": parts,
        "weight": weight,
        "sent_typing": sent_typing,
        "burst": len(burst),
        "sent_after_pause": len(sent) - sent_before - sent_typing,
        "interactive_s": interactive_s,
        "phases": phases,
    }


def rows(n_keys: int, models=MODELS, trace: bool = False) -> tuple[list, list, str, list]:
    from playwright.sync_api import sync_playwright

    keys = (TYPED * 3)[:n_keys]
    lat_rows, weight_rows, blocked, errors, trace_rows = [], [], [], [], []
    with Server() as server, sync_playwright() as pw:
        server.wait_healthy()
        browser = launch_chromium(pw)
        cpu0 = server.cpu_seconds()
        for model in (*models, None):
            ctx = browser.new_context(viewport={"width": 1366, "height": 768})  # cold cache per model
            page = ctx.new_page()
            guard_offline(page, blocked)
            page.on("pageerror", lambda e: errors.append(str(e)))
            r = measure(page, server.url, model, keys, trace=trace)
            p50, p95, pmax = summary(r["lat"])
            med = [summary([p[j] for p in r["parts"]])[0] for j in range(4)]
            label = f"Explore · {model}" if model else "Compare · miniformer + full_transformer"
            lat_rows.append(
                (
                    label,
                    len(keys),
                    r["missed"],
                    fmt_ms(p50),
                    fmt_ms(p95),
                    fmt_ms(pmax),
                    " / ".join(f"{m:.1f}" for m in med),
                    f"{r['sent_typing']} over {r['burst']} keys",
                    r["sent_after_pause"],
                    "met" if p95 <= 50 and not r["missed"] else "NOT met",
                )
            )
            if r["phases"]:
                half = len(r["phases"]) // 2  # the longer half of the word: where p95 comes from
                trace_rows.append(
                    (
                        label,
                        *(
                            f"{summary([p[k] for p in r['phases']])[0]:.1f} · "
                            f"{summary([p[k] for p in r['phases'][half:]])[0]:.1f}"
                            for k in PHASE_NAMES
                        ),
                        f"{summary([sum(p.values()) for p in r['phases']])[0]:.1f} · "
                        f"{summary([sum(p.values()) for p in r['phases'][half:]])[0]:.1f}",
                    )
                )
            w = r["weight"]
            weight_rows.append(
                (
                    label,
                    f"{w['http'] / 1e6:.2f}",
                    f"{w['weights'] / 1e3:.0f}",
                    f"{w['templates'] / 1e3:.0f}",
                    f"{w['vendor'] / 1e3:.0f}",
                    f"{w['ws'] / 1e3:.0f}",
                    f"{(w['http'] + w['ws']) / 1e6:.2f}",
                    f"{r['interactive_s']:.1f}",
                )
            )
            ctx.close()
        cpu = server.cpu_seconds() - cpu0
        browser.close()
    notes = (
        f"non-localhost requests: {len(blocked)}; page errors: {len(errors)}; server CPU for the whole run "
        f"(page loads, one rerun per pause): {cpu:.1f} s"
    )
    return lat_rows, weight_rows, notes, trace_rows


def sections(n_keys: int, trace: bool = False) -> list[str]:
    lat_rows, weight_rows, notes, trace_rows = rows(n_keys, trace=trace)
    lt = md_table(
        (
            "page · model (?browser=1)",
            "keys",
            "missed",
            "key -> all views painted p50 ms",
            "p95 ms",
            "max ms",
            "p50 split: forward / bars+heatmaps / BertViz / to paint ms",
            "frames sent while typing (80 ms a key)",
            "frames sent after the 400 ms pause",
            "target p95 <= 50 ms",
        ),
        lat_rows,
    )
    wt = md_table(
        (
            "page · model",
            "HTTP MB (cold cache)",
            "weights KB",
            "BertViz template KB",
            "d3 + jQuery KB",
            "WebSocket KB from the server",
            "page weight MB",
            "page load -> first drawing s",
        ),
        weight_rows,
    )
    print("\nBrowser path: keystroke -> every view painted (ms)\n" + lt + "\n" + notes + "\n\nPage weight\n" + wt)
    extra = []
    if trace_rows:
        tt = md_table(("page · model", *(f"{k} ms" for k in PHASE_NAMES), "all"), trace_rows)
        print("\nWhere a key's ms go (renderer main thread, Chromium trace)\n" + tt)
        extra.append(
            "**Where a key's ms go** (Chromium trace of the same typing, renderer main thread, bench/browser_path.py "
            "trace_split; median per key · median over the second half of the word, the longer words)\n\n" + tt
        )
    return [
        f"**Browser path (issue 24): keystroke -> every live view painted in Chromium** ({n_keys} keys each, "
        "one at a time; paint = the setTimeout(0) inside the requestAnimationFrame after the redraw, see "
        "bench/browser_path.py)\n\n" + lt + "\n\n" + notes,
        "**Page weight per student, browser path** (fresh context, cold cache; CDP encoded bytes)\n\n" + wt,
        *extra,
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.browser_path", description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--trace", action="store_true", help="also split each key's ms by phase (Chromium trace)")
    args = ap.parse_args(argv)
    info = machine_info("cpu")
    print(info)
    body = sections(args.keys, trace=args.trace)
    cmd = f"`python -m bench.latency --browser-path --keys {args.keys}{' --trace' if args.trace else ''}`"
    end = " · load avg at the end {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())
    append_results("latency, browser path", "\n\n".join([info + end, cmd, *body]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
