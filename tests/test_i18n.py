"""Translation catalogs: every ``_()`` string of the app is translated in every language, with the same
placeholders, and pages run in Japanese."""

from __future__ import annotations

import re
import string
import sys

import pytest
from lab_fixtures import REPO, open_app

sys.path.insert(0, str(REPO / "scripts"))
import i18n as catalogs  # noqa: E402  (scripts/i18n.py)

from ui.i18n import LANGUAGES, gettext_for  # noqa: E402

TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]


def _fields(s: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(s) if f is not None}


@pytest.fixture(scope="module")
def template():
    return catalogs.extract()


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_string_is_translated(lang, template):
    missing = catalogs.untranslated(lang, template)
    assert not missing, (
        f"{len(missing)} string(s) untranslated in {lang} (run scripts/i18n.py update, then "
        f"translate locale/{lang}/LC_MESSAGES/messages.po): {missing[:10]}"
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_the_placeholders(lang, template):
    cat = catalogs.read(catalogs.LOCALE / lang / "LC_MESSAGES" / "messages.po")
    for m in template:
        t = cat.get(m.id)
        if t is not None and t.string:
            assert _fields(t.string) == _fields(m.id), (m.id, t.string)
            dummy = {f.split(".")[0].split("[")[0]: 1.0 for f in _fields(m.id) if f}
            try:
                m.id.format(**dummy)
            except (KeyError, ValueError, IndexError):
                continue  # literal braces (a JSON sample shown as is): the msgid is never formatted
            t.string.format(**dummy)


def test_compiled_catalog_is_used():
    catalogs.compile_all()
    gettext_for.cache_clear()
    assert gettext_for("ja")("Explore") == "探索"
    assert gettext_for("en")("Explore") == "Explore"
    assert gettext_for("xx")("Explore") == "Explore"  # a language without a catalog falls back


def test_no_f_string_inside_the_translation_call():
    bad = []
    for path in [REPO / "app.py", *(REPO / "app_pages").glob("*.py"), *(REPO / "ui").rglob("*.py")]:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\b_\(\s*f[\"']", line):
                bad.append(f"{path.relative_to(REPO)}:{i}")
    assert not bad, f"_() of an f-string makes a new msgid for every value: {bad}"


def test_app_runs_in_japanese_and_switches_back(lab_dirs):
    catalogs.compile_all()
    gettext_for.cache_clear()
    at = open_app(lang="ja")
    switch = at.sidebar.button_group[0]
    assert switch.value == "ja"
    assert any("動物" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
    for page in sorted((REPO / "app_pages").glob("*.py")):  # every page runs in Japanese
        at.switch_page(str(page.relative_to(REPO))).run()
        assert not at.exception, (page.name, at.exception)
    at.sidebar.button_group[0].set_value("en").run()
    assert not at.exception, at.exception
    assert any("animal" in c.value for c in at.sidebar.caption)


# ---- nothing left in English on a Japanese page -----------------------------------------------------------------


def _english_patterns(lang: str, template) -> list[tuple[str, re.Pattern]]:
    """A pattern per msgid that ``lang`` translates differently: the msgid with its placeholders filled by anything.
    Long ones (15+ letters outside placeholders) are searched for inside a text, so a sentence joined to another
    is caught; short ones ("Head", "top-{k}") must be the whole text, or they'd match inside a model or file name."""
    cat = catalogs.read(catalogs.LOCALE / lang / "LC_MESSAGES" / "messages.po")
    out = []
    for m in template:
        t = cat.get(m.id)
        if not m.id or t is None or not t.string or t.string == m.id:
            continue
        parts = (
            [(lit, field) for lit, field, _spec, _conv in string.Formatter().parse(m.id)]
            if "{" in m.id and _fields(m.id)
            else [(m.id, None)]
        )
        rx = "".join(re.escape(lit) + (".*?" if field is not None else "") for lit, field in parts)
        letters = sum(ch.isalpha() for lit, _f in parts for ch in lit)
        out.append((m.id, re.compile(rx, re.S) if letters >= 15 else re.compile(rf"\A{rx}\Z", re.S)))
    return out


def _visible_texts(node) -> list[str]:
    """Every text an AppTest element tree shows: element values that are text (markdown, captions, headers,
    alerts), widget labels, help and placeholders, formatted options, metric labels, expander labels, table columns."""
    from streamlit.testing.v1.element_tree import Widget

    texts = []
    # A widget's value is what it holds (a typed word, an option's key), not what it shows: its label, help,
    # placeholder and formatted options are.
    for attr in ("label", "help", "placeholder") if isinstance(node, Widget) else ("value", "label"):
        try:
            v = getattr(node, attr)
        except Exception:  # a widget whose value needs a state it doesn't have
            continue
        if isinstance(v, str):
            texts.append(v)
    try:
        options = getattr(node, "options", None)
    except Exception:
        options = None
    if isinstance(options, (list, tuple)):
        texts += [o for o in options if isinstance(o, str)]
    if getattr(node, "type", None) in ("arrow_data_frame", "dataframe"):
        try:
            texts += [str(c) for c in node.value.columns]
        except Exception:
            pass
    for child in getattr(node, "children", {}).values() if isinstance(getattr(node, "children", None), dict) else []:
        texts += _visible_texts(child)
    return texts


def test_japanese_pages_show_no_english_catalog_text(template, monkeypatch):
    """Every page, in Japanese, after typing "capy": no text on it is a catalog msgid left in English (a string
    that skipped ``_()``, or a figure's word that skipped ``tr``). Figures: titles and axis / colour-bar titles."""
    import json

    catalogs.compile_all()
    gettext_for.cache_clear()
    patterns = _english_patterns("ja", template)
    assert len(patterns) > 300  # the catalog is really being checked
    at = open_app(timeout=120, lang="ja")
    at.text_input(key="text").input("capy").run()
    left = {}
    for page in sorted((REPO / "app_pages").glob("*.py")):
        at.switch_page(str(page.relative_to(REPO))).run()
        for key in ("heads.text", "leak.word"):
            boxes = [t for t in at.text_input if t.key == key]
            if boxes and not boxes[0].value:
                boxes[0].input("capy").run()
        assert not at.exception, (page.name, [e.value for e in at.exception])
        texts = _visible_texts(at._tree)
        for chart in at.get("plotly_chart"):
            fig = json.loads(chart.proto.spec)
            lay = fig.get("layout", {})
            for _k, v in lay.items():
                if isinstance(v, dict) and isinstance(v.get("title"), dict):
                    texts.append(v["title"].get("text") or "")
            texts += [(t.get("colorbar") or {}).get("title", {}).get("text") or "" for t in fig.get("data", [])]
            texts += [t.get("name") or "" for t in fig.get("data", [])]
            texts += [a.get("text") or "" for a in lay.get("annotations", [])]
        bad = sorted({msgid for text in texts for msgid, rx in patterns if text and rx.search(text)})
        if bad:
            left[page.name] = bad
    assert not left, f"English catalog text on Japanese pages: {left}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translated_markdown_renders_like_the_english(lang, template):
    """Emphasis that renders in English renders in the translation too: CommonMark does not close ``*…)*`` before
    a CJK letter, so a misplaced marker shows as a literal asterisk on the page."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")

    def stray_asterisk(s: str) -> bool:
        html = re.sub(r"<code>.*?</code>", "", md.render(re.sub(r"`[^`]*`", "", s)), flags=re.S)
        return "*" in re.sub(r"<[^>]+>", "", html)

    cat = catalogs.read(catalogs.LOCALE / lang / "LC_MESSAGES" / "messages.po")
    bad = [
        t.string
        for m in template
        if (t := cat.get(m.id)) is not None and t.string and stray_asterisk(t.string) and not stray_asterisk(m.id)
    ]
    assert not bad, bad


# ---- messages from below the UI (STYLE.md §17): errors, notes and reasons in the page's language ---------------------
ERROR_CLASSES = (
    "CheckpointError",
    "CaptureImportError",
    "LMLoadError",
    "JobError",
    "JobLimitError",
    "ModelNameError",
    "WordListError",
)
BELOW_UI = ("models", "services")
# Three Latin words in a row (outside `code` and the message's own parameters: paths, names, a library's exception
# text) is an English sentence left on a Japanese page.
ENGLISH_RUN = re.compile(r"[A-Za-z][a-z']+(?:[ ,;:–-]+[A-Za-z][a-z']*){2,}")


def _n_constants(tree) -> set[str]:
    """Module-level names bound to an ``N_("...")`` call (a msgid kept in a constant, e.g. RETRAIN_HINT)."""
    import ast

    return {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign) and _is_n_call(node.value)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def _is_n_call(node) -> bool:
    import ast

    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "N_"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _msgid_ok(arg, constants: set[str]) -> bool:
    """The first argument of an error or a Message: an ``N_()`` msgid, a constant holding one, either of two N_()
    msgids (``N_(a) if c else N_(b)``), or an existing message's own ``.msgid`` (passed on with new parameters)."""
    import ast

    if _is_n_call(arg):
        return True
    if isinstance(arg, ast.Name):
        return arg.id in constants
    if isinstance(arg, ast.IfExp):
        return _msgid_ok(arg.body, constants) and _msgid_ok(arg.orelse, constants)
    return isinstance(arg, ast.Attribute) and arg.attr == "msgid"


def test_errors_and_messages_below_the_ui_carry_catalog_ids():
    """Every ``raise CheckpointError(...)`` (and CaptureImportError, LMLoadError, the job errors) and every
    ``Message(...)`` in models/ and services/ passes an ``N_()`` msgid, never a finished English sentence (an f-string
    or a concatenation): only then does the catalog have it and the page say it in the student's language."""
    import ast

    bad, seen = [], 0
    for folder in BELOW_UI:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "messages.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = _n_constants(tree)
            for node in ast.walk(tree):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ERROR_CLASSES + ("Message",)
                ):
                    continue
                seen += 1
                if not node.args or not _msgid_ok(node.args[0], constants):
                    first = ast.unparse(node.args[0])[:60] if node.args else ""
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno} {node.func.id}({first})")
    assert seen > 60, seen  # the scan really finds them
    assert not bad, f"errors and messages built from English text instead of an N_() msgid: {bad}"


def _strip_params(text: str, msg) -> str:
    """``text`` without the message's own parameter values (paths, names, quoted characters, a library's exception
    text), which are data, not sentences; nested messages are kept: they are sentences too."""
    from models.messages import Message

    for v in msg.params.values():
        if isinstance(v, Message):
            text = _strip_params(text, v)
        else:
            for s in sorted({str(v), repr(v)}, key=len, reverse=True):
                text = text.replace(s, " ")
    return re.sub(r"`[^`]*`", " ", text)


def _ids(msg) -> list[str]:
    from models.messages import Message

    return [msg.msgid] + [i for v in msg.params.values() if isinstance(v, Message) for i in _ids(v)]


def _messages_from_below(tmp_path, monkeypatch) -> list:
    """Each error class raised for real, and each note and reason made for real, as the Messages the UI renders."""
    import os
    import signal
    import types

    import torch
    from lab_fixtures import tiny_bundle

    import settings
    from models import capture_upload, hf_setup
    from models.capture import capture
    from models.capture_upload import CaptureImportError, from_json
    from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from models.hf_folder import checked_folder
    from models.messages import MessageError
    from services import job_names, jobs, train_worker

    out = []

    def raised(fn, *a, **kw):
        try:
            fn(*a, **kw)
        except MessageError as e:
            out.append(e)
            return e
        raise AssertionError(f"{fn.__name__}{a} raised nothing")

    # CheckpointError: missing, unopenable, not a file, corrupt, foreign, broken metadata, NaN, does not fit
    b = tiny_bundle("miniformer")
    good = save_checkpoint(
        tmp_path / "good.pt", b.model, b.vocab, epoch=1, recipe={"name": "fast"}, metrics={"val_prefix_nll": 2.5}
    )
    ck = torch.load(good, weights_only=True)
    raised(load_checkpoint, tmp_path / "missing.pt")
    os.symlink("loop.pt", tmp_path / "loop.pt")
    raised(load_checkpoint, tmp_path / "loop.pt")
    (tmp_path / "folder.pt").mkdir()
    raised(load_checkpoint, tmp_path / "folder.pt")  # a folder without model.pt: not found
    (tmp_path / "folder.pt" / "model.pt").mkdir()
    raised(load_checkpoint, tmp_path / "folder.pt")  # its model.pt a folder too: not a regular file
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    raised(load_checkpoint, tmp_path / "junk.pt")
    for name, change in (
        ("foreign.pt", lambda c: {"weights": 1}),
        ("meta.pt", lambda c: {**c, "kind": "bogus"}),
        (
            "nan.pt",
            lambda c: {
                **c,
                "model": {k: v.clone().fill_(float("nan")) if "lm_head" in k else v for k, v in c["model"].items()},
            },
        ),
        ("fit.pt", lambda c: {**c, "vocab": list(c["vocab"])[:-1]}),
    ):
        torch.save(change(ck), tmp_path / name)
        raised(load_checkpoint, tmp_path / name)
    assert {type(e) for e in out} == {CheckpointError}

    # CaptureImportError: every check from_json makes, and the renormalised note
    layer = lambda rows: {"tokens": ["a", "b"], "attentions": [rows]}
    ok = [[1.0, 0.0], [0.5, 0.5]]
    for raw in (
        b"\xff\xfe",
        "{",
        "[" * 100_000,
        '{"tokens": 1' + "1" * 5000 + "}",
        "{}",
        '{"tokens": [], "all": []}',
        json_dumps({"tokens": ["a"] * 300, "all": [[[[1.0]]]]}),
        json_dumps({"tokens": ["x" * 40], "all": []}),
        json_dumps({"tokens": ["a"], "all": []}),
        json_dumps({"tokens": ["a"], "all": [[[[1.0]]]] * 40}),
        json_dumps({"tokens": ["a"], "all": [[[[1.0]]] * 40]}),
        json_dumps({"tokens": ["a"] * 200, "all": [[[[0.0] * 200] * 200] * 4] * 2}),
        json_dumps(layer([["x", "y"], ["z", "w"]])),
        json_dumps(layer([[1.0, 0.0]])),
        json_dumps(layer([[2.0, 0.0], [0.5, 0.5]])),
        json_dumps(layer([[0.5, 0.0], [0.5, 0.5]])),
        json_dumps({"tokens": ["a", "b"], "all": [[ok], [ok, ok]]}),
    ):
        raised(from_json, raw)
    monkeypatch.setattr(capture_upload, "MAX_JSON_BYTES", 10)
    raised(from_json, "x" * 11)
    monkeypatch.undo()
    out += from_json(json_dumps(layer([[1.0, 0.0], [0.499, 0.499]]))).notes
    assert sum(isinstance(e, CaptureImportError) for e in out) >= 18

    # LMLoadError: the folder checks, and the bundled model's package missing
    (tmp_path / "lm").mkdir()
    for path, make in (
        ("", None),
        (tmp_path / "nowhere", None),
        (tmp_path / "good.pt", None),
        (tmp_path / "lm", None),
        (tmp_path / "lm", "config.json"),
        (tmp_path / "lm", "model.safetensors"),
    ):
        if make:
            (tmp_path / "lm" / make).write_text("{}")
        raised(checked_folder, path)  # every check before transformers opens a file
    monkeypatch.setattr(hf_setup.importlib.util, "find_spec", lambda name: None)
    raised(hf_setup.bundled_gguf)
    monkeypatch.undo()

    # job errors, publish notes, stop and death reasons
    monkeypatch.setenv(settings.USER_CKPT_DIR_ENV, str(tmp_path / "user"))
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "mine.pt").write_bytes(b"")
    for name in ("", "Bad Name!", "miniformer"):
        raised(job_names.check_name, name)
    out.append(job_names.publish_name("mine", owner="someone")[1])
    raised(jobs.start_restore_job, "sid", "nope")
    raised(jobs.JobRegistry(max_running=0).start, "sid", None)
    busy = jobs.JobRegistry(max_running=5)
    fake = types.SimpleNamespace(active=True, spec=types.SimpleNamespace(name="other", out=tmp_path / "x.pt"))
    busy._jobs["sid"] = fake
    raised(busy.start, "sid", None)
    raised(busy.start, "sid2", types.SimpleNamespace(name="x", out=tmp_path / "x.pt"))
    out += [jobs.death_reason(c) for c in (None, -signal.SIGKILL, -signal.SIGTERM, -200, 3)]
    import inspect

    out.append(inspect.signature(jobs.TrainingJob.stop).parameters["reason"].default)
    watcher = types.SimpleNamespace(
        session_id="sid",
        _session_alive=lambda sid: False,
        _gone_since=None,
        _gone_grace=0.0,
        _idle_timeout=300.0,
        idle_for=lambda: 1e9,
    )
    out.append(jobs.TrainingJob._abandoned(watcher))
    watcher._session_alive = None
    out.append(jobs.TrainingJob._abandoned(watcher))
    out += [
        train_worker.APP_GONE,
        train_worker.SIGTERM_REASON,
        train_worker.failure_message(PermissionError(13, "Permission denied"), tmp_path / "x.pt"),
        train_worker.failure_message(ValueError("boom"), tmp_path / "x.pt"),
    ]
    broken = jobs.broken_shipped(
        loader=lambda name: (_ for _ in ()).throw(CheckpointError(out[3].message.msgid, **out[3].message.params))
    )
    out += list(broken.values())

    # WordListError: every check of an uploaded or read word list
    from models.data import load_words, parse_words, parse_words_bytes

    for text in ("a\x00b", "\n\n", "cat\ncafé\n", "cat\n" + "a" * 60, "a\nb\nc", "\n".join("abcdefghij")):
        raised(parse_words, text, max_words=8)
    for raw in (b"x" * 11, b"a\x00\x00b\x00", b"\xff\xfecat"[2:] + b"\xff"):
        raised(parse_words_bytes, raw, source="words.txt", max_bytes=10 if len(raw) == 11 else 100)
    raised(load_words, tmp_path / "no-words.txt")

    # capture notes: romaji, unknown characters, lowercasing, the context window, the source's own notes
    out += capture(b, "ネコ!Ab").notes + capture(b, "a" * 80).notes
    out += capture(tiny_bundle("full"), "abc", src="ねこ?").notes
    return out


def json_dumps(x) -> str:
    import json

    return json.dumps(x)


def test_every_error_and_note_reads_in_japanese(tmp_path, monkeypatch):
    """Raise every error class and make every note for real, render each as a Japanese page does
    (``ui.i18n.render`` with the ja catalog): each is translated, and no English sentence is left in it."""
    from models.messages import Message, as_message

    catalogs.compile_all()
    gettext_for.cache_clear()
    ja = gettext_for("ja")
    msgs = [as_message(m) for m in _messages_from_below(tmp_path, monkeypatch)]
    assert len(msgs) >= 60 and all(isinstance(m, Message) for m in msgs)
    untranslated, english = [], []
    for m in msgs:
        untranslated += [i for i in _ids(m) if ja(i) == i]
        text = m.render(ja)
        if ENGLISH_RUN.search(_strip_params(text, m)):
            english.append((str(m), text))
    assert not untranslated, f"msgids the Japanese catalog lacks: {sorted(set(untranslated))}"
    assert not english, f"English sentences left on a Japanese page: {english}"
    assert str(msgs[0]).startswith("Checkpoint ") and "found" in str(msgs[0])  # str() stays English (logs, CLI)


def test_render_uses_the_session_language_and_escapes_nothing_itself():
    """``ui.i18n.render`` takes a Message, an error carrying one, or a plain string; outside a Streamlit run it is
    English. A parameter that is itself a Message is rendered in the same language."""
    from models.checkpoint import CheckpointError
    from models.messages import N_, Message
    from ui.i18n import render

    e = CheckpointError(
        N_("Checkpoint {path} is truncated or corrupt ({why}). {hint}"),
        path="/a/b.pt",
        why="X",
        hint=Message(
            N_("Retrain it (Train page, or `python -m models.train --model {model} --out {path}`)."),
            model="miniformer",
            path="/a/b.pt",
        ),
    )
    assert (
        render(e)
        == str(e)
        == (
            "Checkpoint /a/b.pt is truncated or corrupt (X). Retrain it (Train page, or "
            "`python -m models.train --model miniformer --out /a/b.pt`)."
        )
    )
    ja = e.message.render(gettext_for("ja"))
    assert ja.startswith("チェックポイント /a/b.pt は") and "学習し直してください" in ja
    assert render("plain text") == "plain text" and render(Message("{unfilled}")) == "{unfilled}"
