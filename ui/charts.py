"""How a page draws what viz/ builds: plotly charts (:func:`chart`, :func:`download_figure`), BertViz's own views
in a live frame, and the pause that lets the browser draw one batch before the next."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from models.capture import AttentionCapture
from ui.i18n import _
from ui.projector import on as projector

# Plotly's mode bar, cut to what a student uses here (save as PNG, reset): each chart builds fewer buttons on
# every keystroke, and a drag still zooms.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "modeBarButtonsToRemove": ["zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"],
}
BATCH_GAP_S = 0.05  # see let_browser_draw


def chart(fig, *, key: str, container=st, **kw) -> None:
    """Every chart on every page goes through here: drawn at its column's width with :data:`PLOTLY_CONFIG`, dark
    tick labels always (viz.display.for_screen), and projector-sized text in projector mode
    (viz.display.for_projector). ``container`` is where it goes (a column); ``kw`` goes to st.plotly_chart."""
    from viz import display

    fig = display.for_projector(fig) if projector() else display.for_screen(fig)
    container.plotly_chart(fig, key=key, width="stretch", config=kw.pop("config", PLOTLY_CONFIG), **kw)


_BERTVIZ_LIVE = components.declare_component("bertviz_live", path=str(Path(__file__).with_name("bertviz_live")))


def bertviz_frame(
    cap: AttentionCapture,
    view: str = "head",
    *,
    key: str | None = None,
    pattern: str | None = None,
    parts: Callable[[], dict] | None = None,
) -> bool:
    """BertViz's own head/model view, drawn offline in a frame that stays on the page while the user types (each
    rerun sends only BertViz's markup and script for the new text; d3 and jQuery load once). Returns whether a
    view was sent. When the vendored d3/jQuery are missing, says how to fetch them instead of a blank frame.
    ``pattern`` (a TL name) sets BertViz's own kind and layer selectors to that pattern whenever it changes (the
    user's picks in the frame are kept while it stays the same). ``parts``: makes ``live_parts`` of ``cap`` (the Real
    model page's, cached per text) instead."""
    from viz.bertviz_view import FETCH_HINT, VendorMissingError, live_parts, selectors_for

    if view == "model" and projector():  # BertViz's thumbnails carry ~6 px labels: a labelled grid instead
        from viz import figures as F

        chart(F.layer_head_grid(cap, tr=_), key=f"{key or 'bertviz'}.grid")
        return True
    try:
        kwargs = cap.bertviz_kwargs()
        parts = parts() if parts else live_parts(kwargs, view, fill=projector(), tr=_)
        select = selectors_for(kwargs, pattern) if pattern else None
    except VendorMissingError as e:
        st.warning(
            _(
                "BertViz needs its JavaScript files, which are not here yet: {why}\n\nRun `{hint}` (the "
                "README's commands do it for you), then reload this page."
            ).format(why=e, hint=FETCH_HINT)
        )
        return False
    except ValueError as e:  # e.g. an encoder-decoder whose encoder and decoder have different depths
        st.warning(_("BertViz can't draw this model: {why}").format(why=e))
        return False
    # The key keeps one frame per place on the page: a new text re-renders it instead of mounting a new iframe.
    _BERTVIZ_LIVE(
        markup=parts["markup"],
        js=parts["js"],
        key=key,
        fit=parts["fit"],
        draw_key=parts["key"],
        select=select,
        default=None,
        tab_index=-1,
    )
    return True


def let_browser_draw(seconds: float = BATCH_GAP_S) -> None:
    """End the current batch of page updates: pause (idle, no CPU) so Streamlit sends what the script has written so
    far and the browser renders it on its own, before the next, heavier part arrives.

    Why: the browser applies every delta that arrived together in one React render, and the BertViz frame only
    draws after that whole render, plotly charts included. Measured on this 2-core machine (bench/RESULTS.md):
    keystroke -> BertViz drawn ~700 ms with the four charts in the same batch, ~250-300 ms when BertViz is sent
    first and the charts follow after this pause. The charts themselves are not slower for it.
    """
    import time

    time.sleep(seconds)


def bertviz_or_note(
    cap: AttentionCapture, view: str = "head", *, key: str | None = None, pattern: str | None = None
) -> None:
    """:func:`bertviz_frame`, or a one-line note while the BertViz module itself is unavailable."""
    try:
        bertviz_frame(cap, view, key=key, pattern=pattern)
    except ImportError as e:
        st.caption(_("BertViz view unavailable here ({why}).").format(why=e))


def download_figure(fig, file_stem: str, key: str, *, what: str, subtitle: str | None = None) -> None:
    """A download of ``fig`` as a slide (viz.display.for_slide: 16:9, every axis label, projector-sized fonts): a PNG
    made on click (kaleido drives the local Chromium, offline), or without Chromium a standalone HTML. ``what``
    names the figure on the button (already translated); ``subtitle`` (plain text: model, word) goes under the
    figure's title. Plotly's camera icon on each chart saves a PNG of the chart as drawn, too."""
    from viz.export import figure_html, figure_png, png_available

    if png_available():
        st.download_button(
            _("{figure} (PNG)").format(figure=what),
            data=lambda: figure_png(fig, subtitle=subtitle),
            file_name=f"{file_stem}.png",
            mime="image/png",
            key=key,
            icon=":material/download:",
            on_click="ignore",  # a download needs no rerun of the whole page
            help=_(
                "A 16:9 slide, 2560 × 1440 pixels, rendered offline by the local Chromium "
                "(a few seconds the first time)."
            ),
        )
    else:
        st.download_button(
            _("{figure} (HTML)").format(figure=what),
            data=lambda: figure_html(fig, subtitle=subtitle),
            file_name=f"{file_stem}.html",
            mime="text/html",
            key=key,
            icon=":material/download:",
            on_click="ignore",
            help=_(
                "No Chromium on the server for PNG; this interactive HTML works offline. "
                "The camera icon on the chart saves a PNG."
            ),
        )
