"""Explore's browser path (ui/live_views.py) under AppTest: what Python hands the component, and when the page
takes the server path instead. What the component draws is checked in Chromium (tests/e2e/test_e2e_browser_forward.py)
and its math against PyTorch in Node (tests/test_browser_forward.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from lab_fixtures import REPO, open_app, shown

from models import registry


def live_data(at) -> dict | None:
    """The data of the page's live-views component, or None when the page drew no such component."""
    for el in at.get("bidi_component"):
        if el.proto.component_name == "attention_lab_live":
            return json.loads(el.proto.json)
    return None


def test_browser_path_hands_the_component_the_weights_file_and_the_word():
    at = open_app(browser="1", text="capy", model="full_transformer")
    data = live_data(at)
    assert data is not None
    assert not at.get("plotly_chart"), "the server's charts are not drawn on the browser path"
    assert data["text"] == "capy" and data["add_eos"] is False and (data["top_k"], data["temperature"]) == (8, 1.0)
    # the weights: a static file under /app/static/, named by its content, holding this checkpoint
    assert len(data["sides"]) == 1
    side = data["sides"][0]
    url = side["weights"]
    assert url.startswith("app/static/weights/full_transformer-")
    doc = json.loads((REPO / "static" / url.removeprefix("app/static/")).read_text())
    assert doc["architecture"] == "full" and doc["model_args"]["peeking"] is False
    # every pattern of the model, titled; the entropy rows grouped by kind as the server's figure has them
    assert list(side["pattern_titles"]) == [f"encoder.{l}.attn.hook_pattern" for l in (0, 1)] + [
        f"decoder.{l}.{a}.hook_pattern" for l in (0, 1) for a in ("attn", "cross_attn")
    ]
    assert list(side["row_labels"].values()) == [
        "encoder L0",
        "encoder L1",
        "decoder self L0",
        "decoder self L1",
        "cross L0",
        "cross L1",
    ]
    assert at.query_params["text"] == ["capy"] or at.query_params["text"] == "capy"


def test_browser_path_speaks_japanese():
    data = live_data(open_app(browser="1", lang="ja"))
    assert data["labels"]["input"] == "単語を入力"
    assert data["labels"]["unknown"].startswith("語彙にない文字") and "{chars}" in data["labels"]["unknown"]
    assert data["sides"][0]["pattern_titles"]["blocks.0.attn.hook_pattern"] != "self-attention layer 0"
    assert "ローマ字" in data["labels"]["server_word"]


def test_without_the_switch_the_page_is_the_server_path():
    at = open_app(text="capy")
    assert live_data(at) is None and at.get("plotly_chart")
    assert at.toggle(key="explore.browser").value is False


def test_an_architecture_the_browser_cannot_run_takes_the_server_path_with_a_note(monkeypatch):
    monkeypatch.setattr(
        registry,
        "MODELS",
        tuple(dataclasses.replace(s, runs_in_browser=s.name != "miniformer") for s in registry.MODELS),
    )
    at = open_app(browser="1", text="capy", model="miniformer")
    assert live_data(at) is None and at.get("plotly_chart")
    assert any("architecture the browser can't run yet" in shown(i.value) for i in at.info)


def test_switching_off_returns_to_the_server_path():
    at = open_app(browser="1")
    assert live_data(at) is not None
    at.toggle(key="explore.browser").set_value(False)
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")


def test_weights_the_browser_failed_to_load_take_the_server_path_with_a_note():
    at = open_app(browser="1")
    at.session_state["explore.live"] = {"view": None, "failed": "HTTP 404"}  # what the component reports
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")
    assert any("could not load the model's weights (HTTP 404)" in shown(i.value) for i in at.info)


def test_kana_and_kanji_take_the_server_path_for_that_word_with_a_note():
    """The browser can't write Japanese in romaji (pykakasi is on the server): such a word is drawn by the server
    path, with a note; a word in a–z typed there goes back to the browser."""
    at = open_app(browser="1", text="ねこ")
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")
    assert any("only the server can do" in shown(i.value) for i in at.info), [i.value for i in at.info]
    assert at.text_input(key="text").value == "ねこ"
    at.text_input(key="text").set_value("neko")
    at.run()
    assert not at.exception and live_data(at) is not None and live_data(at)["text"] == "neko"
    assert not any("only the server can do" in shown(i.value) for i in at.info)
    at.session_state["text"] = "猫です"  # what the component reports after the student's pause
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")


def test_compare_takes_the_server_path_for_kanji():
    at = open_app("app_pages/2_compare.py", direct=True, browser="1", text="猫")
    assert not at.exception and live_data(at) is None
    assert any("only the server can do" in shown(i.value) for i in at.info), [i.value for i in at.info]


def test_compare_browser_path_hands_over_both_models_and_keeps_the_test_verdict():
    at = open_app("app_pages/2_compare.py", direct=True, browser="1", text="owl")
    data = live_data(at)
    assert data is not None and not at.get("plotly_chart")
    left, right = data["sides"]
    assert left["weights"].startswith("app/static/weights/miniformer-")
    assert right["weights"].startswith("app/static/weights/full_transformer-")
    assert (left["title"], right["title"]) == ("MiniFormer", "FullTransformer (leak-free)")
    # the encoder-decoder opens on cross-attention, as the server's Compare does; each BertViz has its own root
    assert right["pattern"] == "decoder.0.cross_attn.hook_pattern"
    assert left["bertviz"]["root_id"] != right["bertviz"]["root_id"]
    assert data["text"] == "owl"
    assert any("test words" in m.value for m in at.markdown), "the test-word verdict is not per keystroke: it stays"


@pytest.mark.parametrize("payload", ["<script>alert(1)</script>", "ñ🐈", "x" * 10_000, "a\x00b\x07", "CAPYBARA"])
def test_a_hostile_text_link_reaches_the_component_as_data(payload):
    """``?text=`` goes to the component as a JSON string (the browser sets it as the box's value, never as markup)
    and the page around it runs without an exception."""
    at = open_app(browser="1", text=payload)
    data = live_data(at)
    assert data is not None and data["text"] == payload


def test_without_the_vendored_d3_the_browser_path_says_how_to_fetch_it(monkeypatch):
    from ui import live_views
    from viz import bertviz_view

    monkeypatch.setattr(bertviz_view, "missing_vendor_files", lambda: ["d3.min.js"])
    live_views.bertviz_template.clear()
    try:
        at = open_app(browser="1", text="owl")
        assert live_data(at)["sides"][0]["bertviz"] is None
        assert any("fetch_vendor.py" in w.value for w in at.warning), [w.value for w in at.warning]
    finally:
        live_views.bertviz_template.clear()  # the next test's template is built with the real files


# ---- the browser path is the default (issue 24, item 1) -----------------------------------------------------------
def test_by_default_a_student_gets_the_browser_path_on_explore_and_compare(monkeypatch):
    monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")
    at = open_app(text="capy")
    assert live_data(at) is not None and not at.get("plotly_chart")
    assert at.toggle(key="explore.browser").value is True and "browser" not in at.query_params
    at = open_app("app_pages/2_compare.py", direct=True)
    assert not at.exception and live_data(at) is not None and len(live_data(at)["sides"]) == 2
    assert at.toggle(key="compare.browser").value is True


def test_browser_0_in_the_link_or_the_switch_off_gives_the_server_path(monkeypatch):
    monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")
    at = open_app(browser="0", text="capy")
    assert live_data(at) is None and at.get("plotly_chart") and at.toggle(key="explore.browser").value is False
    at = open_app(text="capy")
    at.toggle(key="explore.browser").set_value(False)
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")
    assert at.query_params["browser"] in ("0", ["0"])  # the link a student copies keeps the server path
    at.toggle(key="explore.browser").set_value(True)
    at.run()
    assert not at.exception and live_data(at) is not None and "browser" not in at.query_params


def test_the_setting_turns_the_default_off_and_browser_1_still_asks_for_it(monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_BROWSER_PATH", "0")
    at = open_app(text="capy")
    assert live_data(at) is None and at.get("plotly_chart")
    at.toggle(key="explore.browser").set_value(True)
    at.run()
    assert not at.exception and live_data(at) is not None and at.query_params["browser"] in ("1", ["1"])
    assert live_data(open_app(browser="1", text="capy")) is not None


# ---- BertViz's model view in the browser path (issue 24, item 2) --------------------------------------------------
def test_explore_hands_the_component_bertviz_model_view_as_a_template():
    """Explore's side carries BertViz's model view as a template beside the head view (one markup and script per
    model, the params without weights or tokens), with BertViz's selectors in the session's language; it opens on
    the view the server path's control holds, and the view the student picks in the component becomes that."""
    data = live_data(open_app(browser="1", text="owl", model="full_transformer", lang="ja"))
    side = data["sides"][0]
    assert (side["bertviz"]["view"], side["bertviz_model"]["view"]) == ("head", "model")
    assert side["bertviz_view"] == "head"
    # each a static file the browser fetches once, named by its content (not re-sent on every rerun)
    head, model = (
        json.loads((REPO / "static" / side[k]["url"].removeprefix("app/static/")).read_text())
        for k in ("bertviz", "bertviz_model")
    )
    assert side["bertviz_model"]["url"].startswith("app/static/weights/bertviz-model-full_transformer-")
    assert model["root_id"] == "al-bertviz-explore" and model["js"].count(model["mark"]) == 1
    assert "DIV_WIDTH" in model["js"] and "DIV_WIDTH" not in head["js"]  # BertViz's model_view.js
    assert model["params"]["names"] == ["Encoder", "Decoder", "Cross"] and "attention" not in model["params"]
    assert "://" not in model["js"] + model["markup"] and "<script" not in model["markup"].lower()
    assert "アテンション" in model["markup"] and "Attention:" not in model["markup"], model["markup"]
    assert data["labels"]["model_view"] == "モデル表示" and data["labels"]["grid_title"].startswith("すべての層")
    at = open_app(text="owl")  # the server path, Model view picked there
    at.get("segmented_control")[0].set_value("model")
    at.run()
    at.toggle(key="explore.browser").set_value(True)
    at.run()
    assert not at.exception and live_data(at)["sides"][0]["bertviz_view"] == "model"
    # (the way back, a pick in the component reaching the server path, is checked in Chromium:
    # tests/e2e/test_e2e_browser_forward.py::test_bertviz_model_view_in_the_browser)


def test_compare_sides_keep_the_head_view_only():
    at = open_app("app_pages/2_compare.py", direct=True, browser="1")
    assert not at.exception and all("bertviz_model" not in s for s in live_data(at)["sides"])


# ---- the Lesson's word-driven steps in the browser (issue 24, item 3) ---------------------------------------------
def lesson_components(at) -> dict[str, dict]:
    """The live components on the page by mode ("box", "views")."""
    out = {}
    for el in at.get("bidi_component"):
        if el.proto.component_name == "attention_lab_live":
            data = json.loads(el.proto.json)
            out[data.get("mode", "page")] = data
    return out


@pytest.mark.parametrize(
    "step, views, model, grid",
    [
        (1, ["bars"], "miniformer", []),
        (2, ["steps"], "miniformer", []),
        (3, ["heat"], "miniformer", []),
        (4, ["entropy", "grid"], "full_transformer", ["encoder.0.attn.hook_pattern"]),
        (5, ["pe", "positions"], "miniformer", []),
        (6, ["grid"], "full_transformer", ["decoder.1.cross_attn.hook_pattern"]),
        (7, ["heat"], "full_transformer_peeking", []),
    ],
)
def test_a_lesson_step_s_views_follow_its_box_in_the_browser_only_after_the_guess(
    step, views, model, grid, monkeypatch
):
    monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")  # the default
    at = open_app("app_pages/0_lesson.py", direct=True, step=str(step))
    got = lesson_components(at)
    assert list(got) == ["box"], "no views before a guess is locked: they show the answer"
    assert got["box"]["group"] == f"lesson.word.{step}" and got["box"]["labels"]["input"] == "Word"
    suggested = {1: "capyba", 2: "banana", 5: "capyba", 7: "flycatcher"}.get(step, "capybara")
    assert got["box"]["max_chars"] == 60 and got["box"]["text"] == suggested
    assert not at.text_input and not at.get("plotly_chart")
    at.session_state[f"lesson.word.{step}"] = "owlet"  # what the box reports on the pause
    at.run()
    assert (
        "owlet" in at.markdown[[i for i, m in enumerate(at.markdown) if "Predict first" in m.value][0]].value
        or step != 1
    )
    at.button_group(key=f"lesson.{step}.guess").set_value(0).run()
    assert list(lesson_components(at)) == ["box"], "a guess not yet locked shows nothing"
    at.button(key=f"lesson.{step}.reveal").click().run()
    assert not at.exception, [e.value for e in at.exception]
    got = lesson_components(at)
    assert list(got) == ["box", "views"] and not at.get("plotly_chart")
    v = got["views"]
    assert v["group"] == f"lesson.word.{step}" and v["views"] == views and v["text"] == "owlet"
    assert v["sides"][0]["weights"].startswith(f"app/static/weights/{model}-") and v["sides"][0]["bertviz"] is None
    assert v["grid_patterns"] == grid
    assert (v["add_eos"], v["heat_pick"]) == ((True, "leak") if step == 7 else (False, None))
    if step in (1, 2, 3):  # step 2: the question's row, the slider's (banana's middle row, kept for owlet)
        assert (v["query"], v["sides"][0]["pattern"]) == ({1: None, 2: 3, 3: 2}[step], "blocks.0.attn.hook_pattern")
        assert step != 2 or v["query"] == at.select_slider(key="lesson.2.query").value
    if step == 2:  # the step-by-step view's words, in the session's language, and head 0 (the question's)
        assert (
            v["head"] == 0
            and v["labels"]["steps"]["table"]["score"] == "q·k"
            and "{gap:.1e}" in v["labels"]["steps"]["check"]
        )
        assert at.get("latex"), "the formula stays on the page, above the numbers"
    if step == 5:  # the server's shuffle for every length, and the figures' words
        from models.checkpoint import load_checkpoint
        from ui.live_views import position_perms

        assert (
            v["perms"] == position_perms(load_checkpoint("miniformer").block_size)
            and v["labels"]["positions"]["names"]["none"] == "positions removed"
        )
    assert ("perms" in v) is (step == 5)
    # a new guess hides the answer and the views again
    at.button_group(key=f"lesson.{step}.guess").set_value(1).run()
    assert list(lesson_components(at)) == ["box"]


def test_a_lesson_step_takes_the_server_box_for_kana_and_when_asked(monkeypatch):
    monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")
    at = open_app("app_pages/0_lesson.py", direct=True, state={"lesson.word.1": "ねこ"}, step="1")
    assert not at.exception and not lesson_components(at) and at.text_input(key="lesson.word.1").value == "ねこ"
    assert any("only the server can do" in shown(i.value) for i in at.info)
    at = open_app("app_pages/0_lesson.py", direct=True, step="1", browser="0")
    assert not at.exception and not lesson_components(at) and at.text_input(key="lesson.word.1").value == "capyba"


@pytest.mark.parametrize("step", [1, 2, 5])
def test_a_lesson_step_in_a_class_shows_its_views_only_after_the_teacher_reveals(step, monkeypatch):
    """In a class session the step's guess is driven by the teacher (ui/class_session): the views component is
    drawn only when the teacher has revealed, as the server's view is (step 2: on the class's fixed row)."""
    from ui import class_session

    monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")
    monkeypatch.setattr(class_session, "active", lambda: True)
    monkeypatch.setattr(class_session, "class_question", lambda *a, **k: None)
    for revealed in (False, True):
        monkeypatch.setattr(class_session, "question_revealed", lambda key, r=revealed: r)
        at = open_app("app_pages/0_lesson.py", direct=True, step=str(step))
        assert ("views" in lesson_components(at)) is revealed, revealed
        if revealed and step == 2:  # banana's middle row, the row every screen of the class asks about
            assert lesson_components(at)["views"]["query"] == 3 == at.select_slider(key="lesson.2.query").value


def test_a_lesson_step_whose_weights_failed_in_the_browser_draws_the_server_view_with_a_note(monkeypatch):
    monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")
    at = open_app("app_pages/0_lesson.py", direct=True, step="1")
    at.button_group(key="lesson.1.guess").set_value(0).run()
    at.button(key="lesson.1.reveal").click().run()
    assert "views" in lesson_components(at) and not at.get("plotly_chart")
    at.session_state["lesson.live.1.views"] = {"view": None, "failed": "HTTP 404"}  # what the component reports
    at.run()
    assert not at.exception and "views" not in lesson_components(at) and at.get("plotly_chart")
    assert any("could not load the model's weights (HTTP 404)" in shown(i.value) for i in at.info)


@pytest.mark.parametrize("step", [2, 5])
def test_a_lesson_formula_on_a_projector_is_one_part_a_line(step):
    """On a projector the step's text is half the screen wide: its formula goes one part a line (one long line of
    large type was clipped there, in both languages); on a laptop it stays one line."""
    for present, lines in (("1", True), ("0", False)):
        at = open_app("app_pages/0_lesson.py", direct=True, step=str(step), present=present, lang="ja")
        body = at.get("latex")[0].proto.body
        assert ("\\begin{gathered}" in body and " \\\\ " in body) is lines, body
        assert ("Attention" in body) if step == 2 else ("\\cos" in body)


@pytest.mark.parametrize("present, cols", [("1", 2), ("0", None)])
def test_a_lesson_head_grid_on_a_projector_is_two_heads_a_row(present, cols, monkeypatch):
    """Step 6's grid of four heads ran off the projector's half-screen column (it scrolled sideways): there the
    browser draws two heads a row (ui/live/steps.js, drawGridWrapped), as the server path's grid does."""
    monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")
    at = open_app("app_pages/0_lesson.py", direct=True, step="6", present=present)
    at.button_group(key="lesson.6.guess").set_value(0).run()
    at.button(key="lesson.6.reveal").click().run()
    v = lesson_components(at)["views"]
    assert v["grid_cols"] == cols and v["projector"] is (present == "1")
