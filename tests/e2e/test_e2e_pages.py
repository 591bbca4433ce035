"""Every page opens in a real browser with no exception, no console error and no request leaving localhost;
Compare shows both models, the leak lesson shows its numbers, generation steps scrub."""

import re

import pytest

PAGES = {
    "": "Explore",
    "compare": "Compare",
    "leak": "Leak lesson",
    "generate": "Generate",
    "train": "Train",
    "lesson": "Lesson",
}


@pytest.mark.parametrize("path", list(PAGES), ids=[p or "explore" for p in PAGES])
def test_page_opens_clean(app, path):
    app.goto(path)
    app.wait_until(lambda: len(app.main_text()) > 200, f"the {PAGES[path]} page to draw its content")
    app.screenshot(f"page-{path or 'explore'}")
    app.assert_clean()


def test_compare_shows_both_models(app):
    app.goto("compare")
    box = app.textbox()
    box.click()
    box.press_sequentially("capy", delay=60)
    want = ["<BOS>", "c", "a", "p", "y"]
    # Two BertViz head views, each really drawn: their SVG lists the typed characters (query and key columns).
    app.wait_until(
        lambda: app.frames().count() >= 2 and all(app.bertviz_tokens(i)[:5] == want for i in range(2)),
        "both BertViz frames to draw <BOS> c a p y",
    )
    text = app.main_text()
    assert "MiniFormer" in text and "FullTransformer (leak-free)" in text, text[:2000]
    assert re.search(r"\(KL divergence\): left from right \d+\.\d{3}, right from left \d+\.\d{3} nats", text), (
        "the KL divergence of the two distributions"
    )
    titles = [app.chart_title(i) for i in range(app.page.locator('[data-testid="stPlotlyChart"]').count())]
    assert sum(1 for t in titles if t and t.startswith("Next token after “y”")) == 2, titles
    # The encoder-decoder's frame offers BertViz's encoder / decoder / cross selector.
    right = app.page.frame_locator('[data-testid="stCustomComponentV1"]').nth(1)
    assert right.locator("select").count() >= 1
    app.screenshot("compare-capy")
    app.assert_clean()


def test_leak_lesson_shows_its_numbers(app):
    app.goto("leak")
    # The page streams in section by section: wait for the last one (the counterfactual verdicts) too.
    text = app.wait_until(
        lambda: (t := app.main_text()) and "teacher-forced but" in t and "Source char at t+1" in t and t,
        "the NLL comparison and the counterfactual verdicts",
    )
    m = re.search(
        r"put on average (\d+)% of their weight on key t\+1 .*?The leak-free model puts (\S+) there", text, re.S
    )
    assert m, "the weight on key t+1 for both models"
    assert float(m.group(2)) == 0.0, f"the leak-free model's weight on key t+1 must be exactly 0, got {m.group(2)}"
    m = re.search(r"the peeking model scores (\d+\.\d+) teacher-forced but (\d+\.\d+) prefix-only", text)
    assert m, "teacher-forced and prefix-only NLL of the peeking model"
    tf, prefix = map(float, m.groups())
    assert tf < prefix, (tf, prefix)
    # Greedy generation from "capy" for both models, and the counterfactual verdicts.
    assert text.count("capy") >= 2
    assert "Source char at t+1" in text
    # What a student sees: the six charts (two cross-attention maps, the t+1 weights, the NLL bars and the two
    # counterfactual bar charts) drawn, not grey placeholders.
    charts = app.page.locator('[data-testid="stPlotlyChart"]')
    app.wait_until(
        lambda: charts.count() >= 6 and app.charts_drawn(), "the leak lesson's six charts to draw", timeout_s=60
    )
    app.screenshot("leak")
    app.assert_clean()


def test_generation_steps_scrub(app):
    app.goto("generate")
    # An empty prefix: the model writes a whole word from <BOS>, so there are at least two steps to scrub
    # (a first character, then more characters or <EOS>) whatever the checkpoint.
    app.wait_until(lambda: "Empty prefix" in app.main_text(), "the empty-prefix note")
    slider = app.page.get_by_role("slider", name="Timeline: step")
    app.wait_until(lambda: slider.count() == 1 and "Step 0 reads" in app.main_text(), "the generation timeline")
    n_max = int(slider.get_attribute("max"))  # the <input type=range> behind the slider
    assert n_max >= 1
    seen = []
    slider.focus()
    for i in range(0, min(n_max, 3) + 1):
        if i:
            slider.press("ArrowRight")
        app.wait_until(lambda: f"Step {i} reads" in app.main_text(), f"step {i} after scrubbing")
        line = re.search(rf"Step {i} reads <BOS>(\S*) and picks (.+?) \(p = ([\d.]+)%\)", app.main_text())
        assert line, app.main_text()[-1500:]
        seen.append(line.group(1))
    # Each step reads one more character than the one before: the timeline really moves through the word.
    assert all(len(b) == len(a) + 1 for a, b in zip(seen, seen[1:])), seen
    assert seen[0] == "", seen
    app.screenshot("generate-scrubbed")
    app.assert_clean()


def test_the_word_follows_the_user_across_pages(app):
    """Issue 12 item 6: one word and one ``?text=`` on every page that takes a word. Each page had its own key, so
    ``/?text=capy`` then Compare showed an empty box; and a box on the next page with the same label as the last one
    mounts empty unless the server sends the session's value."""
    app.goto("", text="capy")
    page = app.page
    nav = page.locator('[data-testid="stSidebarNav"]')
    for title, label in (
        ("Compare", "Type a word"),
        ("Explore", "Type a word"),
        ("Compare", "Type a word"),
        ("Generate", "Start of a word"),
    ):
        nav.get_by_text(title, exact=True).click()
        page.get_by_role("heading", name=title).first.wait_for()
        app.wait_until(
            lambda: app.textbox(label).input_value() == "capy" and re.search(r"[?&]text=capy(&|$)", page.url),
            f"{title} to open on capy, in its box and its URL (box "
            f"{app.textbox(label).input_value()!r}, URL {page.url})",
        )
    app.wait_until(lambda: "capy" in app.main_text(), "Generate to continue capy")
    nav.get_by_text("Compare", exact=True).click()
    page.get_by_role("heading", name="Compare").first.wait_for()
    box = app.textbox()
    app.wait_until(lambda: box.input_value() == "capy", "Compare's box to hold capy")
    box.fill("owl")
    app.wait_until(
        lambda: re.search(r"[?&]text=owl(&|$)", page.url) and app.bertviz_tokens(0)[:4] == ["<BOS>", "o", "w", "l"],
        "Compare to draw owl, its URL to follow",
    )
    nav.get_by_text("Explore", exact=True).click()
    page.get_by_role("heading", name="Explore").first.wait_for()
    app.wait_until(
        lambda: app.textbox().input_value() == "owl" and app.bertviz_tokens()[:4] == ["<BOS>", "o", "w", "l"],
        "Explore to draw owl",
    )
    app.assert_clean()


def test_compare_highlight_follows_typing_and_the_columns_line_up(app):
    """Issue 12 item 5: typing "flycatcher" left the query highlight on "1: f" while the bars said "after r"; the
    right BertViz opened on the encoder beside a cross-attention heatmap; and it sat ~200 px below the left one."""
    app.goto("compare")
    page = app.page
    box = app.textbox()
    box.click()
    word = "flycatcher"
    for i, ch in enumerate(word, 1):  # a keystroke at a time, each drawn, as a student types
        box.press_sequentially(ch)
        app.wait_until(lambda: app.bertviz_tokens(0) == ["<BOS>", *word[:i]] * 2, f"BertViz to draw {word[:i]}")
    thumb = page.locator('[data-testid="stSlider"] [data-testid="stSliderThumbValue"]').first
    titles = lambda: [app.chart_title(i) for i in range(2)]
    app.wait_until(
        lambda: titles() == ["Next token after “r”"] * 2 and thumb.inner_text().strip() == "10: r",
        f"the bars and the highlight to follow the last character (highlight {thumb.inner_text()!r}, bars {titles()})",
    )
    app.wait_until(
        lambda: app.frames().count() == 2 and app.bertviz_tokens(1)[:11] == ["<BOS>", *word],
        "the right BertViz to draw flycatcher",
    )
    right = page.frame_locator('[data-testid="stCustomComponentV1"]').nth(1)
    app.wait_until(
        lambda: right.locator("select#filter option:checked").inner_text() == "Cross",
        "the right BertViz to open on cross-attention, like the heatmap beside it",
    )
    assert app.chart_title(3).startswith("cross-attention layer 0"), app.chart_title(3)
    app.wait_charts_drawn()
    boxes = [app.frames().nth(i).bounding_box() for i in range(2)]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) <= 3, f"BertViz frames' tops differ: {boxes}"
    charts = page.locator('[data-testid="stPlotlyChart"]')
    tops = sorted(
        (round(charts.nth(i).bounding_box()["y"]), round(charts.nth(i).bounding_box()["x"]))
        for i in range(charts.count())
    )
    assert len(tops) == 8 and all(abs(tops[i][0] - tops[i + 1][0]) <= 3 for i in range(0, 8, 2)), tops
    app.screenshot("compare-flycatcher")
    app.assert_clean()
