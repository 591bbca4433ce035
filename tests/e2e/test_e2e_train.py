"""A short training run on the Train page finishes, and its model becomes selectable in Explore's model picker.
(The server writes user models to a temporary folder: see ``app_server`` in conftest.py.)"""

import re
import time

NAME = f"e2e-{int(time.time()) % 100000}"


def test_train_short_run_then_pick_it_in_explore(app):
    app.goto("train")
    page = app.page
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("2")
    epochs.press("Enter")
    app.wait_until(lambda: epochs.input_value() == "2", "the epoch count to take")
    name = page.get_by_role("textbox", name="Name for the result", exact=True)
    name.fill(NAME)
    name.press("Enter")
    app.wait_until(lambda: f"Will be saved as {NAME}" in app.main_text(), "the name to be accepted")
    page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()
    # While it runs the live panel shows progress (it may also be done before we look: 2 tiny epochs).
    # The result panel streams in element by element: wait for every line this test reads.
    app.wait_until(
        lambda: (
            (t := app.main_text())
            and "is saved and is now in every page's model picker" in t
            and re.search(r"Kept epoch\s+\d of 2", t)
            and re.search(r"Validation NLL \(honest\)\s+\d\.\d{3}", t)
        ),
        "the training run to finish, publish and show its kept epoch and honest NLL",
        timeout_s=120,
    )
    assert (app.server.user_ckpt_dir / f"{NAME}.pt").is_file()
    app.wait_charts_drawn()  # learning curves and the attention replay
    page.wait_for_timeout(2500)  # a few ticks of the progress fragment's timer, had it survived
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Leak lesson" in nav and "Attention Lab" in page.locator('[data-testid="stSidebar"]').inner_text(), (
        f"the sidebar lost app.py's navigation after training: {nav!r}"
    )
    app.screenshot("train-finished")

    # Explore, without a restart: the new model is in the picker and it draws.
    app.goto("")
    picker = page.get_by_role("combobox", name="Model", exact=True)
    picker.click()
    option = page.get_by_role("option", name=f"{NAME} (trained here)")
    option.wait_for()
    option.click()
    app.wait_until(lambda: f"model={NAME}" in page.url, f"the URL to name the picked model (URL: {page.url})")
    box = app.textbox()
    box.fill("owl")
    app.wait_until(lambda: app.bertviz_tokens() == ["<BOS>", "o", "w", "l"] * 2, "BertViz with the trained model")
    app.screenshot("explore-trained-model")
    app.assert_clean()


def test_train_another_model_keeps_the_settings_and_starts(app):
    """Issue 12 item 4: the form is hidden while a run and its result are shown. Before the fix, *Train another
    model* brought it back at the widgets' minimums (epochs 1, batch 1, lr 0, no recipe) and the next input
    replaced the page with ``ValueError: unknown recipe None``. The settings of the last run must come back, also
    after a trip to another page, and the second run must start."""
    app.goto("train")
    page = app.page
    knob = lambda label: page.get_by_label(label, exact=True)
    epochs = knob("Epochs")
    epochs.fill("2")
    epochs.press("Enter")
    app.wait_until(lambda: epochs.input_value() == "2", "the epoch count to take")
    page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()
    app.wait_until(
        lambda: "is saved and is now in every page's model picker" in app.main_text(),
        "the first run to finish",
        timeout_s=120,
    )
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Explore", exact=True).click()  # same session
    app.wait_until(lambda: "Type a word" in app.main_text(), "Explore to open")
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Train", exact=True).click()
    again = page.get_by_role("button", name=re.compile("Train another model"))
    again.click()
    app.wait_until(lambda: "Set up a run" in app.main_text() and epochs.count(), "the set-up form to come back")
    app.wait_idle()
    wanted = {"Epochs": "2", "Batch size": "128", "Learning rate": "0.0200"}  # the run's epochs, the fast recipe
    app.wait_until(
        lambda: {k: knob(k).input_value() for k in wanted} == wanted,
        f"the form to show the last run's settings {wanted}",
    )
    recipe = page.get_by_role("radiogroup", name="Recipe")
    assert recipe.get_by_role("radio", name="Fast", exact=True).is_checked(), "the recipe must still be picked"
    name = page.get_by_role("textbox", name="Name for the result", exact=True)
    name.fill(f"{NAME}-b")
    name.press("Enter")
    app.wait_until(lambda: f"Will be saved as {NAME}-b" in app.main_text(), "the second name to be accepted")
    page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()
    app.wait_until(
        lambda: f"{NAME}-b is saved" in app.main_text().replace("**", ""), "the second run to finish", timeout_s=120
    )
    assert {k: knob(k).count() for k in wanted} == {k: 0 for k in wanted}  # the result panel, not the form
    assert (app.server.user_ckpt_dir / f"{NAME}-b.pt").is_file()
    app.assert_clean()
