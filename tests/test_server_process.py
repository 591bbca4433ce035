"""services/server_process.py, the one launcher of the e2e tests, the benchmarks and the classroom: a server started
in a process group of its own is waited for, tells why it did not start, and ``stop()`` ends its group (a child it
started included) and nothing else. A stand-in backend (tests/fake_backend.py) keeps it to a second or two."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from lab_fixtures import REPO

from services.server_process import ServerProcess, free_port, healthy

FAKE = str(REPO / "tests" / "fake_backend.py")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_server_is_waited_for_and_stop_ends_its_group_only(tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    port = free_port()
    # the server starts a child of its own (as streamlit's may): it is in the group, so stop() ends it too
    script = (
        f"import subprocess, sys; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(tmp_path / 'child.pid')!r}, 'w').write(str(c.pid)); "
        f"sys.argv = ['fake', '{port}', 'b0']; exec(open({FAKE!r}).read())"
    )
    try:
        server = ServerProcess(port, tmp_path / "server.log", cmd=[sys.executable, "-c", script])
        took = server.wait_healthy(30)
        assert 0 < took < 30 and healthy(port) and server.pgid == server.pid
        child = int((tmp_path / "child.pid").read_text())
        assert os.getpgid(child) == server.pgid
        server.stop()
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.proc.poll() is not None and not alive(child) and not healthy(port)
        assert bystander.poll() is None  # another process group: untouched
    finally:
        bystander.kill()
        bystander.wait()


def test_a_server_that_exits_says_why_with_its_log(tmp_path):
    server = ServerProcess(
        None,
        tmp_path / "server.log",
        cmd=[sys.executable, "-c", "import sys; print('no such model folder'); sys.exit(3)"],
    )
    with pytest.raises(RuntimeError, match=r"exited with code 3(.|\n)*no such model folder"):
        server.wait_healthy(30)
    server.stop()  # already gone: nothing to do, no error
