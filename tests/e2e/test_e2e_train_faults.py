"""Faults during a training run (issue 14 item 1): the worker process killed mid-epoch, and the student closing the
tab mid-run. Each time: nothing is lost (every checkpoint loads, no temp file), the other session typing on Explore
sees exactly the shipped model's numbers throughout, and the run's slot comes back.

One server of its own per test (a fresh user checkpoints folder); session A trains, session B types.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
from test_e2e_concurrency import WORD, check_view, press_train, progress, read_bars, shipped_model_state

from models.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 500  # the original recipe (no early stopping) at the most the page allows


def start_long_run(a, name: str) -> None:
    """On A's Train page: the original recipe, 500 epochs, ``name``; press Train and see an epoch finish."""
    press_train(a, name, EPOCHS)
    a.wait_until(lambda: (p := progress(a)) and p[0] >= 1, "A's run to finish an epoch", timeout_s=90)


def workers(server) -> list[psutil.Process]:
    """The server's training worker processes (spawned ``multiprocessing`` children)."""
    kids = psutil.Process(server.proc.pid).children(recursive=True)
    return [k for k in kids if "multiprocessing.spawn" in " ".join(k.cmdline()) and k.status() != psutil.STATUS_ZOMBIE]


def open_explore(b):
    b.goto("", model="miniformer")
    b.wait_until(lambda: (r := read_bars(b)) and "start of a word" in r["title"], "the bars of the empty text")
    box = b.textbox()
    box.click()
    return box


def type_and_check(b, box, want: dict, upto: range) -> None:
    for n in upto:
        box.press(WORD[n - 1])
        check_view(b, WORD[:n], want[WORD[:n]])


def everything_loads(server) -> None:
    for folder in (REPO / "checkpoints", server.user_ckpt_dir):
        if folder.is_dir():
            for f in folder.glob("*.pt"):
                load_checkpoint(f)
            assert not list(folder.glob(".*.tmp")), f"a temp file is left in {folder}"


def test_worker_killed_mid_epoch_shows_failed_and_typing_elsewhere_is_unaffected(server_factory, open_page_on):
    _, _, want = shipped_model_state()
    server = server_factory()
    a, b = open_page_on(server), open_page_on(server)
    start_long_run(a, "killed-run")
    box = open_explore(b)
    type_and_check(b, box, want, range(1, 4))
    [worker] = workers(server)
    assert worker.pid != server.proc.pid
    os.kill(worker.pid, signal.SIGKILL)  # what the OOM killer does
    a.wait_until(
        lambda: "killed-run was not saved" in a.main_text(), "A's page to say the run was not saved", timeout_s=60
    )
    text = a.main_text()
    assert "killed by SIGKILL (signal 9)" in text and "training slot is free again" in text, text[-1500:]
    type_and_check(b, box, want, range(4, len(WORD) + 1))  # B's typing never noticed
    assert not (server.user_ckpt_dir / "killed-run.pt").exists()
    everything_loads(server)
    a.page.get_by_role("button", name=re.compile(r"Train another model")).click()
    a.wait_until(lambda: "Training runs on this server: 0 of 2" in a.main_text(), "the slot to be free again")
    a.screenshot("faults-killed-worker-after")
    a.assert_clean()
    b.assert_clean()


def test_closing_the_tab_mid_run_stops_the_worker_and_publishes_the_best_epoch(server_factory, open_page_on):
    """The session is gone when its tab closes; after the grace period (services.jobs.GONE_GRACE_S, 30 s, so a
    reconnect blip doesn't end a run) the worker stops after its epoch, publishes the best epoch and exits."""
    _, _, want = shipped_model_state()
    server = server_factory()
    a, b = open_page_on(server), open_page_on(server)
    start_long_run(a, "closed-tab")
    assert len(workers(server)) == 1
    box = open_explore(b)
    a.page.context.close()  # the student closes the tab (the whole browser context)
    t = time.monotonic()
    type_and_check(b, box, want, range(1, len(WORD) + 1))
    path = server.user_ckpt_dir / "closed-tab.pt"
    while not path.exists():
        assert time.monotonic() - t < 120, "the run of a closed tab was not stopped and published"
        time.sleep(0.5)
    while workers(server):
        assert time.monotonic() - t < 130, "the worker of a closed tab did not exit"
        time.sleep(0.2)
    ck = load_checkpoint(path)
    assert 1 <= ck.meta["epoch"] and len(ck.meta["history"]) < EPOCHS
    assert ck.meta["epoch"] == min(ck.meta["history"], key=lambda h: h["val_prefix_nll"])["epoch"]
    everything_loads(server)
    box.press("s")  # B is still served, with a text nobody computed before
    check_view(b, WORD + "s", want[WORD + "s"])
    b.assert_clean()
