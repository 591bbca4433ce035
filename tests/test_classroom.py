"""The classroom set-up without a browser: nginx's config (sticky cookie, WebSocket upgrade, one upstream per
process; ``nginx -t`` accepts it), bench.classroom's limits (localhost only) and its keystroke bookkeeping (which
finished run shows which key), fed Streamlit's own ForwardMsg protobufs."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench import classroom as C
from services.classroom import COOKIE, NGINX, nginx_available, nginx_conf


def test_nginx_conf_routes_by_cookie_and_upgrades_websockets(tmp_path):
    conf = nginx_conf([8601, 8602, 8603], "127.0.0.1:8600", tmp_path)
    for i, port in enumerate((8601, 8602, 8603)):
        assert f"upstream b{i} {{ server 127.0.0.1:{port};" in conf
        assert f"        b{i} b{i};\n" in conf                   # a cookie naming a process keeps it
    assert f"map $cookie_{COOKIE} $lab_backend" in conf
    assert "33.33% b0;" in conf and "33.33% b1;" in conf and "* b2;" in conf   # new browsers spread evenly
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_http_version 1.1;" in conf
    assert f'add_header Set-Cookie "{COOKIE}=$lab_backend;' in conf
    assert "ip_hash" not in conf                                  # one school NAT = one IP: never by address
    assert str(tmp_path) in conf and "daemon off;" in conf        # pid, logs, temp files under our prefix
    with pytest.raises(ValueError):
        nginx_conf([], "127.0.0.1:1", tmp_path)


@pytest.mark.skipif(not nginx_available(), reason="nginx is not installed (test.sh installs it when run as root)")
def test_nginx_accepts_the_generated_conf(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf([8601, 8602], "127.0.0.1:8600", tmp_path))
    r = subprocess.run([NGINX, "-t", "-e", str(tmp_path / "error.log"), "-c", str(conf), "-p", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("url", ["http://example.org:8501", "https://localhost:8501", "http://10.0.0.5:8501",
                                 "http://localhost"])
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
    tab.rec.keys.append(C.Key("cap", time.perf_counter() + 1))    # sent after that run started
    for m in (bars("a"), finished()):
        tab.handle(m)
    assert tab.rec.keys[0].latency is not None and tab.rec.keys[1].latency is None
    for m in (new_session(), bars("p"), finished()):
        tab.handle(m)
    assert tab.rec.keys[1].latency is None            # sent "after" this run started too (clock in the future)


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
    for m in (element("number_input", id="n", label="Batch size", default=1.0, value=128.0, set_value=True),
              element("selectbox", id="s", label="Model", options=["mini", "full"], default=1),
              element("slider", id="k", label="Top-k", default=[8.0]),
              element("checkbox", id="c", label="Finished word", default=False),
              element("text_input", id="t", label="Type a word", default="", value="ca", set_value=True),
              element("number_input", id="gone", label="Old", default=3.0)):
        tab.handle(m)
    assert tab.states["n"] == ("double_value", 128.0) and tab.states["s"] == ("string_value", "full")
    assert tab.states["k"] == ("double_array_value", [8.0]) and tab.states["c"] == ("bool_value", False)
    tab.set_value("Type a word", "string_value", "cap")
    tab.handle(finished())
    tab.handle(new_session())
    for m in (element("number_input", id="n", label="Batch size", default=1.0),        # no set_value: keep 128
              element("text_input", id="t", label="Type a word", value="c", set_value=True),   # a stale echo
              element("selectbox", id="s", label="Model", options=["mini", "full"], raw_value="mini",
                      set_value=True), element("slider", id="k", label="Top-k", default=[8.0]),
              element("checkbox", id="c", label="Finished word"), finished()):
        tab.handle(m)
    assert tab.states["n"] == ("double_value", 128.0)
    assert tab.states["t"] == ("string_value", "cap")          # what the student typed, not the server's echo
    assert tab.states["s"] == ("string_value", "mini")         # the server set it (set_value)
    assert "gone" not in tab.states
