"""Shared benchmark helpers: machine description, the RESULTS.md appender, tables and percentiles, a private
``streamlit run app.py`` server, Debian's Chromium, and an in-page monitor that timestamps repaints."""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import settings
from services.server_process import ServerProcess

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def machine_info(device=None) -> str:
    import streamlit
    import torch

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = " · load avg {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return (
        f"{platform.node()} · {os.cpu_count()} cores ({cpu}) · {mem:.0f} GiB RAM · GPU {gpu} · "
        f"device {device} · python {platform.python_version()} · torch {torch.__version__} · "
        f"streamlit {streamlit.__version__}{load}"
    )


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat), to split a run's CPU by process."""
    try:
        vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    except (OSError, ValueError, IndexError):
        return float("nan")


def append_results(title: str, body: str) -> None:
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    with open(RESULTS, "a") as f:
        f.write(f"\n## {title} — {stamp}\n\n{body}\n")


def report(title: str, prog: str, argv: list[str] | None, table: str, notes: list[str], append: bool = True) -> None:
    """Print a run's machine line (with the load average), its table and notes, and, unless ``append`` is False,
    add them to RESULTS.md under ``title`` with the command that made them (``prog`` and ``argv``, or this
    process's arguments when None)."""
    cmd = " ".join([prog, *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])
    info = machine_info("cpu")
    print(info)
    print(table)
    print("\n".join(notes))
    if append:
        append_results(title, f"`{cmd}`\n\n{info}\n\n{table}\n\n" + "\n".join(f"- {x}" for x in notes))


def md_table(head, rows) -> str:
    return (
        "| "
        + " | ".join(map(str, head))
        + " |\n|"
        + "---|" * len(head)
        + "\n"
        + "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)
    )


def pctl(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    v = sorted(x for x in values if x is not None and not math.isnan(x))
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, math.ceil(q / 100 * len(v)) - 1))
    return v[k]


def summary(values) -> tuple[float, float, float]:
    return pctl(values, 50), pctl(values, 95), max(values) if values else float("nan")


async def start_together(
    go: dict, deadline: dict, *, n: int, clock, limit: float, settle: float, seconds: float
) -> tuple[float, float]:
    """A simulated class starts at one moment: wait until ``n`` students have opened their pages
    (``go["ready"]``, counted up by each) or ``clock()`` reaches ``limit``, let the last page views settle for
    ``settle`` seconds, then set the typing deadline ``seconds`` ahead (``deadline["t"]``, on perf_counter) and
    ``go["event"]``, which every student awaits. Returns (when the pages were open, when typing began) on ``clock``."""
    while go["ready"] < n and clock() < limit:
        await asyncio.sleep(0.1)
    t_open = clock()
    await asyncio.sleep(settle)
    t_go = clock()
    deadline["t"] = time.perf_counter() + seconds
    go["event"].set()
    return t_open, t_go


def fmt_ms(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f}"


# ---- a private server ------------------------------------------------------------------------------------------
class Server(ServerProcess):
    """``streamlit run app.py`` on a free port, in its own process group (services/server_process.py, the launcher
    the tests and the classroom use too), with what the benchmarks measure of it; ``stop()`` ends that group only."""

    def __init__(self, log_path: str | Path = "/tmp/attention-lab-bench-server.log", env: dict | None = None):
        Path(log_path).write_bytes(b"")  # this run's log only
        # The benches were written for Explore's and Compare's server path: it is what this server gives by default
        # (bench/browser_path.py asks for the browser path, the students' default, with ?browser=1).
        super().__init__(None, log_path, {**os.environ, settings.BROWSER_PATH_ENV: "0", **(env or {})})

    def rss_mb(self) -> float:
        """Resident memory of the server process (MiB): psutil when installed, else /proc/<pid>/status."""
        try:
            import psutil

            return psutil.Process(self.pid).memory_info().rss / 2**20
        except ImportError:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far, from /proc/<pid>/stat."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")


# ---- the browser ------------------------------------------------------------------------------------------------
def launch_chromium(pw):
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing: `apt-get install -y chromium` (never `playwright install`).")
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def guard_offline(page, blocked: list) -> None:
    """Abort (and count) every request to a host other than localhost: the benchmarks stay on this machine."""

    def route(r):
        host = urlparse(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)


# In-page monitor. A requestAnimationFrame loop (one check per painted frame) compares the page with what the
# benchmark expects after the current keystroke and stores performance.now() of the first frame where
#   bars:   every "Next token after …" chart title names the new last character,
#   frame:  every BertViz frame has swapped in BertViz's output for the new text (its body's data-drawn key changed),
#   bv:     every BertViz iframe's SVG lists exactly the expected tokens (BertViz's JS has drawn them),
#   run/idle: the app's script state went to "running" and back to "notRunning".
# keydown is stamped by a capturing listener, so every latency is measured inside the page on one clock.
MONITOR_JS = r"""
() => {
  if (window.__lab) return;
  const M = window.__lab = {expect: null, kd: null, marks: {}, frames: 0};
  document.addEventListener('keydown', e => { if (M.expect) { M.kd = performance.now(); } }, true);
  const svgTokens = (f) => {
    try {
      const d = f.contentDocument; if (!d) return null;
      return Array.from(d.querySelectorAll('#vis svg text')).map(t => t.textContent);
    } catch (e) { return null; }
  };
  const drawn = (f) => { try { return f.contentDocument.body.getAttribute('data-drawn') || ''; }
                        catch (e) { return ''; } };
  M.drawn = drawn;
  const tick = () => {
    M.frames++;
    const E = M.expect;
    if (E && M.kd !== null) {
      const now = performance.now(), m = M.marks;
      const state = document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state');
      if (m.run == null && state === 'running') m.run = now;
      if (m.run != null && m.idle == null && state === 'notRunning') m.idle = now;
      if (m.bars == null) {
        const titles = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .gtitle'))
          .map(t => t.textContent).filter(t => t.startsWith('Next token after'));
        if (titles.length >= E.n && titles.every(t => t === E.title)) m.bars = now;
      }
      const frames = Array.from(document.querySelectorAll('[data-testid="stCustomComponentV1"]'));
      if (m.frame == null && frames.length >= E.n &&
          frames.every((f, i) => drawn(f) !== E.oldSrc[i])) m.frame = now;
      if (m.bv == null && frames.length >= E.n && frames.every(f => {
            const t = svgTokens(f); return t && t.length === 2 * E.tokens.length &&
              t.every((x, i) => x === E.tokens[i % E.tokens.length]); })) m.bv = now;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
"""

ARM_JS = r"""
([title, tokens, n]) => {
  const M = window.__lab;
  M.expect = {title, tokens, n,
              oldSrc: Array.from(document.querySelectorAll('[data-testid="stCustomComponentV1"]'))
                        .map(M.drawn)};
  M.kd = null; M.marks = {};
}
"""

DONE_JS = "() => window.__lab.kd !== null && window.__lab.marks.bars != null && window.__lab.marks.bv != null"
READ_JS = "() => ({kd: window.__lab.kd, ...window.__lab.marks})"
