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
    app.wait_until(lambda: (t := app.main_text()) and "is saved and is now in every page's model picker" in t
                   and re.search(r"Kept epoch\s+\d of 2", t) and re.search(r"Validation NLL \(honest\)\s+\d\.\d{3}", t),
                   "the training run to finish, publish and show its kept epoch and honest NLL", timeout_s=120)
    assert (app.server.user_ckpt_dir / f"{NAME}.pt").is_file()
    app.wait_charts_drawn()                 # learning curves and the attention replay
    page.wait_for_timeout(2500)             # a few ticks of the progress fragment's timer, had it survived
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Leak lesson" in nav and "Attention Lab" in page.locator('[data-testid="stSidebar"]').inner_text(), \
        f"the sidebar lost app.py's navigation after training: {nav!r}"
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
