"""A class on a real server (serve.py with its counters route, bench/class_session.py's simulated pages): when the
teacher opens answers, each student's page reruns the Lesson's step (a fragment), not the whole page
(ui/class_session.py step_poller and _on_stage), and still shows the question open. Kept short: two students, one
move, arrivals and locks within a couple of seconds."""

from __future__ import annotations

import asyncio
import concurrent.futures


def test_opening_answers_reruns_each_students_step_not_the_page(monkeypatch, tmp_path):
    from bench import class_session as B
    from services.classroom import Classroom

    monkeypatch.setattr(B, "ARRIVE_S", 2.0)
    monkeypatch.setattr(B, "LOCK_WINDOW_S", 1.0)
    monkeypatch.setenv("ATTENTION_LAB_STORE", f"sqlite:///{tmp_path / 'classes.sqlite3'}")
    with Classroom(processes=1, user_ckpt_dir=tmp_path / "ckpt", nginx=False) as room:
        # on a thread of its own: asyncio.run refuses to start inside a loop another test may leave running
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            res = pool.submit(lambda: asyncio.run(B.drive(room.url, room.pids(), 2, 1.0, 1, 0))).result()
    assert res["errors"] == []
    assert len(res["follow"]) == 2 and all(t is not None for t in res["follow"])  # a move still reruns the page
    assert len(res["open"]) == 2 and all(t is not None for t in res["open"]), res["open"]  # each shows Lock
    # one run of the step each and no whole-page run: the poller sits in the step's fragment, so its trigger asks
    # for the step (it asked for the page, which the callback stopped and turned into the step's: a page run
    # started and at once stopped per student, announced all the same)
    assert res["open_runs"] == {"page": 0, "fragment": 2}, res["open_runs"]
    assert res["answered"] == 2  # and the guesses still lock
