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


def bertviz_tokens(app) -> list[str]:
    """Each side's BertViz head view: its left-hand tokens, joined as data-drawn joins them."""
    return app.page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="al-live-side"]')].map((side) =>
          [...side.querySelectorAll('[data-testid="al-live-bertviz"] #vis > svg > #left text')]
            .map((t) => t.textContent).join(" "))"""
    )


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
        # BertViz's template is fetched once, on the first drawing: on a busy machine it may come after a key
        typing.wait_until(
            lambda: bertviz_tokens(typing) == [want] * len(bertviz_tokens(typing)), "BertViz", timeout_s=10
        )
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
    # head 0 back on: BertViz's own handler redraws its lines from the weights bound to them (d3's __data__), the
    # lines of the new character's row and column too, which the in-place redraw added
    bertviz.locator("#vis > svg > g").last.locator("rect").first.click()
    opacities = [float(o) for o in head0.evaluate_all("ls => ls.map(l => l.getAttribute('stroke-opacity'))")]
    assert len(opacities) == 4 * 4 and all(o == o for o in opacities) and max(opacities) > 0, opacities  # no NaN
    # BertViz's hover on the new token: only that token's lines are shown
    bertviz.locator("#vis > svg > #left g").last.hover()
    assert bertviz.locator("#attention").get_attribute("visibility") == "hidden"
    shown = bertviz.locator('#attention line[visibility="visible"]')
    assert shown.count() > 0
    assert set(shown.evaluate_all("ls => ls.map(l => l.getAttribute('left-token-index'))")) == {"3"}
    app.assert_clean()


def test_bertviz_draws_the_models_weights_in_steps_of_1_256(app):
    """BertViz draws weight w as a line of opacity w / (active heads): the browser hands it the model's weights in
    steps of 1/256 (finer than a screen's 255 steps of opacity), so a key restyles only the lines whose drawing can
    change. Each line, typed key by key, is the model's own weight (PyTorch, the reference) in those steps."""
    from models.capture import capture
    from models.checkpoint import load_checkpoint

    bundle = load_checkpoint("miniformer")  # one layer, one head: opacity = weight
    app.goto("", browser="1", model="miniformer")
    app.wait_until(lambda: drawn(app) == "<BOS>", "the first drawing", timeout_s=60)
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    lines = app.page.locator('[data-testid="al-live-bertviz"] #attention line')
    finer = 0
    for word in ("q", "qu", "qua", "quar", "quart", "quartz"):
        box.press(word[-1])
        want = " ".join(["<BOS>", *word])
        app.wait_until(lambda: bertviz_tokens(app) == [want], f"BertViz on {word!r}", timeout_s=10)
        pattern = capture(bundle, word).patterns["blocks.0.attn.hook_pattern"].reshape(-1, len(word) + 1, len(word) + 1)
        drawn_lines = lines.evaluate_all(
            "ls => ls.map(l => [+l.getAttribute('left-token-index'), +l.getAttribute('right-token-index'),"
            " l.getAttribute('stroke-opacity')])"
        )
        assert len(drawn_lines) == (len(word) + 1) ** 2
        for q, k, opacity in drawn_lines:
            w, steps = float(pattern[0, q, k]), float(opacity) * 256
            assert steps == round(steps), (word, q, k, opacity)  # a whole number of steps
            # the browser's forward pass equals PyTorch's to 1e-5: a weight that close to a rounding tie may round up
            assert steps == round(w * 256) or abs(abs(w * 256 - round(w * 256)) - 0.5) < 1e-3, (word, q, k, opacity, w)
            finer += round(w, 4) != float(opacity)
    assert finer > 10  # the weights have digits that the drawing leaves out
    app.assert_clean()
