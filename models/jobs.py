"""Training jobs for the app: ``train()`` on a daemon worker thread, progress the page polls, a global cap.

The Train page starts a :class:`TrainingJob` with :func:`start_job` and then only *reads* it: a fragment calls
``job.poll()`` once a second and draws the returned :class:`JobProgress` (an immutable copy, so the page never holds
the worker's lock while it draws). The worker trains a private model (``models.train.train``), stores an attention
snapshot of one probe word every few epochs, and publishes the result atomically:

* user runs go to ``checkpoints/user/<name>.pt`` (the shipped files are never touched);
* "restore shipped models" runs (:func:`start_restore_job`) rewrite ``checkpoints/<shipped>.pt`` with the fast recipe,
  exactly what ``python -m models.train --model ...`` does, through the same API.

A new file gets a new mtime, so the cached loaders in ``ui/cache.py`` pick it up in every session without a restart;
the cached model objects other pages read are never trained in place.

Limits: one active job per browser session and :data:`MAX_RUNNING` at once for the whole process
(:class:`JobLimitError` otherwise). A job ends cleanly after the current epoch when Stop is pressed or when its
session goes away: the page passes ``session_alive(session_id) -> bool | None`` (Streamlit's runtime knows; None means
"can't tell", e.g. under AppTest), and when that can't tell, a job nobody has polled for ``idle_timeout`` seconds is
stopped. Either way the best epoch so far is kept and published. So it is at shutdown: Ctrl-C or SIGTERM to the
server ends its event loop, and an ``atexit`` hook stops every job and waits for it to publish before the
interpreter tears down (a torch thread still running then aborted the process, exit 134, and lost the run).

No Streamlit import here: the page injects what only Streamlit knows. References: minGPT's Trainer callbacks.
"""
from __future__ import annotations

import atexit
import dataclasses
import functools
import hashlib
import itertools
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from models import checkpoint as ckpt
from models.capture import AttentionCapture, capture
from models.checkpoint import NAME_RE, SHIPPED, CheckpointError, ModelBundle, load_checkpoint, train_flag
from models import data as wordlists
from models.data import WordList
from models.train import MODEL_CHOICES, EpochStats, Recipe, recipe_for, train
from models.vocab import DEFAULT_VOCAB

log = logging.getLogger(__name__)

MAX_RUNNING = 2                  # training jobs at once in this process (2 cores here: more would starve the app)
IDLE_TIMEOUT_S = 300.0           # no poll for this long, and the runtime can't say the session is alive -> stop
GONE_GRACE_S = 30.0              # the runtime says the session is gone for this long (not a reconnect blip) -> stop
SHUTDOWN_WAIT_S = 60.0           # at exit, wait this long for each job to end its epoch and publish
REAP_AFTER_S = 3600.0            # finished jobs nobody has looked at for this long are forgotten
SNAPSHOT_BUDGET = 24             # about this many attention snapshots per run (kept small: they go into the checkpoint)
DEFAULT_PROBE = "capybara"
STATUSES = ("queued", "running", "done", "stopped", "failed")
ACTIVE = ("queued", "running")
NAME_HELP = "1–40 characters: lowercase letters a–z, digits, '-' and '_', starting with a letter or digit"


class JobError(Exception):
    """A job that cannot start; the message is written for the person at the page."""


class JobLimitError(JobError):
    """The session already has a running job, or every training slot in the process is taken."""


class ModelNameError(JobError, ValueError):
    """A name the result cannot be published under."""


# ---- names -----------------------------------------------------------------------------------------------------
def user_path(name: str) -> Path:
    # Read the module attribute at call time so tests (and ATTENTION_LAB_USER_CKPT_DIR) can move the folder.
    return Path(ckpt.USER_CKPT_DIR) / f"{name}.pt"


def shipped_path(name: str) -> Path:
    return Path(ckpt.CKPT_DIR) / f"{name}.pt"


def normalize_name(name: str) -> str:
    """What a typed name becomes: trimmed, lowercase, spaces as '-'."""
    return "-".join(name.strip().lower().split())


def check_name(name: str) -> str:
    """The normalized name, or :class:`ModelNameError` saying what to change."""
    n = normalize_name(name)
    if not n:
        raise ModelNameError(f"Give the result a name ({NAME_HELP}), e.g. my-miniformer.")
    if not NAME_RE.match(n):
        raise ModelNameError(f"{n!r} can't be a model name: use {NAME_HELP}, e.g. my-miniformer.")
    if n in SHIPPED:
        raise ModelNameError(f"{n!r} is a shipped model's name, and shipped models are never overwritten. "
                             f"Pick another name, e.g. my-{n}.")
    return n


def owner_id(session_id: str) -> str:
    """The owner tag a session's models carry in their checkpoint (``meta["owner"]``): a hash, so no checkpoint
    holds a live session id."""
    return hashlib.sha256(f"attention-lab-owner\0{session_id}".encode()).hexdigest()[:16]


def may_replace(name: str, owner: str | None) -> bool:
    """Whether ``checkpoints/user/<name>.pt`` exists and was made by ``owner`` (an :func:`owner_id`). Only the
    session that made a model may replace it; a file without a readable owner belongs to nobody here."""
    path = user_path(name)
    if owner is None or not path.exists():
        return False
    try:
        recorded = torch.load(path, map_location="cpu", weights_only=True).get("owner")
    except Exception:                 # unreadable or not ours: never overwritten in place
        return False
    return recorded == owner


def publish_name(name: str, *, replace: bool = False, owner: str | None = None) -> tuple[str, str | None]:
    """``(final name, note)``. A taken name is overwritten only with ``replace=True`` by the session that made that
    model (``owner``, see :func:`may_replace`); otherwise the result gets the first free suffix (``name-2``,
    ``name-3`` ...) and the note says so."""
    n = check_name(name)
    if not user_path(n).exists():
        return n, None
    mine = may_replace(n, owner)
    if replace and mine:
        return n, f"Your existing model {n!r} will be replaced."
    for i in itertools.count(2):
        cand = f"{n[:40 - len(str(i)) - 1]}-{i}"
        if not user_path(cand).exists():
            why = " (tick “replace” to overwrite it instead)" if mine else \
                " (it was made in another session, and only that session may replace it)"
            return cand, f"A model called {n!r} already exists, so this one will be saved as {cand!r}{why}."
    raise AssertionError("unreachable")


def suggest_name(model_name: str) -> str:
    """A free default name such as ``my-miniformer`` (or ``my-miniformer-2`` when taken)."""
    return publish_name(f"my-{model_name}")[0]


# ---- attention snapshots -----------------------------------------------------------------------------------------
def take_snapshot(model: torch.nn.Module, word: str) -> dict:
    """The probe word's attention in every layer: ``{"src_tokens", "tgt_tokens", "causal", "peeking", "patterns":
    {TL name: (H, Q, K) nested lists of floats}}``. Plain lists and bools survive ``torch.load(weights_only=True)``."""
    b = ModelBundle(name="training", model=model, vocab=DEFAULT_VOCAB, kind=model.kind)
    cap = capture(b, word)                                  # eval-mode model, inference_mode inside, copies out
    pats = {n: [[[round(float(x), 4) for x in row] for row in head] for head in p[0].tolist()]
            for n, p in cap.patterns.items()}               # (1, H, Q, K) -> (H, Q, K) lists
    return {"word": word, "src_tokens": list(cap.src_tokens), "tgt_tokens": list(cap.tgt_tokens),
            "causal": bool(cap.causal), "peeking": bool(cap.peeking), "patterns": pats}


def snapshot_capture(snap: dict, model_name: str = "training") -> AttentionCapture:
    """A stored snapshot back as an :class:`AttentionCapture`, so the usual figure builders can draw it."""
    return AttentionCapture(model_name=model_name, src_tokens=tuple(snap.get("src_tokens", ())),
                            tgt_tokens=tuple(snap["tgt_tokens"]),
                            patterns={n: torch.tensor(p, dtype=torch.float32).unsqueeze(0)    # (1, H, Q, K)
                                      for n, p in snap["patterns"].items()},
                            logits=None, causal=bool(snap.get("causal", True)), peeking=bool(snap.get("peeking")))


def snapshot_every(epochs: int, budget: int = SNAPSHOT_BUDGET) -> int:
    return max(1, math.ceil(epochs / budget))


# ---- warm-up -----------------------------------------------------------------------------------------------------
@functools.cache
def warm_up() -> threading.Thread:
    """Import what the first optimizer step needs (torch builds ``torch._dynamo`` and sympy on the first
    ``torch.optim`` optimizer: 3-10 s here) on a background thread, once per process, so the first Train press
    starts at once. The page calls it when the set-up form is shown."""
    def work():
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    t = threading.Thread(target=work, name="train-warm-up", daemon=True)
    t.start()
    return t


# ---- one job -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobSpec:
    """What to train and where the result goes."""
    model_name: str                       # "miniformer" | "full" | "full-peeking"
    words: WordList
    recipe: Recipe
    name: str                             # the published name (file stem)
    out: Path
    kind: str = "train"                   # "train" (checkpoints/user/) | "restore" (a shipped checkpoint)
    probe_word: str = DEFAULT_PROBE
    note: str | None = None               # e.g. "saved as my-miniformer-2", shown with the progress
    owner: str | None = None              # owner_id of the session that started it, saved in the checkpoint
    pace_s: float = 0.0                   # epoch e ends no sooner than e * pace_s after the start (the Lesson's "watch"
                                          # pace: a class can follow it; a machine already that slow waits no more)

    def __post_init__(self):
        if self.model_name not in MODEL_CHOICES:
            raise ValueError(f"unknown model {self.model_name!r}; expected one of {list(MODEL_CHOICES)}")
        if self.kind not in ("train", "restore"):
            raise ValueError(f"kind must be 'train' or 'restore', not {self.kind!r}")


@dataclass(frozen=True)
class JobProgress:
    """An immutable copy of a job's state at one moment."""
    job_id: int
    kind: str
    name: str
    model_name: str
    recipe: dict
    status: str
    epoch: int                            # last finished epoch (0 before the first)
    epochs: int
    history: tuple[dict, ...]             # EpochStats as dicts, one per finished epoch
    snapshots: tuple[dict, ...]           # {"epoch": e, ...take_snapshot()}; the ones saved in the checkpoint
    latest_snapshot: dict | None          # the newest snapshot (every epoch), for the live view
    best_epoch: int
    elapsed: float
    error: str | None = None
    stop_requested: bool = False
    stop_reason: str | None = None
    checkpoint: str | None = None
    metrics: dict = field(default_factory=dict)
    kept_epoch: int | None = None
    stopped_early: bool = False
    n_words: int = 0
    duplicates_dropped: int = 0
    probe_word: str = DEFAULT_PROBE
    note: str | None = None

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


class TrainingJob:
    """``train(...)`` on a daemon thread. Thread-safe: the worker writes under ``_lock``, readers get copies."""

    def __init__(self, spec: JobSpec, session_id: str, *, job_id: int = 0,
                 session_alive: Callable[[str], bool | None] | None = None,
                 idle_timeout: float = IDLE_TIMEOUT_S, gone_grace: float = GONE_GRACE_S):
        self.spec = spec
        self.session_id = session_id
        self.id = job_id                  # unique within its registry: pages key widgets and caches by it
        self._session_alive = session_alive
        self._idle_timeout = idle_timeout
        self._gone_grace = gone_grace
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"train-{spec.name}-{self.id}", daemon=True)
        self._every = snapshot_every(spec.recipe.epochs)
        # state below is written by the worker under _lock
        self._status = "queued"
        self._history: list[dict] = []
        self._snapshots: list[dict] = []
        self._latest: dict | None = None
        self._error: str | None = None
        self._stop_reason: str | None = None
        self._result: dict = {}
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self._last_poll = time.monotonic()
        self._gone_since: float | None = None

    # -- control ---------------------------------------------------------------------------------------------------
    def start(self) -> "TrainingJob":
        self._thread.start()
        return self

    def stop(self, reason: str = "you pressed Stop") -> None:
        """End after the current epoch; the best epoch so far is kept and published."""
        with self._lock:
            if self._stop_reason is None and self._status in ACTIVE:
                self._stop_reason = reason
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when it has ended."""
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
                job_id=self.id, kind=self.spec.kind, name=self.spec.name, model_name=self.spec.model_name,
                recipe=dataclasses.asdict(self.spec.recipe), status=self._status,
                epoch=h["epoch"] if h else 0, epochs=self.spec.recipe.epochs, history=tuple(self._history),
                snapshots=tuple(self._snapshots), latest_snapshot=self._latest,
                best_epoch=h["best_epoch"] if h else 0, elapsed=end - self._t0, error=self._error,
                stop_requested=self._stop.is_set(), stop_reason=self._stop_reason,
                checkpoint=r.get("checkpoint"), metrics=dict(r.get("metrics", {})), kept_epoch=r.get("kept_epoch"),
                stopped_early=bool(r.get("stopped_early")), n_words=len(self.spec.words.words),
                duplicates_dropped=self.spec.words.duplicates_dropped, probe_word=self.probe_word,
                note=self.spec.note)

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def probe_word(self) -> str:
        return self.spec.probe_word or self.spec.words.words[0]

    def idle_for(self) -> float:
        with self._lock:
            return time.monotonic() - self._last_poll

    # -- worker ----------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        # No torch.set_num_threads here: it is process-wide, and the app already sets 1 (ui/cache.py, ENV.md).
        # torch's lazy first-optimizer imports (dynamo, sympy) run in one thread only: if the page's warm-up is
        # still importing, wait for it rather than import the same modules beside it (dynamo isn't thread-safe).
        warm_up().join()
        with self._lock:
            self._status = "running"
            self._t0 = time.monotonic()
        try:
            res = train(self.spec.model_name, self.spec.words, self.spec.recipe, on_epoch=self._on_epoch,
                        stop=self._stop, probe=self._probe, out=self.spec.out, name=self.spec.name,
                        meta={"owner": self.spec.owner} if self.spec.owner else None)
            with self._lock:
                self._result = {"checkpoint": str(res.checkpoint), "metrics": dict(res.metrics),
                                "kept_epoch": res.best_epoch, "stopped_early": res.stopped_early}
                self._status = "stopped" if res.stopped_by_user else "done"
        except Exception as e:        # the page shows the message; the traceback goes to the server log only
            log.exception("training job %s (%s) failed", self.id, self.spec.name)
            msg = (f"Could not save the model to {self.spec.out}: {e.strerror or e}" if isinstance(e, OSError)
                   else f"Training failed: {type(e).__name__}: {str(e)[:300]}")
            with self._lock:
                self._status = "failed"
                self._error = msg
        finally:
            with self._lock:
                self._t_end = time.monotonic()

    def _is_last_epoch(self, epoch: int) -> bool:
        rec = self.spec.recipe
        h = self._history[-1] if self._history else None
        return (epoch == rec.epochs or self._stop.is_set()
                or (rec.patience is not None and h is not None and epoch - h["best_epoch"] >= rec.patience))

    def _probe(self, model: torch.nn.Module, epoch: int) -> dict | None:
        snap = {"epoch": epoch, **take_snapshot(model, self.probe_word)}
        keep = epoch % self._every == 0 or self._is_last_epoch(epoch)
        with self._lock:
            self._latest = snap
            if keep:
                self._snapshots.append(snap)
        if not keep:
            return None
        snap = dict(snap)
        del snap["epoch"]             # train() adds it back
        return snap

    def _on_epoch(self, stats: EpochStats) -> None:
        with self._lock:
            self._history.append(dataclasses.asdict(stats))
        if self.spec.pace_s > 0:          # Stop still ends the wait at once
            self._stop.wait(max(0.0, stats.epoch * self.spec.pace_s - stats.seconds))
        reason = self._abandoned()
        if reason:
            log.info("stopping training job %s (%s): %s", self.id, self.spec.name, reason)
            self.stop(reason)

    def _abandoned(self) -> str | None:
        """Why nobody is watching any more, or None. Runs on the worker after each epoch."""
        alive = None
        if self._session_alive is not None:
            try:
                alive = self._session_alive(self.session_id)
            except Exception:         # the check is best effort; fall back to the poll watchdog
                alive = None
        now = time.monotonic()
        if alive is True:
            self._gone_since = None
            return None
        if alive is False:
            self._gone_since = self._gone_since or now
            if now - self._gone_since >= self._gone_grace:
                return "the browser tab that started it was closed"
            return None
        if self.idle_for() >= self._idle_timeout:
            return f"no page looked at it for {self._idle_timeout / 60:.0f} minutes"
        return None


# ---- the registry -----------------------------------------------------------------------------------------------
class JobRegistry:
    """Jobs by session id. A lock guards it: every session's script thread and every worker reads it."""

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
                raise JobLimitError(f"You are already training {mine.spec.name!r}. One run per browser session: "
                                    "stop it or wait for it to finish, then start the next.")
            active = [j for j in self._jobs.values() if j.active]
            if len(active) >= self.max_running:
                raise JobLimitError(f"All {self.max_running} training slots are busy — other sessions are training "
                                    "right now, and this machine has only a few cores. Try again in a minute or "
                                    "two; each run takes about a minute.")
            clash = next((j for j in active if Path(j.spec.out) == Path(spec.out)), None)
            if clash is not None:
                raise ModelNameError(f"A model called {spec.name!r} is being trained right now in another session. "
                                     "Pick another name.")
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
        with self._lock:
            return sum(j.active for j in self._jobs.values())

    def jobs(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._jobs.values())

    def stop_all(self, timeout: float | None = None) -> None:
        """Stop every job and wait for the workers (tests, shutdown)."""
        for j in self.jobs():
            j.stop("the server is stopping")
        for j in self.jobs():
            j.join(timeout)

    def _reap(self) -> None:
        for sid, j in list(self._jobs.items()):
            if not j.active and j.idle_for() > self.reap_after:
                del self._jobs[sid]


# The one module-level mutable (STYLE.md §10 allows it here and says why): a job must outlive the script run that
# started it, every session's script thread must see the global count, and st.session_state cannot hold threads.
REGISTRY = JobRegistry()


def stop_all_at_exit(registry: JobRegistry | None = None, timeout: float = SHUTDOWN_WAIT_S) -> None:
    """Stop every job and wait for each to publish its best epoch; the warm-up import too, if it is running.

    Registered with ``atexit``: the server's signal handler (Streamlit's, for SIGINT, SIGTERM and SIGQUIT) ends its
    event loop, and the interpreter then runs this before it finalizes. Worker threads are daemons, so nothing else
    waits for them: left running, torch was torn down under them ("terminate called without an active exception",
    exit 134) and the run was lost. A job ends after its current epoch (about a second here)."""
    registry = registry or REGISTRY
    running = [j for j in registry.jobs() if j.active]
    if running:
        log.warning("the server is stopping: stopping %d training job(s) and saving their best epoch", len(running))
    registry.stop_all(timeout)
    if warm_up.cache_info().currsize:          # started earlier in this process (never start it now)
        warm_up().join(timeout)


# Runs before torch's own exit handlers (atexit is last in, first out, and torch was imported above).
atexit.register(stop_all_at_exit)


def start_job(session_id: str, model_name: str, words: WordList, recipe: Recipe | str = "fast", *, name: str,
              replace: bool = False, probe_word: str | None = None,
              session_alive: Callable[[str], bool | None] | None = None, registry: JobRegistry | None = None,
              pace_s: float = 0.0, **job_kw) -> TrainingJob:
    """Start training ``model_name`` on ``words`` and publish it as ``checkpoints/user/<name>.pt``. ``pace_s``
    makes epoch e end no sooner than e * pace_s seconds in (the Lesson's "watch" pace spreads a seconds-long run over
    about half a minute).

    Raises :class:`ModelNameError` for a bad name and :class:`JobLimitError` when this session already trains or
    every slot is busy. A taken name gets a suffix unless ``replace`` and this session made that model (the job's
    ``spec.note`` says which). The checkpoint records this session's :func:`owner_id`.
    """
    owner = owner_id(session_id)
    final, note = publish_name(name, replace=replace, owner=owner)
    rec = recipe_for(recipe, model_name) if isinstance(recipe, str) else recipe
    spec = JobSpec(model_name=model_name, words=words, recipe=rec, name=final, out=user_path(final),
                   probe_word=probe_word or (DEFAULT_PROBE if DEFAULT_PROBE in words.words else words.words[0]),
                   note=note, owner=owner, pace_s=pace_s)
    return (registry or REGISTRY).start(session_id, spec, session_alive=session_alive, **job_kw)


def start_restore_job(session_id: str, shipped: str, *, words: WordList | None = None,
                      session_alive: Callable[[str], bool | None] | None = None,
                      registry: JobRegistry | None = None, **job_kw) -> TrainingJob:
    """Retrain the shipped checkpoint ``shipped`` with the fast recipe on the shipped word list and write it
    atomically to ``checkpoints/<shipped>.pt`` — ``python -m models.train --model ...`` through the same API."""
    if shipped not in SHIPPED:
        raise ModelNameError(f"{shipped!r} is not a shipped model; those are {', '.join(SHIPPED)}.")
    model_name = train_flag(shipped)
    # The module attribute, read now, so tests can point it elsewhere. WordListError says what is wrong.
    words = words if words is not None else wordlists.load_words(wordlists.DEFAULT_WORDS)
    spec = JobSpec(model_name=model_name, words=words, recipe=recipe_for("fast", model_name), name=shipped,
                   out=shipped_path(shipped), kind="restore",
                   probe_word=DEFAULT_PROBE if DEFAULT_PROBE in words.words else words.words[0])
    return (registry or REGISTRY).start(session_id, spec, session_alive=session_alive, **job_kw)


def get_job(session_id: str) -> TrainingJob | None:
    return REGISTRY.get(session_id)


def clear_job(session_id: str) -> None:
    REGISTRY.clear(session_id)


def active_count() -> int:
    return REGISTRY.active_count()


def broken_shipped(loader: Callable[[str], object] = load_checkpoint) -> dict[str, str]:
    """Shipped checkpoints that are missing or fail to load: ``{name: what is wrong}``. ``loader`` is the page's
    cached loader, so the check is free once a file has loaded."""
    out = {}
    for name in SHIPPED:
        if not shipped_path(name).exists():
            out[name] = "missing"
            continue
        try:
            loader(name)
        except CheckpointError as e:
            out[name] = str(e).split(". ")[0].replace(str(shipped_path(name)), f"{name}.pt")
    return out
