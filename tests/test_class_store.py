"""The class store (services/class_store.py) against both back-ends: SQLite (WAL) in a temp folder and a real
``redis-server`` started for these tests. Same tests, same expectations."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest
from class_fixtures import RedisServer, have_redis, student_process  # (also puts the repository on sys.path)

from services.class_store import (
    CODE_ALPHABET,
    CODE_LENGTH,
    NICKNAME_MAX,
    ClassError,
    RedisStore,
    SQLiteStore,
    StoreUnavailable,
    clean_code,
    clean_nickname,
    funnel,
    histogram,
    open_store,
)

SECRET = "teacher-secret"


@pytest.fixture(params=["sqlite", "redis"])
def setting(request, tmp_path):
    """The store's setting, as ATTENTION_LAB_STORE would hold it (a fresh, empty store per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'classes.sqlite3'}"
    server = request.getfixturevalue("redis_server")
    import redis

    redis.Redis.from_url(server.url).flushdb()
    return server.url


@pytest.fixture
def store(setting):
    s = open_store(setting)
    yield s
    s.close()


def test_open_store_picks_the_backend(setting, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_STORE", setting)
    s = open_store()
    assert isinstance(s, RedisStore if setting.startswith("redis://") else SQLiteStore)
    if isinstance(s, SQLiteStore):
        assert s.path.name == "classes.sqlite3" and s.path.is_absolute()
        assert s.path.exists() and sqlite3.connect(s.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_class_from_start_to_end(store):
    c = store.create_class(SECRET)
    assert len(c.code) == CODE_LENGTH and set(c.code) <= set(CODE_ALPHABET)
    assert c.active and c.state == "closed" and c.question == ""
    versions = [store.counters(c.code)]

    a = store.join(c.code, "Ann")
    b = store.join(c.code, "")
    versions.append(store.counters(c.code))
    assert [m.nickname for m in store.members(c.code)] == ["Ann", ""]

    c = store.move(c.code, SECRET, page="lesson", step=3, word="capybara", model="miniformer", question="lesson.3")
    assert (c.page, c.step, c.word, c.model, c.question, c.state) == (
        "lesson",
        3,
        "capybara",
        "miniformer",
        "lesson.3",
        "closed",
    )
    versions.append(store.counters(c.code))
    c = store.set_question(c.code, SECRET, "open")
    versions.append(store.counters(c.code))
    store.answer(c.code, a.token, "0")
    store.answer(c.code, b.token, "1")
    store.answer(c.code, b.token, "0")  # changed her mind: still one answer
    versions.append(store.counters(c.code))
    assert store.answers(c.code, "lesson.3") == {a.token: "0", b.token: "0"}
    c = store.set_question(c.code, SECRET, "locked")
    c = store.set_question(c.code, SECRET, "revealed", right="0")
    assert (c.state, c.right) == ("revealed", "0")
    versions.append(store.counters(c.code))

    # version bumps on every change; stage only on what changes a student's screen (not joins or answers)
    v = [x[0] for x in versions]
    s = [x[1] for x in versions]
    assert v == sorted(v) and len(set(v)) == len(v)
    assert s[1] == s[0] and s[4] == s[3] and s[2] > s[1] and s[5] > s[4]

    # the next step starts closed; the earlier question keeps its answers and its right answer
    c = store.move(c.code, SECRET, page="lesson", step=4, question="lesson.4")
    assert c.state == "closed" and c.right is None
    rows = funnel(store, c.code)
    assert rows[0] == {
        "question": "lesson.3",
        "state": "revealed",
        "joined": 2,
        "answered": 2,
        "right": 2,
        "answer": "0",
    }
    assert rows[1]["answered"] == 0 and rows[1]["right"] is None
    assert histogram(store.answers(c.code, "lesson.3"), ["0", "1", "2"]) == {"0": 2, "1": 0, "2": 0}

    store.end_class(c.code, SECRET)
    with pytest.raises(ClassError) as e:
        store.join(c.code, "late")
    assert e.value.reason == "ended"
    assert not store.get_class(c.code).active


def test_classes_do_not_see_each_other(store):
    one, two = store.create_class(SECRET), store.create_class("other")
    assert one.code != two.code
    m = store.join(one.code, "Ann")
    assert store.members(two.code) == []
    assert store.member(two.code, m.token) is None
    with pytest.raises(ClassError) as e:
        store.move(two.code, SECRET, page="lesson", step=2, question="lesson.2")  # one class's secret
    assert e.value.reason == "wrong_secret"


@pytest.mark.parametrize(
    "raw, want",
    [
        ("**bold** <b>x</b>", "**bold** <b>x</b>"[:NICKNAME_MAX]),  # kept as text: escaped where it is shown
        ("x" * 10_000, "x" * NICKNAME_MAX),
        ("a\x00b\x1b[31mc\u202ed\ne\tf", "ab[31mcd e f"),
        ("   ", ""),
        (None, ""),
    ],
)
def test_nicknames_are_bounded_plain_text(store, raw, want):
    assert clean_nickname(raw) == want
    c = store.create_class(SECRET)
    m = store.join(c.code, raw)
    assert m.nickname == want and store.members(c.code)[0].nickname == want


def test_join_codes_are_read_forgivingly():
    assert clean_code(" ab c-2d ") == "ABC2D"
    assert clean_code("ABC2") == "" and clean_code("ABCDEF") == "" and clean_code("ABC0D") == ""
    assert clean_code("<script>") == "" and clean_code(None) == ""


def test_every_teacher_action_needs_the_secret(store):
    c = store.create_class(SECRET)
    store.move(c.code, SECRET, page="lesson", step=1, question="lesson.1")
    actions = {
        "move": lambda s: store.move(c.code, s, page="lesson", step=2, question="lesson.2"),
        "open": lambda s: store.set_question(c.code, s, "open"),
        "reveal": lambda s: store.set_question(c.code, s, "revealed", right="1"),
        "end": lambda s: store.end_class(c.code, s),
    }
    before = store.counters(c.code)
    for name, act in actions.items():
        for bad in ("", None, "wrong", SECRET + " ", SECRET.upper()):
            with pytest.raises(ClassError) as e:
                act(bad)
            assert e.value.reason == "wrong_secret", (name, bad)
    assert store.counters(c.code) == before  # nothing changed
    assert not store.check_secret(c.code, "wrong") and store.check_secret(c.code, SECRET)
    assert store.get_class(c.code).active


def test_the_same_student_in_two_tabs_is_one_member_with_one_answer(store):
    c = store.create_class(SECRET)
    store.move(c.code, SECRET, page="lesson", step=1, question="lesson.1")
    store.set_question(c.code, SECRET, "open")
    first = store.join(c.code, "Ann")
    again = store.join(c.code, "", token=first.token)  # the second tab brings the browser's token
    assert again.token == first.token and again.nickname == "Ann"
    store.answer(c.code, first.token, "2")
    store.answer(c.code, again.token, "3")
    assert len(store.members(c.code)) == 1
    assert store.answers(c.code, "lesson.1") == {first.token: "3"}
    renamed = store.join(c.code, "Annie", token=first.token)
    assert renamed.token == first.token and store.member(c.code, first.token).nickname == "Annie"


def test_answers_only_while_open(store):
    c = store.create_class(SECRET)
    m = store.join(c.code, "Ann")
    with pytest.raises(ClassError) as e:
        store.answer(c.code, m.token, "0")  # no question yet
    assert e.value.reason == "no_question"
    store.move(c.code, SECRET, page="lesson", step=1, question="lesson.1")
    with pytest.raises(ClassError) as e:
        store.answer(c.code, m.token, "0")  # asked, not opened
    assert e.value.reason == "not_open"
    store.set_question(c.code, SECRET, "open")
    store.answer(c.code, m.token, "0")
    store.set_question(c.code, SECRET, "locked")
    for late in ("1", "0"):
        with pytest.raises(ClassError) as e:
            store.answer(c.code, m.token, late)  # after answers are closed
        assert e.value.reason == "not_open"
    assert store.answers(c.code, "lesson.1") == {m.token: "0"}
    with pytest.raises(ClassError) as e:
        store.answer(c.code, "not-a-member", "0")
    assert e.value.reason == "not_member"
    for bad in ("", "x" * 65, "a\x00"):
        with pytest.raises(ClassError) as e:
            store.answer(c.code, m.token, bad)
        assert e.value.reason == "bad_choice"


def test_unknown_and_ended_codes(store):
    for act in (
        lambda: store.join("ZZZZZ", "Ann"),
        lambda: store.get_class("ZZZZZ"),
        lambda: store.counters("ZZZZZ"),
        lambda: store.members("ZZZZZ"),
    ):
        with pytest.raises(ClassError) as e:
            act()
        assert e.value.reason == "unknown_code"
    c = store.create_class(SECRET)
    m = store.join(c.code, "Ann")
    store.end_class(c.code, SECRET)
    for act in (
        lambda: store.join(c.code, "Bob"),
        lambda: store.join(c.code, "", token=m.token),
        lambda: store.answer(c.code, m.token, "0"),
        lambda: store.move(c.code, SECRET, page="lesson", step=2),
    ):
        with pytest.raises(ClassError) as e:
            act()
        assert e.value.reason == "ended"
    with pytest.raises(ClassError) as e:
        store.move(store.create_class(SECRET).code, SECRET, page="<b>", step=2)
    assert e.value.reason == "bad_place"


def test_two_processes_at_once(setting, store):
    """Two processes join and answer at the same time: nothing is lost and the counter counts every change."""
    c = store.create_class(SECRET)
    store.move(c.code, SECRET, page="lesson", step=1, question="lesson.1")
    store.set_question(c.code, SECRET, "open")
    v0 = store.counters(c.code)[0]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    n = 25
    procs = [ctx.Process(target=student_process, args=(setting, c.code, n, out)) for _ in range(2)]
    for p in procs:
        p.start()
    tokens = out.get(timeout=60) + out.get(timeout=60)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(set(tokens)) == 2 * n
    assert len(store.members(c.code)) == 2 * n
    assert len(store.answers(c.code, "lesson.1")) == 2 * n
    assert store.counters(c.code)[0] == v0 + 2 * (2 * n)  # one bump per join, one per answer


def test_sqlite_unwritable_and_locked(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(StoreUnavailable) as e:
        SQLiteStore(blocker / "classes.sqlite3")
    assert e.value.reason == "unwritable" and "not-a-folder" in e.value.where

    store = SQLiteStore(tmp_path / "classes.sqlite3", busy_timeout_s=0.2)
    c = store.create_class(SECRET)
    holder = sqlite3.connect(tmp_path / "classes.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        with pytest.raises(StoreUnavailable) as e:
            store.join(c.code, "Ann")
        assert e.value.reason == "locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.join(c.code, "Ann").nickname == "Ann"  # works again once the lock is gone


def test_redis_stopped_mid_class(tmp_path):
    if not have_redis():
        pytest.skip("redis-server is not installed (bash test.sh installs Debian's redis-server)")
    server = RedisServer(tmp_path / "redis")
    try:
        store = open_store(server.url)
        c = store.create_class(SECRET)
        m = store.join(c.code, "Ann")
    finally:
        server.stop()
    for act in (
        lambda: store.counters(c.code),
        lambda: store.join(c.code, "Bob"),
        lambda: store.answer(c.code, m.token, "0"),
        lambda: store.create_class(SECRET),
    ):
        with pytest.raises(StoreUnavailable) as e:
            act()
        assert e.value.reason == "down" and str(server.port) in e.value.where


def test_question_text_and_labels_are_kept(store):
    c = store.create_class(SECRET)
    store.move(c.code, SECRET, page="lesson", step=2, question="lesson.2")
    meta = {"text": "Which <b>one</b>?", "labels": ["0: <BOS>", "1: b"]}
    store.set_question(c.code, SECRET, "open", meta=meta)
    store.set_question(c.code, SECRET, "revealed", right="1")  # no meta: the stored one stays
    (r,) = store.results(c.code)
    assert r.meta == meta and r.right == "1"
    with pytest.raises(ClassError):
        store.set_question(c.code, SECRET, "open", meta={"text": "x" * 30_000})


def test_a_question_asked_with_another_word_is_asked_afresh(store):
    """The class on a question, its answers in and revealed: the teacher's new word for the same question clears
    its answers, state and answer (each was about the old word's options); the other questions keep theirs, and the
    question keeps its place in the results."""
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    for q in ("lesson.1", "lesson.2"):
        store.move(c.code, SECRET, page="lesson", step=int(q[-1]), word="capyba", question=q)
        store.set_question(c.code, SECRET, "open", meta={"text": "?", "labels": ["a", "b"]})
        store.answer(c.code, ann.token, "1")
        store.set_question(c.code, SECRET, "revealed", right="1")
    store.move(c.code, SECRET, page="lesson", step=1, word="capyba", question="lesson.1")  # back: kept
    assert store.get_class(c.code).state == "revealed" and store.answers(c.code, "lesson.1") == {ann.token: "1"}
    c = store.move(c.code, SECRET, page="lesson", step=1, word="zebra", question="lesson.1")
    assert (c.word, c.question, c.state, c.right) == ("zebra", "lesson.1", "closed", None)
    assert store.answers(c.code, "lesson.1") == {} and store.answers(c.code, "lesson.2") == {ann.token: "1"}
    assert [(r.question, r.state, r.right) for r in store.results(c.code)] == [
        ("lesson.1", "closed", None),
        ("lesson.2", "revealed", "1"),
    ]


def test_the_class_summary_is_escaped_offline_html():
    from viz.class_session import summary_html

    page = summary_html(
        "Class <i>X</i>",
        [{"question": "Q <script>alert(1)</script>", "labels": ["<BOS>", "b"], "counts": [3, 1], "right": 1}],
    )
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;BOS&gt;" in page
    assert "4 answered" in page and "✓ b" in page and "http" not in page  # nothing fetched: works offline
