"""A real ``redis-server`` for the class-store tests (never a mock): started on a free port in a temp folder with
no persistence, stopped at the end. A plain module, like lab_fixtures.py, so e2e tests and benches can use it too."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """``redis-server --port P --save "" --appendonly no`` in ``folder``; ``url`` to reach it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = open(self.folder / "redis.log", "wb")
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--daemonize",
                "no",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}; see {self.folder / 'redis.log'}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def have_redis() -> bool:
    return Path(REDIS_SERVER).exists()


def student_process(setting: str, code: str, n: int, out) -> None:
    """A process of its own that joins ``n`` students and has each answer (a target for multiprocessing's spawn:
    this module imports no torch, so the process starts fast)."""
    from services.class_store import open_store

    s = open_store(setting)
    tokens = []
    for i in range(n):
        m = s.join(code, f"p{i}")
        s.answer(code, m.token, str(i % 3))
        tokens.append(m.token)
    out.put(tokens)
