"""Training jobs: each run trains in its own spawned process and publishes through the app's API; Stop keeps the
best epoch, the watchdog, the limits (counting processes), names, checkpoint writes that survive an exception or a
SIGKILL, and a worker that dies (SIGKILL, an exception) or loses its app. CPU, tiny data, seconds."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import torch
from lab_fixtures import REPO, TINY_WORDS

import settings
from models import checkpoint as ckpt
from models import checkpoint_folder
from models.checkpoint import list_checkpoints, load_checkpoint
from models.data import WordList
from models.train import Recipe, train
from services import job_errors, job_names, job_snapshots, jobs

WORDS = WordList(TINY_WORDS)
TINY = Recipe("test", epochs=3, batch_size=8, lr=1e-2, dropout=0.0)
LONG = Recipe("test", epochs=100_000, batch_size=8, lr=1e-2, dropout=0.0)  # runs until stopped


@pytest.fixture
def user_dir(user_ckpt_dir):
    return user_ckpt_dir


@pytest.fixture
def registry():
    reg = jobs.JobRegistry(max_running=2)
    yield reg
    reg.stop_all(timeout=30)


def wait(job, timeout=60.0):
    assert job.join(timeout), "the training process did not end"
    return job.peek()


def wait_for_epoch(job, epoch, timeout=60.0):
    t = time.monotonic()
    while job.poll().epoch < epoch:
        assert job.active, job.peek().error
        assert time.monotonic() - t < timeout
        time.sleep(0.01)


@pytest.mark.parametrize("model_name", ["miniformer", "full", "full-peeking"])
def test_worker_trains_and_publishes_a_loadable_checkpoint(model_name, user_dir, registry):
    job = jobs.start_job("s1", model_name, WORDS, TINY, name="Tiny Model", probe_word="capybara", registry=registry)
    assert job.spec.name == "tiny-model" and job.spec.out == user_dir / "tiny-model.pt"
    p = wait(job)
    assert p.status == "done" and p.error is None, p.error
    assert p.epoch == 3 and len(p.history) == 3 and p.fraction == 1.0 and p.eta is None
    assert [s["epoch"] for s in p.snapshots] == [0, 1, 2, 3]
    b = load_checkpoint(p.checkpoint)  # weights_only=True inside
    assert b.path == user_dir / "tiny-model.pt" and b.meta["display_name"] == "tiny-model"
    assert b.meta["train_model"] == model_name and len(b.meta["history"]) == 3
    assert "tiny-model" in list_checkpoints()  # what every page's picker lists
    snaps = b.meta["snapshots"]
    assert [s["epoch"] for s in snaps] == [0, 1, 2, 3] and snaps[0]["word"] == "capybara"
    cap = job_snapshots.snapshot_capture(snaps[-1])
    assert cap.tgt_tokens[1:] == tuple("capybara")
    for name, pat in cap.patterns.items():  # (1, H, Q, K), rows are distributions
        assert pat.dim() == 4 and pat.shape[0] == 1
        assert torch.allclose(pat.sum(-1), torch.ones(pat.shape[:-1]), atol=1e-3), name


def test_stop_keeps_the_best_epoch_so_far(user_dir, registry):
    rec = Recipe("seed-like", epochs=2000, batch_size=4, lr=0.05, dropout=0.0)  # keep="last": Stop overrides it
    job = jobs.start_job("s1", "miniformer", WORDS, rec, name="stopped", registry=registry)
    wait_for_epoch(job, 4)
    job.stop()
    assert job.poll().stop_requested
    p = wait(job)
    assert p.status == "stopped" and p.stop_reason == "you pressed Stop"
    assert 4 <= p.epoch < rec.epochs
    best = min(p.history, key=lambda h: h["val_prefix_nll"])
    assert p.kept_epoch == best["epoch"] == p.history[-1]["best_epoch"]
    b = load_checkpoint(p.checkpoint)
    assert b.meta["epoch"] == best["epoch"]
    assert b.meta["val_loss"] == pytest.approx(best["val_prefix_nll"], abs=1e-5)
    assert p.snapshots[-1]["epoch"] == p.epoch  # the last epoch is always in the replay


def test_train_stop_keeps_best_even_for_a_keep_last_recipe():
    """Deterministic version at the train() level: stop at epoch 8 with a learning rate that makes it bounce."""
    import threading

    stop = threading.Event()
    rec = Recipe("seed-like", epochs=50, batch_size=4, lr=0.3, dropout=0.0, seed=3)
    res = train("miniformer", WORDS, rec, stop=stop, on_epoch=lambda s: s.epoch == 8 and stop.set())
    assert res.stopped_by_user and res.final_epoch == 8
    assert res.best_epoch < res.final_epoch  # so keeping the best is not the same as keeping the last
    assert res.best_epoch == min(res.history, key=lambda h: h["val_prefix_nll"])["epoch"]
    assert res.metrics["val_prefix_nll"] == pytest.approx(res.history[res.best_epoch - 1]["val_prefix_nll"], abs=1e-5)


def test_job_stops_when_its_session_goes_away(user_dir, registry):
    calls = []

    def alive(sid):  # the browser tab closes after epoch 3
        calls.append(sid)
        return len(calls) < 3

    job = jobs.start_job(
        "s1", "miniformer", WORDS, LONG, name="gone", session_alive=alive, gone_grace=0, registry=registry
    )
    p = wait(job)
    # The app decides after epoch 3's message while the worker goes on: it stops after the epoch it is in then.
    assert p.status == "stopped" and "closed" in p.stop_reason and 3 <= p.epoch < LONG.epochs
    assert set(calls) == {"s1"} and len(calls) >= 3
    assert load_checkpoint(p.checkpoint).meta["epoch"] == p.kept_epoch


def test_watchdog_stops_a_job_nobody_polls(user_dir, registry):
    job = jobs.start_job(
        "s1",
        "miniformer",
        WORDS,
        LONG,
        name="idle",
        session_alive=lambda sid: None,
        idle_timeout=0.2,
        registry=registry,
    )
    p = wait(job)  # wait() joins without polling
    assert p.status == "stopped" and "no page looked at it" in p.stop_reason
    assert os.path.exists(p.checkpoint)


def test_a_live_session_keeps_its_job_even_unpolled(user_dir, registry):
    """On another page the fragment doesn't poll; the runtime saying "alive" keeps the job going."""
    job = jobs.start_job(
        "s1",
        "miniformer",
        WORDS,
        TINY,
        name="elsewhere",
        session_alive=lambda sid: True,
        idle_timeout=0.0,
        registry=registry,
    )
    assert wait(job).status == "done"


def test_one_job_per_session_and_a_global_cap(user_dir, registry):
    a = jobs.start_job("s1", "miniformer", WORDS, LONG, name="a", registry=registry)
    with pytest.raises(job_errors.JobLimitError, match="already training 'a'"):
        jobs.start_job("s1", "miniformer", WORDS, LONG, name="a2", registry=registry)
    # "a" is claimed by the running job: another session asking for it gets the next free name.
    assert job_names.publish_name("a", replace=True, owner=job_names.owner_id("s2"))[0] == "a-2"
    b = jobs.start_job("s2", "miniformer", WORDS, LONG, name="b", registry=registry)
    assert registry.active_count() == 2
    with pytest.raises(job_errors.JobLimitError, match="All 2 training slots are busy"):
        jobs.start_job("s3", "miniformer", WORDS, TINY, name="c", registry=registry)
    a.stop()
    assert wait(a).status == "stopped"
    c = jobs.start_job("s3", "miniformer", WORDS, TINY, name="c", registry=registry)  # a slot is free again
    assert wait(c).status == "done"
    assert wait(jobs.start_job("s1", "miniformer", WORDS, TINY, name="a3", registry=registry)).status == "done"
    registry.clear("s2")  # clearing a running job stops it; it still publishes its best epoch
    assert wait(b).status == "stopped" and registry.get("s2") is None


def test_names(user_dir):
    assert job_names.check_name("  My Model ") == "my-model"
    for bad, msg in (
        ("", "Give the result a name"),
        ("bad/name", "can't be a model name"),
        ("x" * 41, "can't be"),
        ("-dash", "can't be"),
        ("miniformer", "shipped model's name"),
        ("full_transformer_peeking", "shipped"),
    ):
        with pytest.raises(job_errors.ModelNameError, match=msg):
            job_names.check_name(bad)
    assert job_names.publish_name("mine") == ("mine", None)
    user_dir.mkdir()
    (user_dir / "mine.pt").write_bytes(b"x")
    name, note = job_names.publish_name("mine")
    assert name == "mine-2" and "already exists" in note and "mine-2" in note
    name, note = job_names.publish_name(
        "mine", replace=True, owner=job_names.owner_id("s1")
    )  # no owner recorded: nobody's
    assert name == "mine-2" and "another session" in note
    (user_dir / "mine-2.pt").write_bytes(b"x")
    assert job_names.publish_name("mine")[0] == "mine-3"
    assert len(job_names.publish_name("y" * 40)[0]) <= 40
    assert job_names.suggest_name("full") == "my-full"


def test_only_the_session_that_made_a_model_may_replace_it(user_dir, registry):
    """Issue 12 item 13: any session could "Replace my existing model" of another session."""
    p = wait(jobs.start_job("s1", "miniformer", WORDS, TINY, name="shared", registry=registry))
    path = user_dir / "shared.pt"
    before = path.read_bytes()
    assert load_checkpoint(path).meta["owner"] == job_names.owner_id("s1") != job_names.owner_id("s2")
    assert "s1" not in load_checkpoint(path).meta["owner"]  # a hash, not the session id itself
    assert job_names.may_replace("shared", job_names.owner_id("s1"))
    assert not job_names.may_replace("shared", job_names.owner_id("s2"))
    registry.clear("s1")
    other = wait(jobs.start_job("s2", "miniformer", WORDS, TINY, name="shared", replace=True, registry=registry))
    assert other.name == "shared-2" and "another session" in other.note and path.read_bytes() == before
    assert load_checkpoint(user_dir / "shared-2.pt").meta["owner"] == job_names.owner_id("s2")
    mine = wait(jobs.start_job("s1", "miniformer", WORDS, TINY, name="shared", replace=True, registry=registry))
    assert mine.name == "shared" and "replaced" in mine.note and path.read_bytes() != before
    assert p.status == other.status == mine.status == "done"


def test_failed_publish_leaves_the_previous_model_intact(tmp_path, monkeypatch):
    """Atomic publish, where it happens (train() in the worker calls save_checkpoint): a write that fails half-way
    leaves the previous file as it was and no temp file."""
    path = tmp_path / "keep.pt"
    train("miniformer", WORDS, TINY, out=path)
    before = path.read_bytes()

    def boom(obj, f, *a, **k):  # half a file, then the disk fills up
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="No space left"):
        train("full", WORDS, TINY, out=path)
    assert path.read_bytes() == before
    assert load_checkpoint(path).architecture == "miniformer"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["keep.pt"]  # no temp file left behind


def test_an_unusable_folder_is_refused_before_any_training(tmp_path, monkeypatch, registry):
    """The user checkpoints folder can't take a file (here a file stands where the folder should be): the run is
    refused at once with a message, nothing is trained or written, and no slot is taken."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the user checkpoints folder should be")
    monkeypatch.setenv(settings.USER_CKPT_DIR_ENV, str(blocker))
    with pytest.raises(job_errors.FolderNotWritableError, match="checkpoints folder is not writable") as e:
        jobs.start_job("s1", "miniformer", WORDS, TINY, name="nowhere", registry=registry)
    assert e.value.reason == "permission" and str(blocker) not in str(e.value)  # no server path shown
    assert registry.active_count() == 0 and not registry.jobs()
    assert blocker.read_text().startswith("a file where")


def test_a_save_that_fails_in_the_worker_shows_failed_without_a_path(user_dir, registry):
    """The folder goes away under a running job (a file takes its place): the worker reports the error with
    the folder's state, the job shows it without a traceback or a server path, and the claim is released."""
    job = jobs.start_job("s1", "miniformer", WORDS, LONG, name="nowhere", registry=registry)
    assert checkpoint_folder.claimed(user_dir / "nowhere.pt")
    wait_for_epoch(job, 1)
    moved = user_dir.with_name("moved")
    user_dir.rename(moved)
    user_dir.write_text("a file now")
    job.stop()
    p = wait(job)
    assert p.status == "failed" and p.error.startswith("Could not save the model 'nowhere': "), p.error
    assert "Traceback" not in p.error and str(user_dir) not in p.error
    assert registry.active_count() == 0
    assert not list(moved.glob("*.pt")) and user_dir.read_text() == "a file now"


@pytest.mark.parametrize("code, errno_", [("full", 28), ("read-only", 30), ("permission", 13)])
def test_save_errors_name_the_folder_state(code, errno_):
    from services.train_worker import failure_code

    assert failure_code(OSError(errno_, os.strerror(errno_))) == code
    assert job_errors.folder_reason(errno_) in (code, "permission")
    assert failure_code(ValueError("x")) is None


def test_two_processes_claiming_one_name_at_once_get_two_names(user_dir):
    """Two app processes (a classroom behind nginx) press Train on the same name at the same instant: the claim
    file is created with O_EXCL, so exactly one gets the name and the other the next free one."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        import os
        os.environ["ATTENTION_LAB_USER_CKPT_DIR"] = {str(user_dir)!r}
        from services import jobs
        from models.data import WordList
        from models.train import Recipe
        reg = jobs.JobRegistry(max_running=2)
        t = float(sys.argv[1])
        while time.time() < t:
            pass
        job = jobs.start_job(sys.argv[2], "miniformer", WordList({TINY_WORDS!r}),
                             Recipe("t", epochs=1, batch_size=8, lr=1e-2, dropout=0.0), name="same-name", registry=reg)
        print(job.spec.name, flush=True)
        job.join(120)
        print(job.peek().status, flush=True)
    """)
    at = time.time() + 8
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(at), sid], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for sid in ("s1", "s2")
    ]
    outs = [p.communicate(timeout=180)[0].split() for p in procs]
    assert sorted(o[0] for o in outs) == ["same-name", "same-name-2"], outs
    assert [o[1] for o in outs] == ["done", "done"]
    owners = {torch.load(user_dir / f"{o[0]}.pt", weights_only=True)["owner"] for o in outs}
    assert len(owners) == 2  # each file is its own run's: nothing overwritten
    assert not list(user_dir.glob(".*.claim"))  # both claims released


def test_a_name_claimed_by_a_run_elsewhere_is_taken(user_dir):
    assert checkpoint_folder.claim_name(user_dir / "busy.pt", "someone")
    assert job_names.publish_name("busy")[0] == "busy-2"
    assert not checkpoint_folder.claim_name(user_dir / "busy.pt", "me")
    checkpoint_folder.release_claim(user_dir / "busy.pt")
    assert job_names.publish_name("busy")[0] == "busy"


def test_a_dead_processes_claim_is_stale(user_dir):
    claim = checkpoint_folder.claim_path(user_dir / "ghost.pt")
    user_dir.mkdir()
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    claim.write_text(json.dumps({"owner": "x", "pid": p.pid, "host": socket.gethostname(), "time": 0}))
    assert not checkpoint_folder.claimed(user_dir / "ghost.pt")
    assert checkpoint_folder.claim_name(user_dir / "ghost.pt", "me")


def test_one_run_per_browser_across_tabs(user_dir, registry):
    """Two tabs of one browser are two sessions but one student: the second is refused while the first trains;
    another browser may train."""
    job = jobs.start_job("tab1", "miniformer", WORDS, LONG, name="first", registry=registry, browser="browser-a")
    with pytest.raises(job_errors.BrowserBusyError) as e:
        jobs.start_job("tab2", "miniformer", WORDS, LONG, name="second", registry=registry, browser="browser-a")
    assert e.value.name == "first" and not checkpoint_folder.claimed(user_dir / "second.pt")
    other = jobs.start_job("tab3", "miniformer", WORDS, LONG, name="third", registry=registry, browser="browser-b")
    for j in (job, other):
        j.stop()
        wait(j)


def test_a_run_stops_at_the_time_limit_and_keeps_its_best_epoch(user_dir, registry):
    job = jobs.start_job("s1", "miniformer", WORDS, LONG, name="limited", registry=registry, max_seconds=3)
    p = wait(job, 90)
    assert p.status == "stopped" and "time limit" in p.stop_reason and p.epoch >= 1
    assert load_checkpoint(user_dir / "limited.pt").architecture == "miniformer"


def test_an_epoch_past_the_time_limit_is_killed(user_dir, registry, monkeypatch):
    """One epoch longer than the limit and the grace (batch 1 on a big list): the worker is killed, nothing is
    published, the slot comes back, and the page is told why."""
    monkeypatch.setattr(jobs, "HARD_GRACE_S", 1.0)
    slow = Recipe("slow", epochs=3, batch_size=1, lr=1e-3, dropout=0.0)
    letters = "abcdefghijklmnop"  # 4,096 words at batch 1: an epoch takes far longer than limit + grace (2 s)
    words = WordList(tuple(f"{a}{b}{c}word" for a in letters for b in letters for c in letters))
    job = jobs.start_job("s1", "miniformer", words, slow, name="slowpoke", registry=registry, max_seconds=1)
    p = wait(job, 60)
    assert p.status == "failed" and p.error_code == "time-limit" and "time limit" in p.error, (p.status, p.error)
    assert p.elapsed < 30 and registry.active_count() == 0
    assert not (user_dir / "slowpoke.pt").exists() and not list(user_dir.glob(".*.claim"))


def test_the_app_process_never_runs_training_code(user_dir, registry, monkeypatch):
    """train() replaced in this process: a job still trains and publishes, because it trains in a fresh spawned
    interpreter (the patch doesn't reach it). On the thread version this job failed."""

    def no_training_here(*a, **k):
        raise AssertionError("training code ran in the app process")

    for mod in list(sys.modules.values()):  # every module here that holds models.train.train by name
        if getattr(mod, "train", None) is train:
            monkeypatch.setattr(mod, "train", no_training_here)
    import models.train

    assert models.train.train is no_training_here
    job = jobs.start_job("s1", "miniformer", WORDS, TINY, name="elsewhere", registry=registry)
    p = wait(job)
    assert p.status == "done", p.error
    assert job.pid not in (None, os.getpid()) and job.exitcode == 0
    assert load_checkpoint(user_dir / "elsewhere.pt").meta["epoch"] >= 1


def test_the_worker_is_another_process_at_lower_priority(user_dir, registry):
    job = jobs.start_job("s1", "miniformer", WORDS, LONG, name="nice", registry=registry)
    wait_for_epoch(job, 1)
    assert job.pid is not None and job.pid != os.getpid()
    child = psutil.Process(job.pid)
    assert child.ppid() == os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, job.pid) > os.getpriority(os.PRIO_PROCESS, 0)
    if hasattr(os, "sched_getscheduler"):  # Linux: only CPU time nothing else wants
        assert os.sched_getscheduler(job.pid) == os.SCHED_IDLE
    assert child.num_threads() < 8  # one torch thread (plus the interpreter's few), not a pool
    job.stop()
    assert wait(job).status == "stopped"
    assert not psutil.pid_exists(job.pid) or psutil.Process(job.pid).status() == psutil.STATUS_ZOMBIE


def test_the_worker_is_at_low_priority_before_its_own_imports(user_dir, registry):
    """A spawned child imports torch (over a second of CPU) while it unpickles its job, before its own code runs:
    the app lowers the child's priority the moment it exists, so those imports already yield to the typing."""
    job = jobs.start_job("s1", "miniformer", WORDS, LONG, name="early", registry=registry)
    deadline = time.monotonic() + 30
    while job.pid is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert job.pid is not None
    policy = os.sched_getscheduler(job.pid) if hasattr(os, "sched_getscheduler") else None
    niceness = os.getpriority(os.PRIO_PROCESS, job.pid)
    still_importing = job.peek().status == "queued"  # the child has not said "started" yet
    assert niceness > os.getpriority(os.PRIO_PROCESS, 0)
    if policy is not None:
        assert policy == os.SCHED_IDLE
    assert still_importing
    job.stop()
    assert wait(job).status in ("stopped", "done")


def test_sigterm_to_the_worker_alone_stops_it_cleanly(user_dir, registry):
    """SIGTERM to the worker (a supervisor ending the process group, an admin): it ends after its epoch, keeps and
    publishes the best epoch, and the page is told why."""
    job = jobs.start_job("s1", "miniformer", WORDS, LONG, name="termed", registry=registry)
    wait_for_epoch(job, 3)
    os.kill(job.pid, signal.SIGTERM)
    p = wait(job)
    assert p.status == "stopped" and p.stop_reason == "the training process was sent SIGTERM", p.stop_reason
    assert job.exitcode == 0 and p.kept_epoch == min(p.history, key=lambda h: h["val_prefix_nll"])["epoch"]
    assert load_checkpoint(user_dir / "termed.pt").meta["epoch"] == p.kept_epoch


def all_checkpoints_load(*folders):
    for folder in folders:
        for f in folder.glob("*.pt"):
            load_checkpoint(f)  # raises CheckpointError for a torn or unreadable file
        assert not list(folder.glob(".*.tmp")), list(folder.glob(".*.tmp"))


def test_a_worker_killed_mid_epoch_fails_frees_its_slot_and_loses_nothing(user_dir, registry):
    """kill -9 on one worker while it trains: its job shows "failed" with the signal, its slot is free, the model
    it was replacing is intact, the torn temp file such a kill can leave is gone, every checkpoint loads, and the
    other session's run trains on and publishes when stopped."""
    first = wait(jobs.start_job("s1", "miniformer", WORDS, TINY, name="mine", registry=registry))
    before = (user_dir / "mine.pt").read_bytes()
    registry.clear("s1")
    other = jobs.start_job("s2", "miniformer", WORDS, LONG, name="theirs", registry=registry)
    job = jobs.start_job("s1", "miniformer", WORDS, LONG, name="mine", replace=True, registry=registry)
    assert job.spec.out == user_dir / "mine.pt"
    wait_for_epoch(job, 3)
    torn = user_dir / ".mine.pt.k1ll3d.tmp"  # what atomic_write leaves when the kill lands mid-write
    torn.write_bytes(b"PK\x03\x04 half a checkpoint")
    assert registry.active_count() == 2
    os.kill(job.pid, signal.SIGKILL)
    p = wait(job, timeout=30)
    assert p.status == "failed" and "SIGKILL" in p.error and "signal 9" in p.error, p.error
    assert job.exitcode == -signal.SIGKILL and p.checkpoint is None
    assert 3 <= p.epoch < LONG.epochs and p.history  # what it had done is still shown
    assert registry.active_count() == 1  # its slot is free; the other runs on
    at_kill = other.poll().epoch
    wait_for_epoch(other, at_kill + 3)
    assert (user_dir / "mine.pt").read_bytes() == before and not torn.exists()
    all_checkpoints_load(settings.shipped_ckpt_dir(), user_dir)
    again = jobs.start_job("s1", "miniformer", WORDS, TINY, name="mine", replace=True, registry=registry)
    assert wait(again).status == "done"  # the same session trains again at once
    other.stop()
    assert wait(other).status == "stopped" and load_checkpoint(user_dir / "theirs.pt").meta["epoch"] >= 1
    all_checkpoints_load(settings.shipped_ckpt_dir(), user_dir)
    assert first.status == "done"


KILL_CHILD = textwrap.dedent("""
    import sys, time, torch
    sys.path.insert(0, sys.argv[1])
    from models.checkpoint import save_checkpoint
    from models.train import make_model
    from models.vocab import DEFAULT_VOCAB

    real_save = torch.save
    def slow_save(obj, f):                 # the third write stops half-way and says so; the parent kills it there
        if epoch < 3:
            return real_save(obj, f)
        import io
        buf = io.BytesIO()
        real_save(obj, buf)
        data = buf.getvalue()
        with open(f, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            print("mid-write", flush=True)
            time.sleep(60)
            fh.write(data[len(data) // 2:])
    torch.save = slow_save

    model = make_model("full")
    for epoch in range(1, 100):
        save_checkpoint(sys.argv[2], model, DEFAULT_VOCAB, epoch=epoch)
        print("wrote", epoch, flush=True)
""")


def test_sigkill_while_writing_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "killed.pt"
    script = tmp_path / "writer.py"
    script.write_text(KILL_CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(REPO), str(path)], stdout=subprocess.PIPE, text=True)
    try:
        lines = [child.stdout.readline().strip() for _ in range(3)]
    finally:
        os.kill(child.pid, signal.SIGKILL)  # no cleanup runs: no except, no finally, no atexit
        child.wait(10)
        child.stdout.close()
    assert lines == ["wrote 1", "wrote 2", "mid-write"]
    assert child.returncode == -signal.SIGKILL
    torn = list(tmp_path.glob(".killed.pt.*.tmp"))
    assert len(torn) == 1 and 0 < torn[0].stat().st_size < path.stat().st_size  # the half-written temp file
    assert load_checkpoint(path).meta["epoch"] == 2  # the previous complete file, never a torn one


def test_restore_shipped_rewrites_the_shipped_file(tiny_ckpt_dir, monkeypatch, registry):
    monkeypatch.setenv(settings.SHIPPED_CKPT_DIR_ENV, str(tiny_ckpt_dir))
    (tiny_ckpt_dir / "miniformer.pt").unlink()
    (tiny_ckpt_dir / "full_transformer.pt").write_bytes(b"garbage")
    broken = jobs.broken_shipped()
    assert broken["miniformer"] == "missing"
    assert "full_transformer.pt is truncated or corrupt" in broken["full_transformer"]
    assert "full_transformer_peeking" not in broken
    with pytest.raises(job_errors.ModelNameError, match="not a shipped model"):
        jobs.start_restore_job("s1", "my-model", words=WORDS, registry=registry)
    job = jobs.start_restore_job("s1", "full_transformer", words=WORDS, registry=registry)
    assert job.spec.recipe.name == "fast" and job.spec.action == "restore"
    p = wait(job, timeout=120)
    assert p.status == "done", p.error
    b = load_checkpoint(tiny_ckpt_dir / "full_transformer.pt")
    assert b.architecture == "full" and not b.peeking and b.meta["recipe"]["name"] == "fast"
    assert list(jobs.broken_shipped()) == ["miniformer"]


EXIT_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import os
    os.environ["ATTENTION_LAB_USER_CKPT_DIR"] = sys.argv[2]
    from services import jobs
    from models.data import WordList
    from models.train import Recipe

    if __name__ == "__main__":            # spawn re-imports this script in the worker as __mp_main__
        words = WordList(tuple(sys.argv[3].split(",")))
        job = jobs.start_job("s1", "miniformer", words,
                             Recipe("test", epochs=2000, batch_size=8, lr=1e-2, dropout=0.0), name="at-exit")
        while job.poll().epoch < 2:
            time.sleep(0.01)
        print("running", job.poll().status, job.pid, flush=True)
        if sys.argv[4] == "hang":         # wait to be killed, as a server the OOM killer picks
            time.sleep(600)
        # otherwise the script ends here with the job still running, as the server's main thread does after SIGTERM
""")


def gone(pid: int, timeout: float = 0.0) -> bool:
    """The process has ended (a zombie nobody reaped yet counts as ended)."""
    t = time.monotonic()
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() - t >= timeout:
            return False
        time.sleep(0.1)


def test_interpreter_exit_stops_jobs_and_publishes_their_best_epoch(tmp_path):
    """Issue 12 item 12, without a browser: the process ends while a job trains (what Streamlit's SIGINT/SIGTERM
    handler leads to). The atexit hook stops the worker after its epoch, waits for it to publish the best epoch and
    exit, and the process exits 0 with no worker left behind. tests/e2e/test_e2e_shutdown.py sends the real signals
    to ``streamlit run app.py``."""
    script = tmp_path / "exiter.py"
    script.write_text(EXIT_CHILD)
    user = tmp_path / "user"
    r = subprocess.run(
        [sys.executable, str(script), str(REPO), str(user), ",".join(TINY_WORDS), "exit"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    word, status, pid = r.stdout.split()
    assert (word, status) == ("running", "running") and "terminate called" not in r.stderr
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert gone(int(pid)), "the worker outlived the app"
    b = load_checkpoint(user / "at-exit.pt")
    assert b.meta["epoch"] >= 1 and len(b.meta["history"]) >= 2
    assert b.meta["epoch"] == min(b.meta["history"], key=lambda h: h["val_prefix_nll"])["epoch"]
    assert not list(user.glob("*.tmp"))


def test_a_worker_whose_app_is_killed_stops_and_publishes(tmp_path):
    """kill -9 on the app process (no atexit runs): the orphaned worker notices after its epoch, stops, publishes
    its best epoch and exits, instead of training on for 2000 epochs nobody will see."""
    script = tmp_path / "hanger.py"
    script.write_text(EXIT_CHILD)
    user = tmp_path / "user"
    app = subprocess.Popen(
        [sys.executable, str(script), str(REPO), str(user), ",".join(TINY_WORDS), "hang"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        word, status, pid = app.stdout.readline().split()
    finally:
        app.kill()
        app.wait(10)
        app.stdout.close()
    err = app.stderr.read()
    app.stderr.close()
    assert (word, status) == ("running", "running"), err[-2000:]
    assert gone(int(pid), timeout=60), "the orphaned worker trains on"
    b = load_checkpoint(user / "at-exit.pt")
    assert 1 <= b.meta["epoch"] <= len(b.meta["history"]) < 2000
    assert b.meta["epoch"] == min(b.meta["history"], key=lambda h: h["val_prefix_nll"])["epoch"]
    assert not list(user.glob("*.tmp"))


def test_the_user_folder_is_listed_once_per_change(user_dir, monkeypatch):
    """Every rerun of every page asks for the model list; with thousands of models the folder is read again only
    when it changed (a new, replaced or removed file changes the folder's mtime)."""
    src = ckpt.load_checkpoint("miniformer")
    for n in ("one", "two"):
        ckpt.save_checkpoint(user_dir / f"{n}.pt", src.model, src.vocab, kind="miniformer")
        time.sleep(0.01)
    reads = []
    real = os.scandir
    monkeypatch.setattr(ckpt.os, "scandir", lambda p: reads.append(p) or real(p))
    first = list_checkpoints()
    assert first[-2:] == ["two", "one"] and list_checkpoints() == first and len(reads) == 1
    ckpt.save_checkpoint(user_dir / "three.pt", src.model, src.vocab, kind="miniformer")
    assert list_checkpoints()[-3:] == ["three", "two", "one"] and len(reads) == 2
    (user_dir / "two.pt").unlink()
    assert "two" not in list_checkpoints() and len(reads) == 3


def test_the_browser_token_is_the_same_in_every_tab():
    """Streamlit's XSRF cookie: the same token under a different mask in each response; one browser, one name."""
    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    token = os.urandom(16)
    tab1, tab2 = generate_xsrf_token_string(token, 1), generate_xsrf_token_string(token, 1)
    assert tab1 != tab2  # masks differ...
    assert job_names.browser_token(tab1, "s1") == job_names.browser_token(tab2, "s2")  # ...the browser is one
    other_browser = generate_xsrf_token_string(os.urandom(16), 1)
    assert job_names.browser_token(other_browser, "s1") != job_names.browser_token(tab1, "s1")
    assert job_names.browser_token("", "s1") != job_names.browser_token("", "s2")  # no cookie: the session stands in
    assert job_names.browser_token("garbage|x", "s1") == job_names.browser_token("", "s1")


def test_a_worker_starts_whatever_the_parent_s_main_script_is(user_dir, registry, tmp_path, monkeypatch):
    """A spawn child re-runs the parent's ``__main__`` script before its target. Under Streamlit that is the last
    page script run (an AppTest's temporary script, which fails outside Streamlit, killed every later worker of the
    suite with exit code 1); the worker must start without it."""
    import sys
    import types

    page = tmp_path / "page_script.py"
    page.write_text("raise SystemExit('the page script ran in the training worker')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", main)
    job = jobs.start_job("s1", "miniformer", WORDS, TINY, name="main-free", registry=registry)
    p = wait(job)
    assert p.status == "done" and p.error is None, p.error
    assert sys.modules["__main__"] is main  # put back after the start
