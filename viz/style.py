"""How every figure looks: the palette, fonts and colour scales, token labels, and the one layout every figure gets
(:func:`layout`: title, height, fonts, margins, background). A builder ends in one of two calls that both apply it:
:func:`figure` (plain trace / layout dicts, unvalidated, already inked: the per-keystroke charts) or
:func:`house_layout` (a figure built with plotly's graph objects: subplots, shapes, reference lines).
Pure (no streamlit).

Words: a builder takes ``tr`` (viz.labels.Translate; pages pass ``ui.i18n._``) and translates its own titles, axis
titles, legend names and hover words, marked with ``N_()`` so the catalog finds them. A caller passes text only for
what names its data (a title override, the legend names of the distributions it compares).

Tokens are plotted at integer positions with ``tickvals``/``ticktext``: a categorical axis would merge the two
"a"s of "banana" into one row.
"""

from __future__ import annotations

import html
import re

import plotly.graph_objects as go

from models.vocab import EOS
from viz.labels import N_, Translate, identity

FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
FAMILY_LABEL = {"blocks": N_("self"), "encoder": N_("encoder"), "decoder": N_("decoder self"), "cross": N_("cross")}
# Okabe-Ito blue and orange: a categorical pair that stays distinct under deuteranopia and protanopia.
BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#c9ced6"
INK = "#262730"  # every chart text: Streamlit's body colour, 15:1 on white (WCAG AAA needs 7:1)
# Named colour scales spelled out, as plotly's validator would expand them (unvalidated figures send them as is).
BLUES = [
    [i / 8, c]
    for i, c in enumerate(
        ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
    )
]
VIRIDIS = [
    [i / 9, c]
    for i, c in enumerate(
        ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725")
    )
]


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
_TEMPLATE = {
    "data": {"heatmap": [{"colorbar": {"outlinewidth": 0, "ticks": ""}}], "bar": [{"marker": {"line": {"width": 0}}}]},
    "layout": {"hoverlabel": {"align": "left"}},
}


def layout(title: str, height: int, /, *, font_size: int | None = None, ink: str | None = None, **kw) -> dict:
    """The house layout: the title at the top left, ``height``, the font, 10 px side margins, a white background.
    At the house size (``font_size`` None) the text is :data:`FONT` and the title 15 px. With ``font_size`` (the
    Lesson's figures, sized for a projector by their page) the text is that size in ``ink``, the title 2 px larger
    and the top margin grows with it; the figure also fills its column (``autosize``). ``kw`` adds to it and
    replaces a key of the same name (a figure that needs other margins says so)."""
    if font_size is None:
        base = dict(
            title=dict(text=title, x=0, xanchor="left", font=dict(size=15)),
            height=height,
            font=FONT,
            margin=dict(l=10, r=10, t=44, b=10),
        )
    else:
        base = dict(
            title=dict(text=title, x=0, xanchor="left", font=dict(size=font_size + 2, color=ink)),
            height=height,
            autosize=True,
            font=dict(size=font_size, color=ink),
            margin=dict(l=10, r=10, t=font_size * 3 + 8, b=10),
        )
    return {**base, "paper_bgcolor": "white", "plot_bgcolor": "white", **kw}


def figure(data: list[dict], title: str, height: int, /, **layout_kw) -> go.Figure:
    """A figure from plain trace / layout dicts, unvalidated (see _TEMPLATE's comment), with the house layout and
    every text already in :data:`INK`, so viz.display.for_screen can draw it as it is (a second copy of each chart on
    every keystroke cost ~10 % of a Compare rerun)."""
    return from_spec(inked({"data": data, "layout": {"template": _TEMPLATE, **layout(title, height, **layout_kw)}}))


def from_spec(spec: dict) -> go.Figure:
    """The figure of an inked dict: one :func:`figure` built, or its ``to_dict()`` (a cache keeps the dict: unpickling
    it is cheap, a Figure would be validated again), unvalidated and marked inked as :func:`figure` made it."""
    fig = go.Figure(spec, _validate=False)
    fig._inked = True  # read by for_screen; plotly figures accept attributes named with a leading "_"
    return fig


def house_layout(fig: go.Figure, title: str, height: int, /, **kw) -> go.Figure:
    """:func:`layout` on a figure built with plotly's graph objects (subplots, shapes, reference lines), in place;
    validated, so a page draws an inked copy of it. ``kw``: :func:`layout`'s (``font_size``, ``ink``, more layout)."""
    fig.update_layout(**layout(title, height, **kw))
    return fig


def pattern_title(name: str, tr: Translate = identity) -> str:
    """'encoder.1.attn.hook_pattern' -> 'encoder layer 1'; 'decoder.0.cross_attn...' -> 'cross-attention layer 0'."""
    part, layer = name.split(".")[:2]
    if ".cross_attn." in name:
        return tr(N_("cross-attention layer {layer}")).format(layer=layer)
    return {
        "blocks": tr(N_("self-attention layer {layer}")),
        "encoder": tr(N_("encoder self-attention layer {layer}")),
        "decoder": tr(N_("decoder self-attention layer {layer}")),
    }[part].format(layer=layer)


def _has_subplot_titles(layout: dict) -> bool:
    """Whether make_subplots put titles above the top row (annotations anchored at the top of the plot area)."""
    return any(
        a.get("yanchor") == "bottom" and a.get("yref", "paper") == "paper" and float(a.get("y", 0)) >= 0.98
        for a in layout.get("annotations") or ()
    )


def title_above_subplot_titles(
    layout: dict, fig: go.Figure | None = None, title_px: int = 15, annotation_px: int = 13
) -> go.Figure | dict:
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


AXIS_KEY = re.compile(r"^[xy]axis\d*$")


def inked(d: dict) -> dict:
    """Figure dict ``d`` with every text in :data:`INK`, in place (and returned): the layout font, the title, each
    axis's tick labels and title, colour bars, annotations and the legend. Explicit, because Streamlit's theme would
    otherwise draw tick labels in a light grey (~3.7:1 on white; INK is 15:1)."""
    lay = d.setdefault("layout", {})
    ink = lambda f: {**(f or {}), "color": INK}
    lay["font"] = ink(lay.get("font") or FONT)
    if isinstance(lay.get("title"), dict):
        lay["title"]["font"] = ink(lay["title"].get("font"))
    for key in {"xaxis", "yaxis", *(k for k in lay if AXIS_KEY.match(k))}:
        ax = lay.setdefault(key, {})
        ax["tickfont"] = ink(ax.get("tickfont"))
        # plotly.js otherwise measures every tick label after drawing it, to hide the ones past the chart's edge:
        # ~55 ms of a keystroke's ~600 ms in Chromium here (Explore's four charts). Margins fit the labels anyway.
        ax.setdefault("ticklabeloverflow", "allow")
        if isinstance(ax.get("title"), dict):
            ax["title"]["font"] = ink(ax["title"].get("font"))
    for trace in d.get("data", []):
        if "colorbar" in trace:
            cb = trace["colorbar"]
            cb["tickfont"] = ink(cb.get("tickfont"))
            if isinstance(cb.get("title"), dict):
                cb["title"]["font"] = ink(cb["title"].get("font"))
    for a in lay.get("annotations", []):
        a["font"] = ink(a.get("font"))
    if "legend" in lay:
        lay["legend"]["font"] = ink(lay["legend"].get("font"))
    return d
