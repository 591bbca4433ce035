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
    app.wait_until(
        lambda: "␣animal" in app.bertviz_tokens(0), "BertViz to draw the lecture sentence's tokens", timeout_s=120
    )
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
    app.wait_until(
        lambda: "Right: animal." in app.main_text() or "Not this time" in app.main_text(), "the lesson's verdict"
    )
    # The controls are drawn beside the verdict and stream in after it: wait for them too.
    app.wait_until(
        lambda: "other tokens look at “animal”" in app.main_text() and "Swap the two words" in app.main_text(),
        "the lesson's controls beside the verdict",
    )
    app.page.get_by_role("button", name="Generate").click()
    app.wait_until(
        lambda: (
            "Chosen token and its probability"
            in " ".join(
                app.chart_title(i) or "" for i in range(app.page.locator('[data-testid="stPlotlyChart"]').count())
            )
        ),
        "the generation strip",
        timeout_s=90,
    )
    app.wait_charts_drawn()
    app.screenshot("real-model")
    outside = [
        u
        for u in requests
        if not u.startswith(("data:", "blob:", "about:")) and (urlparse(u).hostname or "") not in LOCAL_HOSTS
    ]
    assert requests and not outside, f"{len(outside)} request(s) left localhost: {outside[:5]}"
    app.assert_clean()


RECT = "e => {const r = e.getBoundingClientRect(); return [r.top, r.bottom]}"


def test_projector_shows_the_it_question_and_its_heatmap_on_one_screen(app):
    """Issue 20 item 11: at 1920 x 1080 with ?present=1 the "it" question sits near the top of the page, its guess
    options are >= 20 px, and after Reveal the question, the verdict and the head's heatmap fit one screen."""
    app.page.set_viewport_size({"width": 1920, "height": 1080})
    app.goto("real_model", present="1")
    heading = app.page.get_by_role("heading", name="What does “it” look at?")
    heading.wait_for(timeout=120_000)
    app.page.locator('[data-testid="stRadioOption"]').first.wait_for()
    app.wait_idle()
    main = app.page.locator('[data-testid="stMain"]')
    top = heading.evaluate(
        "e => e.getBoundingClientRect().top + document.querySelector('[data-testid=stMain]').scrollTop"
    )
    options = app.page.locator('[data-testid="stRadioOption"] p').evaluate_all(
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"
    )
    app.page.get_by_text("animal", exact=True).last.click()
    app.page.get_by_role("button", name="Reveal").click()
    app.wait_until(lambda: "other tokens look at “animal”" in app.main_text(), "the controls after Reveal")
    app.wait_charts_drawn()
    heading.evaluate("e => e.scrollIntoView({block: 'start'})")
    heat = app.page.locator(".st-key-real-lesson-heat")
    heat.locator(".main-svg").first.wait_for()
    q, h = heading.evaluate(RECT), heat.evaluate(RECT)
    print(
        f"projector 1920x1080: 'it' heading {top:.0f} px from the page top; options {options} px; after Reveal "
        f"heading {q[0]:.0f}-{q[1]:.0f}, heatmap {h[0]:.0f}-{h[1]:.0f} of {main.evaluate('e => e.clientHeight')}"
    )
    assert top < 1080 and options and min(options) >= 20, (top, options)
    assert 0 <= q[0] and h[1] <= 1080, (q, h)
    app.screenshot("projector-real-model-it")
    app.assert_clean()
