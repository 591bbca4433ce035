"""The class poller's two halves, fast and without a browser: serve.py's counters route (services/class_counters.py)
as a long poll against a real SQLite store, and ui/class_poll/poll.js run by Node against a stand-in ``fetch``.

A student's page learns that the class moved as soon as the server sees it (not at its next 1 s tick), an idle page
asks once per long poll (not once a second), and each change gives Streamlit exactly one trigger."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time

import pytest
from lab_fixtures import REPO, run_async

SECRET = "sekret-key"
NODE = shutil.which("node")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_STORE", f"sqlite:///{tmp_path / 'classes.sqlite3'}")
    from services.class_store import shared_store

    return shared_store()


def get(query: str):
    """The route's answer to ``GET /class/counters?{query}``: (status, JSON body)."""
    from starlette.requests import Request

    from services.class_counters import counters

    scope = {"type": "http", "method": "GET", "path": "/class/counters", "query_string": query.encode(), "headers": []}
    response = run_async(counters(Request(scope)))
    return response.status_code, json.loads(response.body)


def later(seconds: float, fn) -> threading.Thread:
    """``fn()`` on another thread after ``seconds`` (a teacher's click while the student's request waits)."""

    def run():
        time.sleep(seconds)
        fn()

    t = threading.Thread(target=run)
    t.start()
    return t


def test_plain_and_bad_requests(store):
    c = store.create_class(SECRET)
    assert get(f"code={c.code}") == (200, {"version": c.version, "stage": c.stage})
    assert get("code=")[0] == 400 and get("code=<script>")[0] == 400
    assert get("code=ZZZZZ") == (404, {"error": "unknown_code"})
    assert get("code=ZZZZZ&watch=stage&seen=1") == (404, {"error": "unknown_code"})  # no wait for a wrong code


def test_long_poll_answers_when_the_class_moves(store):
    """A waiting student's request answers within ~0.1 s of the teacher's move; a join (version only) does not wake
    a student, it wakes the teacher's count (watch=version)."""
    c = store.create_class(SECRET)
    moved = []
    mover = later(0.6, lambda: (store.move(c.code, SECRET, page="lesson", step=2), moved.append(time.perf_counter())))
    status, body = get(f"code={c.code}&watch=stage&seen={c.stage}")
    answered = time.perf_counter()
    mover.join()
    assert status == 200 and body["stage"] == c.stage + 1
    assert -0.3 < answered - moved[0] < 0.8, answered - moved[0]  # at the move (0.1 s reads), not 10 s later

    c = store.get_class(c.code)
    joiner = later(0.3, lambda: store.join(c.code, "Ann"))
    status, body = get(f"code={c.code}&watch=version&seen={c.version}")
    joiner.join()
    assert body == {"version": c.version + 1, "stage": c.stage}  # the teacher's count hears of the join


def test_long_poll_waits_while_nothing_changes(store, monkeypatch):
    """Idle, the request is held (one request per WAIT_S per page, not one per second) and then answers with the
    counters as they are; a join meanwhile does not end a student's wait."""
    import services.class_counters as cc

    monkeypatch.setattr(cc, "WAIT_S", 0.8)
    c = store.create_class(SECRET)
    joiner = later(0.2, lambda: store.join(c.code, "Bob"))
    t0 = time.perf_counter()
    status, body = get(f"code={c.code}&watch=stage&seen={c.stage}")
    joiner.join()
    assert 0.75 <= time.perf_counter() - t0 < 3.0
    assert status == 200 and body == {"version": c.version + 1, "stage": c.stage}


def test_one_store_read_per_interval_for_every_waiter(store):
    """Many pages of one class waiting on one process cost one store read per WATCH_EVERY_S between them."""
    import services.class_counters as cc

    c = store.create_class(SECRET)

    async def many():
        w = cc.watcher(c.code)
        reads0 = w.reads
        waits = [asyncio.create_task(w.wait("stage", c.stage, 0.5)) for _ in range(40)]
        t0 = time.perf_counter()
        results = await asyncio.gather(*waits)
        return results, w.reads - reads0, time.perf_counter() - t0

    results, reads, wall = run_async(many())
    assert all(r == ({"version": c.version, "stage": c.stage}, None) for r in results)
    assert reads <= wall / cc.WATCH_EVERY_S + 2, (reads, wall)  # not 40 readers


POLL_HARNESS = r"""
const path = require("path");
const answers = JSON.parse(process.argv[2]);       // what the route answers, one per request
const requests = [], triggers = [];
let i = 0;
globalThis.document = { cookie: "" };
globalThis.fetch = async (url, opts) => {
  requests.push(url);
  const body = answers[Math.min(i++, answers.length - 1)];
  await new Promise((r) => setTimeout(r, 5));
  if (body === "html") return { ok: true, headers: { get: () => "text/html" }, json: async () => null };
  return { ok: true, headers: { get: () => "application/json" }, json: async () => body };
};
import(path.resolve(process.argv[3])).then(async (m) => {
  const host = {};
  const cleanup = m.default({ parentElement: host, setTriggerValue: (k, v) => triggers.push([k, v]),
    data: { url: "/class/counters?code=ABCDE", watch: "stage", seen: 3, every_ms: 1000, fallback_ms: 200,
            cookie: "" } });
  await new Promise((r) => setTimeout(r, Number(process.argv[4])));
  cleanup();
  console.log(JSON.stringify({ requests, triggers }));
  process.exit(0);
});
"""


def run_poll(tmp_path, answers: list, ms: int) -> dict:
    script = tmp_path / "poll_harness.cjs"
    script.write_text(POLL_HARNESS)
    module = tmp_path / "poll.mjs"  # Node reads an ES module by its extension
    module.write_text((REPO / "ui" / "class_poll" / "poll.js").read_text())
    out = subprocess.run(
        [NODE, str(script), json.dumps(answers), str(module), str(ms)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_poll_js_long_polls_and_triggers_once_per_change(tmp_path):
    """poll.js asks with watch/seen and asks again as soon as an answer comes (no 1 s tick in between); an answer
    that repeats what the page drew triggers nothing; a new stage triggers once."""
    answers = [
        {"version": 7, "stage": 3},
        {"version": 8, "stage": 3},
        {"version": 9, "stage": 4},
        {"version": 9, "stage": 4},
    ]
    got = run_poll(tmp_path, answers, 150)
    assert got["requests"][0] == "/class/counters?code=ABCDE&watch=stage&seen=3"
    assert len(got["requests"]) >= 4  # back to back: 150 ms holds no full 1 s interval
    assert got["requests"][3] == "/class/counters?code=ABCDE&watch=stage&seen=4"
    assert got["triggers"] == [["changed", 4]]


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_poll_js_falls_back_without_the_route(tmp_path):
    """Served without serve.py's route (an HTML answer): a trigger every fallback_ms for Python to look."""
    got = run_poll(tmp_path, ["html"], 500)
    assert 1 <= len(got["triggers"]) <= 3 and all(v < 0 for _k, v in got["triggers"])
