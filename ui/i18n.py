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
from pathlib import Path
from typing import Callable

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("en", "ja")
DEFAULT_LANGUAGE = "en"


@functools.lru_cache(maxsize=8)
def gettext_for(lang: str) -> Callable[[str], str]:
    """The ``gettext`` function of one language (English, the msgid itself, when no catalog is compiled)."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True).gettext


def current_language() -> str:
    """This session's language: the sidebar choice (session state ``lang``), else ``?lang=``, else the browser's."""
    try:
        import streamlit as st
        chosen = st.session_state.get("lang")
        if chosen in LANGUAGES:
            return chosen
        wanted = st.query_params.get("lang")
        if wanted in LANGUAGES:
            return wanted
        locale = (getattr(st.context, "locale", None) or "").lower()
        if locale.split("-")[0] in LANGUAGES:
            return locale.split("-")[0]
    except Exception:       # outside a Streamlit run (tests, command lines): English
        pass
    return DEFAULT_LANGUAGE


def _(message: str) -> str:
    """Translate ``message`` into this session's language."""
    return gettext_for(current_language())(message)
