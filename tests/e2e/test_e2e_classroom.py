"""Two Streamlit processes behind nginx (services.classroom), in real Chromium: sticky sessions, the WebSocket
through the proxy, one shared checkpoints folder.

A session pinned to process b0 trains and publishes a model while a session pinned to b1 keeps typing; then the
b1 session finds the new model in its picker (no restart) and draws it, and both keep typing with correct views.
nginx's access log proves where every request went. Skipped only when nginx is not installed (test.sh installs
Debian's package when it can).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time

import pytest
from conftest import SERVER_PATH, start_classroom

from services.classroom import COOKIE

NAME = f"twoproc-{int(time.time()) % 100000}"


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    from services.classroom import nginx_available

    if not nginx_available():
        pytest.skip("nginx is not installed (apt-get install -y nginx; test.sh does it when run as root)")
    tmp = tmp_path_factory.mktemp("classroom")
    # debug: the cookie names the process (b0, b1), so a test can pin a session to one.
    (tmp / "run").mkdir()
    r = start_classroom(
        processes=2, user_ckpt_dir=tmp / "shared-checkpoints", workdir=tmp / "run", debug=True, env=SERVER_PATH
    )
    r.user_ckpt_dir = tmp / "shared-checkpoints"
    yield r
    r.stop()


def type_and_check(ap, text: str) -> None:
    box = ap.textbox()
    box.fill(text)
    ap.wait_until(lambda: ap.bertviz_tokens() == ["<BOS>", *text] * 2, f"BertViz to show {text!r}", timeout_s=40)
    ap.wait_until(lambda: ap.chart_title() == f"Next token after “{text[-1]}”", f"the bars to name {text[-1]!r}")


def test_two_processes_share_models_and_keep_sessions(open_on, room):
    # A and B are pinned to a process by nginx's cookie; C is a new student nginx places itself.
    a, b, c = open_on(room, {COOKIE: "b0"}), open_on(room, {COOKIE: "b1"}), open_on(room)
    b.goto("")
    type_and_check(b, "ca")
    # Session A (process b0) trains a short run...
    a.goto("train")
    epochs = a.page.get_by_label("Epochs", exact=True)
    epochs.fill("2")
    epochs.press("Enter")
    a.wait_until(lambda: epochs.input_value() == "2", "the epoch count to take")
    name = a.page.get_by_role("textbox", name="Name for the result", exact=True)
    name.fill(NAME)
    name.press("Enter")
    a.wait_until(lambda: f"Will be saved as {NAME}" in a.main_text(), "the name to be accepted")
    a.page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()
    # ...while session B (process b1) keeps typing, views correct.
    for text in ("cap", "capy", "capyb"):
        type_and_check(b, text)
    a.wait_until(
        lambda: "is saved and is now in every page's model picker" in a.main_text(),
        "the run on b0 to finish and publish",
        timeout_s=120,
    )
    assert (room.user_ckpt_dir / f"{NAME}.pt").is_file()

    # B, on the other process, sees the new model on its next rerun and draws it: no restart.
    type_and_check(b, "capyba")
    picker = b.page.get_by_role("combobox", name="Model", exact=True)
    picker.click()
    option = b.page.get_by_role("option", name=f"{NAME} (trained here)")
    option.wait_for()
    option.click()
    b.wait_until(lambda: f"model={NAME}" in b.page.url, "B's URL to name the new model")
    type_and_check(b, "owl")
    # A goes on typing on its own process, and a new student gets a process and keeps it.
    a.goto("")
    type_and_check(a, "fox")
    c.goto("compare")
    type_and_check(c, "yak")
    chosen = {k["name"]: k["value"] for k in c.page.context.cookies()}.get(COOKIE)
    assert chosen in ("b0", "b1"), f"nginx set no process cookie: {c.page.context.cookies()}"
    for ap in (a, b, c):
        ap.assert_clean()
        ap.page.close()  # nginx logs a WebSocket when it closes

    # Sticky: every request that carried a process cookie went to that process, WebSockets included (101).
    ports = {p.name: f"127.0.0.1:{p.port}" for p in room.backends}
    deadline = time.monotonic() + 10
    while True:
        log = room.access_log()
        streams = {r["cookie"] for r in log if "/_stcore/stream" in r["request"] and r["status"] == "101"}
        if {"b0", "b1"} <= streams or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert log, "nginx wrote no access log"
    # nginx tries the cookie's process first; a request it could not answer at that instant (a reset keep-alive
    # connection) may be answered by a backup, which is harmless for a static file. A session (the WebSocket) must be
    # served by its own process.
    wrong = [r for r in log if r["cookie"] in ports and r["upstream"].split(", ")[0] != ports[r["cookie"]]]
    assert not wrong, f"requests sent to another process than their cookie names: {wrong[:3]}"
    moved = [
        r
        for r in log
        if r["cookie"] in ports
        and "/_stcore/stream" in r["request"]
        and r["status"] == "101"
        and r["upstream"] != ports[r["cookie"]]
    ]
    assert not moved, f"sessions served by another process than their cookie names: {moved[:3]}"
    assert {"b0", "b1"} <= streams, f"WebSocket upgrades through nginx per process cookie: {streams}"


def test_bench_classroom_through_nginx(room):
    """bench.classroom's students speak Streamlit's protocol through the proxy: two students, a few seconds."""
    from bench.classroom import RunSpec, drive, summarise

    spec = RunSpec(students=2, train=0, processes=2, seconds=6, pages=("explore", "compare"), faults=False, epochs=1)
    # On its own thread: Playwright's sync API (the browser fixture) holds this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        res = pool.submit(asyncio.run, drive(room.url, room.pids(), spec, seed=1, ckpt_dir=None)).result()
    row, notes = summarise(spec, res)
    errors = [e for r in res["recs"] for e in r.errors]
    assert not errors, errors[:5]
    measured = [k for r in res["recs"] for k in r.keys if k.latency is not None and k.latency != float("inf")]
    assert len(measured) >= 4, f"too few keystrokes measured: {row}"
    assert all(r.keys for r in res["recs"]), "a student typed nothing"


def test_a_real_size_word_list_uploads_through_nginx(open_on, room):
    """As root (CI's user) nginx's worker is nobody, and request bodies over ~16 KB are buffered in its temp
    folder: a word list of a few thousand words (here ~40 KB) was refused with HTTP 500 ("AxiosError")."""
    import itertools
    import string

    words = [
        "".join(p)
        for p in itertools.islice(
            itertools.product("abcdefghij", string.ascii_lowercase, "aeiou", "nrst", "aeiou"), 5000
        )
    ]
    data = ("\n".join(words) + "\n").encode()
    assert len(data) > 16_384
    ap = open_on(room)
    ap.goto("train")
    ap.page.get_by_text("Upload a .txt file").click()
    upload = ap.page.locator("input[type=file]")
    upload.wait_for(state="attached")
    upload.set_input_files(files=[{"name": "class-words.txt", "mimeType": "text/plain", "buffer": data}])
    ap.wait_until(lambda: "5,000 words ready" in ap.main_text(), "the uploaded list to be read", timeout_s=40)
    assert "AxiosError" not in ap.main_text()
    ap.assert_clean()


@pytest.fixture(scope="module")
def quiet_room(tmp_path_factory):
    """One process behind nginx with short clocks: Streamlit pings every 3 s (and closes a socket that has not
    answered 3 s later), nginx closes a WebSocket its process has said nothing on for 8 s."""
    from services.classroom import Limits

    r = start_classroom(
        processes=1,
        nginx=True,
        workdir=tmp_path_factory.mktemp("quiet"),
        debug=True,
        limits=Limits(read_timeout_s=8),
        env={"STREAMLIT_SERVER_WEBSOCKET_PING_INTERVAL": "3", **SERVER_PATH},
    )
    yield r
    r.stop()


def test_an_idle_tab_survives_nginx_timeouts_and_a_silent_socket_is_closed(quiet_room):
    """nginx closes a WebSocket its process is silent on (here 8 s): Streamlit's pings (here every 3 s) keep a
    quiet tab that answers them open, and Streamlit closes a socket whose client never answers."""
    import asyncio

    import websockets

    room = quiet_room

    async def idle(answer_pings: bool, seconds: float) -> tuple[bool, float]:
        u = room.url.replace("http://", "ws://") + "/_stcore/stream"
        t0 = time.monotonic()
        async with websockets.connect(
            u,
            subprotocols=["streamlit"],
            ping_interval=None,
            open_timeout=30,
            additional_headers={"Cookie": f"{COOKIE}=b0"},
        ) as ws:
            if not answer_pings:
                ws.transport.pause_reading()  # a laptop shut: nothing read, no pong sent
            try:
                while time.monotonic() - t0 < seconds:
                    await asyncio.sleep(0.5)
                    if ws.state.name != "OPEN":
                        break
                if not answer_pings:
                    ws.transport.resume_reading()
                    await asyncio.wait_for(ws.wait_closed(), 2)
            except (TimeoutError, websockets.ConnectionClosed):
                pass
            return ws.state.name == "OPEN", time.monotonic() - t0

    # On their own thread: Playwright's sync API (the browser fixture) holds this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        tab, gone = pool.submit(asyncio.run, idle(True, 20)), pool.submit(asyncio.run, idle(False, 25))
        (alive, held), (gone_alive, gone_held) = tab.result(), gone.result()
    assert alive and held >= 20, f"an idle tab that answers pings was closed after {held:.1f} s"
    alive, held = gone_alive, gone_held
    assert not alive, f"a socket that never answered was still open after {held:.1f} s"
