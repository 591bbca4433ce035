"""User text is data, never markup (STYLE.md §14; issue 12, item 13): names, file names, typed words and tokens reach
every message through ui.text.escape_md, and an uncaught error never shows the user a traceback or a server path.

A message is checked at its Markdown source (what AppTest sees): no link or image syntax that a Markdown renderer
would act on, no bare address a GitHub-style autolink would turn into a link, and, read back, the user's text
literally. tests/e2e/test_e2e_escaping.py checks the same in a real browser (no <a>, no <img>, no request)."""

from __future__ import annotations

import json
import re
import string
import tomllib

import pytest
from lab_fixtures import REPO, open_app, shown

HOSTILE = (
    "[x](javascript:alert(1))",
    "![i](http://127.0.0.1:9/i.png)",
    "![t](http%3A%2F%2F127.0.0.1%3A9%2Ft)",
    "<img src=x onerror=alert(1)>",
    "**bold** _it_ `code` ~~s~~",
    ":red[red] :material/home: $x^2$",
    "http://a.example www.b.example me@c.example",
    "# heading\n- item\n> quote",
    "a\\b \\* \\. &lt;",
)

# Markdown a renderer would act on: an unescaped [text](url) or ![alt](url), raw HTML, or a GFM autolink literal.
_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")
_HTML = re.compile(r"(?<!\\)<[a-zA-Z/!]")
_AUTOLINK = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://|(?<![\w\u2060])www\.|\w@\w")


def assert_inert(markdown: str) -> None:
    markdown = re.sub(r"(?<!\\)`[^`]*`", "", markdown)  # the page's own code spans (`<BOS>`) are literal text
    assert not _LINK.search(markdown), markdown
    assert not _HTML.search(markdown), markdown
    # GitHub-style autolinks are found in the text with its backslashes dropped (only the word joiners stop them)
    assert not _AUTOLINK.search(re.sub("\\\\([" + re.escape(string.punctuation) + "])", r"\1", markdown)), markdown
    for directive in (":red[red]", ":material/home:", "$x^2$"):  # the colour / icon directives and LaTeX above
        assert directive not in markdown, markdown


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_md_shows_the_text_literally_and_inertly(text):
    from ui.text import escape_md

    md = escape_md(text)
    assert_inert(md)
    assert shown(md) == re.sub(r"[\r\n\t]", " ", text)  # line breaks become spaces: no headings or lists
    assert escape_md("capybara 3 ünï") == "capybara 3 ünï"  # letters, digits and spaces untouched


def _messages(at) -> list[str]:
    return [
        str(e.value)
        for kind in ("markdown", "caption", "info", "warning", "error", "success")
        for e in getattr(at, kind)
    ]


GOOD = json.dumps({"tokens": ["<BOS>", "a", "b"], "attentions": [[[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]]]})


@pytest.mark.parametrize(
    "stem", ["![t](http%3A%2F%2F127.0.0.1%3A9%2Ft)", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>"]
)
def test_uploaded_file_names_are_shown_as_text(stem):
    at = open_app(timeout=30)
    name = stem + ".json"
    for data, where in ((GOOD.encode(), "success"), (b"{nope", "error")):
        at.file_uploader(key="explore.upload").set_value((name, data, "application/json")).run()
        assert not at.exception, [e.value for e in at.exception]
        said = [str(e.value) for e in getattr(at, where)]
        assert any(name in shown(s) for s in said), (where, said)
        for s in _messages(at):
            assert_inert(s)


def test_imported_tokens_and_notes_are_shown_as_text():
    """A JSON whose tokens are Markdown and whose rows are rounded (so the page shows a note) draws every view."""
    tokens = ["[x](javascript:alert(1))", "![i](http://x.example/i)", "<b>"]
    rows = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.3333, 0.3333, 0.3333]]
    at = open_app(timeout=30)
    at.file_uploader(key="explore.upload").set_value(
        ("tokens.json", json.dumps({"tokens": tokens, "attentions": [rows]}).encode(), "application/json")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("renormalised" in shown(i.value) for i in at.info)
    for s in _messages(at):
        assert_inert(s)


def test_typed_markdown_is_shown_as_text():
    at = open_app(timeout=30)
    at.text_input(key="text").input("[x](javascript:alert(1))![i](http://x.example)").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("'['" in shown(i.value) and "'!'" in shown(i.value) for i in at.info)  # the <UNK> note names them
    for s in _messages(at):
        assert_inert(s)


def test_a_result_name_is_shown_as_text_on_train():
    at = open_app(timeout=30)
    at.switch_page("app_pages/5_train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    name = "[x](javascript:alert(1))"
    at.text_input(key="train.name").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(name in shown(e.value) for e in at.error), [e.value for e in at.error]
    assert at.button(key="train.go").disabled
    for s in _messages(at):
        assert_inert(s)


def test_uncaught_errors_show_no_details():
    """config.toml hides tracebacks, exception text (server paths) and Streamlit's search-engine help links."""
    from streamlit import config
    from streamlit.elements.exception import _error_detail_visibility

    value = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["client"]["showErrorDetails"]
    assert value in set(config.ShowErrorDetailsConfigOptions)
    before = config.get_option("client.showErrorDetails")
    config.set_option("client.showErrorDetails", value)
    try:
        assert _error_detail_visibility(True) == (False, False, False)
    finally:
        config.set_option("client.showErrorDetails", before)
