"""The figure changes the Real model page needs, checked by data: the lesson's head bars, the 30-layer entropy
heatmap's row height, slanted sub-word tick labels, and next-token bars over a 49 152-token vocabulary."""
from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from lab_fixtures import strings
from models.capture import AttentionCapture
from viz import figures as F


def validate(fig: go.Figure) -> None:
    go.Figure(fig.to_dict())      # plotly's full validation (the builders skip it for speed)


def _cap(n_layer: int, H: int, tokens) -> AttentionCapture:
    T = len(tokens)
    torch.manual_seed(0)
    att = torch.randn(n_layer, 1, H, T, T).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    pats = {f"blocks.{l}.attn.hook_pattern": att[l].softmax(-1) for l in range(n_layer)}
    return AttentionCapture(model_name="m", src_tokens=(), tgt_tokens=tuple(tokens), patterns=pats, logits=None)


def test_candidate_heads_bars_pick_the_strongest_heads():
    a = torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.0, 0.3]])        # (layers, H)
    b = torch.tensor([[0.0, 0.1, 0.0], [0.8, 0.0, 0.05]])
    before = (a.clone(), b.clone())
    fig = F.candidate_heads_bars({"<b>animal</b>": a, "street": b}, n=3, word_label="on “{word}”")
    validate(fig)
    assert list(fig.data[0].x) == ["L0 h1", "L1 h0", "L1 h2"]                  # max over both words: 0.9, 0.8, 0.3
    assert list(fig.data[0].y) == pytest.approx([0.9, 0.2, 0.3]) and list(fig.data[1].y) == pytest.approx([0.1, 0.8, 0.05])
    assert fig.data[0].name == "on “&lt;b&gt;animal&lt;/b&gt;”"
    assert not any("<b>animal" in s for s in strings(fig.to_dict()))          # the word is text, not markup
    assert torch.equal(a, before[0]) and torch.equal(b, before[1])


def test_entropy_heatmap_of_a_30_layer_model_fits_a_screen():
    cap = _cap(30, 9, ["The", "␣animal", "␣it"])
    fig = F.entropy_heatmap(cap, title="Entropy")
    validate(fig)
    assert (len(fig.data[0].z), len(fig.data[0].z[0])) == (30, 9)
    assert fig.layout.height == 110 + 24 * 30 and fig.layout.title.text == "Entropy"
    small = F.entropy_heatmap(_cap(2, 4, ["a", "b"]))
    assert small.layout.height == 110 + 42 * 2                                   # the tiny models keep their rows


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
