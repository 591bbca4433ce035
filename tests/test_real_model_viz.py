"""The figure changes the Real model page needs, checked by data: the lesson's head bars, the 30-layer entropy
heatmap's row height, slanted sub-word tick labels, and next-token bars over a 49 152-token vocabulary."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch
from lab_fixtures import strings

from models.capture import AttentionCapture
from viz import figures as F
from viz import head_lab_figures, style


def validate(fig: go.Figure) -> None:
    go.Figure(fig.to_dict())  # plotly's full validation (the builders skip it for speed)


def _cap(n_layer: int, H: int, tokens) -> AttentionCapture:
    T = len(tokens)
    torch.manual_seed(0)
    att = torch.randn(n_layer, 1, H, T, T).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    pats = {f"blocks.{l}.attn.hook_pattern": att[l].softmax(-1) for l in range(n_layer)}
    return AttentionCapture(model_name="m", src_tokens=(), tgt_tokens=tuple(tokens), patterns=pats, logits=None)


def test_candidate_heads_bars_pick_the_strongest_heads():
    a = torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.0, 0.3]])  # (layers, H)
    b = torch.tensor([[0.0, 0.1, 0.0], [0.8, 0.0, 0.05]])
    before = (a.clone(), b.clone())
    fig = head_lab_figures.candidate_heads_bars({"<b>animal</b>": a, "street": b}, n=3, word_label="on “{word}”")
    validate(fig)
    assert list(fig.data[0].x) == ["L0 h1", "L1 h0", "L1 h2"]  # max over both words: 0.9, 0.8, 0.3
    assert list(fig.data[0].y) == pytest.approx([0.9, 0.2, 0.3]) and list(fig.data[1].y) == pytest.approx(
        [0.1, 0.8, 0.05]
    )
    assert fig.data[0].name == "on “&lt;b&gt;animal&lt;/b&gt;”"
    assert not any("<b>animal" in s for s in strings(fig.to_dict()))  # the word is text, not markup
    assert torch.equal(a, before[0]) and torch.equal(b, before[1])


def test_entropy_heatmap_of_a_30_layer_model_fits_a_screen():
    cap = _cap(30, 9, ["The", "␣animal", "␣it"])
    fig = F.entropy_heatmap(cap, title="Entropy")
    validate(fig)
    assert (len(fig.data[0].z), len(fig.data[0].z[0])) == (30, 9)
    assert fig.layout.height == 110 + 24 * 30 and fig.layout.title.text == "Entropy"
    small = F.entropy_heatmap(_cap(2, 4, ["a", "b"]))
    assert small.layout.height == 110 + 42 * 2  # the tiny models keep their rows


def test_sub_word_tick_labels_slant_characters_stay_upright():
    words = F.attention_heatmap(_cap(1, 1, ["The", "␣animal", "␣didn", "'t"]), "blocks.0.attn.hook_pattern", 0)
    chars = F.attention_heatmap(_cap(1, 1, ["<BOS>", "c", "a", "p", "y"]), "blocks.0.attn.hook_pattern", 0)
    bos = F.attention_heatmap(_cap(1, 1, ["<BOS>"]), "blocks.0.attn.hook_pattern", 0)
    validate(words)
    assert words.layout.xaxis.tickangle == -50 and chars.layout.xaxis.tickangle == 0
    assert bos.layout.xaxis.tickangle == 0


class _BigVocab:
    def __init__(self, n):
        self.itos = [f"t{i}" for i in range(n)]
        self.stoi = {s: i for i, s in enumerate(self.itos)}


def test_next_token_bars_over_a_real_vocabulary():
    torch.manual_seed(0)
    probs = torch.randn(49_152).mul(3).softmax(-1)
    probs[123] = 0.0
    fig = F.next_token_bars(probs, _BigVocab(49_152), top_k=7, expected="t123")
    validate(fig)
    top = torch.argsort(probs, descending=True)[:7].tolist()
    labels = list(fig.layout.yaxis.ticktext)
    assert labels[1:] == [f"t{i}" for i in top][::-1] and labels[0] == "t123"  # the expected token, even at p = 0


# ---- the "it" experiment and its controls (viz.coreference, issue 20 item 1) -----------------------------------------
LECTURE = ("The", "␣animal", "␣didn", "'t", "␣cross", "␣the", "␣street", "␣because", "␣it", "␣was", "␣too", "␣tired")
SWAPPED = ("The", "␣street", "␣didn", "'t", "␣cross", "␣the", "␣animal", "␣because", "␣it", "␣was", "␣too", "␣tired")


def _rows(weights: dict, tokens=LECTURE, n_layer: int = 2, H: int = 2) -> AttentionCapture:
    """A causal capture whose rows are given as {(layer, head, query): {key: weight}}; what a row leaves over goes
    to position 0 (where real models park attention), so every row sums to 1."""
    T = len(tokens)
    p = torch.zeros(n_layer, H, T, T)
    p[..., 0] = 1.0
    for (l, h, q), row in weights.items():
        for k, wt in row.items():
            assert k <= q
            p[l, h, q, k] += wt
            p[l, h, q, 0] -= wt
    assert torch.allclose(p.sum(-1), torch.ones(n_layer, H, T)) and bool((p >= 0).all())
    return AttentionCapture(
        model_name="t",
        src_tokens=(),
        tgt_tokens=tuple(tokens),
        patterns={f"blocks.{l}.attn.hook_pattern": p[l][None].clone() for l in range(n_layer)},
        logits=None,
    )


# Layer 1 head 0 is an "earlier noun" head: it looks at "animal" (1) from "didn" "'t" "cross" (0.9) more than from
# "it" (0.6), and 0.6 is still the largest weight "it" puts on either word in any head.
EARLIER_NOUN = {
    **{(1, 0, q): {1: 0.9} for q in (2, 3, 4)},
    (1, 0, 8): {1: 0.6, 6: 0.1},
    **{(1, 0, q): {1: 0.2} for q in (5, 6, 7, 9, 10, 11)},
    (0, 1, 8): {6: 0.3, 1: 0.1},
    (0, 0, 8): {1: 0.05},
}


def test_it_experiment_claim_and_the_same_heads_other_rows():
    from viz import coreference as C

    cap = _rows(EARLIER_NOUN)
    before = {k: v.clone() for k, v in cap.patterns.items()}
    exp = C.it_experiment(cap, "it", ("animal", "street"))
    c = exp.control
    assert exp.answer == "animal" and (c.layer, c.head) == (1, 0) and exp.query == 8 and exp.later == ()
    assert c.rows == tuple(range(2, 12)) and c.weight == pytest.approx(0.6)
    assert c.others == pytest.approx((0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2))
    assert c.others_mean == pytest.approx((3 * 0.9 + 6 * 0.2) / 9) and c.n_at_least == 3
    assert c.top_other == 4 and not c.it_stands_out  # ties: the later row (max of pairs)
    assert c.heads_mean == pytest.approx((0.6 + 0.1 + 0.05 + 0.0) / 4) and c.n_heads == 4  # control 2: every head
    assert exp.prefix == "The animal didn't cross the street because it"
    assert all(torch.equal(before[k], cap.patterns[k]) for k in before)
    # A head where "it" does stand out: no other row reaches its weight.
    lone = C.it_experiment(_rows({(0, 0, 8): {1: 0.7}, (0, 0, 9): {1: 0.3}}), "it", ("animal", "street"))
    assert (
        lone.control.it_stands_out
        and lone.control.n_at_least == 0
        and lone.control.others_mean == pytest.approx(0.3 / 9)
    )
    assert C.it_experiment(cap, "it", ("dog", "street")) == ["dog"]


def test_row_difference_is_the_causal_check():
    from viz import coreference as C

    cap = _rows(EARLIER_NOUN)
    prefix = _rows({k: v for k, v in EARLIER_NOUN.items() if k[2] <= 8}, tokens=LECTURE[:9])
    assert C.row_difference(cap, prefix, 8) == 0.0  # later rows don't reach row 8
    moved = _rows({**EARLIER_NOUN, (1, 0, 8): {1: 0.35, 6: 0.1}}, tokens=LECTURE)
    assert C.row_difference(moved, prefix, 8) == pytest.approx(0.25)
    assert C.row_difference(cap, _rows({}, tokens=("A",) + LECTURE[1:9]), 8) is None  # other tokens: no check


def test_swap_is_a_change_before_it_and_reads_the_same_head():
    from viz import coreference as C

    text = "The Animal didn't cross the street because it was too tired; the animals"
    assert C.swap_words(text, "animal", "street") == (
        "The street didn't cross the animal because it was too tired; the animals"
    )  # whole words only
    cap = _rows(EARLIER_NOUN)
    exp = C.it_experiment(cap, "it", ("animal", "street"))
    follows = C.swap_experiment(cap, _rows({(1, 0, 8): {6: 0.5, 1: 0.1}}, tokens=SWAPPED), exp)
    assert follows.weights == pytest.approx({"animal": 0.5, "street": 0.1})
    assert follows.before == pytest.approx({"animal": 0.6, "street": 0.1})
    assert follows.picks == "animal" and follows.follows_word
    assert follows.text == "The street didn't cross the animal because it was too tired"
    place = C.swap_experiment(cap, _rows({(1, 0, 8): {1: 0.5, 6: 0.1}}, tokens=SWAPPED), exp)
    assert place.picks == "street" and not place.follows_word
    late = C.it_experiment(cap, "it", ("animal", "tired"))  # "tired" comes after "it"
    assert late.later == ("tired",) and C.swap_experiment(cap, cap, late) is None


def test_control_bars_are_the_candidates_column():
    from viz import coreference as C

    cap = _rows(EARLIER_NOUN, tokens=LECTURE[:-1] + ("␣<b>tired</b>",))
    c = C.it_experiment(cap, "it", ("animal", "street")).control
    fig = C.control_bars(cap, c, mean_label="mean {mean:.2f}")
    validate(fig)
    col = cap.patterns["blocks.1.attn.hook_pattern"][0, 0, 2:, 1]
    assert list(fig.data[0].y) == pytest.approx(col.tolist())  # the heatmap's "animal" column
    assert list(fig.layout.xaxis.ticktext)[6] == "␣it" and fig.data[0].marker.color[6] == style.ORANGE
    assert [x for i, x in enumerate(fig.data[0].marker.color) if i != 6] == [style.BLUE] * 9
    assert fig.layout.shapes[0].y0 == pytest.approx(c.others_mean)
    assert fig.layout.annotations[0].text == f"╌ mean {c.others_mean:.2f}"
    assert fig.layout.annotations[0].y > 1 + 0.15  # above every bar's own number
    assert not any("<b>tired" in s for s in strings(fig.to_dict()))  # tokens are text, not markup


def test_a_later_token_reads_the_changed_last_word():
    from viz import coreference as C

    assert C.change_last_word("…because it was too tired.", "wide") == "…because it was too wide."
    assert C.change_last_word("too tired", " Tired ") is None and C.change_last_word("?!", "wide") is None
    assert C.change_last_word("too tired", "") is None
    # Last row (11): with "tired" head (0, 0) favours "animal" and (1, 1) "street"; with "wide" both favour "street".
    tired = _rows({(0, 0, 11): {1: 0.5, 6: 0.1}, (1, 1, 11): {1: 0.1, 6: 0.3}})
    wide = _rows({(0, 0, 11): {1: 0.1, 6: 0.4}, (1, 1, 11): {1: 0.2, 6: 0.3}}, tokens=LECTURE[:-1] + ("␣wide",))
    r = C.later_read(tired, wide, ("animal", "street"))
    assert r.last == ("␣tired", "␣wide") and r.favour_first == (1, 0) and r.n_heads == 4
    assert r.means[0] == pytest.approx((0.6 / 4, 0.4 / 4)) and r.means[1] == pytest.approx((0.3 / 4, 0.7 / 4))
    assert C.later_read(tired, wide, ("animal", "tired")) is None  # a candidate at the end
    assert C.later_read(tired, wide, ("animal", "dog")) is None


def test_no_control_when_no_candidate_comes_before_the_word():
    from viz import coreference as C

    cap = _rows(EARLIER_NOUN)
    both_later = C.it_experiment(cap, "it", ("too", "tired"))  # weight exactly 0 from "it"
    assert both_later.control is None and set(both_later.later) == {"too", "tired"}
    assert C.swap_experiment(cap, cap, both_later) is None
    itself = C.it_experiment(cap, "it", ("it", "animal"))  # the word as its own candidate
    assert itself.answer == "animal" and itself.control.weight == pytest.approx(0.6)
    short = _rows({(0, 0, 3): {2: 0.9}}, tokens=("The", "␣street", "␣animal", "␣it"))
    c = C.it_experiment(short, "it", ("animal", "street")).control  # "it" is the only row after "animal"
    assert c.others == () and c.top_other is None and not c.it_stands_out and c.n_at_least == 0
    validate(C.control_bars(short, c))
