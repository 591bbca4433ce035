"""The teacher's presenter view (issue 22, item 5) on the Teach page: the guide's "Say" notes for the class's step in
the teacher's language, a timer against the 45-minute plan, who joined, who answered, the funnel, the CSV and the
offline summary; a student on the same address sees none of it."""

from __future__ import annotations

import re
import sqlite3
import time

from lab_fixtures import REPO
from test_class_session import SECRET, ok, session, store, student, teacher, texts  # noqa: F401 (store: a fixture)

TEACH = "app_pages/8_teach.py"


def teacher_page(code: str, lang: str = "en"):
    at = session({"class.checked": True, "class.code": code, "class.secret": SECRET, "class.token": None}, None)
    at.session_state["lang"] = lang
    at.switch_page(TEACH).run()
    ok(at)
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_plan_is_the_guide_s_plan():
    """Each part's minute and length are the guide's table (docs/teaching.md and .ja.md), every Lesson step and the
    Real model have notes, and every note and title has its Japanese."""
    from ui.class_plan import PLAN, PLAN_MINUTES, part_at
    from ui.i18n import gettext_for

    for doc in ("teaching.md", "teaching.ja.md"):
        rows = re.findall(r"^\| (\d):(\d\d) \| (\d+) \|", (REPO / "docs" / doc).read_text(), re.M)
        assert [(int(h) * 60 + int(m), int(n)) for h, m, n in rows] == [(p.start, p.minutes) for p in PLAN], doc
    assert sum(p.minutes for p in PLAN) == PLAN_MINUTES
    assert all(a.start + a.minutes == b.start for a, b in zip(PLAN, PLAN[1:]))
    assert all(part_at("lesson", n) for n in range(1, 9)) and part_at("real_model", 0).start == 14
    assert part_at("heads", 0) is part_at("lesson", 4) and part_at("generate", 0) is None
    ja = gettext_for("ja")
    for p in PLAN:
        assert ja(p.say) != p.say and ja(p.title) != p.title, p.title


def test_the_timer_says_ahead_on_time_or_behind():
    from ui.class_plan import clock, pace, part_at

    step3 = part_at("lesson", 3)  # 0:19, 4 minutes
    assert (pace(10.0, step3), pace(19.5, step3), pace(23.0, step3), pace(30.2, step3), pace(23.5, step3)) == (
        -9,
        0,
        0,
        7,
        0,
    )
    assert clock(0) == "0:00" and clock(19.9) == "0:19" and clock(75) == "1:15"


def test_presenter_view_notes_timer_who_answered_funnel(store, tmp_path):
    c = store.create_class(SECRET)
    ann, _bob = store.join(c.code, "Ann"), store.join(c.code, "<b>Bob</b>")
    with sqlite3.connect(tmp_path / "classes.sqlite3") as con:  # the class started 30 minutes ago
        con.execute("UPDATE classes SET created = ? WHERE code = ?", (time.time() - 30 * 60 - 5, c.code))
    t = teacher(c.code, 3)  # the teacher leads step 3 ...
    t.button(key="class.open").click().run()
    store.answer(c.code, ann.token, "0")  # ... Ann answers, Bob not yet

    p = teacher_page(c.code)
    body = texts(p)
    assert "Presenter view: Lesson, step 3" in body
    assert "The grey upper triangle is what is hidden." in body  # the guide's note for step 3
    m = metrics(p)
    assert m["Class time"] == "0:30" and m["Planned for this part"] == "0:19–0:23"
    assert m["Against the plan"] == "7 min behind"
    assert "Next at 0:23: Step 4. Several heads" in body
    assert "Answered: 1 of 2" in body
    shown_text = [e.value for e in p.text]
    assert shown_text == ["Ann", "<b>Bob</b>", "Ann, <b>Bob</b>"]  # answered, not yet, joined: as typed, text
    assert "<b>Bob" not in "".join(str(e.value) for e in p.markdown)
    funnel = p.dataframe[0].value
    assert list(funnel.iloc[0][["Question", "Joined", "Answered"]]) == ["Lesson, step 3", 2, 1]
    downloads = [d for d in p.get("download_button")]
    assert len(downloads) == 2  # the CSV and the offline summary
    from ui.class_session import results_csv, summary

    assert results_csv(c.code).splitlines()[1:] == ["lesson.3,s001,Ann,1,", "lesson.3,s002,<b>Bob</b>,,"]
    handout = summary(c.code)
    assert "Lesson, step 3" in handout and "<b>Bob" not in handout
    assert not re.search(r"(src|href)=[\"']?https?:", handout)  # one file, nothing fetched

    ja = teacher_page(c.code, "ja")  # the notes in the teacher's language
    assert "灰色の右上の三角" in texts(ja) and "7 分遅れ" in metrics(ja).values()


def test_a_student_on_the_teach_page_sees_no_presenter_view(store):
    c = store.create_class(SECRET)
    ann = store.join(c.code, "Ann")
    teacher(c.code, 3)
    a = student(c.code, ann.token, page=TEACH)
    body = texts(a)
    assert "Presenter view" not in body and "upper triangle" not in body and not a.metric
    assert not [b for b in a.button if b.key == "teach.end"]
