"""Plotly figure builders for the Head lab: two inputs compared head by head, rollout, leave-one-out importance,
candidate heads. Pure (no streamlit), inputs never mutated; the look is viz.style's.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from models.capture import AttentionCapture
from models.vocab import EOS
from viz.labels import N_, Translate, identity
from viz.style import BLUE, BLUES, ORANGE, char_label, figure, house_layout, label

# PuOr (ColorBrewer), diverging and colour-blind safe: purple below 0, white at 0, orange above.
_PUOR = [
    [i / 10, c]
    for i, c in enumerate(
        (
            "#2d004b",
            "#542788",
            "#8073ac",
            "#b2abd2",
            "#d8daeb",
            "#f7f7f7",
            "#fee0b6",
            "#fdb863",
            "#e08214",
            "#b35806",
            "#7f3b08",
        )
    )
]


def _pair_labels(a: tuple[str, ...], b: tuple[str, ...], n: int) -> list[str]:
    """Tick labels for two inputs compared position by position: 'x' where they agree, 'x→y' where they differ."""
    return [label(a[i]) if a[i] == b[i] else f"{label(a[i])}→{label(b[i])}" for i in range(n)]


def _diverging(z: list, m: float, **kw) -> dict:
    return dict(type="heatmap", z=z, zmin=-m, zmax=m, zmid=0, colorscale=_PUOR, xgap=1, ygap=1, **kw)


def diff_heatmaps(
    diffs: dict[str, torch.Tensor],
    cap_a: AttentionCapture,
    cap_b: AttentionCapture,
    *,
    row_titles: dict[str, str],
    title: str | None = None,
    colorbar_title: str = "B − A",
    height: int | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Every head of every pattern's difference B - A (``viz.metrics.pattern_differences``), one row of small
    heatmaps per pattern, on one diverging scale centred on 0 (purple: A attends more, orange: B attends more)."""
    from plotly.subplots import make_subplots

    head_label = tr(N_("head {h}"))
    names = list(diffs)
    H = max(d.shape[0] for d in diffs.values())
    m = max(1e-3, max(float(d.abs().max()) for d in diffs.values()))
    subtitles = [
        label(f"{row_titles.get(n, n)} · {head_label.format(h=h)}") if h < diffs[n].shape[0] else ""
        for n in names
        for h in range(H)
    ]
    fig = make_subplots(
        rows=len(names),
        cols=H,
        subplot_titles=subtitles,
        horizontal_spacing=0.03,
        vertical_spacing=min(0.08, 0.4 / max(1, len(names))),
    )
    for r, name in enumerate(names, start=1):
        d = diffs[name]
        Q, K = d.shape[1:]
        (qa, ka), (qb, kb) = cap_a.axes(name), cap_b.axes(name)
        qt, kt = _pair_labels(qa, qb, Q), _pair_labels(ka, kb, K)
        for h in range(d.shape[0]):
            fig.add_trace(
                go.Heatmap(
                    **_diverging(
                        d[h].tolist(),
                        m,
                        showscale=(r == 1 and h == 0),
                        colorbar=dict(title=dict(text=label(colorbar_title), side="right"), thickness=12, len=0.6),
                        hovertemplate=tr(N_("query {q} → key {k}")).format(q="%{y}", k="%{x}")
                        + "<br>B − A <b>%{z:+.4f}</b><extra></extra>",
                    )
                ),
                row=r,
                col=h + 1,
            )
            fig.update_xaxes(
                tickvals=list(range(K)),
                ticktext=kt,
                tickangle=0,
                tickfont=dict(size=10),
                showgrid=False,
                zeroline=False,
                row=r,
                col=h + 1,
            )
            fig.update_yaxes(
                tickvals=list(range(Q)),
                ticktext=qt,
                autorange="reversed",
                tickfont=dict(size=10),
                showgrid=False,
                zeroline=False,
                showticklabels=h == 0,
                row=r,
                col=h + 1,
            )
    fig.update_annotations(font=dict(size=12))
    size = height or int(min(1400, 80 + len(names) * max(170, 50 + 16 * max(d.shape[1] for d in diffs.values()))))
    return house_layout(fig, title or tr(N_("Every attention pattern, B − A")), size)


def next_token_diff_heatmap(
    diff: torch.Tensor,
    cap_a: AttentionCapture,
    cap_b: AttentionCapture,
    vocab,
    *,
    title: str | None = None,
    colorbar_title: str = "B − A",
    height: int | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """(Q, V) B - A of the next-token distribution at every position (``viz.metrics.next_token_differences``),
    one row per position, one column per token a word can continue with (<EOS> labelled "end", then the
    characters; <PAD>, <BOS> and <UNK> are never targets)."""
    eos_label = tr(N_("end"))
    cols = [i for i, t in enumerate(vocab.itos) if t not in ("<PAD>", "<BOS>", "<UNK>")]
    Q = diff.shape[0]
    z = diff[:, cols]
    m = max(1e-3, float(z.abs().max()))
    qt = _pair_labels(cap_a.tgt_tokens, cap_b.tgt_tokens, Q)
    xt = [label(eos_label) if vocab.itos[i] == EOS else label(vocab.itos[i]) for i in cols]
    data = [
        _diverging(
            z.tolist(),
            m,
            colorbar=dict(title=dict(text=label(colorbar_title), side="right"), thickness=12),
            customdata=[[xt[j] for j in range(len(cols))] for _ in range(Q)],
            hovertemplate=tr(N_("after {q}: {token}")).format(q="%{y}", token="%{customdata}")
            + "<br>B − A <b>%{z:+.4f}</b>"
            "<extra></extra>",
        )
    ]
    return figure(
        data,
        title or tr(N_("Next-token probability, B − A, after every position")),
        height or int(min(560, 120 + 26 * Q)),
        xaxis=dict(
            tickvals=list(range(len(cols))),
            ticktext=xt,
            tickangle=0,
            title=dict(text=tr(N_("next token"))),
            showgrid=False,
            zeroline=False,
        ),
        yaxis=dict(
            tickvals=list(range(Q)),
            ticktext=qt,
            autorange="reversed",
            title=dict(text=tr(N_("after"))),
            showgrid=False,
            zeroline=False,
        ),
    )


def rollout_figure(
    panels: list[tuple[str, torch.Tensor]],
    q_tok: tuple[str, ...],
    k_tok: tuple[str, ...],
    *,
    title: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    height: int | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Heatmaps side by side on one 0..1 scale: ``panels`` is [(subplot title, (Q, K) tensor)], e.g. each layer's
    raw head-mean pattern, then the rollout. The axis titles default to "key" and "query" (cross-attention's
    panels name theirs)."""
    title = title or tr(N_("Raw attention and rollout (an approximation)"))
    x_title, y_title = x_title or tr(N_("key")), y_title or tr(N_("query"))
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[label(t) for t, _ in panels], horizontal_spacing=0.04)
    qt, kt = [label(t) for t in q_tok], [label(t) for t in k_tok]
    for c, (_, z) in enumerate(panels, start=1):
        Q, K = z.shape
        fig.add_trace(
            go.Heatmap(
                z=z.tolist(),
                zmin=0,
                zmax=1,
                colorscale=BLUES,
                xgap=1,
                ygap=1,
                showscale=c == len(panels),
                colorbar=dict(thickness=12, len=0.9),
                hovertemplate=tr(N_("query {q} → key {k}")).format(q="%{y}", k="%{x}")
                + ": <b>%{z:.3f}</b><extra></extra>",
            ),
            row=1,
            col=c,
        )
        fig.update_xaxes(
            tickvals=list(range(K)),
            ticktext=kt[:K],
            tickangle=0,
            tickfont=dict(size=11),
            title_text=x_title,
            showgrid=False,
            zeroline=False,
            row=1,
            col=c,
        )
        fig.update_yaxes(
            tickvals=list(range(Q)),
            ticktext=qt[:Q],
            autorange="reversed",
            tickfont=dict(size=11),
            title_text=y_title if c == 1 else None,
            showticklabels=c == 1,
            showgrid=False,
            zeroline=False,
            row=1,
            col=c,
        )
    fig.update_annotations(font=dict(size=13))
    return house_layout(fig, title, height or int(min(560, max(260, 110 + 22 * len(q_tok)))))


def attention_vs_importance(
    tokens: tuple[str, ...],
    attention: torch.Tensor,
    importance: list[float],
    *,
    top: str,
    p_top: float,
    pattern_label: str,
    height: int = 420,
    tr: Translate = identity,
) -> go.Figure:
    """Two bar charts over the same input positions: the query's attention weights (top) in the pattern the page
    names ``pattern_label``, and the leave-one-out importance of each position (bottom: orange, the top choice
    ``top`` (a token, of probability ``p_top``) loses probability without that character; purple, it gains).
    ``None`` = not measured (``<BOS>``, which is never replaced): no bar."""
    from plotly.subplots import make_subplots

    top = char_label(top, tr)
    title = tr(N_("Prediction: {top} ({p:.0%})")).format(top=top, p=p_top)
    attention_title = tr(N_("attention of the last position ({pattern})")).format(pattern=pattern_label)
    importance_title = tr(N_("drop in p({top}) when that character becomes <UNK>")).format(top=top)

    xt = [label(t) for t in tokens]
    x = list(range(len(tokens)))
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.14,
        subplot_titles=[label(attention_title), label(importance_title)],
    )
    att = attention.tolist()
    fig.add_trace(
        go.Bar(
            x=x,
            y=att,
            marker_color=BLUE,
            text=[f"{v:.2f}" for v in att],
            textposition="outside",
            cliponaxis=False,
            customdata=xt,
            hovertemplate="%{customdata}: <b>%{y:.3f}</b><extra></extra>",
        ),
        row=1,
        col=1,
    )
    colors = [ORANGE if v is None or v >= 0 else "#542788" for v in importance]
    fig.add_trace(
        go.Bar(
            x=x,
            y=importance,
            marker_color=colors,
            text=["" if v is None else f"{v:+.2f}" for v in importance],
            textposition="outside",
            cliponaxis=False,
            customdata=xt,
            hovertemplate="%{customdata}: <b>%{y:+.3f}</b><extra></extra>",
        ),
        row=2,
        col=1,
    )
    known = [v for v in importance if v is not None]
    top = max([abs(v) for v in known] + [0.05]) * 1.3
    fig.update_yaxes(range=[0, max(att + [0.05]) * 1.3], row=1, col=1)
    fig.update_yaxes(
        range=[-top if min(known + [0]) < -0.005 else 0, top], zeroline=True, zerolinecolor="#6c757d", row=2, col=1
    )
    fig.update_xaxes(tickvals=x, ticktext=xt, tickangle=0, tickfont=dict(size=14), showticklabels=True)
    fig.update_annotations(font=dict(size=13))
    return house_layout(fig, title, height, showlegend=False)


def candidate_heads_bars(
    weights: dict[str, torch.Tensor],
    *,
    n: int = 6,
    height: int = 330,
    title: str | None = None,
    y_title: str | None = None,
    word_label: str = "{word}",
    tr: Translate = identity,
) -> go.Figure:
    """Grouped bars over the heads that put the most weight on any candidate (``weights``: {word: (layers, H)}):
    for each of those ``n`` heads, one bar per candidate word. Head labels 'L13 h8' (layer 13, head 8)."""
    stacked = torch.stack(list(weights.values()))  # (words, layers, H)
    best = stacked.amax(0).flatten()  # (layers * H,)
    H = stacked.shape[-1]
    picks = best.topk(min(n, best.numel())).indices.tolist()
    xs = [f"L{i // H} h{i % H}" for i in picks]
    data = []
    for j, (word, w) in enumerate(weights.items()):
        vals = [float(w.flatten()[i]) for i in picks]
        name = label(word_label.format(word=word))
        data.append(
            dict(
                type="bar",
                name=name,
                x=xs,
                y=vals,
                marker=dict(color=(ORANGE, BLUE, "#6c757d")[j % 3]),
                text=[f"{v:.2f}" for v in vals],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{x}: <b>%{y:.3f}</b><extra>" + name + "</extra>",
            )
        )
    return figure(
        data,
        title or tr(N_("Heads that look hardest at each word")),
        height,
        barmode="group",
        legend=dict(orientation="h", y=-0.18),
        yaxis=dict(range=[0, 1.1], title=dict(text=y_title or tr(N_("attention weight")))),
        xaxis=dict(tickangle=0),
    )
