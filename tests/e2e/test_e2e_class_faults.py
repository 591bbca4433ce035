"""A server process killed mid-class (issue 22, "Bad input and faults"), in real Chromium on ``classroom.sh``'s set-up:
2 processes behind nginx, the class in a shared SQLite store. Two students on process b1 lock their guesses; b1 is
killed with SIGKILL; without a reload their pages reconnect (nginx sends them to a live process, the class cookie
makes the new session the same student), stay on the class's step with their locked guesses, follow the teacher's
next commands (answers closed, the reveal) and get their own verdict. No student sees a traceback."""

from __future__ import annotations

import re
import time

import pytest
from conftest import start_classroom
from test_e2e_class_session import heading

SECRET = "teacher-secret-e2e"


@pytest.fixture
def room(tmp_path):
    from services.classroom import nginx_available

    if not nginx_available():
        pytest.skip("nginx is not installed (apt-get install -y nginx; test.sh does it when run as root)")
    setting = f"sqlite:///{tmp_path / 'classes.sqlite3'}"
    (tmp_path / "run").mkdir()
    r = start_classroom(
        processes=2,
        user_ckpt_dir=tmp_path / "ckpt",
        workdir=tmp_path / "run",
        debug=True,
        env={"ATTENTION_LAB_STORE": setting},
    )
    r.store_setting = setting
    yield r
    r.stop()


def test_students_of_a_killed_process_come_back_with_their_place_and_answers(open_on, room):
    from services.class_store import open_store
    from services.classroom import COOKIE
    from ui.class_session import COOKIE as CLASS_COOKIE

    t_start = time.monotonic()
    store = open_store(room.store_setting)
    c = store.create_class(SECRET)  # the teacher's commands go straight to the shared store here
    store.move(c.code, SECRET, page="lesson", step=2, question="lesson.2")
    store.set_question(c.code, SECRET, "open", meta={"text": "q", "labels": []})
    students, locked = [], []
    for i, name in enumerate(("Ann", "Bob")):
        m = store.join(c.code, name)
        s = open_on(room, {COOKIE: "b1", CLASS_COOKIE: f"s.{c.code}.{m.token}"})  # both on process b1
        s.page.goto(f"{room.url}/lesson?step=2")
        s.wait_until(
            lambda s=s: s.page.get_by_role("button", name="Lock my guess").count(), "answers open", timeout_s=40
        )
        assert "Step 2." in heading(s)
        s.page.locator('[data-testid="stMain"] [data-testid="stRadioOption"]').nth(i).click()
        s.page.get_by_role("button", name="Lock my guess").click()
        s.wait_until(lambda s=s: "Locked:" in s.main_text(), "the locked guess")
        locked.append(re.search(r"Locked: (.+?)\. You can change it", s.main_text()).group(1))
        students.append((s, m))
    answers = store.answers(c.code, "lesson.2")
    assert len(answers) == 2

    b1 = room.backends[1]
    old_pid = b1.proc.pid
    b1.kill()  # SIGKILL to the process and its group, mid-class
    b1.proc.wait(10)
    killed = time.monotonic()
    store.set_question(c.code, SECRET, "locked")  # the teacher goes on: answers closed
    for (s, _m), guess in zip(students, locked):  # no reload: the page reconnects by itself
        s.wait_until(
            lambda s=s, g=guess: f"Answers are closed. Your guess: {g}." in s.main_text(),
            "the student back in the class with the guess they locked",
            timeout_s=40,
        )
        assert "Step 2." in heading(s)
    back_s = time.monotonic() - killed
    store.set_question(c.code, SECRET, "revealed", right="0")
    for (s, _m), guess in zip(students, locked):
        s.wait_until(lambda s=s: "Right:" in s.main_text() or "Not this time" in s.main_text(), "a verdict")
        body = s.main_text()
        assert f"Right: {guess}" in body or f"you chose {guess}" in body, body[:400]
        assert not s.page.locator('[data-testid="stException"]').count()
    assert store.answers(c.code, "lesson.2") == answers  # one answer each, the same as before the kill
    assert len(store.members(c.code)) == 2  # nobody joined twice
    served = [r for r in room.access_log() if "/_stcore/stream" in r["request"] and r["status"] == "101"]
    assert served, "no WebSocket went through nginx"
    assert room.backends[1].proc.pid != old_pid or room.backends[1].state != "up"  # b1 died (and is restarted)
    print(f"\nkilled process: students back in the class after {back_s:.1f} s; test {time.monotonic() - t_start:.0f} s")
