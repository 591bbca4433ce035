"""The translation catalog (gettext, STYLE.md §13): every visible string goes through ``_()``.

The English text is the msgid, so code stays readable; placeholders are ``{name}`` filled with ``.format()`` after
translation (never an f-string inside ``_()``). Catalogs live in ``locale/<lang>/LC_MESSAGES/messages.po``, managed
with Babel and compiled to ``.mo`` at set-up; a language without a compiled catalog falls back to English.

    from ui.i18n import _
    st.error(_("Cannot load {model}.").format(model=name))
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("en", "ja")
LANGUAGE_NAMES = {"en": "English", "ja": "日本語"}  # each in its own language, so anyone finds theirs
DEFAULT_LANGUAGE = "en"


@functools.lru_cache(maxsize=8)
def gettext_for(lang: str) -> Callable[[str], str]:
    """The ``gettext`` function of one language (English, the msgid itself, when no catalog is compiled)."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True).gettext


def browser_language() -> str:
    """The browser's language (``st.context.locale``, e.g. "ja-JP") when we have it, else English."""
    try:
        import streamlit as st

        locale = (st.context.locale or "").lower()
    except Exception:  # outside a Streamlit run
        return DEFAULT_LANGUAGE
    code = locale.split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """This session's language: the sidebar switch (session state ``lang``, bound to ``?lang=``), else the
    browser's; English outside a Streamlit run (tests, command lines)."""
    try:
        import streamlit as st
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        if get_script_run_ctx(suppress_warning=True) is None:
            return DEFAULT_LANGUAGE
        chosen = st.session_state.get("lang") or st.query_params.get("lang")
    except Exception:
        return DEFAULT_LANGUAGE
    return chosen if chosen in LANGUAGES else browser_language()


def _(message: str) -> str:
    """Translate ``message`` into this session's language."""
    return gettext_for(current_language())(message)


def option_labels(options: Iterable[Hashable], label: Callable[[Any], str]) -> Callable[[Any], str]:
    """A widget's ``format_func`` whose labels are translated: each option's label is made now, in this session's
    language, and looked up later. Streamlit may format a widget's value outside the script run (AppTest does, from
    the test's own thread, where the session's language is unknown): a plain lambda around ``_()`` would then give
    English labels that match none of the options the page drew."""
    return {o: label(o) for o in options}.__getitem__


def render(msg: Any) -> str:
    """A message from below the UI (STYLE.md §17), as a sentence in this session's language: a
    ``models.messages.Message``, an error that carries one (``CheckpointError``, ``LMLoadError``, ``JobError``, ...), or
    a plain English string (translated when the catalog has it). The result is plain text: escape it before Markdown
    (``ui.text.escape_md``), since parameters can be what a user typed or named."""
    from models.messages import as_message

    return as_message(msg).render(_)
