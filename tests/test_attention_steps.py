"""Attention, step by step (models/attention_steps.py): the written-out numbers are the model's own, and the
positional-encoding counterfactual by hand on a tiny model."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from lab_fixtures import MODEL_NAMES, tiny_bundle

from models import registry
from models.attention_steps import (
    attention_steps,
    position_rows,
    positions_counterfactual,
    shuffled_order,
    sinusoidal_table,
)
from models.capture import capture
from models.checkpoint import load_checkpoint
from models.layers import causal_mask, sinusoidal_encoding


def _module(model, name: str):
    part, layer, sub = name.split(".")[:3]
    blocks = {
        "blocks": getattr(model, "blocks", None),
        "encoder": getattr(model, "encoder", None),
        "decoder": getattr(model, "decoder", None),
    }[part]
    return getattr(blocks[int(layer)], sub)


def _head_outputs_by_hook(bundle, text: str, name: str) -> torch.Tensor:
    """Every head's output (before out_proj) for ``text``, read from the model's own forward: a pre-hook on the
    out_proj of a private deepcopy (the shared model is never hooked). (Q, C)."""
    model = copy.deepcopy(bundle.model)
    got = {}
    handle = _module(model, name).out_proj.register_forward_pre_hook(lambda m, args: got.setdefault("y", args[0]))
    try:
        idx = torch.tensor([bundle.vocab.encode(text).ids])
        with torch.inference_mode():
            model(idx)
    finally:
        handle.remove()
    return got["y"][0]


@pytest.mark.parametrize("model_name", MODEL_NAMES)
def test_steps_equal_the_captured_pattern_and_the_heads_output(model_name):
    b = tiny_bundle(model_name)
    before = {k: v.clone() for k, v in b.model.state_dict().items()}
    text = "banana"
    cap = capture(b, text)
    checked = 0
    for name in cap.names():
        H = cap.patterns[name].shape[1]
        y = _head_outputs_by_hook(b, text, name)  # (Q, C)
        hs = y.shape[-1] // H
        for head in range(H):
            for query in range(len(cap.axes(name)[0])):
                s = attention_steps(b, text, name, head, query)
                row = cap.patterns[name][0, head, query]
                assert (s.weights - row).abs().max() <= 1e-6, (name, head, query)
                assert (s.pattern_row - row).abs().max() <= 1e-6
                assert torch.allclose(s.output, y[query, head * hs : (head + 1) * hs], atol=1e-6), (name, head, query)
                assert torch.allclose(s.output, s.weights @ s.v, atol=1e-6)
                assert torch.allclose(s.scaled, s.scores / math.sqrt(s.d_k))
                assert torch.allclose(s.scores, s.k @ s.q, atol=1e-5)
                checked += 1
    assert checked > 0
    for k, v in b.model.state_dict().items():  # nothing written to the model
        assert torch.equal(v, before[k]), k
    assert not b.model._forward_hooks and not b.model._forward_pre_hooks


def test_steps_mask_hides_the_future_and_says_so():
    b = tiny_bundle("miniformer")
    s = attention_steps(b, "capy", "blocks.0.attn.hook_pattern", 0, 2)  # query 2 = "a": keys 0..2 visible
    assert s.query_token == "a" and s.key_tokens == ("<BOS>", "c", "a", "p", "y")
    assert s.visible.tolist() == [True, True, True, False, False]
    assert s.weights[3:].tolist() == [0.0, 0.0] and float(s.weights.sum()) == pytest.approx(1.0)
    peek = attention_steps(tiny_bundle("full-peeking"), "capy", "encoder.0.attn.hook_pattern", 1, 2)
    assert peek.visible.all()  # the peeking encoder sees it all
    last = attention_steps(b, "capy", "blocks.0.attn.hook_pattern", 0, -1)
    assert last.query == 4 and last.visible.all()


def test_steps_bad_arguments_say_what_is_wrong():
    b = tiny_bundle("full")
    with pytest.raises(ValueError, match="head 9"):
        attention_steps(b, "cat", "encoder.0.attn.hook_pattern", 9, 0)
    with pytest.raises(ValueError, match="query 7"):
        attention_steps(b, "cat", "encoder.0.attn.hook_pattern", 0, 7)
    with pytest.raises(ValueError, match="no pattern"):
        attention_steps(b, "cat", "blocks.0.attn.hook_pattern", 0, 0)
    with pytest.raises(ValueError, match="not an attention pattern"):
        attention_steps(b, "cat", "nonsense", 0, 0)


# ---- positional encoding -------------------------------------------------------------------------------------------


def test_shuffled_order_is_a_seeded_non_identity_permutation():
    for T in (2, 3, 7):
        p = shuffled_order(T, seed=1)
        assert sorted(p) == list(range(T)) and p != list(range(T))
        assert shuffled_order(T, seed=1) == p
    assert shuffled_order(1) == [0]


def test_position_rows_and_the_table():
    b = tiny_bundle("miniformer")
    pe = sinusoidal_encoding(b.block_size, b.cfg.n_embd)
    assert torch.equal(sinusoidal_table(b, 5), pe[:5])
    assert pe[0, 0] == 0 and pe[0, 1] == 1 and pe[1, 0] == pytest.approx(math.sin(1.0))  # sin(0), cos(0), sin(1)
    assert torch.equal(position_rows(b, 5, "normal"), pe[:5])
    assert torch.equal(position_rows(b, 5, "none"), torch.zeros(5, b.cfg.n_embd))
    assert torch.equal(position_rows(b, 5, "shuffled", seed=3), pe[shuffled_order(5, 3)])
    with pytest.raises(ValueError):
        position_rows(b, 5, "sideways")


@pytest.mark.parametrize("model_name", MODEL_NAMES)
def test_positions_counterfactual_by_hand(model_name):
    """'normal' is the model's own prediction; 'none' equals a forward pass written out by hand with the
    positional rows left out; 'shuffled' equals one with the rows permuted."""
    b = tiny_bundle(model_name)
    m = b.model
    idx = torch.tensor([b.vocab.encode("capy").ids])
    with torch.inference_mode():
        own = m(idx).logits[0, -1].softmax(-1)
    assert torch.allclose(positions_counterfactual(b, "capy", "normal"), own)
    for mode in ("none", "shuffled"):
        rows = torch.zeros(5, m.cfg.n_embd) if mode == "none" else m.pos_enc[shuffled_order(5, 0)]
        hand = copy.deepcopy(m)  # a private copy whose table is replaced: the by-hand run
        hand.pos_enc = torch.cat([rows, m.pos_enc[5:]])
        with torch.inference_mode():
            expected = hand(idx).logits[0, -1].softmax(-1)
        got = positions_counterfactual(b, "capy", mode)
        assert torch.allclose(got, expected, atol=1e-6), mode
        assert not torch.allclose(got, own)  # positions matter to the prediction
    assert torch.equal(m.pos_enc, sinusoidal_encoding(m.cfg.block_size, m.cfg.n_embd))  # the shared model untouched


# ---- the step-by-step is arithmetic on the model's own forward ------------------------------------------------------


@pytest.mark.parametrize("name", registry.shipped_names())
def test_steps_equal_every_shipped_checkpoints_pattern(name):
    """On the weights the Lesson shows: each head's written-out softmax row is the row the model computed, for the
    first, a middle and the last query of every pattern, and asking for q, k, v changes nothing the model returns."""
    b = load_checkpoint(name)
    text = "flycatcher"
    cap, with_qkv = capture(b, text), capture(b, text, qkv=True)
    assert torch.equal(cap.logits, with_qkv.logits) and cap.patterns.keys() == with_qkv.patterns.keys()
    assert all(torch.equal(cap.patterns[n], with_qkv.patterns[n]) for n in cap.patterns)
    for pattern in cap.names():
        Q = len(cap.axes(pattern)[0])
        for head in range(cap.patterns[pattern].shape[1]):
            for query in (0, Q // 2, Q - 1):
                s = attention_steps(b, text, pattern, head, query)
                row = cap.patterns[pattern][0, head, query]
                assert (s.weights - row).abs().max() <= 1e-6, (pattern, head, query)
                K = len(cap.axes(pattern)[1])
                hidden_future = cap.is_masked_causal(pattern)
                assert s.visible.tolist() == [k <= query or not hidden_future for k in range(K)], (pattern, query)


def _no_bos_mask(q_len, k_len=None, device=None):
    """A different causal mask: besides the future, key 0 (<BOS>) is hidden from every query but the first."""
    m = causal_mask(q_len, k_len, device=device).clone()
    m[1:, 0] = False
    return m


@pytest.mark.parametrize("model_name", ["miniformer", "full"])
def test_a_mask_change_in_the_model_shows_in_the_steps(model_name, monkeypatch):
    """The step-by-step reads the mask from the model's forward: change the model's mask and the written-out numbers
    follow (they would silently keep the old mask if the steps rebuilt it by hand)."""
    import models.full_transformer
    import models.miniformer

    b = tiny_bundle(model_name)
    pattern = "blocks.0.attn.hook_pattern" if model_name == "miniformer" else "encoder.1.attn.hook_pattern"
    before = attention_steps(b, "capy", pattern, 0, 3)
    assert before.visible.tolist() == [True, True, True, True, False]
    monkeypatch.setattr(models.miniformer, "causal_mask", _no_bos_mask)
    monkeypatch.setattr(models.full_transformer, "causal_mask", _no_bos_mask)
    cap = capture(b, "capy")
    s = attention_steps(b, "capy", pattern, 0, 3)
    assert s.visible.tolist() == [False, True, True, True, False] and float(s.weights[0]) == 0.0
    assert (s.weights - cap.patterns[pattern][0, 0, 3]).abs().max() <= 1e-6
    assert (s.weights - before.weights).abs().max() > 1e-3  # the model's new mask moved the numbers
