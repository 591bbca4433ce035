"""Every page's session-state defaults, in one place (STYLE.md §10: small named values, keys prefixed by page).

Two kinds, because Streamlit treats them differently:

* :data:`STATE` — values a page reads before (or without) drawing a widget for them, or that a callback sets. app.py
  puts them in the session once, before any page runs (:func:`init`).
* :data:`WIDGETS` — a slider's or a box's first value. The widget gets it as its own ``value=`` (:func:`widget`)
  and nothing puts it in the session beforehand: whatever path a run takes (the first one cut short by typing
  while a cold server loads, say), a widget without its state falls back to this value, never to its minimum
  (top-k 1 and temperature 0.1 were seen in CI when Explore's defaults were preset in session state).

The Real model page's source (bundled, a folder, a teacher's model) depends on the server's settings, so
``ui.real_model.source_defaults`` works it out; :func:`state` adds it, and the page's lecture sentence.
"""

from __future__ import annotations

from types import MappingProxyType

import streamlit as st

STATE = MappingProxyType(
    {
        "explore.view": "head",
        "compare.query": -1,
        "compare.query_text": "",
        "leak.word": "flycatcher",
        "leak.prefix": "capy",
        "leak.target": "capy",
        "leak.src_a": "capybara",
        "leak.src_b": "capyzzzz",
        "train.model": "miniformer",
        "train.preset": "fast",
        "heads.tool": "knockout",
        "real.word": "it",
        "real.cand_a": "animal",
        "real.cand_b": "street",
        "real.layer": 0,
        "real.head": 0,
        "real.gen.mode": "greedy",
        "real.alt": "wide",
    }
)

WIDGETS = MappingProxyType(
    {
        "explore.top_k": 8,
        "explore.temperature": 1.0,
        "gen.mode": "greedy",
        "gen.temperature": 1.0,
        "gen.top_k": 0,
        "gen.seed": 0,
        "gen.max_new": 16,
        "gen.step": 0,
        "real.top_k": 10,
        "real.temperature": 1.0,
        "real.gen.n": 5,
    }
)


def state() -> dict:
    """Every key :func:`init` sets, with its first value."""
    from ui.real_model import LECTURE, source_defaults

    return {**STATE, "real.text": LECTURE, **source_defaults()}


def apply() -> None:
    """Once per run, before the page: a key the session already holds keeps its value."""
    for key, value in state().items():
        st.session_state.setdefault(key, value)


def widget(key: str):
    """A widget's own first value (pass it as ``value=``)."""
    return WIDGETS[key]


def current(key: str):
    """A widget's value where the page needs it outside the widget's own run (a fragment's slider, read below it)."""
    return st.session_state.get(key, WIDGETS[key])
