"""Plotly figure builders: captures in, figures out. Pure (no streamlit), inputs never mutated.

Tokens are plotted at integer positions with ``tickvals``/``ticktext``: a categorical axis would merge the two
"a"s of "banana" into one row.
"""
from __future__ import annotations

import html
import re

import plotly.graph_objects as go
import torch

from models.capture import AttentionCapture
from models.vocab import EOS
from viz.labels import N_, Translate, identity
from viz.metrics import attention_entropy, mean_entropy, visible_keys

FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
FAMILY_LABEL = {"blocks": N_("self"), "encoder": N_("encoder"), "decoder": N_("decoder self"), "cross": N_("cross")}
# Okabe-Ito blue and orange: a categorical pair that stays distinct under deuteranopia and protanopia.
BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#c9ced6"
INK = "#262730"                # every chart text: Streamlit's body colour, 15:1 on white (WCAG AAA needs 7:1)
# Named colour scales spelled out, as plotly's validator would expand them (unvalidated figures send them as is).
_BLUES = [[i / 8, c] for i, c in enumerate(("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6",
                                            "#2171b5", "#08519c", "#08306b"))]
_VIRIDIS = [[i / 9, c] for i, c in enumerate(("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
                                              "#35b779", "#6ece58", "#b5de2b", "#fde725"))]


def label(tok: str) -> str:
    """Tick / hover text: html-escaped so a token such as '<img onerror=...>' shows as text."""
    return html.escape(tok, quote=False)


def char_name(tok: str, tr: Translate = identity) -> str:
    """A next-character token as read aloud: '<EOS>' is "end of word". Plain text (escape it for where it goes)."""
    return tr(N_("end of word")) if tok == EOS else tok


def char_label(tok: str, tr: Translate = identity) -> str:
    """:func:`char_name`, html-escaped for plotly text."""
    return label(char_name(tok, tr))


# Plotly's default template (~7 KB of JSON in every figure) and its per-property validation cost 10-35 ms per figure
# on this 2-core machine: more than everything else in an Explore rerun (bench/RESULTS.md). The per-keystroke
# figures are therefore built as plain dicts and wrapped with validation off; tests/test_viz.py runs plotly's full
# validation on every builder's output, so a typo still fails there. Streamlit's theme fills in the rest of the
# layout template (fonts, colours, grid), as it does on top of plotly's default one.
_TEMPLATE = {"data": {"heatmap": [{"colorbar": {"outlinewidth": 0, "ticks": ""}}],
                      "bar": [{"marker": {"line": {"width": 0}}}]},
             "layout": {"hoverlabel": {"align": "left"}}}


def _layout_dict(title: str, height: int, **kw) -> dict:
    return dict(title=dict(text=title, x=0, xanchor="left", font=dict(size=15)), height=height, font=FONT,
                margin=dict(l=10, r=10, t=44, b=10), paper_bgcolor="white", plot_bgcolor="white", **kw)


def _figure(data: list[dict], title: str, height: int, **layout) -> go.Figure:
    """A figure from plain trace / layout dicts, unvalidated (see _TEMPLATE's comment), with the house layout and
    every text already in :data:`INK`, so :func:`for_screen` can draw it as it is (a second copy of each chart on
    every keystroke cost ~10 % of a Compare rerun)."""
    fig = go.Figure(_inked({"data": data, "layout": {"template": _TEMPLATE, **_layout_dict(title, height, **layout)}}),
                    _validate=False)
    fig._inked = True           # read by for_screen; plotly figures accept attributes named with a leading "_"
    return fig


def _layout(fig: go.Figure, title: str, height: int, **kw) -> go.Figure:
    fig.update_layout(**_layout_dict(title, height, **kw))
    return fig


def attention_heatmap(cap: AttentionCapture, name: str, head: int, *, query: int | None = None,
                      height: int | None = None, title: str | None = None, tr: Translate = identity) -> go.Figure:
    """Query rows x key columns for one head. Masked cells (a key the query may not see) are grey and say so on
    hover; visible cells show the exact weight. ``query`` outlines one row (linked selection)."""
    p = cap.patterns[name][0, head]                                           # (Q, K)
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
        data.append(dict(type="heatmap", z=torch.where(masked, 1.0, float("nan")).tolist(), showscale=False,
                         colorscale=[[0, GREY], [1, GREY]], xgap=1, ygap=1, text=text,
                         hovertemplate="%{text}<br>" + tr(N_("<b>masked</b>: this query may not look ahead"))
                         + "<extra></extra>"))
    data.append(dict(type="heatmap", z=z, zmin=0, zmax=1, colorscale=_BLUES, xgap=1, ygap=1, text=text,
                     colorbar=dict(title=dict(text=tr(N_("weight")), side="right"), thickness=12, len=0.9),
                     hovertemplate="%{text}<br>" + tr(N_("weight")) + " <b>%{z:.4f}</b><extra></extra>"))
    shapes = []
    if query is not None and 0 <= query < Q:
        shapes.append(dict(type="rect", x0=-0.5, x1=K - 0.5, y0=query - 0.5, y1=query + 0.5,
                           line=dict(color=ORANGE, width=3)))
    size = height or int(min(620, max(260, 70 + 22 * Q)))
    title = title or tr(N_("{layer} · head {head}")).format(layer=pattern_title(name, tr), head=head)
    return _figure(data, title, size, shapes=shapes,
                   xaxis=dict(tickvals=list(range(K)), ticktext=kt, title=dict(text=tr(N_("key (attended to)"))),
                              side="bottom", tickangle=_tick_angle(k_tok), showgrid=False, zeroline=False),
                   yaxis=dict(tickvals=list(range(Q)), ticktext=qt, title=dict(text=tr(N_("query (attending)"))),
                              autorange="reversed", showgrid=False, zeroline=False))


def _tick_angle(tokens) -> int:
    """Characters stay upright; sub-word tokens ('␣animal') are slanted so that neighbours don't overlap.
    Special tokens ('<BOS>') don't count: a character model's lone '<BOS>' stays upright too."""
    words = [t for t in tokens if not (t.startswith("<") and t.endswith(">"))]
    return 0 if sum(len(t) for t in words) <= 3 * max(1, len(words)) else -50


def pattern_title(name: str, tr: Translate = identity) -> str:
    """'encoder.1.attn.hook_pattern' -> 'encoder layer 1'; 'decoder.0.cross_attn...' -> 'cross-attention layer 0'."""
    part, layer = name.split(".")[:2]
    if ".cross_attn." in name:
        return tr(N_("cross-attention layer {layer}")).format(layer=layer)
    return {"blocks": tr(N_("self-attention layer {layer}")), "encoder": tr(N_("encoder self-attention layer {layer}")),
            "decoder": tr(N_("decoder self-attention layer {layer}"))}[part].format(layer=layer)


def entropy_heatmap(cap: AttentionCapture, height: int | None = None, *, notes: dict[str, list[str]] | None = None,
                    off_label: str | None = None, title: str | None = None, tr: Translate = identity) -> go.Figure:
    """One row per (attention family, layer), one column per head: the mean normalised entropy. 0 = every query
    looks at one key, 1 = attention spread evenly over every key the query can see. ``notes``: {pattern name:
    one line per head} printed under each value (the head lab's roles); a head the capture knocked out is marked
    with ``off_label``."""
    title = title or tr(N_("Attention entropy per layer and head"))
    off_label = off_label or tr(N_("off"))
    rows, labels, cells = [], [], []
    for family in cap.families():
        m = mean_entropy(cap, family)                                             # (layers, H)
        for l, name in enumerate(cap.names(family)):
            rows.append(m[l])
            labels.append(f"{tr(FAMILY_LABEL[family])} L{l}")
            extra = (notes or {}).get(name)
            cells.append([f"{float(v):.2f}" + (f"<br>{label(extra[h])}" if extra else "")
                          + (f"<br><b>{label(off_label)}</b>" if cap.is_knocked_out(name, h) else "")
                          for h, v in enumerate(m[l])])
    z = torch.stack(rows)                                                       # (rows, H)
    H = z.shape[1]
    zl = z.tolist()
    per_row = 42 + (18 if notes else 0) + (14 if cap.knocked_out else 0)
    data = [dict(type="heatmap", z=zl, zmin=0, zmax=1, colorscale=_VIRIDIS, xgap=2, ygap=2,
                 text=cells, texttemplate="%{text}", textfont=dict(size=12 if len(labels) <= 8 else 11),
                 colorbar=dict(title=dict(text=tr(N_("entropy")), side="right"), thickness=12, tickvals=[0, 0.5, 1],
                               ticktext=[tr(N_("0 focused")), "0.5", tr(N_("1 uniform"))]),
                 hovertemplate=tr(N_("{row} · head {head}<br>mean normalised entropy {value}")).format(
                     row="%{y}", head="%{x}", value="<b>%{z:.3f}</b>")
                 + "<extra></extra>")]
    if len(labels) > 8 and not notes:                     # a real model's 30 layers: rows fit one screen
        per_row = 24 + (14 if cap.knocked_out else 0)
    return _figure(data, title, height or 110 + per_row * len(labels),
                   xaxis=dict(tickvals=list(range(H)), ticktext=[tr(N_("head {h}")).format(h=h) for h in range(H)],
                              side="bottom"),
                   yaxis=dict(tickvals=list(range(len(labels))), ticktext=labels, autorange="reversed"))


def query_entropy(cap: AttentionCapture, name: str, head: int, *, query: int | None = None,
                  height: int = 260, title: str | None = None, tr: Translate = identity) -> go.Figure:
    """Per-query normalised entropy of one head (the row of the entropy heatmap, unfolded); ``title`` replaces the
    default one, which names the layer and head."""
    p = cap.patterns[name]
    causal = cap.is_masked_causal(name)
    ent = attention_entropy(p, causal)[head]                                    # (Q,)
    q_tok = [label(t) for t in cap.axes(name)[0]]
    n_keys = visible_keys(p.shape[-2], p.shape[-1], causal).tolist()
    colors = [ORANGE if i == query else BLUE for i in range(len(q_tok))]
    data = [dict(type="bar", x=list(range(len(q_tok))), y=ent.tolist(), marker=dict(color=colors),
                 customdata=[[t, n] for t, n in zip(q_tok, n_keys)],
                 hovertemplate=tr(N_("query {q} {token}<br>entropy {value} over {n} visible key(s)")).format(
                     q="%{x}", token="%{customdata[0]}", value="%{y:.3f}", n="%{customdata[1]}") + "<extra></extra>")]
    title = title or tr(N_("Per-query entropy · {layer} · head {head}")).format(layer=pattern_title(name, tr),
                                                                               head=head)
    return _figure(data, title, height,
                   xaxis=dict(tickvals=list(range(len(q_tok))), ticktext=q_tok, title=dict(text=tr(N_("query")))),
                   yaxis=dict(range=[0, 1.05], title=dict(text=tr(N_("entropy (0–1)")))))


def next_token_bars(probs: torch.Tensor, vocab, *, top_k: int = 10, expected: str | None = None,
                    height: int | None = None, title: str | None = None, tr: Translate = identity) -> go.Figure:
    """Horizontal bars of the top-k next tokens, most likely on top, with the percentage printed on each bar.
    ``expected`` (a character, or '<EOS>') is always shown and highlighted, even when outside the top k."""
    order = torch.argsort(probs, descending=True)
    keep = order[probs[order] > 0][:top_k].tolist()              # vectorised: a real model has ~50 000 tokens
    exp_id = vocab.stoi.get(expected) if expected else None
    if exp_id is not None and exp_id not in keep:
        keep.append(exp_id)
    keep = keep[::-1]                                                            # plotly draws bottom-up
    names = [char_label(vocab.itos[i], tr) for i in keep]
    vals = [float(probs[i]) for i in keep]
    colors = [ORANGE if i == exp_id else BLUE for i in keep]
    data = [dict(type="bar", x=vals, y=list(range(len(keep))), orientation="h", marker=dict(color=colors),
                 text=[f"{v:.1%}" for v in vals], textposition="outside", cliponaxis=False,
                 customdata=names, hovertemplate="%{customdata}: <b>%{x:.2%}</b><extra></extra>")]
    return _figure(data, title or tr(N_("What comes next?")), height or 90 + 28 * len(keep), showlegend=False,
                   bargap=0.25, yaxis=dict(tickvals=list(range(len(keep))), ticktext=names, tickfont=dict(size=14)),
                   xaxis=dict(range=[0, max(vals + [0.01]) * 1.25], tickformat=".0%",
                              title=dict(text=tr(N_("probability")))))


def next_key_weights(weights: dict[str, torch.Tensor], title: str, height: int = 300,
                     tr: Translate = identity) -> go.Figure:
    """Grouped bars: for each model (legend), the weight each head puts on key t+1."""
    fig = go.Figure()
    for i, (model, w) in enumerate(weights.items()):
        fig.add_trace(go.Bar(name=label(model), x=[tr(N_("head {h}")).format(h=h) for h in range(len(w))],
                             y=w.tolist(), marker_color=(ORANGE, BLUE, "#6c757d")[i % 3],
                             text=[f"{v:.2f}" for v in w.tolist()], textposition="outside", cliponaxis=False,
                             hovertemplate=tr(N_("{head}: {weight} on key t+1")).format(head="%{x}", weight="%{y:.4f}") + "<extra>" + label(model)
                             + "</extra>"))
    fig.update_yaxes(range=[0, 1.1], title_text=tr(N_("weight on key t+1")))
    return _layout(fig, title, height, barmode="group", legend=dict(orientation="h", y=-0.2))


def training_curves(history: list[dict], height: int = 320, saved: bool = True,
                    tr: Translate = identity) -> go.Figure:
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
        lines.append(("val_prefix_nll", tr(N_("validation NLL (honest; teacher-forced is the same for a causal "
                                               "model)")), ORANGE, "solid"))
    else:
        lines += [("val_tf_nll", tr(N_("validation NLL (teacher-forced)")), BLUE, "dash"),
                  ("val_prefix_nll", tr(N_("validation NLL (prefix-only, honest)")), ORANGE, "solid")]
    for key, name, color, dash in lines:
        fig.add_trace(go.Scatter(x=ep, y=[h[key] for h in history], name=name, mode="lines+markers",
                                 line=dict(color=color, dash=dash, width=2), marker=dict(size=4),
                                 hovertemplate=tr(N_("epoch {epoch}: {value}")).format(epoch="%{x}", value="%{y:.3f}") + "<extra>" + name + "</extra>"))
    if history:
        best = history[-1]["best_epoch"]
        mark = N_("kept epoch {epoch}") if saved else N_("best epoch {epoch} (not saved)")
        fig.add_vline(x=best, line=dict(color="#2a9d8f" if saved else "#6c757d", width=1, dash="dash"),
                      annotation_text=tr(mark).format(epoch=best), annotation_position="top left")
    fig.update_xaxes(title_text=tr(N_("epoch")))
    fig.update_yaxes(title_text=tr(N_("nats per character")))
    return _layout(fig, tr(N_("Learning curves")), height, legend=dict(orientation="h", y=-0.28))


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


def next_key_layer_bars(weights: dict[str, dict[str, torch.Tensor]], *, chance: float | None = None,
                        height: int = 320, title: str | None = None, tr: Translate = identity) -> go.Figure:
    """Grouped bars over every (layer, head): for each model (legend), the weight that head puts on key t+1.
    ``weights`` is {model label: {pattern name: (H,)}}; ``chance`` draws the even-spread level as a dashed line."""
    fig = go.Figure()
    for i, (model, by_layer) in enumerate(weights.items()):
        xs, ys = [], []
        for name, w in by_layer.items():
            layer = name.split(".")[1]
            xs += [f"L{layer} h{h}" for h in range(len(w))]
            ys += w.tolist()
        fig.add_trace(go.Bar(name=label(model), x=xs, y=ys, marker_color=(ORANGE, BLUE, "#6c757d")[i % 3],
                             text=["0" if v == 0 else f"{v:.2f}" for v in ys], textposition="outside",
                             cliponaxis=False, textfont=dict(size=11),
                             hovertemplate=tr(N_("{head}: {weight} on key t+1")).format(head="%{x}", weight="<b>%{y:.4f}</b>") + "<extra>" + label(model)
                             + "</extra>"))
    if chance and fig.data:
        _level_line(fig, chance, tr(N_("even spread ({chance:.2f})")).format(chance=chance))
    fig.update_yaxes(range=[0, 1.12], title_text=tr(N_("weight on key t+1")))
    fig.update_xaxes(title_text=tr(N_("layer · head")))
    return _layout(fig, title or tr(N_("Weight on key t+1, every cross-attention head")), height, barmode="group",
                   legend=dict(orientation="h", y=-0.3))


def nll_bars(rows: list[dict], *, uniform: float | None = None, height: int = 320,
             title: str | None = None, tr: Translate = identity) -> go.Figure:
    """Two bars per model: teacher-forced NLL (the whole word is fed in) and prefix-only NLL (only the characters
    before each position; the honest number). ``rows``: dicts with ``model``, ``teacher_forced``, ``prefix``."""
    models = [label(r["model"]) for r in rows]
    fig = go.Figure()
    for key, name, color in (("teacher_forced", tr(N_("teacher-forced (whole word fed in)")), GREY),
                             ("prefix", tr(N_("prefix-only (honest)")), ORANGE)):
        ys = [r[key] for r in rows]
        fig.add_trace(go.Bar(name=name, x=models, y=ys, marker_color=color, text=[f"{v:.2f}" for v in ys],
                             textposition="outside", cliponaxis=False,
                             hovertemplate=tr(N_("{model}: {nll} nats/char")).format(model="%{x}", nll="<b>%{y:.3f}</b>") + "<extra>" + name + "</extra>"))
    if uniform:
        _level_line(fig, uniform, tr(N_("uniform guess ({uniform:.2f})")).format(uniform=uniform))
    top = max([r["teacher_forced"] for r in rows] + [r["prefix"] for r in rows] + [uniform or 0, 0.1])
    fig.update_yaxes(range=[0, top * 1.2], title_text=tr(N_("nats per character")))
    return _layout(fig, title or tr(N_("Validation NLL, teacher-forced vs prefix-only (lower is better)")), height,
                   barmode="group", legend=dict(orientation="h", y=-0.22))


def counterfactual_bars(probs_a: torch.Tensor, probs_b: torch.Tensor, vocab, *, names: tuple[str, str] | None = None,
                        top_k: int = 5, height: int = 280, title: str | None = None,
                        tr: Translate = identity) -> go.Figure:
    """Grouped bars of two next-token distributions over the union of each one's top-k tokens."""
    ids = list(dict.fromkeys(torch.argsort(probs_a, descending=True)[:top_k].tolist()
                             + torch.argsort(probs_b, descending=True)[:top_k].tolist()))
    ids.sort(key=lambda i: -float(probs_a[i] + probs_b[i]))
    xs = [char_label(vocab.itos[i], tr) for i in ids]
    names = names or (tr(N_("source A")), tr(N_("source B")))
    fig = go.Figure()
    for p, name, color in ((probs_a, names[0], BLUE), (probs_b, names[1], ORANGE)):
        ys = [float(p[i]) for i in ids]
        fig.add_trace(go.Bar(name=label(name), x=list(range(len(ids))), y=ys, marker_color=color,
                             text=[f"{v:.0%}" if v >= 0.005 else "" for v in ys], textposition="outside",
                             cliponaxis=False, textfont=dict(size=12),
                             customdata=xs, hovertemplate="%{customdata}: <b>%{y:.2%}</b><extra>" + label(name)
                             + "</extra>"))
    fig.update_xaxes(tickvals=list(range(len(ids))), ticktext=xs, tickfont=dict(size=14), tickangle=0)
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title_text=tr(N_("probability")))
    return _layout(fig, title or tr(N_("Next character")), height, barmode="group", legend=dict(orientation="h", y=-0.22))


def last_row_heatmap(cap: AttentionCapture, *, families: tuple[str, ...] | None = None, height: int | None = None,
                     title: str | None = None, tr: Translate = identity) -> go.Figure:
    """The attention of the newest position only: one row per (layer, head), the last query row of each pattern,
    over that pattern's keys. For the enc-dec model the decoder-side families are shown by default (decoder
    self-attention and cross-attention); every row here sees all its keys, so nothing is masked."""
    families = families or (("decoder", "cross") if cap.is_seq2seq else ("blocks",))
    rows, labels, k_tok = [], [], None
    for family in families:
        for name in cap.names(family):
            p = cap.patterns[name][0, :, -1, :]                                 # (H, K): last query row per head
            k_tok = cap.axes(name)[1] if k_tok is None else k_tok
            for h in range(p.shape[0]):
                rows.append(p[h])
                labels.append(f"{tr(FAMILY_LABEL[family])} L{name.split('.')[1]} h{h}")
    K = max(len(r) for r in rows)
    z = [r.tolist() + [float("nan")] * (K - len(r)) for r in rows]              # decoder / cross keys match in length
    kt = [label(t) for t in k_tok][:K]
    newest = label(cap.tgt_tokens[-1])
    fig = go.Figure(go.Heatmap(
        z=z, zmin=0, zmax=1, colorscale="Blues", xgap=1, ygap=1,
        customdata=[[[lab, kt[k] if k < len(kt) else ""] for k in range(K)] for lab in labels],
        colorbar=dict(title=dict(text=tr(N_("weight")), side="right"), thickness=12, len=0.9),
        hovertemplate=tr(N_("{row} → key {k} {k_token}<br>weight {weight}")).format(
            row="%{customdata[0]}", k="%{x}", k_token="%{customdata[1]}", weight="<b>%{z:.4f}</b>")
        + "<extra></extra>"))
    fig.update_xaxes(tickvals=list(range(K)), ticktext=kt, title_text=tr(N_("key (attended to)")), tickangle=0)
    fig.update_yaxes(tickvals=list(range(len(labels))), ticktext=labels, autorange="reversed")
    title = title or tr(N_("What the newest position “{token}” attends to")).format(token=newest)
    return _layout(fig, title, height or
                   int(min(640, max(200, 110 + 22 * len(labels)))))


def generation_strip(tokens: list[str], probs: list[float], *, current: int | None = None,
                     height: int = 230, title: str | None = None, tr: Translate = identity) -> go.Figure:
    """One bar per generation step: the token chosen (printed on the bar) and the probability it had; the
    current step in orange."""
    names = [char_label(t, tr) for t in tokens]
    colors = [ORANGE if i == current else BLUE for i in range(len(tokens))]
    fig = go.Figure(go.Bar(x=list(range(len(tokens))), y=probs, marker_color=colors, text=names,
                           textposition="outside", cliponaxis=False, textfont=dict(size=14),
                           customdata=names,
                           hovertemplate=tr(N_("step {i}: {token} with p = {p}")).format(i="%{x}", token="%{customdata}", p="<b>%{y:.2%}</b>") + "<extra></extra>"))
    fig.update_xaxes(tickvals=list(range(len(tokens))), ticktext=[str(i) for i in range(len(tokens))],
                     title_text=tr(N_("step")))
    fig.update_yaxes(range=[0, 1.2], tickformat=".0%", title_text=tr(N_("p(chosen)")))
    return _layout(fig, title or tr(N_("Chosen token and its probability, step by step")), height, showlegend=False)


def head_grid(cap: AttentionCapture, name: str, *, cols: int = 2, height: int | None = None,
              title: str | None = None, tr: Translate = identity) -> go.Figure:
    """Every head of one pattern as small heatmaps in one figure (``cols`` per row, one shared colour bar):
    readable side by side in half a page, where one chart per head in narrow columns is not."""
    from plotly.subplots import make_subplots
    H = cap.patterns[name].shape[1]
    cols = max(1, min(cols, H))
    rows = -(-H // cols)
    q_tok, k_tok = (tuple(label(t) for t in ts) for ts in cap.axes(name))
    Q, K = len(q_tok), len(k_tok)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[tr(N_("head {h}")).format(h=h) for h in range(H)], shared_xaxes=True,
                        shared_yaxes=True, horizontal_spacing=0.04, vertical_spacing=min(0.1, 0.3 / rows))
    for h in range(H):
        r, c = h // cols + 1, h % cols + 1
        for trace in attention_heatmap(cap, name, h, tr=tr).data:   # same cells, hover text and grey mask as one head
            if trace.showscale is not False:
                trace.showscale = h == 0
            fig.add_trace(trace, row=r, col=c)
        # No fixed tick angle: plotly turns the labels only where neighbours would collide ("<BOS>c" in a narrow grid)
        fig.update_xaxes(tickvals=list(range(K)), ticktext=list(k_tok), showgrid=False, zeroline=False,
                         tickfont=dict(size=11), title_text=tr(N_("key")) if r == rows else None, row=r, col=c)
        fig.update_yaxes(tickvals=list(range(Q)), ticktext=list(q_tok), autorange="reversed", showgrid=False,
                         zeroline=False, title_text=tr(N_("query")) if c == 1 else None, row=r, col=c)
    fig.update_annotations(font=dict(size=13))
    size = height or int(min(900, 60 + rows * max(200, 40 + 19 * Q)))
    _layout(fig, title or tr(N_("{layer} · all heads")).format(layer=pattern_title(name, tr)), size)
    return _title_above_subplot_titles({"annotations": [a.to_plotly_json() for a in fig.layout.annotations]}, fig)


def _has_subplot_titles(layout: dict) -> bool:
    """Whether make_subplots put titles above the top row (annotations anchored at the top of the plot area)."""
    return any(a.get("yanchor") == "bottom" and a.get("yref", "paper") == "paper" and float(a.get("y", 0)) >= 0.98
               for a in layout.get("annotations") or ())


def _title_above_subplot_titles(layout: dict, fig: go.Figure | None = None, title_px: int = 15,
                                annotation_px: int = 13) -> go.Figure | dict:
    """The chart's title pinned to the top and the top margin made room for it *and* the subplot titles under it,
    so the two never overlap (they did in every head grid). Changes ``fig`` (or the ``layout`` dict) in place."""
    if not _has_subplot_titles(layout):
        return fig if fig is not None else layout
    top = int(title_px * 1.5 + annotation_px * 1.8 + 16)
    title = dict(yref="container", y=1, yanchor="top", pad=dict(t=6))
    if fig is not None:
        fig.update_layout(title=title, margin=dict(t=max(top, fig.layout.margin.t or 0)))
        return fig
    t = layout.get("title") or {}
    layout["title"] = {**({"text": t} if isinstance(t, str) else t), **title}
    layout["margin"] = {**(layout.get("margin") or {}), "t": max(top, (layout.get("margin") or {}).get("t", 0))}
    return layout


def layer_head_grid(cap: AttentionCapture, *, title: str, head_label: str | None = None,
                    tr: Translate = identity) -> go.Figure:
    """BertViz's model view as a chart that stays readable on a projector: one small heatmap per layer (row) and
    head (column), every pattern of the capture in :func:`entropy_heatmap`'s order, each row labelled as there
    ("encoder L0", "cross L1") and each column with ``head_label`` (``{h}``, translated by the page); query tokens
    down the first column, key tokens under the last row of each run of rows that share them. The cells, hover
    text and grey mask are :func:`attention_heatmap`'s, in ``tr``'s language like the row labels."""
    from plotly.subplots import make_subplots
    head_label = head_label or tr(N_("head {h}"))
    # two lines ("decoder self" over "L0"): a label written down the side is no taller than its row of cells
    rows = [(f"{label(tr(FAMILY_LABEL[family]))}<br>L{l}", name)
            for family in cap.families() for l, name in enumerate(cap.names(family))]
    H = max(cap.patterns[n].shape[1] for _, n in rows)
    fig = make_subplots(rows=len(rows), cols=H, column_titles=[head_label.format(h=h) for h in range(H)],
                        horizontal_spacing=0.015, vertical_spacing=min(0.12, 0.45 / len(rows)))
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
            fig.update_xaxes(tickvals=list(range(len(k_tok))), ticktext=list(k_tok), showticklabels=last_of_run,
                             ticks="", showgrid=False, zeroline=False, tickfont=dict(size=11), row=r, col=h + 1)
            fig.update_yaxes(tickvals=list(range(len(q_tok))), ticktext=list(q_tok), autorange="reversed",
                             ticks="", showgrid=False, zeroline=False, tickfont=dict(size=11), showticklabels=h == 0,
                             title_text=row_label if h == 0 else None, row=r, col=h + 1)
    fig.update_annotations(font=dict(size=13))
    return _layout(fig, title, int(80 + len(rows) * max(140, 50 + 16 * Q)))


# ---- export -------------------------------------------------------------------------------------------------------
# A 16:9 slide, exported at scale 2 (2560 x 1440 pixels): sharp on a 1920 x 1080 projector, and the fonts below stay
# readable from the back of a classroom. The page's figures rely on Streamlit's theme for margins that fit their
# labels; kaleido renders without it, so an export needs its own layout.
SLIDE_WIDTH, SLIDE_HEIGHT, SLIDE_SCALE = 1280, 720, 2
SLIDE_FONT = 20                # px at SLIDE_WIDTH; titles larger, crowded tick labels smaller (never below 11)
_SLIDE_MIN_TICK_FONT = 11
_AXIS_KEY = re.compile(r"^[xy]axis\d*$")


def for_slide(fig: go.Figure, *, subtitle: str | None = None, width: int = SLIDE_WIDTH, height: int = SLIDE_HEIGHT,
              font_size: int = SLIDE_FONT) -> go.Figure:
    """A slide-sized copy of a figure from this module, for PNG / SVG export; ``fig`` is not changed.

    Every axis that lists its ticks (``tickvals`` / ``ticktext``: the tokens, the layer names) shows all of them
    (``tickmode="array"``), in a font sized so neighbouring labels don't overlap; margins grow to fit the tick labels
    and the axis titles, which stand off from the cells (plotly's ``automargin``); titles, colour bars, cell text,
    annotations and legends get projector-sized fonts. ``subtitle`` (plain text, e.g. the model and the word) is
    html-escaped and shown under the title."""
    d = fig.to_dict()                                                  # a deep copy as plain dicts
    lay = d.setdefault("layout", {})
    title = lay.get("title") or {}
    title = {"text": title} if isinstance(title, str) else dict(title)
    title.update(x=0.01, xanchor="left", xref="container", y=0.97, yanchor="top", yref="container",
                 font={**title.get("font", {}), "size": font_size + 8})
    if subtitle:
        title["subtitle"] = {"text": label(subtitle), "font": {"size": font_size}}
    top = 60 + (font_size + 8) + (font_size + 12 if subtitle else 0)
    lay.update(width=width, height=height, title=title, font={**lay.get("font", FONT), "size": font_size},
               margin=dict(l=24, r=48, t=top, b=24, pad=4), autosize=False)
    plot_w, plot_h = width - 220, height - top - 80                   # what is left for the cells, roughly
    for key in [k for k in lay if _AXIS_KEY.match(k)]:
        ax = lay[key]
        n_ticks = len(ax.get("tickvals") or ())
        tick_font = font_size
        if n_ticks:
            ax["tickmode"] = "array"
            room = (plot_w if key.startswith("x") else plot_h) / n_ticks / _subplots_along(lay, key[0])
            longest = max((len(html.unescape(str(t))) for t in ax.get("ticktext") or ()), default=1)
            # A y label needs a line's height; an x label its width (~0.62 em a character) unless it is turned
            # upright, which crowded x axes (a 48-token word with "<UNK>"s) need.
            fits = room / 1.15
            if key.startswith("x"):
                wide = room / max(0.62 * longest, 1)
                if wide >= min(font_size, 0.8 * fits):
                    fits = wide
                else:
                    ax["tickangle"] = -90
            tick_font = int(max(_SLIDE_MIN_TICK_FONT, min(font_size, fits)))
        ax["tickfont"] = {**ax.get("tickfont", {}), "size": tick_font}
        ax["automargin"] = True
        if ax.get("title"):
            t = ax["title"] if isinstance(ax["title"], dict) else {"text": ax["title"]}
            ax["title"] = {**t, "font": {**t.get("font", {}), "size": font_size + 2}, "standoff": 16}
    _enlarge(d, font_size)
    return go.Figure(_inked(d), skip_invalid=False)


def _enlarge(d: dict, font_size: int) -> None:
    """Colour bars, cell / bar text, annotations and legends of figure dict ``d`` at ``font_size`` (annotations and
    colour-bar titles 2 px larger), in place: what a slide and the projector share."""
    lay = d.setdefault("layout", {})
    for tr in d.get("data", []):
        if "colorbar" in tr or tr.get("type") == "heatmap":
            cb = tr.setdefault("colorbar", {})
            cb["tickfont"] = {**cb.get("tickfont", {}), "size": font_size}
            cbt = cb.get("title") or {}
            cb["title"] = {**cbt, "font": {**cbt.get("font", {}), "size": font_size + 2}} if cbt else cbt
            cb["thickness"] = max(cb.get("thickness", 0), 22)
        if "textfont" in tr or tr.get("texttemplate") or (tr.get("text") and tr.get("type") == "bar"):
            tr["textfont"] = {**tr.get("textfont", {}), "size": font_size}
    for a in lay.get("annotations", []):
        a["font"] = {**a.get("font", {}), "size": font_size + 2}
    if "legend" in lay or len(d.get("data", [])) > 1:
        lay["legend"] = {**lay.get("legend", {}), "font": {**lay.get("legend", {}).get("font", {}),
                                                           "size": font_size}}


def _inked(d: dict) -> dict:
    """Figure dict ``d`` with every text in :data:`INK`, in place (and returned): the layout font, the title, each
    axis's tick labels and title, colour bars, annotations and the legend. Explicit, because Streamlit's theme would
    otherwise draw tick labels in a light grey (~3.7:1 on white; INK is 15:1)."""
    lay = d.setdefault("layout", {})
    ink = lambda f: {**(f or {}), "color": INK}
    lay["font"] = ink(lay.get("font") or FONT)
    if isinstance(lay.get("title"), dict):
        lay["title"]["font"] = ink(lay["title"].get("font"))
    for key in {"xaxis", "yaxis", *(k for k in lay if _AXIS_KEY.match(k))}:
        ax = lay.setdefault(key, {})
        ax["tickfont"] = ink(ax.get("tickfont"))
        # plotly.js otherwise measures every tick label after drawing it, to hide the ones past the chart's edge:
        # ~55 ms of a keystroke's ~600 ms in Chromium here (Explore's four charts). Margins fit the labels anyway.
        ax.setdefault("ticklabeloverflow", "allow")
        if isinstance(ax.get("title"), dict):
            ax["title"]["font"] = ink(ax["title"].get("font"))
    for tr in d.get("data", []):
        if "colorbar" in tr:
            cb = tr["colorbar"]
            cb["tickfont"] = ink(cb.get("tickfont"))
            if isinstance(cb.get("title"), dict):
                cb["title"]["font"] = ink(cb["title"].get("font"))
    for a in lay.get("annotations", []):
        a["font"] = ink(a.get("font"))
    if "legend" in lay:
        lay["legend"]["font"] = ink(lay["legend"].get("font"))
    return d


def for_screen(fig: go.Figure) -> go.Figure:
    """What a page draws: every text in :data:`INK` (tick labels included; contrast 15:1 on white); ``fig`` is not
    changed. A figure the per-keystroke builders made (:func:`_figure`) is inked already and drawn as it is; any
    other gets an inked copy, built without validation (the builders' output is validated in tests/test_viz.py)."""
    if getattr(fig, "_inked", False):
        return fig
    return go.Figure(_inked(fig.to_dict()), _validate=False)


PROJECTOR_FONT = 20            # px: body text of a chart on a 1920 x 1080 projector
PROJECTOR_TICK_FONT = 18       # px: tick labels (>= 16 even where a builder asked for smaller)
_PROJECTOR_HEIGHT = 1.3        # the fonts grow, so the cells need more room


def for_projector(fig: go.Figure) -> go.Figure:
    """The copy a page draws in projector mode; ``fig`` is not changed: every text in :data:`INK`, tick labels at
    :data:`PROJECTOR_TICK_FONT`, titles, colour bars, cell text, annotations and legends at :data:`PROJECTOR_FONT`
    or larger, margins that grow to fit the labels (``automargin``), no fixed width (the page sizes the chart to
    its column) and a height scaled for the larger text."""
    d = fig.to_dict()
    lay = d.setdefault("layout", {})
    lay.pop("width", None)
    lay["autosize"] = True
    if lay.get("height"):
        lay["height"] = int(lay["height"] * _PROJECTOR_HEIGHT)
    title = lay.get("title") or {}
    title = {"text": title} if isinstance(title, str) else dict(title)
    title["font"] = {**title.get("font", {}), "size": PROJECTOR_FONT + 4}
    lay["title"] = title
    lay["font"] = {**(lay.get("font") or FONT), "size": PROJECTOR_FONT}
    margin = lay.get("margin") or {}
    lay["margin"] = {**margin, "t": max(margin.get("t", 0), 2 * (PROJECTOR_FONT + 4) + 8)}
    for key in {"xaxis", "yaxis", *(k for k in lay if _AXIS_KEY.match(k))}:
        ax = lay.setdefault(key, {})
        ax["tickfont"] = {**ax.get("tickfont", {}), "size": PROJECTOR_TICK_FONT}
        ax["automargin"] = True
        if ax.get("title"):
            t = ax["title"] if isinstance(ax["title"], dict) else {"text": ax["title"]}
            ax["title"] = {**t, "font": {**t.get("font", {}), "size": PROJECTOR_FONT}}
    _enlarge(d, PROJECTOR_FONT)
    _title_above_subplot_titles(lay, title_px=PROJECTOR_FONT + 4, annotation_px=PROJECTOR_FONT + 2)
    return go.Figure(_inked(d), _validate=False)


def _subplots_along(layout: dict, axis: str) -> int:
    """How many subplots share the slide along x or y (make_subplots' axis domains), so each gets its share."""
    starts = {tuple(layout[k].get("domain", (0, 1))) for k in layout if _AXIS_KEY.match(k) and k[0] == axis}
    return max(1, len(starts))
# ---- Head lab -----------------------------------------------------------------------------------------------------

# PuOr (ColorBrewer), diverging and colour-blind safe: purple below 0, white at 0, orange above.
_PUOR = [[i / 10, c] for i, c in enumerate(("#2d004b", "#542788", "#8073ac", "#b2abd2", "#d8daeb", "#f7f7f7",
                                             "#fee0b6", "#fdb863", "#e08214", "#b35806", "#7f3b08"))]


def _pair_labels(a: tuple[str, ...], b: tuple[str, ...], n: int) -> list[str]:
    """Tick labels for two inputs compared position by position: 'x' where they agree, 'x→y' where they differ."""
    return [label(a[i]) if a[i] == b[i] else f"{label(a[i])}→{label(b[i])}" for i in range(n)]


def _diverging(z: list, m: float, **kw) -> dict:
    return dict(type="heatmap", z=z, zmin=-m, zmax=m, zmid=0, colorscale=_PUOR, xgap=1, ygap=1, **kw)


def diff_heatmaps(diffs: dict[str, torch.Tensor], cap_a: AttentionCapture, cap_b: AttentionCapture, *, title: str,
                  row_titles: dict[str, str], head_label: str | None = None, colorbar_title: str = "B − A",
                  height: int | None = None, tr: Translate = identity) -> go.Figure:
    """Every head of every pattern's difference B - A (``viz.metrics.pattern_differences``), one row of small
    heatmaps per pattern, on one diverging scale centred on 0 (purple: A attends more, orange: B attends more)."""
    from plotly.subplots import make_subplots
    head_label = head_label or tr(N_("head {h}"))
    names = list(diffs)
    H = max(d.shape[0] for d in diffs.values())
    m = max(1e-3, max(float(d.abs().max()) for d in diffs.values()))
    subtitles = [label(f"{row_titles.get(n, n)} · {head_label.format(h=h)}") if h < diffs[n].shape[0] else ""
                 for n in names for h in range(H)]
    fig = make_subplots(rows=len(names), cols=H, subplot_titles=subtitles, horizontal_spacing=0.03,
                        vertical_spacing=min(0.08, 0.4 / max(1, len(names))))
    for r, name in enumerate(names, start=1):
        d = diffs[name]
        Q, K = d.shape[1:]
        (qa, ka), (qb, kb) = cap_a.axes(name), cap_b.axes(name)
        qt, kt = _pair_labels(qa, qb, Q), _pair_labels(ka, kb, K)
        for h in range(d.shape[0]):
            fig.add_trace(go.Heatmap(**_diverging(d[h].tolist(), m, showscale=(r == 1 and h == 0),
                                                  colorbar=dict(title=dict(text=label(colorbar_title), side="right"),
                                                                thickness=12, len=0.6),
                                                  hovertemplate=tr(N_("query {q} → key {k}")).format(q="%{y}", k="%{x}") +
                                                  "<br>B − A <b>%{z:+.4f}</b><extra></extra>")), row=r, col=h + 1)
            fig.update_xaxes(tickvals=list(range(K)), ticktext=kt, tickangle=0, tickfont=dict(size=10),
                             showgrid=False, zeroline=False, row=r, col=h + 1)
            fig.update_yaxes(tickvals=list(range(Q)), ticktext=qt, autorange="reversed", tickfont=dict(size=10),
                             showgrid=False, zeroline=False, showticklabels=h == 0, row=r, col=h + 1)
    fig.update_annotations(font=dict(size=12))
    size = height or int(min(1400, 80 + len(names) * max(170, 50 + 16 * max(d.shape[1] for d in diffs.values()))))
    return _layout(fig, title, size)


def next_token_diff_heatmap(diff: torch.Tensor, cap_a: AttentionCapture, cap_b: AttentionCapture, vocab, *,
                            title: str, x_title: str, y_title: str, eos_label: str = "<EOS>",
                            colorbar_title: str = "B − A", height: int | None = None,
                            tr: Translate = identity) -> go.Figure:
    """(Q, V) B - A of the next-token distribution at every position (``viz.metrics.next_token_differences``),
    one row per position, one column per token a word can continue with (<EOS> labelled ``eos_label``, then the
    characters; <PAD>, <BOS> and <UNK> are never targets)."""
    cols = [i for i, t in enumerate(vocab.itos) if t not in ("<PAD>", "<BOS>", "<UNK>")]
    Q = diff.shape[0]
    z = diff[:, cols]
    m = max(1e-3, float(z.abs().max()))
    qt = _pair_labels(cap_a.tgt_tokens, cap_b.tgt_tokens, Q)
    xt = [label(eos_label) if vocab.itos[i] == EOS else label(vocab.itos[i]) for i in cols]
    data = [_diverging(z.tolist(), m, colorbar=dict(title=dict(text=label(colorbar_title), side="right"),
                                                    thickness=12),
                       customdata=[[xt[j] for j in range(len(cols))] for _ in range(Q)],
                       hovertemplate=tr(N_("after {q}: {token}")).format(q="%{y}", token="%{customdata}") + "<br>B − A <b>%{z:+.4f}</b>"
                                     "<extra></extra>")]
    return _figure(data, title, height or int(min(560, 120 + 26 * Q)),
                   xaxis=dict(tickvals=list(range(len(cols))), ticktext=xt, tickangle=0, title=dict(text=x_title),
                              showgrid=False, zeroline=False),
                   yaxis=dict(tickvals=list(range(Q)), ticktext=qt, autorange="reversed", title=dict(text=y_title),
                              showgrid=False, zeroline=False))


def rollout_figure(panels: list[tuple[str, torch.Tensor]], q_tok: tuple[str, ...], k_tok: tuple[str, ...], *,
                   title: str, x_title: str, y_title: str, height: int | None = None,
                   tr: Translate = identity) -> go.Figure:
    """Heatmaps side by side on one 0..1 scale: ``panels`` is [(subplot title, (Q, K) tensor)], e.g. each layer's
    raw head-mean pattern, then the rollout."""
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[label(t) for t, _ in panels],
                        horizontal_spacing=0.04)
    qt, kt = [label(t) for t in q_tok], [label(t) for t in k_tok]
    for c, (_, z) in enumerate(panels, start=1):
        Q, K = z.shape
        fig.add_trace(go.Heatmap(z=z.tolist(), zmin=0, zmax=1, colorscale=_BLUES, xgap=1, ygap=1,
                                 showscale=c == len(panels), colorbar=dict(thickness=12, len=0.9),
                                 hovertemplate=tr(N_("query {q} → key {k}")).format(q="%{y}", k="%{x}") + ": <b>%{z:.3f}</b><extra></extra>"),
                      row=1, col=c)
        fig.update_xaxes(tickvals=list(range(K)), ticktext=kt[:K], tickangle=0, tickfont=dict(size=11),
                         title_text=x_title, showgrid=False, zeroline=False, row=1, col=c)
        fig.update_yaxes(tickvals=list(range(Q)), ticktext=qt[:Q], autorange="reversed", tickfont=dict(size=11),
                         title_text=y_title if c == 1 else None, showticklabels=c == 1, showgrid=False,
                         zeroline=False, row=1, col=c)
    fig.update_annotations(font=dict(size=13))
    return _layout(fig, title, height or int(min(560, max(260, 110 + 22 * len(q_tok)))))


def attention_vs_importance(tokens: tuple[str, ...], attention: torch.Tensor, importance: list[float], *,
                            title: str, attention_title: str, importance_title: str,
                            height: int = 420) -> go.Figure:
    """Two bar charts over the same input positions: the query's attention weights (top) and the leave-one-out
    importance of each position (bottom: orange, the top choice loses probability without that character; purple,
    it gains). ``None`` = not measured (``<BOS>``, which is never replaced): no bar."""
    from plotly.subplots import make_subplots
    xt = [label(t) for t in tokens]
    x = list(range(len(tokens)))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        subplot_titles=[label(attention_title), label(importance_title)])
    att = attention.tolist()
    fig.add_trace(go.Bar(x=x, y=att, marker_color=BLUE, text=[f"{v:.2f}" for v in att], textposition="outside",
                         cliponaxis=False, customdata=xt, hovertemplate="%{customdata}: <b>%{y:.3f}</b><extra></extra>"),
                  row=1, col=1)
    colors = [ORANGE if v is None or v >= 0 else "#542788" for v in importance]
    fig.add_trace(go.Bar(x=x, y=importance, marker_color=colors,
                         text=["" if v is None else f"{v:+.2f}" for v in importance],
                         textposition="outside", cliponaxis=False, customdata=xt,
                         hovertemplate="%{customdata}: <b>%{y:+.3f}</b><extra></extra>"), row=2, col=1)
    known = [v for v in importance if v is not None]
    top = max([abs(v) for v in known] + [0.05]) * 1.3
    fig.update_yaxes(range=[0, max(att + [0.05]) * 1.3], row=1, col=1)
    fig.update_yaxes(range=[-top if min(known + [0]) < -0.005 else 0, top], zeroline=True, zerolinecolor="#6c757d",
                     row=2, col=1)
    fig.update_xaxes(tickvals=x, ticktext=xt, tickangle=0, tickfont=dict(size=14), showticklabels=True)
    fig.update_annotations(font=dict(size=13))
    return _layout(fig, title, height, showlegend=False)
def candidate_heads_bars(weights: dict[str, torch.Tensor], *, n: int = 6, height: int = 330,
                         title: str | None = None, y_title: str | None = None, word_label: str = "{word}",
                         tr: Translate = identity) -> go.Figure:
    """Grouped bars over the heads that put the most weight on any candidate (``weights``: {word: (layers, H)}):
    for each of those ``n`` heads, one bar per candidate word. Head labels 'L13 h8' (layer 13, head 8)."""
    stacked = torch.stack(list(weights.values()))                               # (words, layers, H)
    best = stacked.amax(0).flatten()                                            # (layers * H,)
    H = stacked.shape[-1]
    picks = best.topk(min(n, best.numel())).indices.tolist()
    xs = [f"L{i // H} h{i % H}" for i in picks]
    data = []
    for j, (word, w) in enumerate(weights.items()):
        vals = [float(w.flatten()[i]) for i in picks]
        name = label(word_label.format(word=word))
        data.append(dict(type="bar", name=name, x=xs, y=vals, marker=dict(color=(ORANGE, BLUE, "#6c757d")[j % 3]),
                         text=[f"{v:.2f}" for v in vals], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}: <b>%{y:.3f}</b><extra>" + name + "</extra>"))
    return _figure(data, title or tr(N_("Heads that look hardest at each word")), height, barmode="group",
                   legend=dict(orientation="h", y=-0.18),
                   yaxis=dict(range=[0, 1.1], title=dict(text=y_title or tr(N_("attention weight")))),
                   xaxis=dict(tickangle=0))
