"""The training process: what runs in a job's own OS process, and the plain messages it sends to the app.

:func:`worker_main` is the target of a ``multiprocessing`` *spawn* process (``services/jobs.py`` starts it): a fresh
interpreter that imports only this module and the model code, never Streamlit and never the page. It lowers its own
CPU priority (``os.nice``, and SCHED_IDLE on Linux: :func:`lower_priority`) and uses one torch thread, so the app
process that serves every student keeps the CPU it needs, then calls ``models.train.train`` and reports through a
one-way pipe:

* ``("started", {"pid": ...})`` once the imports are done and training begins;
* ``("snapshot", snap, keep)`` after each epoch's evaluation (``keep``: it goes into the checkpoint's replay);
* ``("epoch", EpochStats as a dict)`` after each epoch;
* ``("result", {...})`` or ``("error", message, traceback, code)`` at the end, right before the process exits.

A stop request comes the other way through a ``multiprocessing`` Event: train() checks it after each epoch, keeps the
best epoch and publishes it atomically. The child never outlives the app: if the parent process is gone (or the pipe
to it is broken) it stops the same way. Ctrl-C in a terminal reaches the whole process group; the child ignores
SIGINT and lets the app stop it cleanly; SIGTERM to the child alone ends it the same clean way (best epoch kept).

Everything here is importable and picklable (no lambdas, no Streamlit): spawn re-imports it in the child.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from models.capture import capture
from models.checkpoint import ModelBundle
from models.data import WordList
from models.messages import N_, Message
from models.registry import train_flags
from models.train import EpochStats, Recipe, train
from models.vocab import DEFAULT_VOCAB

DEFAULT_PROBE = "capybara"
SNAPSHOT_BUDGET = 24  # about this many attention snapshots per run (kept small: they go into the checkpoint)
NICE = 10  # the child's CPU priority increment: the app process comes first
PARENT_CHECK_S = 0.5  # a paced wait looks this often whether the app is still there
APP_GONE = Message(N_("the app process that started it is gone"))
SIGTERM_REASON = Message(N_("the training process was sent SIGTERM"))


@dataclass(frozen=True)
class JobSpec:
    """What to train and where the result goes (pickled to the training process)."""

    model_name: str  # a train flag of models/registry.py: "miniformer" | "full" | ...
    words: WordList
    recipe: Recipe
    name: str  # the published name (file stem)
    out: Path
    action: str = "train"  # "train" (checkpoints/user/) | "restore" (a shipped checkpoint)
    probe_word: str = DEFAULT_PROBE
    note: str | None = None  # e.g. "saved as my-miniformer-2", shown with the progress
    owner: str | None = None  # owner_id of the session that started it, saved in the checkpoint
    pace_s: float = 0.0  # epoch e ends no sooner than e * pace_s after the start (the Lesson's "watch"
    # pace: a class can follow it; a machine already that slow waits no more)
    pace_from: float | None = None  # time.time() when the job was asked for: the pace counts from there, by
    # the clock, so starting the process (seconds: torch's import) is paid
    # out of the same half minute instead of added to it

    def __post_init__(self):
        if self.model_name not in train_flags():
            raise ValueError(f"unknown model {self.model_name!r}; expected one of {list(train_flags())}")
        if self.action not in ("train", "restore"):
            raise ValueError(f"action must be 'train' or 'restore', not {self.action!r}")

    @property
    def probe(self) -> str:
        return self.probe_word or self.words.words[0]


def take_snapshot(model: torch.nn.Module, word: str) -> dict:
    """The probe word's attention in every layer: ``{"src_tokens", "tgt_tokens", "causal", "peeking", "patterns":
    {TL name: (H, Q, K) nested lists of floats}}``. Plain lists and bools survive ``torch.load(weights_only=True)``
    and a pipe."""
    b = ModelBundle(name="training", model=model, vocab=DEFAULT_VOCAB, architecture=model.architecture)
    cap = capture(b, word)  # eval-mode model, inference_mode inside, copies out
    pats = {
        n: [[[round(float(x), 4) for x in row] for row in head] for head in p[0].tolist()]
        for n, p in cap.patterns.items()
    }  # (1, H, Q, K) -> (H, Q, K) lists
    return {
        "word": word,
        "src_tokens": list(cap.src_tokens),
        "tgt_tokens": list(cap.tgt_tokens),
        "causal": bool(cap.causal),
        "peeking": bool(cap.peeking),
        "patterns": pats,
    }


def snapshot_every(epochs: int, budget: int = SNAPSHOT_BUDGET) -> int:
    return max(1, math.ceil(epochs / budget))


def failure_message(e: BaseException, out: Path) -> Message:
    """What the page says when training raised: plain words, no traceback and no server path (those go to the
    server log)."""
    if isinstance(e, OSError):
        return Message(
            N_("Could not save the model {name!r}: {why}. Nothing was written."),
            name=out.stem,
            why=e.strerror or type(e).__name__,
        )
    return Message(N_("Training failed: {why}"), why=f"{type(e).__name__}: {str(e)[:300]}")


def failure_code(e: BaseException) -> str | None:
    """The folder's state when saving failed ("full", "read-only", "permission"), for the page to explain."""
    import errno

    if not isinstance(e, OSError):
        return None
    return {
        errno.ENOSPC: "full",
        errno.EDQUOT: "full",
        errno.EROFS: "read-only",
        errno.EACCES: "permission",
        errno.EPERM: "permission",
    }.get(e.errno)


class _Stop:
    """What train() checks after each epoch: the app's stop Event, or a stop this process decided on itself
    (the app went away, SIGTERM). A plain attribute for the latter (its reason), so a signal handler never takes a
    lock."""

    def __init__(self, event):
        self._event = event
        self.local: str | None = None  # why this process stopped by itself, if it did

    def on_sigterm(self, *_sig) -> None:
        self.local = SIGTERM_REASON

    def is_set(self) -> bool:
        return self.local is not None or self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; wakes at once on a stop, and stops by itself when the app is gone."""
        end = time.monotonic() + timeout
        while not self.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            self._event.wait(min(left, PARENT_CHECK_S))
            if not parent_alive():
                self.local = APP_GONE
        return self.is_set()


def parent_alive() -> bool:
    parent = multiprocessing.parent_process()
    return parent is None or parent.is_alive()


class _Worker:
    """The callbacks train() calls in the child; each sends one small message."""

    def __init__(self, spec: JobSpec, conn, stop: _Stop):
        self.spec = spec
        self.conn = conn
        self.stop = stop
        self.every = snapshot_every(spec.recipe.epochs)
        self.last: dict | None = None  # the previous epoch's stats

    def send(self, *msg) -> None:
        try:
            self.conn.send(msg)
        except OSError:  # BrokenPipeError: the app is gone, nobody to report to
            self.stop.local = APP_GONE

    def is_last_epoch(self, epoch: int) -> bool:
        rec, h = self.spec.recipe, self.last
        return (
            epoch == rec.epochs
            or self.stop.is_set()
            or (rec.patience is not None and h is not None and epoch - h["best_epoch"] >= rec.patience)
        )

    def probe(self, model: torch.nn.Module, epoch: int) -> dict | None:
        snap = {"epoch": epoch, **take_snapshot(model, self.spec.probe)}
        keep = epoch % self.every == 0 or self.is_last_epoch(epoch)
        self.send("snapshot", snap, keep)
        if not keep:
            return None
        del snap["epoch"]  # train() adds it back
        return snap

    def on_epoch(self, stats: EpochStats) -> None:
        self.last = dataclasses.asdict(stats)
        self.send("epoch", self.last)
        if not parent_alive():
            self.stop.local = APP_GONE  # an orphan stops now and publishes its best epoch
        if self.spec.pace_s > 0:  # Stop still ends the wait at once
            due = stats.epoch * self.spec.pace_s
            late = time.time() - self.spec.pace_from if self.spec.pace_from is not None else stats.seconds
            self.stop.wait(max(0.0, due - late))


def lower_priority(pid: int = 0) -> None:
    """``nice`` +10, and on Linux the SCHED_IDLE policy as well, for process ``pid`` (0: this one): the worker then
    runs only on CPU time no ordinary process wants. nice alone still let the worker's time slices land inside the
    app's short reruns (an Explore rerun's p95 +43 % to +119 % on the 2 shared cores here, ``bench.train_isolation``;
    with SCHED_IDLE -8 % to +2 %). The cost: on a machine kept fully busy by typing, training waits until the typing
    pauses. The app calls it for the child the moment the child exists (services.jobs), because a spawned child
    imports torch — over a second of CPU — while it unpickles its job, before :func:`worker_main` runs; the child
    calls it again itself. Best effort: a platform or sandbox that refuses either keeps the default."""
    try:
        app = os.getpid() if pid else os.getppid()
        target = min(19, os.getpriority(os.PRIO_PROCESS, app) + NICE)  # NICE below the app, whatever its own
        if os.getpriority(os.PRIO_PROCESS, pid) < target:
            os.setpriority(os.PRIO_PROCESS, pid, target)
    except OSError:
        pass
    if hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass


def worker_main(spec: JobSpec, conn, stop_event) -> None:
    """The training process's whole life: set up, train, report, exit (see the module docstring)."""
    stop = _Stop(stop_event)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the app stops us cleanly instead
    signal.signal(signal.SIGTERM, stop.on_sigterm)  # end after this epoch, keeping the best one
    lower_priority()
    torch.set_num_threads(1)
    worker = _Worker(spec, conn, stop)
    worker.send("started", {"pid": os.getpid()})
    try:
        res = train(
            spec.model_name,
            spec.words,
            spec.recipe,
            on_epoch=worker.on_epoch,
            stop=stop,
            probe=worker.probe,
            out=spec.out,
            name=spec.name,
            meta={"owner": spec.owner} if spec.owner else None,
        )
        worker.send(
            "result",
            {
                "checkpoint": str(res.checkpoint),
                "metrics": dict(res.metrics),
                "kept_epoch": res.best_epoch,
                "stopped_early": res.stopped_early,
                "stopped_by_user": res.stopped_by_user,
                "stop_reason": stop.local,
            },
        )
    except Exception as e:  # the page shows the message; the traceback goes to the log
        worker.send("error", failure_message(e, spec.out), traceback.format_exc(), failure_code(e))
    finally:
        try:
            conn.close()
        except OSError:
            pass
