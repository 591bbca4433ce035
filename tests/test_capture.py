"""The capture contract: shapes, probabilities, causality, purity, JSON round trip, BertViz kwargs."""
import json

import pytest
import torch
from bertviz import head_view

from lab_fixtures import tiny_bundle
from models.capture import CaptureImportError, capture, from_json


def test_one_pattern_per_layer_per_kind(bundle):
    cap = capture(bundle, "capy")
    T = len("capy") + 1
    cfg = bundle.cfg
    if bundle.is_seq2seq:
        assert len(cap.names("encoder")) == cfg.n_layer and len(cap.names("decoder")) == cfg.n_dec_layer
        assert len(cap.names("cross")) == cfg.n_dec_layer
        assert set(cap.patterns) == {f"encoder.{l}.attn.hook_pattern" for l in range(cfg.n_layer)} | \
            {f"decoder.{l}.{k}.hook_pattern" for l in range(cfg.n_dec_layer) for k in ("attn", "cross_attn")}
    else:
        assert list(cap.patterns) == [f"blocks.{l}.attn.hook_pattern" for l in range(cfg.n_layer)]
    for name, p in cap.patterns.items():
        assert p.shape == (1, cfg.n_head, T, T), name
        assert p.dtype == torch.float32 and p.device.type == "cpu" and not p.requires_grad
        assert torch.allclose(p.sum(-1), torch.ones(1, cfg.n_head, T)), name
    assert cap.logits.shape == (1, T, len(bundle.vocab))
    assert cap.tgt_tokens == ("<BOS>", "c", "a", "p", "y")


def test_causal_upper_triangles_are_exactly_zero(bundle):
    cap = capture(bundle, "flycatcher")
    for name, p in cap.patterns.items():
        upper_zero = bool(torch.all(p[0].triu(1) == 0))
        if cap.is_masked_causal(name):
            assert upper_zero, name
        elif bundle.peeking:
            assert not upper_zero, name      # the peeking variant really reads the future


def test_capture_is_deterministic_and_does_not_touch_the_model(bundle):
    before = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    attrs = set(vars(bundle.model))
    a, b = capture(bundle, "zebra"), capture(bundle, "zebra")
    for k in a.patterns:
        assert torch.equal(a.patterns[k], b.patterns[k])
    assert torch.equal(a.logits, b.logits)
    for k, v in bundle.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert set(vars(bundle.model)) == attrs and not bundle.model.training


def test_hf_tuples_and_bertviz_kwargs(bundle):
    cap = capture(bundle, "kiwi")
    t = cap.hf_tuples()
    kw = cap.bertviz_kwargs()
    if bundle.is_seq2seq:
        assert len(t["encoder_attentions"]) == bundle.cfg.n_layer
        assert len(t["decoder_attentions"]) == len(t["cross_attentions"]) == bundle.cfg.n_dec_layer
        assert kw["encoder_tokens"] == kw["decoder_tokens"] == list(cap.tgt_tokens)
    else:
        assert len(t["attentions"]) == bundle.cfg.n_layer
        assert kw["tokens"] == list(cap.tgt_tokens)
    html = head_view(**kw, html_action="return").data
    for tok in ("k", "i", "w"):
        assert f'"{tok}"' in html


def test_unknown_uppercase_and_long_input_are_reported():
    b = tiny_bundle("miniformer")
    cap = capture(b, "Cat dog!")
    assert cap.unknown == (" ", "!") and cap.lowercased
    assert cap.tgt_tokens == ("<BOS>", "c", "a", "t", "<UNK>", "d", "o", "g", "<UNK>")
    long = capture(b, "a" * 10_000 + "xyz")
    assert long.truncated == 10_000 + 3 - (b.block_size - 1)
    assert len(long.tgt_tokens) == b.block_size and long.tgt_tokens[-3:] == ("x", "y", "z")
    assert any("context" in n for n in long.notes)


@pytest.mark.parametrize("name", ["full", "full-peeking"])
def test_counterfactual_source(name):
    bundle = tiny_bundle(name)
    cap = capture(bundle, "cap", src="capybara")
    assert cap.src_tokens[-1] == "a" and len(cap.src_tokens) == 9 and len(cap.tgt_tokens) == 4
    assert cap.patterns["decoder.0.cross_attn.hook_pattern"].shape[-2:] == (4, 9)


@pytest.mark.parametrize("fmt", ["all", "layer"])
def test_json_round_trip_renders_in_bertviz(bundle, fmt):
    cap = capture(bundle, "mango")
    kind = cap.kinds()[0]
    raw = cap.to_json(fmt, kind=kind)
    data = json.loads(raw)
    assert ("all" in data) == (fmt == "all") and data["tokens"] == list(cap.tgt_tokens)
    back = from_json(raw)
    names = cap.names(kind) if fmt == "all" else cap.names(kind)[:1]
    assert len(back.patterns) == len(names)
    for orig, got in zip(names, back.names()):
        assert torch.allclose(cap.patterns[orig], back.patterns[got], atol=1e-5)
    html = head_view(**back.bertviz_kwargs(), html_action="return").data
    assert '"m"' in html and '"<BOS>"' in html


def test_json_import_of_notebook_layer_format_and_errors():
    good = {"tokens": ["a", "b"], "attentions": [[[1.0, 0.0], [0.5, 0.5]]]}
    cap = from_json(json.dumps(good))
    assert cap.patterns["blocks.0.attn.hook_pattern"].shape == (1, 1, 2, 2) and cap.causal
    bad_cases = {
        "not json": "{nope",
        "wrong keys": json.dumps({"foo": 1}),
        "shape": json.dumps({"tokens": ["a", "b", "c"], "attentions": [[[1.0, 0.0], [0.5, 0.5]]]}),
        "rows": json.dumps({"tokens": ["a", "b"], "attentions": [[[0.9, 0.0], [0.5, 0.5]]]}),
        "negative": json.dumps({"tokens": ["a", "b"], "attentions": [[[1.5, -0.5], [0.5, 0.5]]]}),
        "strings": json.dumps({"tokens": ["a", "b"], "attentions": [[["x", "y"], [0.5, 0.5]]]}),
        "tokens": json.dumps({"tokens": [1, 2], "attentions": [[[1.0, 0.0], [0.5, 0.5]]]}),
        "binary": b"\xff\xfe\x00garbage",
    }
    for label, raw in bad_cases.items():
        with pytest.raises(CaptureImportError):
            from_json(raw)
