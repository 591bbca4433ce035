"""Serve a class: N ``streamlit run app.py`` processes behind one nginx, with sticky sessions.

``python -m services.classroom [--processes 4] [--port 8501] [--address 127.0.0.1]`` (``bash classroom.sh`` sets
up first). Streamlit keeps a session's state inside the process that runs it, so a browser must stay on one
process: nginx picks a process for a browser's first request (``split_clients``, evenly), hands the choice back as
a cookie (``attention_lab_backend=<token>``, ``b<i>`` with ``--debug``) and routes every later request with that
cookie, the ``/_stcore/stream`` WebSocket included, to the same process. Cookies, not ``ip_hash``: a class behind
one school NAT, or a load test on localhost, is one IP, and ``ip_hash`` would put everyone on one process.

A supervisor thread keeps the class going when one process dies or freezes (:class:`Classroom`); nginx bounds
connections per address and in all, and closes what is abandoned (:class:`Limits`).

All processes share one checkpoints folder (:func:`settings.user_ckpt_dir`): a model trained through one process
is a file the others list on their next rerun (the folder is read again whenever its mtime changes). They share
one ``server.cookieSecret`` too, so Streamlit's XSRF cookie is valid on every process.

nginx is Debian's package (``apt-get install -y nginx``), run as our own foreground child with a config written
to a temporary prefix (pid, logs there; temp files in a folder its worker can reach): the system's nginx service is
never touched. Everything started here is in its own process group and is stopped with it.
"""

from __future__ import annotations

import argparse
import grp
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import settings
from services.server_process import ServerProcess, free_port, streamlit_cmd

REPO = Path(__file__).resolve().parent.parent
COOKIE = "attention_lab_backend"
MAX_PROCESSES = 16
HEALTH_TIMEOUT_S = 90
HEALTH_CHECK_TIMEOUT_S = 2.0  # the supervisor's check: /_stcore/health answers in milliseconds even when busy
CHECK_S = 1.0  # one supervisor round per second
FAILS_DOWN = 3  # failed checks in a row before nginx stops sending new students there
FROZEN_KILL_S = 60.0  # silent this long: killed and restarted (its students have reconnected elsewhere)
STABLE_S = 60.0  # up this long: the restart backoff starts again from 1 s
MAX_BACKOFF_S = 30.0
log = logging.getLogger("attention_lab.classroom")


def nginx_available() -> bool:
    return os.access(settings.nginx(), os.X_OK)


@dataclass(frozen=True)
class Limits:
    """What nginx lets in. Connections are counted per client address *and* in all: a school sits behind one NAT
    address, so the per-address cap is generous (80 students x 3 tabs, each tab one WebSocket plus a few short
    requests, fit), and the global cap keeps worker connections in reserve (each proxied connection takes two), so
    a flood from one or a few addresses gets HTTP 503 while the students already in class keep their sockets.
    Timeouts close what is abandoned, never a quiet tab that is alive: Streamlit pings every WebSocket every 30 s
    (``server.websocketPingInterval``) and closes one whose client does not answer within 30 s more; nginx closes
    a WebSocket the backend has said nothing on for ``read_timeout_s`` (4 pings), gives up on a plain request
    after ``http_timeout_s`` (and asks the next process: a frozen one accepts connections but never answers), and
    closes a client that does not finish sending its request headers within 10 s."""

    per_ip: int = field(default_factory=settings.max_conn_per_ip)  # read when a Limits is made, not at import
    total: int = field(default_factory=settings.max_conn)
    read_timeout_s: int = 120
    http_timeout_s: int = 20  # a page, a static file, an upload: answered in well under this
    header_timeout_s: int = 10

    def __post_init__(self):
        if not (1 <= self.per_ip <= self.total):
            raise ValueError(f"connection limits: 1 <= per_ip ({self.per_ip}) <= total ({self.total})")

    @property
    def worker_connections(self) -> int:
        return 2 * self.total + 512  # client + upstream per proxied connection, and room to refuse more


def nginx_user() -> str:
    """The ``user`` line for nginx's worker when we are root (empty otherwise: the worker runs as us)."""
    if os.geteuid() != 0:
        return ""
    try:
        pw = pwd.getpwnam("nobody")
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        return ""
    return f"user nobody {group};"


def nginx_temp_dir() -> Path:
    """A new folder for nginx's temp files (request bodies over 16 KB, i.e. every real upload, are buffered there)
    that its worker can reach. As root the worker runs as ``nobody``, and a class's workdir (a 0700 temporary
    folder, or pytest's) is closed to it: every upload got HTTP 500. This one sits in /tmp with mode 0711 (the
    worker may pass through, not list); nginx creates each temp folder inside and gives it to the worker user."""
    path = Path(tempfile.mkdtemp(prefix="attention-lab-nginx-"))
    path.chmod(0o711)
    return path


def backend_tokens(n: int, debug: bool) -> list[str]:
    """The cookie value naming each backend: ``b<i>`` with ``debug``, else a random token per start. Harmless
    either way (a client that picks a backend gets what a reload may give it), but an opaque value says nothing
    about the server's layout."""
    return [f"b{i}" if debug else secrets.token_hex(6) for i in range(n)]


def nginx_conf(
    backend_ports: list[int],
    listen: str,
    prefix: Path,
    *,
    temp: Path | None = None,
    down: frozenset | set | tuple = (),
    debug: bool = False,
    tokens: list[str] | None = None,
    limits: Limits | None = None,
) -> str:
    """The whole nginx.conf for one front on ``listen`` (``host:port``) and one upstream per backend port.

    ``prefix``: pid and logs. ``temp``: nginx's temp folders (``prefix`` when None); it must be reachable by
    nginx's worker user, which is ``nobody`` when we run as root (:func:`nginx_user`), so the classroom gives it a
    folder of its own under /tmp rather than a 0700 temporary prefix. ``down``: backend indexes the supervisor has
    found dead or not answering; nginx sends their students to the others. ``debug``: cookie values ``b<i>``
    and an ``X-Attention-Lab-Backend`` header on every response."""
    n = len(backend_ports)
    if not 1 <= n <= MAX_PROCESSES:
        raise ValueError(f"between 1 and {MAX_PROCESSES} processes, not {n}")
    limits = limits or Limits()
    tokens = tokens or backend_tokens(n, debug)
    names = [f"b{i}" for i in range(n)]
    up = [i for i in range(n) if i not in down] or list(range(n))  # all down: let nginx try them anyway
    # An even split of new browsers over the backends that are up: explicit shares (two decimals), the rest to the
    # last one.
    share = f"{100 / len(up):.2f}".rstrip("0").rstrip(".")
    splits = "".join(f"        {share}% {names[i]};\n" for i in up[:-1]) + f"        * {names[up[-1]]};\n"
    known = "".join(f"        {t} {b};\n" for t, b in zip(tokens, names))
    served = "".join(f"        ~(^|,\\s)127\\.0\\.0\\.1:{p}$ {t};\n" for t, p in zip(tokens, backend_ports))
    # Each process's upstream lists the others as backups: a browser whose process is down (connection refused,
    # or marked down by the supervisor) is served by a live one, and the cookie follows where it was served.
    upstreams = ""
    for i, (b, p) in enumerate(zip(names, backend_ports)):
        lines = [f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s{' down' if i in down else ''};"]
        lines += [f"server 127.0.0.1:{q} backup;" for j, q in enumerate(backend_ports) if j != i and j not in down]
        if i in down and len(lines) == 1:  # one process only, and it is down: nginx needs a usable server
            lines = [f"server 127.0.0.1:{p};"]
        upstreams += f"    upstream {b} {{ {' '.join(lines)} keepalive 8; }}\n"
    p = prefix.as_posix()
    t = (temp or prefix).as_posix()
    debug_header = "            add_header X-Attention-Lab-Backend $lab_backend always;\n" if debug else ""
    proxy = f"""            proxy_pass http://$lab_backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;          # Streamlit compares Origin with Host for the WebSocket
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 3s;                  # a dead process refuses at once; a frozen one times out
            proxy_next_upstream error timeout http_502;
            proxy_buffering off;
            add_header Set-Cookie "{COOKIE}=$lab_served; Path=/; HttpOnly; SameSite=Lax" always;
{debug_header}"""
    return f"""# Generated by services/classroom.py: {n} Streamlit process(es) behind one nginx, sticky by cookie.
daemon off;
{nginx_user()}
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections {limits.worker_connections}; }}
http {{
    server_tokens off;                 # no nginx version in headers and error pages
    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    log_format lab '$msec $cookie_{COOKIE} $lab_backend $upstream_addr $status "$request"';
    access_log {p}/access.log lab;
    client_max_body_size 50m;          # above any upload the app accepts; the app refuses what it can't use
    client_header_timeout {limits.header_timeout_s}s;     # a client that never finishes its request headers
    client_body_timeout 30s;
    send_timeout 60s;
    keepalive_timeout 30s;
    # Connections at once: per client address (generous: a school is one NAT address) and in all.
    limit_conn_zone $binary_remote_addr zone=lab_per_ip:10m;
    map $remote_addr $lab_everyone {{ default all; }}      # one key for every client: the global count
    limit_conn_zone $lab_everyone zone=lab_total:1m;
    limit_conn_status 503;
    limit_conn_log_level warn;

    # The WebSocket upgrade must pass through: HTTP/1.1 to the backend with the client's Upgrade header.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}
    # A new browser (no cookie, or one naming no process) gets a process here...
    split_clients "${{remote_addr}}${{remote_port}}${{msec}}${{request_id}}" $lab_new {{
{splits}    }}
    # ...and a browser with the cookie keeps its process.
    map $cookie_{COOKIE} $lab_backend {{
{known}        default $lab_new;
    }}
    # The cookie sent back names the process that actually answered (another one when the browser's was down).
    map $upstream_addr $lab_served {{
{served}        default $cookie_{COOKIE};
    }}
{upstreams}
    server {{
        listen {listen};
        limit_conn lab_per_ip {limits.per_ip};
        limit_conn lab_total {limits.total};
        # Streamlit's metrics (cache names and sizes) are nobody's business in class.
        location ^~ /_stcore/metrics {{ return 404; }}
        location /_stcore/stream {{          # the WebSocket: quiet for minutes is normal, pings keep it
{proxy}            proxy_read_timeout {limits.read_timeout_s}s;   # Streamlit pings each WebSocket every 30 s:
            # a live tab stays
            proxy_send_timeout {limits.read_timeout_s}s;
        }}
        location / {{                         # pages, static files, uploads: a process answers these in seconds
{proxy}            proxy_read_timeout {limits.http_timeout_s}s;   # a frozen process: the next one answers instead
            proxy_send_timeout {limits.http_timeout_s}s;
        }}
    }}
}}
"""


class Proc(ServerProcess):
    """One process the supervisor watches (a Streamlit backend, or nginx), started at once, and what the supervisor
    knows of it."""

    def __init__(
        self, name: str, port: int, log_path: Path, cmd: list[str], env: dict | None = None, state: str = "starting"
    ):
        super().__init__(port, log_path, env, cmd=cmd, name=name)
        self.state = state  # "up", "down" (alive, not answering), "dead" (waiting to restart), "starting"
        self.fails = 0  # health checks failed in a row
        self.unhealthy_since: float | None = None
        self.died_at: float | None = None
        self.restart_at = 0.0
        self.up_since: float | None = None
        self.quick_deaths = 0  # deaths in a row within STABLE_S of coming up: the backoff's exponent
        self.restarts = 0


def exit_words(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Classroom:
    """N Streamlit processes and, for N >= 2 or ``nginx=True``, one nginx in front. ``url`` is what students open.

    ``user_ckpt_dir`` is the shared checkpoints folder for models trained in the app (None: the app's default,
    ``checkpoints/user``). ``workdir`` holds logs and nginx's prefix (a temporary folder when None). ``debug``:
    readable backend cookies (``b0``, ``b1`` ...) and an ``X-Attention-Lab-Backend`` header (tests, diagnosis;
    also :func:`settings.classroom_debug`).

    With ``supervise`` (the default) a thread keeps the class running: a backend that exits is restarted on its
    port (after 1, 2, 4 ... 30 s when it keeps dying), one that stops answering ``/_stcore/health`` is taken out of
    nginx's rotation (the config is rewritten and nginx reloaded) and killed and restarted if it stays silent for
    ``frozen_kill_s``; nginx itself is restarted if it exits. Every step is logged (``events``, and the
    ``attention_lab.classroom`` logger).
    """

    processes: int = 2
    port: int = 0
    address: str = "127.0.0.1"
    user_ckpt_dir: str | Path | None = None
    workdir: str | Path | None = None
    nginx: bool | None = None
    env: dict = field(default_factory=dict)
    debug: bool = field(default_factory=settings.classroom_debug)
    supervise: bool = True
    limits: Limits = field(default_factory=Limits)
    frozen_kill_s: float = FROZEN_KILL_S
    backend_cmd: list[str] | None = None  # tests: another backend than `streamlit run app.py` ({port} filled in)
    backends: list[Proc] = field(default_factory=list, init=False)
    front: Proc | None = field(default=None, init=False)
    events: list[tuple[float, str]] = field(default_factory=list, init=False)

    def __post_init__(self):
        if not 1 <= self.processes <= MAX_PROCESSES:
            raise ValueError(f"--processes must be 1..{MAX_PROCESSES}, not {self.processes}")
        if self.nginx is None:
            self.nginx = self.processes > 1
        self._tmp = None
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="attention-lab-classroom-")
            self.workdir = self._tmp.name
        self.workdir = Path(self.workdir)
        self.port = self.port or free_port()
        self._nginx_temp: Path | None = None
        self._tokens: list[str] = []
        self._down: frozenset = frozenset()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- start / stop --------------------------------------------------------------------------------------
    def start(self, timeout: float = HEALTH_TIMEOUT_S) -> Classroom:
        if self.nginx and not nginx_available():
            raise RuntimeError(
                f"{settings.nginx()} is missing: `apt-get install -y nginx` (Debian's package) for more than "
                "one process, or serve one process with `bash run.sh`."
            )
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            **self.env,
            # one secret for all: the XSRF cookie is valid on every process
            "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32),
        }
        env.setdefault(settings.CLASSROOM_ENV, "1")  # students pick the teacher's models, never type paths
        if self.user_ckpt_dir is not None:
            Path(self.user_ckpt_dir).mkdir(parents=True, exist_ok=True)
            env[settings.USER_CKPT_DIR_ENV] = str(self.user_ckpt_dir)
        try:
            for i in range(self.processes):
                port = self.port if not self.nginx else free_port()
                # Behind nginx each process listens on 127.0.0.1 only; nginx is the one door.
                address = self.address if not self.nginx else "127.0.0.1"
                cmd = streamlit_cmd("serve.py", port, address)
                if self.backend_cmd:
                    cmd = [a.format(port=port, address=address, name=f"b{i}") for a in self.backend_cmd]
                log = self.workdir / f"streamlit-b{i}.log"
                log.write_bytes(b"")
                self.backends.append(Proc(f"b{i}", port, log, cmd, env))
            if self.nginx:
                self._start_nginx()
            self.wait_healthy(timeout)
            now = time.monotonic()
            for b in self.backends:
                b.state, b.up_since = "up", now
        except BaseException:
            self.stop()
            raise
        if self.supervise:
            self._thread = threading.Thread(target=self._supervise, name="classroom-supervisor", daemon=True)
            self._thread.start()
        return self

    def _start_nginx(self) -> None:
        prefix = self.workdir / "nginx"
        prefix.mkdir(exist_ok=True)
        if self._nginx_temp is None:
            self._nginx_temp = nginx_temp_dir()
            self._tokens = backend_tokens(len(self.backends), self.debug)
        self._write_conf()
        # nginx's own messages go to error.log, and so does what little it prints: one log to read
        error_log = prefix / "error.log"
        self.front = Proc(
            "nginx",
            self.port,
            error_log,
            [settings.nginx(), "-e", str(error_log), "-c", str(prefix / "nginx.conf"), "-p", str(prefix)],
            state="up",
        )

    def _write_conf(self) -> None:
        prefix = self.workdir / "nginx"
        conf = nginx_conf(
            [b.port for b in self.backends],
            f"{self.address}:{self.port}",
            prefix,
            temp=self._nginx_temp,
            down=self._down,
            debug=self.debug,
            tokens=self._tokens,
            limits=self.limits,
        )
        tmp = prefix / "nginx.conf.tmp"
        tmp.write_text(conf)
        os.replace(tmp, prefix / "nginx.conf")

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for b in self.backends + ([self.front] if self.front else []):
            while True:
                if b.proc.poll() is not None:
                    raise RuntimeError(f"{b.name} exited ({b.proc.returncode}):\n{b.log_tail()}")
                if b.healthy(timeout=2):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{b.name} not healthy after {timeout:.0f} s:\n{b.log_tail()}")
                time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)
        for p in ([self.front] if self.front else []) + self.backends:
            p.stop(timeout=15)
        if self._nginx_temp is not None:
            shutil.rmtree(self._nginx_temp, ignore_errors=True)
            self._nginx_temp = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- the supervisor --------------------------------------------------------------------------------------
    def event(self, text: str) -> None:
        with self._lock:
            self.events.append((time.time(), text))
        log.warning("%s", text)

    def _supervise(self) -> None:
        while not self._halt.wait(CHECK_S):
            try:
                self.check()
            except Exception:  # the supervisor must outlive any one odd moment
                log.exception("classroom supervisor: a check failed")

    def check(self) -> None:
        """One round: restart what died, take out what does not answer, put back what answers again."""
        now = time.monotonic()
        for b in self.backends:
            if self._halt.is_set():
                return
            code = b.proc.poll()
            if b.state in ("up", "down", "starting") and code is not None:
                quick = b.up_since is None or now - b.up_since < STABLE_S
                b.quick_deaths = b.quick_deaths + 1 if quick else 1
                delay = min(MAX_BACKOFF_S, 2 ** (b.quick_deaths - 1))
                b.state, b.died_at, b.restart_at, b.up_since = "dead", now, now + delay, None
                b.fails, b.unhealthy_since = 0, None
                self.event(
                    f"{b.name} (pid {b.proc.pid}, port {b.port}) {exit_words(code)}; its students go to "
                    f"the other processes; restarting it in {delay:.0f} s"
                )
            elif b.state == "dead" and now >= b.restart_at:
                b.spawn()
                b.restarts += 1
                b.state, b.unhealthy_since = "starting", now
                self.event(f"{b.name}: restarted (pid {b.proc.pid}, restart {b.restarts})")
            elif b.state == "starting":
                if b.healthy(HEALTH_CHECK_TIMEOUT_S):
                    b.state, b.up_since, b.fails, b.unhealthy_since = "up", now, 0, None
                    self.event(
                        f"{b.name} answers again (pid {b.proc.pid}); new students may land on it"
                        + (f", {now - b.died_at:.1f} s after it went" if b.died_at else "")
                    )
                elif now - b.unhealthy_since > HEALTH_TIMEOUT_S:
                    self.event(f"{b.name} did not become healthy in {HEALTH_TIMEOUT_S} s; killing it")
                    b.kill()
            elif b.state in ("up", "down"):
                if b.healthy(HEALTH_CHECK_TIMEOUT_S):
                    if b.state == "down":
                        self.event(f"{b.name} answers its health check again; back in rotation")
                    b.state, b.fails, b.unhealthy_since = "up", 0, None
                    if b.up_since is None:
                        b.up_since = now
                    if now - b.up_since >= STABLE_S:
                        b.quick_deaths = 0
                else:
                    b.fails += 1
                    b.unhealthy_since = b.unhealthy_since or now
                    if b.state == "up" and b.fails >= FAILS_DOWN:
                        b.state = "down"
                        self.event(
                            f"{b.name} (pid {b.proc.pid}) has not answered its health check "
                            f"{b.fails} times; new students go to the other processes"
                        )
                    if now - b.unhealthy_since >= self.frozen_kill_s:
                        self.event(
                            f"{b.name} (pid {b.proc.pid}) silent for {now - b.unhealthy_since:.0f} s; "
                            "killing it to restart it"
                        )
                        b.kill()
        if self.front is not None and not self._halt.is_set():
            down = frozenset(i for i, b in enumerate(self.backends) if b.state != "up")
            if self.front.proc.poll() is not None:
                self.event(f"nginx {exit_words(self.front.proc.returncode)}; restarting it")
                self._down = down
                self._start_nginx()
            elif down != self._down:
                self._down = down
                self._write_conf()
                os.kill(self.front.proc.pid, signal.SIGHUP)  # nginx re-reads its config, keeps connections
                self.event(
                    "nginx now sends students to "
                    + (
                        ", ".join(b.name for i, b in enumerate(self.backends) if i not in down)
                        or "every process (none is up)"
                    )
                )

    # ---- what the benchmark and the tests read ---------------------------------------------------------------
    @property
    def url(self) -> str:
        host = "localhost" if self.address in ("127.0.0.1", "0.0.0.0", "localhost") else self.address
        return f"http://{host}:{self.port}"

    @property
    def cookies(self) -> dict[str, str]:
        """Backend name -> the cookie value that routes to it (``b0`` ... with ``debug``, else random tokens)."""
        return dict(zip((b.name for b in self.backends), self._tokens))

    def pids(self) -> list[int]:
        return [b.proc.pid for b in self.backends]

    def log_tail(self, n: int = 3000) -> str:
        parts = [
            f"--- {p.name} ---\n{p.log_tail(n // max(1, len(self.backends)))}"
            for p in self.backends + ([self.front] if self.front else [])
        ]
        return "\n".join(parts)

    def access_log(self) -> list[dict]:
        """nginx's access log as dicts: time, cookie (sent by the client), backend (chosen), upstream, request."""
        if not self.front:
            return []
        path = self.workdir / "nginx" / "access.log"
        rows = []
        # upstream is "addr" or, when nginx tried several (a failover), "addr1, addr2" in the order tried
        line_re = re.compile(r'^(\S+) (\S+) (\S+) (.+?) (\d{3}|-) "(.*)"$')
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            m = line_re.match(line)
            if m:
                rows.append(
                    {
                        "t": float(m[1]),
                        "cookie": m[2],
                        "backend": m[3],
                        "upstream": m[4],
                        "status": m[5],
                        "request": m[6],
                    }
                )
        return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m services.classroom", description=__doc__.split("\n\n")[0])
    # Two per core: one process uses at most about one core (one interpreter), and its sessions queue on its GIL;
    # on 2 cores, 4 processes served 12 typists at p95 243 ms, 2 processes 8 (docs/classroom.md).
    ap.add_argument(
        "--processes",
        type=int,
        default=max(1, min(8, 2 * (os.cpu_count() or 1))),
        help="Streamlit processes (default: two per core, at most 8)",
    )
    ap.add_argument("--port", type=int, default=8501, help="the port students open (default 8501)")
    ap.add_argument(
        "--address",
        default="0.0.0.0",
        help="where nginx listens (default 0.0.0.0: the classroom's network; 127.0.0.1 for this machine)",
    )
    ap.add_argument(
        "--checkpoints", default=None, help="shared folder for models trained in the app (default: checkpoints/user)"
    )
    ap.add_argument(
        "--max-conn-per-ip",
        type=int,
        default=Limits().per_ip,
        help="connections at once from one address (default %(default)s; a school NAT is one address; "
        f"env {settings.MAX_CONN_PER_IP_ENV})",
    )
    ap.add_argument(
        "--max-conn",
        type=int,
        default=Limits().total,
        help=f"connections at once in all (default %(default)s; env {settings.MAX_CONN_ENV})",
    )
    ap.add_argument(
        "--debug",
        action="store_true",
        default=settings.classroom_debug(),
        help="readable backend cookies (b0, b1 ...) and an X-Attention-Lab-Backend header "
        f"(env {settings.CLASSROOM_DEBUG_ENV}=1)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[classroom] %(asctime)s %(message)s", stream=sys.stdout)
    try:
        limits = Limits(per_ip=args.max_conn_per_ip, total=args.max_conn)
    except ValueError as e:
        ap.error(str(e))
    room = Classroom(
        processes=args.processes,
        port=args.port,
        address=args.address,
        user_ckpt_dir=args.checkpoints,
        workdir=None,
        nginx=True,
        debug=args.debug,
        limits=limits,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with room:
        print(
            f"[classroom] {args.processes} Streamlit process(es) behind nginx on "
            f"http://{args.address}:{room.port}; logs in {room.workdir}. A process that dies is restarted, one "
            "that stops answering is taken out of rotation. Ctrl-C stops.",
            flush=True,
        )
        try:
            while not stop.wait(1):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
