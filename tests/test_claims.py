"""Issue 20, items 2, 4 and 5: what the pages say must be true of what they show — the masked encoder explained,
the peeking model's end-of-word probability read from the word alone, and the rules the entropy, confidence and
knock-out numbers follow said beside them."""

import json
import math

import pytest
import torch
from lab_fixtures import open_app, shown, tiny_bundle

from models.capture import capture
from models.capture_upload import from_json
from models.checkpoint import load_checkpoint
from viz.metrics import end_of_word_prob, mean_entropy, next_eos_prob, notebook_entropies, notebook_entropy


def said(at) -> str:
    return " ".join(
        shown(str(e.value)) for kind in ("markdown", "caption", "info", "warning") for e in getattr(at, kind)
    )


# ---- item 5: the notebook's entropy beside ours ----------------------------------------------------------------------


def test_notebook_entropy_is_nats_averaged_over_every_head_and_row():
    """Causal 2x2: row 0 sees one key (entropy 0), row 1 splits evenly (ln 2). The notebook's number averages both
    rows and both heads in nats; ours divides by ln(keys) and leaves row 0 out, so it reads 1."""
    p = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.0], [0.5, 0.5]]]])  # (1, H=2, Q=2, K=2)
    before = p.clone()
    assert notebook_entropy(p) == pytest.approx(math.log(2) / 2)
    assert torch.equal(p, before)
    cap = from_json(json.dumps({"all": p[0].unsqueeze(0).tolist(), "tokens": ["a", "b"]}).encode(), name="t.json")
    assert notebook_entropies(cap) == {"blocks.0.attn.hook_pattern": pytest.approx(math.log(2) / 2)}
    assert mean_entropy(cap, "blocks")[0].tolist() == pytest.approx([1.0, 1.0])


def test_explore_says_which_rows_the_entropy_leaves_out_and_shows_the_notebooks_number_for_an_imported_json():
    data = json.dumps({"all": [[[[0.5, 0.5], [0.5, 0.5]]], [[[1.0, 0.0], [0.0, 1.0]]]], "tokens": ["a", "b"]})
    at = open_app()
    assert "Rows that can see only one key (the first row under a causal mask) are left out" in said(at)
    assert "The notebook's entropy of this file" not in said(at)  # live model: not shown
    at.file_uploader(key="explore.upload").set_value(("nb.json", data.encode(), "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    text = said(at)
    assert f"self-attention layer 0: **{math.log(2):.3f}**" in text and "self-attention layer 1: **0.000**" in text


# ---- item 4: the end of the word, from the word alone ----------------------------------------------------------------


@pytest.mark.parametrize("model_name", ["miniformer", "full"])
def test_next_eos_prob_is_end_of_word_prob_for_causal_models(model_name):
    b = tiny_bundle(model_name, seed=3)
    assert next_eos_prob(capture(b, "zebra")) == pytest.approx(
        end_of_word_prob(capture(b, "zebra", add_eos=True)), abs=1e-6
    )


def test_explore_reads_the_peeking_models_end_of_word_from_the_word_alone():
    """flycatcher: 97.9 % with <EOS> already in the peeking model's source, 37.0 % from the word alone. The metric
    shows the second; a warning beside it gives the first and says it is reading the answer."""
    b = load_checkpoint("full_transformer_peeking")
    alone = next_eos_prob(capture(b, "flycatcher"))
    read = end_of_word_prob(capture(b, "flycatcher", add_eos=True))
    assert read - alone > 0.3  # the checkpoint does read the <EOS> at t+1
    at = open_app()
    at.selectbox(key="model").set_value("full_transformer_peeking").run()
    at.text_input(key="text").input("flycatcher").run()
    at.toggle(key="explore.eos").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    (m,) = at.metric
    assert m.value == f"{alone:.1%}"
    (warn,) = [x for x in at.warning if "reads the answer" in x.value]
    assert f"**{read:.1%}**" in warn.value and "from the word alone" in warn.value
    at.selectbox(key="model").set_value("full_transformer").run()  # leak-free: nothing to warn about
    assert not [x for x in at.warning if "reads the answer" in x.value]


# ---- item 5: knock-out silences a layer, it does not remove it -------------------------------------------------------


def test_knocking_out_every_head_leaves_the_output_projection_bias():
    from models.layers import MultiHeadAttention

    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, 0.0).eval()
    x = torch.randn(1, 5, 8)
    with torch.no_grad():
        y, _ = mha(x, head_mask=torch.zeros(2))
    assert mha.out_proj.bias.abs().sum() > 0
    assert torch.allclose(y, mha.out_proj.bias.expand_as(y))  # what the layer still adds at every position


def test_head_lab_says_what_knocking_out_a_whole_layer_leaves_and_what_confidence_skips():
    at = open_app("app_pages/6_heads.py")
    at.selectbox(key="model").set_value("miniformer").run()
    assert "the layer is not removed" not in said(at)
    at.button(key="heads.ko.all").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Every head of self-attention L0 knocked out" in said(at) and "the layer is not removed" in said(at)
    at.session_state["heads.tool"] = "rollout"
    at.run()
    assert "counts as the identity here" in said(at)
    at.session_state["heads.tool"] = "roles"
    at.run()
    assert "the first row under a causal mask, whose one key always gets 1, is left out" in said(at)


# ---- item 2: the masked encoder, said where it shows -----------------------------------------------------------------


@pytest.mark.parametrize(
    "step, phrase",
    [
        (4, "Grey triangles in the encoder too"),
        (6, "the leak-free one masks its **encoder** and **cross-attention** too"),
    ],
)
def test_lesson_steps_4_and_6_and_the_sidebar_say_why_the_encoder_is_masked(step, phrase):
    at = open_app("app_pages/0_lesson.py", step=str(step))
    assert phrase in said(at)
    assert "so the leak-free one masks its encoder and cross-attention" in " ".join(
        str(c.value) for c in at.sidebar.caption
    )
