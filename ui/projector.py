"""Projector mode: larger text, collapsed sidebar, secondary controls behind one expander (issue 13).

One session key, :data:`KEY`, bound to ``?present=1`` so a teacher's link opens the lab ready for the projector.
app.py draws the switch; pages read :func:`on` through ui.charts.chart and ui.controls.more_controls. Light on
purpose (no torch): app.py imports it before the sidebar is drawn."""

from __future__ import annotations

import streamlit as st

KEY = "present"
# Text >= 20 px at 1920 x 1080: Streamlit sizes its text in rem (body 1rem, widget labels and captions 0.875rem), so
# a 23 px root scales body text (23 px), labels, buttons and captions (20 px) and headings together. Charts get their
# own larger fonts (viz.display.for_projector) and BertViz its own scale (viz.bertviz_view._FILL_FRAME).
ROOT_FONT_PX = 23
CSS = f"<style>html {{ font-size: {ROOT_FONT_PX}px; }}</style>"


def on() -> bool:
    """Whether this session is in projector mode."""
    return bool(st.session_state.get(KEY))


def init_from_url() -> None:
    """Once per session: ``?present=1`` (or ``true``) in the link turns projector mode on."""
    if KEY not in st.session_state:
        st.session_state[KEY] = str(st.query_params.get(KEY, "")).lower() in ("1", "true", "yes")


def _sync_url() -> None:
    """The switch writes the URL, so the link a teacher copies keeps the mode."""
    if st.session_state.get(KEY):
        st.query_params[KEY] = "1"
    elif KEY in st.query_params:
        del st.query_params[KEY]


def switch(label: str, help: str) -> None:
    """The sidebar switch, and in projector mode the page-wide CSS."""
    st.sidebar.toggle(label, key=KEY, on_change=_sync_url, help=help)
    if on():
        st.html(CSS)
