"""Training jobs for the app: each run in its own OS process, progress the page polls, a global cap.

The Train page starts a :class:`TrainingJob` with :func:`start_job` and then only *reads* it: a fragment calls
``job.poll()`` once a second and draws the returned :class:`JobProgress` (an immutable copy, so the page never holds
the job's lock while it draws). The training itself runs in a ``multiprocessing`` *spawn* process
(``services/train_worker.py``, at lower CPU priority, one torch thread): the app's process never runs training code,
so a run in progress costs the other students' pages little, and a worker that dies (``kill -9``, out of memory, an
exception) takes nothing else with it. One reader thread per job turns the worker's messages (epoch stats, attention
snapshots, the result) into this job's state. The worker trains a private model (``models.train.train``) and
publishes the result atomically:

* user runs go to ``checkpoints/user/<name>.pt`` (the shipped files are never touched);
* "restore shipped models" runs (:func:`start_restore_job`) rewrite ``checkpoints/<shipped>.pt`` with the fast recipe,
  exactly what ``python -m models.train --model ...`` does, through the same API.

A new file gets a new mtime, so the cached loaders in ``ui/cache.py`` pick it up in every session without a restart;
the cached model objects other pages read are never trained in place.

Limits: one active job per browser session and :data:`MAX_RUNNING` training processes at once for the whole app
process (:class:`JobLimitError` otherwise); a job holds its slot until its process has ended. A job ends cleanly
after the current epoch when Stop is pressed or when its session goes away: the page passes
``session_alive(session_id) -> bool | None`` (Streamlit's runtime knows; None means "can't tell", e.g. under AppTest),
and when that can't tell, a job nobody has polled for ``idle_timeout`` seconds is stopped. Either way the best epoch
so far is kept and published. So it is at shutdown: Ctrl-C or SIGTERM to the server ends its event loop, and an
``atexit`` hook stops every worker and waits for it to publish before the interpreter exits. A worker whose app
process is gone stops by itself the same way. A worker that dies instead shows "failed" with the reason, frees its
slot, and leaves the checkpoints as they were (the write is atomic; its torn temp file is removed).

No Streamlit import here: the page injects what only Streamlit knows. References: minGPT's Trainer callbacks.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import logging
import multiprocessing
import multiprocessing.util  # noqa: F401  (its atexit hook must be registered before ours: see stop_all_at_exit)
import signal
import sys
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import settings
from models import checkpoint_folder
from models import data as wordlists
from models.checkpoint import CheckpointError, load_checkpoint
from models.data import WordList
from models.messages import N_, Message
from models.registry import shipped_names, train_flag
from models.train import Recipe, recipe_for
from services.job_errors import BrowserBusyError, FolderNotWritableError, JobLimitError, ModelNameError, folder_reason
from services.job_names import check_name, owner_id, publish_name, shipped_path, user_path
from services.job_snapshots import default_probe
from services.train_worker import DEFAULT_PROBE, JobSpec, lower_priority, worker_main

log = logging.getLogger(__name__)

MAX_RUNNING = 2  # training processes at once per app process (2 cores here: more starve the app)
IDLE_TIMEOUT_S = 300.0  # no poll for this long, and the runtime can't say the session is alive -> stop
GONE_GRACE_S = 30.0  # the runtime says the session is gone for this long (not a reconnect blip) -> stop
SHUTDOWN_WAIT_S = 60.0  # at exit, wait this long for each job to end its epoch and publish
EXIT_WAIT_S = 30.0  # after its last message, a worker gets this long to exit before it is killed
REAP_AFTER_S = 3600.0  # finished jobs nobody has looked at for this long are forgotten
# A run's time limit (settings.train_max_s(), read when a job starts): the page allows settings that take hours
# (500 epochs at batch 1: over 40 s an epoch here), and a class has two slots per process. At the limit the run
# ends after its epoch and keeps its best one; an epoch still running HARD_GRACE_S later is killed (nothing is
# published then).
HARD_GRACE_S = 60.0
STATUSES = ("queued", "running", "done", "stopped", "failed")
ACTIVE = ("queued", "running")


# ---- one job -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobProgress:
    """An immutable copy of a job's state at one moment."""

    job_id: int
    action: str  # "train" | "restore" (JobSpec.action)
    name: str
    model_name: str
    recipe: dict
    status: str
    epoch: int  # last finished epoch (0 before the first)
    epochs: int
    history: tuple[dict, ...]  # EpochStats as dicts, one per finished epoch
    snapshots: tuple[dict, ...]  # {"epoch": e, ...take_snapshot()}; the ones saved in the checkpoint
    latest_snapshot: dict | None  # the newest snapshot (every epoch), for the live view
    best_epoch: int
    elapsed: float
    error: str | None = None  # a models.messages.Message: ui.i18n.render says it in the page's language
    stop_requested: bool = False
    stop_reason: str | None = None  # a Message too
    checkpoint: str | None = None
    metrics: dict = field(default_factory=dict)
    kept_epoch: int | None = None
    stopped_early: bool = False
    n_words: int = 0
    duplicates_dropped: int = 0
    probe_word: str = DEFAULT_PROBE
    note: str | None = None
    error_code: str | None = None  # "time-limit", or the folder's state ("full", "permission", "read-only")

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def finished(self) -> bool:
        return not self.active

    @property
    def fraction(self) -> float:
        if self.status in ("done", "stopped"):
            return 1.0
        return min(1.0, self.epoch / max(1, self.epochs))

    @property
    def eta(self) -> float | None:
        """Seconds left at the current pace if every epoch runs (early stopping may end it sooner)."""
        if not self.active or not self.history:
            return None
        per_epoch = self.history[-1]["seconds"] / self.epoch
        return per_epoch * (self.epochs - self.epoch)


def death_reason(exitcode: int | None) -> Message:
    """Why a worker ended without a word, in plain words (the page puts it inside a translated sentence)."""
    if exitcode is None:
        return Message(N_("The training process did not end when asked, so it was stopped."))
    if exitcode < 0:
        n = -exitcode
        if n == signal.SIGKILL:
            return Message(
                N_(
                    "The training process was killed by SIGKILL (signal 9) — e.g. the server ran out of "
                    "memory or someone killed it."
                )
            )
        try:
            return Message(
                N_("The training process was killed by {signal} (signal {n})."), signal=signal.Signals(n).name, n=n
            )
        except ValueError:
            return Message(N_("The training process was killed by a signal (signal {n})."), n=n)
    return Message(N_("The training process ended unexpectedly (exit code {code})."), code=exitcode)


_MAIN_LOCK = threading.Lock()


class _no_main_script:
    """While a worker starts: a spawn child re-runs the parent's ``__main__`` script first
    (multiprocessing.spawn.get_preparation_data). Under Streamlit that is the page script of the last run (app.py,
    or an AppTest's temporary script, which only runs inside Streamlit and killed the child with a NameError). The
    worker needs none of it (its target is services.train_worker.worker_main), so the start sees a bare module."""

    def __enter__(self):
        _MAIN_LOCK.acquire()
        self._main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")

    def __exit__(self, *exc):
        sys.modules["__main__"] = self._main
        _MAIN_LOCK.release()


class TrainingJob:
    """One training run in its own spawned process, read by the app through one reader thread.

    Thread-safe: the reader writes this job's state under ``_lock``, the pages get copies (:meth:`poll`). The job is
    active (holds a slot) from :meth:`start` until its process has ended and the reader has recorded the outcome."""

    def __init__(
        self,
        spec: JobSpec,
        session_id: str,
        *,
        job_id: int = 0,
        session_alive: Callable[[str], bool | None] | None = None,
        idle_timeout: float = IDLE_TIMEOUT_S,
        gone_grace: float = GONE_GRACE_S,
        browser: str | None = None,
        max_seconds: float | None = None,
        claimed: bool = False,
    ):
        self.spec = spec
        self.session_id = session_id
        self.browser = browser  # the browser's token (every tab of it), when the page knows it
        self._max_seconds = settings.train_max_s() if max_seconds is None else max_seconds
        self._claimed = claimed  # spec.out's claim file is ours to release when the job ends
        self.id = job_id  # unique within its registry: pages key widgets and caches by it
        self._session_alive = session_alive
        self._idle_timeout = idle_timeout
        self._gone_grace = gone_grace
        self._lock = threading.Lock()
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of the app's threads or locks
        self._stop_event = ctx.Event()
        self._recv, self._send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=worker_main,
            args=(spec, self._send, self._stop_event),
            name=f"train-{spec.name}-{job_id}",
            daemon=True,
        )
        # The reader starts the process too: spawning writes the pickled spec to the child, which can wait on the
        # child's imports, and the page's script thread should not.
        self._thread = threading.Thread(target=self._run, name=f"train-{spec.name}-{job_id}", daemon=True)
        # state below is written by the reader under _lock
        self._status = "queued"
        self._history: list[dict] = []
        self._snapshots: list[dict] = []
        self._latest: dict | None = None
        self._error: str | None = None
        self._error_code: str | None = None
        self._killed: str | None = None  # why this job killed its own worker (the time limit's last resort)
        self._stop_requested = False
        self._stop_reason: str | None = None
        self._result: dict = {}
        self._pid: int | None = None
        self._exitcode: int | None = None
        self._t0 = time.monotonic()
        self._t_start = self._t0
        self._t_first_epoch: float | None = None
        self._t_end: float | None = None
        self._started_wall = time.time()
        self._last_poll = time.monotonic()
        self._gone_since: float | None = None

    # -- control ---------------------------------------------------------------------------------------------------
    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def stop(self, reason: str = Message(N_("you pressed Stop"))) -> None:
        """End after the current epoch; the best epoch so far is kept and published."""
        with self._lock:
            if self._stop_reason is None and self._status in ACTIVE:
                self._stop_reason = reason
            self._stop_requested = True
        self._stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker process and its outcome; True when the job has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- reading ---------------------------------------------------------------------------------------------------
    def poll(self) -> JobProgress:
        """The progress now; also tells the watchdog that a page is still watching."""
        with self._lock:
            self._last_poll = time.monotonic()
        return self.peek()

    def peek(self) -> JobProgress:
        """The progress now, without counting as a page poll."""
        with self._lock:
            h = self._history[-1] if self._history else None
            end = self._t_end if self._t_end is not None else time.monotonic()
            r = self._result
            return JobProgress(
                job_id=self.id,
                action=self.spec.action,
                name=self.spec.name,
                model_name=self.spec.model_name,
                recipe=dataclasses.asdict(self.spec.recipe),
                status=self._status,
                epoch=h["epoch"] if h else 0,
                epochs=self.spec.recipe.epochs,
                history=tuple(self._history),
                snapshots=tuple(self._snapshots),
                latest_snapshot=self._latest,
                best_epoch=h["best_epoch"] if h else 0,
                elapsed=end - self._t0,
                error=self._error,
                stop_requested=self._stop_requested,
                stop_reason=self._stop_reason,
                checkpoint=r.get("checkpoint"),
                metrics=dict(r.get("metrics", {})),
                kept_epoch=r.get("kept_epoch"),
                stopped_early=bool(r.get("stopped_early")),
                n_words=len(self.spec.words.words),
                duplicates_dropped=self.spec.words.duplicates_dropped,
                probe_word=self.probe_word,
                note=self.spec.note,
                error_code=self._error_code,
            )

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def probe_word(self) -> str:
        return self.spec.probe

    @property
    def pid(self) -> int | None:
        """The training process's id once it is started (its exit code is :attr:`exitcode`)."""
        with self._lock:
            return self._pid

    @property
    def exitcode(self) -> int | None:
        with self._lock:
            return self._exitcode

    @property
    def startup_seconds(self) -> float | None:
        """From :meth:`start` to the first finished epoch (the spawned process imports torch first)."""
        with self._lock:
            return None if self._t_first_epoch is None else self._t_first_epoch - self._t_start

    def idle_for(self) -> float:
        with self._lock:
            return time.monotonic() - self._last_poll

    # -- the reader thread -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        outcome = None
        try:
            with self._lock:
                self._t_start = time.monotonic()
            try:
                with _no_main_script():
                    self._proc.start()
                lower_priority(self._proc.pid)  # before the child's own imports (torch) compete with typing
            finally:
                self._send.close()  # the child holds the only write end now: its exit, however it dies, is EOF
            with self._lock:
                self._pid = self._proc.pid
            outcome = self._read()
        except Exception as e:  # could not start a process at all (no memory, too many processes ...)
            log.exception("training job %s (%s) could not start its process", self.id, self.spec.name)
            outcome = (
                "error",
                Message(N_("Could not start a training process: {why}"), why=f"{type(e).__name__}: {str(e)[:300]}"),
                "",
            )
        self._finish(outcome)

    def _read(self) -> tuple | None:
        """Turn the worker's messages into this job's state until the pipe ends; the final message, if one came."""
        outcome = None
        with self._recv:
            while True:
                try:
                    # A second at most between looks at the clock: one epoch may take minutes (batch 1).
                    msg = self._recv.recv() if self._recv.poll(1.0) else None
                except (EOFError, OSError):  # the worker has exited, or died mid-message
                    return outcome
                if msg is None:
                    self._enforce_time_limit()
                    continue
                tag = msg[0]  # the worker's message: (tag, payload...)
                if tag == "started":
                    with self._lock:
                        self._status = "running"
                        self._t0 = time.monotonic()
                elif tag == "snapshot":
                    _, snap, keep = msg
                    with self._lock:
                        self._latest = snap
                        if keep:
                            self._snapshots.append(snap)
                elif tag == "epoch":
                    with self._lock:
                        self._history.append(msg[1])
                        if self._t_first_epoch is None:
                            self._t_first_epoch = time.monotonic()
                    reason = self._abandoned()
                    self._enforce_time_limit()
                    if reason:
                        log.info("stopping training job %s (%s): %s", self.id, self.spec.name, reason)
                        self.stop(reason)
                elif tag in ("result", "error"):
                    outcome = msg

    def _enforce_time_limit(self) -> None:
        """At the limit: stop after this epoch (the best one is kept). HARD_GRACE_S later: kill the worker."""
        with self._lock:
            running = self._status == "running"
            elapsed = time.monotonic() - self._t0
        if not running or elapsed < self._max_seconds:
            return
        if not self._stop_requested:
            log.info(
                "training job %s (%s) reached the time limit of %.0f s", self.id, self.spec.name, self._max_seconds
            )
            self.stop(f"it reached this server's time limit of {self._max_seconds / 60:g} minutes per run")
        elif elapsed >= self._max_seconds + HARD_GRACE_S and self._killed is None and self._proc.is_alive():
            log.warning(
                "training job %s (%s): its epoch still runs %.0f s after the time limit; killing it",
                self.id,
                self.spec.name,
                HARD_GRACE_S,
            )
            self._killed = (
                f"Its epoch was still running {HARD_GRACE_S:.0f} s after this server's time limit of "
                f"{self._max_seconds / 60:g} minutes per run, so the training process was stopped. "
                "Fewer epochs or a bigger batch size fit."
            )
            self._proc.kill()

    def _finish(self, outcome: tuple | None) -> None:
        """The process has ended (or is made to): record how, and free the slot."""
        if self._proc.pid is not None:
            self._proc.join(EXIT_WAIT_S)
            if self._proc.is_alive():  # said its last word but hangs: the slot must come back
                log.warning("training job %s (%s) did not exit; killing it", self.id, self.spec.name)
                self._proc.kill()
                self._proc.join(5)
        code = self._proc.exitcode
        tag = outcome[0] if outcome else None
        if tag == "error":
            log.error("training job %s (%s) failed: %s\n%s", self.id, self.spec.name, outcome[1], outcome[2])
        elif tag is None:
            log.error(
                "training job %s (%s): worker pid %s ended with exit code %s and no result",
                self.id,
                self.spec.name,
                self._proc.pid,
                code,
            )
            self._remove_torn_tmp()
        with self._lock:
            self._exitcode = code
            if tag == "result":
                self._result = outcome[1]
                self._status = "stopped" if outcome[1]["stopped_by_user"] else "done"
                if self._status == "stopped" and self._stop_reason is None:  # it stopped itself (SIGTERM)
                    self._stop_reason = outcome[1].get("stop_reason") or Message(
                        N_("the training process stopped itself")
                    )
            else:
                self._status = "failed"
                self._error = outcome[1] if tag == "error" else (self._killed or death_reason(code))
                if tag == "error" and len(outcome) > 3:
                    self._error_code = outcome[3]
                elif tag is None and self._killed:
                    self._error_code = "time-limit"
            self._t_end = time.monotonic()
        if self._claimed:
            checkpoint_folder.release_claim(self.spec.out)
        if self._proc.exitcode is not None:
            self._proc.close()  # its pipe and sentinel now, not when the registry forgets the job

    def _remove_torn_tmp(self) -> None:
        """A worker killed mid-write leaves its atomic write's temp file (``.<name>.pt.<random>.tmp``) beside the
        checkpoint; the published file itself is whole. Remove the temp files this job can have made."""
        out = Path(self.spec.out)
        for f in out.parent.glob(f".{out.name}.*.tmp"):
            try:
                if f.is_file() and not f.is_symlink() and f.stat().st_mtime >= self._started_wall - 1:
                    f.unlink()
                    log.info("removed %s, left by training job %s", f, self.id)
            except OSError:
                continue

    def _abandoned(self) -> str | None:
        """Why nobody is watching any more, or None. The reader asks after each epoch."""
        alive = None
        if self._session_alive is not None:
            try:
                alive = self._session_alive(self.session_id)
            except Exception:  # the check is best effort; fall back to the poll watchdog
                alive = None
        now = time.monotonic()
        if alive is True:
            self._gone_since = None
            return None
        if alive is False:
            self._gone_since = self._gone_since or now
            if now - self._gone_since >= self._gone_grace:
                return Message(N_("the browser tab that started it was closed"))
            return None
        if self.idle_for() >= self._idle_timeout:
            return Message(N_("no page looked at it for {minutes:.0f} minutes"), minutes=self._idle_timeout / 60)
        return None


# ---- the registry -----------------------------------------------------------------------------------------------
class JobRegistry:
    """Jobs by session id. A lock guards it: every session's script thread and every job's reader thread reads it."""

    def __init__(self, max_running: int = MAX_RUNNING, reap_after: float = REAP_AFTER_S):
        self.max_running = max_running
        self.reap_after = reap_after
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._ids = itertools.count(1)

    def start(self, session_id: str, spec: JobSpec, **job_kw) -> TrainingJob:
        with self._lock:
            self._reap()
            mine = self._jobs.get(session_id)
            if mine is not None and mine.active:
                raise JobLimitError(
                    N_(
                        "You are already training {name!r}. One run per browser session: stop it or "
                        "wait for it to finish, then start the next."
                    ),
                    name=mine.spec.name,
                )
            active = [j for j in self._jobs.values() if j.active]
            browser = job_kw.get("browser")
            twin = next((j for j in active if browser and j.browser == browser), None)
            if twin is not None:
                raise BrowserBusyError(twin.spec.name)
            if len(active) >= self.max_running:
                raise JobLimitError(
                    N_(
                        "All {n} training slots are busy — other sessions are training right now, and "
                        "this machine has only a few cores. Try again in a minute or two; each run "
                        "takes about a minute."
                    ),
                    n=self.max_running,
                )
            clash = next((j for j in active if Path(j.spec.out) == Path(spec.out)), None)
            if clash is not None:
                raise ModelNameError(
                    N_("A model called {name!r} is being trained right now in another session. Pick another name."),
                    name=spec.name,
                )
            job = TrainingJob(spec, session_id, job_id=next(self._ids), **job_kw)
            self._jobs[session_id] = job
            return job.start()

    def get(self, session_id: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(session_id)

    def clear(self, session_id: str) -> None:
        """Forget this session's job (a running one is stopped first; it still publishes its best epoch)."""
        with self._lock:
            job = self._jobs.pop(session_id, None)
        if job is not None and job.active:
            job.stop("its session cleared it")

    def active_count(self) -> int:
        """Training processes running or starting (a job is active until its process has ended)."""
        with self._lock:
            return sum(j.active for j in self._jobs.values())

    def jobs(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._jobs.values())

    def stop_all(self, timeout: float | None = None) -> None:
        """Stop every job and wait for its process to end (tests, shutdown)."""
        for j in self.jobs():
            j.stop("the server is stopping")
        for j in self.jobs():
            j.join(timeout)

    def _reap(self) -> None:
        for sid, j in list(self._jobs.items()):
            if not j.active and j.idle_for() > self.reap_after:
                del self._jobs[sid]


# The one module-level mutable (STYLE.md §10 allows it here and says why): a job must outlive the script run that
# started it, every session's script thread must see the global count, and st.session_state cannot hold processes.
REGISTRY = JobRegistry()


def stop_all_at_exit(registry: JobRegistry | None = None, timeout: float = SHUTDOWN_WAIT_S) -> None:
    """Stop every job and wait for each worker to publish its best epoch and exit.

    Registered with ``atexit``: the server's signal handler (Streamlit's, for SIGINT, SIGTERM and SIGQUIT) ends its
    event loop, and the interpreter then runs this before it finalizes. Workers are daemon processes, which
    ``multiprocessing``'s own exit hook would terminate (SIGTERM, no result saved) if they were still running; this
    hook runs first (atexit is last in, first out, and ``multiprocessing.util`` is imported above) and waits instead.
    A worker ends after its current epoch (about a second here)."""
    registry = registry or REGISTRY
    running = [j for j in registry.jobs() if j.active]
    if running:
        log.warning("the server is stopping: stopping %d training job(s) and saving their best epoch", len(running))
    registry.stop_all(timeout)


atexit.register(stop_all_at_exit)


def start_job(
    session_id: str,
    model_name: str,
    words: WordList,
    recipe: Recipe | str = "fast",
    *,
    name: str,
    replace: bool = False,
    probe_word: str | None = None,
    session_alive: Callable[[str], bool | None] | None = None,
    registry: JobRegistry | None = None,
    pace_s: float = 0.0,
    on_claim: Callable[[str], None] | None = None,
    **job_kw,
) -> TrainingJob:
    """Start training ``model_name`` on ``words`` and publish it as ``checkpoints/user/<name>.pt``. ``pace_s``
    makes epoch e end no sooner than e * pace_s seconds after this call, by the clock (the Lesson's "watch" pace
    spreads a seconds-long run over about half a minute, start-up included).

    Raises :class:`ModelNameError` for a bad name and :class:`JobLimitError` when this session already trains or
    every slot is busy. A taken name gets a suffix unless ``replace`` and this session made that model (the job's
    ``spec.note`` says which). The checkpoint records this session's :func:`owner_id`. ``on_claim(final name)``
    runs once the name is claimed and before the run starts (a class records whose model it is, so the file is
    never published unrecorded: ui/class_models.py); if it raises, the claim is released and nothing starts.
    """
    owner = owner_id(session_id)
    rec = recipe_for(recipe, model_name) if isinstance(recipe, str) else recipe
    for _ in range(20):  # a name claimed by another run between the check and the claim: next one
        final, note = publish_name(name, replace=replace, owner=owner)
        try:
            if checkpoint_folder.claim_name(user_path(final), owner):
                break
        except checkpoint_folder.FolderNotWritable as e:
            log.error("cannot claim %s: %s", user_path(final), e)
            raise FolderNotWritableError(folder_reason(e.errno)) from e
    else:
        raise ModelNameError(N_("Every name like {name!r} is being claimed right now. Pick another name."), name=name)
    if final != check_name(name) and note is None:
        note = Message(
            N_("A model called {name!r} is being trained right now, so this one will be saved as {new!r}."),
            name=check_name(name),
            new=final,
        )
    spec = JobSpec(
        model_name=model_name,
        words=words,
        recipe=rec,
        name=final,
        out=user_path(final),
        probe_word=probe_word or default_probe(words),
        note=note,
        owner=owner,
        pace_s=pace_s,
        pace_from=time.time() if pace_s > 0 else None,
    )
    try:
        if on_claim is not None:
            on_claim(final)
        return (registry or REGISTRY).start(session_id, spec, session_alive=session_alive, claimed=True, **job_kw)
    except BaseException:
        checkpoint_folder.release_claim(spec.out)
        raise


def start_restore_job(
    session_id: str,
    shipped: str,
    *,
    words: WordList | None = None,
    session_alive: Callable[[str], bool | None] | None = None,
    registry: JobRegistry | None = None,
    **job_kw,
) -> TrainingJob:
    """Retrain the shipped checkpoint ``shipped`` with the fast recipe on the shipped word list and write it
    atomically to ``checkpoints/<shipped>.pt`` — ``python -m models.train --model ...`` through the same API."""
    if shipped not in shipped_names():
        raise ModelNameError(
            N_("{name!r} is not a shipped model; those are {shipped}."),
            name=shipped,
            shipped=", ".join(shipped_names()),
        )
    model_name = train_flag(shipped)
    # The module attribute, read now, so tests can point it elsewhere. WordListError says what is wrong.
    words = words if words is not None else wordlists.load_words(wordlists.DEFAULT_WORDS)
    spec = JobSpec(
        model_name=model_name,
        words=words,
        recipe=recipe_for("fast", model_name),
        name=shipped,
        out=shipped_path(shipped),
        action="restore",
        probe_word=default_probe(words),
    )
    return (registry or REGISTRY).start(session_id, spec, session_alive=session_alive, **job_kw)


def get_job(session_id: str) -> TrainingJob | None:
    return REGISTRY.get(session_id)


def clear_job(session_id: str) -> None:
    REGISTRY.clear(session_id)


def active_count() -> int:
    return REGISTRY.active_count()


def broken_shipped(loader: Callable[[str], object] = load_checkpoint) -> dict[str, Message]:
    """Shipped checkpoints that are missing or fail to load: ``{name: what is wrong}``. ``loader`` is the page's
    cached loader, so the check is free once a file has loaded."""
    out = {}
    for name in shipped_names():
        if not shipped_path(name).exists():
            out[name] = Message(N_("missing"))
            continue
        try:
            loader(name)
        except CheckpointError as e:
            # the first sentence, naming the file only (no hint: the page offers the fix beside it)
            out[name] = Message(e.message.msgid, **{**e.message.params, "path": f"{name}.pt", "hint": ""})
    return out
