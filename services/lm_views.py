"""The Real model's light route, ``GET /lm/views`` (serve.py mounts it beside Streamlit): one key's views as JSON.

A key on the Real model page used to be a Streamlit fragment rerun (~20 ms of the server's Python for elements and
session state, and a newer key interrupts an unfinished run, so under load many keys were never drawn). With this
route the page's component (ui/live/live.js, mode "server") owns the text box and asks for each key's data with
one plain request; Python's page hears the text only when the student pauses.

``?id=…&text=…&layer=L&head=H&top_k=K&temp=T&lang=en|ja&word=…&projector=0|1`` answers ui/real_model.live_payload's
JSON for that text: the same dict the page's own data path gives the component (each part cached per text in this
process, as there). The forward pass goes through the process's batcher (services/lm_batcher.py) on one of the
route's worker threads (:func:`pool`): the event loop never waits on the model.

Only a model this process loaded for a page session can be named: the page registers its source (:func:`register`)
and hands the component an opaque id; a filesystem path never comes from the query. Bad input (an unknown id, text
over :data:`MAX_CHARS` or with control characters, numbers out of range) is a JSON ``{"error": message}`` in the
student's language, never a traceback; the batcher's timeout is a 503 with its message. Nothing is cached by the
browser or a proxy (``Cache-Control: no-store``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request
from starlette.responses import JSONResponse

from models.messages import N_, Message

_log = logging.getLogger(__name__)

PATH = "/lm/views"
SERVED = False  # serve.py sets it: this process answers PATH (the page then lets the component own its box)
MAX_CHARS = 2_000  # the box's limit on this path (a URL; the model reads its last hf_lm.MAX_TOKENS tokens anyway)
MAX_WORD = 100  # the "it" lesson's word, which outlines its row
MAX_SOURCES = 64  # sources registered per process (the bundled model and the teacher's folders: a handful)
WORKERS = 16  # threads answering the route at once (services/lm_batcher.MAX_BATCH rows share a forward pass)
TOP_K = (1, 30)  # the page's sliders' ranges
TEMPERATURE = (0.1, 2.0)
_HEADERS = {"Cache-Control": "no-store"}

_lock = threading.Lock()
_by_id: dict[str, str] = {}  # opaque id -> source ("bundled" or a folder the page loaded)
_by_source: dict[str, str] = {}


def register(source: str) -> str:
    """The opaque id under which the component may name ``source`` (a model this process loaded for a page session).
    The same source keeps its id; the oldest is forgotten past :data:`MAX_SOURCES`."""
    with _lock:
        rid = _by_source.get(source)
        if rid is None:
            if len(_by_id) >= MAX_SOURCES:
                old = next(iter(_by_id))
                _by_source.pop(_by_id.pop(old), None)
            rid = secrets.token_urlsafe(12)
            _by_id[rid], _by_source[source] = source, rid
        return rid


def source_of(rid: str) -> str | None:
    with _lock:
        return _by_id.get(rid)


class BadInput(Exception):
    def __init__(self, message: Message, status: int = 400):
        super().__init__(str(message))
        self.message, self.status = message, status


def _int(params, name: str, lo: int, hi: int) -> int:
    raw = params.get(name, "")
    if not (raw.lstrip("-").isdigit() and len(raw) < 10) or not lo <= int(raw) <= hi:
        raise BadInput(Message(N_("{name} must be a whole number from {lo} to {hi}."), name=name, lo=lo, hi=hi))
    return int(raw)


def _float(params, name: str, lo: float, hi: float) -> float:
    try:
        x = float(params.get(name, ""))
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and lo - 1e-9 <= x <= hi + 1e-9):
        raise BadInput(Message(N_("{name} must be a number from {lo} to {hi}."), name=name, lo=lo, hi=hi))
    return round(x, 2)


def _text(params, name: str, limit: int) -> str:
    text = params.get(name, "")
    if len(text) > limit:
        raise BadInput(
            Message(N_("The text is {n} characters long; this box takes at most {limit}."), n=len(text), limit=limit),
            413,
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise BadInput(Message(N_("The text holds control characters; type letters, digits and punctuation.")))
    return text


def parse(params) -> dict:
    """The request's picks, checked (raises :class:`BadInput`). The layer and head are checked against the model
    by :func:`ui.real_model.live_payload`'s caller (:func:`_answer`), which knows its size."""
    rid = params.get("id", "")
    source = source_of(rid) if isinstance(rid, str) and len(rid) < 40 else None
    if source is None:
        raise BadInput(Message(N_("This page's model is not open in this server process. Reload the page.")), 404)
    return {
        "source": source,
        "text": _text(params, "text", MAX_CHARS),
        "word": _text(params, "word", MAX_WORD),
        "layer": _int(params, "layer", 0, 10_000),
        "head": _int(params, "head", 0, 10_000),
        "top_k": _int(params, "top_k", *TOP_K),
        "temperature": _float(params, "temp", *TEMPERATURE),
        "projector": params.get("projector") == "1",
    }


def _lang(params) -> str:
    from ui.i18n import DEFAULT_LANGUAGE, LANGUAGES

    lang = params.get("lang", "")
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def answer(params) -> tuple[int, dict]:
    """(HTTP status, JSON) for one request's query parameters: run on a worker thread (it may wait on the model)."""
    from services import lm_batcher
    from ui import real_model as R
    from ui.i18n import gettext_for

    lang = _lang(params)
    translate = gettext_for(lang)
    try:
        p = parse(params)
        return 200, R.live_payload(**p, lang=lang)
    except BadInput as e:
        return e.status, {"error": e.message.render(translate)}
    except lm_batcher.Busy as e:
        return 503, {"error": e.message.render(translate)}
    except R.PickOutOfRange as e:
        return 400, {"error": e.message.render(translate)}
    except Exception as e:  # noqa: BLE001 (a model that fails to load or run: a message, never a traceback)
        from models.messages import as_message

        _log.exception("GET %s failed", PATH)
        return 500, {"error": as_message(getattr(e, "message", None) or str(e)).render(translate)}


_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    """The route's own worker threads (not the event loop's default executor, which Streamlit and the class
    counters use too: 6 threads on 2 cores). A request's thread mostly waits for the batcher, so up to
    :data:`WORKERS` keys in flight can share one padded forward pass."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="lm-views")
        return _pool


async def views(request: Request) -> JSONResponse:
    """``GET /lm/views?id=…&text=…`` (see the module's docstring)."""
    loop = asyncio.get_running_loop()
    status, body = await loop.run_in_executor(pool(), answer, dict(request.query_params))
    return JSONResponse(body, status_code=status, headers=_HEADERS)
