"""Plotly figure builders for the core pages (Explore, Compare, Leak lesson, Generate, Train): captures in,
figures out. Pure (no streamlit), inputs never mutated. The look (palette, labels, how a figure is made) is
viz.style's; the Head lab's builders are in viz.head_lab_figures.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from models.capture import AttentionCapture
from viz.labels import N_, Translate, identity
from viz.metrics import attention_entropy, mean_entropy, visible_keys
from viz.style import (
    BLUE,
    BLUES,
    FAMILY_LABEL,
    GREY,
    ORANGE,
    VIRIDIS,
    char_label,
    figure,
    house_layout,
    label,
    pattern_title,
    title_above_subplot_titles,
)


def attention_heatmap(
    cap: AttentionCapture,
    name: str,
    head: int,
    *,
    query: int | None = None,
    height: int | None = None,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Query rows x key columns for one head. Masked cells (a key the query may not see) are grey and say so on
    hover; visible cells show the exact weight. ``query`` outlines one row (linked selection)."""
    p = cap.patterns[name][0, head]  # (Q, K)
    Q, K = p.shape
    q_tok, k_tok = cap.axes(name)
    masked = torch.zeros(Q, K, dtype=torch.bool)
    if cap.is_masked_causal(name):
        masked = ~torch.ones(Q, K, dtype=torch.bool).tril()
    z = p.masked_fill(masked, float("nan")).tolist()
    qt, kt = [label(t) for t in q_tok], [label(t) for t in k_tok]
    cell = tr(N_("query {q} {q_token} → key {k} {k_token}"))
    text = [[cell.format(q=qi, q_token=qt[qi], k=ki, k_token=kt[ki]) for ki in range(K)] for qi in range(Q)]
    data = []
    if masked.any():
        data.append(
            dict(
                type="heatmap",
                z=torch.where(masked, 1.0, float("nan")).tolist(),
                showscale=False,
                colorscale=[[0, GREY], [1, GREY]],
                xgap=1,
                ygap=1,
                text=text,
                hovertemplate="%{text}<br>"
                + tr(N_("<b>masked</b>: this query may not look ahead"))
                + "<extra></extra>",
            )
        )
    data.append(
        dict(
            type="heatmap",
            z=z,
            zmin=0,
            zmax=1,
            colorscale=BLUES,
            xgap=1,
            ygap=1,
            text=text,
            colorbar=dict(title=dict(text=tr(N_("weight")), side="right"), thickness=12, len=0.9),
            hovertemplate="%{text}<br>" + tr(N_("weight")) + " <b>%{z:.4f}</b><extra></extra>",
        )
    )
    shapes = []
    if query is not None and 0 <= query < Q:
        shapes.append(
            dict(type="rect", x0=-0.5, x1=K - 0.5, y0=query - 0.5, y1=query + 0.5, line=dict(color=ORANGE, width=3))
        )
    size = height or int(min(620, max(260, 70 + 22 * Q)))
    title = title or tr(N_("{layer} · head {head}")).format(layer=pattern_title(name, tr), head=head)
    return figure(
        data,
        title,
        size,
        shapes=shapes,
        xaxis=dict(
            tickvals=list(range(K)),
            ticktext=kt,
            title=dict(text=tr(N_("key (attended to)"))),
            side="bottom",
            tickangle=_tick_angle(k_tok),
            showgrid=False,
            zeroline=False,
        ),
        yaxis=dict(
            tickvals=list(range(Q)),
            ticktext=qt,
            title=dict(text=tr(N_("query (attending)"))),
            autorange="reversed",
            showgrid=False,
            zeroline=False,
        ),
    )


def _tick_angle(tokens) -> int:
    """Characters stay upright; sub-word tokens ('␣animal') are slanted so that neighbours don't overlap.
    Special tokens ('<BOS>') don't count: a character model's lone '<BOS>' stays upright too."""
    words = [t for t in tokens if not (t.startswith("<") and t.endswith(">"))]
    return 0 if sum(len(t) for t in words) <= 3 * max(1, len(words)) else -50


def entropy_heatmap(
    cap: AttentionCapture,
    height: int | None = None,
    *,
    notes: dict[str, list[str]] | None = None,
    off_label: str | None = None,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """One row per (attention family, layer), one column per head: the mean normalised entropy. 0 = every query
    looks at one key, 1 = attention spread evenly over every key the query can see. ``notes``: {pattern name:
    one line per head} printed under each value (the head lab's roles); a head the capture knocked out is marked
    with ``off_label``."""
    title = title or tr(N_("Attention entropy per layer and head"))
    off_label = off_label or tr(N_("off"))
    rows, labels, cells = [], [], []
    for family in cap.families():
        m = mean_entropy(cap, family)  # (layers, H)
        for l, name in enumerate(cap.names(family)):
            rows.append(m[l])
            labels.append(f"{tr(FAMILY_LABEL[family])} L{l}")
            extra = (notes or {}).get(name)
            cells.append(
                [
                    f"{float(v):.2f}"
                    + (f"<br>{label(extra[h])}" if extra else "")
                    + (f"<br><b>{label(off_label)}</b>" if cap.is_knocked_out(name, h) else "")
                    for h, v in enumerate(m[l])
                ]
            )
    z = torch.stack(rows)  # (rows, H)
    H = z.shape[1]
    zl = z.tolist()
    per_row = 42 + (18 if notes else 0) + (14 if cap.knocked_out else 0)
    data = [
        dict(
            type="heatmap",
            z=zl,
            zmin=0,
            zmax=1,
            colorscale=VIRIDIS,
            xgap=2,
            ygap=2,
            text=cells,
            texttemplate="%{text}",
            textfont=dict(size=12 if len(labels) <= 8 else 11),
            colorbar=dict(
                title=dict(text=tr(N_("entropy")), side="right"),
                thickness=12,
                tickvals=[0, 0.5, 1],
                ticktext=[tr(N_("0 focused")), "0.5", tr(N_("1 uniform"))],
            ),
            hovertemplate=tr(N_("{row} · head {head}<br>mean normalised entropy {value}")).format(
                row="%{y}", head="%{x}", value="<b>%{z:.3f}</b>"
            )
            + "<extra></extra>",
        )
    ]
    if len(labels) > 8 and not notes:  # a real model's 30 layers: rows fit one screen
        per_row = 24 + (14 if cap.knocked_out else 0)
    return figure(
        data,
        title,
        height or 110 + per_row * len(labels),
        xaxis=dict(tickvals=list(range(H)), ticktext=[tr(N_("head {h}")).format(h=h) for h in range(H)], side="bottom"),
        yaxis=dict(tickvals=list(range(len(labels))), ticktext=labels, autorange="reversed"),
    )


def query_entropy(
    cap: AttentionCapture,
    name: str,
    head: int,
    *,
    query: int | None = None,
    height: int = 260,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Per-query normalised entropy of one head (the row of the entropy heatmap, unfolded); ``title`` replaces the
    default one, which names the layer and head."""
    p = cap.patterns[name]
    causal = cap.is_masked_causal(name)
    ent = attention_entropy(p, causal)[head]  # (Q,)
    q_tok = [label(t) for t in cap.axes(name)[0]]
    n_keys = visible_keys(p.shape[-2], p.shape[-1], causal).tolist()
    colors = [ORANGE if i == query else BLUE for i in range(len(q_tok))]
    data = [
        dict(
            type="bar",
            x=list(range(len(q_tok))),
            y=ent.tolist(),
            marker=dict(color=colors),
            customdata=[[t, n] for t, n in zip(q_tok, n_keys)],
            hovertemplate=tr(N_("query {q} {token}<br>entropy {value} over {n} visible key(s)")).format(
                q="%{x}", token="%{customdata[0]}", value="%{y:.3f}", n="%{customdata[1]}"
            )
            + "<extra></extra>",
        )
    ]
    title = title or tr(N_("Per-query entropy · {layer} · head {head}")).format(
        layer=pattern_title(name, tr), head=head
    )
    return figure(
        data,
        title,
        height,
        xaxis=dict(tickvals=list(range(len(q_tok))), ticktext=q_tok, title=dict(text=tr(N_("query")))),
        yaxis=dict(range=[0, 1.05], title=dict(text=tr(N_("entropy (0–1)")))),
    )


def next_token_bars(
    probs: torch.Tensor,
    vocab,
    *,
    top_k: int = 10,
    expected: str | None = None,
    height: int | None = None,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Horizontal bars of the top-k next tokens, most likely on top, with the percentage printed on each bar.
    ``expected`` (a character, or '<EOS>') is always shown and highlighted, even when outside the top k."""
    order = torch.argsort(probs, descending=True)
    keep = order[probs[order] > 0][:top_k].tolist()  # vectorised: a real model has ~50 000 tokens
    exp_id = vocab.stoi.get(expected) if expected else None
    if exp_id is not None and exp_id not in keep:
        keep.append(exp_id)
    keep = keep[::-1]  # plotly draws bottom-up
    names = [char_label(vocab.itos[i], tr) for i in keep]
    vals = [float(probs[i]) for i in keep]
    colors = [ORANGE if i == exp_id else BLUE for i in keep]
    data = [
        dict(
            type="bar",
            x=vals,
            y=list(range(len(keep))),
            orientation="h",
            marker=dict(color=colors),
            text=[f"{v:.1%}" for v in vals],
            textposition="outside",
            cliponaxis=False,
            customdata=names,
            hovertemplate="%{customdata}: <b>%{x:.2%}</b><extra></extra>",
        )
    ]
    return figure(
        data,
        title or tr(N_("What comes next?")),
        height or 90 + 28 * len(keep),
        showlegend=False,
        bargap=0.25,
        yaxis=dict(tickvals=list(range(len(keep))), ticktext=names, tickfont=dict(size=14)),
        xaxis=dict(range=[0, max(vals + [0.01]) * 1.25], tickformat=".0%", title=dict(text=tr(N_("probability")))),
    )


def next_key_weights(
    weights: dict[str, torch.Tensor], title: str, height: int = 300, tr: Translate = identity
) -> go.Figure:
    """Grouped bars: for each model (legend), the weight each head puts on key t+1."""
    fig = go.Figure()
    for i, (model, w) in enumerate(weights.items()):
        fig.add_trace(
            go.Bar(
                name=label(model),
                x=[tr(N_("head {h}")).format(h=h) for h in range(len(w))],
                y=w.tolist(),
                marker_color=(ORANGE, BLUE, "#6c757d")[i % 3],
                text=[f"{v:.2f}" for v in w.tolist()],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=tr(N_("{head}: {weight} on key t+1")).format(head="%{x}", weight="%{y:.4f}")
                + "<extra>"
                + label(model)
                + "</extra>",
            )
        )
    fig.update_yaxes(range=[0, 1.1], title_text=tr(N_("weight on key t+1")))
    return house_layout(fig, title, height, barmode="group", legend=dict(orientation="h", y=-0.2))


def training_curves(history: list[dict], height: int = 320, saved: bool = True, tr: Translate = identity) -> go.Figure:
    """Train loss, teacher-forced and prefix-only validation NLL per epoch; the kept epoch marked, or with
    ``saved=False`` (a run that failed, so nothing was kept) the best epoch marked as not saved."""
    ep = [h["epoch"] for h in history]
    fig = go.Figure()
    # A causal model sees only the prefix either way, so its two validation curves agree (computed two ways, they
    # differ only in float summation order) and are drawn as one line: drawing both would hide one under the other
    # and leave a legend entry with nothing visible. The peeking model gets both.
    same = all(abs(h["val_tf_nll"] - h["val_prefix_nll"]) < 1e-4 for h in history)
    lines = [("train_loss", tr(N_("train loss")), "#6c757d", "dot")]
    if same:
        lines.append(
            (
                "val_prefix_nll",
                tr(N_("validation NLL (honest; teacher-forced is the same for a causal model)")),
                ORANGE,
                "solid",
            )
        )
    else:
        lines += [
            ("val_tf_nll", tr(N_("validation NLL (teacher-forced)")), BLUE, "dash"),
            ("val_prefix_nll", tr(N_("validation NLL (prefix-only, honest)")), ORANGE, "solid"),
        ]
    for key, name, color, dash in lines:
        fig.add_trace(
            go.Scatter(
                x=ep,
                y=[h[key] for h in history],
                name=name,
                mode="lines+markers",
                line=dict(color=color, dash=dash, width=2),
                marker=dict(size=4),
                hovertemplate=tr(N_("epoch {epoch}: {value}")).format(epoch="%{x}", value="%{y:.3f}")
                + "<extra>"
                + name
                + "</extra>",
            )
        )
    if history:
        best = history[-1]["best_epoch"]
        mark = N_("kept epoch {epoch}") if saved else N_("best epoch {epoch} (not saved)")
        fig.add_vline(
            x=best,
            line=dict(color="#2a9d8f" if saved else "#6c757d", width=1, dash="dash"),
            annotation_text=tr(mark).format(epoch=best),
            annotation_position="top left",
        )
    fig.update_xaxes(title_text=tr(N_("epoch")))
    fig.update_yaxes(title_text=tr(N_("nats per character")))
    return house_layout(fig, tr(N_("Learning curves")), height, legend=dict(orientation="h", y=-0.28))


# ---- Compare / Leak lesson / Generate -----------------------------------------------------------------------------


def with_next_key_outline(fig: go.Figure, n_query: int, n_key: int, color: str = ORANGE) -> go.Figure:
    """A copy of an attention heatmap with the cells (query t, key t+1) outlined: where the answer sits when the
    source is the target word itself."""
    out = go.Figure(fig)
    for t in range(min(n_query, n_key - 1)):
        out.add_shape(type="rect", x0=t + 0.5, x1=t + 1.5, y0=t - 0.5, y1=t + 0.5, line=dict(color=color, width=2))
    return out


def _level_line(fig: go.Figure, y: float, name: str) -> None:
    """A dashed reference level across the whole plot, behind the bars, named in the legend (an annotation would
    sit on the bars): the line is a shape, and an empty trace in the same style carries the legend entry."""
    style = dict(color="#6c757d", width=1, dash="dash")
    fig.add_hline(y=y, line=style, layer="below")
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, hoverinfo="skip", line=style))


def next_key_layer_bars(
    weights: dict[str, dict[str, torch.Tensor]],
    *,
    chance: float | None = None,
    height: int = 320,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Grouped bars over every (layer, head): for each model (legend), the weight that head puts on key t+1.
    ``weights`` is {model label: {pattern name: (H,)}}; ``chance`` draws the even-spread level as a dashed line."""
    fig = go.Figure()
    for i, (model, by_layer) in enumerate(weights.items()):
        xs, ys = [], []
        for name, w in by_layer.items():
            layer = name.split(".")[1]
            xs += [f"L{layer} h{h}" for h in range(len(w))]
            ys += w.tolist()
        fig.add_trace(
            go.Bar(
                name=label(model),
                x=xs,
                y=ys,
                marker_color=(ORANGE, BLUE, "#6c757d")[i % 3],
                text=["0" if v == 0 else f"{v:.2f}" for v in ys],
                textposition="outside",
                cliponaxis=False,
                textfont=dict(size=11),
                hovertemplate=tr(N_("{head}: {weight} on key t+1")).format(head="%{x}", weight="<b>%{y:.4f}</b>")
                + "<extra>"
                + label(model)
                + "</extra>",
            )
        )
    if chance and fig.data:
        _level_line(fig, chance, tr(N_("even spread ({chance:.2f})")).format(chance=chance))
    fig.update_yaxes(range=[0, 1.12], title_text=tr(N_("weight on key t+1")))
    fig.update_xaxes(title_text=tr(N_("layer · head")))
    return house_layout(
        fig,
        title or tr(N_("Weight on key t+1, every cross-attention head")),
        height,
        barmode="group",
        legend=dict(orientation="h", y=-0.3),
    )


def nll_bars(
    rows: list[dict],
    *,
    uniform: float | None = None,
    height: int = 320,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Two bars per model: teacher-forced NLL (the whole word is fed in) and prefix-only NLL (only the characters
    before each position; the honest number). ``rows``: dicts with ``model``, ``teacher_forced``, ``prefix``."""
    models = [label(r["model"]) for r in rows]
    fig = go.Figure()
    for key, name, color in (
        ("teacher_forced", tr(N_("teacher-forced (whole word fed in)")), GREY),
        ("prefix", tr(N_("prefix-only (honest)")), ORANGE),
    ):
        ys = [r[key] for r in rows]
        fig.add_trace(
            go.Bar(
                name=name,
                x=models,
                y=ys,
                marker_color=color,
                text=[f"{v:.2f}" for v in ys],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=tr(N_("{model}: {nll} nats/char")).format(model="%{x}", nll="<b>%{y:.3f}</b>")
                + "<extra>"
                + name
                + "</extra>",
            )
        )
    if uniform:
        _level_line(fig, uniform, tr(N_("uniform guess ({uniform:.2f})")).format(uniform=uniform))
    top = max([r["teacher_forced"] for r in rows] + [r["prefix"] for r in rows] + [uniform or 0, 0.1])
    fig.update_yaxes(range=[0, top * 1.2], title_text=tr(N_("nats per character")))
    return house_layout(
        fig,
        title or tr(N_("Validation NLL, teacher-forced vs prefix-only (lower is better)")),
        height,
        barmode="group",
        legend=dict(orientation="h", y=-0.22),
    )


def counterfactual_bars(
    probs_a: torch.Tensor,
    probs_b: torch.Tensor,
    vocab,
    *,
    names: tuple[str, str] | None = None,
    top_k: int = 5,
    height: int = 280,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Grouped bars of two next-token distributions over the union of each one's top-k tokens."""
    ids = list(
        dict.fromkeys(
            torch.argsort(probs_a, descending=True)[:top_k].tolist()
            + torch.argsort(probs_b, descending=True)[:top_k].tolist()
        )
    )
    ids.sort(key=lambda i: -float(probs_a[i] + probs_b[i]))
    xs = [char_label(vocab.itos[i], tr) for i in ids]
    names = names or (tr(N_("source A")), tr(N_("source B")))
    fig = go.Figure()
    for p, name, color in ((probs_a, names[0], BLUE), (probs_b, names[1], ORANGE)):
        ys = [float(p[i]) for i in ids]
        fig.add_trace(
            go.Bar(
                name=label(name),
                x=list(range(len(ids))),
                y=ys,
                marker_color=color,
                text=[f"{v:.0%}" if v >= 0.005 else "" for v in ys],
                textposition="outside",
                cliponaxis=False,
                textfont=dict(size=12),
                customdata=xs,
                hovertemplate="%{customdata}: <b>%{y:.2%}</b><extra>" + label(name) + "</extra>",
            )
        )
    fig.update_xaxes(tickvals=list(range(len(ids))), ticktext=xs, tickfont=dict(size=14), tickangle=0)
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title_text=tr(N_("probability")))
    return house_layout(
        fig, title or tr(N_("Next character")), height, barmode="group", legend=dict(orientation="h", y=-0.22)
    )


def last_row_heatmap(
    cap: AttentionCapture,
    *,
    families: tuple[str, ...] | None = None,
    height: int | None = None,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """The attention of the newest position only: one row per (layer, head), the last query row of each pattern,
    over that pattern's keys. For the enc-dec model the decoder-side families are shown by default (decoder
    self-attention and cross-attention); every row here sees all its keys, so nothing is masked."""
    families = families or (("decoder", "cross") if cap.is_seq2seq else ("blocks",))
    rows, labels, k_tok = [], [], None
    for family in families:
        for name in cap.names(family):
            p = cap.patterns[name][0, :, -1, :]  # (H, K): last query row per head
            k_tok = cap.axes(name)[1] if k_tok is None else k_tok
            for h in range(p.shape[0]):
                rows.append(p[h])
                labels.append(f"{tr(FAMILY_LABEL[family])} L{name.split('.')[1]} h{h}")
    K = max(len(r) for r in rows)
    z = [r.tolist() + [float("nan")] * (K - len(r)) for r in rows]  # decoder / cross keys match in length
    kt = [label(t) for t in k_tok][:K]
    newest = label(cap.tgt_tokens[-1])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            xgap=1,
            ygap=1,
            customdata=[[[lab, kt[k] if k < len(kt) else ""] for k in range(K)] for lab in labels],
            colorbar=dict(title=dict(text=tr(N_("weight")), side="right"), thickness=12, len=0.9),
            hovertemplate=tr(N_("{row} → key {k} {k_token}<br>weight {weight}")).format(
                row="%{customdata[0]}", k="%{x}", k_token="%{customdata[1]}", weight="<b>%{z:.4f}</b>"
            )
            + "<extra></extra>",
        )
    )
    fig.update_xaxes(tickvals=list(range(K)), ticktext=kt, title_text=tr(N_("key (attended to)")), tickangle=0)
    fig.update_yaxes(tickvals=list(range(len(labels))), ticktext=labels, autorange="reversed")
    title = title or tr(N_("What the newest position “{token}” attends to")).format(token=newest)
    return house_layout(fig, title, height or int(min(640, max(200, 110 + 22 * len(labels)))))


def generation_strip(
    tokens: list[str],
    probs: list[float],
    *,
    current: int | None = None,
    height: int = 230,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """One bar per generation step: the token chosen (printed on the bar) and the probability it had; the
    current step in orange."""
    names = [char_label(t, tr) for t in tokens]
    colors = [ORANGE if i == current else BLUE for i in range(len(tokens))]
    fig = go.Figure(
        go.Bar(
            x=list(range(len(tokens))),
            y=probs,
            marker_color=colors,
            text=names,
            textposition="outside",
            cliponaxis=False,
            textfont=dict(size=14),
            customdata=names,
            hovertemplate=tr(N_("step {i}: {token} with p = {p}")).format(
                i="%{x}", token="%{customdata}", p="<b>%{y:.2%}</b>"
            )
            + "<extra></extra>",
        )
    )
    fig.update_xaxes(
        tickvals=list(range(len(tokens))), ticktext=[str(i) for i in range(len(tokens))], title_text=tr(N_("step"))
    )
    fig.update_yaxes(range=[0, 1.2], tickformat=".0%", title_text=tr(N_("p(chosen)")))
    return house_layout(
        fig, title or tr(N_("Chosen token and its probability, step by step")), height, showlegend=False
    )


def head_grid(
    cap: AttentionCapture,
    name: str,
    *,
    cols: int = 2,
    height: int | None = None,
    title: str | None = None,
    tr: Translate = identity,
) -> go.Figure:
    """Every head of one pattern as small heatmaps in one figure (``cols`` per row, one shared colour bar):
    readable side by side in half a page, where one chart per head in narrow columns is not."""
    from plotly.subplots import make_subplots

    H = cap.patterns[name].shape[1]
    cols = max(1, min(cols, H))
    rows = -(-H // cols)
    q_tok, k_tok = (tuple(label(t) for t in ts) for ts in cap.axes(name))
    Q, K = len(q_tok), len(k_tok)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[tr(N_("head {h}")).format(h=h) for h in range(H)],
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        vertical_spacing=min(0.1, 0.3 / rows),
    )
    for h in range(H):
        r, c = h // cols + 1, h % cols + 1
        for trace in attention_heatmap(cap, name, h, tr=tr).data:  # same cells, hover text and grey mask as one head
            if trace.showscale is not False:
                trace.showscale = h == 0
            fig.add_trace(trace, row=r, col=c)
        # No fixed tick angle: plotly turns the labels only where neighbours would collide ("<BOS>c" in a narrow grid)
        fig.update_xaxes(
            tickvals=list(range(K)),
            ticktext=list(k_tok),
            showgrid=False,
            zeroline=False,
            tickfont=dict(size=11),
            title_text=tr(N_("key")) if r == rows else None,
            row=r,
            col=c,
        )
        fig.update_yaxes(
            tickvals=list(range(Q)),
            ticktext=list(q_tok),
            autorange="reversed",
            showgrid=False,
            zeroline=False,
            title_text=tr(N_("query")) if c == 1 else None,
            row=r,
            col=c,
        )
    fig.update_annotations(font=dict(size=13))
    size = height or int(min(900, 60 + rows * max(200, 40 + 19 * Q)))
    house_layout(fig, title or tr(N_("{layer} · all heads")).format(layer=pattern_title(name, tr)), size)
    return title_above_subplot_titles({"annotations": [a.to_plotly_json() for a in fig.layout.annotations]}, fig)


def layer_head_grid(cap: AttentionCapture, *, title: str | None = None, tr: Translate = identity) -> go.Figure:
    """BertViz's model view as a chart that stays readable on a projector: one small heatmap per layer (row) and
    head (column), every pattern of the capture in :func:`entropy_heatmap`'s order, each row labelled as there
    ("encoder L0", "cross L1") and each column "head {h}", both through ``tr``; query tokens
    down the first column, key tokens under the last row of each run of rows that share them. The cells, hover
    text and grey mask are :func:`attention_heatmap`'s, in ``tr``'s language like the row labels."""
    from plotly.subplots import make_subplots

    head_label = tr(N_("head {h}"))
    # two lines ("decoder self" over "L0"): a label written down the side is no taller than its row of cells
    rows = [
        (f"{label(tr(FAMILY_LABEL[family]))}<br>L{l}", name)
        for family in cap.families()
        for l, name in enumerate(cap.names(family))
    ]
    H = max(cap.patterns[n].shape[1] for _, n in rows)
    fig = make_subplots(
        rows=len(rows),
        cols=H,
        column_titles=[head_label.format(h=h) for h in range(H)],
        horizontal_spacing=0.015,
        vertical_spacing=min(0.12, 0.45 / len(rows)),
    )
    Q = 1
    for r, (row_label, name) in enumerate(rows, start=1):
        q_tok, k_tok = (tuple(label(t) for t in ts) for ts in cap.axes(name))
        Q = max(Q, len(q_tok))
        last_of_run = r == len(rows) or cap.axes(rows[r][1])[1] != cap.axes(name)[1]
        for h in range(cap.patterns[name].shape[1]):
            for trace in attention_heatmap(cap, name, h, tr=tr).data:
                if trace.showscale is not False:
                    trace.showscale = r == 1 and h == 0
                fig.add_trace(trace, row=r, col=h + 1)
            fig.update_xaxes(
                tickvals=list(range(len(k_tok))),
                ticktext=list(k_tok),
                showticklabels=last_of_run,
                ticks="",
                showgrid=False,
                zeroline=False,
                tickfont=dict(size=11),
                row=r,
                col=h + 1,
            )
            fig.update_yaxes(
                tickvals=list(range(len(q_tok))),
                ticktext=list(q_tok),
                autorange="reversed",
                ticks="",
                showgrid=False,
                zeroline=False,
                tickfont=dict(size=11),
                showticklabels=h == 0,
                title_text=row_label if h == 0 else None,
                row=r,
                col=h + 1,
            )
    fig.update_annotations(font=dict(size=13))
    return house_layout(
        fig,
        title or tr(N_("Every layer and head (BertViz model view as a grid)")),
        int(80 + len(rows) * max(140, 50 + 16 * Q)),
    )
