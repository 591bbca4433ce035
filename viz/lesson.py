"""Figures and answers for the Lesson page: pure (no streamlit, no languages). Like every builder in viz/, each one
takes ``tr`` (the page passes ``ui.i18n._``) and translates its own words, marked with ``N_()``; every font size
comes from one ``font_size`` argument and the layout from :func:`viz.style.house_layout`, every width from the
column (plotly autosize: no fixed pixel widths). Colour scales are colour-blind safe: cividis for sequential values,
the blue/orange pair (distinguishable under deuteranopia) for categories.

The quiz answers are computed here from captures and model outputs, never typed in.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
import torch

from models.attention_steps import AttentionSteps
from models.capture import AttentionCapture
from viz.labels import N_, Translate, identity
from viz.metrics import mean_entropy
from viz.style import house_layout

BLUE, ORANGE, GREY, INK = "#1f6fb4", "#c45a00", "#c9ced6", "#1a1a1a"
# plotly's cividis, spelled out (unvalidated figures send a named scale as is)
CIVIDIS = [
    [0.0, "#00224e"],
    [0.125, "#123570"],
    [0.25, "#3b496c"],
    [0.375, "#575d6d"],
    [0.5, "#707173"],
    [0.625, "#8a8678"],
    [0.75, "#a59c74"],
    [0.875, "#c3b369"],
    [1.0, "#fee838"],
]
# blue - white - orange: signed values, readable under deuteranopia (PuOr-like)
SIGNED = [[0.0, "#2b5c8a"], [0.25, "#8fb3d9"], [0.5, "#f7f7f7"], [0.75, "#f3b27a"], [1.0, "#b35806"]]


def esc(tok: str) -> str:
    """Tick / cell text: html-escaped, so a token such as '<BOS>' or typed markup shows as text."""
    return html.escape(tok, quote=False)


def _finish(fig: go.Figure, title: str, height: int, font_size: int, **kw) -> go.Figure:
    """The house layout at the Lesson's size, in the Lesson's ink."""
    return house_layout(fig, title, height, font_size=font_size, ink=INK, **kw)


def _axis(font_size: int, **kw) -> dict:
    return dict(tickfont=dict(size=font_size, color=INK), title=dict(font=dict(size=font_size, color=INK)), **kw)


def _num(x: float) -> str:
    return f"{x:+.3f}"


# ---- Attention, step by step -------------------------------------------------------------------------------------
# The words of the step-by-step numbers and of the positions step, by part, as catalog ids. These builders draw
# them, and the browser's drawing of the same views (ui/live/steps.js) gets them from here, translated by
# :func:`words`, so both paths say the same words.
STEPS_WORDS = {
    "table": {  # its title goes above the table (the page draws it)
        "title": N_("1–3: score q·k, scaled by √d_k, mask"),
        "key": N_("key"),
        "score": N_("q·k"),
        "scaled": N_("÷ √d_k"),
        "mask": N_("mask"),
        "weight": N_("softmax weight"),
        "hidden": N_("hidden"),
        "visible": N_("visible"),
    },
    "bars": {
        "title": N_("4: softmax → the attention row (sums to 1)"),
        "key": N_("key (looked at)"),
        "weight": N_("weight"),
        "hidden": N_("hidden"),
    },
    "mix": {
        "title": N_("5: weighted sum of the value vectors → the head's output"),
        "row": N_("value of {key} × {weight}"),
        "output": N_("= output"),
        "dim": N_("dimension"),
    },
}
POSITIONS_WORDS = {
    "pe_title": N_("Positional encoding, {t} positions"),
    "position": N_("position"),
    "dim": N_("dimension"),
    "value": N_("value"),
    "variants_title": N_("Next character after “{word}”"),
    "probability": N_("probability"),
    "end": N_("end of word"),
}


def words(ids: dict, tr: Translate = identity) -> dict:
    """``ids`` (a table above, or one of its parts) with every catalog id translated by ``tr``."""
    return {k: words(v, tr) if isinstance(v, dict) else tr(v) for k, v in ids.items()}


def steps_rows(s: AttentionSteps, tr: Translate = identity) -> list[dict]:
    """One row per key, for a table: the key, q·k, ÷√d_k, the mask, the softmax weight (numbers as text, so the
    table shows them exactly as rounded here); the column names and the mask's words through ``tr``."""
    vis = s.visible.tolist()
    w = words(STEPS_WORDS["table"], tr)
    key, score, scaled, mask, weight = w["key"], w["score"], w["scaled"], w["mask"], w["weight"]
    visible, hidden = w["visible"], w["hidden"]
    return [
        {
            key: f"{i}: {t}",
            score: _num(sc),
            scaled: _num(x),
            mask: visible if ok else hidden,
            weight: f"{w:.4f}" if ok else "0",
        }
        for i, (t, sc, x, ok, w) in enumerate(
            zip(s.key_tokens, s.scores.tolist(), s.scaled.tolist(), vis, s.weights.tolist())
        )
    ]


def steps_weights_bars(s: AttentionSteps, *, tr: Translate = identity, font_size: int = 15) -> go.Figure:
    """The attention row as bars, one per key; hidden keys drawn as an empty grey outline."""
    keys = [f"{i}: {esc(t)}" for i, t in enumerate(s.key_tokens)]
    vis = s.visible.tolist()
    w = s.weights.tolist()
    say = words(STEPS_WORDS["bars"], tr)
    fig = go.Figure(
        go.Bar(
            x=list(range(len(keys))),
            y=w,
            marker=dict(color=[BLUE if ok else GREY for ok in vis]),
            text=[f"{v:.2f}" if ok else say["hidden"] for v, ok in zip(w, vis)],
            textposition="outside",
            cliponaxis=False,
            textfont=dict(size=font_size, color=INK),
            hovertemplate="%{x}: %{y:.4f}<extra></extra>",
        )
    )
    return _finish(
        fig,
        say["title"],
        120 + font_size * 14,
        font_size,
        showlegend=False,
        xaxis=_axis(font_size, tickvals=list(range(len(keys))), ticktext=keys, title_text=say["key"]),
        yaxis=_axis(font_size, range=[0, 1.15], title_text=say["weight"]),
    )


def value_mix(s: AttentionSteps, *, tr: Translate = identity, font_size: int = 15) -> go.Figure:
    """The value vectors (one row per visible key, labelled with its weight) and, at the bottom, their weighted sum:
    the head's output."""
    vis = [i for i, ok in enumerate(s.visible.tolist()) if ok]
    rows = [s.v[i].tolist() for i in vis] + [s.output.tolist()]
    say = words(STEPS_WORDS["mix"], tr)
    row, dim = say["row"], say["dim"]
    names = [row.format(key=f"{i}: {esc(s.key_tokens[i])}", weight=f"{float(s.weights[i]):.2f}") for i in vis] + [
        say["output"]
    ]
    lim = max(1e-6, max(abs(x) for r in rows for x in r))
    fig = go.Figure(
        go.Heatmap(
            z=rows,
            zmin=-lim,
            zmax=lim,
            colorscale=SIGNED,
            xgap=1,
            ygap=1,
            colorbar=dict(thickness=12, tickfont=dict(size=font_size, color=INK)),
            hovertemplate="%{y}<br>" + esc(dim) + " %{x}: %{z:.3f}<extra></extra>",
        )
    )
    n = len(rows)
    return _finish(
        fig,
        say["title"],
        font_size * 3 + 60 + int(font_size * 1.8) * (n + 1),
        font_size,
        xaxis=_axis(font_size, title_text=dim, showgrid=False, zeroline=False),
        yaxis=_axis(
            font_size, tickvals=list(range(n)), ticktext=names, autorange="reversed", showgrid=False, zeroline=False
        ),
        shapes=[
            dict(type="rect", xref="x domain", x0=0, x1=1, y0=n - 1.5, y1=n - 0.5, line=dict(color=ORANGE, width=3))
        ],
    )


# ---- positional encoding -----------------------------------------------------------------------------------------
def pe_table(pe: torch.Tensor, *, tr: Translate = identity, font_size: int = 15) -> go.Figure:
    """The sinusoidal table (T, C) as a picture: one row per position, one column per dimension, values in
    [-1, 1]."""
    T = pe.shape[0]
    say = words(POSITIONS_WORDS, tr)
    position, dim = say["position"], say["dim"]
    fig = go.Figure(
        go.Heatmap(
            z=pe.tolist(),
            zmin=-1,
            zmax=1,
            colorscale=CIVIDIS,
            colorbar=dict(
                thickness=12,
                tickfont=dict(size=font_size, color=INK),
                title=dict(text=esc(say["value"]), side="right", font=dict(size=font_size, color=INK)),
            ),
            hovertemplate=esc(position) + " %{y}, " + esc(dim) + " %{x}: %{z:.3f}<extra></extra>",
        )
    )
    return _finish(
        fig,
        say["pe_title"].format(t=T),
        120 + int(font_size * 1.3) * T,
        font_size,
        xaxis=_axis(font_size, title_text=dim),
        yaxis=_axis(font_size, title_text=position, autorange="reversed", dtick=1),
    )


def two_lines(label: str) -> str:
    """A short label broken in two near its middle, for a narrow tick: at the space nearest the middle, or, in a
    language written without spaces (Japanese), at the middle character; plotly's <br> between them."""
    if len(label) < 5:
        return label
    mid = len(label) / 2
    spaces = [i for i, c in enumerate(label) if c == " "]
    if spaces:
        i = min(spaces, key=lambda j: abs(j - mid))
        return label[:i] + "<br>" + label[i + 1 :]
    i = (len(label) + 1) // 2
    return label[:i] + "<br>" + label[i:]


def next_char_variants(
    probs: dict[str, torch.Tensor],
    vocab,
    *,
    word: str,
    tr: Translate = identity,
    top_k: int = 5,
    font_size: int = 15,
) -> go.Figure:
    """Grouped bars: several next-character distributions of ``word`` (legend = ``probs``' keys, the caller's names
    for them) over the union of each one's top-k characters."""
    ids = list(dict.fromkeys(i for p in probs.values() for i in torch.argsort(p, descending=True)[:top_k].tolist()))
    first = next(iter(probs.values()))
    ids.sort(key=lambda i: -float(first[i]))
    say = words(POSITIONS_WORDS, tr)
    # "end of word" is the one long tick among single letters: on two lines, so it stays under its own bars (one line
    # of "単語の終わり" ran into the next character's tick in a half-screen column)
    xs = [two_lines(say["end"]) if vocab.itos[i] == "<EOS>" else esc(vocab.itos[i]) for i in ids]
    colors = (BLUE, ORANGE, "#5b5b5b", "#7a9e3a")
    fig = go.Figure()
    top = 0.0
    for n, (name, p) in enumerate(probs.items()):
        ys = [float(p[i]) for i in ids]
        top = max([top] + ys)
        fig.add_trace(
            go.Bar(
                name=esc(name),
                x=list(range(len(ids))),
                y=ys,
                marker_color=colors[n % len(colors)],
                hovertemplate="%{y:.1%}<extra>" + esc(name) + "</extra>",
            )
        )
    return _finish(
        fig,
        say["variants_title"].format(word=esc(word[-30:])),
        160 + font_size * 14,
        font_size,
        barmode="group",
        legend=dict(orientation="h", y=-0.25, font=dict(size=font_size, color=INK)),
        xaxis=_axis(font_size, tickvals=list(range(len(ids))), ticktext=xs, tickangle=0),
        yaxis=_axis(font_size, range=[0, min(1.0, top * 1.15 + 0.02)], tickformat=".0%", title_text=say["probability"]),
    )


# ---- the quiz answers (computed, never typed in) ----------------------------------------------------------------
def top_choices(probs: torch.Tensor, itos, n: int = 4) -> tuple[list[str], str]:
    """(n most likely next tokens in alphabetical order, so the order gives nothing away; the most likely one)."""
    order = torch.argsort(probs, descending=True).tolist()[:n]
    return sorted(itos[i] for i in order), itos[order[0]]


def middle_query(n_tokens: int) -> int:
    """The query row Step 2 opens on: the middle one, which has keys both before it (visible) and after it (hidden
    by the causal mask), so both kinds show; the last row alone would hide nothing."""
    return max(0, (n_tokens - 1) // 2)


def most_attended_key(s: AttentionSteps) -> int:
    """The key position this query row gives the most weight."""
    return int(torch.argmax(s.weights))


def weight_after_query(cap: AttentionCapture, name: str, head: int, query: int) -> float:
    """Total attention one query row gives to keys after its own position (0 exactly under a causal mask)."""
    return float(cap.patterns[name][0, head, query, query + 1 :].sum())


def most_focused_head(cap: AttentionCapture, family: str, layer: int) -> tuple[int, torch.Tensor]:
    """(the head of one layer with the lowest mean normalised entropy, every head's mean entropy (H,))."""
    ent = mean_entropy(cap, family)[layer]  # (H,)
    return int(torch.argmin(ent)), ent


def most_read_source(cap: AttentionCapture, name: str, query: int = -1) -> tuple[int, torch.Tensor]:
    """(source position the query reads most in a cross-attention pattern, averaged over heads; that row (K,))."""
    row = cap.patterns[name][0, :, query].mean(0)  # (K,)
    return int(torch.argmax(row)), row


def where_cross_looks(cap: AttentionCapture, name: str) -> tuple[str, dict[str, float]]:
    """Where decoder position t looks in one cross-attention pattern (all heads averaged, queries with a key t+1):
    ``'self'`` (key t), ``'next'`` (key t+1: the answer, in the peeking model) or ``'elsewhere'``, with the mean
    weights on each."""
    p = cap.patterns[name][0].mean(0)  # (Q, K)
    n = min(p.shape[0], p.shape[1] - 1)
    if n < 1:
        return "elsewhere", {"self": 0.0, "next": 0.0, "elsewhere": 1.0}
    on_self = float(torch.stack([p[t, t] for t in range(n)]).mean())
    on_next = float(torch.stack([p[t, t + 1] for t in range(n)]).mean())
    w = {"self": on_self, "next": on_next, "elsewhere": max(0.0, 1.0 - on_self - on_next)}
    return max(w, key=w.get), w


def snapshot_focus(cap: AttentionCapture) -> float:
    """Mean normalised entropy over every layer and head of a capture (0 focused, 1 spread evenly)."""
    return float(torch.cat([mean_entropy(cap, k).flatten() for k in cap.families()]).mean())


def top_guesses(variants: dict[str, torch.Tensor], itos) -> dict[str, tuple[str, float]]:
    """Each next-token distribution's most likely token and its probability: ``{name: (token, p)}``."""
    return {name: (itos[int(p.argmax())], float(p.max())) for name, p in variants.items()}


def leakiest_head(cap: AttentionCapture, name: str) -> int:
    """The head of one pattern that puts the most weight on the cells (t, t+1), the next key: the answer, in the
    peeking model's cross-attention."""
    p = cap.patterns[name][0]  # (H, Q, K)
    on_next = p.diagonal(offset=1, dim1=-2, dim2=-1).sum(-1)  # (H,)
    return int(torch.argmax(on_next))
