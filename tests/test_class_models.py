"""Students' models in a class (issue 22, item 6): a model trained during a class is in its student's pickers and the
teacher's, not in another student's; the teacher's page lists it (who, when, model) and clears it (file and record);
a student can't. The store part runs against SQLite and a real redis-server; the pages under AppTest with a real
one-epoch run on the Train page."""

from __future__ import annotations

import time

import pytest
from lab_fixtures import TINY_WORDS, shown
from test_class_session import SECRET, ok, session, student, texts

from models import checkpoint_folder
from models.data import WordList
from models.train import Recipe
from services import jobs
from services.class_store import ClassError, open_store

TEACH = "app_pages/8_teach.py"
TRAIN = "app_pages/5_train.py"
EXPLORE = "app_pages/1_explore.py"


# ---- the store, both back-ends -------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "redis"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'classes.sqlite3'}")
    else:
        server = request.getfixturevalue("redis_server")
        import redis

        redis.Redis.from_url(server.url).flushdb()
        s = open_store(server.url)
    yield s
    s.close()


def test_the_store_records_lists_and_clears_a_class_s_models(any_store):
    s = any_store
    c, other = s.create_class(SECRET), s.create_class("other-secret")
    ann, bob = s.join(c.code, "Ann"), s.join(c.code, "Bob")
    zed = s.join(other.code, "Zed")
    v0 = s.counters(c.code)[0]
    s.add_model(c.code, ann.token, "ann-model", "miniformer")
    s.add_model(c.code, bob.token, "bob-model", "full")
    s.add_model(other.code, zed.token, "zed-model", "miniformer")
    assert s.counters(c.code)[0] == v0 + 2  # the teacher's page sees a new model
    mine = s.class_models(c.code)
    assert [(m.name, m.token, m.model) for m in mine] == [
        ("ann-model", ann.token, "miniformer"),
        ("bob-model", bob.token, "full"),
    ]
    assert {m.name for m in s.class_models()} == {"ann-model", "bob-model", "zed-model"}
    with pytest.raises(ClassError, match="not_member"):
        s.add_model(c.code, zed.token, "sneaky", "miniformer")  # a member of another class
    with pytest.raises(ClassError, match="bad_model"):
        s.add_model(c.code, ann.token, "../etc/passwd", "miniformer")
    for wrong in ("", "guess", ann.token, "other-secret"):  # a student, or the other class's teacher
        with pytest.raises(ClassError, match="wrong_secret"):
            s.remove_models(c.code, wrong, ["ann-model"])
    assert len(s.class_models(c.code)) == 2
    assert s.remove_models(c.code, SECRET, ["ann-model", "zed-model"]) == ["ann-model"]  # only this class's
    assert [m.name for m in s.class_models(c.code)] == ["bob-model"]
    assert s.remove_models(c.code, SECRET) == ["bob-model"]
    assert [m.name for m in s.class_models()] == ["zed-model"]


def test_who_sees_which_model():
    from services.class_store import ClassModel
    from ui.class_models import hidden

    recs = [
        ClassModel("a1", "AAAAA", "ann", "miniformer", 1.0),
        ClassModel("b1", "AAAAA", "bob", "miniformer", 2.0),
        ClassModel("z1", "ZZZZZ", "zed", "miniformer", 3.0),
    ]
    assert hidden(recs, None, "", False) == set()  # outside a class: nothing changes
    assert hidden(recs, "AAAAA", "ann", False) == {"b1", "z1"}  # a student: their own only
    assert hidden(recs, "AAAAA", "", True) == {"z1"}  # the teacher: the class's, not another's


def test_a_failed_record_starts_no_run(user_ckpt_dir):
    """on_claim runs before the run starts; when it raises (the store is down), nothing trains and the name is free."""
    reg = jobs.JobRegistry(max_running=2)

    def refuse(name):
        raise ClassError("ended")

    with pytest.raises(ClassError):
        jobs.start_job(
            "s1",
            "miniformer",
            WordList(TINY_WORDS),
            Recipe("test", epochs=1, batch_size=8, lr=1e-2, dropout=0.0),
            name="never",
            registry=reg,
            on_claim=refuse,
        )
    assert reg.jobs() == [] and not checkpoint_folder.claimed(user_ckpt_dir / "never.pt")


# ---- the pages -------------------------------------------------------------------------------------------------
@pytest.fixture
def lab(lab, tmp_path, monkeypatch):
    """conftest's ``lab`` (temp checkpoint folders, tiny word list, job registry emptied after) and a class store."""
    monkeypatch.setenv("ATTENTION_LAB_STORE", f"sqlite:///{tmp_path / 'classes.sqlite3'}")
    monkeypatch.delenv("ATTENTION_LAB_TEACHER_PIN", raising=False)
    from services.class_store import shared_store

    return shared_store()


def picker(at) -> list[str]:
    return list(at.selectbox(key="model").options)


def teacher_page(code: str):
    return session({"class.checked": True, "class.code": code, "class.secret": SECRET, "class.token": None}, TEACH)


def test_a_students_model_is_theirs_and_the_teachers_and_the_teacher_clears_it(lab, tmp_path):
    store = lab
    outsider = jobs.start_job(
        "before the class",
        "miniformer",
        WordList(TINY_WORDS),
        Recipe("test", epochs=1, batch_size=8, lr=1e-2, dropout=0.0),
        name="old-model",
    )
    c = store.create_class(SECRET)
    ann, bob = store.join(c.code, "Ann <b>"), store.join(c.code, "Bob")
    a = student(c.code, ann.token, page=TRAIN)  # Ann trains during the class, on the Train page
    a.number_input(key="train.epochs").set_value(1)
    a.text_input(key="train.name").set_value("ann-model").run()
    a.button(key="train.go").click().run()
    ok(a)
    assert [m.name for m in store.class_models(c.code)] == ["ann-model"]  # recorded before the run started
    t0 = time.monotonic()
    ann_file = tmp_path / "user" / "ann-model.pt"
    while not ann_file.exists() or checkpoint_folder.claimed(ann_file):
        assert time.monotonic() - t0 < 90, "the run did not publish"
        time.sleep(0.2)
    assert outsider.join(60) and (tmp_path / "user" / "old-model.pt").exists()

    a.switch_page(EXPLORE).run()
    ok(a)
    assert any("ann-model" in o for o in picker(a))  # in Ann's picker
    b = student(c.code, bob.token, page=EXPLORE, model="ann-model")  # Bob, even with a link that names it
    assert not any("ann-model" in o for o in picker(b)) and any("old-model" in o for o in picker(b))
    assert "ann-model" not in str(b.query_params.get("model"))
    t = session({"class.checked": True, "class.code": c.code, "class.secret": SECRET, "class.token": None}, EXPLORE)
    assert any("ann-model" in o for o in picker(t))  # and in the teacher's

    b.switch_page(TEACH).run()  # a student on the teacher's page: no list, no Clear
    ok(b)
    assert not [x for x in b.button if x.key and x.key.startswith("teach.models")]
    assert "ann-model" not in texts(b)

    t = teacher_page(c.code)
    assert "Models trained in this class" in [h.value for h in t.subheader]
    table = t.dataframe[-1].value
    assert list(table.iloc[0][["Student", "Model", "Architecture", "Saved"]]) == [
        "Ann <b>",
        "ann-model",
        "miniformer",
        "✓",
    ]
    assert "<b>" not in "".join(str(m.value) for m in t.markdown)  # the nickname is cell text, never markup
    t.multiselect(key="teach.models.pick").set_value(["ann-model"]).run()
    t.button(key="teach.models.clear").click().run()
    ok(t)
    assert not (tmp_path / "user" / "ann-model.pt").exists() and store.class_models(c.code) == []
    assert "1 cleared." in texts(t)
    a.run()
    ok(a)
    assert not any("ann-model" in o for o in picker(a))
    assert (tmp_path / "user" / "old-model.pt").exists()  # a model from outside the class is left alone


def test_a_student_cannot_clear(lab, tmp_path):
    store = lab
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "ann-model.pt").write_bytes(b"a finished checkpoint stands in")
    store.add_model(c.code, ann.token, "ann-model", "miniformer")
    from streamlit.testing.v1 import AppTest

    def attempt():
        import streamlit as st

        from services.class_store import ClassError
        from ui.class_models import clear

        st.session_state.update({"class.code": st.session_state["code"], "class.token": "t", "class.secret": None})
        try:
            clear(None)
        except ClassError as e:
            st.text(e.reason)

    at = AppTest.from_function(attempt)
    at.session_state["code"] = c.code
    at.run()
    assert not at.exception and at.text[0].value == "wrong_secret"
    assert (tmp_path / "user" / "ann-model.pt").exists() and len(store.class_models(c.code)) == 1
    t = teacher_page(c.code)
    t.button(key="teach.models.clear_all").click().run()
    ok(t)
    assert not (tmp_path / "user" / "ann-model.pt").exists() and store.class_models(c.code) == []
    assert "1 cleared." in shown(texts(t))


def test_the_lessons_training_run_in_a_class_is_recorded_for_its_student(lab, tmp_path, monkeypatch):
    """Step 8 in a class: the student's run (the Lesson's own training panel) is recorded as theirs before it starts."""
    import models.train as train_mod

    monkeypatch.setattr(
        train_mod, "recipe_for", lambda *a: Recipe("test", epochs=1, batch_size=8, lr=1e-2, dropout=0.0)
    )
    store = lab
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    store.move(c.code, SECRET, page="lesson", step=8, question="lesson.8")
    store.set_question(c.code, SECRET, "open")  # the teacher opened answers
    a = student(c.code, ann.token, step="8")
    a.radio(key="lesson.pace").set_value("fast").run()
    next(r for r in a.radio if r.key.endswith(".guess")).set_value(0).run()
    a.button(key="class.lesson.8.lock").click().run()
    a.button(key="lesson.train").click().run()
    ok(a)
    job = jobs.get_job(a.session_state["train.sid"])
    try:
        assert job is not None and job.spec.name.startswith("lesson-miniformer")
        assert [(m.name, m.token) for m in store.class_models(c.code)] == [(job.spec.name, ann.token)]
    finally:
        if job is not None:
            job.join(120)
            jobs.clear_job(a.session_state["train.sid"])
