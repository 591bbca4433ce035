"""Messages below the UI (STYLE.md §17): an error or a note is an English msgid and its parameters, not a sentence.

``models/`` and ``services/`` know no languages. They mark each message with :func:`N_` (so ``scripts/i18n.py
extract`` finds it) and keep its parameters apart; the page turns it into a sentence in the session's language with
``ui.i18n.render``. ``str()`` of a message or of an error is the English sentence, for logs and the command line.

    raise CheckpointError(N_("Checkpoint {path} is truncated or corrupt ({why}). {hint}"), path=path, why=cause,
                          hint=Message(N_("Retrain it ...")))
    notes.append(Message(N_("Uppercase letters were lowercased.")))

A parameter may itself be a :class:`Message` (a hint, a reason), rendered in the same language. Literal braces in a
msgid are doubled (``{{``), as in ``str.format``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Translate = Callable[[str], str]


def N_(message: str) -> str:
    """Mark an English msgid for the catalog; the UI translates it when the message is shown."""
    return message


def identity(message: str) -> str:
    return message


class Message(str):
    """An English msgid with ``{name}`` placeholders and the values that fill them.

    It *is* the English sentence (a ``str``: logs, JSON, ``in`` tests and old callers that treat notes and reasons as
    text keep working), and it keeps ``msgid`` and ``params`` so the UI can say it in another language with
    :meth:`render`."""

    msgid: str
    params: dict

    def __new__(cls, msgid: str, /, **params: Any):
        if isinstance(msgid, Message) and not params:
            return msgid
        msgid = msgid.msgid if isinstance(msgid, Message) else str(msgid)
        self = super().__new__(cls, _fill(msgid, msgid, params, identity))
        self.msgid, self.params = msgid, dict(params)
        return self

    def render(self, tr: Translate = identity) -> str:
        """The sentence in ``tr``'s language (English without ``tr``); Message parameters are rendered with it too."""
        return _fill(tr(self.msgid), self.msgid, self.params, tr)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Message({self.msgid!r}{args})"

    def __reduce__(self):  # pickles (a worker's stop reason crosses processes) keep the id and the parameters
        return _message, (self.msgid, self.params)


def _fill(text: str, msgid: str, params: dict, tr: Translate) -> str:
    """``text.format(**params)``; a translation that lost or mistyped a placeholder falls back to the English msgid,
    and a msgid that does not take its parameters (a plain sentence with braces) is shown as it is."""
    params = {k: v.render(tr) if isinstance(v, Message) else v for k, v in params.items()}
    for t in (text, msgid):
        try:
            return t.format(**params)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError):
            continue
    return str(msgid)


def _message(msgid: str, params: dict) -> Message:
    return Message(msgid, **params)


def as_message(x: Any) -> Message:
    """A Message from a Message, a :class:`MessageError`, or any other object (its ``str()``, used as the msgid)."""
    if isinstance(x, Message):
        return x
    if isinstance(x, MessageError):
        return x.message
    return Message(str(x))


class MessageError(Exception):
    """An error whose message is a :class:`Message`: ``raise SomeError(N_("... {path} ..."), path=p)``.

    ``str(e)`` is the English sentence; ``e.message`` is the Message the UI renders. A plain English string with no
    parameters still works (``SomeError("...")``); it is shown as it is where the catalog does not have it."""

    def __init__(self, msgid: str = "", /, **params: Any):
        self.message = Message(msgid, **params)
        super().__init__(str(self.message))

    def __reduce__(self):
        return _rebuild_error, (type(self), self.message.msgid, self.message.params)


def _rebuild_error(cls, msgid: str, params: dict) -> MessageError:
    return cls(msgid, **params)
