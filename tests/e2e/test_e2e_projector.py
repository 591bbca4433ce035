"""Projector mode in a real browser at 1920 x 1080 (issue 13 item 4): Explore opened with ?present=1, "capy" typed;
the sizes the browser actually renders: plotly tick labels >= 16 px in a dark colour, BertViz's token labels
>= 18 px (their font size times the scale of the SVG that fills the frame), body text >= 20 px, sidebar collapsed."""

PROJECTOR = {"width": 1920, "height": 1080}

# Rendered size of a text node: its computed font size times the scale its SVG is drawn at (BertViz draws 15 px
# text in an SVG whose viewBox the projector mode scales up; plotly draws at scale 1).
RENDERED_PX = (
    "els => els.map(e => parseFloat(getComputedStyle(e).fontSize) * (e.getScreenCTM() ? e.getScreenCTM().a : 1))"
)


def test_projector_mode_sizes_at_1920(app):
    app.page.set_viewport_size(PROJECTOR)
    app.goto("", present="1")
    assert app.page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true"
    box = app.textbox()
    box.click()
    box.press_sequentially("capy", delay=60)
    want = ["<BOS>", *"capy"]
    app.wait_until(lambda: app.bertviz_tokens() == want + want, "BertViz to draw capy")
    app.wait_charts_drawn()
    frame = app.page.frame_locator('[data-testid="stCustomComponentV1"]').first
    frame.locator("#vis svg[data-filled]").wait_for()
    bertviz = frame.locator("#vis svg text").evaluate_all(RENDERED_PX)
    ticks = app.page.locator('[data-testid="stPlotlyChart"] .xtick text').evaluate_all(RENDERED_PX)
    colours = set(
        app.page.locator('[data-testid="stPlotlyChart"] .xtick text').evaluate_all(
            "els => els.map(e => getComputedStyle(e).fill)"
        )
    )
    body = app.page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p').evaluate_all(
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"
    )  # body, widget labels, captions
    drawing = frame.locator("#vis svg").first.evaluate("e => e.getBoundingClientRect().width")
    frame_width = frame.locator("body").evaluate("e => e.clientWidth")
    print(
        f"projector 1920x1080: plotly x tick text {min(ticks):.1f}-{max(ticks):.1f} px {colours}; BertViz token "
        f"text {min(bertviz):.1f} px; body text {min(body):.1f} px; head view {drawing:.0f} of {frame_width} px"
    )
    assert ticks and min(ticks) >= 16, ticks
    assert colours == {"rgb(38, 39, 48)"}, colours  # viz.style.INK, 15:1 on white
    assert bertviz and min(bertviz) >= 18, bertviz
    assert body and min(body) >= 20, body
    assert drawing >= 0.8 * frame_width, (drawing, frame_width)  # the head view fills its frame
    app.screenshot("projector-explore-1920")
    app.assert_clean()


# Boxes of the SVG texts a chart draws: its title, subplot titles, x tick labels (page coordinates).
BOXES = (
    "(root, sel) => [...root.querySelectorAll(sel)].map(e => { const r = e.getBoundingClientRect();"
    " return [r.left, r.top, r.right, r.bottom, e.textContent, e.getAttribute('transform') || '']; })"
)


def _overlap(a, b) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


def test_lesson_on_the_projector_question_and_view_share_one_screen(app):
    """Issue 20 items 6 and 11 at 1920 x 1080 with ?present=1: the answers are plain buttons of >= 20 px text (not
    code); nothing of the view is drawn before a guess is locked in; after Reveal the question and the view fit in
    one screen height; a chart's title never overlaps its subplot titles and x tick labels never collide."""
    app.page.set_viewport_size(PROJECTOR)
    for step in (2, 4, 6):
        app.page.goto(f"{app.server.url}/lesson?step={step}&present=1&lang=en")
        app.wait_until(
            lambda: f"Step {step}." in app.main_text() and "Predict first" in app.main_text(), f"step {step}'s question"
        )
        app.wait_idle()
        options = app.page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button')
        app.wait_until(lambda: options.count() > 0, "the answer buttons")
        app.wait_until(
            lambda: app.page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") >= 23,
            "the projector's page-wide text size (ui.projector.ROOT_FONT_PX)",
        )
        sizes = options.evaluate_all(
            "els => els.map(e => parseFloat(getComputedStyle(e.querySelector('p') || e).fontSize))"
        )
        assert sizes and min(sizes) >= 20, (step, sizes)
        assert options.locator("code").count() == 0, step  # plain text, not code
        assert all(b.is_visible() for b in options.all()), step  # every option shown (they wrap)
        assert app.page.locator('[data-testid="stPlotlyChart"]').count() == 0, step  # no peeking
        options.first.click()
        app.page.get_by_role("button", name="Reveal").click()
        app.wait_until(lambda: app.page.locator('[data-testid="stPlotlyChart"]').count() > 0, "the view")
        app.wait_charts_drawn()
        question = options.first.bounding_box()
        shown = [c for c in app.page.locator('[data-testid="stPlotlyChart"]').all() if c.is_visible()]
        charts = [c.bounding_box() for c in shown]  # (a tab not chosen shows nothing)
        top = min([question["y"]] + [c["y"] for c in charts])
        bottom = max([question["y"] + question["height"]] + [c["y"] + c["height"] for c in charts])
        print(f"step {step}: options {min(sizes):.0f} px; question + view span {bottom - top:.0f} px")
        assert bottom - top <= PROJECTOR["height"], (step, top, bottom)
        for chart in shown:
            titles = chart.evaluate(BOXES, ".gtitle") + chart.evaluate(BOXES, ".annotation-text")
            for i, a in enumerate(titles):
                for b in titles[i + 1 :]:
                    assert not _overlap(a, b), (step, a, b)
            # Upright labels only: plotly turns crowded ones, and a turned label's upright box says nothing
            ticks = [t for t in chart.evaluate(BOXES, ".xtick text") if t[4] and "rotate" not in t[5]]
            for i, a in enumerate(ticks):
                for b in ticks[i + 1 :]:
                    assert not _overlap(a, b), (step, a, b)
        app.screenshot(f"projector-lesson-step-{step}")
    app.assert_clean()
