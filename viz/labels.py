"""The words figures draw (titles, axis and colour-bar titles, legend names, hover text), in English.

``viz`` stays free of Streamlit and of languages: each builder takes ``tr`` (a function from an English msgid to the
text to draw; pages pass ``ui.i18n._``) and applies it to its own words, which are marked here with :func:`N_` so
``scripts/i18n.py extract`` finds them. Without ``tr`` a figure is drawn in English.
"""

from __future__ import annotations

from collections.abc import Callable

Translate = Callable[[str], str]


def N_(message: str) -> str:
    """Mark an English msgid for the catalog; the builder's ``tr`` translates it when the figure is drawn."""
    return message


def identity(message: str) -> str:
    """The default ``tr``: English, the msgid itself."""
    return message
