"""The Real model's light route (services/lm_views.py, ``GET /lm/views``): one key's views as JSON, equal to what
the page's own data path gives the component; bad input and unknown models get a message, never a traceback."""

from __future__ import annotations

import json

import pytest
from hf_fixtures import save_tiny
from lab_fixtures import open_app

PAGE = "app_pages/7_real_model.py"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny("gpt2", tmp_path_factory.mktemp("route-gpt2"))


@pytest.fixture
def served(monkeypatch):
    """The page as serve.py serves it (the route answers in this process) and a client of the route."""
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from services import lm_views

    monkeypatch.setattr(lm_views, "SERVED", True)
    with TestClient(Starlette(routes=[Route(lm_views.PATH, lm_views.views, methods=["GET"])])) as client:
        yield client


def live(at) -> dict:
    for el in at.get("bidi_component"):
        if el.proto.component_name == "attention_lab_live":
            return json.loads(el.proto.json)
    raise AssertionError("no live component on the page")


def page_data(folder, text: str, **state) -> dict:
    at = open_app(
        PAGE, timeout=120, state={"real.source": "folder", "real.path": str(folder), "real.text": text, **state}
    )
    assert not at.exception, at.exception
    return live(at), at


def ask(client, route: dict, **over):
    q = {**route["query"], **over}
    return client.get("/" + route["url"], params=q)


def test_the_route_answers_what_the_page_sends_and_the_page_has_no_per_key_box(folder, served):
    """Served, the page hands the component the route (an opaque id, the knobs, the box's limit) and draws no
    st.text_input of its own (the component owns the box: a key is no rerun); the route's JSON for a text equals
    what the page's data path gives for that text, in English and in Japanese."""
    text = "The cat sat on the mat because it was"
    knobs = {"real.top_k": 7, "real.temperature": 0.7, "real.layer": 1, "real.head": 1}
    data, at = page_data(folder, text, **knobs)
    assert not at.text_input or all(t.key != "real.text" for t in at.text_input)
    route = data["route"]
    assert route["url"] == "lm/views" and str(folder) not in json.dumps(route)  # never a path
    assert route["query"]["top_k"] == 7 and route["query"]["layer"] == 1 and route["query"]["head"] == 1
    r = ask(served, route, text=text)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    want = {k: v for k, v in data.items() if k not in ("labels", "route")}
    assert r.json() == want
    # another text: what the page would send for it (a key the page never reran for)
    other = "The cat sat on the mat because it"
    got = ask(served, route, text=other).json()
    data2, _ = page_data(folder, other, **knobs)
    assert got == {k: v for k, v in data2.items() if k not in ("labels", "route")}
    assert got["sides"][0]["capture"]["tokens"][-1] == "␣it"
    # Japanese: the bars' title and the entropy's row label in the page's language
    ja, _ = page_data(folder, text, lang="ja", **knobs)
    assert ja["route"]["query"]["lang"] == "ja"
    got = ask(served, ja["route"], text=text).json()
    assert got == {k: v for k, v in ja.items() if k not in ("labels", "route")}
    assert got["sides"][0]["capture"]["bars"]["title"] != data["sides"][0]["capture"]["bars"]["title"]


def test_bad_input_gets_a_message_and_unknown_ids_are_refused(folder, served):
    data, _ = page_data(folder, "a cat")
    route = data["route"]
    cases = {
        "unknown id": ({"id": "not-a-registered-id"}, 404, "not open"),
        "a path as id": ({"id": str(folder)}, 404, "not open"),
        "too long": ({"text": "a" * 2_001}, 413, "at most 2000"),
        "control": ({"text": "a\x00b"}, 400, "control characters"),
        "escape": ({"text": "a\x1b[31mb"}, 400, "control characters"),
        "top_k 0": ({"top_k": "0"}, 400, "top_k"),
        "top_k word": ({"top_k": "seven"}, 400, "top_k"),
        "temp nan": ({"temp": "nan"}, 400, "temp"),
        "temp inf": ({"temp": "inf"}, 400, "temp"),
        "layer -1": ({"layer": "-1"}, 400, "layer"),
        "layer huge": ({"layer": "99"}, 400, "layers 0–1"),
        "head huge": ({"head": "99"}, 400, "heads 0–"),
        "head float": ({"head": "1.5"}, 400, "head"),
    }
    for name, (over, status, words) in cases.items():
        r = ask(served, route, **{"text": "a cat", **over})
        assert r.status_code == status, (name, r.status_code, r.text)
        assert r.headers["cache-control"] == "no-store"
        assert words in r.json()["error"], (name, r.json())
        assert "Traceback" not in r.text
    # in the student's language
    r = ask(served, route, id="nope", lang="ja", text="a")
    assert r.status_code == 404 and "再読み込み" in r.json()["error"]
    r = ask(served, route, text="a\x07", lang="ja")
    assert r.status_code == 400 and "制御文字" in r.json()["error"]
    # the empty box, one character: views, not errors
    for text in ("", "a"):
        r = ask(served, route, text=text)
        assert r.status_code == 200 and r.json()["text"] == text, r.text
    # Japanese text, emoji: data, not errors
    r = ask(served, route, text="こんにちは 🐱 <b>&amp;")
    assert r.status_code == 200 and r.json()["text"] == "こんにちは 🐱 <b>&amp;"


def test_a_busy_model_is_a_message_in_the_students_language(folder, served, monkeypatch):
    from models.messages import N_, Message
    from services import lm_batcher

    data, _ = page_data(folder, "a cat")

    def busy(self, *a, **kw):
        raise lm_batcher.Busy(
            Message(N_("Many students are typing at once; the model is busy. Type again in a moment."))
        )

    monkeypatch.setattr(lm_batcher.Batcher, "extend", busy)
    r = ask(served, data["route"], text="A text only the busy route test types")
    assert r.status_code == 503 and "the model is busy" in r.json()["error"]
    r = ask(served, data["route"], text="A text only the busy route test types", lang="ja")
    assert r.status_code == 503 and "混み合っています" in r.json()["error"]


def test_a_model_that_fails_is_a_message_not_a_traceback(folder, served, monkeypatch):
    """Anything else that goes wrong below the route (a model that fails to run) answers 500 with a message in the
    student's language, never a traceback (the path once named an undefined translation function)."""
    from models.messages import N_, Message, MessageError
    from services import lm_batcher

    data, _ = page_data(folder, "a cat")

    def broken(self, *a, **kw):
        raise MessageError(Message(N_("Many students are typing at once; the model is busy. Type again in a moment.")))

    monkeypatch.setattr(lm_batcher.Batcher, "extend", broken)
    r = ask(served, data["route"], text="A text only the failing route test types", lang="ja")
    assert r.status_code == 500 and "混み合っています" in r.json()["error"] and "Traceback" not in r.text


def test_the_pause_makes_the_components_text_the_pages(monkeypatch):
    """The component reports the text at the pause (state "view"): the page's text follows it (cut to the box's
    limit), so the token chips, the "it" lesson, ?text= and Let it write read it on the fragment's run."""
    from services import lm_views
    from ui import real_model as R

    store = {R.LIVE_STATE: {"view": {"text": "a dog sat" + "x" * 3_000}}}
    monkeypatch.setattr(R.st, "session_state", store)
    R._on_live_view()
    assert store["real.text"] == ("a dog sat" + "x" * 3_000)[: lm_views.MAX_CHARS]
    store[R.LIVE_STATE] = {"view": {"text": 5}}  # not text: left as it was
    R._on_live_view()
    assert store["real.text"].startswith("a dog sat")
