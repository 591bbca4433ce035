"""The capture contract: shapes, probabilities, causality, purity, JSON round trip, BertViz kwargs."""

import json

import pytest
import torch
from bertviz import head_view
from lab_fixtures import tiny_bundle

from models.capture import capture
from models.capture_upload import CaptureImportError, from_json


def test_one_pattern_per_layer_per_kind(bundle):
    cap = capture(bundle, "capy")
    T = len("capy") + 1
    cfg = bundle.cfg
    if bundle.is_seq2seq:
        assert len(cap.names("encoder")) == cfg.n_layer and len(cap.names("decoder")) == cfg.n_dec_layer
        assert len(cap.names("cross")) == cfg.n_dec_layer
        assert set(cap.patterns) == {f"encoder.{l}.attn.hook_pattern" for l in range(cfg.n_layer)} | {
            f"decoder.{l}.{k}.hook_pattern" for l in range(cfg.n_dec_layer) for k in ("attn", "cross_attn")
        }
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
            assert not upper_zero, name  # the peeking variant really reads the future


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
    family = cap.families()[0]
    raw = cap.to_json(fmt, family=family)
    data = json.loads(raw)
    assert ("all" in data) == (fmt == "all") and data["tokens"] == list(cap.tgt_tokens)
    back = from_json(raw)
    names = cap.names(family) if fmt == "all" else cap.names(family)[:1]
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
    for _label, raw in bad_cases.items():
        with pytest.raises(CaptureImportError):
            from_json(raw)


# ---- hostile attention JSON (issue 12, item 10): every file gets a CaptureImportError with a plain message --------


def _layer_json(tokens, heads, **extra) -> dict:
    return {"tokens": tokens, "attentions": heads, **extra}


def _uniform_causal(n: int) -> list[list[float]]:
    return [[1 / (q + 1) if k <= q else 0.0 for k in range(n)] for q in range(n)]


HOSTILE = {
    "100,000 levels of nesting": lambda: (
        '{"tokens": ["a"], "attentions": ' + "[" * 100_000 + "]" * 100_000 + "}"
    ).encode(),
    "a 5,000-digit integer": lambda: ('{"tokens": ["a"], "attentions": [[[' + "9" * 5000 + "]]]}").encode(),
    "a 1,000-digit integer (parses, overflows float32)": lambda: (
        '{"tokens": ["a"], "attentions": [[[' + "9" * 1000 + "]]]}"
    ).encode(),
    "800 levels of lists in a layer": lambda: (
        '{"tokens": ["a"], "attentions": ' + "[" * 800 + "1" + "]" * 800 + "}"
    ).encode(),
    "5,000 heads": lambda: json.dumps(_layer_json(["a"], [[[1.0]]] * 5000)).encode(),
    "5,000 layers": lambda: json.dumps({"tokens": ["a"], "all": [[[[1.0]]]] * 5000}).encode(),
    "a 1,000,000-character token": lambda: json.dumps(_layer_json(["a" * 1_000_000], [[[1.0]]])).encode(),
    "too many tokens": lambda: json.dumps(_layer_json(["a"] * 257, [[[1.0]]])).encode(),
    "too many weights": lambda: json.dumps({"tokens": ["a"] * 100, "all": [[_uniform_causal(100)] * 5] * 5}).encode(),
    "over the size cap": lambda: b" " * 5_000_001 + b"{}",
    "a list, not an object": lambda: b"[1, 2, 3]",
    "empty 'all'": lambda: json.dumps({"tokens": ["a"], "all": []}).encode(),
    "rows summing to 0.97": lambda: json.dumps(_layer_json(["a", "b"], [[[0.97, 0.0], [0.5, 0.5]]])).encode(),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_json_gets_a_plain_message(case):
    import time

    raw = HOSTILE[case]()
    t0 = time.perf_counter()
    with pytest.raises(CaptureImportError) as err:
        from_json(raw, name="x.json")
    assert time.perf_counter() - t0 < 2.0, "the parser must refuse before doing the expensive work"
    msg = str(err.value)
    assert msg and "Traceback" not in msg and len(msg) < 400, msg


def test_json_with_a_utf8_bom_is_read():
    good = json.dumps(_layer_json(["a", "b"], [[[1.0, 0.0], [0.5, 0.5]]]))
    for raw in (b"\xef\xbb\xbf" + good.encode(), "\ufeff" + good):
        cap = from_json(raw)
        assert cap.tgt_tokens == ("a", "b") and cap.causal


def test_four_decimal_rounding_is_accepted_and_renormalised():
    """32 weights rounded to 4 decimals sum to 0.988-1.012: within ROW_SUM_TOLERANCE, shown renormalised, noted."""
    from models.capture_upload import ROW_SUM_TOLERANCE

    n = 32
    rows = [
        [round(1 / 33, 4)] * (n - 1) + [round(1 - (n - 1) * round(1 / 33, 4) - 0.012, 4)],  # sums to 0.988
        [0.0] * (n - 2) + [0.512, 0.5],
    ]  # sums to 1.012
    rows += [[1 / n] * n for _ in range(n - 2)]
    sums = [sum(r) for r in rows]
    assert min(sums) == pytest.approx(0.988, abs=1e-9) and max(sums) == pytest.approx(1.012, abs=1e-9)
    assert ROW_SUM_TOLERANCE >= 0.012
    cap = from_json(json.dumps(_layer_json([chr(97 + i % 26) for i in range(n)], [rows])))
    p = cap.patterns["blocks.0.attn.hook_pattern"]
    assert torch.allclose(p.sum(-1), torch.ones(1, 1, n), atol=1e-6)
    assert any("renormalised" in note for note in cap.notes)
    assert not from_json(json.dumps(_layer_json(["a", "b"], [[[1.0, 0.0], [0.5, 0.5]]]))).notes  # exact: no note


def test_files_at_the_bounds_are_read():
    from models.capture_upload import (
        MAX_JSON_HEADS,
        MAX_JSON_LAYERS,
        MAX_JSON_TOKENS,
        MAX_JSON_WEIGHTS,
        MAX_TOKEN_CHARS,
    )

    one = [[[1.0]] for _ in range(MAX_JSON_HEADS)]
    cap = from_json(json.dumps({"tokens": ["x" * MAX_TOKEN_CHARS], "all": [one] * MAX_JSON_LAYERS}))
    assert len(cap.patterns) == MAX_JSON_LAYERS and cap.patterns["blocks.0.attn.hook_pattern"].shape[1] == 16
    n = MAX_JSON_TOKENS
    assert n * n <= MAX_JSON_WEIGHTS
    cap = from_json(json.dumps(_layer_json(["a"] * n, [_uniform_causal(n)])))
    assert len(cap.tgt_tokens) == n
