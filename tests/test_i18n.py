"""Translation catalogs: every ``_()`` string of the app is translated in every language, with the same
placeholders, and pages run in Japanese."""
from __future__ import annotations

import re
import string
import sys
from pathlib import Path

import pytest

from lab_fixtures import REPO

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
    assert not missing, f"{len(missing)} string(s) untranslated in {lang} (run scripts/i18n.py update, then " \
                        f"translate locale/{lang}/LC_MESSAGES/messages.po): {missing[:10]}"


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
                continue              # literal braces (a JSON sample shown as is): the msgid is never formatted
            t.string.format(**dummy)


def test_compiled_catalog_is_used():
    catalogs.compile_all()
    gettext_for.cache_clear()
    assert gettext_for("ja")("Explore") == "探索"
    assert gettext_for("en")("Explore") == "Explore"
    assert gettext_for("xx")("Explore") == "Explore"          # a language without a catalog falls back


def test_no_f_string_inside_the_translation_call():
    bad = []
    for path in [REPO / "app.py", *(REPO / "app_pages").glob("*.py"), *(REPO / "ui").rglob("*.py")]:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\b_\(\s*f[\"']", line):
                bad.append(f"{path.relative_to(REPO)}:{i}")
    assert not bad, f"_() of an f-string makes a new msgid for every value: {bad}"


def test_app_runs_in_japanese_and_switches_back(tiny_ckpt_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest
    import models.checkpoint as ckpt
    monkeypatch.setattr(ckpt, "CKPT_DIR", tiny_ckpt_dir)
    catalogs.compile_all()
    gettext_for.cache_clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.query_params["lang"] = "ja"
    at.run()
    assert not at.exception, at.exception
    switch = at.sidebar.button_group[0]
    assert switch.value == "ja"
    assert any("動物" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
    for page in sorted((REPO / "app_pages").glob("*.py")):                # every page runs in Japanese
        at.switch_page(str(page.relative_to(REPO))).run()
        assert not at.exception, (page.name, at.exception)
    at.sidebar.button_group[0].set_value("en").run()
    assert not at.exception, at.exception
    assert any("animal" in c.value for c in at.sidebar.caption)


# ---- nothing left in English on a Japanese page -----------------------------------------------------------------

def _english_patterns(lang: str, template) -> list[tuple[str, "re.Pattern"]]:
    """A pattern per msgid that ``lang`` translates differently: the msgid with its placeholders filled by anything.
    Long ones (15+ letters outside placeholders) are searched for inside a text, so a sentence joined to another
    is caught; short ones ("Head", "top-{k}") must be the whole text, or they'd match inside a model or file name."""
    cat = catalogs.read(catalogs.LOCALE / lang / "LC_MESSAGES" / "messages.po")
    out = []
    for m in template:
        t = cat.get(m.id)
        if not m.id or t is None or not t.string or t.string == m.id:
            continue
        parts = [(lit, field) for lit, field, _spec, _conv in string.Formatter().parse(m.id)] \
            if "{" in m.id and _fields(m.id) else [(m.id, None)]
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
        except Exception:           # a widget whose value needs a state it doesn't have
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
    from streamlit.testing.v1 import AppTest
    catalogs.compile_all()
    gettext_for.cache_clear()
    patterns = _english_patterns("ja", template)
    assert len(patterns) > 300                                         # the catalog is really being checked
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params["lang"] = "ja"
    at.run()
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
            for k, v in lay.items():
                if isinstance(v, dict) and isinstance(v.get("title"), dict):
                    texts.append(v["title"].get("text") or "")
            texts += [(tr.get("colorbar") or {}).get("title", {}).get("text") or "" for tr in fig.get("data", [])]
            texts += [tr.get("name") or "" for tr in fig.get("data", [])]
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
    bad = [t.string for m in template if (t := cat.get(m.id)) is not None and t.string
           and stray_asterisk(t.string) and not stray_asterisk(m.id)]
    assert not bad, bad
