"""bench.classroom --browser-path (bench/browser_class.py): a handful of simulated students on Explore's browser path,
once, on a real server process (no Chromium: the check against Chromium's frames is the benchmark's own). The
numbers are checked for being measured and sane, not for being fast."""

from __future__ import annotations

import json
import math

from streamlit.proto.BackMsg_pb2 import BackMsg

from bench import browser_class as B


def test_a_few_students_on_the_browser_path_are_answered_and_measured():
    import concurrent.futures

    args = [
        "--students",
        "4",
        "--open",
        "2",
        "--open-within",
        "2",
        "--arrive",
        "2",
        "--seconds",
        "6",
        "--look",
        "0.6",
        "1.5",
        "--no-browser-check",
        "--no-append",
    ]
    # on a thread of its own: the bench calls asyncio.run, which refuses to start inside the event loop the Chromium
    # tests' Playwright leaves running on the main thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        out = pool.submit(B.run, args).result()
    run = out["runs"][0]
    students, n = run["res"]["students"], run["numbers"]
    assert [e for st in students for e in st.rec.errors] == []
    assert all(st.interactive_s is not None and st.interactive_s > 0 for st in students)
    # Every pause was answered by a run that showed the student's word, and nothing was dropped.
    assert n["pauses"] >= len(students) and n["answered"] == n["pauses"] and n["dropped"] == 0
    for st in students:
        assert st.rec.keys and all(0 < k.latency < B.KEY_TIMEOUT_S for k in st.rec.keys)
        # Nothing per key: the page's first run, then one rerun per pause (no reconnects here).
        assert st.rec.reconnects == 0 and st.tab.sent == 1 + len(st.rec.keys)
        # The component's state as live.js report() sets it, with the student's last word.
        state = json.loads(st.tab.states[st.tab.component_id][1])
        assert list(state) == ["view"]
        assert set(state["view"]) == {"text", "sides", "pattern", "head", "query", "bertviz_view"}
        assert state["view"]["text"] == st.rec.keys[-1].text
        assert st.tab.data["text"] == st.rec.keys[-1].text  # the server's last run shows that word
    # Measured: the server worked, the page weighed something, the first students became interactive.
    assert math.isfinite(n["cpu_pct"]) and n["cpu_pct"] > 0 and n["cpu_ms_per_pause"] > 0
    assert n["parts"]["HTML"] > 0 and n["parts"]["weights"] > 1000 and n["parts"]["WebSocket from the server"] > 0
    assert n["page_bytes"] >= sum(n["parts"][k] for k in ("HTML", "weights"))
    assert math.isfinite(n["open_p95_s"])
    assert "| 1 | 4 | 4 |" in out["text"]  # the table names the run


def test_a_pause_is_described_by_kind_widgets_and_the_views_state():
    msg = BackMsg()
    rs = msg.rerun_script
    rs.query_string = "browser=1&model=miniformer&text=capy"
    rs.page_script_hash = "abc"
    rs.widget_states.widgets.add(id="$$ID-96c7-lang").string_array_value.data.append("English")
    view = {"text": "capybara", "sides": [], "pattern": "p", "head": 0, "query": None}
    rs.widget_states.widgets.add(id="$$ID-f2bb-explore.live", json_value=json.dumps({"view": view}))
    d = B.describe(msg)
    assert d.startswith("rerun_script · whole page · page by hash · query keys browser, model, text")
    assert (
        "lang: string_array_value" in d and "text 'capybara'" in d and "view {head, pattern, query, sides, text}" in d
    )
    # The same messages in the same phases read "same"; one more message reads "DIFFERENT".
    marks = [("page load", 0.0), ("typing", 1.0), ("pause", 2.0)]
    a = B.phases([(0.5, msg), (2.5, msg)], marks)
    assert a == {"page load": [d], "typing": [], "pause": [d]}
    rows, kinds = B.check_rows({"phases": a}, {"phases": B.phases([(0.5, msg), (1.5, msg), (2.5, msg)], marks)})
    assert [r[-1] for r in rows] == ["same", "DIFFERENT", "same"] and kinds == [f"#1: {d}"]
    # A fragment's rerun reads as such: the browser names the fragment its widget is drawn in
    rs.fragment_id = "f1"
    assert B.describe(msg).startswith("rerun_script · fragment · page by hash")
    rs.is_auto_rerun = True
    assert B.describe(msg).startswith("rerun_script · fragment (timer) · ")


def run_on_thread(fn, *args, **kwargs):
    """``asyncio.run(fn(...))`` on a thread of its own (see the first test)."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(fn(*args, **kwargs))).result()


def test_a_pause_reruns_the_views_fragment_not_the_page(tmp_path):
    """Explore's browser path on a real server: the first word (the box was empty: the welcome above goes) reruns
    the page; every later pause reruns only the fragment that holds the component, and that run still answers the
    pause (the component shows the word) and writes the word to ?text=."""
    with B.servers(1, None, tmp_path) as (base, pids, _room):
        first = run_on_thread(B.pause_cost, base, pids, 1, warm=0)
        later = run_on_thread(B.pause_cost, base, pids, 4, warm=1)
    assert first["errors"] == [] and later["errors"] == []
    assert first["answered"] == 1 and first["full_runs"] == 1
    assert later["answered"] == 4 and later["full_runs"] == 0 and later["fragment_runs"] == 4
    assert f"text={later['last_word']}" in later["url_query"].split("&")
    assert later["cpu_ms"] > 0


def test_a_checkpoint_retrained_while_a_student_types_reaches_the_next_pause(tmp_path):
    """The fragment holds the weights file the page's last full run named; a checkpoint written since (its mtime
    moved) makes the next pause rerun the whole page, which names the new weights, as it did before the fragment."""
    import os

    from models.checkpoint import resolve_path

    touched = {}

    def retrain(data):  # the student's model, written again (its mtime moves; put back below)
        name = data["sides"][0]["weights"].rsplit("/", 1)[1].rsplit("-", 1)[0]
        path = resolve_path(name)
        touched[path] = path.stat()
        os.utime(path, (touched[path].st_atime, touched[path].st_mtime + 60))

    try:
        with B.servers(1, None, tmp_path) as (base, pids, _room):
            cost = run_on_thread(B.pause_cost, base, pids, 3, warm=1, between=retrain)
    finally:
        for path, st in touched.items():
            os.utime(path, (st.st_atime, st.st_mtime))
    assert touched and cost["errors"] == [] and cost["answered"] == 3
    assert cost["full_runs"] == 1, cost  # the first pause after the write; the later ones are the fragment's again
