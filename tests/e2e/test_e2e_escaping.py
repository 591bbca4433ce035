"""User text is shown as text in a real browser (issue 12, item 13): an uploaded file's name and a Train result name
written as Markdown links and images render no link and no image, and the browser fetches nothing they name."""

import json
from urllib.parse import urlparse

NAMES = ("![t](http%3A%2F%2Fx.example%2Ft)", "[x](javascript:alert(1))", "![i](http://x.example/i.png)")
GOOD = json.dumps({"tokens": ["<BOS>", "a", "b"], "attentions": [[[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]]]})


def text(app) -> str:
    """The main area's text as read: the word joiners that break autolinks are invisible."""
    return app.main_text().replace("\u2060", "")


def markup_made(app) -> dict:
    """Links and images inside Streamlit's Markdown (messages, captions) of the main area; a heading's own anchor
    (#explore) is not one."""
    return app.page.evaluate("""() => {
        const md = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"]')];
        return {links: md.flatMap(m => [...m.querySelectorAll('a')].map(a => a.getAttribute('href'))
                                          .filter(h => !(h || '').startsWith('#'))),
                images: md.flatMap(m => [...m.querySelectorAll('img')].map(i => i.getAttribute('src')))};
    }""")


def test_uploaded_file_names_render_as_text_and_fetch_nothing(app):
    requested = []
    app.page.on("request", lambda r: requested.append(r.url))
    app.goto("")
    app.page.get_by_text("Open an attention JSON").click()
    upload = app.page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    for stem in NAMES:
        name = stem + ".json"
        upload.set_input_files(files=[{"name": name, "mimeType": "application/json", "buffer": GOOD.encode()}])
        app.wait_until(lambda: f"Showing {name} below" in text(app), f"the upload message for {name!r}")
        app.wait_idle()
        made = markup_made(app)
        assert made == {"links": [], "images": []}, (name, made)
        app.screenshot(f"escaping-upload-{NAMES.index(stem)}")
    # what the names point at: x.example, or (the file name's image) a path /http%3A%2F%2F... on the app's server
    fetched = [
        u
        for u in requested
        if "x.example" in u or urlparse(u).path.lower().startswith("/http") or u.startswith("javascript")
    ]
    assert not fetched, fetched
    app.assert_clean()


def test_a_result_name_renders_as_text_on_train(app):
    app.goto("train")
    box = app.page.get_by_role("textbox", name="Name for the result", exact=True)
    box.fill(NAMES[1])
    box.press("Enter")
    app.wait_until(lambda: f"{NAMES[1]!r} can't be a model name" in text(app), "the name's message")
    app.wait_idle()
    assert markup_made(app) == {"links": [], "images": []}
    app.screenshot("escaping-train-name")
    app.assert_clean()
