"""The classroom set-up without a browser: nginx's config (sticky cookie, WebSocket upgrade, one upstream per
process; ``nginx -t`` accepts it), bench.classroom's limits (localhost only) and its keystroke bookkeeping (which
finished run shows which key), fed Streamlit's own ForwardMsg protobufs."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

import settings
from bench import classroom as C
from services.classroom import COOKIE, Classroom, Limits, nginx_available, nginx_conf


def test_nginx_conf_routes_by_cookie_and_upgrades_websockets(tmp_path):
    conf = nginx_conf([8601, 8602, 8603], "127.0.0.1:8600", tmp_path, debug=True)
    for i, port in enumerate((8601, 8602, 8603)):
        assert f"upstream b{i} {{ server 127.0.0.1:{port} max_fails=1" in conf
        assert f"        b{i} b{i};\n" in conf  # a cookie naming a process keeps it
    assert f"map $cookie_{COOKIE} $lab_backend" in conf
    assert "33.33% b0;" in conf and "33.33% b1;" in conf and "* b2;" in conf  # new browsers spread evenly
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_http_version 1.1;" in conf
    assert f'add_header Set-Cookie "{COOKIE}=$lab_served;' in conf  # the process that answered
    assert "ip_hash" not in conf  # one school NAT = one IP: never by address
    assert str(tmp_path) in conf and "daemon off;" in conf  # pid, logs, temp files under our prefix
    with pytest.raises(ValueError):
        nginx_conf([], "127.0.0.1:1", tmp_path)


@pytest.mark.skipif(not nginx_available(), reason="nginx is not installed (test.sh installs it when run as root)")
def test_nginx_accepts_the_generated_conf(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf([8601, 8602], "127.0.0.1:8600", tmp_path))
    r = subprocess.run(
        [settings.nginx(), "-t", "-e", str(tmp_path / "error.log"), "-c", str(conf), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "url", ["http://example.org:8501", "https://localhost:8501", "http://10.0.0.5:8501", "http://localhost"]
)
def test_bench_refuses_other_hosts(url):
    with pytest.raises(SystemExit, match="only drives a server on this machine"):
        C.check_local(url)
    assert C.check_local("http://localhost:8501/") == "http://localhost:8501"


# ---- which run shows which key -----------------------------------------------------------------------------------
def new_session() -> ForwardMsg:
    m = ForwardMsg()
    m.new_session.page_script_hash = "x"
    return m


def bars(char: str) -> ForwardMsg:
    m = ForwardMsg()
    el = m.delta.new_element
    el.plotly_chart.spec = json.dumps({"layout": {"title": {"text": f"Next token after “{char}”"}}})
    return m


def finished(status=ForwardMsg.FINISHED_SUCCESSFULLY) -> ForwardMsg:
    m = ForwardMsg()
    m.script_finished = status
    return m


def tab_with_keys(*texts) -> C.Tab:
    tab = C.Tab("http://localhost:1", C.Record("s", "explore"), "explore", lambda: 0.0)
    for t in texts:
        tab.rec.keys.append(C.Key(t, time.perf_counter()))
    return tab


def test_a_run_shows_the_keys_sent_before_it_started():
    tab = tab_with_keys("ca", "cap")
    for m in (new_session(), bars("p"), finished()):
        tab.handle(m)
    assert all(k.latency is not None and k.latency >= 0 for k in tab.rec.keys)


def test_a_stale_run_resolves_only_what_it_shows():
    """A run that started before the newest key (it shows the older text) settles the older key only."""
    tab = tab_with_keys("ca")
    tab.handle(new_session())
    tab.rec.keys.append(C.Key("cap", time.perf_counter() + 1))  # sent after that run started
    for m in (bars("a"), finished()):
        tab.handle(m)
    assert tab.rec.keys[0].latency is not None and tab.rec.keys[1].latency is None
    for m in (new_session(), bars("p"), finished()):
        tab.handle(m)
    assert tab.rec.keys[1].latency is None  # sent "after" this run started too (clock in the future)


def test_an_interrupted_run_shows_nothing_and_exceptions_count():
    tab = tab_with_keys("ca")
    for m in (new_session(), bars("a"), finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN)):
        tab.handle(m)
    assert tab.rec.keys[0].latency is None
    exc = ForwardMsg()
    exc.delta.new_element.exception.type = "ValueError"
    exc.delta.new_element.exception.message = "boom"
    tab.handle(exc)
    assert tab.rec.errors and "ValueError: boom" in tab.rec.errors[0]


def test_a_run_with_the_wrong_character_resolves_nothing():
    tab = tab_with_keys("ca")
    for m in (new_session(), bars("z"), finished()):
        tab.handle(m)
    assert tab.rec.keys[0].latency is None


def test_a_real_model_key_is_shown_when_the_bars_name_its_last_token():
    """Real model page: the bars name the text's last SmolLM2 token ("␣tire", then "␣tired"), not its last
    character, and the expected token comes from the model's own tokenizer."""
    assert C.real_last_token("because it was too tire") == "␣tire"
    assert C.real_last_token(C.LECTURE) == "␣tired" and C.real_last_token("The") == "The"
    tab = C.Tab("http://localhost:1", C.Record("s", "real_model"), "real_model", lambda: 0.0)
    tab.rec.keys.append(C.Key("too tire", time.perf_counter(), "␣tire"))
    for m in (new_session(), bars("e"), finished()):  # the last character is not enough
        tab.handle(m)
    assert tab.rec.keys[0].latency is None
    for m in (new_session(), bars("␣tire"), finished()):
        tab.handle(m)
    assert tab.rec.keys[0].latency is not None


def test_a_real_model_key_is_shown_when_its_bars_arrive():
    """Real model page (key -> bars): the key is shown when the bars naming its token arrive, even if a newer key
    then interrupts the rest of that run (the browser has drawn the chart)."""
    tab = C.Tab("http://localhost:1", C.Record("s", "real_model"), "real_model", lambda: 0.0)
    tab.rec.keys.append(C.Key("too tire", time.perf_counter(), "␣tire"))
    tab.handle(new_session())
    tab.handle(bars("␣tire"))
    assert tab.rec.keys[0].latency is not None
    shown = tab.rec.keys[0].latency
    tab.handle(finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN))
    assert tab.rec.keys[0].latency == shown


def live_data(title: str, mode: str = "server") -> ForwardMsg:
    """The Real model page's live-views component with the bars' title in its data (ui/real_model.live_data)."""
    m = ForwardMsg()
    el = m.delta.new_element
    el.bidi_component.component_name = C.LIVE_COMPONENT
    el.bidi_component.json = json.dumps({"mode": mode, "sides": [{"capture": {"bars": {"title": title}}}]})
    return m


def test_a_real_model_key_is_shown_when_the_views_data_names_its_last_token():
    """Real model page, views drawn in the browser: a key is shown when the component's data naming its last token
    arrives in a run started after the key; data naming another token (an older text) shows nothing, nor does
    a browser-path component's data (no bars in it)."""
    tab = C.Tab("http://localhost:1", C.Record("s", "real_model"), "real_model", lambda: 0.0)
    tab.rec.keys.append(C.Key("too tire", time.perf_counter(), "␣tire"))
    tab.handle(live_data("Next token after “␣tire”"))  # before any run started after the key: not this key's run
    assert tab.rec.keys[0].latency is None
    tab.handle(new_session())
    tab.handle(live_data("Next token after “␣too”"))
    tab.handle(live_data("Next token after “␣tire”", mode="page"))
    assert tab.rec.keys[0].latency is None
    tab.handle(new_session())
    tab.handle(live_data("Next token after “␣tire”"))
    assert tab.rec.keys[0].latency is not None


def fragment_box(tab: C.Tab, fragment: str) -> str:
    """The page draws the text box inside ``fragment``; the student types one key there."""
    m = element("text_input", id="box-id", label="Type a word", value="ca")
    m.delta.fragment_id = fragment
    tab.handle(m)
    wid = tab.set_value("Type a word", "string_value", "cap")
    tab.rec.keys.append(C.Key("cap", time.perf_counter()))
    tab.watch = tab.widget_fragment.get(wid, "")
    return wid


def test_a_key_in_a_fragment_is_shown_by_that_fragments_run():
    """A box inside an st.fragment: the key asks for that fragment's rerun (as the browser does), and the run of
    that fragment shows it (Streamlit ends it with FINISHED_FRAGMENT_RUN_SUCCESSFULLY); a run of another fragment
    (a timer) shows nothing."""
    tab = tab_with_keys()
    fragment_box(tab, "frag-1")
    assert tab.watch == "frag-1"
    other = new_session()
    other.metadata.run.fragment_ids.append("timer")
    for m in (other, bars("p"), finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)):
        tab.handle(m)
    assert tab.rec.keys[0].latency is None
    run = new_session()
    run.metadata.run.fragment_ids.append("frag-1")
    for m in (run, bars("p"), finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)):
        tab.handle(m)
    assert tab.rec.keys[0].latency is not None


def test_bars_char_unescapes_like_the_page():
    assert C.bars_char("Next token after “&lt;BOS&gt;”") == "<BOS>"
    assert C.bars_char("Next token after “y”") == "y"


def element(kind: str, **fields) -> ForwardMsg:
    m = ForwardMsg()
    e = getattr(m.delta.new_element, kind)
    for k, v in fields.items():
        if isinstance(v, list):
            getattr(e, k).extend(v)
        else:
            setattr(e, k, v)
    return m


def test_every_drawn_widget_is_reported_back_like_the_browser_does():
    """A widget missing from a rerun's widget states reads as its default on the server (the Train page's batch
    size fell to its minimum): the simulated tab reports each widget's drawn value, keeps what the student set,
    and forgets widgets the page no longer draws."""
    tab = tab_with_keys()
    tab.handle(new_session())
    for m in (
        element("number_input", id="n", label="Batch size", default=1.0, value=128.0, set_value=True),
        element("selectbox", id="s", label="Model", options=["mini", "full"], default=1),
        element("slider", id="k", label="Top-k", default=[8.0]),
        element("checkbox", id="c", label="Finished word", default=False),
        element("text_input", id="t", label="Type a word", default="", value="ca", set_value=True),
        element("number_input", id="gone", label="Old", default=3.0),
    ):
        tab.handle(m)
    assert tab.states["n"] == ("double_value", 128.0) and tab.states["s"] == ("string_value", "full")
    assert tab.states["k"] == ("double_array_value", [8.0]) and tab.states["c"] == ("bool_value", False)
    tab.set_value("Type a word", "string_value", "cap")
    tab.handle(finished())
    tab.handle(new_session())
    for m in (
        element("number_input", id="n", label="Batch size", default=1.0),  # no set_value: keep 128
        element("text_input", id="t", label="Type a word", value="c", set_value=True),  # a stale echo
        element("selectbox", id="s", label="Model", options=["mini", "full"], raw_value="mini", set_value=True),
        element("slider", id="k", label="Top-k", default=[8.0]),
        element("checkbox", id="c", label="Finished word"),
        finished(),
    ):
        tab.handle(m)
    assert tab.states["n"] == ("double_value", 128.0)
    assert tab.states["t"] == ("string_value", "cap")  # what the student typed, not the server's echo
    assert tab.states["s"] == ("string_value", "mini")  # the server set it (set_value)
    assert "gone" not in tab.states


def test_a_simulated_student_asks_for_the_server_path_it_types_in():
    """The browser path is Explore's default (ui/live_views.py); the simulated student types in the server path's
    box, so every run it asks for carries ``browser=0``, as the link of a student who switched it off does."""
    from lab_fixtures import run_async
    from streamlit.proto.BackMsg_pb2 import BackMsg

    class Sent:
        frames: list[bytes] = []

        async def send(self, raw):
            self.frames.append(raw)

    tab = tab_with_keys()
    tab.ws = Sent()
    tab.query_key["t"], tab.states["t"] = "text", ("string_value", "owl")
    for query in (None, "text=ca"):
        run_async(tab.rerun(query=query))
    got = [BackMsg.FromString(raw).rerun_script.query_string for raw in tab.ws.frames]
    assert got == ["browser=0&text=owl", "browser=0&text=ca"], got


# ---- nginx: what it shows, what it lets in -----------------------------------------------------------------------
def test_nginx_hides_the_backends_unless_debugging(tmp_path):
    conf = nginx_conf([8601, 8602], "127.0.0.1:8600", tmp_path)
    assert "server_tokens off;" in conf
    assert "X-Attention-Lab-Backend" not in conf  # no header naming the process
    assert "        b0 b0;" not in conf and "        b1 b1;" not in conf  # cookie values are opaque tokens
    assert "location ^~ /_stcore/metrics { return 404; }" in conf
    assert "limit_conn lab_per_ip 700;" in conf and "limit_conn lab_total 1500;" in conf
    assert "proxy_read_timeout 1d" not in conf and "proxy_read_timeout 120s;" in conf  # the WebSocket
    assert "location /_stcore/stream {" in conf and "proxy_read_timeout 20s;" in conf  # everything else
    debug = nginx_conf([8601, 8602], "127.0.0.1:8600", tmp_path, debug=True)
    assert "add_header X-Attention-Lab-Backend $lab_backend always;" in debug and "        b1 b1;\n" in debug


def test_a_backend_marked_down_leaves_the_rotation(tmp_path):
    conf = nginx_conf([8601, 8602, 8603], "127.0.0.1:8600", tmp_path, down={1}, debug=True)
    assert "50% b0;" in conf and "* b2;" in conf and "b1;" not in conf.split("split_clients")[1].split("}")[0]
    assert (
        "upstream b1 { server 127.0.0.1:8602 max_fails=1 fail_timeout=5s down; server 127.0.0.1:8601 backup; "
        "server 127.0.0.1:8603 backup;" in conf
    )  # its students are served by the others
    assert "upstream b0 { server 127.0.0.1:8601 max_fails=1 fail_timeout=5s; server 127.0.0.1:8603 backup;" in conf


FAKE = [sys.executable, str(Path(__file__).with_name("fake_backend.py")), "{port}", "{name}"]
needs_nginx = pytest.mark.skipif(not nginx_available(), reason="nginx is not installed (test.sh installs it as root)")


def get(url: str, cookie: str | None = None, src: str = "127.0.0.1", data: bytes | None = None, timeout=10):
    """(status, body, headers) of one request from source address ``src`` (any 127.x address is this machine)."""
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout, source_address=(src, 0))
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    c.request("POST" if data is not None else "GET", u.path or "/", body=data, headers=headers)
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    c.close()
    return r.status, body, r.headers


def served_cookie(headers) -> str | None:
    for h in headers.get_all("Set-Cookie") or []:
        if h.startswith(f"{COOKIE}="):
            return h.split(";", 1)[0].split("=", 1)[1]
    return None


def wait_for(cond, what: str, timeout: float = 30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake_room(tmp_path):
    rooms = []

    def make(**kw):
        r = Classroom(processes=kw.pop("processes", 2), workdir=tmp_path, backend_cmd=FAKE, nginx=True, **kw)
        rooms.append(r)
        return r.start(timeout=30)

    yield make
    for r in rooms:
        r.stop()


@needs_nginx
def test_a_killed_backend_is_restarted_and_its_students_go_elsewhere(fake_room):
    room = fake_room()
    tok = room.cookies
    assert get(room.url, tok["b0"])[1].startswith("b0 ")
    nginx_pid, b1_pid, b0_pid = room.front.proc.pid, room.backends[1].proc.pid, room.backends[0].proc.pid
    os.kill(b0_pid, signal.SIGKILL)
    room.backends[0].proc.wait(5)
    # At once (before the supervisor has looked): a student of b0 is served by b1, and the cookie follows.
    status, body, headers = get(room.url, tok["b0"])
    assert status == 200 and body.startswith("b1 "), body
    assert served_cookie(headers) == tok["b1"]
    wait_for(lambda: any("answers again" in t for _, t in room.events), "b0 to be restarted")
    assert room.backends[0].proc.pid != b0_pid and room.backends[0].restarts == 1
    assert any("killed by SIGKILL" in t and "restarting it in 1 s" in t for _, t in room.events), room.events
    assert room.front.proc.pid == nginx_pid and room.backends[1].proc.pid == b1_pid  # nothing else stopped
    wait_for(lambda: get(room.url, tok["b0"])[1].startswith("b0 "), "b0's cookie to route to b0 again")
    new = {get(room.url)[1].split()[0] for _ in range(30)}
    assert new == {"b0", "b1"}  # new students land on both again


@needs_nginx
def test_a_frozen_backend_leaves_the_rotation_and_is_restarted(fake_room):
    room = fake_room(frozen_kill_s=6, limits=Limits(http_timeout_s=2))
    frozen = room.backends[1].proc.pid
    os.kill(frozen, signal.SIGSTOP)  # alive (the kernel still accepts connections) but silent
    try:
        # Before the supervisor notices: a request of b1's student times out after http_timeout_s and the next
        # process answers it (not after the WebSocket's 120 s).
        t0 = time.monotonic()
        status, body, headers = get(room.url, room.cookies["b1"])
        assert status == 200 and body.startswith("b0 ") and time.monotonic() - t0 < 8, (status, body)
        assert served_cookie(headers) == room.cookies["b0"]
        wait_for(lambda: room.backends[1].state == "down", "b1 to be marked down", timeout=20)
        assert any("has not answered its health check" in t for _, t in room.events)
        assert {get(room.url)[1].split()[0] for _ in range(20)} == {"b0"}  # new students avoid it
        wait_for(
            lambda: room.backends[1].state == "up" and room.backends[1].proc.pid != frozen,
            "b1 to be killed and restarted",
            timeout=40,
        )
    finally:
        try:
            os.kill(frozen, signal.SIGCONT)
        except ProcessLookupError:
            pass
    wait_for(lambda: {get(room.url)[1].split()[0] for _ in range(20)} == {"b0", "b1"}, "b1 back in rotation")


@needs_nginx
def test_uploads_pass_nginx_as_root_and_nothing_leaks(fake_room):
    """As root nginx's worker is nobody; its temp folder for request bodies must be reachable (it was inside a 0700
    prefix: every body over ~16 KB got HTTP 500). pytest's tmp_path, the workdir here, is 0700 too."""
    room = fake_room()
    body = os.urandom(300_000)
    status, text, headers = get(room.url + "/upload", data=body)
    assert status == 200 and text.endswith(f"received {len(body)}"), (status, text)
    assert headers["Server"] == "nginx"  # no version
    assert "X-Attention-Lab-Backend" not in headers
    assert served_cookie(headers) in room.cookies.values() and served_cookie(headers) not in ("b0", "b1")
    assert get(room.url + "/_stcore/metrics")[0] == 404
    assert get(room.url + "/_stcore/health")[0] == 200


@needs_nginx
def test_connection_limits_per_address_and_in_all(fake_room):
    """A school behind one NAT is one address: the per-address cap is generous, the global one keeps room. Here
    small caps (3 per address, 5 in all) and slow requests that stay open show which one refuses."""
    room = fake_room(limits=Limits(per_ip=3, total=5))
    srcs = ["127.0.0.1"] * 4 + ["127.0.0.2"] * 2 + ["127.0.0.3"]
    with concurrent.futures.ThreadPoolExecutor(len(srcs)) as pool:
        futs = []
        for s in srcs:
            futs.append(pool.submit(get, room.url + "/slow", None, s))
            time.sleep(0.15)  # in this order: the 4th from .1 and the one from .3 are over a cap
        codes = [f.result()[0] for f in futs]
    assert codes.count(503) == 2 and codes[3] == 503 and codes[6] == 503, codes
    assert codes[4] == codes[5] == 200  # another address still gets in under the total
    with pytest.raises(ValueError):
        Limits(per_ip=10, total=5)


def test_the_bench_reports_what_the_students_of_a_killed_backend_lived_through():
    """kill_result: keys lost are keys never shown from the kill on; the wait runs from the kill to the first key
    shown after it, for the students of the killed process only."""
    t = 100.0
    hit = C.Record("s0", "explore", backend="b0")
    hit.keys = [
        C.Key("a", t - 1, latency=0.2),
        C.Key("ab", t + 0.1, latency=2.9),
        C.Key("abc", t + 1, latency=None),
        C.Key("abcd", t + 2, latency=float("inf")),
    ]
    other = C.Record("s1", "compare", backend="b1")
    other.keys = [C.Key("x", t + 0.5, latency=0.1)]
    res = {"recs": [hit, other], "killed": {"t": t, "at": 12.0, "name": "b0"}}
    text = C.kill_result(res)
    assert "1 of 2 typing students were on it" in text
    assert "waited p50 3.0 s, max 3.0 s" in text  # key "ab" shown at t + 3.0
    assert "keys lost (never shown): 2 of 3" in text and "errors of the other students: 0" in text
    assert C.kill_result({"recs": [], "killed": {}}) is None


def test_a_simulated_class_starts_together_once_every_page_is_open():
    """bench.common.start_together: the one "start together" of the class benches (bench/classroom.py and
    bench/browser_class.py each had their own copy of the loop)."""
    import asyncio
    import time

    from lab_fixtures import run_async

    from bench.common import start_together

    async def lesson(n_students: int, n: int, limit: float):
        t0 = time.perf_counter()
        clock = lambda: time.perf_counter() - t0
        go, deadline, started = {"ready": 0, "event": asyncio.Event()}, {"t": float("inf")}, []

        async def student(i):
            await asyncio.sleep(0.05 * i)  # pages open one after another
            go["ready"] += 1
            await go["event"].wait()
            started.append(clock())

        tasks = [asyncio.create_task(student(i)) for i in range(n_students)]
        t_open, t_go = await start_together(go, deadline, n=n, clock=clock, limit=limit, settle=0.2, seconds=5)
        await asyncio.gather(*tasks)
        return t_open, t_go, started, deadline["t"] - time.perf_counter()

    t_open, t_go, started, left = run_async(lesson(3, 3, limit=30))
    assert 0.1 <= t_open < 5 and t_go - t_open >= 0.2 and all(t >= t_go for t in started) and 3 < left <= 5
    t_open, t_go, started, _ = run_async(lesson(2, 5, limit=0.5))  # three never came: the class starts anyway
    assert 0.5 <= t_open < 5 and len(started) == 2
    import ast

    for name in ("classroom.py", "browser_class.py"):
        tree = ast.parse((Path(__file__).resolve().parents[1] / "bench" / name).read_text())
        calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        sets = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "set"]
        assert "start_together" in calls and not any(
            isinstance(s.value, ast.Subscript) and getattr(s.value.slice, "value", None) == "event" for s in sets
        ), name


def test_a_real_model_student_on_serve_py_sends_one_get_per_key_and_reruns_only_at_the_pause():
    """bench.classroom's Real model student where the page offers the light route (serve.py): as live.js, each key
    is one ``GET /lm/views`` with the page's cookies (one at a time; a key typed while one is out waits and the
    newest text goes), a key is shown when the response for its text names its last token, and the only WebSocket
    message is one rerun of the component's fragment 400 ms after the last key, with the text in its state."""
    import asyncio
    import random

    from lab_fixtures import run_async

    asked: list[dict] = []
    cookies: list[str] = []

    async def handle(reader, writer):
        while True:
            try:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
            except asyncio.IncompleteReadError:
                break
            path = head.split()[1]
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(path).query))
            asked.append(q)
            cookies.append(next((h for h in head.split("\r\n") if h.startswith("Cookie:")), ""))
            await asyncio.sleep(0.4)  # slower than the keys: later keys wait and coalesce
            body = json.dumps({"sides": [{"capture": {"bars": {"title": f"Next token after “{q['text'][-1:]}”"}}}]})
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body.encode())}\r\n\r\n".encode() + body.encode())
            await writer.drain()
        writer.close()

    class FakeTab:
        def __init__(self, base):
            self.base, self.cookies = base, "attention_lab_backend=b1; _streamlit_xsrf=x"
            self.data = {"sides": [{"pattern": "blocks.0.attn.hook_pattern", "head": 0}]}
            self.states, self.owned = {}, set()
            self.component_id, self.component_fragment = "comp", "frag"
            self.reruns: list[tuple[str, dict]] = []
            self.reader = asyncio.Future()

        async def rerun(self, fragment="", auto=True, **kw):
            assert fragment == "frag" and not auto
            self.reruns.append((time.perf_counter(), json.loads(self.states["comp"][1])))

        async def close(self):
            pass

    async def run():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        tab, rec = FakeTab(base), C.Record("s", "real_model")
        route = {"url": "lm/views", "query": {"id": "abc", "layer": 0, "head": 0, "top_k": 10, "temp": 1.0}}
        end = time.perf_counter() + 3.0
        words = iter(["cat is", "cat is", "cat is"])
        await C.route_typist(
            tab, route, rec, random.Random(0), lambda: 0.0, lambda: end, next(words), words, lambda t: t[-1:], None
        )
        server.close()
        return tab, rec

    tab, rec = run_async(run())
    typed = [k.text for k in rec.keys]
    assert len(typed) >= 6 and not rec.errors, rec.errors  # "cat is" (its first letter is no key), then again
    assert all(k.latency is not None and k.latency < 1.0 for k in rec.keys), [(k.text, k.latency) for k in rec.keys]
    assert 2 <= len(asked) < len(typed)  # at most one out at a time: keys typed meanwhile coalesce
    left = iter(typed)
    assert all(any(q["text"] == t for t in left) for q in asked)  # in typing order, older texts skipped
    assert all(q["id"] == "abc" and q["top_k"] == "10" for q in asked)
    assert all("attention_lab_backend=b1" in c for c in cookies)  # to the process that drew the page
    # the sentence's end is a pause: one fragment rerun with the text in the component's state, none per key
    assert 1 <= len(tab.reruns) <= 2
    assert tab.reruns[0][1]["view"]["text"] == "cat is"
    assert tab.reruns[0][1]["view"]["sides"][0]["pattern"] == "blocks.0.attn.hook_pattern"
