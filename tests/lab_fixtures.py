"""Shared test helpers (tiny seeded models, the tiny word list, the app under AppTest). A plain module, not
conftest.py: tests/e2e has its own conftest, and ``from conftest import`` would pick whichever pytest imported first."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models import registry  # noqa: E402
from models.checkpoint import ModelBundle  # noqa: E402
from models.train import make_model  # noqa: E402
from models.vocab import DEFAULT_VOCAB  # noqa: E402

APP = str(REPO / "app.py")
MODEL_NAMES = registry.train_flags()  # every model's train flag, read once at collection
TINY_WORDS = (
    "cat",
    "dog",
    "capybara",
    "apple",
    "banana",
    "carrot",
    "zebra",
    "lion",
    "tiger",
    "mango",
    "kiwi",
    "lemon",
    "onion",
    "bee",
    "ant",
    "owl",
)


def tiny_bundle(model_name: str, seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    model = make_model(model_name).eval().requires_grad_(False)
    return ModelBundle(name=model_name, model=model, vocab=DEFAULT_VOCAB, architecture=model.architecture)


def open_app(page: str | None = None, *, direct: bool = False, timeout: float = 60, state: dict | None = None, **query):
    """The app under AppTest: ``state`` put in session state and ``query`` in the URL before the first run, which
    is on Explore (the default page) and then switched to ``page``, or with ``direct`` on ``page`` at once (a
    browser opening that page's URL); no exception after any run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in (state or {}).items():
        at.session_state[k] = v
    for k, v in query.items():
        at.query_params[k] = v
    if page is not None and direct:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page is not None and not direct:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def strings(obj):
    """Every string anywhere in a figure or its dict (titles, hover text, tick text, ...)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings(v)
    elif isinstance(obj, (list, tuple)) or type(obj).__name__ == "ndarray":
        for v in obj:
            yield from strings(v)


def shown(markdown: str) -> str:
    """What a reader sees of a message written with ui.widgets.escape_md: backslash escapes and word joiners gone
    (the Markdown the page itself writes, such as **bold**, stays)."""
    import re
    import string

    return re.sub("\\\\([" + re.escape(string.punctuation) + "])", r"\1", str(markdown)).replace("\u2060", "")


def run_async(coro):
    """``asyncio.run(coro)`` on a thread of its own: the Chromium tests' Playwright (sync API) keeps an event loop
    running on the main thread for the whole session, and asyncio.run refuses to start inside a running loop."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
