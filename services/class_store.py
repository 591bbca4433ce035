"""A class session's shared state: classes, members and answers, in a store every server process shares (STYLE.md §19).

One small interface, :class:`ClassStore`, with two back-ends:

- :class:`SQLiteStore` — the embedded default, no set-up: one SQLite file in WAL mode (readers never wait for the
  writer), shared by ``bash run.sh`` and by ``classroom.sh``'s N processes on one machine. Every write is one
  ``BEGIN IMMEDIATE`` transaction, so two processes never interleave a check and a write.
- :class:`RedisStore` — for several machines: a real Redis server (Debian's ``redis-server``), chosen with
  the setting :func:`settings.store` as ``redis://host:6379/0``. Check-then-write steps run as WATCH/MULTI transactions.

``open_store()`` picks one from :func:`settings.store`: empty → SQLite at ``data/classes.sqlite3`` (git-ignored),
``sqlite:///path/file.sqlite3`` or a plain path → SQLite there, ``redis://…`` → Redis.

What a class holds: a short join code, the hash of the teacher's secret, when it was created and ended, where the
class is (page, Lesson step, word, model), the current question and its state, and two counters: ``version`` bumps
on every change (a join, an answer, a move), ``stage`` only on what changes a student's screen (a move, a question
opened, closed or revealed) — a student's page polls ``stage`` and reruns only when it changed.

A question's state: ``closed`` (not asked yet) → ``open`` (answers taken, changeable) → ``locked`` (answers closed;
the histogram may be shown) → ``revealed`` (the model's answer is shown). Moving on starts the next question closed.

Models trained during a class (:class:`ClassModel`: name, class, member, architecture, when) are recorded when the
run claims its name, so the pickers show each one to the student who trained it and to the teacher only
(``ui/class_models.py``); the teacher can clear them.

Errors are data (STYLE.md §17): :class:`ClassError` (``reason`` in :data:`CLASS_ERRORS`: a wrong code, a wrong
secret, an answer after closing …) and :class:`StoreUnavailable` (the file can't be written, the database is
locked, Redis is down) carry an id up; the page turns it into a sentence in the student's language.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import json
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE = ROOT / "data" / "classes.sqlite3"
STORE_ENV = settings.STORE_ENV  # which store: read through settings.store() when one is opened

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a projector without doubt
CODE_LENGTH = 5  # 32**5 ≈ 33 million codes
NICKNAME_MAX = 24  # characters kept of a nickname
CHOICE_MAX = 64  # an answer is an option's index or short id
QUESTION_STATES = ("closed", "open", "locked", "revealed")
CLASS_ERRORS = (
    "unknown_code",
    "ended",
    "wrong_secret",
    "not_member",
    "not_open",
    "no_question",
    "bad_choice",
    "bad_state",
    "bad_place",
    "bad_model",
)


class ClassError(Exception):
    """Something a person did that the class can't take: ``reason`` is one of :data:`CLASS_ERRORS`."""

    def __init__(self, reason: str, **params):
        assert reason in CLASS_ERRORS, reason
        self.reason, self.params = reason, params
        super().__init__(f"{reason} {params}" if params else reason)


class StoreUnavailable(Exception):
    """The store can't be used right now: ``reason`` is ``unwritable``, ``locked`` or ``down``; ``where`` says which
    file or server (for the teacher's message and the log)."""

    def __init__(self, reason: str, where: str, detail: str = ""):
        self.reason, self.where, self.detail = reason, where, detail
        super().__init__(f"class store {reason}: {where}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class ClassInfo:
    code: str
    created: float
    ended: float | None
    page: str  # the app page's url path, e.g. "lesson"
    step: int  # the Lesson step (0 on other pages)
    word: str
    model: str
    question: str  # the current question's id ("" when none), e.g. "lesson.3"
    state: str  # the current question's state, one of QUESTION_STATES
    right: str | None  # the model's answer to the current question, stored at reveal
    version: int
    stage: int

    @property
    def active(self) -> bool:
        return self.ended is None


@dataclass(frozen=True)
class Member:
    token: str
    nickname: str
    joined: float


@dataclass(frozen=True)
class QuestionResult:
    question: str
    state: str
    right: str | None
    answers: dict  # member token -> choice
    meta: dict = dataclasses.field(default_factory=dict)  # what the teacher's page stored: question text, labels


@dataclass(frozen=True)
class ClassModel:
    """A model a student trained during a class: shown in that student's pickers and the teacher's, nobody else's."""

    name: str  # the checkpoint's name (checkpoints/user/<name>.pt)
    code: str
    token: str  # the member who trained it
    model: str  # the architecture trained, e.g. "miniformer"
    at: float


MODEL_NAME_MAX = 40  # checkpoint names are at most 40 characters (models.checkpoint.NAME_RE)


def _check_model(name, model) -> tuple[str, str]:
    name, model = str(name or ""), str(model or "")
    ok = (
        0 < len(name) <= MODEL_NAME_MAX
        and all(ch.isalnum() and ch.isascii() or ch in "-_" for ch in name)
        and len(model) <= 40
        and all(ch.isalnum() and ch.isascii() or ch in "-_" for ch in model)
    )
    if not ok:
        raise ClassError("bad_model")
    return name, model


# ---- input --------------------------------------------------------------------------------------------------------
def clean_nickname(raw) -> str:
    """A nickname as plain, bounded text: control and format characters dropped, whitespace runs made one space,
    at most :data:`NICKNAME_MAX` characters. Markdown and HTML stay as typed: they are escaped where shown."""
    text = "" if raw is None else str(raw)[: NICKNAME_MAX * 8]
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())[:NICKNAME_MAX].strip()


def clean_code(raw) -> str:
    """A join code as typed ("ab c-2d") → its canonical form ("ABC2D"); anything else gives ""."""
    text = "".join(ch for ch in str(raw or "")[:40].upper() if ch.isalnum())
    return text if len(text) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in text) else ""


def _check_choice(choice) -> str:
    text = str(choice)
    if not text or len(text) > CHOICE_MAX or any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise ClassError("bad_choice")
    return text


def _check_place(page: str, step: int, word: str, model: str, question: str) -> tuple:
    ok = (
        isinstance(page, str)
        and 0 < len(page) <= 40
        and page.replace("_", "").isalnum()
        and isinstance(step, int)
        and 0 <= step <= 99
        and isinstance(word, str)
        and len(word) <= 200
        and isinstance(model, str)
        and len(model) <= 120
        and isinstance(question, str)
        and len(question) <= 80
    )
    if not ok:
        raise ClassError("bad_place")
    return page, step, word, model, question


META_MAX = 20_000  # characters of a question's stored text and option labels (JSON)


def _check_meta(meta: dict | None) -> str | None:
    """A question's text and option labels as JSON, bounded (None: leave what is stored)."""
    if meta is None:
        return None
    text = json.dumps(meta, ensure_ascii=False)
    if len(text) > META_MAX:
        raise ClassError("bad_choice")
    return text


def hash_secret(secret: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt.encode(), 20_000).hex()


def new_secret() -> str:
    return secrets.token_urlsafe(12)


def new_token() -> str:
    return secrets.token_urlsafe(16)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# ---- the interface ------------------------------------------------------------------------------------------------
class ClassStore:
    """What the pages use. Teacher actions take the teacher's secret and raise ``ClassError("wrong_secret")``
    without it; student actions take the member's token. Reads of an unknown code raise ``ClassError``."""

    where = ""

    # classes
    def create_class(self, secret: str) -> ClassInfo: ...
    def get_class(self, code: str) -> ClassInfo: ...
    def counters(self, code: str) -> tuple[int, int]:  # (version, stage): the light poll
        c = self.get_class(code)
        return c.version, c.stage

    def check_secret(self, code: str, secret: str) -> bool: ...
    def end_class(self, code: str, secret: str) -> ClassInfo: ...
    # move: the class to a page (a Lesson step, its word, its question). The question asked with another word than
    # the class's is a new question: its answers, state and answer are cleared (ui/class_session.py class_question)
    def move(
        self, code: str, secret: str, *, page: str, step: int = 0, word: str = "", model: str = "", question: str = ""
    ) -> ClassInfo: ...
    def set_question(
        self, code: str, secret: str, state: str, *, right: str | None = None, meta: dict | None = None
    ) -> ClassInfo: ...
    # members
    def join(self, code: str, nickname: str = "", token: str | None = None) -> Member: ...
    def member(self, code: str, token: str) -> Member | None: ...
    def members(self, code: str) -> list[Member]: ...
    # answers
    def answer(self, code: str, token: str, choice: str) -> ClassInfo: ...
    def answers(self, code: str, question: str) -> dict[str, str]: ...
    def results(self, code: str) -> list[QuestionResult]: ...
    # models trained in the class (issue 22, item 6)
    def add_model(self, code: str, token: str, name: str, model: str = "") -> ClassModel: ...
    def class_models(self, code: str | None = None) -> list[ClassModel]: ...  # None: every class's, oldest first
    def remove_models(self, code: str, secret: str, names: Sequence[str] | None = None) -> list[str]: ...
    def close(self) -> None: ...


# ---- SQLite --------------------------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    code TEXT PRIMARY KEY, salt TEXT NOT NULL, secret_hash TEXT NOT NULL, created REAL NOT NULL, ended REAL,
    page TEXT NOT NULL DEFAULT 'lesson', step INTEGER NOT NULL DEFAULT 1, word TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '', question TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 1, stage INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS questions (
    code TEXT NOT NULL, question TEXT NOT NULL, state TEXT NOT NULL, right TEXT, ord INTEGER NOT NULL, meta TEXT,
    PRIMARY KEY (code, question));
CREATE TABLE IF NOT EXISTS members (
    code TEXT NOT NULL, token TEXT NOT NULL, nickname TEXT NOT NULL, joined REAL NOT NULL, PRIMARY KEY (code, token));
CREATE TABLE IF NOT EXISTS answers (
    code TEXT NOT NULL, question TEXT NOT NULL, token TEXT NOT NULL, choice TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (code, question, token));
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY, code TEXT NOT NULL, token TEXT NOT NULL, model TEXT NOT NULL, at REAL NOT NULL);
"""


class SQLiteStore(ClassStore):
    """SQLite in WAL mode. A connection per call: nothing is shared between threads or forked processes, and
    opening one costs ~0.1 ms."""

    def __init__(self, path: Path | str = DEFAULT_SQLITE, *, busy_timeout_s: float = 3.0):
        self.path = Path(path)
        self.where = str(self.path)
        self.busy_timeout_s = busy_timeout_s
        with self._errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=busy_timeout_s)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
                if "meta" not in {r[1] for r in con.execute("PRAGMA table_info(questions)")}:
                    con.execute("ALTER TABLE questions ADD COLUMN meta TEXT")  # a store from before meta
            finally:
                con.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as e:
            text = str(e).lower()
            reason = "locked" if ("locked" in text or "busy" in text) else "unwritable"
            raise StoreUnavailable(reason, self.where, str(e)) from e
        except (sqlite3.DatabaseError, OSError) as e:
            raise StoreUnavailable("unwritable", self.where, str(e)) from e

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=self.busy_timeout_s)
            try:
                yield con
            finally:
                con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")  # take the write lock first: no lost update between processes
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()

    # -- helpers
    def _class_row(self, con: sqlite3.Connection, code: str) -> ClassInfo:
        row = con.execute(
            "SELECT c.code, c.created, c.ended, c.page, c.step, c.word, c.model, c.question, "
            "q.state, q.right, c.version, c.stage FROM classes c LEFT JOIN questions q "
            "ON q.code = c.code AND q.question = c.question WHERE c.code = ?",
            (code,),
        ).fetchone()
        if row is None:
            raise ClassError("unknown_code", code=code)
        r = list(row)
        r[8] = r[8] or "closed"
        return ClassInfo(*r)

    def _active(self, con, code: str) -> ClassInfo:
        c = self._class_row(con, code)
        if not c.active:
            raise ClassError("ended", code=code)
        return c

    def _teacher(self, con, code: str, secret: str) -> ClassInfo:
        c = self._active(con, code)
        salt, want = con.execute("SELECT salt, secret_hash FROM classes WHERE code = ?", (code,)).fetchone()
        if not secret or not hmac.compare_digest(hash_secret(str(secret), salt), want):
            raise ClassError("wrong_secret")
        return c

    @staticmethod
    def _bump(con, code: str, stage: bool) -> None:
        con.execute(
            "UPDATE classes SET version = version + 1" + (", stage = stage + 1" if stage else "") + " WHERE code = ?",
            (code,),
        )

    # -- classes
    def create_class(self, secret: str) -> ClassInfo:
        salt = secrets.token_hex(8)
        digest = hash_secret(secret, salt)
        for _ in range(20):
            code = new_code()
            with self._write() as con:
                if con.execute("SELECT 1 FROM classes WHERE code = ?", (code,)).fetchone():
                    continue
                con.execute(
                    "INSERT INTO classes (code, salt, secret_hash, created) VALUES (?, ?, ?, ?)",
                    (code, salt, digest, time.time()),
                )
                return self._class_row(con, code)
        raise StoreUnavailable("unwritable", self.where, "no free join code")

    def get_class(self, code: str) -> ClassInfo:
        with self._read() as con:
            return self._class_row(con, code)

    def counters(self, code: str) -> tuple[int, int]:
        with self._read() as con:
            row = con.execute("SELECT version, stage FROM classes WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise ClassError("unknown_code", code=code)
        return int(row[0]), int(row[1])

    def check_secret(self, code: str, secret: str) -> bool:
        try:
            with self._read() as con:
                self._teacher(con, code, secret)
            return True
        except ClassError:
            return False

    def end_class(self, code: str, secret: str) -> ClassInfo:
        with self._write() as con:
            self._teacher(con, code, secret)
            con.execute("UPDATE classes SET ended = ? WHERE code = ?", (time.time(), code))
            self._bump(con, code, stage=True)
            return self._class_row(con, code)

    def move(
        self, code: str, secret: str, *, page: str, step: int = 0, word: str = "", model: str = "", question: str = ""
    ) -> ClassInfo:
        page, step, word, model, question = _check_place(page, step, word, model, question)
        with self._write() as con:
            c = self._teacher(con, code, secret)
            con.execute(
                "UPDATE classes SET page = ?, step = ?, word = ?, model = ?, question = ? WHERE code = ?",
                (page, step, word, model, question, code),
            )
            if question and c.question == question and c.word != word:  # a new word: a new question, asked afresh
                con.execute(
                    "UPDATE questions SET state = 'closed', right = NULL, meta = NULL WHERE code = ? AND question = ?",
                    (code, question),
                )
                con.execute("DELETE FROM answers WHERE code = ? AND question = ?", (code, question))
            if question:
                n = con.execute("SELECT COUNT(*) FROM questions WHERE code = ?", (code,)).fetchone()[0]
                con.execute(
                    "INSERT OR IGNORE INTO questions (code, question, state, ord) VALUES (?, ?, 'closed', ?)",
                    (code, question, n),
                )
            self._bump(con, code, stage=True)
            return self._class_row(con, code)

    def set_question(
        self, code: str, secret: str, state: str, *, right: str | None = None, meta: dict | None = None
    ) -> ClassInfo:
        if state not in QUESTION_STATES:
            raise ClassError("bad_state", state=str(state)[:20])
        meta_json = _check_meta(meta)
        with self._write() as con:
            c = self._teacher(con, code, secret)
            if not c.question:
                raise ClassError("no_question")
            right = None if right is None else _check_choice(right)
            con.execute(
                "UPDATE questions SET state = ?, right = COALESCE(?, right), meta = COALESCE(?, meta) "
                "WHERE code = ? AND question = ?",
                (state, right, meta_json, code, c.question),
            )
            self._bump(con, code, stage=True)
            return self._class_row(con, code)

    # -- members
    def join(self, code: str, nickname: str = "", token: str | None = None) -> Member:
        nick = clean_nickname(nickname)
        with self._write() as con:
            self._active(con, code)
            if token:
                row = con.execute(
                    "SELECT token, nickname, joined FROM members WHERE code = ? AND token = ?", (code, str(token)[:64])
                ).fetchone()
                if row is not None:  # the same browser again: one member
                    if nick and nick != row[1]:
                        con.execute(
                            "UPDATE members SET nickname = ? WHERE code = ? AND token = ?", (nick, code, row[0])
                        )
                        self._bump(con, code, stage=False)
                        return Member(row[0], nick, row[2])
                    return Member(*row)
            m = Member(new_token(), nick, time.time())
            con.execute(
                "INSERT INTO members (code, token, nickname, joined) VALUES (?, ?, ?, ?)",
                (code, m.token, m.nickname, m.joined),
            )
            self._bump(con, code, stage=False)
            return m

    def member(self, code: str, token: str) -> Member | None:
        with self._read() as con:
            row = con.execute(
                "SELECT token, nickname, joined FROM members WHERE code = ? AND token = ?",
                (code, str(token or "")[:64]),
            ).fetchone()
        return None if row is None else Member(*row)

    def members(self, code: str) -> list[Member]:
        with self._read() as con:
            self._class_row(con, code)
            rows = con.execute(
                "SELECT token, nickname, joined FROM members WHERE code = ? ORDER BY joined", (code,)
            ).fetchall()
        return [Member(*r) for r in rows]

    # -- answers
    def answer(self, code: str, token: str, choice: str) -> ClassInfo:
        choice = _check_choice(choice)
        with self._write() as con:
            c = self._active(con, code)
            if (
                con.execute(
                    "SELECT 1 FROM members WHERE code = ? AND token = ?", (code, str(token or "")[:64])
                ).fetchone()
                is None
            ):
                raise ClassError("not_member")
            if not c.question:
                raise ClassError("no_question")
            if c.state != "open":
                raise ClassError("not_open", state=c.state)
            con.execute(
                "INSERT INTO answers (code, question, token, choice, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (code, question, token) DO UPDATE SET choice = excluded.choice, at = excluded.at",
                (code, c.question, token, choice, time.time()),
            )
            self._bump(con, code, stage=False)
            return self._class_row(con, code)

    def answers(self, code: str, question: str) -> dict[str, str]:
        with self._read() as con:
            rows = con.execute(
                "SELECT token, choice FROM answers WHERE code = ? AND question = ?", (code, question)
            ).fetchall()
        return dict(rows)

    def results(self, code: str) -> list[QuestionResult]:
        with self._read() as con:
            self._class_row(con, code)
            qs = con.execute(
                "SELECT question, state, right, meta FROM questions WHERE code = ? ORDER BY ord", (code,)
            ).fetchall()
            out = []
            for q, state, right, meta in qs:
                rows = con.execute(
                    "SELECT token, choice FROM answers WHERE code = ? AND question = ?", (code, q)
                ).fetchall()
                out.append(QuestionResult(q, state, right, dict(rows), json.loads(meta or "{}")))
        return out

    # -- models trained in the class
    def add_model(self, code: str, token: str, name: str, model: str = "") -> ClassModel:
        name, model = _check_model(name, model)
        with self._write() as con:
            self._active(con, code)
            if (
                con.execute(
                    "SELECT 1 FROM members WHERE code = ? AND token = ?", (code, str(token or "")[:64])
                ).fetchone()
                is None
            ):
                raise ClassError("not_member")
            m = ClassModel(name, code, str(token), model, time.time())
            con.execute(
                "INSERT INTO models (name, code, token, model, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET code = excluded.code, token = excluded.token, model = excluded.model, "
                "at = excluded.at",
                (m.name, m.code, m.token, m.model, m.at),
            )
            self._bump(con, code, stage=False)
            return m

    def class_models(self, code: str | None = None) -> list[ClassModel]:
        with self._read() as con:
            if code is None:
                rows = con.execute("SELECT name, code, token, model, at FROM models ORDER BY at").fetchall()
            else:
                self._class_row(con, code)
                rows = con.execute(
                    "SELECT name, code, token, model, at FROM models WHERE code = ? ORDER BY at", (code,)
                ).fetchall()
        return [ClassModel(*r) for r in rows]

    def remove_models(self, code: str, secret: str, names: Sequence[str] | None = None) -> list[str]:
        with self._write() as con:
            c = self._class_row(con, code)
            salt, want = con.execute("SELECT salt, secret_hash FROM classes WHERE code = ?", (code,)).fetchone()
            if not secret or not hmac.compare_digest(hash_secret(str(secret), salt), want):
                raise ClassError("wrong_secret")  # (an ended class's models may still be cleared)
            have = [r[0] for r in con.execute("SELECT name FROM models WHERE code = ?", (c.code,))]
            gone = [n for n in have if names is None or n in set(names)]
            con.executemany("DELETE FROM models WHERE code = ? AND name = ?", [(code, n) for n in gone])
            self._bump(con, code, stage=False)
            return gone

    def close(self) -> None:
        pass


# ---- Redis ---------------------------------------------------------------------------------------------------------
class RedisStore(ClassStore):
    """Redis: ``cls:{code}`` a hash of the class's fields; ``cls:{code}:q`` question → JSON {state, right, ord};
    ``cls:{code}:m`` token → JSON {nickname, joined}; ``cls:{code}:a:{question}`` token → choice."""

    def __init__(self, url: str, *, timeout_s: float = 2.0):
        import redis

        self._redis_errors = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.ReadOnlyError,
            redis.exceptions.ResponseError,
        )
        self._watch_error = redis.exceptions.WatchError
        self.r = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self.where = url.split("@")[-1]  # never the password in a message

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._redis_errors as e:
            raise StoreUnavailable("down", self.where, str(e)) from e

    @staticmethod
    def _k(code: str, *parts: str) -> str:
        return ":".join(("cls", code) + parts)

    def _info(self, code: str, h: dict, qs: dict | None = None) -> ClassInfo:
        if not h:
            raise ClassError("unknown_code", code=code)
        q = h.get("question", "")
        qd = json.loads((qs or {}).get(q) or self.r.hget(self._k(code, "q"), q) or "{}") if q else {}
        return ClassInfo(
            code,
            float(h["created"]),
            float(h["ended"]) if h.get("ended") else None,
            h["page"],
            int(h["step"]),
            h["word"],
            h["model"],
            q,
            qd.get("state", "closed"),
            qd.get("right"),
            int(h["version"]),
            int(h["stage"]),
        )

    def _transact(self, code: str, fn):
        """fn(pipe, hash) → value, run under WATCH of the class's keys; retried when another writer got there first."""
        with self._errors():
            while True:
                with self.r.pipeline() as pipe:
                    try:
                        pipe.watch(self._k(code), self._k(code, "q"), self._k(code, "m"))
                        h = pipe.hgetall(self._k(code))
                        if not h:
                            raise ClassError("unknown_code", code=code)
                        result = fn(pipe, h)
                        return result
                    except self._watch_error:
                        continue

    def _teacher_h(self, code: str, h: dict, secret: str) -> None:
        if h.get("ended"):
            raise ClassError("ended", code=code)
        if not secret or not hmac.compare_digest(hash_secret(str(secret), h["salt"]), h["secret_hash"]):
            raise ClassError("wrong_secret")

    def create_class(self, secret: str) -> ClassInfo:
        salt = secrets.token_hex(8)
        fields = {
            "salt": salt,
            "secret_hash": hash_secret(secret, salt),
            "created": repr(time.time()),
            "ended": "",
            "page": "lesson",
            "step": "1",
            "word": "",
            "model": "",
            "question": "",
            "version": "1",
            "stage": "1",
        }
        with self._errors():
            for _ in range(20):
                code = new_code()
                if self.r.hsetnx(self._k(code), "created", fields["created"]):
                    self.r.hset(self._k(code), mapping=fields)
                    return self.get_class(code)
        raise StoreUnavailable("unwritable", self.where, "no free join code")

    def get_class(self, code: str) -> ClassInfo:
        with self._errors():
            return self._info(code, self.r.hgetall(self._k(code)))

    def counters(self, code: str) -> tuple[int, int]:
        with self._errors():
            v, s = self.r.hmget(self._k(code), "version", "stage")
        if v is None:
            raise ClassError("unknown_code", code=code)
        return int(v), int(s)

    def check_secret(self, code: str, secret: str) -> bool:
        with self._errors():
            h = self.r.hgetall(self._k(code))
        if not h:
            return False
        try:
            self._teacher_h(code, h, secret)
            return True
        except ClassError:
            return False

    def end_class(self, code: str, secret: str) -> ClassInfo:
        def fn(pipe, h):
            self._teacher_h(code, h, secret)
            pipe.multi()
            pipe.hset(self._k(code), "ended", repr(time.time()))
            pipe.hincrby(self._k(code), "version", 1)
            pipe.hincrby(self._k(code), "stage", 1)
            pipe.execute()

        self._transact(code, fn)
        return self.get_class(code)

    def move(
        self, code: str, secret: str, *, page: str, step: int = 0, word: str = "", model: str = "", question: str = ""
    ) -> ClassInfo:
        page, step, word, model, question = _check_place(page, step, word, model, question)

        def fn(pipe, h):
            self._teacher_h(code, h, secret)
            qkey = self._k(code, "q")
            have = pipe.hexists(qkey, question) if question else True
            n = pipe.hlen(qkey)
            anew = bool(question) and have and h.get("question") == question and h.get("word") != word
            ord_ = json.loads(pipe.hget(qkey, question) or "{}").get("ord", n) if anew else n
            pipe.multi()
            pipe.hset(
                self._k(code),
                mapping={"page": page, "step": str(step), "word": word, "model": model, "question": question},
            )
            if not have or anew:  # anew: a new word is a new question, asked afresh (as SQLiteStore.move)
                pipe.hset(qkey, question, json.dumps({"state": "closed", "right": None, "ord": ord_}))
            if anew:
                pipe.delete(self._k(code, "a", question))
            pipe.hincrby(self._k(code), "version", 1)
            pipe.hincrby(self._k(code), "stage", 1)
            pipe.execute()

        self._transact(code, fn)
        return self.get_class(code)

    def set_question(
        self, code: str, secret: str, state: str, *, right: str | None = None, meta: dict | None = None
    ) -> ClassInfo:
        if state not in QUESTION_STATES:
            raise ClassError("bad_state", state=str(state)[:20])
        right = None if right is None else _check_choice(right)
        meta_json = _check_meta(meta)

        def fn(pipe, h):
            self._teacher_h(code, h, secret)
            q = h.get("question", "")
            if not q:
                raise ClassError("no_question")
            qkey = self._k(code, "q")
            qd = json.loads(pipe.hget(qkey, q) or "{}")
            qd["state"] = state
            if right is not None:
                qd["right"] = right
            if meta_json is not None:
                qd["meta"] = json.loads(meta_json)
            pipe.multi()
            pipe.hset(qkey, q, json.dumps(qd))
            pipe.hincrby(self._k(code), "version", 1)
            pipe.hincrby(self._k(code), "stage", 1)
            pipe.execute()

        self._transact(code, fn)
        return self.get_class(code)

    def join(self, code: str, nickname: str = "", token: str | None = None) -> Member:
        nick = clean_nickname(nickname)

        def fn(pipe, h):
            if h.get("ended"):
                raise ClassError("ended", code=code)
            mkey = self._k(code, "m")
            old = pipe.hget(mkey, str(token)[:64]) if token else None
            if old is not None:  # the same browser again: one member
                d = json.loads(old)
                if not nick or nick == d["nickname"]:
                    return Member(str(token), d["nickname"], d["joined"])
                m = Member(str(token), nick, d["joined"])
            else:
                m = Member(new_token(), nick, time.time())
            pipe.multi()
            pipe.hset(mkey, m.token, json.dumps({"nickname": m.nickname, "joined": m.joined}))
            pipe.hincrby(self._k(code), "version", 1)
            pipe.execute()
            return m

        return self._transact(code, fn)

    def member(self, code: str, token: str) -> Member | None:
        with self._errors():
            raw = self.r.hget(self._k(code, "m"), str(token or "")[:64]) if token else None
        if raw is None:
            return None
        d = json.loads(raw)
        return Member(str(token), d["nickname"], d["joined"])

    def members(self, code: str) -> list[Member]:
        with self._errors():
            if not self.r.exists(self._k(code)):
                raise ClassError("unknown_code", code=code)
            raw = self.r.hgetall(self._k(code, "m"))
        out = [Member(t, d["nickname"], d["joined"]) for t, d in ((t, json.loads(v)) for t, v in raw.items())]
        return sorted(out, key=lambda m: m.joined)

    def answer(self, code: str, token: str, choice: str) -> ClassInfo:
        choice = _check_choice(choice)

        def fn(pipe, h):
            if h.get("ended"):
                raise ClassError("ended", code=code)
            if not token or not pipe.hexists(self._k(code, "m"), str(token)[:64]):
                raise ClassError("not_member")
            q = h.get("question", "")
            if not q:
                raise ClassError("no_question")
            state = json.loads(pipe.hget(self._k(code, "q"), q) or "{}").get("state", "closed")
            if state != "open":
                raise ClassError("not_open", state=state)
            pipe.multi()
            pipe.hset(self._k(code, "a", q), str(token), choice)
            pipe.hincrby(self._k(code), "version", 1)
            pipe.execute()

        self._transact(code, fn)
        return self.get_class(code)

    def answers(self, code: str, question: str) -> dict[str, str]:
        with self._errors():
            return dict(self.r.hgetall(self._k(code, "a", question)))

    def results(self, code: str) -> list[QuestionResult]:
        with self._errors():
            if not self.r.exists(self._k(code)):
                raise ClassError("unknown_code", code=code)
            qs = {q: json.loads(v) for q, v in self.r.hgetall(self._k(code, "q")).items()}
            out = []
            for q, d in sorted(qs.items(), key=lambda kv: kv[1].get("ord", 0)):
                out.append(
                    QuestionResult(
                        q,
                        d.get("state", "closed"),
                        d.get("right"),
                        dict(self.r.hgetall(self._k(code, "a", q))),
                        d.get("meta") or {},
                    )
                )
        return out

    # -- models trained in the class: one hash for every class (name -> JSON), so a picker reads it in one call
    MODELS_KEY = "clsmodels"

    def add_model(self, code: str, token: str, name: str, model: str = "") -> ClassModel:
        name, model = _check_model(name, model)

        def fn(pipe, h):
            if h.get("ended"):
                raise ClassError("ended", code=code)
            if not token or not pipe.hexists(self._k(code, "m"), str(token)[:64]):
                raise ClassError("not_member")
            m = ClassModel(name, code, str(token), model, time.time())
            pipe.multi()
            pipe.hset(self.MODELS_KEY, name, json.dumps({"code": code, "token": m.token, "model": model, "at": m.at}))
            pipe.hincrby(self._k(code), "version", 1)
            pipe.execute()
            return m

        return self._transact(code, fn)

    def class_models(self, code: str | None = None) -> list[ClassModel]:
        with self._errors():
            if code is not None and not self.r.exists(self._k(code)):
                raise ClassError("unknown_code", code=code)
            raw = self.r.hgetall(self.MODELS_KEY)
        out = [
            ClassModel(n, d["code"], d["token"], d.get("model", ""), float(d["at"]))
            for n, d in ((n, json.loads(v)) for n, v in raw.items())
        ]
        return sorted((m for m in out if code is None or m.code == code), key=lambda m: m.at)

    def remove_models(self, code: str, secret: str, names: Sequence[str] | None = None) -> list[str]:
        with self._errors():
            h = self.r.hgetall(self._k(code))
        if not h:
            raise ClassError("unknown_code", code=code)
        if not secret or not hmac.compare_digest(hash_secret(str(secret), h["salt"]), h["secret_hash"]):
            raise ClassError("wrong_secret")  # (an ended class's models may still be cleared)
        gone = [m.name for m in self.class_models(code) if names is None or m.name in set(names)]
        with self._errors():
            if gone:
                self.r.hdel(self.MODELS_KEY, *gone)
            self.r.hincrby(self._k(code), "version", 1)
        return gone

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.r.close()


# ---- choosing one -------------------------------------------------------------------------------------------------
def open_store(setting: str | None = None) -> ClassStore:
    """The store named by ``setting`` (default: :func:`settings.store`): empty → SQLite in the data folder;
    ``sqlite:///path`` or a path → SQLite there; ``redis://…`` / ``rediss://…`` → Redis."""
    setting = (settings.store() if setting is None else setting).strip()
    if setting.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(setting)
    if setting.startswith("sqlite:///"):
        return SQLiteStore(setting[len("sqlite:///") :])  # sqlite:///rel/path, sqlite:////abs/path
    return SQLiteStore(setting or DEFAULT_SQLITE)


def funnel(store: ClassStore, code: str) -> list[dict]:
    """Per question: joined → answered → right (right counted once the model's answer is stored at reveal)."""
    joined = len(store.members(code))
    rows = []
    for r in store.results(code):
        right = None if r.right is None else sum(1 for c in r.answers.values() if c == r.right)
        rows.append(
            {
                "question": r.question,
                "state": r.state,
                "joined": joined,
                "answered": len(r.answers),
                "right": right,
                "answer": r.right,
            }
        )
    return rows


def histogram(answers: dict[str, str], options: Sequence[str]) -> dict[str, int]:
    """How many chose each option (every option present, in order; unknown choices dropped)."""
    counts = {o: 0 for o in options}
    for c in answers.values():
        if c in counts:
            counts[c] += 1
    return counts


@functools.lru_cache(maxsize=4)
def _store_for(setting: str) -> ClassStore:
    return open_store(setting)


def shared_store() -> ClassStore:
    """One store per process and setting (it holds only its path or a Redis connection pool, no class state):
    what the pages and the counters route use."""
    return _store_for(settings.store())
