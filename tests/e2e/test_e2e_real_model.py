"""The Real model page in a real browser: SmolLM2-135M loads, BertViz draws its sub-word tokens, typing updates
them live, the it -> animal lesson reveals its live answer, generation steps, and no request leaves localhost
while the page loads and runs (every request the browser makes is recorded and its host checked)."""
from __future__ import annotations

from urllib.parse import urlparse

from conftest import LOCAL_HOSTS


def test_real_model_page_runs_offline(app):
    requests: list[str] = []
    app.page.on("request", lambda r: requests.append(r.url))
    app.goto("real_model")
    app.wait_until(lambda: "␣animal" in app.bertviz_tokens(0), "BertViz to draw the lecture sentence's tokens",
                   timeout_s=120)
    assert "Ġ" not in "".join(app.bertviz_tokens(0))
    box = app.textbox("Type a sentence")
    box.click()
    box.press("End")
    box.press_sequentially(" to sleep", delay=80)
    app.wait_until(lambda: "␣sleep" in app.bertviz_tokens(0), "the typed word in the BertViz head view")
    app.wait_until(lambda: "␣sleep" in app.main_text(), "the typed word in the token chips")
    # Predict, then reveal: the verdict comes from the live capture of the sentence.
    app.page.get_by_text("animal", exact=True).last.click()
    app.page.get_by_role("button", name="Reveal").click()
    app.wait_until(lambda: "Right: animal." in app.main_text() or "Not this time" in app.main_text(),
                   "the lesson's verdict")
    # The evidence is drawn under the verdict and streams in after it: wait for it too.
    app.wait_until(lambda: "Strongest head for “animal”" in app.main_text(), "the lesson's evidence under the verdict")
    app.page.get_by_role("button", name="Generate").click()
    app.wait_until(lambda: "Chosen token and its probability" in " ".join(
        app.chart_title(i) or "" for i in range(app.page.locator('[data-testid="stPlotlyChart"]').count())),
        "the generation strip", timeout_s=90)
    app.wait_charts_drawn()
    app.screenshot("real-model")
    outside = [u for u in requests if not u.startswith(("data:", "blob:", "about:"))
               and (urlparse(u).hostname or "") not in LOCAL_HOSTS]
    assert requests and not outside, f"{len(outside)} request(s) left localhost: {outside[:5]}"
    app.assert_clean()
