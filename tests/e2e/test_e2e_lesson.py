"""The Lesson in a real browser: ?step=2 opens step 2, a guess and Reveal show the answer computed from the model,
and the step-by-step numbers are drawn."""
import re


def test_lesson_step_2_guess_and_reveal(app):
    app.goto("lesson", step="2")
    app.wait_until(lambda: "Step 2." in app.main_text() and "Predict first" in app.main_text(),
                   "step 2 and its question")
    reveal = app.page.get_by_role("button", name="Reveal")
    assert reveal.is_disabled()                                    # a guess comes first
    app.page.locator('[data-testid="stRadio"] div[role="radiogroup"] label').first.click()
    app.wait_until(lambda: reveal.is_enabled(), "Reveal to become available after a guess")
    reveal.click()
    text = app.wait_until(lambda: (t := app.main_text()) and ("the answer is" in t or "Right:" in t) and t,
                          "the revealed answer")
    assert re.search(r"Its weight is 0\.\d\d, computed from this forward pass", text), text[:3000]
    app.wait_until(lambda: "softmax → the attention row" in " ".join(
        filter(None, (app.chart_title(i) for i in range(app.page.locator('[data-testid="stPlotlyChart"]').count())))),
        "the step-by-step charts")
    app.screenshot("lesson-step-2-revealed")
    app.assert_clean()
