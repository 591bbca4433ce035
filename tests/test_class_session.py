"""A class session under AppTest: one teacher and students as separate sessions sharing a store (SQLite in a temp
folder). The no-peeking rules (nothing of the answer on a student's screen before the reveal), locking and changing
a guess, following the teacher, joining by code, bad input, and a store that is down."""

from __future__ import annotations

import pytest
from class_fixtures import free_port
from lab_fixtures import open_app, shown

LESSON = "app_pages/0_lesson.py"
SECRET = "sekret-key"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_STORE", f"sqlite:///{tmp_path / 'classes.sqlite3'}")
    monkeypatch.delenv("ATTENTION_LAB_TEACHER_PIN", raising=False)
    from services.class_store import shared_store

    return shared_store()


def session(state: dict, page: str | None = None, **query):
    return open_app(page, state={"lang": "en", **state}, **query)


def state(at, key: str):
    try:
        return at.session_state[key]
    except KeyError:
        return None


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def teacher(code: str, step: int = 1):
    return session(
        {"class.checked": True, "class.code": code, "class.secret": SECRET, "class.token": None}, LESSON, step=str(step)
    )


def student(code: str, token: str, page: str | None = LESSON, **query):
    return session(
        {"class.checked": True, "class.code": code, "class.secret": None, "class.token": token, "class.stage": None},
        page,
        **query,
    )


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "success", "warning", "info", "error", "caption") for e in at.get(kind)]
    return shown("\n".join(str(p) for p in parts))


ANSWER_WORDS = ("Right:", "Not this time", "The answer is", "The model's answer", "The model gives it")


def assert_no_answer(at, step: int = 1) -> None:
    body = texts(at)
    assert not any(w in body for w in ANSWER_WORDS), body
    assert not live_view(at, step)
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert not any("class.hist" in k for k in keys), keys


def live_view(at, step: int) -> list[str]:
    """The step's own charts (its live view, which shows the answer) and tables now on the page."""
    keys = [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]
    return [k for k in keys if k.startswith(f"lesson.{step}.")] + ["table" for _ in at.dataframe]


def test_no_peeking_lock_and_reveal(store):
    c = store.create_class(SECRET)
    ann, bob = store.join(c.code, "Ann"), store.join(c.code, "Bob")
    t = teacher(c.code, 1)
    c = store.get_class(c.code)
    assert (c.page, c.step, c.question, c.state) == ("lesson", 1, "lesson.1", "closed")  # the Lesson moved the class
    assert "2 joined" in texts(t)
    assert_no_answer(t)  # the projector shows no answer before the reveal either

    a = student(c.code, ann.token)
    assert_no_answer(a)
    assert a.radio(key="class.lesson.1.wait").disabled and "teacher opens answers" in texts(a)

    t.button(key="class.open").click().run()
    ok(t)
    assert store.get_class(c.code).state == "open"
    assert "0 of 2 answered" in texts(t)
    a.run()
    ok(a)
    assert_no_answer(a)
    guess = next(r for r in a.radio if r.key.endswith(".guess"))
    guess.set_value(1).run()
    a.button(key="class.lesson.1.lock").click().run()
    ok(a)
    assert store.answers(c.code, "lesson.1") == {ann.token: "1"}
    next(r for r in a.radio if r.key.endswith(".guess")).set_value(0).run()  # changed her mind before closing
    a.button(key="class.lesson.1.lock").click().run()
    assert store.answers(c.code, "lesson.1") == {ann.token: "0"}
    assert "Locked:" in texts(a)
    assert_no_answer(a)

    t.run()
    assert "1 of 2 answered" in texts(t)
    t.button(key="class.close").click().run()
    ok(t)
    a.run()
    ok(a)
    assert not [b for b in a.button if b.key == "class.lesson.1.lock"]  # no more changes
    assert "Answers are closed. Your guess:" in texts(a)
    assert_no_answer(a)
    assert [k for k in (ch.proto.id for ch in t.get("plotly_chart")) if "class.hist" in k]  # the histogram

    t.button(key="class.reveal").click().run()
    ok(t)
    c = store.get_class(c.code)
    assert c.state == "revealed" and c.right is not None
    assert "The model's answer" in texts(t)
    a.run()
    ok(a)
    verdict = "Right:" if c.right == "0" else "Not this time"
    assert verdict in texts(a)
    assert live_view(a, 1)
    b = student(c.code, bob.token)
    assert "you did not lock a guess" in texts(b) and "The answer is" in texts(b)
    from ui.class_session import results_csv, summary

    handout = summary(c.code)  # the one-file summary: the question, the guesses, ✓
    assert "Lesson, step 1" in handout and "Which character will MiniFormer rank first" in handout
    assert "1 answered" in handout and "✓" in handout
    rows = results_csv(c.code).splitlines()
    assert rows[0] == "question,student,nickname,answer,right" and len(rows) == 3
    assert rows[1].startswith("lesson.1,s001,Ann,1,")


def test_students_follow_the_teacher_and_may_look_around(store):
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    teacher(c.code, 3)  # the teacher leads step 3
    a = student(c.code, ann.token, page=None)  # a student opens the app (or reloads): lands on step 3
    assert a.query_params["step"] == "3" and "Step 3." in a.header[0].value
    a.switch_page("app_pages/2_compare.py").run()  # looks around: a banner says where the class is
    ok(a)
    assert "The class is at **Lesson, step 3**" in texts(a)
    assert [b for b in a.button if b.key == "class.back"]
    a.run()  # nothing changed: no pull back
    assert "looking around" in texts(a)
    teacher(c.code, 4)  # the teacher moves on: the student follows
    a.run()
    ok(a)
    assert a.query_params["step"] == "4" and "Step 4." in a.header[0].value


def test_join_by_code_and_bad_input(store):
    c = store.create_class(SECRET)
    j = session({}, "app_pages/9_join.py")
    for code, message in (
        ("", "5 letters and digits"),
        ("<b>x</b>", "5 letters and digits"),
        ("ZZZZZ", "no class with this code"),
    ):
        j.text_input(key="join.code").set_value(code)
        j.button(key="FormSubmitter:join.form-Join").click().run()
        ok(j)
        assert message in texts(j), code
    nick = "**Bold** <img src=x onerror=alert(1)> :red[x]\x00" + "y" * 10_000
    j.text_input(key="join.nick").set_value(nick[:24])
    j.text_input(key="join.code").set_value(c.code.lower())
    j.button(key="FormSubmitter:join.form-Join").click().run()
    ok(j)
    m = store.members(c.code)
    assert len(m) == 1 and m[0].nickname == nick[:24].replace("\x00", "")[:24]
    assert j.session_state["class.token"] == m[0].token
    t = session(
        {"class.checked": True, "class.code": c.code, "class.secret": SECRET, "class.token": None},
        "app_pages/8_teach.py",
    )
    assert m[0].nickname in [e.value for e in t.get("text")][0]  # st.text: shown as typed, never markup
    assert "<img" not in "".join(str(e.value) for e in t.get("markdown"))
    store.end_class(c.code, SECRET)
    j2 = session({}, "app_pages/9_join.py")
    j2.text_input(key="join.code").set_value(c.code)
    j2.button(key="FormSubmitter:join.form-Join").click().run()
    ok(j2)
    assert "This class has ended" in texts(j2)


def test_teacher_link_needs_the_right_key(store):
    c = store.create_class(SECRET)
    wrong = session({}, "app_pages/8_teach.py", **{"class": c.code, "key": "guessed"})
    assert not state(wrong, "class.secret")
    assert [b for b in wrong.button if "Start a class" in b.label]  # the start form, not the class's controls
    assert not [b for b in wrong.button if b.key == "teach.end"]
    right = session({}, "app_pages/8_teach.py", **{"class": c.code, "key": SECRET})
    assert [b for b in right.button if b.key == "teach.end"] and c.code in texts(right)
    assert right.get("imgs") or right.get("image")


def test_pin_from_the_environment(store, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_TEACHER_PIN", "4321")
    at = session({}, "app_pages/8_teach.py")
    at.text_input(key="teach.pin").set_value("1111")
    at.button(key="FormSubmitter:teach.start-Start a class").click().run()
    ok(at)
    assert "Only the teacher can do this" in texts(at) and not state(at, "class.code")
    at.text_input(key="teach.pin").set_value("4321")
    at.button(key="FormSubmitter:teach.start-Start a class").click().run()
    ok(at)
    assert store.check_secret(at.session_state["class.code"], "4321")


def test_store_down_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_STORE", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    a = student("ABCDE", "tok", page=LESSON)
    assert "can't be reached right now" in texts(a)
    t = session(
        {"class.checked": True, "class.code": "ABCDE", "class.secret": SECRET, "class.token": None},
        "app_pages/8_teach.py",
    )
    assert "class store's server can't be reached" in texts(t)
    j = session({}, "app_pages/9_join.py")
    j.text_input(key="join.code").set_value("ABCDE")
    j.button(key="FormSubmitter:join.form-Join").click().run()
    ok(j)
    assert "class store's server can't be reached" in texts(j)


def test_no_step_shows_its_answer_before_the_reveal(store):
    """Steps 2, 4 and 7, one per model (step 1 is followed through above; step 8 needs a training run): on the
    teacher's projector and on a student's screen, with answers open and then closed, nothing of the answer until
    the reveal."""
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    t = teacher(c.code, 2)
    for step in (2, 4, 7):
        if step > 2:
            t.query_params["step"] = str(step)
            t.run()
            ok(t)
        assert store.get_class(c.code).question == f"lesson.{step}"
        assert_no_answer(t, step)
        t.button(key="class.open").click().run()
        a = student(c.code, ann.token)
        assert f"Step {step}." in a.header[0].value
        assert_no_answer(a, step)
        t.button(key="class.close").click().run()
        a.run()
        assert_no_answer(a, step)
        t.button(key="class.reveal").click().run()
        ok(t)
        a.run()
        ok(a)
        assert "The answer is" in texts(a) and live_view(a, step), step


def test_question_places():
    from ui.class_session import question_place, word_key

    assert question_place("lesson.3") == ("lesson", 3) and word_key("lesson", 3) == "lesson.word.3"
    assert question_place("real.lesson") == ("real_model", 0) and word_key("real_model", 0) == "real.text"
    assert word_key("compare", 0) == "text"


def test_bring_the_class_to_another_page(store):
    """On Compare, the teacher brings the class there with the typed word; a student follows with that word."""
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    a = student(c.code, ann.token, page=None)  # at the class's place: Lesson step 1
    t = session(
        {"class.checked": True, "class.code": c.code, "class.secret": SECRET, "class.token": None},
        "app_pages/2_compare.py",
        text="capybara",
    )
    t.button(key="class.bring").click().run()
    ok(t)
    c = store.get_class(c.code)
    assert (c.page, c.word) == ("compare", "capybara")
    a.run()
    ok(a)
    assert a.title[0].value == "Compare" and a.session_state["text"] == "capybara"
    assert "this page follows the teacher" in texts(a)


def test_a_student_follows_the_next_step_in_one_run(store, monkeypatch):
    """The teacher's Next reaches a student on the Lesson in one script run: the step goes into ?step= and is drawn
    at once (st.switch_page ended the run and started a second one: two full runs per student per move)."""
    import ui.class_session as cs

    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    teacher(c.code, 3)
    a = student(c.code, ann.token)
    assert "Step 3." in a.header[0].value
    teacher(c.code, 4)
    runs = []
    real_bar = cs.bar
    monkeypatch.setattr(cs, "bar", lambda page, pages: (runs.append(page.url_path), real_bar(page, pages))[1])
    a.run()
    ok(a)
    assert a.query_params["step"] == "4" and "Step 4." in a.header[0].value
    assert runs == ["lesson"], runs  # one run of the page, not a run cut short and another
    assert state(a, "class.stage") == store.get_class(c.code).stage


def test_a_students_step_draws_less_before_the_reveal(store):
    """A student's step before the reveal: the question and the guess, no answer figure, and none of what the whole
    class would otherwise rebuild on every move (the glossary's table, the step links, the second Back/Next row);
    the teacher's page keeps them all."""
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    t = teacher(c.code, 2)
    a = student(c.code, ann.token)
    assert "Step 2." in a.header[0].value and a.radio(key="class.lesson.2.wait")
    assert_no_answer(a, 2)
    assert not a.table and not a.get("page_link")
    assert not [b for b in a.button if b.key.endswith(".bottom")]
    assert t.table and t.get("page_link") and [b for b in t.button if b.key == "lesson.next.bottom"]
    assert [e.label for e in a.expander] == ["All steps", "Glossary: the words in plain language"]  # one click away


def test_a_student_answers_the_class_s_question_not_one_of_their_own(store):
    """The class answers one question and keeps each guess as a position among the options, so a student's screen
    can't change what is asked: the step's word is the teacher's (the box is read-only for students) and step 2's
    query row is the same on every screen (its slider is fixed at the middle row in a class)."""
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    t = teacher(c.code, 2)
    t.text_input(key="lesson.word.2").set_value("zebra").run()
    ok(t)
    a = student(c.code, ann.token)
    box = a.text_input(key="lesson.word.2")
    assert box.value == "zebra" and box.disabled
    slider = a.select_slider(key="lesson.2.query")
    assert slider.disabled and slider.value == 2  # "zebra": <BOS> z e b r a, the middle row (6 - 1) // 2
    assert t.select_slider(key="lesson.2.query").disabled  # the teacher's too: the row is not part of the class
    assert not t.text_input(key="lesson.word.2").disabled  # the teacher chooses the word


def test_a_new_word_from_the_teacher_is_a_new_question_for_every_student(store):
    """The teacher's word drives the class's question. While answers are open (or closed, not yet revealed) the
    word is fixed: the class is guessing about it. After the reveal a new word asks a new question: answers opened
    afresh, no student's old guess (an option's position among another word's options) kept, nothing revealed."""
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    t = teacher(c.code, 1)
    assert not t.text_input(key="lesson.word.1").disabled  # before answers open the teacher may change the word
    t.button(key="class.open").click().run()
    ok(t)
    assert t.text_input(key="lesson.word.1").disabled  # the class is guessing about this word
    a = student(c.code, ann.token)
    next(r for r in a.radio if r.key.endswith(".guess")).set_value(0).run()
    a.button(key="class.lesson.1.lock").click().run()
    t.button(key="class.close").click().run()
    assert t.text_input(key="lesson.word.1").disabled
    t.button(key="class.reveal").click().run()
    ok(t)
    a.run()
    assert ("Right:" in texts(a) or "Not this time" in texts(a)) and live_view(a, 1)
    box = t.text_input(key="lesson.word.1")
    assert not box.disabled  # revealed: the next round may start
    box.input("zebra").run()
    ok(t)
    c = store.get_class(c.code)
    assert (c.word, c.question, c.state, c.right) == ("zebra", "lesson.1", "closed", None)
    assert store.answers(c.code, "lesson.1") == {}  # Ann's guess was about capyba's options
    assert_no_answer(t)  # the projector shows no answer for zebra
    a.run()
    ok(a)
    assert a.text_input(key="lesson.word.1").value == "zebra" and "after “zebra”" in texts(a)
    assert_no_answer(a)
    assert a.radio(key="class.lesson.1.wait").value is None and "teacher opens answers" in texts(a)
