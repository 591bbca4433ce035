"""The class store failing mid-class (issue 22, "Bad input and faults"), under AppTest with a teacher and a student
as separate sessions: the SQLite file locked by another program, the file gone unwritable (a folder where it was),
and Redis stopped. The teacher gets a message saying what is wrong and what to do; a student gets a plain sentence,
never a traceback; once the store is back the class goes on with the answers it had."""

from __future__ import annotations

import sqlite3

import pytest
from class_fixtures import RedisServer, have_redis
from test_class_session import SECRET, ok, session, student, teacher, texts

TEACH = "app_pages/8_teach.py"
STUDENT_SAYS = "The class can't be reached right now: try again in a moment"


@pytest.fixture
def sqlite_class(tmp_path, monkeypatch):
    path = tmp_path / "classes.sqlite3"
    monkeypatch.setenv("ATTENTION_LAB_STORE", f"sqlite:///{path}")
    monkeypatch.delenv("ATTENTION_LAB_TEACHER_PIN", raising=False)
    from services.class_store import shared_store

    store = shared_store()
    monkeypatch.setattr(store, "busy_timeout_s", 0.2)  # a locked store answers "locked" in 0.2 s, not 3 s
    return store, path


def open_question(store):
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    t = teacher(c.code, 1)
    t.button(key="class.open").click().run()
    ok(t)
    a = student(c.code, ann.token)
    next(r for r in a.radio if r.key.endswith(".guess")).set_value(1).run()
    return c, ann, t, a


def no_traceback(*apps) -> None:
    for at in apps:
        ok(at)
        assert "Traceback" not in texts(at)


def test_a_locked_store_mid_class(sqlite_class):
    store, path = sqlite_class
    c, ann, t, a = open_question(store)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        a.button(key="class.lesson.1.lock").click().run()
        no_traceback(a)
        assert STUDENT_SAYS in texts(a) and "Locked:" not in texts(a)
        t.button(key="class.close").click().run()
        no_traceback(t)
        assert "The class store is busy or locked by another program" in texts(t)
        assert store.get_class(c.code).state == "open"  # nothing half-done
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    a.button(key="class.lesson.1.lock").click().run()  # the lock is gone: the class goes on
    no_traceback(a)
    assert "Locked:" in texts(a) and store.answers(c.code, "lesson.1") == {ann.token: "1"}


def test_the_store_file_unwritable_mid_class(sqlite_class, tmp_path):
    store, path = sqlite_class
    c, ann, t, a = open_question(store)
    a.button(key="class.lesson.1.lock").click().run()
    assert store.answers(c.code, "lesson.1") == {ann.token: "1"}
    away = tmp_path / "moved"
    away.mkdir()
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("classes.sqlite3")]
    for p in moved:
        p.rename(away / p.name)
    path.mkdir()  # a folder where the file was: it can't be opened
    try:
        a.run()
        no_traceback(a)
        assert "The class can't be reached right now" in texts(a)
        assert "ATTENTION_LAB_STORE" not in texts(a)  # the fix is the teacher's business
        t.run()
        no_traceback(t)
        assert "The class store can't be written" in texts(t) and str(path) in texts(t)
        tp = session({"class.checked": True, "class.code": c.code, "class.secret": SECRET, "class.token": None}, TEACH)
        no_traceback(tp)
        assert "The class store can't be written" in texts(tp)
    finally:
        path.rmdir()
        for p in moved:
            (away / p.name).rename(p)
    a.run()
    no_traceback(a)
    assert "Locked:" in texts(a)  # back, with the guess locked before


def test_redis_stopped_mid_class(tmp_path, monkeypatch):
    if not have_redis():
        pytest.skip("redis-server is not installed (bash test.sh installs Debian's redis-server)")
    server = RedisServer(tmp_path / "redis")
    try:
        monkeypatch.setenv("ATTENTION_LAB_STORE", server.url)
        monkeypatch.delenv("ATTENTION_LAB_TEACHER_PIN", raising=False)
        from services.class_store import shared_store

        c, ann, t, a = open_question(shared_store())
        a.button(key="class.lesson.1.lock").click().run()
        assert "Locked:" in texts(a)
    finally:
        server.stop()  # Redis stops mid-class
    a.run()
    no_traceback(a)
    assert "The class can't be reached right now" in texts(a) and "redis" not in texts(a).lower()
    t.run()
    no_traceback(t)
    assert "The class store's server can't be reached" in texts(t) and str(server.port) in texts(t)
    tp = session({"class.checked": True, "class.code": c.code, "class.secret": SECRET, "class.token": None}, TEACH)
    no_traceback(tp)
    assert "The class store's server can't be reached" in texts(tp)
    e = session(
        {"class.checked": True, "class.code": c.code, "class.secret": None, "class.token": ann.token},
        "app_pages/1_explore.py",
    )  # a student elsewhere in the app: the page works
    no_traceback(e)
    assert e.title[0].value == "Explore"


def test_a_guess_picked_after_the_store_went_away(sqlite_class, tmp_path):
    """The guess widget is a fragment: picking an option reruns only it, with the class the page read before the
    store went away. It said a traceback; now the student's sentence."""
    store, path = sqlite_class
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    store.move(c.code, SECRET, page="lesson", step=1, question="lesson.1")
    store.set_question(c.code, SECRET, "open")
    from streamlit.testing.v1 import AppTest

    def guess_fragment():
        import streamlit as st

        from ui.class_session import _student_question

        st.session_state.update(
            {"class.code": st.session_state["c"].code, "class.token": st.session_state["tok"], "class.secret": None}
        )
        _student_question(
            st.session_state["c"], ["a", "b"], ["a", "b"], lambda: ("a", ""), explain=None, key="lesson.1"
        )

    at = AppTest.from_function(guess_fragment)
    at.session_state["c"], at.session_state["tok"] = store.get_class(c.code), ann.token  # what the page read
    at.session_state["lang"] = "en"
    at.run()
    ok(at)
    assert [r for r in at.radio if r.key.endswith(".guess")]
    for p in list(tmp_path.iterdir()):
        if p.name.startswith("classes.sqlite3"):
            p.unlink()
    path.mkdir()  # the store is gone
    at.run()
    no_traceback(at)
    assert STUDENT_SAYS in "\n".join(e.value for e in at.error)
