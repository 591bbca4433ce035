"""Cold start: ``streamlit run app.py`` -> first full render in Chromium (BertViz drawn, bars shown).

``python -m bench.cold_start [--runs 2] [--text capybara]``

Each run starts a fresh private server (free port, own process group) and a fresh browser, and times:
process start -> /_stcore/health 200; navigation -> BertViz's SVG lists the word's tokens and the next-token bars
are drawn (the first page view imports torch, BertViz and plotly, and loads the models); then a second browser
session on the now-warm server (what the next student sees).
"""

from __future__ import annotations

import argparse
import time

from bench.common import (
    ARM_JS,
    MONITOR_JS,
    Server,
    append_results,
    guard_offline,
    launch_chromium,
    machine_info,
    md_table,
)
from bench.latency import expected


def first_render(browser, url: str, text: str, blocked: list) -> float:
    """Seconds from page.goto to the BertViz SVG and the bars showing ``text``."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    guard_offline(page, blocked)
    title, tokens = expected(text)
    t0 = time.perf_counter()
    page.goto(f"{url}/?text={text}")
    page.wait_for_function("() => document.readyState === 'complete'", timeout=120_000)
    page.evaluate(MONITOR_JS)
    page.evaluate(ARM_JS, [title, tokens, 1])
    page.evaluate("() => { window.__lab.kd = performance.now(); }")
    page.wait_for_function("() => window.__lab.marks.bv != null && window.__lab.marks.bars != null", timeout=180_000)
    secs = time.perf_counter() - t0
    ctx.close()
    return secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--text", default="capybara")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rows, blocked = [], []
    for run in range(1, max(1, args.runs) + 1):
        with Server() as server, sync_playwright() as pw:
            health = server.wait_healthy()
            browser = launch_chromium(pw)
            t_first = first_render(browser, server.url, args.text, blocked)
            t_second = first_render(browser, server.url, args.text, blocked)
            browser.close()
            rows.append(
                (
                    run,
                    f"{health:.1f}",
                    f"{t_first:.1f}",
                    f"{health + t_first:.1f}",
                    f"{t_second:.1f}",
                    f"{server.rss_mb():.0f}",
                )
            )
    head = (
        "run",
        "start -> health s",
        "first page view -> BertViz drawn s",
        "total cold start s",
        "second session (warm server) s",
        "server RSS after MB",
    )
    table = md_table(head, rows)
    info = machine_info("cpu")
    print(info)
    print(table)
    print(f"non-localhost requests: {len(blocked)}")
    append_results("cold_start", info + "\n\n" + table + f"\n\nnon-localhost requests: {len(blocked)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
