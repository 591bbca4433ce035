"""What the pages say in words: user text escaped for Markdown (:func:`escape_md`), model names as shown, and the
short messages every page shares (notes on the input, the peeking warning, why a generation stopped)."""

from __future__ import annotations

import html
import re
import string

import streamlit as st

from models import registry
from models.capture import AttentionCapture
from ui.i18n import _, render

_MD_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_WORD_JOINER = "\u2060"  # invisible, zero width: breaks a GitHub-style autolink without changing what is read
_WWW_DOT = re.compile(r"(?i)(?<![a-z0-9])(www)\\\.")


def escape_md(text) -> str:
    """User text (a typed word, a model or file name, a JSON token, an error message quoting one) made safe for
    st.markdown / st.success / st.error / st.info / st.warning / st.caption and widget labels: shown literally,
    never as a link, an image, HTML, a Streamlit colour / icon directive, an emoji shortcode or LaTeX.

    Every ASCII punctuation character is backslash-escaped (CommonMark lets any of them be), which covers
    ``[x](javascript:…)``, ``![i](…)``, ``<b>``, ``**``, ``$…$``, ``:red[…]`` and ``:material/…:``; line breaks
    become spaces (no headings or lists). GitHub-style autolinks (``http://…``, ``www.…``, ``a@b.c``) ignore
    backslashes, so an invisible word joiner goes inside ``://`` and ``www.`` and before ``@``."""
    text = "".join(" " if ch in "\r\n\t\v\f" else ch for ch in str(text))
    text = _MD_PUNCT.sub(r"\\\1", text)
    text = text.replace("\\:\\/", "\\:" + _WORD_JOINER + "\\/").replace("\\@", _WORD_JOINER + "\\@")
    return _WWW_DOT.sub("\\1" + _WORD_JOINER + "\\.", text)


def pretty_names() -> dict[str, str]:
    """The shipped checkpoints' names as shown, in this session's language."""
    return {s.name: _(s.display_name) for s in registry.MODELS}


def model_label(name: str) -> str:
    return pretty_names().get(name) or _("{model} (trained here)").format(model=name)


def peek_warning() -> str:
    return _(
        "**Peeking model**: its decoder reads the *next* character from an unmasked encoder. Its low "
        "teacher-forced loss is a leak, not skill — see the **Leak lesson** page."
    )


def stop_reason(reason: str) -> str:
    """Why a generation stopped (models.generate's ``stop_reason``), in words."""
    return {
        "eos": _("stopped at `<EOS>`: the model ended the word"),
        "limit": _("stopped at the length limit"),
        "context": _("stopped: the model's context is full"),
    }[reason]


def show_word(prefix: str, generated: str, *, size: str = "2.2rem") -> None:
    """A word with its given prefix in grey and the generated characters in bold orange, html-escaped."""
    esc = lambda s: html.escape(s, quote=False)
    st.markdown(
        f"<div style='font-size:{size};font-family:monospace;line-height:1.2;word-break:break-all'>"
        f"<span style='color:#6c757d'>{esc(prefix)}</span>"
        f"<b style='color:#e8702a'>{esc(generated)}</b></div>",
        unsafe_allow_html=True,
    )


def input_notes(cap: AttentionCapture) -> None:
    """Say what happened to the typed text (Japanese written in romaji, unknown characters, lowercasing, windowing)
    or to an imported file's weights, in the session's language."""
    show_notes(cap.notes)


def show_notes(notes) -> None:
    """Capture notes (``models.messages.Message``), each once, rendered through the catalog. Notes quote the user's
    characters, so they are shown as text."""
    for note in dict.fromkeys(notes):
        st.info(escape_md(render(note)))


def empty_prompt(what: str | None = None) -> None:
    st.info(
        _(
            "{what} — the views update as you type, no Enter needed. Try **capybara**, **banana** or **flycatcher**."
        ).format(what=what or _("Type a word above"))
    )


def alphabet_note() -> None:
    """The models know the 26 letters a–z only: say so under the box (students of any language type English)."""
    st.caption(
        _(
            "Type English names in the letters a–z, e.g. capybara: the models know only these 26 letters. "
            "Japanese is written in romaji for them (ねこ → neko)."
        )
    )
