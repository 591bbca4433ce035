"""Training beside typing: a run in a worker process (services/jobs.py) vs on a thread of the app process (before).

``python -m bench.train_isolation [--reps 80] [--models miniformer full] [--starts 3] [--no-append]``

1. Start-up: ``start_job`` -> the worker's imports done ("started") -> first finished epoch, fast recipe on
   data/words.txt, ``--starts`` times per model (a spawned process imports torch and the model code first).
2. Epoch time: the fast recipe's per-epoch wall seconds (its history), trained in a worker process vs by
   ``models.train.train`` on a thread of this process (what the old models/jobs.py did); one torch thread each, as the
   app sets.
3. Interference: one Explore rerun's server compute (``bench.latency.explore_rerun``: capture, the figures as JSON,
   BertViz's parts; a new text each time) on this process's main thread, p50/p95 wall ms: alone, while a thread of
   this process trains, and while a worker process trains. This is the app-process side of the issue's keystroke
   target ("a training run in progress changes the other students' keystroke p95 by <= 30 %"); the browser-side
   class measurement is bench.classroom's.
4. Memory: RSS of this process (the app's side: models loaded, a job's state) and of the worker (peak RSS and USS,
   the memory only it holds; the rest is torch's shared libraries, sampled).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import threading
import time

import psutil
import torch

from bench.common import append_results, machine_info, md_table, pctl
from models import registry
from models.capture import capture
from models.checkpoint import load_checkpoint
from models.data import DEFAULT_WORDS, load_words
from models.train import recipe_for, train
from services import jobs

MIB = 2**20


def start_up(model: str, words, starts: int) -> dict:
    """Seconds from start_job to "started" and to the first epoch; the worker's peak RSS and its epoch times."""
    reg = jobs.JobRegistry()
    to_started, to_epoch, peak, peak_uss, epoch_s = [], [], 0, 0, []
    for i in range(starts):
        t = time.monotonic()
        job = jobs.start_job(f"bench-{i}", model, words, "fast", name=f"bench-{model}-{i}", registry=reg)
        while job.peek().status == "queued":
            time.sleep(0.005)
        to_started.append(time.monotonic() - t)
        while job.active:
            try:
                mem = psutil.Process(job.pid).memory_full_info()
                peak, peak_uss = max(peak, mem.rss), max(peak_uss, mem.uss)
            except psutil.Error:
                pass
            time.sleep(0.05)
        p = job.peek()
        assert p.status == "done", p.error
        to_epoch.append(job.startup_seconds)
        h = p.history
        epoch_s.append((h[-1]["seconds"] - h[0]["seconds"]) / max(1, len(h) - 1))  # steady epochs, not the 1st
        reg.clear(f"bench-{i}")
    return {
        "started": statistics.median(to_started),
        "first_epoch": statistics.median(to_epoch),
        "epoch_s": statistics.median(epoch_s),
        "peak_rss": peak,
        "peak_uss": peak_uss,
    }


def thread_epochs(model: str, words) -> float:
    """The same run on a thread of this process (the old way): its steady per-epoch seconds."""
    out = {}
    t = threading.Thread(target=lambda: out.update(res=train(model, words, "fast")))
    t.start()
    t.join()
    h = out["res"].history
    return (h[-1]["seconds"] - h[0]["seconds"]) / max(1, len(h) - 1)


def reruns(bundle, words, reps: int) -> list[float]:
    from bench.latency import explore_rerun

    ms = []
    pool = [w for w in words.words if len(w) >= 5]
    for i in range(reps):
        text = pool[(i * 37) % len(pool)][: 3 + i % 5] + "abcdefgh"[i % 8]  # new texts: nothing cached
        t = time.perf_counter()
        explore_rerun(bundle, capture(bundle, text), text, words.words)
        ms.append((time.perf_counter() - t) * 1000)
    return ms


def interference(words, reps: int, model: str, rounds: int) -> list[tuple[str, list[float]]]:
    """The three conditions in ``rounds`` interleaved blocks (alone, thread, process, alone, ...), so a burst of
    load from elsewhere on a shared machine falls on all of them alike rather than on one."""
    bundle = load_checkpoint("miniformer")
    reruns(bundle, words, 10)
    long = dataclasses.replace(recipe_for("fast", model), epochs=100_000, patience=None)
    per = max(1, reps // rounds)
    out = {"alone": [], "thread": [], "process": []}
    reg = jobs.JobRegistry()
    for r in range(rounds):
        out["alone"] += reruns(bundle, words, per)
        stop = threading.Event()
        th = threading.Thread(target=train, args=(model, words, long), kwargs={"stop": stop}, daemon=True)
        th.start()
        time.sleep(3)  # past the first optimizer's imports
        out["thread"] += reruns(bundle, words, per)
        stop.set()
        th.join()
        job = jobs.start_job(f"bench-{r}", model, words, long, name=f"bench-interference-{r}", registry=reg)
        while job.peek().epoch < 1:
            time.sleep(0.05)
        out["process"] += reruns(bundle, words, per)
        job.stop()
        job.join(60)
    return [
        ("alone", out["alone"]),
        ("a thread of this process trains (before)", out["thread"]),
        ("a worker process trains (now)", out["process"]),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.train_isolation", description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=80)
    ap.add_argument(
        "--models",
        nargs="+",
        default=[s.train_flag for s in registry.one_per_architecture()],
        help="start-up and epoch times for each; the interference run trains the first",
    )
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=4, help="interleaved blocks of the three interference conditions")
    ap.add_argument("--no-append", action="store_true", help="print only; don't append to bench/RESULTS.md")
    args = ap.parse_args(argv)
    import os
    import tempfile

    import settings

    os.environ[settings.USER_CKPT_DIR_ENV] = tempfile.mkdtemp(prefix="bench-train-")  # never the real user folder
    torch.set_num_threads(1)  # as the app does (ui/cache.py)
    words = load_words(DEFAULT_WORDS)
    rows = []
    for m in args.models:
        s = start_up(m, words, args.starts)
        th = thread_epochs(m, words)
        rows.append(
            [
                m,
                f"{s['started']:.2f} s",
                f"{s['first_epoch']:.2f} s",
                f"{s['epoch_s'] * 1000:.0f} ms",
                f"{th * 1000:.0f} ms",
                f"{s['peak_rss'] / MIB:.0f} / {s['peak_uss'] / MIB:.0f} MiB",
            ]
        )
        print(rows[-1], flush=True)
    table = md_table(
        [
            "model (fast recipe)",
            "start_job -> worker started",
            "start_job -> first epoch",
            "epoch in a worker process",
            "epoch on a thread (before)",
            "worker peak RSS / USS (its own pages)",
        ],
        rows,
    )
    inter = interference(words, args.reps, args.models[0], args.rounds)
    base95 = pctl(inter[0][1], 95)
    irows = [
        [tag, f"{pctl(v, 50):.0f} ms", f"{pctl(v, 95):.0f} ms", f"{(pctl(v, 95) / base95 - 1) * 100:+.0f} %"]
        for tag, v in inter
    ]
    itable = md_table(
        [
            f"Explore rerun compute on the app's main thread ({args.reps} texts in {args.rounds} "
            f"interleaved blocks), while {args.models[0]} trains",
            "p50",
            "p95",
            "p95 vs alone",
        ],
        irows,
    )
    rss = psutil.Process().memory_info().rss / MIB
    body = (
        f"{machine_info()}\n\n{table}\n\n{itable}\n\nThis process's RSS at the end (shipped MiniFormer loaded, "
        f"jobs finished): {rss:.0f} MiB."
    )
    print(body)
    if not args.no_append:
        append_results("Training in worker processes (issue 14 item 1)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
