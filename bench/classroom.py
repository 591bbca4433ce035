"""A whole class without browsers: N simulated students speak Streamlit's own WebSocket protocol to the app.

``python -m bench.classroom [--students 3] [--train 0] [--seconds 20] [--processes 1] [--pages explore compare]
[--faults] [--url http://localhost:PORT] [--no-append]``; ``--class``: a teacher-led class session instead
(bench/class_session.py); ``--browser-path``: a class typing on the browser path (bench/browser_class.py)

Each student is what a browser tab is to the server: an HTTP GET of the page (nginx's sticky cookie and
Streamlit's XSRF cookie come back), then a WebSocket on ``/_stcore/stream`` (subprotocol ``streamlit``) carrying
``BackMsg`` protobufs up and ``ForwardMsg`` protobufs down, the classes that ship inside the streamlit package. A
student opens Explore or Compare (alternating), reads the text box's widget id from the page's ``delta``
messages, and types words from data/words.txt one key at a time at a human pace (3-5 keys/s, jittered): each key
is a ``rerun_script`` with the new widget state, as the browser's live text box sends it. A keystroke's latency is
from that message to the ``script_finished`` of the first complete run that shows it (the next-token chart title
names its last character); a key not shown within 15 s is an error, as is an exception element on the page.
``--pages real_model``: students open the Real model page instead and type the lecture sentence ("The animal
didn't cross the street because it was too tired") into its "Type a sentence" box, from its first letter, again
and again; a key is shown when the bars' title names the last token SmolLM2's tokenizer makes of the text (when
that chart arrives: key -> bars). Where the page is served by serve.py its component owns the box and the student
sends what Chromium sends there: one ``GET /lm/views`` per key and one fragment rerun at the pause
(:func:`route_typist`). A box drawn inside an ``st.fragment`` is typed as the browser does it: each key
asks for that fragment's rerun (``fragment_id``), and that fragment's runs show keys as a full run does.
``--train K`` students open the Train page instead, press Train, and keep the page's 1-second progress fragment
running (the ``auto_rerun`` messages ask for it) until the time is up, then go away mid-run.

Several values in ``--students``, ``--train`` or ``--processes`` run every combination, each on fresh servers
(``services.classroom``: one process alone, or N behind nginx). ``--faults`` adds, while the class types:
100 reconnects in a row of one student's session, 10 clients that disconnect in the middle of a WebSocket
message, one that sends a frame that is not a BackMsg, a trainer that closes its tab 3 s into a run, and with
several processes a ``kill -9`` of process b0 halfway through (its students must reconnect to another; reported:
keys lost and how long they waited, and the supervisor's log); the other students' errors in that run are the
result. Reported: latency p50/p95/max, errors, reconnects, the servers' RSS
(process trees) and CPU over time; appended to bench/RESULTS.md with the command.

Bounded: at most 80 students, 600 s a run, 12 runs; localhost only (another host is refused).
Targets (issue 14, printed, not asserted): 30 students with 2 training, p95 <= 500 ms, 0 errors, RSS flat
(+-10 %); the largest class with p95 <= 500 ms, as students per core.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse

from bench.common import LOCAL_HOSTS, md_table, pctl, report, start_together

MAX_STUDENTS, MAX_SECONDS, MAX_RUNS = 80, 600, 12
KEY_TIMEOUT_S = 15
TARGET_P95_MS = 500
BARS_TITLE = "Next token after"
WORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "words.txt"
# Pages whose keys are shown when the bars naming them arrive (issue 24's "key -> bars" for the Real model: the
# browser draws an element as it arrives, even if a newer key then interrupts the rest of that run); elsewhere a
# key is shown at the end of the first complete run that shows it.
SHOWN_AT_BARS = frozenset({"real_model"})
PAGES = {"explore": "", "compare": "compare", "real_model": "real_model"}  # page -> url path (Streamlit's page_name)
BOX = {"real_model": "Type a sentence"}  # the text box a student types in (default "Type a word")
LECTURE = "The animal didn't cross the street because it was too tired"  # what a class types on the Real model
SERVER_PATH_QUERY = "browser=0"  # Explore's and Compare's server path (ui/live_views.py)


def check_local(url: str) -> str:
    """The URL, if it is http on this machine; anything else is refused (the benchmark loads a server hard)."""
    u = urlparse(url)
    if u.scheme != "http" or (u.hostname or "") not in LOCAL_HOSTS or not u.port:
        raise SystemExit(f"bench.classroom only drives a server on this machine (http://localhost:PORT), not {url!r}")
    return url.rstrip("/")


def class_words(rng: random.Random) -> list[str]:
    words = [w for w in WORDS_FILE.read_text().split() if w.isascii() and w.isalpha() and w.islower() and len(w) >= 4]
    rng.shuffle(words)
    return words


def bars_char(title: str) -> str:
    """The character a "Next token after “x”" title names ("" for <BOS>), unescaped like the page shows it."""
    import html

    t = html.unescape(title)
    return t[t.index("“") + 1 : t.rindex("”")] if "“" in t and "”" in t else ""


LIVE_COMPONENT = "attention_lab_live"  # ui/live_views.py's component; on the Real model it gets each key's data


def live_bars_title(e) -> str:
    """The bars' title in a live-views component's data sent by the server (the Real model, ui/real_model.live_data:
    mode "server"), or "" (Explore's and Compare's browser path compute their bars in the browser)."""
    try:
        data = json.loads(e.json) if e.WhichOneof("data") == "json" else {}
    except ValueError:
        return ""
    if data.get("mode") != "server":
        return ""
    sides = data.get("sides") or [{}]
    return str(((sides[0].get("capture") or {}).get("bars") or {}).get("title") or "")


def widget_value(kind: str, e) -> tuple[str, object] | None:
    """What the browser reports for a widget it has just drawn: the value the server set (``set_value``), else the
    widget's default, in the WidgetState field Streamlit registers it with (elements/widgets/*.py ``value_type``).
    A widget left out of a rerun's widget states reads as "no value" on the server, i.e. its default: the
    Train page's batch size would drop to its minimum, Explore's sliders to theirs."""
    if kind in ("text_input", "text_area"):
        return "string_value", e.value if e.set_value else e.default
    if kind == "checkbox":
        return "bool_value", e.value if e.set_value else e.default
    if kind == "number_input":
        return "double_value", e.value if e.set_value else e.default
    if kind in ("selectbox", "radio"):
        if e.set_value:
            return "string_value", e.raw_value
        return ("string_value", e.options[e.default]) if len(e.options) > e.default >= 0 else None
    if kind == "slider":
        if len(e.options):  # a select_slider: options as strings
            vals = list(e.raw_value) if e.set_value else [e.options[int(i)] for i in e.default]
            return "string_array_value", vals
        return "double_array_value", list(e.value) if e.set_value else list(e.default)
    if kind == "button_group":
        vals = list(e.raw_values) if e.set_value else [e.options[i].content for i in e.default]
        return "string_array_value", vals
    return None  # buttons (triggers), uploads: nothing to report


# ---- one simulated browser tab ----------------------------------------------------------------------------------
@dataclass
class Key:
    text: str
    sent: float
    want: str | None = None  # the token the bars' title must name (Real model); else the last character
    run_seen: bool = False  # a run started after this key was sent
    latency: float | None = None


@dataclass
class Record:
    name: str
    kind: str  # "explore" / "compare" / "train" / "fault"
    keys: list[Key] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0
    open_s: float | None = None
    notes: list[str] = field(default_factory=list)
    backend: str = ""  # nginx's process cookie after the first page view (debug names)


class Tab:
    """One Streamlit session over one WebSocket, with the bookkeeping a browser tab does: the widget ids of the
    last run, the widget values it has set, the fragments that asked to be rerun on a timer."""

    path_query = SERVER_PATH_QUERY  # what the tab's link holds before the page's own query string

    def __init__(self, base: str, rec: Record, page: str, clock):
        self.base, self.rec, self.page, self.clock = base, rec, page, clock
        self.ws = None
        self.cookies = ""
        self.session_id = ""
        self.widgets: dict[str, tuple[str, str]] = {}  # label -> (element type, widget id), from the last runs
        self.query_key: dict[str, str] = {}  # widget id -> query-param key (the text box binds one)
        self.states: dict[str, tuple[str, object]] = {}  # widget id -> (WidgetState field, value), all widgets
        self.owned: set[str] = set()  # widgets this student sets; the server never overrides
        self.seen: set[str] = set()  # widget ids drawn by the run in progress
        self.fragments: dict[str, float] = {}  # fragment id -> interval s
        self.widget_fragment: dict[str, str] = {}  # widget id -> the st.fragment that draws it (a browser sends it)
        self.watch = ""  # the fragment whose runs show keys (the typed box's): its runs count as a full run's
        self.titles: list[str] = []  # next-token chart titles of the run in progress
        self.texts: list[str] = []  # markdown / alert bodies of the run in progress
        self.page_hash = ""  # the page's script hash, from the navigation message
        self.running = False
        self.finished = asyncio.Event()
        self.last_status = None
        self.reader = None
        self.ws_options: dict = {}  # more websockets.connect arguments (a source address)
        self.bytes_in = self.bytes_out = 0  # WebSocket payload bytes received and sent

    async def open(
        self, query: str | None = None, reuse_session: bool = False, timeout: float = 120, rerun: bool = True
    ) -> None:
        import websockets

        if not self.cookies:  # the page itself first, like a browser: nginx's cookie, Streamlit's XSRF one

            def get():
                jar = {}
                # The page, then the host config the frontend fetches (Streamlit sets its XSRF cookie there).
                for path in ("/" + PAGES.get(self.page, self.page), "/_stcore/host-config"):
                    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
                    req = urllib.request.Request(self.base + path, headers={"Cookie": cookie} if cookie else {})
                    with urllib.request.urlopen(req, timeout=30) as r:
                        for h in r.headers.get_all("Set-Cookie") or []:
                            k, _, v = h.split(";", 1)[0].partition("=")
                            jar.setdefault(k, v)  # the first answer's choice (nginx's process) is kept
                        r.read()
                return "; ".join(f"{k}={v}" for k, v in jar.items())

            self.cookies = await asyncio.to_thread(get)
        u = urlparse(self.base)
        # The browser's subprotocol list: "streamlit", its XSRF token, and on a reconnect the session id to resume.
        protocols = ["streamlit"] + ([self.xsrf() or "-", self.session_id] if reuse_session and self.session_id else [])
        t0 = time.perf_counter()
        self.ws = await websockets.connect(
            f"ws://{u.hostname}:{u.port}/_stcore/stream",
            subprotocols=protocols,
            additional_headers={"Cookie": self.cookies} if self.cookies else None,
            max_size=None,
            open_timeout=30,
            ping_interval=None,
            **self.ws_options,
        )
        self.reader = asyncio.create_task(self.read())
        if rerun:
            await self.rerun(query=query)
            await self.wait_finished(timeout)
        self.rec.open_s = self.rec.open_s if self.rec.open_s is not None else time.perf_counter() - t0

    def xsrf(self) -> str | None:
        for c in self.cookies.split("; "):
            if c.startswith("_streamlit_xsrf="):
                return c.split("=", 1)[1]
        return None

    async def close(self, abrupt: bool = False) -> None:
        if self.ws is None:
            return
        if abrupt:  # a tab killed, a laptop lid shut: the TCP connection just goes
            self.ws.transport.abort()
        else:
            await self.ws.close()
        if self.reader:
            self.reader.cancel()
            try:
                await self.reader
            except (asyncio.CancelledError, Exception):
                pass
        self.ws = None

    async def rerun(
        self,
        query: str | None = None,
        fragment: str = "",
        trigger: str | None = None,
        auto: bool = True,
        json_trigger: tuple[str, str] | None = None,
    ) -> None:
        """A rerun as the browser asks for it: ``fragment`` alone is a fragment's timer (``auto``); with a widget
        of the fragment (``auto=False``) it is that widget's rerun. ``json_trigger``: (widget id, JSON) of a
        custom component's trigger (st.components.v2's ``setTriggerValue``)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        rs = msg.rerun_script
        rs.page_name = PAGES.get(self.page, self.page)
        rs.page_script_hash = self.page_hash
        query = query if query is not None else self.query_string()
        # A simulated student types in the server path's box: its link says so (the browser path, the default,
        # speaks to the server only on a pause: it is another scenario, whose tab has no such prefix)
        rs.query_string = "&".join(q for q in (self.path_query, query) if q)
        if fragment:
            rs.fragment_id, rs.is_auto_rerun = fragment, auto
        if json_trigger:
            ws = rs.widget_states.widgets.add()
            ws.id, ws.json_trigger_value = json_trigger
        for wid, (kind, value) in self.states.items():
            ws = rs.widget_states.widgets.add()
            ws.id = wid
            if kind.endswith("_array_value"):  # StringArray / DoubleArray messages
                getattr(ws, kind).data.extend(value)
            else:
                setattr(ws, kind, value)
        if trigger:
            ws = rs.widget_states.widgets.add()
            ws.id, ws.trigger_value = trigger, True
        self.finished.clear()
        self.before_send(msg)
        raw = msg.SerializeToString()
        self.bytes_out += len(raw)
        await self.ws.send(raw)

    def before_send(self, msg) -> None:
        """A last look at a BackMsg before it goes (a subclass adds what its browser would send)."""

    def query_string(self) -> str:
        return "&".join(
            f"{self.query_key[wid]}={quote(str(v))}" for wid, (_, v) in self.states.items() if wid in self.query_key
        )

    async def wait_finished(self, timeout: float) -> None:
        await asyncio.wait_for(self.finished.wait(), timeout)

    async def read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                self.bytes_in += len(raw)
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self.handle(msg)
        except Exception as e:  # the connection went: the typing loop sees ws is closed and reconnects
            if not isinstance(e, asyncio.CancelledError):
                self.rec.errors.append(f"{self.clock():.1f}s connection lost: {type(e).__name__}")
        finally:
            self.finished.set()

    def handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            run_fragments = set(msg.metadata.run.fragment_ids) if msg.metadata.HasField("run") else set()
            if msg.new_session.HasField("initialize") and msg.new_session.initialize.session_id:
                self.session_id = msg.new_session.initialize.session_id
            self.running = True
            # A run of the typed box's fragment redraws the bars (a keystroke there reruns only it): it shows keys
            # as a full run does.
            if not run_fragments or (self.watch and self.watch in run_fragments):
                self.titles, self.texts = [], []
                if not run_fragments:
                    self.seen = set()
                    self.fragments.clear()  # a full run re-registers the timers it still wants
                now = time.perf_counter()
                for k in self.rec.keys:
                    if k.latency is None and k.sent < now:
                        k.run_seen = True
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            ek = el.WhichOneof("type")
            e = getattr(el, ek)
            if ek == "exception":
                self.rec.errors.append(f"{self.clock():.1f}s exception on the page: {e.type}: {e.message[:160]}")
            elif ek == "plotly_chart":
                try:
                    title = (json.loads(e.spec).get("layout", {}).get("title") or {}).get("text") or ""
                except ValueError:
                    title = ""
                if title.startswith(BARS_TITLE):
                    self.titles.append(title)
                    if self.page in SHOWN_AT_BARS:  # key -> bars: the chart is on the student's screen now
                        self.resolve(time.perf_counter())
            elif ek == "bidi_component" and e.component_name == LIVE_COMPONENT:
                title = live_bars_title(e)
                if title.startswith(BARS_TITLE):  # the Real model's views, drawn in the browser from this data
                    self.titles.append(title)
                    if self.page in SHOWN_AT_BARS:
                        self.resolve(time.perf_counter())
            elif ek in ("markdown", "alert"):
                self.texts.append(e.body)
            if getattr(e, "id", "") and e.id not in self.owned:
                self.seen.add(e.id)
                if e.id not in self.states or getattr(e, "set_value", False):
                    value = widget_value(ek, e)
                    if value is not None:
                        self.states[e.id] = value
            elif getattr(e, "id", ""):
                self.seen.add(e.id)
            if getattr(e, "id", "") and msg.delta.fragment_id:
                self.widget_fragment[e.id] = msg.delta.fragment_id
            if getattr(e, "id", "") and getattr(e, "label", ""):
                self.widgets[e.label] = (ek, e.id)
                if getattr(e, "query_param_key", ""):
                    self.query_key[e.id] = e.query_param_key
        elif kind == "navigation" and msg.navigation.page_script_hash:
            self.page_hash = msg.navigation.page_script_hash  # the browser names its page by this from now on
        elif kind == "auto_rerun":
            self.fragments[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "script_finished":
            self.running = False
            self.last_status = msg.script_finished
            if msg.script_finished == msg.FINISHED_SUCCESSFULLY:
                self.resolve(time.perf_counter())
                # Widgets the page no longer draws are gone from the browser too.
                self.states = {k: v for k, v in self.states.items() if k in self.seen or k in self.owned}
            elif msg.script_finished == msg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and self.watch:
                self.resolve(time.perf_counter())
            elif msg.script_finished == msg.FINISHED_WITH_COMPILE_ERROR:
                self.rec.errors.append(f"{self.clock():.1f}s script compile error")
            if msg.script_finished != msg.FINISHED_EARLY_FOR_RERUN:
                self.finished.set()

    def resolve(self, now: float) -> None:
        """A complete run finished: the keys it shows are done. It shows key j when it started after key j was
        sent and its next-token chart names key j's last character; then every earlier key is shown too."""
        open_keys = [k for k in self.rec.keys if k.latency is None and k.run_seen]
        if not open_keys:
            return
        shown = {bars_char(t) for t in self.titles}
        for j in range(len(open_keys) - 1, -1, -1):
            want = open_keys[j].want if open_keys[j].want is not None else open_keys[j].text[-1:]
            if not self.titles or shown == {want}:
                for k in open_keys[: j + 1]:
                    k.latency = now - k.sent
                return

    def set_value(self, label: str, kind: str, value) -> str:
        """The student sets a widget (from now on only the student does)."""
        wid = self.widgets[label][1]
        self.states[wid] = (kind, value)
        self.owned.add(wid)
        return wid


# ---- what students do -------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _smollm2_tokenizer():
    """SmolLM2's tokenizer alone (from the app's safetensors cache), shaped like the LMBundle hf_lm.encode reads."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from models import hf_lm, hf_setup

    tok = AutoTokenizer.from_pretrained(hf_setup.bundled_cache_dir(), local_files_only=True)
    return SimpleNamespace(tokenizer=tok, block_size=hf_lm.MAX_TOKENS)


def real_last_token(text: str) -> str:
    """The token the Real model page's bars name for ``text``: the last one SmolLM2's tokenizer makes of it."""
    from models import hf_lm

    b = _smollm2_tokenizer()
    ids, _ = hf_lm.encode(b, text)
    return hf_lm.readable(b.tokenizer, ids[-1])


async def typist(
    base: str,
    rec: Record,
    page: str,
    rng: random.Random,
    clock,
    go: asyncio.Event,
    deadline,
    settle: float | None = None,
):
    """Types at a human pace; with ``settle``, like bench.latency instead: each key waits until the previous one
    is shown, then ``settle`` seconds of quiet (to compare with the browser benchmark, one student)."""
    tab = route_tab(base, rec, clock) if page == "real_model" else Tab(base, rec, page, clock)
    box = BOX.get(page, "Type a word")
    # Explore / Compare: random words, each typed from its first letter. Real model: the lecture sentence, again
    # and again, and each key's bars must name the sentence's last token (the model's own tokenizer says which).
    words = itertools.repeat(LECTURE) if page == "real_model" else itertools.cycle(class_words(rng))
    want = real_last_token if page == "real_model" else (lambda text: None)
    word = next(words)
    text = word[:1]
    route = None
    try:
        await tab.open(query="")
        route = ((getattr(tab, "data", None) or {}).get("route")) if page == "real_model" else None
        if route:  # served by serve.py: the component owns the box and asks GET /lm/views per key
            tab.routed = True
            want(text)  # the tokenizer loads once, before any key is timed
        elif box not in tab.widgets:
            rec.errors.append(f"no {box!r} box on the page")
            return
        else:
            tab.set_value(box, "string_value", text)  # the first letter, before the clock starts
            want(text)  # the Real model's tokenizer loads once, before any key is timed
            await tab.rerun()
            await tab.wait_finished(120)
        rec.backend = next(
            (c.split("=", 1)[1] for c in tab.cookies.split("; ") if c.startswith("attention_lab_backend=")), ""
        )
    except Exception as e:
        rec.errors.append(f"could not open {page}: {type(e).__name__}: {str(e)[:160]}")
        return
    finally:
        go["ready"] += 1
    await go["event"].wait()
    if route:
        await route_typist(tab, route, rec, rng, clock, deadline, word, words, want, settle)
        return
    pos = 1
    while time.perf_counter() < deadline():
        if not await reconnected(tab, rec, clock):
            continue
        if settle is not None:
            while rec.keys and rec.keys[-1].latency is None and time.perf_counter() - rec.keys[-1].sent < KEY_TIMEOUT_S:
                await asyncio.sleep(0.005)
            await asyncio.sleep(settle)
        else:
            await asyncio.sleep(1 / rng.uniform(3, 5))  # a human pace, 3-5 keys/s
        if pos >= len(word):  # next word: a short pause, then retype
            await asyncio.sleep(rng.uniform(0.5, 1.0))
            word, pos = next(words), 0
            text = ""
        text, pos = text + word[pos], pos + 1
        wid = tab.set_value(box, "string_value", text)
        rec.keys.append(Key(text, time.perf_counter(), want(text)))
        # A widget drawn inside an st.fragment: the browser asks for that fragment's rerun, not the page's.
        tab.watch = tab.widget_fragment.get(wid, "")
        try:
            await tab.rerun(fragment=tab.watch, auto=False)
        except Exception as e:
            rec.errors.append(f"{clock():.1f}s send failed: {type(e).__name__}")
        give_up_late(rec, clock)
    await last_keys(tab, rec)
    await tab.close()


# ---- the Real model served by serve.py: a key is one GET /lm/views, the text goes to Python at the pause ----------
def route_tab(base: str, rec: Record, clock) -> Tab:
    """The Real model's tab as the browser holds it (bench/browser_class.BrowserTab: the component's data and
    fragment, the cached messages, the URL the server set). Until the page shows it the route, it is the per-key
    path's tab (Tab's keys, resolved by the runs)."""
    from bench.browser_class import BrowserTab

    class RouteTab(BrowserTab):
        routed = False

        def resolve(self, now: float) -> None:
            if not self.routed:  # no route on the page (streamlit run app.py): the fragment reruns show keys
                Tab.resolve(self, now)

    tab = RouteTab(base, rec, "real_model", clock)
    tab.url_query = ""
    return tab


async def route_typist(tab, route: dict, rec: Record, rng, clock, deadline, word, words, want, settle) -> None:
    """What Chromium sends for the Real model on serve.py (ui/live/live.js ``askRoute`` and ``report``): per key,
    one ``GET /lm/views?…&text=…`` on the page's keep-alive HTTP connection with its cookies (nginx sends it to the
    process that drew the page, which registered the model's id), at most one at a time: a key typed while one is
    out waits for it, then the newest text goes (older ones are skipped, as the browser skips them). A key is shown
    when the response for its text (or a later one of the student's) arrives naming its last token (every response
    is drawn: one at a time, each is newer than the last). After 400 ms without a key (``PAUSE_MS``): one
    ``rerun_script`` of the component's fragment with its state ``{"view": {text, sides, …}}``, as ``report()``
    sets it."""
    from urllib.parse import urlencode

    from bench.browser_class import PAUSE_S, Http

    http = Http(tab.base)
    http.jar = dict(c.split("=", 1) for c in tab.cookies.split("; ") if "=" in c)
    st = {"text": word[:1], "busy": False, "again": False, "last_key": time.perf_counter(), "reported": word[:1]}
    tasks: set[asyncio.Task] = set()

    async def ask() -> None:
        st["busy"] = True
        try:
            while True:
                st["again"] = False
                text = st["text"]
                path = "/" + route["url"] + "?" + urlencode({**route["query"], "text": text})
                try:
                    status, body, _ = await http.get(path)
                except Exception as e:  # noqa: BLE001 (counted, as a browser's failed fetch shows a message)
                    rec.errors.append(f"{clock():.1f}s GET /lm/views failed: {type(e).__name__}")
                    status, body = None, b""
                now = time.perf_counter()
                if status == 200:
                    # the browser draws it: the newest answer there is, even when a newer text goes next
                    title = str(
                        ((json.loads(body).get("sides") or [{}])[0].get("capture") or {})
                        .get("bars", {})
                        .get("title", "")
                    )
                    open_keys = [k for k in rec.keys if k.latency is None]
                    j = max((i for i, k in enumerate(open_keys) if k.text == text), default=None)
                    if j is not None:
                        if bars_char(title) == open_keys[j].want:
                            for k in open_keys[: j + 1]:
                                k.latency = now - k.sent
                        else:
                            rec.errors.append(f"{clock():.1f}s /lm/views for {text!r} named {title!r}")
                elif status is not None:
                    rec.errors.append(f"{clock():.1f}s GET /lm/views {status}: {body[:120]!r}")
                if not st["again"] and st["text"] == text:
                    return
        finally:
            st["busy"] = False

    def key(text: str) -> None:
        st["text"], st["last_key"] = text, time.perf_counter()
        if st["busy"]:
            st["again"] = True
            return
        t = asyncio.create_task(ask())
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    async def pauser() -> None:  # live.js report(): the text to Python 400 ms after the last key
        while True:
            await asyncio.sleep(max(0.01, st["last_key"] + PAUSE_S - time.perf_counter()))
            if time.perf_counter() - st["last_key"] >= PAUSE_S and st["text"] != st["reported"]:
                st["reported"] = text = st["text"]
                sides = [
                    {"pattern": s.get("pattern"), "head": s.get("head", 0), "query": None, "bertviz_view": "head"}
                    for s in (tab.data or {}).get("sides", [])
                ]
                view = {"text": text, "sides": sides, **(sides[0] if sides else {})}
                tab.states[tab.component_id] = ("json_value", json.dumps({"view": view}, separators=(",", ":")))
                tab.owned.add(tab.component_id)
                try:
                    await tab.rerun(fragment=tab.component_fragment, auto=False)
                except Exception as e:  # noqa: BLE001
                    rec.errors.append(f"{clock():.1f}s pause send failed: {type(e).__name__}")

    pause_task = asyncio.create_task(pauser())
    text, pos = word[:1], 1
    try:
        while time.perf_counter() < deadline():
            if settle is not None:
                while (
                    rec.keys
                    and rec.keys[-1].latency is None
                    and time.perf_counter() - rec.keys[-1].sent < KEY_TIMEOUT_S
                ):
                    await asyncio.sleep(0.005)
                await asyncio.sleep(settle)
            else:
                await asyncio.sleep(1 / rng.uniform(3, 5))  # a human pace, 3-5 keys/s
            if pos >= len(word):  # next sentence: a short pause (the text goes to Python), then retype
                await asyncio.sleep(rng.uniform(0.5, 1.0))
                word, pos = next(words), 0
                text = ""
            text, pos = text + word[pos], pos + 1
            rec.keys.append(Key(text, time.perf_counter(), want(text)))
            key(text)
            give_up_late(rec, clock)
        await last_keys(tab, rec)
    finally:
        pause_task.cancel()
        for t in list(tasks):
            t.cancel()
        await http.close()
        await tab.close()


async def reconnected(tab: Tab, rec: Record, clock) -> bool:
    """A dropped connection is opened again to the same session, like the browser does; False (after a second)
    when that failed."""
    if tab.ws is not None and not tab.reader.done():
        return True
    rec.reconnects += 1
    try:
        await tab.close()
        await tab.open(reuse_session=True)
        return True
    except Exception as e:
        rec.errors.append(f"{clock():.1f}s reconnect failed: {type(e).__name__}")
        await asyncio.sleep(1)
        return False


def give_up_late(rec: Record, clock, what: str = "key -> {!r} not shown") -> None:
    """Keys waiting longer than the timeout are errors, counted in the percentiles as "longer than the timeout"."""
    for k in rec.keys:
        if k.latency is None and time.perf_counter() - k.sent > KEY_TIMEOUT_S:
            rec.errors.append(f"{clock():.1f}s {what.format(k.text)} within {KEY_TIMEOUT_S} s")
            k.latency = float("inf")


async def last_keys(tab: Tab, rec: Record, what: str = "key -> {!r} not shown") -> None:
    """The last keys get their chance to show (until the timeout); the rest are errors."""
    end = time.perf_counter() + KEY_TIMEOUT_S
    while any(k.latency is None for k in rec.keys) and time.perf_counter() < end and not tab.reader.done():
        await asyncio.sleep(0.05)
    for k in rec.keys:
        if k.latency is None:
            rec.errors.append(f"{what.format(k.text)} within {KEY_TIMEOUT_S} s of the end")
            k.latency = float("inf")


async def trainer(base: str, rec: Record, i: int, epochs: int, clock, go, deadline, leave_after: float | None = None):
    """Opens Train, presses Train, keeps the progress fragment polling; starts again when a run ends; leaves
    mid-run (abruptly) at the deadline or after ``leave_after`` seconds."""
    tab = Tab(base, rec, "train", clock)
    runs = 0
    try:
        await tab.open()
    except Exception as e:
        rec.errors.append(f"could not open Train: {type(e).__name__}: {str(e)[:160]}")
        go["ready"] += 1
        return
    go["ready"] += 1
    await go["event"].wait()
    t_go = time.perf_counter()
    stop_at = (lambda: t_go + leave_after) if leave_after else deadline
    try:
        while time.perf_counter() < stop_at():
            name = f"classroom-{i}-{int(time.time()) % 100000}-{runs}"
            tab.set_value("Epochs", "double_value", float(epochs))
            tab.set_value("Name for the result", "string_value", name)
            await tab.rerun()
            await tab.wait_finished(60)
            if "Train" not in tab.widgets:
                rec.errors.append(f"{clock():.1f}s no Train button")
                return
            await tab.rerun(trigger=tab.widgets["Train"][1])
            await tab.wait_finished(60)
            runs += 1
            rec.notes.append(f"run {name} started at {clock():.1f}s")
            # The page's own timer: the progress fragment asks (auto_rerun) to be rerun every second while the job
            # runs; the browser does that, so we do. A full run (the job ended) shows the result.
            while time.perf_counter() < stop_at():
                if any("is saved and is now in every page" in t for t in tab.texts):
                    rec.notes.append(f"run {name} published at {clock():.1f}s")
                    break
                if tab.fragments and not tab.running:
                    fid, interval = next(iter(tab.fragments.items()))
                    await asyncio.sleep(interval)
                    if fid in tab.fragments and not tab.running:
                        await tab.rerun(fragment=fid)
                        await tab.wait_finished(60)
                else:
                    await asyncio.sleep(0.1)
            else:
                break
            if "Train another model" in tab.widgets:
                tab.states.pop(tab.widgets["Train"][1], None)
                await tab.rerun(trigger=tab.widgets["Train another model"][1])
                await tab.wait_finished(60)
    except Exception as e:
        rec.errors.append(f"{clock():.1f}s trainer: {type(e).__name__}: {str(e)[:160]}")
    finally:
        rec.notes.append(f"left at {clock():.1f}s after {runs} run(s)")
        await tab.close(abrupt=True)  # a tab closed mid-run: the server must stop that job


# ---- faults -------------------------------------------------------------------------------------------------------
async def reconnect_storm(base: str, rec: Record, clock, n: int):
    """One student's connection drops n times in a row; each time it reconnects to its session (the session id
    in the subprotocol, as the browser does), types one more letter and must see it."""
    tab = Tab(base, rec, "explore", clock)
    ok, text = 0, "ba"
    try:
        await tab.open(query=f"text={text}")
        for i in range(n):
            await tab.close(abrupt=True)
            await tab.open(reuse_session=True, rerun=False)  # back to its session; the next key reruns
            rec.reconnects += 1
            text = "ba" + "tn"[i % 2]
            tab.set_value("Type a word", "string_value", text)
            rec.keys.append(Key(text, time.perf_counter()))
            await tab.rerun()
            await tab.wait_finished(KEY_TIMEOUT_S)
            k = rec.keys[-1]
            if k.latency is not None:
                ok += 1
    except Exception as e:
        rec.errors.append(f"{clock():.1f}s reconnect storm: {type(e).__name__}: {str(e)[:160]}")
    finally:
        await tab.close()
    rec.notes.append(f"{n} reconnects in a row to the same session: {ok} saw their new letter")
    return ok


def _raw_ws(host: str, port: int, cookies: str) -> socket.socket:
    import base64

    s = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n"
            + (f"Cookie: {cookies}\r\n" if cookies else "")
            + "\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return s


def _frame(payload: bytes, declared: int | None = None) -> bytes:
    """A masked binary WebSocket frame; ``declared`` > len(payload) makes a frame cut off mid-message."""
    n = declared if declared is not None else len(payload)
    head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def broken_clients(base: str, rec: Record, clock, n: int = 10) -> None:
    """n clients that disconnect in the middle of a message (a frame announcing 2000 bytes, 60 sent), and one that
    sends a whole frame that is not a BackMsg (the server must close that connection only)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    u = urlparse(base)
    msg = BackMsg()
    msg.rerun_script.query_string = "text=mid"
    whole = msg.SerializeToString()

    def run():
        cut = 0
        for _ in range(n):
            s = _raw_ws(u.hostname, u.port, "")
            s.sendall(_frame((whole * 100)[:60], declared=2000))
            s.close()
            cut += 1
        s = _raw_ws(u.hostname, u.port, "")
        s.sendall(_frame(b"\xff\xfe not a protobuf \x00" * 3))
        s.settimeout(10)
        try:
            closed = s.recv(64)  # the server's close frame (1002), or EOF
        except OSError:
            closed = b""
        s.close()
        return cut, closed

    try:
        cut, closed = await asyncio.to_thread(run)
        code = int.from_bytes(closed[2:4], "big") if len(closed) >= 4 and closed[0] & 0x0F == 8 else None
        rec.notes.append(
            f"{cut} clients cut off mid-message; a non-BackMsg frame was answered with "
            + (f"close code {code}" if code else "the connection closed")
        )
    except Exception as e:
        rec.errors.append(f"{clock():.1f}s broken clients: {type(e).__name__}: {str(e)[:160]}")


# ---- the servers' memory and CPU ---------------------------------------------------------------------------------
def tree_usage(pids: list[int]) -> tuple[float, float]:
    """(RSS MiB, CPU s) of the server processes and their children (training workers included)."""
    import psutil

    rss = cpu = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for p in [root] + root.children(recursive=True):
                try:
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    cpu += t.user + t.system
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
    return rss / 2**20, cpu


async def sampler(pids: list[int], stop: asyncio.Event, out: list, clock) -> None:
    while not stop.is_set():
        rss, cpu = await asyncio.to_thread(tree_usage, pids)
        out.append((clock(), rss, cpu))
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


# ---- one run ------------------------------------------------------------------------------------------------------
@dataclass
class RunSpec:
    students: int
    train: int
    processes: int
    seconds: float
    pages: tuple[str, ...]
    faults: bool
    epochs: int
    reconnects: int = 100
    settle: float | None = None


async def drive(base: str, pids: list[int], spec: RunSpec, seed: int, ckpt_dir: Path | None, kill=None) -> dict:
    """``kill``: with --faults and several processes, a function that kills one backend (kill -9) and returns its
    name; it is called halfway through the typing."""
    t0 = time.perf_counter()
    clock = lambda: time.perf_counter() - t0  # noqa: E731
    go = {"ready": 0, "event": asyncio.Event()}
    deadline = {"t": float("inf")}
    recs, tasks = [], []
    for i in range(spec.students):
        page = spec.pages[i % len(spec.pages)]
        rec = Record(f"s{i}", page)
        recs.append(rec)
        tasks.append(
            asyncio.create_task(
                typist(base, rec, page, random.Random(seed * 1000 + i), clock, go, lambda: deadline["t"], spec.settle)
            )
        )
    for i in range(spec.train):
        rec = Record(f"t{i}", "train")
        recs.append(rec)
        tasks.append(asyncio.create_task(trainer(base, rec, i, spec.epochs, clock, go, lambda: deadline["t"])))
    samples, stop = [], asyncio.Event()
    samp = asyncio.create_task(sampler(pids, stop, samples, clock))
    n_ready = spec.students + spec.train
    open_s, t_go = await start_together(
        go, deadline, n=n_ready, clock=clock, limit=240, settle=1.0, seconds=spec.seconds
    )
    faults = []
    killed = {}
    if spec.faults and kill is not None:

        async def killer():
            await asyncio.sleep(spec.seconds / 2)
            killed.update(t=time.perf_counter(), at=clock(), name=kill())

        kill_task = asyncio.create_task(killer())
    if spec.faults:
        await asyncio.sleep(min(5.0, spec.seconds / 4))
        storm, broken, leaver = Record("f-reconnect", "fault"), Record("f-broken", "fault"), Record("f-leaver", "fault")
        faults = [storm, broken, leaver]
        lgo = {"ready": 0, "event": go["event"]}
        await asyncio.gather(
            reconnect_storm(base, storm, clock, spec.reconnects),
            broken_clients(base, broken, clock),
            trainer(base, leaver, 99, 200, clock, lgo, lambda: deadline["t"], leave_after=3.0),
        )
    await asyncio.gather(*tasks)
    if spec.faults and kill is not None:
        await kill_task
    t_end = clock()
    stop.set()
    await samp
    if faults and ckpt_dir is not None:
        await asyncio.sleep(3)  # the left job notices its session is gone after its epoch
        faults[2].notes.append(left_job_result(ckpt_dir))
    return {
        "recs": recs,
        "faults": faults,
        "samples": samples,
        "open_s": open_s,
        "t_go": t_go,
        "t_end": t_end,
        "killed": killed,
    }


def kill_result(res: dict) -> str | None:
    """What the students of a killed backend lived through: keys lost (never shown), and how long from the kill
    until their page showed a key again."""
    k = res.get("killed") or {}
    if not k:
        return None
    typing = [r for r in res["recs"] if r.kind != "train"]
    hit = [r for r in typing if r.backend == k["name"]]
    rest = [r for r in typing if r.backend != k["name"]]
    waits, lost, typed = [], 0, 0
    for r in hit:
        after = [x for x in r.keys if x.sent + (x.latency or 0) >= k["t"] - 0.5]
        typed += len(after)
        lost += sum(1 for x in after if x.latency in (None, float("inf")))
        shown = sorted(
            x.sent + x.latency for x in r.keys if x.latency not in (None, float("inf")) and x.sent + x.latency > k["t"]
        )
        if shown:
            waits.append(shown[0] - k["t"])
    others = [e for r in rest for e in r.errors]
    w = (
        f"waited p50 {pctl(waits, 50):.1f} s, max {max(waits):.1f} s until their page showed a key again"
        if waits
        else "none showed a key again"
    )
    return (
        f"kill -9 of {k['name']} at {k['at']:.0f} s: {len(hit)} of {len(typing)} typing students were on it; "
        f"they {w} ({sum(r.reconnects for r in hit)} reconnects); keys lost (never shown): {lost} of {typed} "
        f"they typed from the kill on; errors of the other students: {len(others)}"
    )


def left_job_result(ckpt_dir: Path) -> str:
    """What the job of the trainer that left became: a checkpoint that loads, or nothing written."""
    from models.checkpoint import load_checkpoint

    files = sorted(ckpt_dir.glob("classroom-99-*.pt"))
    if not files:
        return "its job stopped; nothing was published (no file, nothing half-written)"
    out = []
    for f in files:
        try:
            load_checkpoint(f)
            out.append(f"{f.name} loads")
        except Exception as e:  # a broken file is the finding, not a crash of the bench
            out.append(f"{f.name} does NOT load: {e}")
    tmp = list(ckpt_dir.glob("*.tmp*"))
    return "its job published its best epoch: " + ", ".join(out) + (f"; {len(tmp)} temp file(s) left" if tmp else "")


def serve(spec: RunSpec, url: str | None, ckpt_dir: Path):
    """A context manager giving (base url, server pids): ours (services.classroom), or the one at --url."""
    import contextlib

    if url:

        @contextlib.contextmanager
        def given():
            import psutil

            port = urlparse(url).port
            pids = sorted(
                {
                    c.pid
                    for c in psutil.net_connections("tcp")
                    if c.laddr and c.laddr.port == port and c.status == "LISTEN" and c.pid
                }
            )
            yield url, pids, None, None

        return given()
    from services.classroom import Classroom

    @contextlib.contextmanager
    def ours():
        # debug: the process cookie names the process, so the students of a killed one can be told apart.
        with Classroom(processes=spec.processes, user_ckpt_dir=ckpt_dir, nginx=spec.processes > 1, debug=True) as room:

            def kill() -> str:
                b = room.backends[0]
                os.kill(b.proc.pid, signal.SIGKILL)
                return b.name

            yield room.url, room.pids(), (kill if spec.faults and spec.processes > 1 else None), room

    return ours()


def summarise(spec: RunSpec, res: dict) -> tuple[tuple, list[str]]:
    typing = [r for r in res["recs"] if r.kind != "train"]
    # Keys never shown count as "longer than the timeout" (inf), so a starved class reads as such, not as nan.
    lat = [k.latency * 1000 for r in typing for k in r.keys if k.latency is not None]
    shown = [x for x in lat if x <= KEY_TIMEOUT_S * 1000]
    keys = sum(len(r.keys) for r in typing)
    errors = [e for r in res["recs"] for e in r.errors]
    errors += [f"a key shown only after {x / 1000:.1f} s" for x in lat if KEY_TIMEOUT_S * 1000 < x < float("inf")]
    reconnects = sum(r.reconnects for r in res["recs"])
    s = [x for x in res["samples"] if res["t_go"] <= x[0] <= res["t_end"]] or res["samples"]
    rss = [x[1] for x in s]
    tenth = max(1, len(rss) // 10)
    first, last = (pctl(rss[:tenth], 50), pctl(rss[-tenth:], 50)) if rss else (float("nan"),) * 2
    drift = (last - first) / first * 100 if rss and first else float("nan")
    cpu_s = (s[-1][2] - s[0][2]) if len(s) > 1 else float("nan")
    wall = (s[-1][0] - s[0][0]) if len(s) > 1 else float("nan")
    cores = os.cpu_count() or 1
    p95 = pctl(lat, 95)
    met = bool(lat) and p95 <= TARGET_P95_MS and not errors
    ms = lambda x: "—" if x != x else (f"> {KEY_TIMEOUT_S * 1000}" if x == float("inf") else f"{x:.0f}")  # noqa: E731
    row = (
        spec.processes,
        spec.students,
        spec.train,
        f"{spec.seconds:.0f}",
        keys,
        len(shown),
        ms(pctl(lat, 50)),
        ms(p95),
        ms(max(lat)) if lat else "—",
        len(errors),
        reconnects,
        f"{first:.0f} → {last:.0f} ({drift:+.0f} %)" if rss else "—",
        f"{max(rss):.0f}" if rss else "—",
        f"{cpu_s / wall * 100:.0f} %" if wall == wall and wall else "—",
        f"{cpu_s * 1000 / keys:.0f}" if keys and cpu_s == cpu_s else "—",  # trainers' CPU included
        f"{spec.students / cores:.1f}" if met else "—",
        "met" if met else "NOT met",
    )
    notes = []
    if s:
        step = max(1, len(s) // 12)
        notes.append(
            f"servers over time ({spec.processes} process(es); s since start: RSS MiB / CPU % of one core): "
            + " ".join(
                f"{t:.0f}s:{m:.0f}/{(c2 - c1) / (t2 - t1) * 100:.0f}%"
                for (t1, _, c1), (t, m, c2), (t2, _, _) in zip(s[::step], s[step::step], s[step::step])
                if t2 > t1
            )
        )
    opens = [r.open_s for r in res["recs"] if r.open_s is not None]
    if opens:
        notes.append(
            f"opening the class took {res['open_s']:.1f} s (first page view per student p50 "
            f"{pctl(opens, 50):.1f} s, max {max(opens):.1f} s)"
        )
    for r in res["recs"]:
        if r.kind == "train":
            notes.append(
                f"trainer {r.name}: " + "; ".join(r.notes[-6:]) + (f"; errors: {r.errors[:2]}" if r.errors else "")
            )
    if kill_result(res):
        notes.append("fault backend killed: " + kill_result(res))
    for r in res["faults"]:
        notes.append(f"fault {r.name}: " + "; ".join(r.notes) + (f"; errors: {r.errors[:3]}" if r.errors else ""))
    if errors:
        notes.append("errors (first 5): " + "; ".join(errors[:5]))
    by_page = {
        p: [k.latency * 1000 for r in typing if r.kind == p for k in r.keys if k.latency is not None]
        for p in spec.pages
    }
    notes.append(
        "by page: "
        + ", ".join(
            f"{p} p50 {ms(pctl(v, 50))} / p95 {ms(pctl(v, 95))} ms (n={len(v)})" for p, v in by_page.items() if v
        )
    )
    return row, notes


HEAD = (
    "processes",
    "students typing",
    "training",
    "s",
    "keys",
    f"shown <= {KEY_TIMEOUT_S} s",
    "p50 ms",
    "p95 ms",
    "max ms",
    "errors",
    "reconnects",
    "RSS MiB first → last 10 % (drift)",
    "RSS max MiB",
    "server CPU",
    "server CPU ms per key",
    "students per core (if met)",
    f"target (p95 <= {TARGET_P95_MS} ms, 0 errors)",
)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--class" in argv:  # the class-session scenario (bench/class_session.py): its own options
        from bench.class_session import main as class_main

        return class_main([a for a in argv if a != "--class"])
    if "--browser-path" in argv:  # a class on the browser path (bench/browser_class.py): its own options
        from bench.browser_class import main as browser_main

        return browser_main([a for a in argv if a != "--browser-path"])
    ap = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, nargs="+", default=[3], help="students typing (several: one run each)")
    ap.add_argument("--train", type=int, nargs="+", default=[0], help="students training at the same time")
    ap.add_argument("--processes", type=int, nargs="+", default=[1], help="Streamlit processes (>1: behind nginx)")
    ap.add_argument("--seconds", type=float, default=20, help="typing time per run")
    ap.add_argument("--pages", nargs="+", choices=sorted(PAGES), default=["explore", "compare"])
    ap.add_argument("--epochs", type=int, default=200, help="epochs each training student asks for")
    ap.add_argument("--faults", action="store_true", help="reconnect storm, cut-off messages, a tab closed mid-run")
    ap.add_argument("--reconnects", type=int, default=100, help="--faults: reconnects in a row (at most 200)")
    ap.add_argument(
        "--one-at-a-time",
        type=float,
        metavar="SETTLE_S",
        default=None,
        help="type like bench.latency: wait for each key to show, then SETTLE_S s (browser check)",
    )
    ap.add_argument("--url", help="drive this server (localhost only) instead of starting our own")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-append", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    url = check_local(args.url) if args.url else None

    def interrupted(*_):
        raise KeyboardInterrupt  # unwinds through `with Classroom`, which stops the servers it started

    signal.signal(signal.SIGTERM, interrupted)
    combos = list(itertools.product(args.processes, args.train, args.students))
    if len(combos) > MAX_RUNS:
        raise SystemExit(f"{len(combos)} runs asked; at most {MAX_RUNS}")
    if url and len(args.processes) > 1:
        raise SystemExit("--url drives one given server: --processes does not apply")
    seconds = max(5.0, min(args.seconds, MAX_SECONDS))
    rows, notes = [], []
    for processes, train, students in combos:
        spec = RunSpec(
            max(0, min(students, MAX_STUDENTS)),
            max(0, min(train, 8)),
            processes,
            seconds,
            tuple(args.pages),
            args.faults,
            args.epochs,
            max(1, min(args.reconnects, 200)),
            args.one_at_a_time,
        )
        with tempfile.TemporaryDirectory(prefix="attention-lab-classroom-ckpt-") as ckpt:
            with serve(spec, url, Path(ckpt)) as (base, pids, kill, room):
                res = asyncio.run(
                    asyncio.wait_for(
                        drive(base, pids, spec, args.seed, None if url else Path(ckpt), kill=kill),
                        timeout=spec.seconds + 600,
                    )
                )
                if room is not None and res.get("killed"):
                    t0 = time.time() - (time.perf_counter() - res["killed"]["t"])
                    res["supervisor"] = [f"+{t - t0:.1f} s {e}" for t, e in room.events]
        row, n = summarise(spec, res)
        if res.get("supervisor"):
            n.append("supervisor log (from the kill): " + "; ".join(res["supervisor"]))
        rows.append(row)
        notes += [f"{processes} proc · {students} typing · {train} training: {x}" for x in n]
        print(md_table(HEAD, [row]), flush=True)
    table = md_table(HEAD, rows)
    cores = os.cpu_count() or 1
    met = [(int(r[0]), int(r[1])) for r in rows if r[-1] == "met"]
    best = {}
    for p, s in met:
        best[p] = max(best.get(p, 0), s)
    if best:
        notes.append(
            "largest class with p95 <= 500 ms and 0 errors here: "
            + ", ".join(f"{p} process(es): {s} students = {s / cores:.1f} per core" for p, s in sorted(best.items()))
        )
    report(
        "classroom (simulated students, Streamlit's WebSocket protocol)",
        "python -m bench.classroom",
        argv,
        table,
        notes,
        append=not args.no_append,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
