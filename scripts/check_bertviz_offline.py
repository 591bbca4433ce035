"""Prove in a real browser that viz/bertviz_view.py draws BertViz offline and that hostile tokens stay text.

Not a unit test (it needs /usr/bin/chromium and starts a Streamlit server for ~10 s):

    python scripts/fetch_vendor.py && .venv/bin/python scripts/check_bertviz_offline.py [--skip-streamlit]

1. Standalone pages: writes head and model views (self-attention and encoder/decoder) to /tmp, opens them as
   file:// in Chromium with every non-file request aborted, and checks that the SVG holds every token as text,
   that no dialog opened, no <img> was injected, no request left the file, no script error or CSP violation was
   logged, that hover / click / selectors work, and that estimate_height_for() covers the drawn height.
   Screenshots: /tmp/bv_head.png, /tmp/bv_model.png (and /tmp/bv_head_cross.png, /tmp/bv_model_detail.png).
2. Streamlit (standalone=False): a tiny app in /tmp (with a symlink to the repo's static/, since Streamlit serves
   static/ next to the main script) started with cwd = the repo so .streamlit/config.toml applies, on port 8599.
   Checks that the srcdoc iframes fetch /app/static/vendor/*.js from the app's origin and draw the tokens, and
   that a rerun with the same input does not reload the iframe. Screenshot: /tmp/bv_streamlit.png.
Exit status 0 when every check passed; prints one line per check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from viz.bertviz_view import estimate_height_for, head_view_html, model_view_html  # noqa: E402

PORT = 8599
XSS = ["</script><img src=x onerror=alert(1)>", "<script>alert(1)</script>"]
SRC = list("capy␣bara") + XSS  # what the caller passes: spaces already shown as ␣
TGT = list("hi␣") + XSS[::-1]

FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def attention(n_layer: int, n_head: int, q: int, k: int) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn(1, n_head, q, k).softmax(-1) for _ in range(n_layer))  # (1, H, Q, K) per layer


def cases() -> dict[str, tuple[str, dict]]:
    torch.manual_seed(0)
    s, t = len(SRC), len(TGT)
    self_attn = {"attention": attention(2, 4, s, s), "tokens": SRC}
    enc_dec = {
        "encoder_attention": attention(2, 2, s, s),
        "decoder_attention": attention(2, 2, t, t),
        "cross_attention": attention(2, 2, t, s),
        "encoder_tokens": SRC,
        "decoder_tokens": TGT,
    }
    return {
        "head": ("head", self_attn),
        "model": ("model", self_attn),
        "head_encdec": ("head", enc_dec),
        "model_encdec": ("model", enc_dec),
    }


def svg_texts(target) -> list[str]:
    return target.locator("svg text").all_text_contents()


def watch(page) -> dict[str, list[str]]:
    seen = {"dialogs": [], "errors": [], "aborted": []}
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    return seen


def check_standalone(browser) -> None:
    print("standalone pages (file://, every other request aborted)")
    for name, (view, kw) in cases().items():
        make = head_view_html if view == "head" else model_view_html
        html = make(kw, standalone=True)
        path = Path(f"/tmp/bv_{name}.html")
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1000, "height": 60})
        seen = watch(page)

        def route(r, seen=seen):
            if r.request.url.startswith("file:"):
                return r.continue_()
            seen["aborted"].append(r.request.url)
            return r.abort()

        page.route("**/*", route)
        page.goto(path.as_uri())
        page.wait_for_selector("svg", timeout=5000)
        if view == "model":  # tokens appear in the model view's detail panel after a click on a thumbnail
            page.locator("svg rect[id^=attn_background]").first.click(force=True)
        texts = svg_texts(page)
        tokens = kw.get("tokens") or kw["encoder_tokens"]
        check(all(tok in texts for tok in tokens), f"{name}: every token drawn as SVG text ({len(html):,} bytes)")
        check(
            page.locator("img").count() == 0 and page.locator("script").count() == 4,
            f"{name}: no injected <img>/<script> elements",
        )
        drawn = page.evaluate("document.documentElement.scrollHeight")
        est = estimate_height_for(kw, view)
        check(drawn <= est <= drawn + 40, f"{name}: estimate_height_for {est} px covers the drawn {drawn} px")
        if name == "head":
            page.set_viewport_size({"width": 1000, "height": est})
            page.locator("#left text").nth(2).hover()  # highlight what 'p' attends to
            shown = page.evaluate("""[...document.querySelectorAll('#right .attentionBoxes rect')]
                                       .filter(r => +r.style.opacity > 0).length""")
            check(shown > 0, f"head: hovering a token highlights {shown} attention boxes")
            page.screenshot(path="/tmp/bv_head.png", full_page=True)
        elif name == "model":
            page.set_viewport_size({"width": 1000, "height": est})
            page.screenshot(path="/tmp/bv_model_detail.png", full_page=True)
            page.locator("svg rect[id^=attn_background]").first.click(force=True)  # close the detail again
            page.screenshot(path="/tmp/bv_model.png", full_page=True)
        elif name == "head_encdec":
            page.select_option("#filter", label="Cross")
            texts = svg_texts(page)
            check(all(tok in texts for tok in TGT + SRC), "head_encdec: the Cross selector redraws both token lists")
            page.set_viewport_size({"width": 1000, "height": est})
            page.screenshot(path="/tmp/bv_head_cross.png", full_page=True)
        elif name == "model_encdec":
            page.select_option("#filter", label="Decoder")
            # nth(1): BertViz remembers the (layer 0, head 0) detail opened above, a click there would close it
            page.locator("svg rect[id^=attn_background]").nth(1).click(force=True)
            texts = svg_texts(page)
            check(
                page.locator("svg rect[id^=attn_background]").count() == 2 * 2 and all(t in texts for t in TGT),
                "model_encdec: the Decoder selector shows 2 layers x 2 heads and the decoder tokens",
            )
        check(not seen["dialogs"], f"{name}: no dialog opened {seen['dialogs']}")
        check(not seen["aborted"], f"{name}: no request beyond the file itself {seen['aborted'][:3]}")
        check(not seen["errors"], f"{name}: no script error or CSP violation {seen['errors'][:3]}")
        page.close()


APP = """\
import sys
sys.path.insert(0, {repo!r})
import streamlit as st
import torch
from bench.common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from viz.bertviz_view import estimate_height_for, head_view_html, model_view_html
torch.manual_seed(0)
src = {src!r}
att = tuple(torch.randn(1, 2, len(src), len(src)).softmax(-1) for _ in range(2))
kw = {{"attention": att, "tokens": src}}
st.button("rerun")
st.iframe(head_view_html(kw), height=estimate_height_for(kw, "head"))
st.iframe(model_view_html(kw), height="content")
"""


def wait_healthy(url: str, timeout_s: float = 30) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def check_streamlit(browser) -> None:
    print(f"Streamlit (standalone=False, st.iframe, port {PORT})")
    app_dir = Path("/tmp/bv_streamlit_app")
    app_dir.mkdir(exist_ok=True)
    (app_dir / "app.py").write_text(APP.format(repo=str(REPO), src=SRC), encoding="utf-8")
    link = app_dir / "static"  # Streamlit serves <main script's folder>/static at /app/static
    if not link.is_symlink():
        link.symlink_to(REPO / "static")
    log = open("/tmp/bv_streamlit.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app_dir / "app.py"),
            "--server.port",
            str(PORT),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # cwd: .streamlit/config.toml
    base = f"http://127.0.0.1:{PORT}"
    try:
        check(wait_healthy(f"{base}/_stcore/health"), "server healthy")
        with urllib.request.urlopen(f"{base}/app/static/vendor/d3.min.js", timeout=5) as r:
            ctype = r.headers.get("Content-Type", "")
            check(r.status == 200 and "javascript" in ctype, f"/app/static/vendor/d3.min.js served as {ctype!r}")
        page = browser.new_page(viewport={"width": 1300, "height": 1800})
        seen = watch(page)
        vendor_hits: list[str] = []

        def route(r):
            if r.request.url.startswith(base):
                return r.continue_()
            seen["aborted"].append(r.request.url)
            return r.abort()

        page.route("**/*", route)
        page.on(
            "response",
            lambda resp: (
                "/app/static/vendor/" in resp.url and vendor_hits.append(f"{resp.status} {resp.url.removeprefix(base)}")
            ),
        )
        page.goto(base, timeout=60_000)
        frames = page.frame_locator('[data-testid="stIFrame"]')
        frames.nth(0).locator("svg text").first.wait_for(timeout=60_000)
        head_texts = svg_texts(frames.nth(0))
        check(all(tok in head_texts for tok in SRC), "head view in st.iframe: every token drawn as SVG text")
        check(
            any(h.startswith("200 /app/static/vendor/jquery") for h in vendor_hits)
            and any(h.startswith("200 /app/static/vendor/d3") for h in vendor_hits),
            f"the srcdoc iframe fetched the vendor JS from the app's origin: {sorted(set(vendor_hits))}",
        )
        model = frames.nth(1)
        model.locator("svg rect[id^=attn_background]").first.click(force=True)
        check(all(tok in svg_texts(model) for tok in SRC), "model view in st.iframe: detail panel shows every token")
        sizes = page.eval_on_selector_all(
            '[data-testid="stIFrame"]', "els => els.map(e => [e.clientWidth, e.clientHeight])"
        )
        inner = [frames.nth(i).locator("html").evaluate("e => [e.scrollWidth, e.scrollHeight]") for i in range(2)]
        check(
            all(w >= iw and h >= ih for (w, h), (iw, ih) in zip(sizes, inner)),
            f"nothing cut off: iframe (w, h) {sizes} px, content {inner} px (head: estimate, model: 'content')",
        )
        est = estimate_height_for(
            {"attention": (torch.zeros(1, 2, len(SRC), len(SRC)),) * 2, "tokens": SRC}, "model", width=sizes[1][0]
        )
        check(
            inner[1][1] <= est <= inner[1][1] + 40,
            f"model view scaled to the {sizes[1][0]} px column: estimate_height_for(width=...) {est} px "
            f"covers {inner[1][1]} px",
        )
        page.screenshot(path="/tmp/bv_streamlit.png", full_page=True)
        # Same input on a rerun -> byte-identical srcdoc -> the iframe keeps its document (no reload, no flicker).
        frames.nth(0).locator("html").evaluate("() => { window.__kept = 1; }")
        page.get_by_role("button", name="rerun").click()
        page.wait_for_timeout(1500)
        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=20_000)
        kept = frames.nth(0).locator("html").evaluate("() => window.__kept === 1")
        check(kept, "a rerun with the same input keeps the iframe's document (deterministic HTML)")
        check(not seen["dialogs"], f"no dialog opened {seen['dialogs']}")
        check(not seen["aborted"], f"no request left the app's origin {seen['aborted'][:3]}")
        check(not seen["errors"], f"no script error or CSP violation {seen['errors'][:3]}")
        page.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skip-streamlit", action="store_true", help="only the standalone (file://) checks")
    args = ap.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        print(f"{CHROMIUM} not found: apt-get install -y chromium")
        return 2
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            check_standalone(browser)
            if not args.skip_streamlit:
                check_streamlit(browser)
        finally:
            browser.close()
    print(textwrap.fill(f"{len(FAILURES)} check(s) failed: {FAILURES}") if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
