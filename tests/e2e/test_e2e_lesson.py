"""The Lesson in a real browser: ?step=2 opens step 2, a guess and Reveal show the answer computed from the model,
and the step-by-step numbers are drawn."""

import re


def test_lesson_step_2_guess_and_reveal(app):
    app.goto("lesson", step="2")
    app.wait_until(
        lambda: "Step 2." in app.main_text() and "Predict first" in app.main_text(), "step 2 and its question"
    )
    reveal = app.page.get_by_role("button", name="Reveal")
    assert reveal.is_disabled()  # a guess comes first
    app.page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button').first.click()
    app.wait_until(lambda: reveal.is_enabled(), "Reveal to become available after a guess")
    reveal.click()
    text = app.wait_until(
        lambda: (t := app.main_text()) and ("the answer is" in t or "Right:" in t) and t, "the revealed answer"
    )
    assert re.search(r"Its weight is 0\.\d\d, computed from this forward pass", text), text[:3000]
    app.wait_until(
        lambda: (
            "softmax → the attention row"
            in " ".join(
                filter(
                    None, (app.chart_title(i) for i in range(app.page.locator('[data-testid="stPlotlyChart"]').count()))
                )
            )
        ),
        "the step-by-step charts",
    )
    app.screenshot("lesson-step-2-revealed")
    app.assert_clean()


def guide_addresses() -> dict[str, str]:
    """Every page address the teacher guides print (`/explore`, `/lesson?step=2`, ...), by path -> one example."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    found: dict[str, str] = {}
    for guide in ("teaching.md", "teaching.ja.md"):
        text = (docs / guide).read_text(encoding="utf-8")
        for m in re.finditer(r"(?:`|:8501)(/[a-z_]+(?:\?[^`\s)…]*)?)", text):
            path = m[1].split("?")[0].strip("/")
            found.setdefault(path, m[1].replace("step=N", "step=2"))
    return found


# What each address must open: the page's st.title (its heading), in English.
TITLES = {
    "": "Explore",
    "explore": "Explore",
    "lesson": "Lesson",
    "compare": "Compare",
    "leak": "Leak lesson",
    "generate": "Generate",
    "train": "Train",
    "heads": "Head lab",
    "real_model": "Real model",
    "teach": "Teach a class",
    "join": "Join a class",
}


def test_every_address_the_guides_print_opens_its_page(app):
    addresses = guide_addresses()
    assert {"explore", "lesson", "compare", "leak", "generate", "train", "heads", "real_model"} <= set(addresses)
    for path, address in {"": "/", **addresses}.items():
        app.page.goto(app.server.url + address + ("&" if "?" in address else "?") + "lang=en")
        app.page.get_by_role("heading", name=TITLES[path], exact=False).first.wait_for()
        app.wait_idle()
        assert "Page not found" not in app.page.locator("body").inner_text(), address
    app.assert_clean()
