"""One worker thread per process runs the Real model's forward passes, a few sessions' keystrokes at a time.

Why: a one-token forward pass of SmolLM2 on one CPU thread costs ~90 ms whatever it computes, because it streams all
538 MB of float32 weights through the cache and pays ~30 ms of per-op overhead in transformers' 30 layers. A batch
of B one-token rows streams the weights once: measured B=1 87 ms, B=16 189 ms (bench/RESULTS.md). So when a
class types at once, the keystrokes of several sessions go through one padded forward pass
(models/hf_prefix_cache.forward_rows) instead of one each.

How: a session (a Streamlit script thread) that needs tokens its prefix cache does not hold calls
:meth:`Batcher.extend` and waits on a future. The worker takes the first request, gathers what else arrives within
``gather_s`` (up to ``max_batch`` rows), re-walks the prefix cache for each (another batch may have computed it
meanwhile), runs one forward pass per model over the rows still missing tokens (the same text asked twice is one
row), adds the new nodes to the cache and answers every future with its full path.

Bounded and never stuck: at most ``max_pending`` requests wait (a full queue is :class:`Busy` at once) and a
session waits at most ``timeout_s`` (then :class:`Busy`, which the page turns into a message). A failed batch is
retried row by row on the worker; a row that still fails makes its session run the plain forward itself. The
batcher holds requests and futures, never a model: nothing is stored on the shared model.

References: Yu et al. (2022), "Orca: A Distributed Serving System for Transformer-Based Generative Models"
(batching requests of different lengths per iteration); Hugging Face text-generation-inference's batching of
prefill and decode requests; concurrent.futures.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from models.hf_prefix_cache import Node, PrefixCache, Row, forward_rows
from models.messages import N_, Message

_log = logging.getLogger(__name__)

MAX_BATCH = 16  # rows per forward pass: past ~16 one-token rows a pass costs more than it saves (bench/RESULTS.md)
GATHER_S = 0.004  # how long the worker waits for more keystrokes after the first one
TIMEOUT_S = 30.0  # the longest a session waits for its rows
MAX_PENDING = 256  # requests waiting at once, at most


class Busy(Exception):
    """The model could not answer in time (or too many requests wait): a message for the page, not a traceback."""

    def __init__(self, message: Message):
        super().__init__(str(message))
        self.message = message


@dataclass(eq=False)
class _Request:
    bundle: object  # an LMBundle (or models/hf_folder.Held): only .model is read, on the worker
    cache: PrefixCache
    key: Hashable
    ids: tuple[int, ...]
    future: Future = field(default_factory=Future)


class Batcher:
    """A process's micro-batcher for the prefix cache's forward passes (one per process: ui.real_model makes it
    with st.cache_resource). Thread-safe; the worker thread starts on the first request and lives as long as the
    process (a daemon: it never keeps a stopping server alive)."""

    def __init__(
        self,
        max_batch: int = MAX_BATCH,
        gather_s: float = GATHER_S,
        timeout_s: float = TIMEOUT_S,
        max_pending: int = MAX_PENDING,
    ):
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch} must be at least 1")
        self.max_batch, self.gather_s, self.timeout_s = max_batch, gather_s, timeout_s
        self._queue: queue.Queue[_Request] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.batches: list[int] = []  # rows per forward pass, the latest 1000 (for the benchmark and the tests)
        self.rows = 0  # rows run through the model

    # ---- the session's side ------------------------------------------------------------------------------------
    def extend(self, bundle, cache: PrefixCache, key: Hashable, ids: Sequence[int]) -> list[Node] | None:
        """The full path of ``ids`` in ``cache`` (every token's node), computed on the worker in a batch with
        other sessions' requests; None when the model's cache can't be split per token (the caller runs a plain
        full pass). The worker walks the cache itself, when it serves the request (another batch may have filled it
        meanwhile). Raises :class:`Busy`."""
        req = _Request(bundle, cache, key, tuple(int(i) for i in ids))
        self._start()
        try:
            self._queue.put_nowait(req)
        except queue.Full:
            raise Busy(
                Message(N_("Many students are typing at once; the model is busy. Type again in a moment."))
            ) from None
        try:
            return req.future.result(timeout=self.timeout_s)
        except FutureTimeout:
            req.future.cancel()  # the worker skips it if it has not started it
            raise Busy(
                Message(
                    N_("The model did not answer within {s:.0f} s (the server is busy). Type again in a moment."),
                    s=self.timeout_s,
                )
            ) from None
        except Exception:  # the forward pass failed on the worker: the caller's plain path says what went wrong
            _log.exception("batched forward failed; the session runs its own pass")
            return None

    def _start(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="lm-batcher", daemon=True)
                self._worker.start()

    # ---- the worker --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        import torch

        torch.set_num_threads(1)  # per thread (ui.cache.one_torch_thread says why one)
        while True:
            batch = [self._queue.get()]
            until = time.perf_counter() + self.gather_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, until - time.perf_counter())))
                except queue.Empty:
                    break
            batch = [r for r in batch if r.future.set_running_or_notify_cancel()]
            try:
                self._serve(batch)
            except BaseException as e:  # noqa: BLE001 (the worker must outlive any one batch)
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(e)

    def _serve(self, batch: list[_Request]) -> None:
        """Answer every request of one gathered batch: one forward pass per model over the rows still missing."""
        by_model: dict[int, list[_Request]] = {}
        for r in batch:
            by_model.setdefault(id(r.bundle.model), []).append(r)
        for reqs in by_model.values():
            todo: dict[tuple, tuple[_Request, list[Node]]] = {}  # (key, ids) -> the first request and its path
            for r in reqs:
                path = r.cache.walk(r.key, r.ids)
                if len(path) == len(r.ids):
                    r.future.set_result(path)
                elif (id(r.cache), r.key, r.ids) not in todo:
                    todo[(id(r.cache), r.key, r.ids)] = (r, path)
            if not todo:
                continue
            firsts = list(todo.values())
            nodes = self._forward(reqs[0].bundle.model, [Row(r.ids, path) for r, path in firsts])
            done: dict[tuple, list[Node] | None | BaseException] = {}
            for (r, path), new in zip(firsts, nodes):
                k = (id(r.cache), r.key, r.ids)
                done[k] = new if new is None or isinstance(new, BaseException) else r.cache.add(r.key, path, new)
            for r in reqs:
                if r.future.done():
                    continue
                got = done[(id(r.cache), r.key, r.ids)]
                if isinstance(got, BaseException):
                    r.future.set_exception(got)
                else:
                    r.future.set_result(got)

    def _forward(self, model, rows: list[Row]) -> list[list[Node] | None | BaseException]:
        """New nodes per row from one padded pass; if that pass fails, each row alone (so one bad row fails only
        its own session)."""
        with self._lock:
            self.batches = (self.batches + [len(rows)])[-1000:]
            self.rows += len(rows)
        try:
            nodes = forward_rows(model, rows)
            return [None] * len(rows) if nodes is None else nodes
        except Exception:
            if len(rows) == 1:
                raise
        out: list[list[Node] | None | BaseException] = []
        for row in rows:
            try:
                nodes = forward_rows(model, [row])
                out.append(None if nodes is None else nodes[0])
            except Exception as e:  # noqa: BLE001 (that session's future carries it)
                out.append(e)
        return out
