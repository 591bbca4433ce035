"""The copies of a figure that a page or an export draws: on screen (:func:`for_screen`), on a projector
(:func:`for_projector`) and as a 16:9 slide (:func:`for_slide`). Each leaves its input unchanged. Pure (no
streamlit).
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from viz.style import AXIS_KEY, FONT, inked, label, title_above_subplot_titles


def for_screen(fig: go.Figure) -> go.Figure:
    """What a page draws: every text in :data:`INK` (tick labels included; contrast 15:1 on white); ``fig`` is not
    changed. A figure the per-keystroke builders made (viz.style.figure) is inked already and drawn as it is; any
    other gets an inked copy, built without validation (the builders' output is validated in tests/test_viz.py)."""
    if getattr(fig, "_inked", False):
        return fig
    return go.Figure(inked(fig.to_dict()), _validate=False)


PROJECTOR_FONT = 20  # px: body text of a chart on a 1920 x 1080 projector
PROJECTOR_TICK_FONT = 18  # px: tick labels (>= 16 even where a builder asked for smaller)
_PROJECTOR_HEIGHT = 1.3  # the fonts grow, so the cells need more room


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
    for key in {"xaxis", "yaxis", *(k for k in lay if AXIS_KEY.match(k))}:
        ax = lay.setdefault(key, {})
        ax["tickfont"] = {**ax.get("tickfont", {}), "size": PROJECTOR_TICK_FONT}
        ax["automargin"] = True
        if ax.get("title"):
            t = ax["title"] if isinstance(ax["title"], dict) else {"text": ax["title"]}
            ax["title"] = {**t, "font": {**t.get("font", {}), "size": PROJECTOR_FONT}}
    _enlarge(d, PROJECTOR_FONT)
    title_above_subplot_titles(lay, title_px=PROJECTOR_FONT + 4, annotation_px=PROJECTOR_FONT + 2)
    return go.Figure(inked(d), _validate=False)


# ---- slides -------------------------------------------------------------------------------------------------------
# A 16:9 slide, exported at scale 2 (2560 x 1440 pixels): sharp on a 1920 x 1080 projector, and the fonts below stay
# readable from the back of a classroom. The page's figures rely on Streamlit's theme for margins that fit their
# labels; kaleido renders without it, so an export needs its own layout.
SLIDE_WIDTH, SLIDE_HEIGHT, SLIDE_SCALE = 1280, 720, 2
SLIDE_FONT = 20  # px at SLIDE_WIDTH; titles larger, crowded tick labels smaller (never below 11)
_SLIDE_MIN_TICK_FONT = 11


def for_slide(
    fig: go.Figure,
    *,
    subtitle: str | None = None,
    width: int = SLIDE_WIDTH,
    height: int = SLIDE_HEIGHT,
    font_size: int = SLIDE_FONT,
) -> go.Figure:
    """A slide-sized copy of a figure from viz's builders, for PNG / SVG export; ``fig`` is not changed.

    Every axis that lists its ticks (``tickvals`` / ``ticktext``: the tokens, the layer names) shows all of them
    (``tickmode="array"``), in a font sized so neighbouring labels don't overlap; margins grow to fit the tick labels
    and the axis titles, which stand off from the cells (plotly's ``automargin``); titles, colour bars, cell text,
    annotations and legends get projector-sized fonts. ``subtitle`` (plain text, e.g. the model and the word) is
    html-escaped and shown under the title."""
    d = fig.to_dict()  # a deep copy as plain dicts
    lay = d.setdefault("layout", {})
    title = lay.get("title") or {}
    title = {"text": title} if isinstance(title, str) else dict(title)
    title.update(
        x=0.01,
        xanchor="left",
        xref="container",
        y=0.97,
        yanchor="top",
        yref="container",
        font={**title.get("font", {}), "size": font_size + 8},
    )
    if subtitle:
        title["subtitle"] = {"text": label(subtitle), "font": {"size": font_size}}
    top = 60 + (font_size + 8) + (font_size + 12 if subtitle else 0)
    lay.update(
        width=width,
        height=height,
        title=title,
        font={**lay.get("font", FONT), "size": font_size},
        margin=dict(l=24, r=48, t=top, b=24, pad=4),
        autosize=False,
    )
    plot_w, plot_h = width - 220, height - top - 80  # what is left for the cells, roughly
    for key in [k for k in lay if AXIS_KEY.match(k)]:
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
    return go.Figure(inked(d), skip_invalid=False)


def _enlarge(d: dict, font_size: int) -> None:
    """Colour bars, cell / bar text, annotations and legends of figure dict ``d`` at ``font_size`` (annotations and
    colour-bar titles 2 px larger), in place: what a slide and the projector share."""
    lay = d.setdefault("layout", {})
    for trace in d.get("data", []):
        if "colorbar" in trace or trace.get("type") == "heatmap":
            cb = trace.setdefault("colorbar", {})
            cb["tickfont"] = {**cb.get("tickfont", {}), "size": font_size}
            cbt = cb.get("title") or {}
            cb["title"] = {**cbt, "font": {**cbt.get("font", {}), "size": font_size + 2}} if cbt else cbt
            cb["thickness"] = max(cb.get("thickness", 0), 22)
        if "textfont" in trace or trace.get("texttemplate") or (trace.get("text") and trace.get("type") == "bar"):
            trace["textfont"] = {**trace.get("textfont", {}), "size": font_size}
    for a in lay.get("annotations", []):
        a["font"] = {**a.get("font", {}), "size": font_size + 2}
    if "legend" in lay or len(d.get("data", [])) > 1:
        lay["legend"] = {**lay.get("legend", {}), "font": {**lay.get("legend", {}).get("font", {}), "size": font_size}}


def _subplots_along(layout: dict, axis: str) -> int:
    """How many subplots share the slide along x or y (make_subplots' axis domains), so each gets its share."""
    starts = {tuple(layout[k].get("domain", (0, 1))) for k in layout if AXIS_KEY.match(k) and k[0] == axis}
    return max(1, len(starts))
