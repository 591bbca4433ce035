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
