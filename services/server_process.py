"""One ``streamlit run`` (or any server command) in a process group of its own: the one launcher that the
classroom's supervisor (services/classroom.py, for each Streamlit process and nginx), the real-browser tests
(tests/e2e) and the benchmarks (bench/common.py) share.

The child is started with ``start_new_session=True``, so it leads a new process group: ``stop()`` and ``kill()``
signal that group and nothing else (Streamlit's own children go with it, nobody else's processes do). Its output is
appended to ``log_path``; ``log_tail()`` is what a failed start or a failed test shows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port: int, timeout: float = 2.0) -> bool:
    """Streamlit's ``/_stcore/health`` answers 200 (in milliseconds, even when the process is busy)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=timeout) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def streamlit_cmd(script: str, port: int, address: str = "localhost") -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        # nobody edits the files under a running server: no watcher threads, no "source changed" reruns
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]


class ServerProcess:
    """``streamlit run <script>`` on ``port`` (a free one when None), or ``cmd`` instead, started at once unless
    ``start=False``; ``env`` is the child's whole environment (None: this process's)."""

    def __init__(
        self,
        port: int | None,
        log_path: str | Path,
        env: dict | None = None,
        *,
        script: str = "app.py",
        address: str = "localhost",
        cmd: list[str] | None = None,
        name: str = "streamlit",
        start: bool = True,
    ):
        self.name = name
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"
        self.log_path = Path(log_path)
        self.cmd = cmd or streamlit_cmd(script, self.port, address)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.t_start = float("nan")
        if start:
            self.spawn()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session: the child leads its own group

    def spawn(self) -> None:
        """Start (or, for the supervisor, restart) the command; its output is appended to the log."""
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.cmd, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.t_start = time.perf_counter()

    def healthy(self, timeout: float = 2.0) -> bool:
        return healthy(self.port, timeout)

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_S) -> float:
        """Seconds from the start to ``/_stcore/health`` answering 200; RuntimeError with the log's tail when the
        process exits first or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before it was healthy.\n"
                    f"--- server log ---\n{self.log_tail()}"
                )
            if self.healthy():
                return time.perf_counter() - self.t_start
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} did not answer /_stcore/health within {timeout:.0f} s.\n"
                    f"--- server log ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no server log)"

    def kill(self) -> None:
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM to the group, SIGKILL when it has not ended after ``timeout`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.pgid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
