"""Inputs and layout every page shares: the live word box, lazily built expanders and the projector's "More
controls". Keys are prefixed by page (STYLE.md §10)."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ui import session_defaults as D
from ui.i18n import _
from ui.projector import on as projector

LIVE = "20ms"  # commit 20 ms after the last keystroke: unnoticeable, yet keys pressed together still batch
WORD_KEY = "text"  # the typed word: one session key and one ?text= for every page that takes a word


def text_box(key: str = WORD_KEY, label: str | None = None, placeholder: str | None = None) -> str:
    """The live text box: reruns ~20 ms after the last keystroke, no Enter needed; value lives in the URL.

    Pages that take *the* word (Explore, Compare, Generate) all use the default key, so the word follows the user
    from page to page and a shared ``?text=`` link opens any of them on that word."""
    # One key on several pages: the box on the next page has the same element id when its label is the same, and
    # Streamlit then assumes the browser already shows the session's value, so the box opened empty. Writing the
    # word the session already holds through session state, on a page's first run, makes Streamlit send it. Only
    # then: on a fresh session (nothing held yet) the URL binding fills the box, and a write there would undo the
    # keys typed while the first, slow run was still going.
    here = get_script_run_ctx().page_script_hash
    if st.session_state.get(f"{key}.page") != here:
        st.session_state[f"{key}.page"] = here
        value = st.session_state.get(key)
        if value:
            st.session_state[key] = value
        url = st.query_params.get(key)
        if key == WORD_KEY and value and url != value:
            try:  # the link a teacher copies from this page then opens it on the same word
                st.query_params[key] = value
            except StreamlitAPIException:
                pass  # bound to this page's box since an earlier visit: the binding writes the URL itself
            else:
                # A box bound to the URL takes its first value from the URL the run started with, over the session
                # state: an older word there (the browser path reported "ca", then the student typed ねこ) would
                # show in the box. Run again, now starting from the URL that holds the session's word.
                if url:
                    st.rerun()
    return (
        st.text_input(
            label or _("Type a word"),
            key=key,
            live=LIVE,
            bind="query-params",
            placeholder=placeholder or _("e.g. capybara"),
            max_chars=None,
            help=_(
                "Lowercase a–z; Japanese is written in romaji (ねこ → neko). Other characters show as "
                "<UNK>; long text is windowed to the model's context."
            ),
        )
        or ""
    )


def lazy_expander(label: str, *, key: str, container=st):
    """An expander whose content the page builds only while it is open: ``box = w.lazy_expander(...)``, then
    ``if box.open: with box: ...``. Opening or closing it reruns the page. For what lies below the fold and costs
    real work per keystroke (the step-by-step numbers: ~45 ms of a ~85 ms Explore rerun, py-spy on the server):
    a plain expander runs its content on every rerun even while it is closed. ``key`` holds whether it is open."""
    return container.expander(label, key=key, on_change="rerun")


def more_controls(container=st):
    """Where a page's secondary controls go (sampling knobs, pickers a lesson doesn't need, exports): one
    "More controls" expander in projector mode, so the projected page shows the word and the views; a plain
    container otherwise. Use as ``with w.more_controls(): ...``."""
    if projector():
        return container.expander(_("More controls"), icon=":material/tune:")
    return container.container()


def sampling_controls(container, max_top_k: int, page: str = "explore") -> tuple[int, float]:
    """The Top-k and Temperature sliders, side by side in ``container`` (Explore: ``more_controls()``, behind "More
    controls" on a projector), keyed ``{page}.top_k`` and ``{page}.temperature``. Both of Explore's paths and the Real
    model page draw these: the same labels and first values, so switching between the browser and the server keeps
    the student's choice. The first values are the widgets' own, never preset in session state
    (ui/session_defaults.py says why)."""
    s1, s2 = container.columns(2)
    top_k = s1.slider(
        _("Top-k"),
        1,
        max_top_k,
        value=min(D.widget(f"{page}.top_k"), max_top_k),
        key=f"{page}.top_k",
        help=_("How many tokens to show."),
    )
    temp = s2.slider(
        _("Temperature"),
        0.1,
        2.0,
        value=D.widget(f"{page}.temperature"),
        step=0.1,
        key=f"{page}.temperature",
        help=_("Below 1 sharpens the distribution, above 1 flattens it."),
    )
    return top_k, temp
