"""Lesson building blocks any page can reuse: a predict-then-reveal question whose answer is computed live.

The student commits to a guess first (a choice widget), then presses Reveal: the page shows the live answer and
whether the guess was right. Changing the guess hides the answer again, so a guess is never made after seeing it.
Session-state keys are ``{key}.guess`` and ``{key}.revealed`` (the caller's key carries its page prefix).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import streamlit as st

from ui.i18n import _

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def md_text(text: str) -> str:
    """User text made safe for a Markdown label (radio options, button labels): every Markdown/HTML character
    backslash-escaped, so it shows as typed, never as formatting, a link or an icon."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def predict_then_reveal(key: str, question: str, options: Sequence[str], answer: str | None,
                        explain: Callable[[], None] | None = None, *, format_func: Callable[[str], str] = md_text
                        ) -> str | None:
    """Ask ``question`` with ``options``; after Reveal, say whether the guess equals ``answer`` (computed live by
    the caller; None when it cannot be computed now) and call ``explain()`` to draw the evidence. Returns the guess.
    """
    guess = st.radio(question, list(options), index=None, key=f"{key}.guess", format_func=format_func,
                     horizontal=True)
    if st.session_state.get(f"{key}.revealed") != guess:
        st.session_state.pop(f"{key}.revealed", None)   # a new guess: the old answer is hidden again
    if st.button(_("Reveal"), key=f"{key}.reveal", disabled=guess is None or answer is None,
                 help=_("Guess first, then reveal what the model really does.")):
        st.session_state[f"{key}.revealed"] = guess
    if guess is None or st.session_state.get(f"{key}.revealed") != guess:
        return guess
    if answer is None:
        st.info(_("The answer can't be computed for this input."))
    elif guess == answer:
        st.success(_("Right: {answer}.").format(answer=md_text(answer)), icon=":material/check_circle:")
    else:
        st.warning(_("Not this time: the model's answer is {answer}.").format(answer=md_text(answer)),
                   icon=":material/info:")
    if explain is not None:
        explain()
    return guess
