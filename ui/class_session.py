"""A class session in the app: who this browser is in a class (a student or the teacher), following the teacher,
and the Lesson's questions answered by the whole class (issue 22).

Nothing of a class lives only in ``st.session_state``: the class, its members and their answers are in the store
(services/class_store.py); the session keeps only which class and which member this tab is (``class.code``,
``class.token``, ``class.secret``, ``class.stage``), and a cookie brings them back after a reload.

- :func:`init` (app.py, before the pages) finds the browser's class from the cookie or the link.
- :func:`bar` (app.py, before ``page.run()``): the class strip at the top of every page — for a student, "the class is
  elsewhere" with one click back, and the poller that reruns the page only when the class moved; for the teacher,
  "Bring the class here".
- :func:`class_question` (one call from ui/lesson.py's guess widget): in a class, a Lesson question is opened, closed
  and revealed by the teacher; a student sees no answer before the reveal.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st

import settings
from services.class_store import ClassError, ClassInfo, Member, StoreUnavailable, clean_code, histogram, shared_store
from ui.i18n import _
from ui.text import escape_md

COOKIE = "attention_lab_class"  # "s.CODE.TOKEN" for a student, "t.CODE.SECRET" for the teacher
COOKIE_VALUE = re.compile(r"[st]\.[A-Z2-9]{5}\.[A-Za-z0-9_-]{1,64}")
POLL_EVERY_MS = 1000  # after a network error, the poller asks again this often
FALLBACK_MS = 5000  # without the counters route (streamlit run app.py): a rerun this often
COUNTERS_URL = "/class/counters?code={code}"
LESSON_PAGE = "lesson"

_POLL = st.components.v2.component(
    "attention_lab.class_poll", js=(Path(__file__).with_name("class_poll") / "poll.js").read_text()
)


def _noop() -> None:
    pass


# ---- messages ---------------------------------------------------------------------------------------------------
def error_text(e: Exception) -> str:
    """A store or class error as one sentence in the session's language (never a traceback). What the store's
    trouble is and how to fix it is for the teacher; a student is told to try again in a moment."""
    if isinstance(e, StoreUnavailable) and is_student():
        return _("The class can't be reached right now: try again in a moment. Guesses you locked before are kept.")
    if isinstance(e, StoreUnavailable):
        return {
            "unwritable": _(
                "The class store can't be written ({where}). Check that the data folder exists and "
                "is writable, or set {setting}."
            ),
            "locked": _("The class store is busy or locked by another program ({where}). Try again in a moment."),
            "down": _(
                "The class store's server can't be reached ({where}). Start it (redis-server) or check "
                "{setting}; the class continues when it is back."
            ),
        }.get(e.reason, _("The class store can't be used ({where}).")).format(
            where=escape_md(e.where), setting=settings.STORE_ENV
        )
    if isinstance(e, ClassError):
        return {
            "unknown_code": _("There is no class with this code. Check the code on the board."),
            "ended": _("This class has ended."),
            "wrong_secret": _("Only the teacher can do this: the teacher's link or PIN is missing or wrong."),
            "not_member": _("You are not in this class any more: join again with the code."),
            "not_open": _("Answers are closed for this question."),
            "no_question": _("The teacher has not asked a question yet."),
            "bad_choice": _("That is not one of the options."),
        }.get(e.reason, _("That can't be done in this class."))
    return _("Something went wrong with the class.")


@contextlib.contextmanager
def reported(container=st) -> object:
    """Run a store call; a ClassError or StoreUnavailable becomes a message (and the block ends)."""
    try:
        yield
    except (ClassError, StoreUnavailable) as e:
        container.error(error_text(e), icon=":material/error:")


# ---- who this browser is ----------------------------------------------------------------------------------------
def init() -> None:
    """Once per session: the class this browser belongs to, from the link (``?key=`` with ``?class=`` for the
    teacher) or the cookie the poller keeps."""
    if st.session_state.get("class.checked"):
        return
    st.session_state["class.checked"] = True
    code = clean_code(st.query_params.get("class"))
    key = st.query_params.get("key")
    cookie = st.context.cookies.get(COOKIE)
    cookie = cookie if isinstance(cookie, str) and COOKIE_VALUE.fullmatch(cookie) else ""
    parts = cookie.split(".", 2)
    if not (code and key) and len(parts) != 3:
        return  # no class in the link or the cookie: the store is not even opened
    try:
        store = shared_store()
        if code and key and store.check_secret(code, key):
            _become_teacher(code, key)
        elif len(parts) == 3 and parts[0] == "t" and store.check_secret(clean_code(parts[1]), parts[2]):
            _become_teacher(clean_code(parts[1]), parts[2])
        elif len(parts) == 3 and parts[0] == "s" and clean_code(parts[1]):
            c = store.get_class(clean_code(parts[1]))
            if c.active and store.member(c.code, parts[2]) is not None:
                _become_student(c.code, parts[2])
    except (ClassError, StoreUnavailable):
        pass  # the class is gone or the store is down: the app works without a class


def _become_teacher(code: str, secret: str) -> None:
    st.session_state.update({"class.code": code, "class.secret": secret, "class.token": None})


def _become_student(code: str, token: str) -> None:
    st.session_state.update(
        {"class.code": code, "class.token": token, "class.secret": None, "class.stage": None, "class.nickname": None}
    )


def leave() -> None:
    for k in ("class.code", "class.token", "class.secret", "class.stage", "class.nickname"):
        st.session_state[k] = None
    st.session_state["class.cookie"] = f"{COOKIE}=; Max-Age=0; Path=/; SameSite=Strict"


def code() -> str | None:
    return st.session_state.get("class.code")


def is_teacher() -> bool:
    return bool(code() and st.session_state.get("class.secret"))


def is_student() -> bool:
    return bool(code() and st.session_state.get("class.token"))


def secret() -> str:
    return st.session_state.get("class.secret") or ""


def token() -> str:
    return st.session_state.get("class.token") or ""


def _cookie() -> str:
    if st.session_state.get("class.cookie"):
        return st.session_state["class.cookie"]
    value = (f"t.{code()}.{secret()}" if is_teacher() else f"s.{code()}.{token()}") if code() else ""
    return f"{COOKIE}={value}; Max-Age=43200; Path=/; SameSite=Strict" if value else ""


def start_class(pin: str = "") -> ClassInfo:
    """A new class whose teacher is this session. With :func:`settings.teacher_pin` set, the PIN is the secret
    (and must match); otherwise a random key that goes into the teacher's own link."""
    want = settings.teacher_pin()
    if want and pin != want:
        raise ClassError("wrong_secret")
    from services.class_store import new_secret

    key = want or new_secret()
    c = shared_store().create_class(key)
    _become_teacher(c.code, key)
    st.session_state["class.cookie"] = None
    return c


def take_over(code_: str, key: str) -> bool:
    """The teacher opens the class again (another laptop, a new tab) with the link's key or the PIN."""
    if shared_store().check_secret(code_, key):
        _become_teacher(code_, key)
        st.session_state["class.cookie"] = None
        return True
    return False


def join(code_: str, nickname: str) -> Member:
    """Join the class (the same browser again is the same member: its token comes along)."""
    same = token() if code() == code_ else None
    m = shared_store().join(code_, nickname, token=same)
    _become_student(code_, m.token)
    st.session_state["class.cookie"] = None
    return m


def join_address(code_: str) -> str:
    """What students open: :func:`settings.public_url` when set, else this machine's network address and the
    port the teacher's browser used (the teacher opening ``localhost`` still gets an address students can reach)."""
    base = settings.public_url()
    if not base:
        host = str(st.context.headers.get("host") or "localhost:8501")
        name, _sep, port = host.rpartition(":") if ":" in host else (host, "", "")
        if name in ("localhost", "127.0.0.1", "::1", "[::1]"):
            name = _lan_address()
        base = f"http://{name}" + (f":{port}" if port else "")
    return f"{base}/join?code={code_}"


def _lan_address() -> str:
    """This machine's address on its network (a UDP socket 'connected' to a private address sends nothing)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]
    return "127.0.0.1"


def qr_png(text: str) -> bytes:
    """The QR code of ``text`` as a PNG, drawn offline (segno)."""
    import io

    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=12, border=2, dark="#1F2430")
    return buf.getvalue()


# ---- following the teacher --------------------------------------------------------------------------------------
def poll(which: str, seen: int, *, key: str, code_: str | None = None, on_changed: Callable[[], None] = _noop):
    """The poller (ui/class_poll/poll.js, a long poll of the counters route): a trigger only when the class's
    ``which`` counter moved past ``seen``. Returns the trigger's value in the run it caused (the new counter; a
    negative number from the fallback), else None. ``on_changed``: the trigger's callback."""
    result = _POLL(
        key=key,
        data={
            "url": COUNTERS_URL.format(code=code_ or code()),
            "watch": which,
            "seen": seen,
            "every_ms": POLL_EVERY_MS,
            "fallback_ms": FALLBACK_MS,
            "cookie": _cookie(),
        },
        on_changed_change=on_changed,
    )
    return getattr(result, "changed", None)


def _on_stage() -> None:
    """A student's poller saw the class's stage move; the poller sits in the Lesson step's fragment
    (:func:`step_poller`), so its trigger asks for a run of that fragment only. Where only the question's state moved
    (answers opened or closed, the answer revealed: the class is at the page, step, word and question this page last
    drew) this callback lets that run be: the step's question and views, not the whole page with the app's sidebar
    and the class strip. Anything else (a move, the class ended, another page) reruns the whole page."""
    drawn = st.session_state.get("class.now")
    try:
        c = shared_store().get_class(code())
    except (ClassError, StoreUnavailable):
        c = None
    if (
        drawn is None
        or drawn.page != LESSON_PAGE
        or c is None
        or not c.active
        or (c.code, c.page, c.step, c.word, c.question)
        != (drawn.code, drawn.page, drawn.step, drawn.word, drawn.question)
    ):
        st.rerun()  # from a callback: the whole page instead of the step (bar() then sees the move)
    st.session_state["class.stage"] = c.stage  # seen: the next full run does not take it for a move
    st.session_state["class.now"] = c


def step_poller() -> None:
    """A student's poller, drawn inside the Lesson step's fragment (ui/lesson.py ``step``) where :func:`bar` left it
    there (the student is at the class's step, with the counters route). A widget's trigger reruns what holds it: in
    the page's body it asked for a whole-page run, which the callback could only turn into the step's after that run
    had started (Streamlit announces a run before its callbacks), one started-and-stopped page run per student per
    opened, closed or revealed question; inside the step, the trigger is a run of the step itself."""
    if not st.session_state.get("class.poll_in_step") or not is_student():
        return
    poll("stage", st.session_state.get("class.stage"), key="class.poll.stage", on_changed=_on_stage)


def route_served() -> bool:
    """Whether this process serves the counters route (``streamlit run serve.py``, as run.sh and classroom.sh do):
    then the poller triggers only on a real move, and a student's poller sits in the page itself (its trigger is
    the one rerun of the move). Without it the poller's fallback triggers every few seconds, so it sits in
    :func:`_follow`, a fragment whose rerun costs little when nothing moved."""
    from services import class_counters

    return class_counters.SERVED


@st.fragment
def _follow(seen: int) -> None:
    """A student's poller without the route (see :func:`route_served`). Its trigger reruns only this fragment, which
    reruns the whole page when the class moved; a trigger that carries the new ``stage`` needs no store read."""
    moved = poll("stage", seen, key="class.poll.stage")
    if isinstance(moved, int) and moved > 0:
        if moved != seen:
            st.rerun()
        return
    with contextlib.suppress(ClassError, StoreUnavailable):
        if shared_store().counters(code())[1] != seen:
            st.rerun()


def place_of(page, pages: Sequence) -> tuple[str, int]:
    """(url path, Lesson step) of the page being drawn."""
    step = 0
    if page.url_path == LESSON_PAGE:
        with contextlib.suppress(ValueError, TypeError):
            step = int(st.query_params.get("step", "1"))
    return page.url_path, step


def follow_step(c: ClassInfo) -> tuple[str, int]:
    """A student on the Lesson follows the class to another step in the run that noticed the move: the step goes
    into the URL (the Lesson reads ``?step=`` after this) instead of ``st.switch_page``, which would end this run and
    start another (one full rerun per student per move, not two)."""
    if c.word:
        st.session_state[f"lesson.word.{c.step}"] = c.word
    st.query_params["step"] = str(c.step)
    return c.page, c.step


def _go(c: ClassInfo, pages: Sequence) -> None:
    target = next((p for p in pages if p.url_path == c.page), None)
    if target is None:
        return
    if c.page == LESSON_PAGE and c.step:
        if c.word:
            st.session_state[f"lesson.word.{c.step}"] = c.word
        st.switch_page(target, query_params={"step": str(c.step)})
    query = {}
    if c.word:
        st.session_state[word_key(c.page, c.step)] = c.word
        if word_key(c.page, c.step) == "text":
            query["text"] = c.word  # the word pages share ?text=
    st.switch_page(target, query_params=query or None)


def place_name(c: ClassInfo, pages: Sequence) -> str:
    if c.page == LESSON_PAGE:
        return _("Lesson, step {n}").format(n=c.step)
    page = next((p for p in pages if p.url_path == c.page), None)
    return page.title if page is not None else c.page


def this_run_class() -> ClassInfo:
    """The class as a student's page draws it in this run: :func:`bar` reads it at the top of every full run and
    the page's later looks (the question, whether it is revealed) use that one snapshot, so a follow costs one store
    read, not four (each a connection opened and closed while 40 students' runs share one process's GIL). A
    fragment's own rerun (the guess, the poller) and the teacher read afresh."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    snap = st.session_state.get("class.now")
    if snap is not None and is_student() and snap.code == code() and ctx is not None and not ctx.fragment_ids_this_run:
        return snap
    return shared_store().get_class(code())


def bar(page, pages: Sequence) -> None:
    """The class strip at the top of every page (nothing when this browser is in no class)."""
    st.session_state["class.now"] = None
    st.session_state["class.poll_in_step"] = None
    if not code():
        return
    try:
        c = shared_store().get_class(code())
    except ClassError:
        leave()
        return
    except StoreUnavailable as e:
        if is_teacher():
            st.error(error_text(e), icon=":material/error:")
        else:
            st.caption(
                _(
                    "The class can't be reached right now; this page keeps working and follows the class "
                    "again when it is back."
                )
            )
        return
    if not c.active:
        if is_student():
            st.info(_("Class {code} has ended. Thank you!").format(code=c.code), icon=":material/school:")
            leave()
            poll("stage", c.stage, key="class.poll.stage", code_=c.code)  # clears the cookie
        return
    here = place_of(page, pages)
    if is_teacher():
        _teacher_strip(c, page, pages, here)
        return
    seen = st.session_state.get("class.stage")
    st.session_state["class.stage"] = c.stage
    st.session_state["class.now"] = c  # this run's snapshot (this_run_class)
    if seen != c.stage:  # the class moved (or this tab just came): follow it
        if here[0] == c.page == LESSON_PAGE and c.step and here[1] != c.step:
            here = follow_step(c)  # another Lesson step: drawn in this very run
        elif here != (c.page, c.step):
            _go(c, pages)
        elif c.word:
            st.session_state[word_key(c.page, c.step)] = c.word  # the teacher's word (or sentence) here
    nickname = st.session_state.get("class.nickname")  # read once: a member's record never changes
    if nickname is None:
        me = shared_store().member(c.code, token())
        if me is None:
            leave()
            return
        nickname = st.session_state["class.nickname"] = me.nickname
    who = escape_md(nickname) if nickname else _("anonymous")
    if here != (c.page, c.step):
        a, b = st.columns([4, 1], vertical_alignment="center")
        a.warning(
            _("You are looking around. The class is at **{place}**.").format(place=place_name(c, pages)),
            icon=":material/explore:",
        )
        if b.button(_("Back to the class"), key="class.back", icon=":material/group:", type="primary", width="stretch"):
            _go(c, pages)
    else:
        st.caption(_("In class {code} as {who} — this page follows the teacher.").format(code=c.code, who=who))
    if route_served() and here == (c.page, c.step) and c.page == LESSON_PAGE:
        # in the step's fragment (step_poller): answers opened or closed rerun the step only; a move, the page
        st.session_state["class.poll_in_step"] = True
    elif route_served():
        poll("stage", c.stage, key="class.poll.stage")  # its trigger reruns this page, one run per move
    else:
        _follow(c.stage)


def _teacher_strip(c: ClassInfo, page, pages: Sequence, here: tuple[str, int]) -> None:
    st.session_state.setdefault("class.stage", None)
    if here[0] in ("teach", "join") or here == (c.page, c.step) or here[0] == LESSON_PAGE:
        if here[0] == LESSON_PAGE:
            return  # the Lesson moves the class itself (class_question)
        poll("stage", c.stage, key="class.poll.teacher")  # keeps the teacher's cookie
        return
    a, b = st.columns([4, 1], vertical_alignment="center")
    a.caption(_("Teaching class {code}. The class is at {place}.").format(code=c.code, place=place_name(c, pages)))
    if b.button(_("Bring the class here"), key="class.bring", icon=":material/groups:", width="stretch"):
        with reported():
            word = str(st.session_state.get(word_key(here[0], here[1])) or "")[:200]
            shared_store().move(c.code, secret(), page=here[0], step=here[1], word=word)
            st.rerun()
    poll("stage", c.stage, key="class.poll.teacher")


# ---- the class's guesses ----------------------------------------------------------------------------------------
def active() -> bool:
    """Whether this tab is in a class (a student or its teacher)."""
    return bool(code())


def question_revealed(key: str) -> bool:
    """Whether the teacher has revealed the class's question ``key`` (e.g. "lesson.3"): until then nothing that
    shows the answer (a step's live view, training's pictures) reaches any screen, the projector's included."""
    with contextlib.suppress(ClassError, StoreUnavailable):
        c = this_run_class()
        return c.state == "revealed" and c.question == key
    return False


def word_fixed(key: str) -> bool:
    """Whether the teacher can't change the word of question ``key`` now: while its answers are open, or closed and
    not yet revealed, the class is guessing about this word. Before answers open and after the reveal a new word is
    a new question (the store clears its answers: ClassStore.move), the next round a class expects ("now try
    zebra"), never a verdict on one word computed with guesses made for another."""
    if not is_teacher():
        return False
    with contextlib.suppress(ClassError, StoreUnavailable):
        c = this_run_class()
        return c.question == key and c.state in ("open", "locked")
    return False


def _step_of(key: str) -> int:
    """The Lesson step of a question id "lesson.N" (0 for anything else)."""
    tail = key.rsplit(".", 1)[-1]
    return int(tail) if key.startswith("lesson.") and tail.isdigit() else 0


def word_key(page: str, step: int) -> str:
    """The session key of the word (or sentence) a page's question is about; the teacher's goes to every student."""
    if page == LESSON_PAGE:
        return f"lesson.word.{step}"
    return "real.text" if page == "real_model" else "text"


def question_place(key: str) -> tuple[str, int]:
    """(page, Lesson step) where the question ``key`` is asked: "lesson.3" → ("lesson", 3); the Real model's "it"
    question "real.lesson" → ("real_model", 0)."""
    if key.startswith("lesson."):
        return LESSON_PAGE, _step_of(key)
    if key.startswith("real."):
        return "real_model", 0
    return key.split(".", 1)[0], 0


def class_question(
    key: str,
    question: str,
    options: Sequence,
    answer: Callable[[], tuple[object, str]],
    *,
    format_func: Callable[[object], str] = str,
    ready: bool = True,
    not_ready: str = "",
    explain: Callable[[], None] | None = None,
) -> object | None:
    """A Lesson question (``key`` "lesson.N") in a class. The teacher's page moves the class to this step with its
    word, opens and closes answers and reveals; a student's page takes one locked guess (changeable while open) and
    shows nothing of the answer before the reveal. Answers are stored as the option's index. Returns the student's
    guess (None for the teacher)."""
    options = list(options)
    page, step = question_place(key)
    word = str(st.session_state.get(word_key(page, step)) or "")[:200]
    try:
        store = shared_store()
        c = this_run_class()
        if is_teacher() and ((c.page, c.step, c.question) != (page, step, key) or c.word != word):
            c = store.move(c.code, secret(), page=page, step=step, word=word, question=key)
    except (ClassError, StoreUnavailable) as e:
        st.error(error_text(e), icon=":material/error:")
        return None
    st.markdown("**" + _("Predict first") + "** — " + question)
    labels = [format_func(o) for o in options]
    if is_teacher():
        _teacher_question(
            c,
            options,
            labels,
            answer,
            ready=ready,
            not_ready=not_ready,
            explain=explain,
            meta={"text": plain(question), "labels": [plain(x) for x in labels]},
        )
        return None
    return _student_question(c, options, labels, answer, explain=explain, key=key)


@st.fragment
def _student_question(c: ClassInfo, options: list, labels: list[str], answer, *, explain, key: str):
    """A fragment: picking and locking a guess reruns this part only, not the whole Lesson step."""
    with contextlib.suppress(ClassError, StoreUnavailable):
        c = this_run_class()  # a fragment rerun reads the class afresh
    if c.question != key and (c.question or (c.page, c.step) != question_place(key)):
        st.info(
            _("The class is on another question; “Back to the class” above takes you there."), icon=":material/explore:"
        )
        return None
    store = shared_store()
    try:  # a fragment rerun: the store may have gone since the page ran
        mine = store.answers(c.code, key).get(token())
    except (ClassError, StoreUnavailable) as e:
        st.error(error_text(e), icon=":material/error:")
        return None
    mine_i = int(mine) if mine is not None and mine.isdigit() and int(mine) < len(options) else None
    if c.state == "closed" or c.question != key:  # asked (or about to be), not opened yet
        st.info(_("Think about your guess: the teacher opens answers in a moment."), icon=":material/hourglass_top:")
        st.radio(
            _("Your guess"),
            range(len(options)),
            index=None,
            format_func=labels.__getitem__,
            horizontal=True,
            disabled=True,
            key=f"class.{key}.wait",
            label_visibility="collapsed",
        )
        return None
    if c.state == "open":
        picked = st.radio(
            _("Your guess"),
            range(len(options)),
            index=mine_i,
            format_func=labels.__getitem__,
            horizontal=True,
            key=f"class.{key}.{c.stage}.guess",
            label_visibility="collapsed",
        )
        if st.button(
            _("Lock my guess"), key=f"class.{key}.lock", icon=":material/lock:", type="primary", disabled=picked is None
        ):
            with reported():
                store.answer(c.code, token(), str(picked))
                mine_i = picked
        if mine_i is not None:
            st.success(
                _("Locked: {guess}. You can change it until the teacher closes answers.").format(guess=labels[mine_i]),
                icon=":material/lock:",
            )
        return None if mine_i is None else options[mine_i]
    if mine_i is None:
        st.info(_("Answers are closed; you did not lock a guess this time."), icon=":material/lock:")
    else:
        st.info(_("Answers are closed. Your guess: {guess}.").format(guess=labels[mine_i]), icon=":material/lock:")
    if c.state != "revealed":
        st.caption(_("Look at the projector: the teacher reveals the model's answer."))
        return None if mine_i is None else options[mine_i]
    right, why = answer()
    tail = (" " + why) if why else ""
    right_label = labels[options.index(right)] if right in options else format_func_fallback(right)
    if mine_i is not None and options[mine_i] == right:
        st.success(_("Right: {answer}.").format(answer=right_label) + tail, icon=":material/check_circle:")
    elif mine_i is not None:
        st.warning(
            _("Not this time: the answer is {answer} (you chose {guess}).").format(
                answer=right_label, guess=labels[mine_i]
            )
            + tail,
            icon=":material/lightbulb:",
        )
    else:
        st.info(_("The answer is {answer}.").format(answer=right_label) + tail, icon=":material/lightbulb:")
    _histogram(c, labels, right_index=options.index(right) if right in options else None)
    if explain is not None:
        explain()
    return None if mine_i is None else options[mine_i]


def format_func_fallback(value) -> str:
    return escape_md(str(value))


def plain(markdown: str) -> str:
    """The text a reader sees of our Markdown (escapes, word joiners and code ticks gone), for the handout."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown)).replace("\u2060", "").replace("`", "")


def _teacher_question(
    c: ClassInfo, options: list, labels: list[str], answer, *, ready: bool, not_ready: str, explain, meta: dict
) -> None:
    store = shared_store()
    st.markdown("  ·  ".join(labels))  # the options, as the students see them
    n_members = len(store.members(c.code))
    a, b = st.columns([3, 2], vertical_alignment="center")  # the button readable in a half-width column
    if c.state == "closed":
        a.info(_("{n} joined. Ask the question, then open answers.").format(n=n_members), icon=":material/groups:")
        if b.button(
            _("Open answers"),
            key="class.open",
            icon=":material/how_to_vote:",
            type="primary",
            width="stretch",
            disabled=not ready,
            help=None if ready else (not_ready or None),
        ):
            with reported():
                store.set_question(c.code, secret(), "open", meta=meta)
                st.rerun()
        if not ready and not_ready:
            st.caption(not_ready)
        return
    if c.state == "open":
        with a:
            live_count(c.code, c.question)
        if b.button(_("Close answers"), key="class.close", icon=":material/lock:", type="primary", width="stretch"):
            with reported():
                store.set_question(c.code, secret(), "locked")
                st.rerun()
        return
    if c.state == "locked":
        answered = len(store.answers(c.code, c.question))
        a.info(_("Answers closed: {a} of {n} answered.").format(a=answered, n=n_members), icon=":material/lock:")
        if b.button(_("Reveal"), key="class.reveal", icon=":material/visibility:", type="primary", width="stretch"):
            right, _why = answer()
            with reported():
                store.set_question(
                    c.code, secret(), "revealed", right=str(options.index(right)) if right in options else None
                )
                st.rerun()
        if a.button(_("Reopen answers"), key="class.reopen", icon=":material/lock_open:"):
            with reported():
                store.set_question(c.code, secret(), "open")
                st.rerun()
        _histogram(c, labels, right_index=None)
        return
    right, why = answer()
    right_i = options.index(right) if right in options else None
    st.success(
        _("The model's answer: {answer}.").format(
            answer=labels[right_i] if right_i is not None else format_func_fallback(right)
        )
        + (" " + why if why else ""),
        icon=":material/check_circle:",
    )
    _histogram(c, labels, right_index=right_i)
    if explain is not None:
        explain()


@st.fragment
def live_count(code_: str, question: str) -> None:
    """ "23 of 31 answered", redrawn (this fragment only) when the poller sees the class's version move."""
    store = shared_store()
    try:
        v = store.counters(code_)[0]
        n = len(store.members(code_))
        answered = len(store.answers(code_, question))
    except (ClassError, StoreUnavailable) as e:
        st.error(error_text(e), icon=":material/error:")
        return
    st.markdown("### " + _("{a} of {n} answered").format(a=answered, n=n))
    st.progress(answered / n if n else 0.0)
    poll("version", v, key="class.poll.count")


def _histogram(c: ClassInfo, labels: list[str], *, right_index: int | None) -> None:
    """The class's guesses per option, as bars (the model's answer outlined once revealed)."""
    from viz.class_session import guesses_histogram

    counts = histogram(shared_store().answers(c.code, c.question), [str(i) for i in range(len(labels))])
    fig = guesses_histogram(
        list(counts.values()),
        [label.replace("`", "") for label in labels],
        right_index,
        tr=_,
    )
    from ui.charts import chart

    chart(fig, key=f"class.hist.{c.question}.{c.state}")


# ---- the teacher's view -----------------------------------------------------------------------------------------
def question_label(qid: str) -> str:
    if qid.startswith("lesson."):
        return _("Lesson, step {n}").format(n=qid.split(".", 1)[1])
    if qid.startswith("real."):
        return _("Real model")
    return qid


def funnel_rows(code_: str) -> list[dict]:
    from services.class_store import funnel

    states = {
        "closed": _("not opened yet"),
        "open": _("answers open"),
        "locked": _("answers closed"),
        "revealed": _("revealed"),
    }
    return [
        {
            _("Question"): question_label(r["question"]),
            _("State"): states.get(r["state"], r["state"]),
            _("Joined"): r["joined"],
            _("Answered"): r["answered"],
            _("Right"): "" if r["right"] is None else r["right"],
        }
        for r in funnel(shared_store(), code_)
    ]


def results_csv(code_: str) -> str:
    """One row per member and question: nickname, anonymous id, the answer (an option number), right or not."""
    import csv
    import io

    store = shared_store()
    members = store.members(code_)
    ids = {m.token: f"s{i + 1:03d}" for i, m in enumerate(members)}
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["question", "student", "nickname", "answer", "right"])
    for r in store.results(code_):
        for m in members:
            choice = r.answers.get(m.token)
            right = "" if r.right is None or choice is None else int(choice == r.right)
            # a nickname that starts like a formula is quoted for spreadsheets (CSV injection)
            nick = ("'" + m.nickname) if m.nickname[:1] in ("=", "+", "-", "@") else m.nickname
            w.writerow([r.question, ids[m.token], nick, "" if choice is None else int(choice) + 1, right])
    return out.getvalue()


def summary(code_: str) -> str:
    """The class summary as one offline HTML file: each question asked, the class's guesses, the model's answer."""
    from viz.class_session import summary_html

    rows = []
    for r in shared_store().results(code_):
        labels = list(r.meta.get("labels") or [])
        if not labels:
            continue  # never opened: nothing to show
        counts = list(histogram(r.answers, [str(i) for i in range(len(labels))]).values())
        right = int(r.right) if r.right is not None and r.right.isdigit() else None
        rows.append(
            {
                "question": question_label(r.question) + " — " + str(r.meta.get("text", "")),
                "labels": labels,
                "counts": counts,
                "right": right,
            }
        )
    return summary_html(
        _("Class {code}: the class's guesses and the model's answers").format(code=code_),
        rows,
        tr=_,
    )


def elapsed_text(created: float) -> str:
    minutes = max(0, math.floor((time.time() - created) / 60))
    return _("{m} of 45 minutes").format(m=minutes)
