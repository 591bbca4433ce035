"""Shutdown while a model trains (issue 12, item 12): SIGTERM or Ctrl-C to ``streamlit run app.py`` stops the
running job's worker process after its current epoch, publishes its best epoch atomically, and the server exits 0
with no worker process left behind. Before, the process aborted (``terminate called without an active exception``,
exit 134) and the run was lost."""

import re
import signal
import time

import psutil
import pytest

from models.checkpoint import load_checkpoint

EPOCHS = 300  # far more than the test waits for: the run is still going when the signal comes


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_training_publishes_best_epoch_and_exits_0(server_factory, open_page_on, sig):
    server = server_factory()
    app = open_page_on(server)
    try:
        app.goto("train")
        page = app.page
        page.get_by_role("radio", name="Original recipe (seed)", exact=True).click()  # no early stopping
        app.wait_until(lambda: "Original recipe:" in app.main_text(), "the original recipe to be chosen")
        app.wait_idle()  # that rerun resets the knobs: let it end before typing (see test_e2e_concurrency)
        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill(str(EPOCHS))
        epochs.press("Enter")
        app.wait_until(lambda: epochs.input_value() == str(EPOCHS), "the epoch count to take")
        name = page.get_by_role("textbox", name="Name for the result", exact=True)
        name.fill("shutdown-run")
        name.press("Enter")
        app.wait_until(lambda: "Will be saved as shutdown-run" in app.main_text(), "the name to be accepted")
        app.wait_idle()
        page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()
        done = app.wait_until(
            lambda: (
                (m := re.search(rf"Epoch (\d+) of {EPOCHS}", app.main_text()))
                and int(m.group(1)) >= 2
                and int(m.group(1))
            ),
            "two epochs to finish",
            timeout_s=120,
        )
        app.assert_clean()
    finally:
        app.page.context.close()
    path = server.user_ckpt_dir / "shutdown-run.pt"
    assert not path.exists(), "nothing is published before the run ends"
    children = psutil.Process(server.proc.pid).children(recursive=True)
    workers = [c for c in children if "multiprocessing.spawn" in " ".join(c.cmdline())]
    assert len(workers) == 1, [c.cmdline() for c in children]  # the run trains in a process of its own
    assert workers[0].nice() > psutil.Process(server.proc.pid).nice()  # at lower priority than the server

    server.proc.send_signal(sig)  # the streamlit process itself, as a terminal's Ctrl-C or systemd
    rc = server.proc.wait(timeout=90)
    log = server.log_tail(6000)
    assert rc == 0, f"the server exited with {rc} after {sig.name}\n--- server log ---\n{log}"
    assert "terminate called" not in log and "Traceback" not in log, log
    b = load_checkpoint(path)  # published, complete, loads
    assert b.meta["display_name"] == "shutdown-run"
    assert 1 <= b.meta["epoch"] and len(b.meta["history"]) >= done, b.meta["history"][-1:]
    assert b.meta["epoch"] == min(b.meta["history"], key=lambda h: h["val_prefix_nll"])["epoch"], (
        "the best epoch so far is the one kept"
    )
    assert not [p.name for p in server.user_ckpt_dir.iterdir() if p.suffix == ".tmp"], "no temp file left behind"
    deadline = time.monotonic() + 10  # multiprocessing's resource tracker ends when its pipe closes
    while [c for c in children if alive(c)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c.cmdline() for c in children if alive(c)], "a child process outlived the server"


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
