"""The class session's light route, ``GET /class/counters`` (serve.py mounts it beside Streamlit): a class's two
counters (services/class_store.py: ``version`` bumps on every change, ``stage`` on what changes a student's screen).

``?code=XXXXX`` answers at once: ``{"version": v, "stage": s}``.

``?code=XXXXX&watch=stage&seen=N`` is a long poll (ui/class_poll/poll.js asks this way): the answer comes as soon as
the watched counter is past ``N``, or after :data:`WAIT_S` with the counters as they are. A student's page learns of
the teacher's move within :data:`WATCH_EVERY_S` of it instead of within a whole poll interval (1 s before: on
average 0.5 s of every follow was waiting for the next tick, bench/RESULTS.md "class session"), and an idle class
costs each process one store read per class per :data:`WATCH_EVERY_S` plus one request per student per
:data:`WAIT_S`, instead of one request and one store read per student per second.

One :class:`Watcher` per class and process reads the store (SQLite or Redis, shared by every process) while anyone
waits on it and wakes every waiter at once; the waiting itself is on the event loop (an ``async`` endpoint), so 150
waiting students hold no threads. :data:`WAIT_S` stays under nginx's timeout for a plain request
(services/classroom.py ``Limits.http_timeout_s``, 20 s), after which nginx would ask another process.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.requests import Request
from starlette.responses import JSONResponse

from services.class_store import ClassError, StoreUnavailable, clean_code, shared_store

PATH = "/class/counters"
WAIT_S = 10.0  # a long poll answers after this long at most (nginx: 20 s)
WATCH_EVERY_S = 0.1  # how often a process reads a watched class's counters
WATCHED = ("version", "stage")
SERVED = False  # serve.py sets it: this process answers PATH (ui/class_session.py route_served)
_HEADERS = {"Cache-Control": "no-store"}


class Watcher:
    """The counters of one class as this process last read them, and an event set when they change. It reads the
    store only while someone waits (:meth:`wait`), one read per :data:`WATCH_EVERY_S` for all its waiters."""

    def __init__(self, code: str):
        self.code = code
        self.counters: dict | None = None  # {"version": v, "stage": s}
        self.error: tuple[int, str] | None = None
        self.waiters = 0
        self.reads = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def _read(self) -> tuple[dict | None, tuple[int, str] | None]:
        try:
            version, stage = shared_store().counters(self.code)
            return {"version": version, "stage": stage}, None
        except ClassError as e:
            return None, (404, e.reason)
        except StoreUnavailable as e:
            return None, (503, e.reason)

    async def _run(self) -> None:
        try:
            while self.waiters > 0:
                counters, error = await asyncio.to_thread(self._read)  # a Redis timeout never blocks the loop
                self.reads += 1
                if (counters, error) != (self.counters, self.error):
                    self.counters, self.error = counters, error
                    changed, self._changed = self._changed, asyncio.Event()
                    changed.set()  # every waiter looks again
                await asyncio.sleep(WATCH_EVERY_S)
        finally:
            self._task = None

    async def wait(self, watch: str, seen: int, timeout: float) -> tuple[dict | None, tuple[int, str] | None]:
        """The counters once ``watch`` is past ``seen`` (or an error, or ``timeout`` s later: as they are)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.waiters += 1
        if self._task is None:
            self.counters = self.error = None  # read afresh: nobody watched for a while
            self._task = asyncio.create_task(self._run())
        try:
            while True:
                changed = self._changed
                if self.error is not None:
                    return None, self.error
                if self.counters is not None and self.counters[watch] > seen:
                    return self.counters, None
                left = deadline - loop.time()
                if left <= 0:
                    return self.counters, None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), left)
        finally:
            self.waiters -= 1


_watchers: dict[str, Watcher] = {}


def watcher(code: str) -> Watcher:
    w = _watchers.get(code)
    if w is None:
        if len(_watchers) > 256:  # forget classes nobody waits on (ended ones, typos)
            for k in [k for k, v in _watchers.items() if v.waiters == 0]:
                del _watchers[k]
        w = _watchers[code] = Watcher(code)
    return w


def _answer(counters: dict | None, error: tuple[int, str] | None) -> JSONResponse:
    if error is not None:
        return JSONResponse({"error": error[1]}, status_code=error[0], headers=_HEADERS)
    return JSONResponse(counters, headers=_HEADERS)


async def counters(request: Request) -> JSONResponse:
    """``GET /class/counters?code=…[&watch=stage|version&seen=N]`` (see the module's docstring)."""
    code = clean_code(request.query_params.get("code"))
    if not code:
        return JSONResponse({"error": "bad_code"}, status_code=400, headers=_HEADERS)
    watch = request.query_params.get("watch")
    seen = request.query_params.get("seen", "")
    if watch in WATCHED and seen.lstrip("-").isdigit() and len(seen) < 19:
        return _answer(*await watcher(code).wait(watch, int(seen), WAIT_S))
    return _answer(*await asyncio.to_thread(Watcher(code)._read))  # at once: the plain poll
