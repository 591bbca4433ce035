"""A real server process that may not write its checkpoints folder (issue 21 item 8). As root (CI's user) the
server is started as ``nobody`` with ``setpriv`` — root ignores a folder's mode bits, so that is the only honest
way to try it; as another user the folder is made read-only. Simulated students (bench.classroom's protocol, no
browser) then press Train on the Train page and in the Lesson's step 8, and open every other page."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
from lab_fixtures import REPO, run_async

from bench.classroom import Record, Tab
from services.server_process import ServerProcess, free_port, streamlit_cmd


def as_other_user() -> list[str]:
    """The command prefix that starts the server as a user who can't write the folder."""
    if os.geteuid() != 0:
        return []
    nobody = pwd.getpwnam("nobody")
    return [
        shutil.which("setpriv") or "/usr/bin/setpriv",
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--clear-groups",
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Not under pytest's basetemp, which is 0700 (nobody could not even read the folder): a folder the server can
    # read but not write, the usual mistake (a root-owned volume, a server started as another user).
    tmp = Path(tempfile.mkdtemp(prefix="attention-lab-unwritable-"))
    os.chmod(tmp, 0o755)  # nobody may pass through and read...
    folder = tmp / "user-checkpoints"
    folder.mkdir()
    os.chmod(folder, 0o555)  # ...but not write (root-owned; read-only for anyone else)
    port = free_port()
    log = tmp / "server.log"
    env = {
        **os.environ,
        "ATTENTION_LAB_USER_CKPT_DIR": str(folder),
        "HOME": "/nonexistent",
        "PYTHONUNBUFFERED": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    srv = ServerProcess(port, log, env, cmd=as_other_user() + streamlit_cmd("app.py", port, "127.0.0.1"), start=False)
    opened = let_others_through(REPO)
    srv.spawn()
    try:
        srv.wait_healthy(120)
        yield f"http://localhost:{port}", folder, log, srv.pid
    finally:
        srv.stop(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
        for d, mode in opened:
            os.chmod(d, mode)


def let_others_through(path: Path) -> list[tuple[Path, int]]:
    """The server runs as another user, so it must pass through every folder above the repository (a clone under a
    0700 temporary folder hides .venv from it: "No module named streamlit"). Adds only the search bit (o+x, no
    listing) where it is missing; returns what it changed, to be put back."""
    changed = []
    for d in [path, *path.parents]:
        mode = d.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(d, mode | 0o001)
            changed.append((d, mode))
    return changed


def visit(base: str, page: str, query: str = "", press: str | None = None) -> Record:
    """Open a page as a student; optionally press a button; the record holds its texts and any exception."""

    async def go():
        rec = Record("s", page)
        tab = Tab(base, rec, page, lambda: 0.0)
        await tab.open(query=query, timeout=120)
        if press is not None:
            assert press in tab.widgets, f"no {press!r} button on {page}: {sorted(tab.widgets)}"
            await tab.rerun(query=query, trigger=tab.widgets[press][1])
            await tab.wait_finished(60)
        rec.notes = list(tab.texts)
        await tab.close()
        return rec

    return run_async(go())


def test_the_server_runs_as_another_user(server):
    base, folder, log, pid = server
    import psutil

    uid = psutil.Process(pid).uids().effective
    assert uid == (pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid())
    # ...and to that user the folder really is unwritable (root would ignore its mode)
    r = subprocess.run(
        as_other_user() + [sys.executable, "-c", "import os, sys; print(os.access(sys.argv[1], os.W_OK))", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.strip() == "False", r


# The Train page says it when Train is pressed; the Lesson's step 8 as soon as it opens, before anyone guesses.
@pytest.mark.parametrize("page, query, button", [("train", "", "Train"), ("lesson", "step=8", None)])
def test_training_says_plainly_that_nothing_can_be_saved(server, page, query, button):
    base, folder, log, pid = server
    rec = visit(base, page, query, press=button)
    assert not rec.errors, rec.errors
    said = "\n".join(rec.notes)
    assert "Nothing was trained." in said and "may not write to the folder where trained models are saved" in said, said
    assert str(folder) not in said  # no server path
    assert os.listdir(folder) == []  # nothing half-written, no claim


@pytest.mark.parametrize(
    "page, query",
    [
        ("explore", "text=capybara"),
        ("compare", "text=owl"),
        ("leak", ""),
        ("generate", ""),
        ("heads", ""),
        ("lesson", "step=1"),
        ("train", ""),
    ],
)
def test_every_other_page_works(server, page, query):
    base, folder, log, pid = server
    rec = visit(base, page, query)
    assert not rec.errors, rec.errors
    assert urllib.request.urlopen(base + "/_stcore/health", timeout=5).status == 200
