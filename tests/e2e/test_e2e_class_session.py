"""A class in real Chromium: one teacher and three students on ``classroom.sh``'s set-up with 2 processes behind nginx
(services.classroom; each process serves serve.py, the app with the class session's light route), the teacher
pinned to one process and the students spread over both, so the class lives only in the shared store (SQLite in a
temp folder). Without nginx, the same on one ``streamlit run serve.py``. Join by code, follow a step change, lock
guesses, the live count and the histogram on the teacher's page, reveal, and a student's reload that keeps the
place and the answer. Nothing of the answer is on a student's screen before the reveal."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import start_classroom

ANSWER_WORDS = ("Right:", "Not this time", "The answer is", "The model's answer")


@pytest.fixture
def class_server(tmp_path, server_factory):
    """2 processes behind nginx when nginx is here (test.sh installs it), else one ``streamlit run serve.py``."""
    from services.classroom import nginx_available

    store = {"ATTENTION_LAB_STORE": f"sqlite:///{tmp_path / 'classes.sqlite3'}"}
    if not nginx_available():
        yield server_factory({**store, "ATTENTION_LAB_TEACHER_PIN": None}, script="serve.py")
        return
    (tmp_path / "run").mkdir()
    # debug: cookie values b0/b1, so the test can seat the teacher and students on both processes
    room = start_classroom(
        processes=2, user_ckpt_dir=tmp_path / "ckpt", workdir=tmp_path / "run", env=store, debug=True
    )
    yield room
    room.stop()


def heading(ap) -> str:
    h = ap.page.locator('[data-testid="stMain"] h2')
    return h.first.inner_text() if h.count() else ""


def test_one_teacher_three_students(open_on, class_server):
    from services.classroom import COOKIE

    two = hasattr(class_server, "access_log")
    pin = (lambda i: {COOKIE: f"b{i % 2}"}) if two else (lambda i: None)  # nginx's sticky cookie
    teacher = open_on(class_server, pin(0))
    teacher.page.goto(f"{class_server.url}/teach")
    teacher.page.get_by_role("button", name="Start a class").click()
    teacher.wait_until(lambda: "key=" in teacher.page.url, "the teacher's link with its key")
    code = parse_qs(urlparse(teacher.page.url).query)["class"][0]
    assert re.fullmatch(r"[A-Z2-9]{5}", code)
    teacher.wait_until(lambda: teacher.page.locator("img").count() >= 1, "the QR code")

    students = []
    for i, name in enumerate(("Ann", "<b>Bob</b>", "**Cy**"), start=1):
        s = open_on(class_server, pin(i))
        s.page.goto(f"{class_server.url}/join?code={code}")
        s.page.get_by_label("Nickname (optional)").fill(name)
        s.page.get_by_role("button", name="Join").click()
        s.wait_until(lambda s=s: "Step 1." in heading(s), f"{name} to land on the class's step")
        students.append(s)
    teacher.page.reload()
    teacher.wait_until(lambda: "3 joined" in teacher.main_text(), "3 joined on the teacher's page")
    assert "<b>Bob</b>" in teacher.main_text() and "**Cy**" in teacher.main_text()  # shown as typed

    teacher.page.get_by_role("link", name="Lead the Lesson").click()
    teacher.wait_until(lambda: "Step 1." in heading(teacher), "the teacher on step 1")
    teacher.page.get_by_role("button", name="Next").first.click()
    teacher.wait_until(lambda: "Step 2." in heading(teacher), "the teacher on step 2")
    moved = time.monotonic()
    for s in students:  # every joined screen follows
        s.wait_until(lambda s=s: "Step 2." in heading(s), "a student to follow to step 2", timeout_s=20)
    follow_s = time.monotonic() - moved
    for s in students:
        assert not any(w in s.main_text() for w in ANSWER_WORDS)
        assert s.page.locator('[data-testid="stPlotlyChart"]').count() == 0  # no view of the step yet
        assert "appears when the teacher reveals the answer" in s.main_text()

    teacher.page.get_by_role("button", name="Open answers").click()
    teacher.wait_until(lambda: "0 of 3 answered" in teacher.main_text(), "the live count")
    for i, s in enumerate(students):
        s.wait_until(lambda s=s: s.page.get_by_role("button", name="Lock my guess").count(), "answers open")
        s.page.locator('[data-testid="stMain"] [data-testid="stRadioOption"]').nth(i % 2).click()
        s.page.get_by_role("button", name="Lock my guess").click()
        s.wait_until(lambda s=s: "Locked:" in s.main_text(), "the locked guess")
        assert not any(w in s.main_text() for w in ANSWER_WORDS)
    teacher.wait_until(lambda: "3 of 3 answered" in teacher.main_text(), "3 of 3 answered, live", timeout_s=20)

    teacher.page.get_by_role("button", name="Close answers").click()
    teacher.wait_until(lambda: teacher.page.locator('[data-testid="stPlotlyChart"]').count() >= 1, "the histogram")
    for s in students:
        s.wait_until(lambda s=s: "Answers are closed" in s.main_text(), "answers closed on a student's screen")
        assert not any(w in s.main_text() for w in ANSWER_WORDS)
        assert s.page.get_by_role("button", name="Lock my guess").count() == 0

    teacher.page.get_by_role("button", name="Reveal").click()
    teacher.wait_until(lambda: "The model's answer" in teacher.main_text(), "the model's answer on the projector")
    for s in students:
        s.wait_until(lambda s=s: "Right:" in s.main_text() or "Not this time" in s.main_text(), "a verdict")

    s = students[0]
    verdict = "Right:" if "Right:" in s.main_text() else "Not this time"
    s.page.reload()  # the cookie brings her back: same step, same answer
    s.wait_until(lambda: "Step 2." in heading(s) and verdict in s.main_text(), "the student back after a reload")
    print(f"\nfollow a step change, 3 students: {follow_s:.2f} s")
    if two:  # both processes served the class
        backends = {r["backend"] for r in class_server.access_log() if "/_stcore/stream" in r["request"]}
        assert len(backends) == 2, backends
    for ap in [teacher] + students:
        ap.assert_clean()
