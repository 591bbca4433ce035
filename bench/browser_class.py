"""A class on the browser path (issue 24): N simulated students on Explore with ``?browser=1``, each sending the
server what the real page sends, checked against a real Chromium session's WebSocket traffic.

``python -m bench.classroom --browser-path [--students 300] [--open 40] [--open-within 20] [--arrive 60]
[--seconds 60] [--look 3 8] [--processes 1 4] [--no-browser-check] [--no-append]``
(or ``python -m bench.browser_class ...``); ``--per-pause N``: instead of a class, the server CPU one pause costs
(one student, N pauses one after another on one process; whole-page and fragment runs counted).

What one simulated student does (ui/live/live.js is the page it stands in for):

- **Page load**, once per student, as a browser with an empty cache: GET of ``/?browser=1``, ``/_stcore/health``,
  ``/_stcore/host-config`` and the static files Chromium fetched when it opened the same page in the check below
  (Streamlit's JS and CSS chunks, fonts, the favicon; without the check: the files index.html names), over
  keep-alive HTTP/1.1 with at most 6 connections at a time (Chromium's limit per host), from the student's own
  loopback address (127.0.x.y, so nginx's per-address limits see a class, not one machine). Then the WebSocket and
  one ``rerun_script`` with ``browser=1``; once that run has drawn the component, the weights file(s) and d3/jQuery
  that the component's data names, fetched as live.js and BertViz's template do. **Interactive** = that run
  finished and those files are in: the first render with the component's data, ready to draw.
- **Typing**: words from data/words.txt at 3-5 keys/s (one word in five with a 0.5-1.2 s hesitation inside), then
  ``--look`` seconds looking at the views before the next word is typed over it. Per key: nothing (the page
  computes). When 400 ms pass without a key (live.js ``PAUSE_MS``): one ``rerun_script`` with every widget's state
  as the browser holds it (the empty file uploader included), the component's state ``{"view": {text, sides,
  pattern, head, query, bertviz_view}}`` as live.js ``report()`` sets it, the query string the server last gave
  the URL, the hashes of the cached messages, and the id of the fragment the component is drawn in (its
  ``fragment_id``, not a timer's: the server reruns that fragment only, ui/live_views.py). A pause is
  **answered** when a complete run (the page's or the fragment's) shows the component with that word (its data's
  ``text``) or a later one of the student's (a newer pause supersedes a run in progress, in the browser too); one
  not answered within 15 s is **dropped**.

Not simulated: navigation to other pages (the sidebar's links drop ``?browser=1``, so Compare opens on its server
path), locks, exports; the page's own JavaScript time (Chromium's page load -> first drawing is printed beside).

Reported: the Chromium check (BackMsgs sent over a typed burst and a pause, by kind and content, next to the
simulated student's; page weight); the class opening (p95 time to interactive of ``--open`` students arriving
within ``--open-within`` s, target <= 5 s); the class typing (pauses answered and dropped, pause -> run shown, server
CPU as % of one core over the typing, target <= 50 % with nothing dropped); bytes per student over HTTP and the
WebSocket. Bounded: at most 400 students, 600 s of typing, localhost only. Targets printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import random
import re
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

from bench.classroom import (
    KEY_TIMEOUT_S,
    Key,
    Record,
    RunSpec,
    Tab,
    check_local,
    class_words,
    give_up_late,
    last_keys,
    reconnected,
    sampler,
    serve,
)
from bench.common import (
    append_results,
    guard_offline,
    launch_chromium,
    machine_info,
    md_table,
    pctl,
    start_together,
)

MAX_STUDENTS, MAX_SECONDS = 400, 600
PAUSE_S = 0.4  # ui/live/live.js PAUSE_MS: the word goes to the server this long after the last key
PAGE_QUERY = "browser=1"
HTTP_CONNECTIONS = 6  # Chromium's connections per host over HTTP/1.1
TARGETS = {"cpu": 50.0, "open_p95": 5.0}
CHECK_BURSTS = ("capy", "bara")  # the check types these at 4 keys/s, each followed by a 1.5 s pause
CHECK_GAP_S, CHECK_PAUSE_S = 0.25, 1.5
NOT_ANSWERED = "pause -> {!r} not answered"


# ---- the browser's HTTP ------------------------------------------------------------------------------------------
class Http:
    """A browser's HTTP/1.1 to one origin: keep-alive connections (at most ``HTTP_CONNECTIONS`` at a time) from one
    source address, a cookie jar, and the bytes received (headers and bodies as they came over the wire)."""

    def __init__(self, base: str, local_host: str | None = None):
        u = urlparse(base)
        self.host, self.port, self.local = u.hostname, u.port, local_host
        self.idle: list = []
        self.slots = asyncio.Semaphore(HTTP_CONNECTIONS)
        self.jar: dict[str, str] = {}
        self.bytes_in = 0

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    async def get(self, path: str) -> tuple[int, bytes, int]:
        """(status, body decoded, bytes received). A kept-alive connection the server has closed meanwhile (uvicorn
        closes one idle for 5 s) is retried once on a new one, as browsers do."""
        async with self.slots:
            if self.idle:
                try:
                    return await self._get(path, *self.idle.pop())
                except ConnectionResetError:
                    pass
            conn = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.local, 0) if self.local else None
            )
            return await self._get(path, *conn, fresh=True)

    async def _get(self, path: str, reader, writer, fresh: bool = False) -> tuple[int, bytes, int]:
        try:
            head = (
                f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept-Encoding: gzip, deflate\r\n"
                "Connection: keep-alive\r\n" + (f"Cookie: {self.cookie_header()}\r\n" if self.jar else "") + "\r\n"
            )
            writer.write(head.encode())
            await writer.drain()
            raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            lines = raw_head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.lower() == "set-cookie":
                    name, _, value = v.strip().split(";", 1)[0].partition("=")
                    self.jar.setdefault(name, value)  # the first answer's choice (nginx's process) is kept
                headers[k.strip().lower()] = v.strip()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
                wire = len(body)
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body, wire = b"", 0
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    chunk = await reader.readexactly(size + 2)
                    body, wire = body + chunk[:-2], wire + len(size_line) + len(chunk)
                    if size == 0:  # the last chunk (no trailers from these servers)
                        break
            else:
                body = await reader.read()
                wire = len(body)
            got = len(raw_head) + wire
            self.bytes_in += got
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if headers.get("connection", "").lower() == "close":
                writer.close()
            else:
                self.idle.append((reader, writer))
            return status, body, got
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            IndexError,
        ) as e:
            writer.close()
            if (
                not fresh
                and isinstance(e, (asyncio.IncompleteReadError, ConnectionError))
                and not getattr(e, "partial", b"")
            ):
                raise ConnectionResetError("a kept-alive connection was closed") from e
            raise ConnectionError(f"GET {path}: {type(e).__name__}: {e}") from e
        except BaseException:
            writer.close()
            raise

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def shell_assets(html: bytes) -> list[str]:
    """The files index.html names (its scripts, style sheets, preloads): the page shell without Chromium's list."""
    return sorted(
        {
            m
            for m in re.findall(rb'(?:src|href)="(\./static/[^"]+|/static/[^"]+|\./favicon[^"]*)"', html)
            for m in [m.decode().lstrip(".")]
        }
    )


# ---- one student's tab -------------------------------------------------------------------------------------------
class BrowserTab(Tab):
    """Explore with ``?browser=1`` as the browser holds it: the URL the server last set, the component's data (the
    word it shows, its weights files), the cached messages the browser reports, the file uploader's empty state, and
    the fragment the component is drawn in: its state change reruns that fragment only, as the browser asks."""

    path_query = ""  # the link is the page's own (Tab's default prefixes the server path's ?browser=0)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.url_query = PAGE_QUERY
        self.component_id = ""
        self.component_fragment = ""  # the fragment id the component's element came in ("" in the page's body)
        self.data: dict | None = None  # the component's data in the last complete run
        self.run_data: dict | None = None  # ... in the run in progress
        self.uploaders: set[str] = set()
        self.cache: dict[str, tuple[object, int]] = {}  # hash -> (ForwardMsg, the run it was last seen in)
        self.runs = 0  # whole-page runs started
        self.fragment_runs = 0  # fragment runs started
        self.sent = 0  # BackMsgs sent
        self.sent_log: list[tuple[float, object]] | None = None  # (time, BackMsg) when the check records

    def query_string(self) -> str:
        return self.url_query

    def handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":  # a message the browser said it has: the cached copy, as it is
            held = self.cache.get(msg.ref_hash)
            if held is None:
                self.rec.errors.append(f"{self.clock():.1f}s a reference to a message never cached")
                return
            full = type(msg)()
            full.CopyFrom(held[0])
            full.metadata.CopyFrom(msg.metadata)
            self.cache[msg.ref_hash] = (held[0], self.runs)
            msg, kind = full, full.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = (msg, self.runs)
        if kind == "new_session":
            if msg.metadata.HasField("run") and msg.metadata.run.fragment_ids:
                self.fragment_runs += 1
                # A fragment's run answers the pauses sent before it, as a full run does (Tab marks those only)
                now = time.perf_counter()
                for k in self.rec.keys:
                    if k.latency is None and k.sent < now:
                        k.run_seen = True
            else:
                self.runs += 1
                self.run_data = None
        elif kind == "page_info_changed":
            self.url_query = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            ek = el.WhichOneof("type")
            if ek == "bidi_component" and el.bidi_component.WhichOneof("data") == "json":
                self.component_id = el.bidi_component.id
                self.component_fragment = msg.delta.fragment_id
                self.run_data = json.loads(el.bidi_component.json)
            elif ek == "file_uploader":
                self.uploaders.add(el.file_uploader.id)
        elif kind == "script_finished" and msg.script_finished in (
            msg.FINISHED_SUCCESSFULLY,
            msg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
        ):
            self.data = self.run_data
            if msg.script_finished == msg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.resolve(time.perf_counter())  # Tab resolves on a full run's end only
        super().handle(msg)

    def resolve(self, now: float) -> None:
        """A complete run answers the student's pauses up to the one whose word its component shows."""
        open_keys = [k for k in self.rec.keys if k.latency is None and k.run_seen]
        shown = (self.run_data or {}).get("text")
        for j in range(len(open_keys) - 1, -1, -1):
            if open_keys[j].text == shown:
                for k in open_keys[: j + 1]:
                    k.latency = now - k.sent
                return

    def before_send(self, msg) -> None:
        rs = msg.rerun_script
        listed = {w.id for w in rs.widget_states.widgets}
        for wid in sorted(self.uploaders - listed):
            rs.widget_states.widgets.add(id=wid).file_uploader_state_value.SetInParent()
        # The browser keeps a cached message while a recent run used it (Streamlit's ForwardMsgCache).
        self.cache = {h: v for h, v in self.cache.items() if self.runs - v[1] < 2}
        rs.cached_message_hashes.extend(sorted(self.cache))
        self.sent += 1
        if self.sent_log is not None:
            copy = type(msg)()
            copy.CopyFrom(msg)
            self.sent_log.append((time.perf_counter(), copy))

    async def report(self, text: str) -> None:
        """live.js report(): the word and the views' choices, after the pause; a component drawn inside a fragment
        reruns that fragment (the browser's ``rerun_script`` names it, not a timer's: ``is_auto_rerun`` false)."""
        sides = [
            {
                "pattern": s.get("pattern"),
                "head": 0,
                "query": None,
                "bertviz_view": "model" if s.get("bertviz_model") and s.get("bertviz_view") == "model" else "head",
            }
            for s in (self.data or {}).get("sides", [])
        ]
        view = {"text": text, "sides": sides, **(sides[0] if sides else {})}
        self.states[self.component_id] = ("json_value", json.dumps({"view": view}, separators=(",", ":")))
        self.owned.add(self.component_id)
        self.rec.keys.append(Key(text, time.perf_counter()))
        await self.rerun(fragment=self.component_fragment, auto=False)


@dataclass
class Student:
    rec: Record
    arrive_at: float
    tab: BrowserTab | None = None
    http: Http | None = None
    interactive_s: float | None = None
    bytes: dict = field(default_factory=dict)  # part -> bytes received on page load


def source_address(i: int) -> str:
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


async def page_load(st: Student, base: str, assets: list[str], clock, local: str | None, sent_log=None) -> None:
    """What Chromium does to open Explore on the browser path, up to its first drawing (see the docstring).
    ``sent_log``: a list that gets every BackMsg the tab sends (the check)."""
    t0 = time.perf_counter()
    http = st.http = Http(base, local)
    status, html, got = await http.get("/?" + PAGE_QUERY)
    if status != 200:
        raise RuntimeError(f"the page answered HTTP {status}")
    files = assets or shell_assets(html)
    got_files = await asyncio.gather(*(http.get(p) for p in ["/_stcore/health", "/_stcore/host-config", *files]))
    bad = [(p, s) for p, (s, _, _) in zip(files, got_files[2:]) if s != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} static file(s) not served: {bad[:3]}")
    st.bytes = {"HTML": got, "Streamlit's JS, CSS, fonts": sum(g for _, _, g in got_files)}
    tab = st.tab = BrowserTab(base, st.rec, "explore", clock)
    tab.ws_options = {"local_addr": (local, 0)} if local else {}
    tab.sent_log = sent_log
    tab.cookies = http.cookie_header()
    await tab.open(query=PAGE_QUERY, timeout=120)
    data = tab.data
    if not data or not data.get("sides"):
        raise RuntimeError("no browser-path component on the page")
    weights = [s["weights"] for s in data["sides"]]
    module = [data["module"]] if data.get("module") else []  # the view module (forward.js + live.js)
    vendor = list(data.get("vendor") or [])
    files = weights + module + vendor
    got_files = await asyncio.gather(*(http.get("/" + p.lstrip("/")) for p in files))
    bad = [p for p, (s, _, _) in zip(files, got_files) if s != 200]
    if bad:
        raise RuntimeError(f"not served: {bad}")
    n_w, n_m = len(weights), len(module)
    st.bytes["weights"] = sum(g for _, _, g in got_files[:n_w])
    st.bytes["view module (JS)"] = sum(g for _, _, g in got_files[n_w : n_w + n_m])
    st.bytes["d3 + jQuery"] = sum(g for _, _, g in got_files[n_w + n_m :])
    st.bytes["WebSocket from the server"] = tab.bytes_in
    st.bytes["WebSocket to the server"] = tab.bytes_out
    st.interactive_s = time.perf_counter() - t0


async def keys(tab: BrowserTab, texts: list[str], gaps: list[float]) -> None:
    """Type: ``texts[i]`` is the box after key i, ``gaps[i]`` the time until the next key. Nothing goes to the
    server per key; a gap of 400 ms or more sends the word once, 400 ms after the key (live.js report())."""
    for text, gap in zip(texts, gaps):
        if gap >= PAUSE_S:
            await asyncio.sleep(PAUSE_S)
            await tab.report(text)
            await asyncio.sleep(gap - PAUSE_S)
        else:
            await asyncio.sleep(gap)


def word_keys(word: str, rng: random.Random, look: tuple[float, float]) -> tuple[list[str], list[float]]:
    """One word typed at 3-5 keys/s, one word in five with a hesitation inside, then ``look`` s on the views."""
    texts = [word[: i + 1] for i in range(len(word))]
    gaps = [1 / rng.uniform(3, 5) for _ in word]
    if len(word) > 2 and rng.random() < 0.2:
        gaps[rng.randrange(1, len(word) - 1)] = rng.uniform(0.5, 1.2)
    gaps[-1] = rng.uniform(*look)
    return texts, gaps


async def student(st: Student, base: str, assets: list[str], clock, go: dict, deadline, look, rng, local):
    await asyncio.sleep(st.arrive_at)
    try:
        await page_load(st, base, assets, clock, local)
    except Exception as e:
        st.rec.errors.append(f"{clock():.1f}s could not open Explore: {type(e).__name__}: {str(e)[:160]}")
        go["ready"] += 1
        return
    go["ready"] += 1
    await go["event"].wait()
    tab, rec = st.tab, st.rec
    words = iter(class_words(rng) * 10)
    while time.perf_counter() < deadline():
        if not await reconnected(tab, rec, clock):
            continue
        try:
            await keys(tab, *word_keys(next(words), rng, look))
        except Exception as e:
            rec.errors.append(f"{clock():.1f}s send failed: {type(e).__name__}")
        give_up_late(rec, clock, NOT_ANSWERED)
    await last_keys(tab, rec, NOT_ANSWERED)
    await tab.close()
    await st.http.close()


# ---- the check against Chromium ------------------------------------------------------------------------------------
def describe(msg) -> str:
    """A BackMsg by kind and content, the same for the browser's and a simulated student's (widget ids by key)."""
    kind = msg.WhichOneof("type")
    if kind != "rerun_script":
        return kind or "?"
    rs = msg.rerun_script
    widgets = []
    for w in rs.widget_states.widgets:
        name = w.id.split("-", 2)[-1] if w.id.startswith("$$ID-") else w.id
        value = w.WhichOneof("value")
        if value == "json_value":
            state = json.loads(w.json_value)
            view = state.get("view") or {}
            value = (
                f"json {{{', '.join(sorted(state))}}}, view {{{', '.join(sorted(view))}}}, text {view.get('text')!r}"
            )
        widgets.append(f"{name}: {value}")
    query = ", ".join(sorted(k for k, _ in parse_qsl(rs.query_string, keep_blank_values=True))) or "—"
    scope = ("fragment (timer)" if rs.is_auto_rerun else "fragment") if rs.fragment_id else "whole page"
    return (
        f"rerun_script · {scope} · page {'by hash' if rs.page_script_hash else 'by URL'} · query keys {query} · "
        f"widgets [{'; '.join(sorted(widgets))}]"
    )


def phases(sent: list[tuple[float, object]], marks: list[tuple[str, float]]) -> dict[str, list[str]]:
    """Sent BackMsgs by the phase they fell in: marks are (phase name, start time), in order."""
    out = {name: [] for name, _ in marks}
    for t, msg in sent:
        name = [n for n, start in marks if start <= t][-1] if t >= marks[0][1] else marks[0][0]
        out[name].append(describe(msg))
    return out


def script_marks(t0: float, key_times: list[list[float]]) -> list[tuple[str, float]]:
    marks = [("page load", t0)]
    for i, ts in enumerate(key_times):
        marks += [
            (f"typing {CHECK_BURSTS[i]!r} ({len(ts)} keys, 4 per s)", ts[0]),
            (f"pause after {CHECK_BURSTS[i]!r}", ts[-1] + PAUSE_S * 0.75),
        ]
    return marks


def chromium_session(base: str) -> dict:
    """Chromium opens Explore with ?browser=1 on a cold cache, types the check's bursts and pauses; the BackMsgs it
    sent (CDP's WebSocket frames, decoded), what it fetched over HTTP, and when it first drew."""
    import base64

    from playwright.sync_api import sync_playwright
    from streamlit.proto.BackMsg_pb2 import BackMsg

    sent, http, urls, ws_in, blocked, errors = [], {}, {}, [], [], []

    def frame(e):
        if e["response"]["opcode"] == 2:
            m = BackMsg()
            m.ParseFromString(base64.b64decode(e["response"]["payloadData"]))
            sent.append((time.perf_counter(), m))

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        ctx = browser.new_context(viewport={"width": 1366, "height": 768})
        page = ctx.new_page()
        guard_offline(page, blocked)
        page.on("pageerror", lambda e: errors.append(str(e)))
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on(
            "Network.loadingFinished",
            lambda e: http.__setitem__(urls.get(e["requestId"], e["requestId"]), int(e["encodedDataLength"])),
        )
        cdp.on("Network.webSocketFrameSent", frame)
        # CDP gives a binary frame's payload in base64: its size is the decoded length
        cdp.on(
            "Network.webSocketFrameReceived",
            lambda e: ws_in.append(
                len(base64.b64decode(e["response"]["payloadData"]))
                if e["response"]["opcode"] == 2
                else len(e["response"]["payloadData"])
            ),
        )
        t0 = time.perf_counter()
        page.goto(f"{base}/?{PAGE_QUERY}")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"al-live\"]')?.getAttribute("
            "'data-drawn') === '<BOS>' && document.querySelector('[data-testid=\"al-live-bertviz\"] "
            "svg')",
            timeout=120_000,
        )
        interactive = time.perf_counter() - t0
        page.wait_for_timeout(1500)
        loaded_http, loaded_ws = dict(http), list(ws_in)
        box = page.locator('[data-testid="al-live-input"]')
        box.click()
        key_times = []
        for burst in CHECK_BURSTS:
            key_times.append([])
            for ch in burst:
                key_times[-1].append(time.perf_counter())
                page.keyboard.press(ch)
                page.wait_for_timeout(CHECK_GAP_S * 1000)
            page.wait_for_timeout((CHECK_PAUSE_S - CHECK_GAP_S) * 1000)
        shown = page.locator('[data-testid="al-live"]').get_attribute("data-drawn")
        browser.close()
    origin = urlparse(base)
    same = {u: n for u, n in loaded_http.items() if urlparse(u).netloc == origin.netloc}
    assets = sorted(
        urlparse(u).path
        for u in same
        if urlparse(u).path.startswith("/static/") or urlparse(u).path.startswith("/favicon")
    )
    return {
        "phases": phases(sent, script_marks(t0, key_times)),
        "assets": assets,
        "interactive_s": interactive,
        "http": same,
        "ws_in": sum(loaded_ws),
        "blocked": blocked,
        "errors": errors,
        "shown": shown,
    }


async def simulated_session(base: str) -> dict:
    """One simulated student through the check's script, on the same server."""
    t0 = time.perf_counter()
    st = Student(Record("check", "explore"), 0.0)
    log: list = []
    await page_load(st, base, [], lambda: time.perf_counter() - t0, None, sent_log=log)
    await asyncio.sleep(1.5)
    key_times = []
    for burst in CHECK_BURSTS:
        start = time.perf_counter()
        gaps = [CHECK_GAP_S] * (len(burst) - 1) + [CHECK_PAUSE_S]
        prefix = "".join(CHECK_BURSTS[: len(key_times)])
        texts = [prefix + burst[: i + 1] for i in range(len(burst))]
        key_times.append([start + sum(gaps[:i]) for i in range(len(burst))])
        await keys(st.tab, texts, gaps)
    await st.tab.close()
    await st.http.close()
    return {
        "phases": phases(log, script_marks(t0, key_times)),
        "errors": st.rec.errors,
        "answered": sum(1 for k in st.rec.keys if k.latency not in (None, float("inf"))),
        "pauses": len(st.rec.keys),
    }


async def warm_up(bases: list[str]) -> list[str]:
    """One page view per server process before the class, as when the teacher tries the link first: the process's
    first run loads the models and writes the weights file. Errors, if any."""
    sts = [Student(Record(f"warm-{i}", "explore"), 0.0) for i in range(len(bases))]
    got = await asyncio.gather(
        *(page_load(st, b, [], lambda: 0.0, None) for st, b in zip(sts, bases)), return_exceptions=True
    )
    for st in sts:
        if st.tab is not None:
            await st.tab.close()
        if st.http is not None:
            await st.http.close()
    return [f"{type(g).__name__}: {g}" for g in got if isinstance(g, BaseException)]


def check_rows(real: dict, sim: dict) -> tuple[list, list[str]]:
    rows, kinds = [], []
    for name in real["phases"]:
        a, b = real["phases"][name], sim["phases"].get(name, [])
        for d in a + b:
            if d not in kinds:
                kinds.append(d)
        label = lambda xs: ", ".join(f"#{kinds.index(d) + 1}" for d in xs) or "nothing"  # noqa: E731
        rows.append((name, len(a), label(a), len(b), label(b), "same" if a == b else "DIFFERENT"))
    return rows, [f"#{i + 1}: {d}" for i, d in enumerate(kinds)]


# ---- the cost of one pause ------------------------------------------------------------------------------------------
async def pause_cost(base: str, pids: list[int], n: int, seed: int = 0, warm: int = 3, between=None) -> dict:
    """One simulated student on a quiet server: ``warm`` pauses, then ``n`` more one after another (each a new word,
    sent once the last one was answered). The server's CPU over those ``n`` (its process tree, as the class run
    measures it) per pause, each pause's time to its answer, and how many runs were whole pages and how many
    fragments. ``between``: called (with the component's data) after the warm-up pauses, before the counted ones."""
    from bench.classroom import tree_usage

    t0 = time.perf_counter()
    st = Student(Record("cost", "explore"), 0.0)
    await page_load(st, base, [], lambda: time.perf_counter() - t0, None)
    tab = st.tab
    words = iter(class_words(random.Random(seed)) * 4)
    lat, cpu0 = [], 0.0
    full0 = frag0 = 0
    for i in range(warm + n):
        if i == warm:
            if between is not None:
                between(tab.data)
            cpu0 = (await asyncio.to_thread(tree_usage, pids))[1]
            full0, frag0 = tab.runs, tab.fragment_runs
        await tab.report(next(words))
        key = tab.rec.keys[-1]
        limit = time.perf_counter() + KEY_TIMEOUT_S
        while key.latency is None and time.perf_counter() < limit:
            await asyncio.sleep(0.002)
        if i >= warm:
            lat.append(key.latency * 1000 if key.latency is not None else float("inf"))
    cpu1 = (await asyncio.to_thread(tree_usage, pids))[1]
    full, frags = tab.runs - full0, tab.fragment_runs - frag0
    await tab.close()
    await st.http.close()
    return {
        "n": n,
        "cpu_ms": (cpu1 - cpu0) * 1000 / n,
        "p50_ms": pctl(lat, 50),
        "p95_ms": pctl(lat, 95),
        "answered": sum(1 for x in lat if x != float("inf")),
        "full_runs": full,
        "fragment_runs": frags,
        "errors": st.rec.errors,
        "last_word": tab.rec.keys[-1].text,
        "url_query": tab.url_query,  # the page's query string as the server last set it
    }


COST_HEAD = (
    "pauses",
    "answered",
    "server CPU ms per pause",
    "pause -> run shown p50 ms",
    "p95 ms",
    "whole-page runs",
    "fragment runs",
)


def cost_rows(c: dict) -> list[tuple]:
    return [
        (
            c["n"],
            c["answered"],
            f"{c['cpu_ms']:.1f}",
            f"{c['p50_ms']:.0f}",
            f"{c['p95_ms']:.0f}",
            c["full_runs"],
            c["fragment_runs"],
        )
    ]


# ---- the class -----------------------------------------------------------------------------------------------------
@dataclass
class ClassSpec:
    students: int
    open_n: int
    open_within: float
    arrive: float
    seconds: float
    look: tuple[float, float]
    processes: int


async def drive(base: str, pids: list[int], spec: ClassSpec, assets: list[str], seed: int, local: bool = True) -> dict:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    clock = lambda: time.perf_counter() - t0  # noqa: E731
    go = {"ready": 0, "event": asyncio.Event()}
    deadline = {"t": float("inf")}
    students = []
    for i in range(spec.students):
        first = i < spec.open_n
        at = rng.uniform(0, spec.open_within) if first else spec.open_within + 2 + rng.uniform(0, spec.arrive)
        students.append(Student(Record(f"s{i}", "explore"), at))
    samples, stop = [], asyncio.Event()
    samp = asyncio.create_task(sampler(pids, stop, samples, clock))
    tasks = [
        asyncio.create_task(
            student(
                st,
                base,
                assets,
                clock,
                go,
                lambda: deadline["t"],
                spec.look,
                random.Random(seed * 1000 + i),
                source_address(i) if local else None,
            )
        )
        for i, st in enumerate(students)
    ]
    client0 = time.process_time()
    limit = spec.open_within + spec.arrive + 240
    t_open, t_go = await start_together(
        go, deadline, n=spec.students, clock=clock, limit=limit, settle=2.0, seconds=spec.seconds
    )
    client1 = time.process_time()
    await asyncio.gather(*tasks)
    t_end = clock()
    stop.set()
    await samp
    return {
        "students": students,
        "samples": samples,
        "t_open": t_open,
        "t_go": t_go,
        "t_end": t_end,
        "typing_end": t_go + spec.seconds,
        "client_cpu_s": time.process_time() - client1,
        "client_open_cpu_s": client1 - client0,
    }


def cpu_between(samples: list, a: float, b: float) -> tuple[float, float]:
    """(server CPU s, wall s) between clock times a and b, from the sampler's (t, rss, cpu) rows."""
    s = [x for x in samples if a <= x[0] <= b]
    if len(s) < 2:
        return float("nan"), float("nan")
    return s[-1][2] - s[0][2], s[-1][0] - s[0][0]


def summarise(spec: ClassSpec, res: dict) -> tuple[list, list, list, list[str], dict]:
    sts = res["students"]
    pauses = [k for st in sts for k in st.rec.keys]
    lat = [k.latency * 1000 for k in pauses if k.latency is not None]
    answered = [x for x in lat if x != float("inf")]
    dropped = len(pauses) - len(answered)
    errors = [e for st in sts for e in st.rec.errors]
    cpu, wall = cpu_between(res["samples"], res["t_go"], res["typing_end"])
    cpu_pct = cpu / wall * 100 if wall == wall and wall else float("nan")
    typed = [st for st in sts if st.interactive_s is not None]
    per_min = len(pauses) / max(1, len(typed)) / (spec.seconds / 60)
    ms = lambda x: "—" if x != x else (f"> {KEY_TIMEOUT_S * 1000}" if x == float("inf") else f"{x:.0f}")  # noqa: E731
    met = cpu_pct <= TARGETS["cpu"] and not dropped and not errors and len(typed) == spec.students
    typing = [
        (
            spec.processes,
            spec.students,
            len(typed),
            f"{spec.seconds:.0f}",
            len(pauses),
            len(answered),
            dropped,
            f"{per_min:.1f}",
            ms(pctl(lat, 50)),
            ms(pctl(lat, 95)),
            ms(max(lat)) if lat else "—",
            f"{cpu_pct:.0f} %",
            f"{cpu * 1000 / len(pauses):.0f} / {cpu * 1000 / len(answered):.0f}" if answered and cpu == cpu else "—",
            len(errors),
            "met" if met else "NOT met",
        )
    ]
    opening = []
    for label, group in (("first", sts[: spec.open_n]), ("then", sts[spec.open_n :])):
        if not group:
            continue
        times = [st.interactive_s for st in group if st.interactive_s is not None]
        within = spec.open_within if label == "first" else spec.arrive
        ok = len(times) == len(group) and pctl(times, 95) <= TARGETS["open_p95"]
        opening.append(
            (
                spec.processes,
                f"{len(group)} ({label})",
                f"{within:.0f}",
                len(times),
                f"{pctl(times, 50):.2f}",
                f"{pctl(times, 95):.2f}",
                f"{max(times):.2f}" if times else "—",
                ("met" if ok else "NOT met") if label == "first" else "(not a target)",
            )
        )
    parts = {}
    for st in typed:
        for k, v in st.bytes.items():
            parts.setdefault(k, []).append(v)
    total = [sum(st.bytes.get(k, 0) for k in st.bytes if k != "WebSocket to the server") for st in typed]
    kb = lambda b: f"{b / 1e3:.1f}" if b < 1e4 else f"{b / 1e3:.0f}"  # noqa: E731
    weight = [(k, kb(pctl(v, 50)), kb(max(v))) for k, v in parts.items()]
    weight.append(
        (
            "page load in all (HTTP + WebSocket from the server)",
            kb(pctl(total, 50)) if total else "—",
            kb(max(total)) if total else "—",
        )
    )
    ws_in = sum(st.tab.bytes_in for st in typed) - sum(st.bytes.get("WebSocket from the server", 0) for st in typed)
    ws_out = sum(st.tab.bytes_out for st in typed) - sum(st.bytes.get("WebSocket to the server", 0) for st in typed)
    if pauses:
        weight.append(
            (
                "per pause, WebSocket from / to the server",
                f"{ws_in / len(pauses) / 1e3:.1f} / {ws_out / len(pauses) / 1e3:.1f}",
                "",
            )
        )
    ocpu, owall = cpu_between(res["samples"], 0, res["t_open"])
    rss = [x[1] for x in res["samples"]]
    notes = [
        f"opening ({spec.students} students over {res['t_open']:.0f} s): server CPU {ocpu:.1f} s "
        f"({ocpu / owall * 100 if owall else float('nan'):.0f} % of one core; the simulated students' HTTP "
        f"and WebSocket clients {res['client_open_cpu_s']:.1f} s)",
        f"servers' RSS {rss[0]:.0f} -> {max(rss):.0f} MiB (max)" if rss else "no RSS samples",
        f"the simulated students themselves (this Python process, same 2 cores) used {res['client_cpu_s']:.1f} s of "
        f"CPU while typing ({res['client_cpu_s'] / spec.seconds * 100:.0f} % of one core)",
    ]
    if pauses and cpu == cpu and cpu > 0:
        budget = TARGETS["cpu"] / 100 / (cpu / len(pauses))  # pauses per second within the target
        notes.append(
            f"at {cpu * 1000 / len(pauses):.0f} ms of server CPU per pause, {TARGETS['cpu']:.0f} % of one "
            f"core answers {budget:.0f} pauses/s: {budget * 60 / spec.students:.1f} per student per minute "
            f"for {spec.students} students (this run: {per_min:.1f})"
        )
    if errors:
        kinds: dict[str, int] = {}
        for e in errors:  # by kind: the time and the word left out
            k = re.sub(r"'[^']*'", "'…'", re.sub(r"^[\d.]+s ", "", e))
            kinds[k] = kinds.get(k, 0) + 1
        notes.append(
            f"errors ({len(errors)}) by kind: "
            + "; ".join(f"{v} × {k}" for k, v in sorted(kinds.items(), key=lambda x: -x[1])[:6])
        )
    first = [st.interactive_s for st in sts[: spec.open_n] if st.interactive_s is not None]
    numbers = {
        "pauses": len(pauses),
        "answered": len(answered),
        "dropped": dropped,
        "errors": len(errors),
        "cpu_pct": cpu_pct,
        "cpu_ms_per_pause": cpu * 1000 / len(pauses) if pauses else float("nan"),
        "open_p95_s": pctl(first, 95),
        "page_bytes": pctl(total, 50),
        "parts": {k: pctl(v, 50) for k, v in parts.items()},
    }
    return typing, opening, weight, notes, numbers


TYPING_HEAD = (
    "processes",
    "students",
    "typing",
    "s",
    "pauses sent",
    "answered",
    "dropped",
    "pauses per student per min",
    "pause -> run shown p50 ms",
    "p95 ms",
    "max ms",
    "server CPU (% of one core)",
    "server CPU ms per pause sent / answered",
    "errors",
    f"target (CPU <= {TARGETS['cpu']:.0f} %, nothing dropped)",
)
OPEN_HEAD = (
    "processes",
    "students opening",
    "arriving within s",
    "interactive",
    "p50 s",
    "p95 s",
    "max s",
    f"target (p95 <= {TARGETS['open_p95']:.0f} s)",
)
WEIGHT_HEAD = ("bytes per student", "p50 KB", "max KB")
CHECK_HEAD = ("phase", "Chromium: frames sent", "Chromium: which", "simulated: frames sent", "simulated: which", "")


@contextlib.contextmanager
def servers(processes: int, url: str | None, ckpt_dir: Path):
    """(base url, server pids, the Classroom or None): the server at ``url``, or ours. One process is ``run.sh``'s
    set-up (serve.py alone, nobody restarting it); several are ``classroom.sh``'s (nginx in front, supervised:
    a process that stops answering its health check for 60 s is killed and restarted)."""
    if url:
        with serve(RunSpec(1, 0, 1, 1, ("explore",), False, 0), url, ckpt_dir) as (base, pids, _kill, _room):
            yield base, pids, None
        return
    from services.classroom import Classroom

    with Classroom(
        processes=processes, user_ckpt_dir=ckpt_dir, nginx=processes > 1, debug=True, supervise=processes > 1
    ) as room:
        yield room.url, room.pids(), room


def run(argv=None) -> dict:
    """Parse, run every --processes value on fresh servers, print; returns what was measured (for the test)."""
    ap = argparse.ArgumentParser(prog="python -m bench.classroom --browser-path", description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=300, help="students in the class (all type)")
    ap.add_argument("--open", type=int, default=40, help="how many of them open the page first, within --open-within")
    ap.add_argument("--open-within", type=float, default=20, help="seconds the first --open students arrive within")
    ap.add_argument("--arrive", type=float, default=60, help="seconds the other students arrive within, after them")
    ap.add_argument("--seconds", type=float, default=60, help="typing time")
    ap.add_argument(
        "--look",
        type=float,
        nargs=2,
        default=(3.0, 8.0),
        metavar=("MIN", "MAX"),
        help="seconds a student looks at the views after a word",
    )
    ap.add_argument("--processes", type=int, nargs="+", default=[1], help="Streamlit processes (>1: behind nginx)")
    ap.add_argument("--no-browser-check", action="store_true", help="skip the Chromium comparison")
    ap.add_argument("--url", help="drive this server (localhost only) instead of starting our own")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-append", action="store_true", help="print only; leave bench/RESULTS.md alone")
    ap.add_argument(
        "--per-pause",
        type=int,
        metavar="N",
        help="instead of a class: one student, N pauses one after another on one quiet process; CPU per pause",
    )
    args = ap.parse_args(argv)
    url = check_local(args.url) if args.url else None
    if args.per_pause:
        return per_pause(args, url, argv)
    n = max(1, min(args.students, MAX_STUDENTS))
    look = (max(PAUSE_S, min(args.look)), max(PAUSE_S, max(args.look)))
    info0 = machine_info("cpu")
    print(info0, flush=True)
    out = {"runs": [], "check": None}
    assets: list[str] = []
    sections = []
    for processes in args.processes:
        spec = ClassSpec(
            n,
            max(0, min(args.open, n)),
            max(1.0, args.open_within),
            max(0.0, args.arrive),
            max(5.0, min(args.seconds, MAX_SECONDS)),
            look,
            processes,
        )
        with tempfile.TemporaryDirectory(prefix="attention-lab-browser-class-") as ckpt:
            with servers(processes, url, Path(ckpt)) as (base, pids, room):
                t_start = time.time()
                warm = asyncio.run(warm_up([f"http://127.0.0.1:{b.port}" for b in room.backends] if room else [base]))
                if not args.no_browser_check and out["check"] is None:
                    sim = asyncio.run(simulated_session(base))
                    real = chromium_session(base)
                    rows, kinds = check_rows(real, sim)
                    assets = real["assets"]
                    out["check"] = {"real": real, "sim": sim, "rows": rows}
                    page_kb = (sum(real["http"].values()) + real["ws_in"]) / 1e3
                    text = (
                        f"**What the page sends: Chromium vs a simulated student** (same server; Explore "
                        f"`?{PAGE_QUERY}`, cold cache, then {' and '.join(map(repr, CHECK_BURSTS))} typed at 4 keys/s,"
                        f" each followed by {CHECK_PAUSE_S} s)\n\n"
                        + md_table(CHECK_HEAD, rows)
                        + "\n\n"
                        + "\n".join(f"- {k}" for k in kinds)
                        + f"\n- Chromium: page load -> first drawing {real['interactive_s']:.1f} s; page weight "
                        f"{page_kb:.0f} KB ({len(real['http'])} HTTP responses, "
                        f"{sum(real['http'].values()) / 1e3:.0f} KB, + {real['ws_in'] / 1e3:.0f} KB over the "
                        f"WebSocket); the simulated students fetch the same {len(assets)} static files; box shows "
                        f"{real['shown']!r}; non-localhost requests {len(real['blocked'])}; page errors "
                        f"{len(real['errors'])}"
                        + f"\n- simulated: {sim['answered']} of {sim['pauses']} pauses answered; errors: "
                        f"{sim['errors'][:3] or 'none'}"
                    )
                    print(text, flush=True)
                    sections.append(text)
                local = urlparse(base).hostname in ("localhost", "127.0.0.1")
                res = asyncio.run(
                    asyncio.wait_for(
                        drive(base, pids, spec, assets, args.seed, local),
                        timeout=spec.open_within + spec.arrive + spec.seconds + 600,
                    )
                )
                events = [
                    f"+{t - t_start:.0f} s {e}" for t, e in (room.events if room is not None else []) if t >= t_start
                ]
        typing, opening, weight, notes, numbers = summarise(spec, res)
        notes.append(
            f"before the class: one page view per server process ({processes}), as when the teacher "
            "tries the link" + (f"; errors: {warm}" if warm else "")
        )
        if events:
            notes.append("supervisor: " + "; ".join(events[:12]))
        out["runs"].append(
            {"spec": spec, "res": res, "numbers": numbers, "typing": typing, "opening": opening, "weight": weight}
        )
        text = (
            f"**{processes} process(es): {n} students, {spec.open_n} opening within {spec.open_within:.0f} s, "
            f"the rest within {spec.arrive:.0f} s more; typing {spec.seconds:.0f} s, looking {look[0]:.0f}-"
            f"{look[1]:.0f} s after each word**\n\n"
            + md_table(TYPING_HEAD, typing)
            + "\n\n"
            + md_table(OPEN_HEAD, opening)
            + "\n\n"
            + md_table(WEIGHT_HEAD, weight)
            + "\n\n"
            + "\n".join(f"- {x}" for x in notes)
            + (
                f"\n- assets: {len(assets)} static files from Chromium's page load"
                if assets
                else "\n- assets: the files index.html names (no Chromium check: lazy chunks and fonts not fetched)"
            )
        )
        print(text, flush=True)
        sections.append(text)
    info1 = machine_info("cpu")
    print(info1)
    cmd = "python -m bench.classroom --browser-path " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    out["text"] = f"`{cmd}`\n\nbefore: {info0}\n\nafter: {info1}\n\n" + "\n\n".join(sections)
    if not args.no_append:
        append_results("classroom on the browser path (simulated students, what the page sends)", out["text"])
    return out


def per_pause(args, url: str | None, argv) -> dict:
    """``--per-pause N``: the server CPU one pause costs, through the real server (see :func:`pause_cost`)."""
    n = max(1, min(args.per_pause, 2000))
    info0 = machine_info("cpu")
    print(info0, flush=True)
    with tempfile.TemporaryDirectory(prefix="attention-lab-browser-class-") as ckpt:
        with servers(1, url, Path(ckpt)) as (base, pids, _room):
            cost = asyncio.run(pause_cost(base, pids, n, args.seed))
    info1 = machine_info("cpu")
    cmd = "python -m bench.classroom --browser-path " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    text = (
        f"`{cmd}`\n\nbefore: {info0}\n\nafter: {info1}\n\n"
        + md_table(COST_HEAD, cost_rows(cost))
        + (f"\n\n- errors: {cost['errors'][:3]}" if cost["errors"] else "")
    )
    print(text, flush=True)
    if not args.no_append:
        append_results("browser path: server CPU per pause (one student, one process)", text)
    return {"cost": cost, "text": text}


def main(argv=None) -> int:
    def interrupted(*_):
        raise KeyboardInterrupt  # unwinds through `with Classroom`, which stops the servers it started

    signal.signal(signal.SIGTERM, interrupted)
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
