"""Real-browser fixtures: one ``streamlit run app.py`` per test session, Debian's Chromium driven by Playwright.

* ``app_server`` starts the app on a free port in its own process group, waits for ``/_stcore/health`` and, at
  the end, stops exactly that group (never anything else). Models trained in the browser go to a temporary
  folder (``ATTENTION_LAB_USER_CKPT_DIR``), so the repository's ``checkpoints/`` is never touched.
* ``app`` is a fresh browser page wrapped in :class:`AppPage`. Every request to a host other than localhost is
  aborted and counted (offline proof: the app must need none), console errors and page errors are collected, and
  any ``alert``/``confirm``/``prompt`` dialog is recorded and dismissed (an XSS would open one). ``assert_clean``
  fails the test on any of those; the fixture checks again at teardown.
* ``open_app`` opens more such pages, each in its own browser context, i.e. independent sessions on the same
  server (``app`` is the first one it opens).
* Screenshots go to ``artifacts/screenshots/`` (git-ignored), one per page and scenario.

Chromium is ``/usr/bin/chromium`` (``apt-get install -y chromium``); Playwright's own browser download is never
used. Without it these tests FAIL with a message saying how to install it: they never pass silently.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import CHROMIUM_ARGS, LOCAL_HOSTS  # noqa: E402
from services.server_process import ServerProcess  # noqa: E402

CHROMIUM = os.environ.get("ATTENTION_LAB_CHROMIUM", "/usr/bin/chromium")  # override: to test the failure path
SCREENSHOTS = REPO / "artifacts" / "screenshots"
HEALTH_TIMEOUT_S = 60
# This machine has 2 cores shared by the server, Chromium and the tests: the first page view imports torch and
# BertViz (5-15 s), so waits are generous. They are upper bounds; a healthy run waits far less.
TIMEOUT_MS = 45_000
VIEWPORT = {"width": 1400, "height": 1000}

PAGES = {  # url path -> page title (the st.title of each page)
    "": "Explore",
    "compare": "Compare",
    "leak": "Leak lesson",
    "generate": "Generate",
    "train": "Train",
    "real_model": "Real model",
    "lesson": "Lesson",
}


# The tests here were written for Explore's and Compare's server path; the browser path, the students' default, is
# tested with ?browser=1 and, as the default, on a server of its own (tests/e2e/test_e2e_browser_forward.py).
SERVER_PATH = {"ATTENTION_LAB_BROWSER_PATH": "0"}


def require_chromium():
    """The Playwright module and Debian's Chromium, or a test failure that says how to get them."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.fail(
            "The real-browser tests need the `playwright` Python package (in requirements.txt): "
            "run `bash scripts/setup.sh` or `.venv/bin/pip install -r requirements.txt`. "
            "Never run `playwright install`: these tests use Debian's Chromium.",
            pytrace=False,
        )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing, so the real-browser tests in tests/e2e cannot run. Install it with "
            "`sudo apt-get install -y chromium` (test.sh does this when run as root), or skip them "
            "explicitly with `pytest --ignore=tests/e2e`.",
            pytrace=False,
        )


def start_server(folder: Path, env_extra: dict | None = None, script: str = "app.py") -> ServerProcess:
    """A healthy ``streamlit run <script>`` whose logs and trained models (``user_ckpt_dir``) are in ``folder``;
    ``env_extra`` on top of the environment (a None value unsets a name). A server that does not start fails the
    test with its log."""
    env = {
        **os.environ,
        "ATTENTION_LAB_USER_CKPT_DIR": str(folder / "user-checkpoints"),
        "PYTHONUNBUFFERED": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        **SERVER_PATH,
        **(env_extra or {}),
    }
    env = {k: v for k, v in env.items() if v is not None}
    server = ServerProcess(None, folder / "streamlit.log", env, script=script)
    server.user_ckpt_dir = folder / "user-checkpoints"
    try:
        server.wait_healthy(HEALTH_TIMEOUT_S)
    except RuntimeError as e:
        server.stop()
        pytest.fail(str(e), pytrace=False)
    return server


def start_classroom(**kwargs):
    """``services.classroom.Classroom(**kwargs)`` started (processes healthy, nginx in front), or a test failure
    that shows why; the caller stops it."""
    from services.classroom import Classroom

    room = Classroom(**kwargs)
    try:
        return room.start()
    except RuntimeError as e:  # start() has stopped what it started
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """A fresh ``streamlit run app.py`` for the session (free port, own process group, stopped afterwards)."""
    server = start_server(tmp_path_factory.mktemp("e2e-server"))
    yield server
    server.stop()


@pytest.fixture
def server_factory(tmp_path):
    """Start extra servers of one's own (e.g. to signal them): ``start(env_extra=None, script="app.py") ->
    ServerProcess``, healthy, with its own ``user_ckpt_dir`` (see ``start_server``). Every one is stopped at
    teardown; each runs in its own process group."""
    started: list[ServerProcess] = []

    def start(env_extra: dict | None = None, script: str = "app.py") -> ServerProcess:
        folder = tmp_path / f"server-{len(started) + 1}"
        folder.mkdir()
        server = start_server(folder, env_extra, script)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def open_page_on(browser):
    """``open(server) -> AppPage``: a browser session on a server of one's own (see ``server_factory``)."""
    contexts = []

    def open_(server: ServerProcess) -> AppPage:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        return AppPage(context.new_page(), server)

    yield open_
    for context in contexts:
        try:
            context.close()
        except Exception:  # its server may be gone already: nothing left to close
            pass


@pytest.fixture(scope="session")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class AppPage:
    """A browser page on the app with the offline / no-error / no-dialog guards attached."""

    def __init__(self, page, server: ServerProcess):
        self.page = page
        self.server = server
        self.blocked: list[str] = []  # non-localhost requests (aborted)
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.reported = False
        page.route("**/*", self._route)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("dialog", self._dialog)
        page.set_default_timeout(TIMEOUT_MS)

    # ---- guards ----------------------------------------------------------------------------------------------
    def _route(self, route):
        url = route.request.url
        host = urlparse(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, msg):
        if msg.type == "error":
            loc = msg.location or {}
            url = loc.get("url", "")
            if self._streamlit_base_probe(msg.text, url):
                return
            self.console_errors.append(f"{msg.text[:500]} ({url}:{loc.get('lineNumber', '')})")

    @staticmethod
    def _streamlit_base_probe(text: str, url: str) -> bool:
        """Streamlit's frontend, opened on a page URL such as /compare, first probes /compare/_stcore/health and
        /compare/_stcore/host-config (in case the app is served under that prefix), gets 404, then uses /. The
        browser logs those 404s; they are Streamlit's, harmless, and the only console errors we ignore."""
        path = urlparse(url).path
        return (
            urlparse(url).hostname in LOCAL_HOSTS
            and "404" in text
            and re.fullmatch(r"/[^/]+(/[^/]+)*/_stcore/(health|host-config)", path) is not None
        )

    def _dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message!r}")
        dialog.dismiss()

    def problems(self) -> list[str]:
        out = []
        if self.dialogs:
            out.append(f"a JavaScript dialog opened (XSS?): {self.dialogs}")
        if self.blocked:
            out.append(
                f"{len(self.blocked)} request(s) to hosts other than localhost (the app must work offline): "
                f"{self.blocked[:5]}"
            )
        if self.console_errors:
            out.append(f"console errors: {self.console_errors[:5]}")
        if self.page_errors:
            out.append(f"uncaught page errors: {self.page_errors[:5]}")
        exc = self.page.locator('[data-testid="stException"]')
        if not self.page.is_closed() and exc.count():
            out.append(f"Streamlit exception on the page: {exc.first.inner_text()[:1500]}")
        return out

    def assert_clean(self) -> None:
        self.reported = True
        problems = self.problems()
        assert not problems, "\n".join(problems)

    # ---- navigation and waiting ------------------------------------------------------------------------------
    def goto(self, path: str = "", **query) -> None:
        """Open a page (``""`` = Explore, ``"compare"``, ...) and wait until its title is drawn and the first
        script run is over."""
        from urllib.parse import urlencode

        url = f"{self.server.url}/{path}" + (f"?{urlencode(query)}" if query else "")
        self.page.goto(url)
        self.page.get_by_role("heading", name=PAGES[path], exact=False).first.wait_for()
        self.wait_idle()

    def wait_idle(self, timeout_ms: int = TIMEOUT_MS) -> None:
        """The script is not running. Right after an input the state can still read notRunning before the rerun
        starts, so tests wait for the expected *content*; this is only for "the page has settled"."""
        self.page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_ms)

    def wait_until(self, predicate, what: str, timeout_s: float = TIMEOUT_MS / 1000, interval_s: float = 0.05):
        """Poll ``predicate()`` until it returns something truthy; fail saying ``what`` was awaited."""
        deadline = time.monotonic() + timeout_s
        last_exc = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as e:  # an element replaced mid-read: try again
                last_exc = e
            if time.monotonic() > deadline:
                state = self.page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
                raise AssertionError(
                    f"timed out after {timeout_s:.0f} s waiting for {what} (script state {state}, "
                    f"last error {last_exc!r}).\n"
                    + "\n".join(self.problems())
                    + f"\n--- the page showed ---\n{self._evidence()}"
                    + f"\n--- server log tail ---\n{self.server.log_tail(2000)}"
                )
            # Not time.sleep: Playwright's sync API handles browser events (URL changes, console messages,
            # dialogs) only while one of its calls runs, so waiting through it keeps page.url and the guards live.
            self.page.wait_for_timeout(interval_s * 1000)

    def _evidence(self) -> str:
        """What a failed wait saw, for the CI log: the page's text, its end (where the news is). The screenshot is
        the open_app fixture's FAILED-<test>.png, taken when the test fails."""
        try:
            text = self.main_text()
        except Exception as e:  # the page may be gone: say so instead of hiding the real failure
            return f"(could not read the page: {e!r})"
        return text if len(text) <= 3000 else "…" + text[-3000:]

    def textbox(self, label: str = "Type a word"):
        return self.page.get_by_role("textbox", name=label, exact=True)

    def main_text(self) -> str:
        return self.page.locator('[data-testid="stMain"]').inner_text()

    def frames(self):
        return self.page.locator('[data-testid="stCustomComponentV1"]')

    def bertviz_tokens(self, index: int = 0) -> list[str]:
        """The texts BertViz drew as SVG inside the index-th iframe (the head view lists the tokens twice: the
        query column, then the key column)."""
        frames = self.frames()
        if frames.count() <= index:
            return []
        return (
            self.page.frame_locator('[data-testid="stCustomComponentV1"]')
            .nth(index)
            .locator("#vis svg text")
            .all_text_contents()
        )

    def chart_texts(self, index: int = 0) -> list[str]:
        charts = self.page.locator('[data-testid="stPlotlyChart"]')
        if charts.count() <= index:
            return []
        return charts.nth(index).locator("svg text").all_text_contents()

    def chart_title(self, index: int = 0) -> str | None:
        charts = self.page.locator('[data-testid="stPlotlyChart"]')
        if charts.count() <= index:
            return None
        t = charts.nth(index).locator(".gtitle")
        return t.first.text_content() if t.count() else None

    def charts_drawn(self) -> bool:
        """Every plotly chart on the page has drawn its SVG (Streamlit shows a grey skeleton until then)."""
        return self.page.evaluate("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
            .every(c => c.querySelector('svg.main-svg'))""")

    def wait_charts_drawn(self, timeout_s: float = 20) -> None:
        self.wait_until(self.charts_drawn, "every plotly chart to draw", timeout_s=timeout_s)

    def screenshot(self, name: str) -> Path:
        """The whole page (the viewport is stretched to the content, since Streamlit scrolls inside stMain)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        height = self.page.evaluate("""() => {
            const m = document.querySelector('[data-testid="stMain"]');
            const c = m && (m.querySelector('[data-testid="stMainBlockContainer"]') || m.firstElementChild);
            return Math.ceil(Math.max(c ? c.scrollHeight + 160 : 0, window.innerHeight));
        }""")
        old = self.page.viewport_size
        self.page.set_viewport_size({"width": old["width"], "height": min(int(height), 9000)})
        self.page.wait_for_timeout(600)  # plotly and the iframes re-lay out
        try:
            self.wait_charts_drawn(timeout_s=10)
        except AssertionError:
            pass  # a screenshot is evidence, not a check: take it anyway
        self.page.screenshot(path=str(path))
        self.page.set_viewport_size(old)
        return path


@pytest.fixture
def open_app(browser, app_server, request):
    """A factory of browser sessions on the one server: each call opens a new browser context (its own cookies and
    storage, its own websocket, so its own Streamlit session) and returns it as an :class:`AppPage` with the same
    guards. At teardown each is screenshotted if the test failed, closed, and checked like ``app``."""
    opened: list[AppPage] = []

    def open_page() -> AppPage:
        context = browser.new_context(viewport=VIEWPORT)
        ap = AppPage(context.new_page(), app_server)
        opened.append(ap)
        return ap

    yield open_page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    leftover = []
    for i, ap in enumerate(opened):
        tag = f" (session {i + 1} of {len(opened)})" if len(opened) > 1 else ""
        try:
            if not ap.reported:
                leftover += [p + tag for p in ap.problems()]
            if failed:  # keep the evidence
                try:
                    ap.screenshot(f"FAILED-{request.node.name}" + (f"-{i + 1}" if len(opened) > 1 else ""))
                except Exception:
                    pass
        except Exception as e:  # one page that can't be read must not leave the others open
            leftover.append(f"could not check the page{tag}: {e!r}")
        finally:
            ap.page.context.close()
    if leftover and not failed:
        pytest.fail("\n".join(leftover), pytrace=False)


@pytest.fixture
def open_on(browser):
    """Like ``open_app``, on a server given by the test (anything with ``url`` and ``log_tail``, e.g. nginx in front
    of several processes), with optional cookies set before the first request. Contexts close at teardown."""
    opened: list[AppPage] = []

    def open_page(server, cookies: dict | None = None) -> AppPage:
        context = browser.new_context(viewport=VIEWPORT)
        if cookies:
            host = urlparse(server.url).hostname
            context.add_cookies([{"name": k, "value": v, "domain": host, "path": "/"} for k, v in cookies.items()])
        ap = AppPage(context.new_page(), server)
        opened.append(ap)
        return ap

    yield open_page
    for ap in opened:
        ap.page.context.close()  # also when the test closed its page already


@pytest.fixture
def app(open_app):
    """One fresh browser session on the app (see ``open_app`` for more than one)."""
    return open_app()


COLD_START_TEST = "test_typing_while_the_first_page_view_loads"  # test_e2e_explore.py


def pytest_collection_modifyitems(items):
    """The cold-start test must meet the session's fresh server, whichever file sorts first (test_e2e_concurrency.py
    does, and warms it up): run it before every other test, the rest in their usual order."""
    items.sort(key=lambda item: item.name != COLD_START_TEST)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep
