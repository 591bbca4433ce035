"""The live views redraw in place (ui/live/live.js): a new character updates the SVG that is there (changed
attributes, one new row and column) instead of building every element again, and BertViz's head view is drawn on
the DOM it drew for the last key. What a student sees must be exactly what a fresh drawing of the same word shows:
each view's DOM, typed key by key, equals the DOM of a page opened on that word."""

LIVE = '[data-testid="al-live"]'
VIEWS = ("al-live-bars", "al-live-entropy", "al-live-heatmap", "al-live-bertviz")

# Each side's views as markup (attributes in a fixed order: a reused node keeps its own order), and the pickers'
# values, which a DOM serialization leaves out.
SNAPSHOT = """(views) => [...document.querySelectorAll('[data-testid="al-live-side"]')].map((side) => {
  const canon = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.data;
    if (node.nodeType !== Node.ELEMENT_NODE) return "";
    const attrs = [...node.attributes].map((a) => a.name + '="' + a.value + '"').sort().join(" ");
    const kids = [...node.childNodes].map(canon).join("");
    return "<" + node.localName + " " + attrs + ">" + kids + "</" + node.localName + ">";
  };
  const out = {};
  views.forEach((id) => { out[id] = canon(side.querySelector('[data-testid="' + id + '"]')); });
  out.pickers = [...side.querySelectorAll("select, input")].map((e) => e.value + "/" + (e.max || "")).join(" ");
  return out;
})"""


def drawn(app) -> str | None:
    return app.page.locator(LIVE).get_attribute("data-drawn")


def views(app) -> list[dict]:
    return app.page.evaluate(SNAPSHOT, list(VIEWS))


def first_difference(a: str, b: str) -> str:
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"typed: …{a[max(0, i - 150) : i + 150]}…\nfresh: …{b[max(0, i - 150) : i + 150]}…"


def open_on_word(app, path: str, word: str, **query):
    app.goto(path, browser="1", text=word, **query)
    want = " ".join(["<BOS>", *word])
    sides = app.page.locator('[data-testid="al-live-side"]')
    app.wait_until(
        lambda: sides.count() and all(sides.nth(i).get_attribute("data-drawn") == want for i in range(sides.count())),
        f"a fresh drawing of {word!r}",
        timeout_s=60,
    )
    bertviz = app.page.locator('[data-testid="al-live-bertviz"] #vis > svg')
    app.wait_until(lambda: bertviz.count() == sides.count(), "BertViz drawn", timeout_s=10)


def type_and_compare(typing, fresh, path: str, keys: list[str], **query):
    typing.goto(path, browser="1", **query)
    typing.wait_until(lambda: drawn(typing) == "<BOS>", "the first drawing", timeout_s=60)
    box = typing.page.locator('[data-testid="al-live-input"]')
    box.click()
    word = ""
    for key in keys:
        box.press(key)
        word = word[:-1] if key == "Backspace" else word + key
        want = " ".join(["<BOS>", *word])
        typing.wait_until(lambda: drawn(typing) == want, f"the views to draw {want!r}", timeout_s=5)
        typing.page.wait_for_timeout(100)  # BertViz's template is fetched once: drawn by now
        typed = views(typing)
        open_on_word(fresh, path, word, **query)
        again = views(fresh)
        assert len(typed) == len(again)
        for side, (a, b) in enumerate(zip(typed, again)):
            for view in (*VIEWS, "pickers"):
                assert a[view] == b[view], f"{path} side {side} {view} after {key!r} ({word!r}):\n" + first_difference(
                    a[view], b[view]
                )


def test_explore_in_place_equals_a_fresh_drawing_key_by_key(open_app):
    """The peeking model: its encoder is unmasked, so every cell's weight changes with each key (not only the new
    row and column), and a backspace takes a row and a column away."""
    typing, fresh = open_app(), open_app()
    type_and_compare(typing, fresh, "", ["o", "w", "l", "Backspace", "s"], model="full_transformer_peeking")
    typing.assert_clean()
    fresh.assert_clean()


def test_compare_in_place_equals_a_fresh_drawing_key_by_key(open_app):
    typing, fresh = open_app(), open_app()
    type_and_compare(typing, fresh, "compare", ["k", "i", "w"])
    typing.assert_clean()
    fresh.assert_clean()


def test_bertviz_keeps_what_the_student_picked_in_it_across_keys(app):
    """BertViz's own layer selector and head squares: the head view is redrawn in place, so a head switched off
    stays off (its lines at opacity 0) and the picked layer stays picked while the student types on."""
    app.goto("", browser="1", model="full_transformer", text="ow")
    app.wait_until(lambda: drawn(app) == "<BOS> o w", "ow", timeout_s=60)
    bertviz = app.page.locator('[data-testid="al-live-bertviz"]')
    app.wait_until(lambda: bertviz.locator("#vis > svg").count() == 1, "BertViz", timeout_s=10)
    bertviz.locator("select#layer").select_option("0")
    bertviz.locator("#vis > svg > g").last.locator("rect").first.click()  # head 0's square: off
    head0 = bertviz.locator('#attention > g[head-index="0"] line')
    assert {o for o in head0.evaluate_all("ls => ls.map(l => l.getAttribute('stroke-opacity'))")} == {"0"}
    before = head0.count()
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    box.press("End")
    box.press("l")
    app.wait_until(lambda: drawn(app) == "<BOS> o w l", "owl", timeout_s=5)
    app.wait_until(lambda: head0.count() > before, "head 0's lines for owl", timeout_s=5)
    assert {o for o in head0.evaluate_all("ls => ls.map(l => l.getAttribute('stroke-opacity'))")} == {"0"}
    assert bertviz.locator("select#layer").input_value() == "0"
    head1 = bertviz.locator('#attention > g[head-index="1"] line')
    assert max(float(o) for o in head1.evaluate_all("ls => ls.map(l => l.getAttribute('stroke-opacity'))")) > 0
    app.assert_clean()
