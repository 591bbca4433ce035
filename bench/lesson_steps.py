"""The Lesson's steps 2 (attention, step by step) and 5 (positions removed or shuffled) on the browser path, in real
Chromium: keystroke -> the step's views painted, after the locked guess, and what the browser sends the server
while typing.

``python -m bench.lesson_steps [--keys 20] [--append]``: a private ``streamlit run app.py``, Debian's Chromium,
``/lesson?step=N&browser=1`` at 1366×768 and at 1920×1080 with ``present=1``; a guess, Reveal, then one key at a
time 250 ms apart (a backspace after each letter, so the word stays short), then a burst of keys 80 ms apart.

How paint is detected: as bench/browser_path.py says: ui/live/live.js redraws in the key's handler (the step's box
hands the word to its views' component on the page), then ``requestAnimationFrame`` + ``setTimeout(0)`` pushes
``{key, painted, forward, views}`` to ``window.__attentionLabPaints`` once the frame holding the new views exists.
``forward`` is the forward pass live.js runs; ``views`` includes ui/live/steps.js's drawing (and, on step 5, its
two counterfactual forward passes). Frames sent: the page's WebSocket frames to the server during the burst.
"""

from __future__ import annotations

import argparse

from bench.common import Server, fmt_ms, guard_offline, launch_chromium, md_table, report, summary

STEPS = ((2, "al-live-steps", "banana"), (5, "al-live-positions-pair", "capyba"))
SIZES = (
    ("1366×768", {"width": 1366, "height": 768}, "0"),
    ("1920×1080 present=1", {"width": 1920, "height": 1080}, "1"),
)


def measure(page, base_url: str, step: int, view: str, present: str, n_keys: int) -> dict:
    sent: list[int] = []
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.webSocketFrameSent", lambda e: sent.append(len(e["response"]["payloadData"])))
    page.goto(f"{base_url}/lesson?step={step}&browser=1&lang=en&present={present}")
    page.wait_for_selector('[data-testid="al-live-input"]', timeout=120_000)
    page.wait_for_timeout(1500)
    page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button').first.click()
    page.wait_for_timeout(1500)
    page.locator(f'[class*="st-key-lesson-{step}-reveal"] button').click()
    page.wait_for_selector(f'[data-testid="{view}"] svg', timeout=60_000)
    page.wait_for_timeout(1500)
    box = page.locator('[data-testid="al-live-input"]')
    box.click()
    box.press("End")
    page.evaluate("window.__attentionLabPaints = []")
    letters = ("rsletoinhm" * 10)[: max(1, n_keys // 2)]
    for ch in letters:  # one key at a time, each timed alone
        for key in (ch, "Backspace"):
            box.press(key)
            page.wait_for_timeout(250)
    paints = page.evaluate("window.__attentionLabPaints")
    page.wait_for_timeout(3000)  # the pause after the last key has reached the server, its rerun done
    before = len(sent)
    box.press_sequentially("ra", delay=80)
    page.wait_for_timeout(150)  # under the 400 ms pause: only what the keys themselves sent
    burst = len(sent) - before
    return {
        "lat": [p["painted"] - p["key"] for p in paints],
        "forward": [p["forward"] for p in paints],
        "views": [p["views"] for p in paints],
        "keys": 2 * len(letters),
        "sent_typing": burst,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.lesson_steps", description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=20, help="keys timed one at a time per step and size")
    ap.add_argument("--append", action="store_true", help="add the table to bench/RESULTS.md")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rows, blocked, errors = [], [], []
    with Server() as server, sync_playwright() as pw:
        server.wait_healthy()
        browser = launch_chromium(pw)
        for size, viewport, present in SIZES:
            for step, view, _word in STEPS:
                ctx = browser.new_context(viewport=viewport)
                page = ctx.new_page()
                guard_offline(page, blocked)
                page.on("pageerror", lambda e: errors.append(str(e)))
                r = measure(page, server.url, step, view, present, args.keys)
                p50, p95, pmax = summary(r["lat"])
                rows.append(
                    (
                        f"step {step} · {size}",
                        f"{len(r['lat'])} of {r['keys']}",
                        fmt_ms(p50),
                        fmt_ms(p95),
                        fmt_ms(pmax),
                        f"{summary(r['forward'])[0]:.2f}",
                        f"{summary(r['views'])[0]:.1f}",
                        r["sent_typing"],
                    )
                )
                ctx.close()
        browser.close()
    table = md_table(
        (
            "Lesson view",
            "keys painted",
            "key→paint p50 ms",
            "p95 ms",
            "max ms",
            "forward p50 ms",
            "views p50 ms",
            "frames sent while typing",
        ),
        rows,
    )
    notes = [
        "After the locked guess; one key at a time 250 ms apart; frames sent: a 2-key burst 80 ms apart.",
        f"non-localhost requests: {len(blocked)}; page errors: {len(errors)}",
    ]
    report("Lesson steps 2 and 5 in the browser", "python -m bench.lesson_steps", argv, table, notes, args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
