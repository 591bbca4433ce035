"""viz/ by hand-computed values: entropy metrics, next-token probabilities, and the figure builders read through their
public data only (``fig.data[i].z / .x / .y / .text``, ``fig.layout.*axis.ticktext``, shapes), so the tests hold
however the figures are built inside. Every figure must also survive plotly's full validation, which the app itself
may skip for speed."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from lab_fixtures import strings, tiny_bundle

from models.capture import AttentionCapture, capture
from models.vocab import DEFAULT_VOCAB
from viz import figures as F
from viz import style
from viz.metrics import attention_entropy, mean_entropy, next_token_probs, visible_keys

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)


# ---- hand-made patterns ------------------------------------------------------------------------------------------


def causal_uniform(Q: int) -> torch.Tensor:
    """(Q, Q): row i spreads evenly over keys 0..i, zeros beyond the causal limit."""
    return torch.ones(Q, Q).tril() / torch.arange(1, Q + 1).unsqueeze(1)


def one_hot_bos(Q: int, K: int | None = None) -> torch.Tensor:
    p = torch.zeros(Q, K or Q)
    p[:, 0] = 1.0
    return p


# Head 2 of the hand capture: one row per case, each with a hand-computed normalised entropy.
MIXED = torch.tensor(
    [
        [1.0, 0.0, 0.0, 0.0],  # 1 visible key: 0 by definition
        [0.5, 0.5, 0.0, 0.0],  # uniform over its 2 keys: 1
        [1.0, 0.0, 0.0, 0.0],  # one-hot over 3 keys: 0
        [0.5, 0.5, 0.0, 0.0],
    ]
)  # two of 4 visible keys: ln 2 / ln 4 = 0.5
MIXED_ENTROPY = [0.0, 1.0, 0.0, 0.5]  # mean over rows 1..3 (row 0 is left out): 0.5

TOKENS = ("<BOS>", "<script>", "a", "b")
ESCAPED = ["&lt;BOS&gt;", "&lt;script&gt;", "a", "b"]


def hand_capture(causal: bool = True) -> AttentionCapture:
    """A 2-layer, 3-head causal LM capture over 4 tokens (one of them an html tag); layer 1 permutes layer 0's heads.
    Mean entropies: layer 0 = [1, 0, 0.5] (uniform, one-hot, MIXED), layer 1 = [0, 0.5, 1]."""
    u, o = causal_uniform(4), one_hot_bos(4)
    l0 = torch.stack([u, o, MIXED]).unsqueeze(0)  # (1, H, Q, K)
    l1 = torch.stack([o, MIXED, u]).unsqueeze(0)
    return AttentionCapture(
        model_name="hand",
        src_tokens=(),
        tgt_tokens=TOKENS,
        logits=None,
        causal=causal,
        patterns={"blocks.0.attn.hook_pattern": l0, "blocks.1.attn.hook_pattern": l1},
    )


def uniform_capture() -> AttentionCapture:
    """Non-causal (bidirectional) capture: every query spreads evenly over all 4 keys."""
    p = torch.full((1, 2, 4, 4), 0.25)
    return AttentionCapture(
        model_name="bidir",
        src_tokens=(),
        tgt_tokens=TOKENS,
        logits=None,
        causal=False,
        patterns={"blocks.0.attn.hook_pattern": p},
    )


def snapshot(cap: AttentionCapture) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in cap.patterns.items()}


def assert_unchanged(cap: AttentionCapture, before: dict[str, torch.Tensor]) -> None:
    assert set(cap.patterns) == set(before)
    for k, v in before.items():
        assert torch.equal(cap.patterns[k], v), f"{k} was modified"


# ---- reading figures by their data ---------------------------------------------------------------------------------


def arr(v) -> np.ndarray:
    """A trace's z / x / y as a float array (None -> NaN), whatever container the builder used."""
    return np.vectorize(lambda c: np.nan if c is None else float(c), otypes=[float])(np.array(v, dtype=object))


def heatmaps(fig: go.Figure) -> list:
    return [t for t in fig.data if t.type == "heatmap"]


def ticks(axis) -> dict:
    """{tick value: tick text} of one axis."""
    assert axis.tickvals is not None and axis.ticktext is not None
    return dict(zip([float(v) for v in axis.tickvals], list(axis.ticktext)))


def validate(fig: go.Figure) -> None:
    """plotly's full validation of every property: raises on anything the app's unvalidated builders got wrong."""
    assert isinstance(fig, go.Figure)
    go.Figure(fig.to_dict())


def split_heatmap(fig: go.Figure, Q: int, K: int):
    """(weight trace, grey mask traces). The weight trace is the one with finite values at some cells and a
    colour scale over [0, 1]; any other heatmap is a mask layer."""
    hm = heatmaps(fig)
    assert hm, "no heatmap trace"
    for t in hm:
        assert arr(t.z).shape == (Q, K)
        if t.x is not None:
            assert list(arr(t.x)) == list(range(K))
        if t.y is not None:
            assert list(arr(t.y)) == list(range(Q))
    weight = [t for t in hm if t.zmin == 0 and t.zmax == 1]
    assert len(weight) == 1, "expected exactly one weight heatmap with zmin=0, zmax=1"
    return weight[0], [t for t in hm if t is not weight[0]]


# ---- metrics ---------------------------------------------------------------------------------------------------


def test_visible_keys():
    assert visible_keys(4, 4, True).tolist() == [1, 2, 3, 4]
    assert visible_keys(5, 3, True).tolist() == [1, 2, 3, 3, 3]  # more queries than keys: capped at K
    assert visible_keys(3, 4, False).tolist() == [4, 4, 4]


@pytest.mark.parametrize("Q", [2, 3, 5, 8])
def test_entropy_causal_uniform_is_one_and_first_row_zero(Q):
    p = causal_uniform(Q)[None, None]  # (1, 1, Q, Q)
    before = p.clone()
    ent = attention_entropy(p, causal=True)
    assert ent.shape == (1, Q)
    assert ent[0, 0].item() == 0.0  # one visible key: nothing to choose
    assert ent[0, 1:].tolist() == pytest.approx([1.0] * (Q - 1), abs=1e-6)  # uniform over 2, 3, .. keys
    assert torch.equal(p, before)


@pytest.mark.parametrize("Q,K", [(1, 2), (3, 3), (4, 7)])
def test_entropy_noncausal_uniform_over_all_keys_is_one(Q, K):
    p = torch.full((1, 2, Q, K), 1.0 / K)
    before = p.clone()
    ent = attention_entropy(p, causal=False)
    assert ent.shape == (2, Q)
    assert ent.flatten().tolist() == pytest.approx([1.0] * (2 * Q), abs=1e-6)
    assert torch.equal(p, before)


@pytest.mark.parametrize("causal", [True, False])
def test_entropy_one_hot_is_zero(causal):
    p = torch.zeros(1, 3, 5, 5)
    for h in range(3):  # each head on a different (visible) key
        p[0, h, torch.arange(5), torch.arange(5).clamp(max=h)] = 1.0
    ent = attention_entropy(p, causal)
    assert torch.all(ent == 0)


def test_entropy_masked_keys_are_not_in_the_normaliser():
    p = MIXED[None, None].clone()
    before = p.clone()
    assert attention_entropy(p, causal=True)[0].tolist() == pytest.approx(MIXED_ENTROPY, abs=1e-6)
    # The same numbers read as bidirectional: every row is normalised by log(4) instead.
    assert attention_entropy(p, causal=False)[0].tolist() == pytest.approx([0, LN2 / LN4, 0, LN2 / LN4], abs=1e-6)
    # Uniform over the 3 visible keys of row 2: 1 when causal, ln 3 / ln 4 when all 4 keys count.
    q = torch.tensor([[[[1 / 3, 1 / 3, 1 / 3, 0.0]] * 4]])
    assert attention_entropy(q, causal=True)[0, 2].item() == pytest.approx(1.0, abs=1e-6)
    assert attention_entropy(q, causal=False)[0, 2].item() == pytest.approx(LN3 / LN4, abs=1e-6)
    assert torch.equal(p, before)


def test_entropy_stays_in_unit_interval_for_random_patterns():
    torch.manual_seed(0)
    p = torch.randn(1, 4, 6, 6).masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
    before = p.clone()
    ent = attention_entropy(p, causal=True)
    assert ent.dtype == torch.float32 and ent.shape == (4, 6)
    assert torch.all((ent >= 0) & (ent <= 1))
    assert torch.equal(p, before)


def test_mean_entropy_by_hand():
    cap = hand_capture()
    before = snapshot(cap)
    m = mean_entropy(cap, "blocks")
    assert m.shape == (2, 3)
    assert m.tolist() == [pytest.approx([1.0, 0.0, 0.5], abs=1e-6), pytest.approx([0.0, 0.5, 1.0], abs=1e-6)]
    assert mean_entropy(uniform_capture(), "blocks").tolist() == [pytest.approx([1.0, 1.0], abs=1e-6)]
    assert_unchanged(cap, before)


def test_mean_entropy_single_token_is_zero_not_nan():
    cap = AttentionCapture(
        model_name="one",
        src_tokens=(),
        tgt_tokens=("<BOS>",),
        logits=None,
        patterns={"blocks.0.attn.hook_pattern": torch.ones(1, 2, 1, 1)},
    )
    assert mean_entropy(cap, "blocks").tolist() == [[0.0, 0.0]]


LOGITS = torch.tensor([2.0, 1.0, 0.0, -1.0])


def test_next_token_probs_plain_softmax():
    before = LOGITS.clone()
    p = next_token_probs(LOGITS)
    e = [math.exp(v) for v in (2, 1, 0, -1)]
    assert p.tolist() == pytest.approx([v / sum(e) for v in e], abs=1e-6)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(LOGITS, before)


def test_next_token_probs_temperature_sharpens_and_flattens():
    before = LOGITS.clone()
    p1, cold, hot = next_token_probs(LOGITS, 1.0), next_token_probs(LOGITS, 0.5), next_token_probs(LOGITS, 2.0)
    assert cold.tolist() == pytest.approx(torch.softmax(LOGITS * 2, -1).tolist(), abs=1e-6)  # logits / 0.5
    assert hot.tolist() == pytest.approx(torch.softmax(LOGITS / 2, -1).tolist(), abs=1e-6)
    assert cold[0] > p1[0] > hot[0]  # the favourite gains when cold
    assert cold[-1] < p1[-1] < hot[-1]  # the outsider gains when hot
    assert next_token_probs(LOGITS, 100.0).tolist() == pytest.approx([0.25] * 4, abs=0.01)  # ~uniform
    for p in (cold, hot):
        assert p.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(LOGITS, before)


def test_next_token_probs_top_k_zeroes_the_rest_and_renormalises():
    before = LOGITS.clone()
    p = next_token_probs(LOGITS, top_k=2)
    e = math.e
    assert p.tolist() == pytest.approx([e / (e + 1), 1 / (e + 1), 0.0, 0.0], abs=1e-6)  # e^2, e^1 renormalised
    assert p.sum().item() == pytest.approx(1.0, abs=1e-6)
    one = next_token_probs(LOGITS, top_k=1)
    assert one.tolist() == [1.0, 0.0, 0.0, 0.0]
    both = next_token_probs(LOGITS, 0.5, top_k=3)  # temperature and top-k together
    assert both[3] == 0 and both[:3].tolist() == pytest.approx(torch.softmax(LOGITS[:3] * 2, -1).tolist(), abs=1e-6)
    for k in (None, 0, 4, 10):  # no-op values of top_k
        assert next_token_probs(LOGITS, top_k=k).tolist() == pytest.approx(next_token_probs(LOGITS).tolist())
    assert torch.equal(LOGITS, before)


@pytest.mark.parametrize("t", [0.0, -1.0])
def test_next_token_probs_rejects_non_positive_temperature(t):
    with pytest.raises(ValueError):
        next_token_probs(LOGITS, t)


# ---- figures -----------------------------------------------------------------------------------------------------


def test_attention_heatmap_causal_values_mask_and_escaped_ticks():
    cap = hand_capture()
    before = snapshot(cap)
    name = "blocks.0.attn.hook_pattern"
    for head in range(3):
        fig = F.attention_heatmap(cap, name, head)
        validate(fig)
        weight, masks = split_heatmap(fig, 4, 4)
        z = arr(weight.z)
        p = cap.patterns[name][0, head].numpy()
        visible = np.tril(np.ones((4, 4), dtype=bool))
        np.testing.assert_allclose(z[visible], p[visible], atol=1e-7)  # exact weights where the query can look
        assert np.isnan(z[~visible]).all()  # masked cells carry no weight value
        assert len(masks) == 1, "one grey trace for the masked cells"
        mz = arr(masks[0].z)
        assert np.array_equal(~np.isnan(mz), ~visible)  # covers exactly the upper triangle
        colours = {c[1] if isinstance(c, (list, tuple)) else c for c in masks[0].colorscale}
        assert colours == {style.GREY}, colours
        assert masks[0].showscale is False
        assert list(fig.layout.yaxis.ticktext) == ESCAPED and list(fig.layout.xaxis.ticktext) == ESCAPED
        assert [float(v) for v in fig.layout.yaxis.tickvals] == [0, 1, 2, 3]
        assert fig.layout.yaxis.autorange == "reversed"  # query 0 on top, like a matrix
        assert not fig.layout.shapes  # no query asked for, no outline
        for s in strings(fig.to_dict()):
            assert "<script" not in s, s  # every token escaped, hover text too
    assert_unchanged(cap, before)


@pytest.mark.parametrize("query", [0, 2, 3])
def test_attention_heatmap_query_outline_on_the_requested_row(query):
    cap = hand_capture()
    fig = F.attention_heatmap(cap, "blocks.1.attn.hook_pattern", 1, query=query)
    validate(fig)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 1
    r = rects[0]
    assert (r.y0, r.y1) == pytest.approx((query - 0.5, query + 0.5))
    assert sorted((r.x0, r.x1)) == pytest.approx([-0.5, 3.5])  # the whole row
    for q in (-1, 4, None):  # out of range: no outline, no error
        assert not F.attention_heatmap(cap, "blocks.1.attn.hook_pattern", 1, query=q).layout.shapes


def test_attention_heatmap_bidirectional_has_no_masked_cells():
    cap = uniform_capture()
    fig = F.attention_heatmap(cap, "blocks.0.attn.hook_pattern", 1)
    validate(fig)
    weight, masks = split_heatmap(fig, 4, 4)
    np.testing.assert_allclose(arr(weight.z), np.full((4, 4), 0.25))
    for m in masks:  # a grey layer, if any, paints nothing
        assert np.isnan(arr(m.z)).all()


def test_entropy_heatmap_is_mean_entropy_per_layer_and_head():
    cap = hand_capture()
    before = snapshot(cap)
    fig = F.entropy_heatmap(cap)
    validate(fig)
    (hm,) = heatmaps(fig)
    np.testing.assert_allclose(arr(hm.z), [[1.0, 0.0, 0.5], [0.0, 0.5, 1.0]], atol=1e-6)
    assert list(fig.layout.yaxis.ticktext) == ["self L0", "self L1"]
    assert list(fig.layout.xaxis.ticktext) == ["head 0", "head 1", "head 2"]
    assert [list(r) for r in hm.text] == [["1.00", "0.00", "0.50"], ["0.00", "0.50", "1.00"]]
    assert_unchanged(cap, before)


@pytest.mark.parametrize("model", ["miniformer", "full", "full-peeking"])
def test_figures_from_a_tiny_model_match_the_metrics(model):
    cap = capture(tiny_bundle(model), "Ab<c>")  # uppercase and html characters on the way in
    before = snapshot(cap)
    fig = F.entropy_heatmap(cap)
    validate(fig)
    (hm,) = heatmaps(fig)
    want = torch.cat([mean_entropy(cap, k) for k in cap.families()])
    np.testing.assert_allclose(arr(hm.z), want.numpy(), atol=1e-6)
    labels = [f"{style.FAMILY_LABEL[k]} L{l}" for k in cap.families() for l in range(len(cap.names(k)))]
    assert list(fig.layout.yaxis.ticktext) == labels
    for name in cap.names():
        Q, K = cap.patterns[name].shape[-2:]
        for head in range(cap.patterns[name].shape[1]):
            heat = F.attention_heatmap(cap, name, head, query=Q - 1)
            validate(heat)
            weight, masks = split_heatmap(heat, Q, K)
            p = cap.patterns[name][0, head].numpy()
            hidden = ~np.tril(np.ones((Q, K), dtype=bool)) if cap.is_masked_causal(name) else np.zeros((Q, K), bool)
            z = arr(weight.z)
            np.testing.assert_allclose(z[~hidden], p[~hidden], atol=1e-7)
            assert np.isnan(z[hidden]).all()
            painted = np.zeros((Q, K), bool)
            for m in masks:
                painted |= ~np.isnan(arr(m.z))
            assert np.array_equal(painted, hidden), name
            q_tok, k_tok = cap.axes(name)
            assert list(heat.layout.yaxis.ticktext) == [style.label(t) for t in q_tok]
            assert list(heat.layout.xaxis.ticktext) == [style.label(t) for t in k_tok]
            assert "&lt;UNK&gt;" in list(heat.layout.xaxis.ticktext)
            bars = F.query_entropy(cap, name, head, query=1)
            validate(bars)
            np.testing.assert_allclose(
                arr(bars.data[0].y), attention_entropy(cap.patterns[name], cap.is_masked_causal(name))[head], atol=1e-6
            )
    assert_unchanged(cap, before)


def test_query_entropy_bars_by_hand():
    cap = hand_capture()
    before = snapshot(cap)
    fig = F.query_entropy(cap, "blocks.0.attn.hook_pattern", 2, query=3)
    validate(fig)
    (bar,) = [t for t in fig.data if t.type == "bar"]
    assert list(arr(bar.x)) == [0, 1, 2, 3]
    np.testing.assert_allclose(arr(bar.y), MIXED_ENTROPY, atol=1e-6)
    np.testing.assert_allclose(
        arr(bar.y), attention_entropy(cap.patterns["blocks.0.attn.hook_pattern"], True)[2], atol=1e-6
    )
    assert list(fig.layout.xaxis.ticktext) == ESCAPED
    colours = list(bar.marker.color)
    assert colours[3] == style.ORANGE and set(colours[:3]) == {style.BLUE}  # the highlighted query
    uni = F.query_entropy(uniform_capture(), "blocks.0.attn.hook_pattern", 0)
    validate(uni)
    np.testing.assert_allclose(arr(uni.data[0].y), [1, 1, 1, 1], atol=1e-6)
    assert_unchanged(cap, before)


def bar_rows(fig: go.Figure) -> list[tuple[str, float, str]]:
    """(label, probability, colour) of each bar of a horizontal bar chart, top of the chart first."""
    (bar,) = [t for t in fig.data if t.type == "bar"]
    assert bar.orientation == "h"
    assert fig.layout.yaxis.autorange != "reversed"  # so a larger y is higher on the chart
    names = ticks(fig.layout.yaxis)
    colours = bar.marker.color
    colours = list(colours) if isinstance(colours, (list, tuple, np.ndarray)) else [colours] * len(bar.y)
    rows = [(names[float(y)], float(x), c) for y, x, c in zip(bar.y, bar.x, colours)]
    order = np.argsort([-float(y) for y in bar.y], kind="stable")
    return [rows[i] for i in order]


def vocab_probs(**by_token) -> torch.Tensor:
    p = torch.zeros(len(DEFAULT_VOCAB))
    for tok, v in by_token.items():
        p[DEFAULT_VOCAB.stoi[{"EOS": "<EOS>", "UNK": "<UNK>"}.get(tok, tok)]] = v
    return p


def test_next_token_bars_top_k_in_order_largest_on_top():
    probs = vocab_probs(a=0.4, b=0.3, EOS=0.15, UNK=0.08, c=0.05, z=0.02)
    before = probs.clone()
    fig = F.next_token_bars(probs, DEFAULT_VOCAB, top_k=4)
    validate(fig)
    rows = bar_rows(fig)
    assert [r[0] for r in rows] == ["a", "b", "end of word", "&lt;UNK&gt;"]
    assert [r[1] for r in rows] == pytest.approx([0.4, 0.3, 0.15, 0.08])
    assert {r[2] for r in rows} == {style.BLUE}  # nothing expected, nothing orange
    (bar,) = fig.data
    assert float(bar.x[-1]) == pytest.approx(0.4)  # plotly draws bottom-up: largest last
    assert list(bar.text)[-1] == "40.0%"
    assert torch.equal(probs, before)


def test_next_token_bars_skip_zero_probabilities():
    probs = vocab_probs(a=0.7, b=0.3)  # e.g. after top-k zeroed the rest
    fig = F.next_token_bars(probs, DEFAULT_VOCAB, top_k=10)
    validate(fig)
    assert [r[0] for r in bar_rows(fig)] == ["a", "b"]


def test_next_token_bars_expected_highlighted_even_outside_top_k():
    probs = vocab_probs(a=0.4, b=0.3, EOS=0.15, UNK=0.08, c=0.05, z=0.02)
    before = probs.clone()
    fig = F.next_token_bars(probs, DEFAULT_VOCAB, top_k=2, expected="z")
    validate(fig)
    rows = bar_rows(fig)
    assert [r[0] for r in rows] == ["a", "b", "z"]  # the expected one shown below the top-k
    assert [r[1] for r in rows] == pytest.approx([0.4, 0.3, 0.02])
    assert [r[2] for r in rows] == [style.BLUE, style.BLUE, style.ORANGE]
    inside = bar_rows(F.next_token_bars(probs, DEFAULT_VOCAB, top_k=3, expected="b"))
    assert [(r[0], r[2]) for r in inside] == [("a", style.BLUE), ("b", style.ORANGE), ("end of word", style.BLUE)]
    eos = F.next_token_bars(probs, DEFAULT_VOCAB, top_k=1, expected="<EOS>")
    validate(eos)
    assert [(r[0], r[2]) for r in bar_rows(eos)] == [("a", style.BLUE), ("end of word", style.ORANGE)]
    assert torch.equal(probs, before)


def test_every_figure_builder_passes_full_plotly_validation():
    """The ones not checked value by value above: built from a real (tiny) capture and validated."""
    b = tiny_bundle("full-peeking")
    cap = capture(b, "<img>")
    before = snapshot(cap)
    name = cap.names("cross")[0]
    probs = next_token_probs(cap.next_token_logits())
    heat = F.attention_heatmap(cap, name, 0)
    figs = [
        F.head_grid(cap, name),
        F.head_grid(capture(tiny_bundle("miniformer"), "ab"), "blocks.0.attn.hook_pattern"),
        F.last_row_heatmap(cap),
        F.with_next_key_outline(heat, len(cap.tgt_tokens), len(cap.src_tokens)),
        F.next_key_weights({"<b>peek</b>": torch.tensor([0.5, 0.25])}, "weights"),
        F.next_key_layer_bars({"peek": {name: torch.tensor([0.5, 0.1, 0.0, 0.2])}}, chance=0.2),
        F.nll_bars([{"model": "m", "teacher_forced": 0.2, "prefix": 2.5}], uniform=3.3),
        F.counterfactual_bars(probs, probs.flip(0), b.vocab),
        F.generation_strip(["a", "<EOS>"], [0.5, 0.9], current=1),
        F.training_curves([{"epoch": 1, "train_loss": 3.0, "val_tf_nll": 2.9, "val_prefix_nll": 3.1, "best_epoch": 1}]),
        F.entropy_heatmap(capture(tiny_bundle("miniformer"), "")),  # only <BOS>
        F.attention_heatmap(capture(tiny_bundle("miniformer"), ""), "blocks.0.attn.hook_pattern", 0, query=0),
    ]
    for fig in figs:
        validate(fig)
        for s in strings(fig.to_dict()):
            assert "<img" not in s and "<script" not in s, s
    assert_unchanged(cap, before)


def test_training_curves_draw_one_validation_line_when_both_agree():
    """A causal model's teacher-forced and prefix-only NLL are equal (up to float sums): one honest line, no legend
    entry for a line hidden under another. When they differ (the peeking model) both are drawn, each with its own
    values."""
    causal = [
        {
            "epoch": e,
            "train_loss": 3.0 - e / 10,
            "val_tf_nll": 2.9 - e / 20,
            "val_prefix_nll": 2.9 - e / 20 + 1e-7,
            "best_epoch": e,
        }
        for e in (1, 2, 3)
    ]
    names = [t.name for t in F.training_curves(causal).data]
    assert len(names) == 2 and names[0] == "train loss" and "same for a causal model" in names[1]
    peeking = [dict(h, val_tf_nll=0.5 / h["epoch"], val_prefix_nll=6 + h["epoch"]) for h in causal]
    fig = F.training_curves(peeking)
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name["validation NLL (teacher-forced)"] == [0.5, 0.25, 0.5 / 3]
    assert by_name["validation NLL (prefix-only, honest)"] == [7, 8, 9]


@pytest.mark.parametrize("model_name", ["miniformer", "full"])
def test_end_of_word_prob_is_p_eos_at_the_last_character(model_name):
    """Issue 12 item 7: with *Finished word* on, the page shows p(<EOS>) the model gave at the last character. For a
    causal model that is exactly the end-of-word bar of the unfinished word."""
    from viz.metrics import end_of_word_prob, next_token_probs

    b = tiny_bundle(model_name, seed=3)
    done = capture(b, "zebra", add_eos=True)
    plain = capture(b, "zebra")
    want = float(next_token_probs(plain.next_token_logits())[DEFAULT_VOCAB.stoi["<EOS>"]])
    assert end_of_word_prob(done) == pytest.approx(want, abs=1e-6)
    assert end_of_word_prob(capture(b, "", add_eos=True)) == pytest.approx(
        float(next_token_probs(capture(b, "").next_token_logits())[DEFAULT_VOCAB.stoi["<EOS>"]]), abs=1e-6
    )
    with pytest.raises(ValueError, match="finished word"):
        end_of_word_prob(plain)


def test_a_failed_runs_curves_do_not_claim_an_epoch_was_kept():
    """A run that failed saved nothing: its learning curves mark the best epoch as not saved, not as "kept"."""
    history = [
        {"epoch": e, "train_loss": 3.0 - e / 10, "val_tf_nll": 2.9, "val_prefix_nll": 3.1 - e / 20, "best_epoch": e}
        for e in (1, 2, 3)
    ]
    marks = lambda fig: [a["text"] for a in fig.to_dict()["layout"].get("annotations", [])]  # noqa: E731
    assert marks(F.training_curves(history)) == ["kept epoch 3"]
    assert marks(F.training_curves(history, saved=False)) == ["best epoch 3 (not saved)"]
