"""A class session without browsers: one teacher and N students over Streamlit's protocol (bench.classroom's Tab),
each page running its class poller as ui/class_poll/poll.js does (a long poll of ``/class/counters``, then one
rerun of the poller's fragment when the class moved: :class:`Poller`).

``python -m bench.classroom --class [--students 40] [--processes 1] [--idle 20] [--moves 3] [--no-append]``
(or ``python -m bench.class_session ...``)

One run, on fresh servers (services.classroom: ``serve.py`` alone, or N behind nginx) with a fresh SQLite store:

1. **Arrive**: the teacher opens Lesson step 1; N students arrive at random moments within 20 s, each opening
   ``/join``, typing the code and pressing Join. Measured: from the first HTTP request to the student's page showing
   the class's step ("Step 1." heading).
2. **Idle**: every student joined, its poller waiting, nobody doing anything, for ``--idle`` s. Measured: the
   servers' CPU (process trees, % of one core) and RSS; memory per joined student = (RSS idle − RSS before anyone
   joined) / N.
3. **Follow**: the teacher presses Next (a rerun with its trigger; its callback puts ?step=k+1 in the URL),
   ``--moves`` times. Measured per student: from the teacher's click to the student's page showing "Step k+1.".
4. **Guesses**: the teacher presses "Open answers" (measured: from the click to a student's page drawing its
   Lock button; the server CPU it took per student; how many of the students' runs were whole pages); each
   student, at a random moment within 10 s, picks an option (a rerun of the question's fragment) and 0.5 s later
   presses "Lock my guess" (another). The teacher's page runs its count's poller (watch=version) like the
   students' pages. Measured: from a student's Lock to the teacher's page showing a count that includes it.

Idle, a page costs one long-poll request per 10 s and no script run; a student's page reruns only when the class's
``stage`` counter moved. Targets (issue 22, printed, not asserted): idle CPU <= 5 % of one core (40 students);
follow p95 <= 1.5 s (40 students; and 150 on 4 processes); lock → count p95 <= 1 s; arrive p95 <= 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import settings
from bench.classroom import Record, Tab, check_local, sampler, tree_usage
from bench.common import md_table, pctl, report

MAX_STUDENTS = 160
ARRIVE_S = 20.0
LOCK_WINDOW_S = 10.0
SECRET = "bench-teacher-secret"
TARGETS = {"idle_cpu": 5.0, "follow_p95": 1.5, "count_p95": 1.0, "arrive_p95": 5.0}


class ClassTab(Tab):
    """A Tab that also remembers the page's headings and texts, follows query-string changes (st.switch_page and
    st.query_params tell the browser the new URL; it sends it with the next rerun), and runs the class poller of
    each ``attention_lab.class_poll`` component on its page the way ui/class_poll/poll.js does in a browser."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.query = ""
        self.headings: list[str] = []
        self.shown: list[tuple[float, str]] = []  # (time, heading or text) as each arrives
        self.changed = asyncio.Event()
        self.options: dict[str, list[str]] = {}  # radio widget id -> its options as the browser reports them
        self.fragment_of: dict[str, str] = {}  # widget id -> the fragment it is drawn in ("" if none)
        self.pollers: dict[str, Poller] = {}  # component id -> its poller (one per drawn class_poll)
        self.drawn: set[str] = set()  # class_poll components drawn by the run in progress
        self.poll_stats: list = []  # one entry per counters answer
        self.triggers = 0  # reruns the pollers asked for
        self.full_run = False
        self.runs = {"page": 0, "fragment": 0}  # script runs the server started, by scope

    def handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            fragment_run = bool(msg.metadata.run.fragment_ids) if msg.metadata.HasField("run") else False
            self.full_run = not fragment_run
            self.runs["fragment" if fragment_run else "page"] += 1
            if not fragment_run:
                self.drawn = set()
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "navigation" and msg.navigation.page_script_hash:
            for p in msg.navigation.app_pages:
                if p.page_script_hash == msg.navigation.page_script_hash:
                    self.page = p.url_pathname or p.page_name or self.page
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            ek = el.WhichOneof("type")
            e = getattr(el, ek)
            if getattr(e, "id", ""):
                self.fragment_of[e.id] = msg.delta.fragment_id
                if getattr(e, "label", ""):  # a widget as it is drawn (Open answers draws a student's Lock)
                    self.shown.append((time.perf_counter(), "widget:" + e.label))
                    self.changed.set()
            if ek == "radio":
                self.options[el.radio.id] = list(el.radio.options)
            elif ek == "bidi_component" and e.component_name.endswith("class_poll"):
                self.drawn.add(e.id)
                self.poller(e.id, msg.delta.fragment_id, json.loads(e.json or "{}"))
            if ek == "heading":
                self.shown.append((time.perf_counter(), el.heading.body))
                self.changed.set()
            elif ek in ("markdown", "alert"):
                self.shown.append((time.perf_counter(), getattr(el, ek).body))
                self.changed.set()
        super().handle(msg)
        if kind == "script_finished" and msg.script_finished == msg.FINISHED_SUCCESSFULLY and self.full_run:
            for cid in [c for c in self.pollers if c not in self.drawn]:
                self.pollers.pop(cid).stop()  # the page no longer draws it: the browser unmounts it

    def poller(self, cid: str, fragment: str, data: dict) -> None:
        """A class_poll component (re)drawn with ``data``: as poll.js, a new loop replaces the one asking now."""
        p = self.pollers.get(cid)
        if p is None:
            p = self.pollers[cid] = Poller(self, cid)
        p.redraw(fragment, data)

    def query_string(self) -> str:
        extra = super().query_string()
        return "&".join(x for x in (self.query, extra) if x)

    async def close(self, abrupt: bool = False) -> None:
        for p in self.pollers.values():
            p.stop()
        self.pollers.clear()
        await super().close(abrupt)

    async def wait_for(self, predicate, since: float, timeout: float) -> float | None:
        """The time something shown after ``since`` satisfied ``predicate`` (None after ``timeout`` s)."""
        deadline = time.perf_counter() + timeout
        while True:
            for t, text in self.shown:
                if t >= since and predicate(text):
                    return t
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except TimeoutError:
                pass


class Poller:
    """ui/class_poll/poll.js in Python, for one drawn component: GET ``{url}&watch={watch}&seen={seen}`` (a long
    poll of serve.py's counters route, the tab's cookies sent as a browser does); when the answer's counter differs
    from ``seen``, the component's trigger ``changed`` → one rerun of the fragment it is drawn in (a full rerun if
    none), exactly the BackMsg the browser sends; then it asks again at once. Each redraw (a rerun drew it again,
    maybe with a new ``seen``) aborts the request in flight and starts a new loop, as poll.js does."""

    def __init__(self, tab: ClassTab, cid: str):
        from streamlit.components.v2.bidi_component.main import _make_trigger_id

        self.tab, self.cid = tab, cid
        self.trigger_id = _make_trigger_id(cid, "events")
        self.fragment, self.data, self.seen = "", {}, None
        self.task: asyncio.Task | None = None

    def redraw(self, fragment: str, data: dict) -> None:
        self.fragment, self.data, self.seen = fragment, data, data.get("seen")
        self.stop()
        self.task = asyncio.get_event_loop().create_task(self.loop())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()  # closes the connection: the browser's abort()
            self.task = None

    async def loop(self) -> None:
        u = urlparse(self.tab.base)
        reader = writer = None
        try:
            while True:
                d = self.data
                path = f"{d['url']}&watch={d['watch']}&seen={int(self.seen)}"
                cookie = f"Cookie: {self.tab.cookies}\r\n" if self.tab.cookies else ""
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n{cookie}Connection: keep-alive\r\n\r\n"
                ).encode()
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(u.hostname, u.port)
                    writer.write(request)
                    await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                    body = json.loads(await reader.readexactly(length))
                    ok = head.split(b" ", 2)[1] == b"200"
                except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    await asyncio.sleep(d["every_ms"] / 1000)
                    continue
                self.tab.poll_stats.append(time.perf_counter())
                value = body.get(d["watch"]) if ok else None
                if value is None:
                    await asyncio.sleep(d["every_ms"] / 1000)
                    continue
                if value != self.seen:
                    self.seen = value
                    self.tab.triggers += 1
                    asyncio.ensure_future(
                        self.tab.rerun(
                            fragment=self.fragment,
                            auto=False,
                            json_trigger=(self.trigger_id, json.dumps([{"event": "changed", "value": value}])),
                        )
                    )
        finally:
            if writer is not None:
                writer.close()


async def student(base: str, code: str, i: int, rec: Record, clock, arrive_at: float, state: dict):
    """Arrive and join (the join form: the code, a nickname, Join); from then on the page's own poller follows the
    class (Poller: a long poll, one fragment rerun on a move, which reruns the page)."""
    await asyncio.sleep(arrive_at)
    tab = ClassTab(base, rec, "join", clock)
    t0 = time.perf_counter()
    await tab.open(query=f"code={code}")
    tab.set_value("Join code", "string_value", code)
    tab.set_value("Nickname (optional)", "string_value", f"s{i:03d}")
    submit = tab.widgets.get("Join", (None, None))[1]
    await tab.rerun(trigger=submit)
    t = await tab.wait_for(lambda s: s.startswith("Step 1."), t0, 60)
    state["arrive"].append(None if t is None else t - t0)
    state["tabs"].append(tab)
    return tab


async def drive(base: str, pids: list[int], n: int, idle_s: float, moves: int, seed: int) -> dict:
    from services.class_store import open_store

    rng = random.Random(seed)
    random.seed(seed)
    t_start = time.perf_counter()
    clock = lambda: time.perf_counter() - t_start  # noqa: E731
    store = open_store()
    c = store.create_class(SECRET)
    code = c.code
    stop_sampler, samples = asyncio.Event(), []
    samp = asyncio.create_task(sampler(pids, stop_sampler, samples, clock))
    res = {"arrive": [], "tabs": [], "follow": [], "count": [], "errors": []}

    # the teacher: the class cookie brings the teacher's session back, as after a reload
    trec = Record("teacher", "teacher")
    teacher = ClassTab(base, trec, "lesson", clock)
    teacher.cookies = f"attention_lab_class=t.{code}.{SECRET}"
    await teacher.open(query="step=1")
    teacher.query = "step=1"
    rss0 = (await asyncio.to_thread(tree_usage, pids))[0]

    # 1. arrive
    recs = [Record(f"s{i}", "student") for i in range(n)]
    tasks = [
        asyncio.create_task(student(base, code, i, recs[i], clock, rng.random() * ARRIVE_S, res)) for i in range(n)
    ]
    deadline = time.perf_counter() + ARRIVE_S + 90
    while len(res["arrive"]) < n and time.perf_counter() < deadline:
        await asyncio.sleep(0.25)
    await asyncio.sleep(3)

    # 2. idle
    polls = lambda: sum(len(tb.poll_stats) for tb in res["tabs"])  # noqa: E731
    polls0 = polls()
    _, cpu0 = await asyncio.to_thread(tree_usage, pids)
    t0 = time.perf_counter()
    await asyncio.sleep(idle_s)
    rss1, cpu1 = await asyncio.to_thread(tree_usage, pids)
    idle_wall = time.perf_counter() - t0
    res["idle_cpu"] = (cpu1 - cpu0) / idle_wall * 100
    res["idle_polls_per_s"] = (polls() - polls0) / idle_wall
    res["triggers0"] = sum(tb.triggers for tb in res["tabs"])
    res["rss0"], res["rss1"] = rss0, rss1

    # 3. follow: the teacher presses Next
    tabs = list(res["tabs"])
    _, cpu_f0 = await asyncio.to_thread(tree_usage, pids)
    for k in range(2, 2 + moves):
        await teacher.wait_finished(30)
        nxt = teacher.widgets["Next"][1]
        sent = time.perf_counter()
        await teacher.rerun(trigger=nxt)  # Next: its callback puts ?step=k in the URL
        want = f"Step {k}."
        got = await asyncio.gather(*(tb.wait_for(lambda s, w=want: s.startswith(w), sent, 30) for tb in tabs))
        res["follow"] += [None if t is None else t - sent for t in got]
        await asyncio.sleep(2)
    _, cpu_f1 = await asyncio.to_thread(tree_usage, pids)
    res["cpu_per_follow_ms"] = (cpu_f1 - cpu_f0) * 1000 / max(1, len(tabs) * moves)

    # 4. guesses: open answers; each student picks an option (a rerun of the question's fragment, as the radio
    # does) and presses Lock (another); the teacher's page reruns its count's fragment when its poller sees the
    # class's version move
    await teacher.wait_finished(30)
    open_btn = teacher.widgets.get("Open answers", (None, None))[1]
    _, cpu_o0 = await asyncio.to_thread(tree_usage, pids)
    runs0 = [dict(tb.runs) for tb in tabs]
    sent = time.perf_counter()
    await teacher.rerun(trigger=open_btn)
    got = await asyncio.gather(*(tb.wait_for(lambda text: text == "widget:Lock my guess", sent, 30) for tb in tabs))
    res["open"] = [None if t is None else t - sent for t in got]
    _, cpu_o1 = await asyncio.to_thread(tree_usage, pids)
    res["cpu_per_open_ms"] = (cpu_o1 - cpu_o0) * 1000 / max(1, len(tabs))
    res["open_runs"] = {k: sum(tb.runs[k] - r0[k] for tb, r0 in zip(tabs, runs0)) for k in ("page", "fragment")}
    await asyncio.sleep(max(0.0, 3 - (time.perf_counter() - sent)))  # every student's page has its radio and Lock
    locks = []

    async def lock(tb: ClassTab):
        await asyncio.sleep(rng.random() * LOCK_WINDOW_S)
        for _ in range(120):  # this student's page has opened the question
            if "Lock my guess" in tb.widgets and "Your guess" in tb.widgets:
                break
            await asyncio.sleep(0.25)
        guess = tb.widgets.get("Your guess")
        button = tb.widgets.get("Lock my guess")
        if guess is None or button is None:
            res["errors"].append(f"{tb.rec.name}: no guess widgets")
            return
        opts = tb.options.get(guess[1]) or ["0"]
        tb.states[guess[1]] = ("string_value", opts[rng.randrange(min(3, len(opts)))])  # radios report the label
        tb.owned.add(guess[1])
        await tb.rerun(fragment=tb.fragment_of.get(guess[1], ""), auto=False)  # the pick
        await asyncio.sleep(0.5)  # a student's hand
        button = tb.widgets.get("Lock my guess", button)
        locks.append(time.perf_counter())
        await tb.rerun(trigger=button[1], fragment=tb.fragment_of.get(button[1], ""), auto=False)

    await asyncio.gather(*(lock(tb) for tb in tabs))
    await asyncio.sleep(5)
    import re

    counts = []
    for t, text in teacher.shown:
        m = re.search(r"(\d+) of (\d+) answered", text)
        if m:
            counts.append((t, int(m.group(1))))
    answered = len(store.answers(code, "lesson.4" if moves == 3 else f"lesson.{1 + moves}"))
    for i, sent in enumerate(sorted(locks), start=1):
        shown = [t for t, a in counts if a >= i and t >= sent]
        res["count"].append(min(shown) - sent if shown else None)
    res["answered"] = answered

    res["triggers"] = sum(tb.triggers for tb in tabs) - res["triggers0"]
    res["teacher_triggers"] = teacher.triggers
    for r in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(r, BaseException):
            res["errors"].append(f"a student's task failed: {type(r).__name__}: {r}")
    for tb in tabs + [teacher]:
        await tb.close()
    stop_sampler.set()
    await samp
    res["samples"] = samples
    res["errors"] += [e for r in recs + [trec] for e in r.errors]
    res["n"] = n
    return res


def fmt(xs: list, target: float) -> tuple[str, str, str, str]:
    ok = [x for x in xs if x is not None]
    missing = len(xs) - len(ok)
    if not ok:
        return "—", "—", "—", "NOT met"
    p50, p95, mx = pctl(ok, 50), pctl(ok, 95), max(ok)
    met = "met" if p95 <= target and not missing else "NOT met"
    return f"{p50:.2f}", f"{p95:.2f}", f"{mx:.2f}" + (f" ({missing} never)" if missing else ""), met


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.classroom --class", description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--processes", type=int, default=1, help="Streamlit processes (>1: behind nginx)")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of an idle, joined class")
    ap.add_argument("--moves", type=int, default=3, help="times the teacher presses Next")
    ap.add_argument("--url", help="drive this server (localhost only; it must serve serve.py and use the same store)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    n = max(1, min(args.students, MAX_STUDENTS))
    moves = max(1, min(args.moves, 6))
    res_notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="attention-lab-class-") as tmp:
        os.environ[settings.STORE_ENV] = settings.store() or f"sqlite:///{tmp}/classes.sqlite3"
        if args.url:
            import psutil

            base = check_local(args.url)
            port = urlparse(base).port
            pids = sorted(
                {
                    c.pid
                    for c in psutil.net_connections("tcp")
                    if c.laddr and c.laddr.port == port and c.status == "LISTEN" and c.pid
                }
            )
            res = asyncio.run(drive(base, pids, n, args.idle, moves, args.seed))
        else:
            from services.classroom import Classroom, Limits

            limits = Limits()
            need = 2 * (n + 1) + 20  # each page holds its WebSocket and its long poll, all from 127.0.0.1 here
            if args.processes > 1 and need > limits.per_ip:
                limits = Limits(per_ip=need, total=max(limits.total, need))
                res_notes.append(
                    f"nginx's connections per address raised from {Limits().per_ip} to {need} for this "
                    f"run ({settings.MAX_CONN_PER_IP_ENV} does the same for classroom.sh): {n} pages "
                    "on one address hold 2 connections each (the WebSocket and the class poller's "
                    "long poll); at the default, the pages over the limit got HTTP 503 and the "
                    "teacher's count stopped"
                )
            with Classroom(
                processes=args.processes, user_ckpt_dir=Path(tmp) / "ckpt", nginx=args.processes > 1, limits=limits
            ) as room:
                res = asyncio.run(drive(room.url, room.pids(), n, args.idle, moves, args.seed))
    arrive, follow, count, opened = (
        fmt(res["arrive"], TARGETS["arrive_p95"]),
        fmt(res["follow"], TARGETS["follow_p95"]),
        fmt(res["count"], TARGETS["count_p95"]),
        fmt(res["open"], TARGETS["follow_p95"]),
    )
    per_student = (res["rss1"] - res["rss0"]) / n
    head = ("processes", "students", "measure", "n", "p50 s", "p95 s", "max s", "target", "")
    rows = [
        (
            args.processes,
            n,
            "arrive: open /join → the class's step shown",
            len(res["arrive"]),
            *arrive[:3],
            "p95 <= 5 s",
            arrive[3],
        ),
        (
            args.processes,
            n,
            "teacher's Next → a student's page shows the step",
            len(res["follow"]),
            *follow[:3],
            "p95 <= 1.5 s",
            follow[3],
        ),
        (
            args.processes,
            n,
            "teacher's Open answers → a student's page shows Lock",
            len(res["open"]),
            *opened[:3],
            "(as a move: p95 <= 1.5 s)",
            opened[3],
        ),
        (
            args.processes,
            n,
            "a student's Lock → the teacher's count includes it",
            len(res["count"]),
            *count[:3],
            "p95 <= 1 s",
            count[3],
        ),
        (
            args.processes,
            n,
            f"idle {args.idle:.0f} s, all joined: server CPU % of one core",
            "",
            f"{res['idle_cpu']:.1f} %",
            "",
            "",
            "<= 5 %",
            "met" if res["idle_cpu"] <= TARGETS["idle_cpu"] else "NOT met",
        ),
    ]
    table = md_table(head, rows)
    notes = [
        f"server CPU per student following one move: {res['cpu_per_follow_ms']:.0f} ms (the teacher's rerun "
        f"included): {n} students on {args.processes} process(es) need about "
        f"{res['cpu_per_follow_ms'] * n / 1000 / max(1, min(args.processes, os.cpu_count() or 1)):.1f} s of "
        "CPU per move, which bounds the follow latency from below",
        f"server CPU per student for Open answers: {res['cpu_per_open_ms']:.0f} ms (the teacher's rerun "
        f"included); the students' pages ran {res['open_runs']['page']} whole-page and "
        f"{res['open_runs']['fragment']} fragment runs for it (the poller's own fragment counted)",
        f"memory per joined student: {per_student:.2f} MiB (server RSS {res['rss0']:.0f} MiB before anyone "
        f"joined, {res['rss1']:.0f} MiB with {n} joined and idle)",
        f"counters answers while idle: {res['idle_polls_per_s']:.1f} per s (each student's page holds one "
        "long poll, answered when the class moves or after 10 s; no script run)",
        f"reruns the students' pollers asked for during the moves and guesses: {res['triggers']} (one per "
        f"student per change of stage: {n} x ({moves} moves + Open answers) = {n * (moves + 1)}); the "
        f"teacher's count poller: {res['teacher_triggers']}",
        f"answers stored: {res['answered']} of {n}",
        "what each simulated page sends, as the browser: Join = a rerun with the form's trigger; the class "
        "poller = GET /class/counters?code=C&watch=stage&seen=S (long poll, the tab's cookies), and on a "
        "change one rerun of the poller's fragment with its json trigger [{event: changed, value}] (the "
        "fragment reruns the page); a guess = a fragment rerun with the radio's value, then 0.5 s later one "
        "with Lock's trigger; the teacher's Next = a rerun with its trigger; the teacher's count = its "
        "poller (watch=version) rerunning the count's fragment",
    ]
    notes += res_notes
    if res["errors"]:
        notes.append(f"errors ({len(res['errors'])}): " + "; ".join(res["errors"][:5]))
    report(
        "class session (one teacher, N students, Streamlit's protocol + the counters route)",
        "python -m bench.classroom --class",
        argv,
        table,
        notes,
        append=not args.no_append,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
