"""Projector mode in a real browser at 1920 x 1080 (issue 13 item 4): Explore opened with ?present=1, "capy" typed;
the sizes the browser actually renders: plotly tick labels >= 16 px in a dark colour, BertViz's token labels
>= 18 px (their font size times the scale of the SVG that fills the frame), body text >= 20 px, sidebar collapsed."""
PROJECTOR = {"width": 1920, "height": 1080}

# Rendered size of a text node: its computed font size times the scale its SVG is drawn at (BertViz draws 15 px
# text in an SVG whose viewBox the projector mode scales up; plotly draws at scale 1).
RENDERED_PX = ("els => els.map(e => parseFloat(getComputedStyle(e).fontSize)"
               " * (e.getScreenCTM() ? e.getScreenCTM().a : 1))")


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
    colours = set(app.page.locator('[data-testid="stPlotlyChart"] .xtick text').evaluate_all(
        "els => els.map(e => getComputedStyle(e).fill)"))
    body = app.page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p').evaluate_all(
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")   # body, widget labels, captions
    drawing = frame.locator("#vis svg").first.evaluate("e => e.getBoundingClientRect().width")
    frame_width = frame.locator("body").evaluate("e => e.clientWidth")
    print(f"projector 1920x1080: plotly x tick text {min(ticks):.1f}-{max(ticks):.1f} px {colours}; BertViz token "
          f"text {min(bertviz):.1f} px; body text {min(body):.1f} px; head view {drawing:.0f} of {frame_width} px")
    assert ticks and min(ticks) >= 16, ticks
    assert colours == {"rgb(38, 39, 48)"}, colours               # viz.figures.INK, 15:1 on white
    assert bertviz and min(bertviz) >= 18, bertviz
    assert body and min(body) >= 20, body
    assert drawing >= 0.8 * frame_width, (drawing, frame_width)      # the head view fills its frame
    app.screenshot("projector-explore-1920")
    app.assert_clean()
