"""Every page opens in a real browser with no exception, no console error and no request leaving localhost;
Compare shows both models, the leak lesson shows its numbers, generation steps scrub."""
import re

import pytest

PAGES = {"": "Explore", "compare": "Compare", "leak": "Leak lesson", "generate": "Generate", "train": "Train",
         "lesson": "Lesson"}


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
    app.wait_until(lambda: app.frames().count() >= 2 and all(app.bertviz_tokens(i)[:5] == want for i in range(2)),
                   "both BertViz frames to draw <BOS> c a p y")
    text = app.main_text()
    assert "MiniFormer" in text and "FullTransformer (leak-free)" in text, text[:2000]
    assert re.search(r"KL\(left‖right\) = \d+\.\d{3} nats", text), "the KL divergence of the two distributions"
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
    text = app.wait_until(lambda: (t := app.main_text()) and "teacher-forced but" in t and "Source char at t+1" in t
                          and t, "the NLL comparison and the counterfactual verdicts")
    m = re.search(r"put on average (\d+)% of their weight on key t\+1 .*?The leak-free model puts (\S+) there",
                  text, re.S)
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
    app.wait_until(lambda: charts.count() >= 6 and app.charts_drawn(), "the leak lesson's six charts to draw",
                   timeout_s=60)
    app.screenshot("leak")
    app.assert_clean()


def test_generation_steps_scrub(app):
    app.goto("generate")
    # An empty prefix: the model writes a whole word from <BOS>, so there are at least two steps to scrub
    # (a first character, then more characters or <EOS>) whatever the checkpoint.
    app.wait_until(lambda: "Empty prefix" in app.main_text(), "the empty-prefix note")
    slider = app.page.get_by_role("slider", name="Timeline: step")
    app.wait_until(lambda: slider.count() == 1 and "Step 0 reads" in app.main_text(), "the generation timeline")
    n_max = int(slider.get_attribute("max"))   # the <input type=range> behind the slider
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
