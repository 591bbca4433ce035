"""K browser sessions typing at once on Explore for T seconds; latency, errors and the server's memory over time.

``python -m bench.load [--sessions 10] [--seconds 30] [--train-epochs 0]``

One private ``streamlit run app.py`` (localhost only, every other host aborted), one Chromium with K contexts.
Each session types letters one at a time (backspacing now and then), waits until the views show exactly its own
text (BertViz's SVG lists its tokens, the bars name its last character), thinks 200-400 ms, and types again until
T seconds are up. A keystroke whose views are not right within 15 s counts as an error, as do page errors and
Streamlit exception boxes. The server's RSS is sampled every second (psutil, else /proc/<pid>/status).
``--train-epochs N`` also starts an N-epoch training run on the Train page in one more session at the start, to
check that a training run in one session leaves the others' views correct (they keep asserting their own text).

Target (issue 7): 10 sessions, p95 <= 1 s, 0 errors, RSS <= 700 MB and flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

import settings
from bench.common import (
    ARM_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DONE_JS,
    LOCAL_HOSTS,
    MONITOR_JS,
    READ_JS,
    Server,
    append_results,
    machine_busy_seconds,
    machine_info,
    md_table,
    pctl,
)
from bench.latency import expected

WORDS = (
    "capybara",
    "flycatcher",
    "watermelon",
    "butterfly",
    "pomegranate",
    "salamander",
    "artichoke",
    "kingfisher",
    "blueberry",
    "chinchilla",
    "rhubarb",
    "wolverine",
)
MAX_SECONDS, MAX_SESSIONS = 600, 40


async def guard(page, blocked):
    from urllib.parse import urlparse

    async def route(r):
        host = urlparse(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            await r.continue_()
        else:
            blocked.append(r.request.url)
            await r.abort()

    await page.route("**/*", route)


async def session(i: int, browser, url: str, clock: dict, out: dict, blocked: list, rng: random.Random):
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    await guard(page, blocked)
    rec = out[i] = {"lat": [], "bars": [], "errors": [], "keys": 0}
    page.on("pageerror", lambda e: rec["errors"].append(f"pageerror: {e}"))
    page.on("dialog", lambda d: rec["errors"].append(f"dialog: {d.message}"))
    word = WORDS[i % len(WORDS)]
    text = word[:3]
    try:
        await page.goto(f"{url}/?text={text}", timeout=120_000)
        box = page.get_by_role("textbox", name="Type a word", exact=True)
        await box.wait_for(timeout=120_000)
        await page.evaluate(MONITOR_JS)
        title, tokens = expected(text)
        await page.evaluate(ARM_JS, [title, tokens, 1])
        await page.evaluate("() => { window.__lab.kd = performance.now(); }")
        await page.wait_for_function(DONE_JS, timeout=120_000)
        await box.click()
        await box.press("End")
        clock["ready"] += 1
        await clock["go"].wait()  # every session loaded: the timed typing starts together
        pos = 3
        while time.monotonic() < clock["deadline"]:
            if len(text) > 14 or (len(text) > 4 and rng.random() < 0.15):
                key, text = "Backspace", text[:-1]
            else:
                ch = word[pos % len(word)]
                if ch == text[-1]:  # a repeated letter would leave the bars title unchanged
                    ch = "x" if ch != "x" else "q"
                key, text, pos = ch, text + ch, pos + 1
            title, tokens = expected(text)
            await page.evaluate(ARM_JS, [title, tokens, 1])
            await page.keyboard.press(key)
            rec["keys"] += 1
            try:
                await page.wait_for_function(DONE_JS, timeout=15_000)
                m = await page.evaluate(READ_JS)
                rec["lat"].append(m["bv"] - m["kd"])
                rec["bars"].append(m["bars"] - m["kd"])
            except Exception as e:
                rec["errors"].append(f"key {key!r} -> {text!r}: views not right after 15 s ({type(e).__name__})")
                await page.wait_for_timeout(1000)
            if await page.locator('[data-testid="stException"]').count():
                rec["errors"].append("Streamlit exception on the page")
                break
            await page.wait_for_timeout(rng.randint(200, 400))
    except Exception as e:
        rec["errors"].append(f"session failed: {type(e).__name__}: {str(e)[:200]}")
        clock["ready"] += 1
    finally:
        await ctx.close()


async def trainer(browser, url: str, epochs: int, out: dict, blocked: list):
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    await guard(page, blocked)
    t0 = time.monotonic()
    try:
        await page.goto(f"{url}/train", timeout=120_000)
        ep = page.get_by_label("Epochs", exact=True)
        await ep.fill(str(epochs))
        await ep.press("Enter")
        name = page.get_by_role("textbox", name="Name for the result", exact=True)
        await name.fill(f"load-{int(time.time()) % 100000}")
        await name.press("Enter")
        await page.wait_for_timeout(1500)
        await page.get_by_role("button", name="Train", exact=True).click()
        await page.get_by_text("is saved and is now in every page's model picker").wait_for(timeout=600_000)
        out["train"] = f"finished in {time.monotonic() - t0:.0f} s"
    except Exception as e:
        out["train"] = f"did not finish: {type(e).__name__}: {str(e)[:200]}"
    finally:
        await ctx.close()


async def sample_rss(server: Server, stop: asyncio.Event, samples: list):
    t0 = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - t0, server.rss_mb()))
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            pass


async def run(k: int, seconds: float, train_epochs: int, user_dir: str):
    from playwright.async_api import async_playwright

    out, blocked, rss = {}, [], []
    with Server(env={settings.USER_CKPT_DIR_ENV: user_dir}) as server:
        server.wait_healthy()
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, stop, rss))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # Sessions open together (the first page view imports torch: slow); typing starts when all are
            # ready and lasts `seconds`.
            clock = {"ready": 0, "go": asyncio.Event(), "deadline": float("inf")}
            tasks = [
                asyncio.create_task(session(i, browser, server.url, clock, out, blocked, random.Random(i)))
                for i in range(k)
            ]
            t_open = time.monotonic()
            while clock["ready"] < k and time.monotonic() - t_open < 240:
                await asyncio.sleep(0.2)
            out["open_s"] = time.monotonic() - t_open
            clock["deadline"] = time.monotonic() + seconds
            clock["go"].set()
            out["rss_go"] = len(rss)
            cpu0 = (server.cpu_seconds(), machine_busy_seconds(), time.monotonic())
            if train_epochs:
                tasks.append(asyncio.create_task(trainer(browser, server.url, train_epochs, out, blocked)))
            await asyncio.gather(*tasks)
            out["cpu"] = (server.cpu_seconds() - cpu0[0], machine_busy_seconds() - cpu0[1], time.monotonic() - cpu0[2])
            await browser.close()
        stop.set()
        await sampler
    return out, blocked, rss


def main(argv=None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--train-epochs", type=int, default=0, help="also train for N epochs in one more session")
    args = ap.parse_args(argv)
    k = max(1, min(args.sessions, MAX_SESSIONS))
    seconds = max(5.0, min(args.seconds, MAX_SECONDS))
    with tempfile.TemporaryDirectory(prefix="attention-lab-load-") as user_dir:
        out, blocked, rss = asyncio.run(run(k, seconds, args.train_epochs, user_dir))
    sessions = [out[i] for i in range(k) if i in out]
    lat = [x for s in sessions for x in s["lat"]]
    bars = [x for s in sessions for x in s["bars"]]
    errors = [e for s in sessions for e in s["errors"]]
    keys = sum(s["keys"] for s in sessions)
    typing = rss[out.get("rss_go", 0) :] or rss  # samples while the sessions typed
    mb = [m for _, m in typing]
    half = [m for t, m in typing if t >= (typing[0][0] + typing[-1][0]) / 2] if typing else []
    growth = (max(half) - min(half)) if half else float("nan")
    rows = [
        (
            k,
            f"{seconds:.0f}",
            keys,
            len(lat),
            f"{pctl(lat, 50):.0f}",
            f"{pctl(lat, 95):.0f}",
            f"{max(lat) if lat else float('nan'):.0f}",
            f"{pctl(bars, 50):.0f}",
            f"{pctl(bars, 95):.0f}",
            len(errors) + len(blocked),
            f"{mb[0]:.0f}" if mb else "—",
            f"{max(mb):.0f}" if mb else "—",
            f"{mb[-1]:.0f}" if mb else "—",
            f"{growth:.0f}",
            "met"
            if lat and pctl(lat, 95) <= 1000 and not errors and not blocked and mb and max(mb) <= 700 and growth <= 50
            else "NOT met",
        )
    ]
    head = (
        "sessions",
        "s",
        "keys",
        "measured",
        "BertViz p50 ms",
        "BertViz p95 ms",
        "max ms",
        "bars p50 ms",
        "bars p95 ms",
        "errors",
        "RSS at start of typing MB",
        "RSS max MB",
        "RSS end MB",
        "RSS spread, 2nd half MB",
        "target (p95 <= 1 s, 0 errors, RSS <= 700 MB, flat)",
    )
    table = md_table(head, rows)
    timeline = " ".join(f"{t:.0f}s:{m:.0f}" for t, m in rss[:: max(1, len(rss) // 15)])
    notes = [
        f"RSS over time (MB, from server start; typing began at {rss[out.get('rss_go', 0)][0]:.0f} s after "
        f"{out.get('open_s', 0):.0f} s opening {k} sessions): {timeline}"
        if rss
        else "no RSS samples",
        f"non-localhost requests: {len(blocked)}",
        "keys per session: " + ", ".join(str(s["keys"]) for s in sessions),
    ]
    if "cpu" in out:
        srv, busy, wall = out["cpu"]
        notes.append(
            f"CPU while typing ({wall:.0f} s wall, {os.cpu_count()} cores = {wall * (os.cpu_count() or 1):.0f} "
            f"core-s): machine busy {busy:.0f} core-s, of which the Streamlit server {srv:.1f} core-s "
            f"({srv / busy:.0%}); the rest is the {k} Chromium sessions drawing (same machine)"
            if busy
            else "CPU: not measured"
        )
    if "train" in out:
        notes.append(
            f"training run ({args.train_epochs} epochs) in an extra session meanwhile: {out['train']}; "
            "the typing sessions kept checking their own tokens throughout"
        )
    if errors:
        notes.append("errors (first 5): " + "; ".join(errors[:5]))
    print(machine_info("cpu"))
    print(table)
    print("\n".join(notes))
    append_results(
        f"load ({k} sessions, {seconds:.0f} s"
        + (f", training {args.train_epochs} epochs" if args.train_epochs else "")
        + ")",
        machine_info("cpu") + "\n\n" + table + "\n\n" + "\n".join(f"- {n}" for n in notes),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
