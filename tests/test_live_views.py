"""Explore's browser path (ui/live_views.py) under AppTest: what Python hands the component, and when the page
takes the server path instead. What the component draws is checked in Chromium (tests/e2e/test_e2e_browser_forward.py)
and its math against PyTorch in Node (tests/test_browser_forward.py)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from lab_fixtures import REPO, shown
from models import registry

APP = str(REPO / "app.py")


def run(**params):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def live_data(at) -> dict | None:
    """The data of the page's live-views component, or None when the page drew no such component."""
    for el in at.get("bidi_component"):
        if el.proto.component_name == "attention_lab_live":
            return json.loads(el.proto.json)
    return None


def test_browser_path_hands_the_component_the_weights_file_and_the_word():
    at = run(browser="1", text="capy", model="full_transformer")
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
        f"decoder.{l}.{a}.hook_pattern" for l in (0, 1) for a in ("attn", "cross_attn")]
    assert list(side["row_labels"].values()) == ["encoder L0", "encoder L1", "decoder self L0", "decoder self L1",
                                                 "cross L0", "cross L1"]
    assert at.query_params["text"] == ["capy"] or at.query_params["text"] == "capy"


def test_browser_path_speaks_japanese():
    data = live_data(run(browser="1", lang="ja"))
    assert data["labels"]["input"] == "単語を入力"
    assert data["labels"]["unknown"].startswith("語彙にない文字") and "{chars}" in data["labels"]["unknown"]
    assert data["sides"][0]["pattern_titles"]["blocks.0.attn.hook_pattern"] != "self-attention layer 0"
    assert "ローマ字" in data["labels"]["server_word"]


def test_without_the_switch_the_page_is_the_server_path():
    at = run(text="capy")
    assert live_data(at) is None and at.get("plotly_chart")
    assert at.toggle(key="explore.browser").value is False


def test_an_architecture_the_browser_cannot_run_takes_the_server_path_with_a_note(monkeypatch):
    monkeypatch.setattr(registry, "MODELS", tuple(dataclasses.replace(s, runs_in_browser=s.name != "miniformer")
                                                  for s in registry.MODELS))
    at = run(browser="1", text="capy", model="miniformer")
    assert live_data(at) is None and at.get("plotly_chart")
    assert any("architecture the browser can't run yet" in shown(i.value) for i in at.info)


def test_switching_off_returns_to_the_server_path():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["browser"] = "1"
    at.run()
    assert live_data(at) is not None
    at.toggle(key="explore.browser").set_value(False)
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")


def test_weights_the_browser_failed_to_load_take_the_server_path_with_a_note():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["browser"] = "1"
    at.run()
    at.session_state["explore.live"] = {"view": None, "failed": "HTTP 404"}    # what the component reports
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")
    assert any("could not load the model's weights (HTTP 404)" in shown(i.value) for i in at.info)


def test_kana_and_kanji_take_the_server_path_for_that_word_with_a_note():
    """The browser can't write Japanese in romaji (pykakasi is on the server): such a word is drawn by the server
    path, with a note; a word in a–z typed there goes back to the browser."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["browser"] = "1"
    at.query_params["text"] = "ねこ"
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")
    assert any("only the server can do" in shown(i.value) for i in at.info), [i.value for i in at.info]
    assert at.text_input(key="text").value == "ねこ"
    at.text_input(key="text").set_value("neko")
    at.run()
    assert not at.exception and live_data(at) is not None and live_data(at)["text"] == "neko"
    assert not any("only the server can do" in shown(i.value) for i in at.info)
    at.session_state["text"] = "猫です"                 # what the component reports after the student's pause
    at.run()
    assert not at.exception and live_data(at) is None and at.get("plotly_chart")


def test_compare_takes_the_server_path_for_kanji():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("app_pages/2_compare.py")
    for k, v in {"browser": "1", "text": "猫"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception and live_data(at) is None
    assert any("only the server can do" in shown(i.value) for i in at.info), [i.value for i in at.info]


def test_compare_browser_path_hands_over_both_models_and_keeps_the_test_verdict():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("app_pages/2_compare.py")
    for k, v in {"browser": "1", "text": "owl"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
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
    at = run(browser="1", text=payload)
    data = live_data(at)
    assert data is not None and data["text"] == payload


def test_without_the_vendored_d3_the_browser_path_says_how_to_fetch_it(monkeypatch):
    from ui import live_views
    from viz import bertviz_view
    monkeypatch.setattr(bertviz_view, "missing_vendor_files", lambda: ["d3.min.js"])
    live_views.bertviz_template.clear()
    try:
        at = run(browser="1", text="owl")
        assert live_data(at)["sides"][0]["bertviz"] is None
        assert any("fetch_vendor.py" in w.value for w in at.warning), [w.value for w in at.warning]
    finally:
        live_views.bertviz_template.clear()      # the next test's template is built with the real files
