"""The Explore page (the app's default page) under Streamlit's AppTest, with the shipped checkpoints: awkward inputs
in the text box each get their friendly message and never a traceback, every shipped model runs, and the other pages
run with a typed word. The BertViz view is a custom component, which AppTest sees as an unknown element: not checked."""

from __future__ import annotations

import json

import pytest
from lab_fixtures import open_app, shown, strings

from models.checkpoint import load_checkpoint

MODELS = ("miniformer", "full_transformer", "full_transformer_peeking")
EMPTY_PROMPT = "Type a word above — the views update as you type, no Enter needed."
LOWERCASED = "Uppercase letters were lowercased."
UNKNOWN = "Not in the vocabulary, shown as <UNK>: "
LONG = "a" * 9_990 + "capybara!!"  # 10 000 characters


def start(model: str | None = None):
    at = open_app(timeout=30)
    if model is not None:
        at.selectbox(key="model").set_value(model).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def explore(text: str, model: str | None = None):
    at = start(model)
    at.text_input(key="text").input(text).run()
    assert not at.exception, (text[:40], [e.value for e in at.exception])
    return at


def infos(at) -> list[str]:
    return [shown(i.value) for i in at.info]


def charts(at) -> dict[str, dict]:
    """{chart key: plotly figure dict} of every plotly chart on the page."""
    out = {}
    for el in at.get("plotly_chart"):
        key = el.proto.id.rsplit("-", 1)[-1]
        out[key] = json.loads(el.proto.spec)
    return out


def assert_no_raw_html(at) -> None:
    """Nothing the user typed reaches the page as markup: not in text elements, not inside any chart."""
    said = [
        str(e.value)
        for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader")
        for e in getattr(at, kind)
    ]
    for fig in charts(at).values():
        said += list(strings(fig))
    for s in said:
        assert "<script" not in s.lower() and "<img" not in s.lower(), s


def assert_full_page(at) -> None:
    """The four plotly views of Explore are there: next-token bars, entropy, heatmap, per-query entropy; and, once
    its expander is opened, the highlighted row step by step (its attention row and its weighted sum of values)."""
    assert set(charts(at)) == {"explore.bars", "explore.entropy", "explore.heat", "explore.qent"}
    at.session_state["explore.steps.open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(charts(at)) == {
        "explore.bars",
        "explore.entropy",
        "explore.heat",
        "explore.qent",
        "explore.steps.bars",
        "explore.steps.mix",
    }
    at.session_state["explore.steps.open"] = False
    at.run()


def heat_rows(at) -> list[str]:
    return charts(at)["explore.heat"]["layout"]["yaxis"]["ticktext"]


# ---- inputs ------------------------------------------------------------------------------------------------------


def test_empty_text_prompts_to_type():
    at = explore("")
    assert any(i.startswith(EMPTY_PROMPT) for i in infos(at)), infos(at)
    assert len(infos(at)) == 1
    assert_full_page(at)
    assert heat_rows(at) == ["&lt;BOS&gt;"]  # <BOS> alone, escaped


def test_a_plain_word_shows_no_notes():
    at = explore("capybara")
    assert infos(at) == []
    assert_full_page(at)
    assert heat_rows(at) == ["&lt;BOS&gt;", *"capybara"]
    assert not at.warning and not at.error


def test_uppercase_is_lowercased():
    at = explore("CAPY")
    assert infos(at) == [LOWERCASED]
    assert heat_rows(at) == ["&lt;BOS&gt;", "c", "a", "p", "y"]
    assert any("starting with “capy”" in c.value for c in at.caption)  # the training-word hint uses it too
    assert_full_page(at)


@pytest.mark.parametrize(
    "text,unknown",
    [
        ("ca pyb!ra", " !"),
        ("<script>alert(1)</script>", "<>(1)/"),
        ("</script><img src=x onerror=alert(1)>", "</> =(1)"),
    ],
)
def test_unknown_characters_are_named(text, unknown):
    at = explore(text)
    notes = [i for i in infos(at) if i.startswith(UNKNOWN)]
    assert len(notes) == 1, infos(at)
    assert notes[0] == UNKNOWN + " ".join(repr(c) for c in unknown) + "."
    assert heat_rows(at).count("&lt;UNK&gt;") == sum(c in unknown for c in text)
    assert_full_page(at)
    assert_no_raw_html(at)


def test_long_text_is_windowed():
    assert len(LONG) == 10_000
    at = explore(LONG)
    ctx = load_checkpoint("miniformer").block_size - 1
    long_notes = [i for i in infos(at) if "longer than the model's context" in i]
    assert long_notes == [
        f"Text is longer than the model's context of {ctx} tokens: showing the last {ctx} characters."
    ]
    assert any(i.startswith(UNKNOWN) and "'!'" in i for i in infos(at))  # the kept tail holds the '!'
    rows = heat_rows(at)
    assert len(rows) == ctx + 1 and rows[0] == "&lt;BOS&gt;"  # <BOS> + the last ctx characters
    assert rows[-10:] == [*"capybara", "&lt;UNK&gt;", "&lt;UNK&gt;"]
    assert_full_page(at)


def test_retyping_clears_the_notes():
    at = explore("CA PY")
    assert len(infos(at)) == 2
    at.text_input(key="text").input("capy").run()
    assert not at.exception and infos(at) == []
    at.text_input(key="text").input("").run()
    assert not at.exception and len(infos(at)) == 1 and infos(at)[0].startswith(EMPTY_PROMPT)


# ---- models ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_each_shipped_model_runs(model):
    from ui.text import peek_warning

    at = explore("capybara", model)
    assert at.selectbox(key="model").value == model
    assert_full_page(at)
    warned = [w.value for w in at.warning]
    if model == "full_transformer_peeking":
        assert warned == [peek_warning()]
    else:
        assert warned == []
    layers = at.selectbox(key="explore.pattern").options
    if model == "miniformer":
        assert layers == ["self-attention layer 0"]
    else:
        assert "cross-attention layer 0" in layers and "encoder self-attention layer 0" in layers
    for text in ("", "<script>alert(1)</script>", LONG):
        at.text_input(key="text").input(text).run()
        assert not at.exception, (model, text[:40], [e.value for e in at.exception])
        assert_full_page(at)


def test_switching_models_keeps_working_after_picking_a_layer_and_head():
    at = explore("capybara", "full_transformer")
    at.selectbox(key="explore.pattern").set_value("decoder.1.cross_attn.hook_pattern").run()
    at.selectbox(key="explore.head").set_value(3).run()
    assert not at.exception
    for model in ("miniformer", "full_transformer_peeking", "full_transformer"):
        at.selectbox(key="model").set_value(model).run()
        assert not at.exception, (model, [e.value for e in at.exception])
        assert_full_page(at)
    at.toggle(key="explore.eos").set_value(True).run()  # "Finished word": <EOS> appended
    assert not at.exception
    assert heat_rows(at)[-1] == "&lt;EOS&gt;"


# ---- the other pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page,text_key",
    [
        ("app_pages/2_compare.py", "text"),
        ("app_pages/3_leak.py", "leak.word"),
        ("app_pages/4_generate.py", "text"),
        ("app_pages/5_train.py", "train.probe"),
        ("app_pages/6_heads.py", "text"),
    ],
)
def test_other_pages_run_with_a_typed_word(page, text_key):
    at = explore("capybara")
    at.switch_page(page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    at.text_input(key=text_key).input("capy").run()
    assert not at.exception, (page, [e.value for e in at.exception])
    errors = [e.value for e in at.error if "copies the answer" not in e.value]  # that one is the leak lesson itself
    assert not errors, errors
    at.switch_page("app_pages/1_explore.py").run()  # and back to Explore
    assert not at.exception, [e.value for e in at.exception]
    assert_full_page(at)


# Issue 12 item 6: one word, one ?text=, on every page that takes a word (each page had its own key and URL param,
# so Compare opened empty after Explore).
WORD_PAGES = {
    "app_pages/1_explore.py": "explore.heat",
    "app_pages/2_compare.py": "compare.left.heat",
    "app_pages/4_generate.py": None,
}


def test_the_typed_word_follows_the_user_to_every_page_that_takes_a_word():
    at = explore("capybara")
    for page, heat in [*WORD_PAGES.items(), *WORD_PAGES.items()]:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.text_input(key="text").value == "capybara", page
        if heat:  # the views were computed on the word, not on ""
            assert charts(at)[heat]["layout"]["yaxis"]["ticktext"][-1] == "a", page
    at.switch_page("app_pages/2_compare.py").run()
    at.text_input(key="text").input("owl").run()  # typed on Compare: Generate continues it
    at.switch_page("app_pages/4_generate.py").run()
    assert at.text_input(key="text").value == "owl"
    assert any("owl" in m.value for m in at.markdown if "<span" in m.value), "Generate continues the typed prefix"


@pytest.mark.parametrize("page", WORD_PAGES)
def test_a_shared_text_link_opens_any_word_page_on_that_word(page):
    at = open_app(page, direct=True, timeout=30, text="zebra")
    assert at.text_input(key="text").value == "zebra"


def test_finished_word_shows_the_probability_of_ending_the_word():
    """Issue 12 item 7: *Finished word* drew bars "Next token after <EOS>" (76.7 % "end of word"), a prediction after
    the end. It shows p(<EOS>) at the last character instead, from the model's logits."""
    from models.capture import capture
    from viz.metrics import next_token_probs

    at = explore("capybara")
    at.toggle(key="explore.eos").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "explore.bars" not in charts(at)
    assert not any(
        "after" in (c["layout"].get("title") or {}).get("text", "") and "EOS" in c["layout"]["title"]["text"]
        for c in charts(at).values()
    )
    b = load_checkpoint("miniformer")
    p_end = float(next_token_probs(capture(b, "capybara").next_token_logits())[b.vocab.stoi["<EOS>"]])
    (m,) = at.metric
    assert m.label == "Probability the model gave to ending the word" and m.value == f"{p_end:.1%}", (m.label, m.value)
    assert any("`a`" in c.value and "<EOS>" in c.value for c in at.caption)
    at.toggle(key="explore.eos").set_value(False).run()  # off: the bars come back
    assert "explore.bars" in charts(at) and not at.metric
