"""Explore's browser path in Chromium (issue 24): each keystroke redraws the views with the new character from a
forward pass in the page, with no Streamlit rerun per key (no message to the server at all while typing: counted
on the websocket), the weights fetched once, offline; bad input gets a note, never a console error or a blank."""

import re

LIVE = '[data-testid="al-live"]'


def drawn(app) -> str | None:
    return app.page.locator(LIVE).get_attribute("data-drawn")


def frames_sent(app) -> list[str]:
    """Every websocket frame the browser sends from now on (a rerun request is one of them), as it is sent."""
    sent: list[str] = []
    app.page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload)[:80])))
    return sent


def settled(app, sent) -> int:
    """The page idle and half a second more (a rerun's last frames are out): how many frames it has sent so far."""
    app.wait_idle()
    app.page.wait_for_timeout(500)
    return len(sent)


def reveal_lesson_step(app, step: int, word: str, view: str):
    """Lesson step ``step`` on the browser path, its box showing ``word``: no ``view`` (a live view's test id)
    before a guess, nor after a guess that is not locked; then Reveal. The frames sent from the start, and the box."""
    sent = frames_sent(app)
    app.goto("lesson", step=str(step), browser="1")
    box = app.page.locator('[data-testid="al-live-input"]')
    app.wait_until(lambda: box.count() == 1 and box.input_value() == word, "the step's box")
    assert app.page.locator(f'[data-testid="{view}"]').count() == 0, "no view before the guess"
    app.page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button').first.click()
    reveal = app.page.get_by_role("button", name="Reveal")
    app.wait_until(lambda: reveal.is_enabled(), "Reveal after a guess")
    assert app.page.locator(f'[data-testid="{view}"]').count() == 0, "a guess not locked shows nothing"
    reveal.click()
    return sent, box


def ask_again(app) -> None:
    """After a new word in a Lesson step's box: the question follows at the pause and is asked anew (no guess
    picked, so Reveal is off); guess the first option and Reveal."""
    reveal = app.page.get_by_role("button", name="Reveal")
    app.wait_until(lambda: reveal.is_disabled(), "the new word's question, with no guess picked", timeout_s=15)
    app.page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button').first.click()
    app.wait_until(lambda: reveal.is_enabled(), "Reveal after a guess")
    reveal.click()


def open_live(app, **query):
    sent = frames_sent(app)
    weights: list[str] = []
    app.page.on("request", lambda r: weights.append(r.url) if "/app/static/weights/" in r.url else None)
    if "lang" in query:  # app.goto waits for the English title
        from urllib.parse import urlencode

        app.page.goto(f"{app.server.url}/?" + urlencode({"browser": "1", **query}))
    else:
        app.goto("", browser="1", **query)
    app.wait_until(lambda: drawn(app), "the browser path's first drawing", timeout_s=60)
    return sent, weights


def assert_silent_burst(app, sent, box, keys: str, want: str) -> None:
    """Type ``keys`` at a student's pace (80 ms apart) and check that the views drew the last one while the browser
    sent the server nothing: no rerun per key (the word goes to the server only after a 400 ms pause)."""
    before = settled(app, sent)
    box.press_sequentially(keys, delay=80)
    app.wait_until(lambda: all(d == want for d in drawn_all(app)), f"the views to draw {want!r}", timeout_s=2)
    assert len(sent) == before, f"the browser spoke to the server while typing: {sent[before:]}"


def softmax_bars(name: str, word: str, k: int = 8) -> list[str]:
    """The values the server path's bars show after ``word``: the model's own softmax (nothing renormalised), its
    ``k`` most likely next tokens, as the bars print them."""
    from models.capture import capture
    from models.checkpoint import load_checkpoint
    from models.generate import next_token_probs

    probs = next_token_probs(capture(load_checkpoint(name), word).next_token_logits())
    return [f"{100 * p:.1f}%" for p in probs.topk(k).values.tolist()]


def drawn_all(app) -> list[str | None]:
    """What every side (one on Explore, two on Compare) has drawn."""
    sides = app.page.locator('[data-testid="al-live-side"]')
    return [sides.nth(i).get_attribute("data-drawn") for i in range(sides.count())]


def test_typing_redraws_in_the_browser_without_a_rerun_per_key(app):
    sent, weights = open_live(app, model="full_transformer")
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    app.page.wait_for_timeout(600)  # anything the page load sent is over
    before = len(sent)
    typed = ""
    for ch in "capy":  # one key at a time: every view shows it (a pause may send the word meanwhile)
        box.press(ch)
        typed += ch
        want = " ".join(["<BOS>", *typed])
        app.wait_until(lambda: drawn(app) == want, f"the views to draw {want!r}", timeout_s=2)
        bars = app.page.locator('[data-testid="al-live-bars"] svg text').all_text_contents()
        assert bars[0] == f"Next token after “{ch}”", bars[:2]
        assert any(t.endswith("%") for t in bars)
        heat = app.page.locator('[data-testid="al-live-heatmap"] svg')
        assert heat.locator("rect").count() >= len(typed) + 1
        assert heat.locator("text").all_text_contents()[0].startswith("encoder self-attention layer 0")
        # BertViz's own head view, redrawn in place: its token columns (queries, then keys) hold the new character
        bv = app.page.locator('[data-testid="al-live-bertviz"] svg text').all_text_contents()
        assert bv == ["<BOS>", *typed] * 2, bv
        # the highlighted row follows the newest character (the last query)
        assert app.page.locator('[data-testid="al-live-query"]').input_value() == str(len(typed))
    # after a pause the word goes to Python once: the URL and the session's word follow it
    app.wait_until(lambda: re.search(r"[?&]text=capy(&|$)", app.page.url), "the URL to hold text=capy", timeout_s=10)
    assert len(sent) > before
    app.wait_idle()
    assert drawn(app) == "<BOS> c a p y", "a rerun must not reset what the student typed"
    assert_silent_burst(app, sent, box, "bara", "<BOS> c a p y b a r a")
    # the weights and BertViz's template: each a static file, fetched once for the whole session's typing
    # and the view module itself (forward.js + live.js): not re-sent inside every rerun's message
    assert sorted(u.rsplit("/", 1)[1].split("-")[0] for u in weights) == ["bertviz", "full_transformer", "live"], (
        weights
    )
    app.assert_clean()


def server_runs(app) -> list[str]:
    """Every script run the server starts from now on, as it announces it on the WebSocket: "page" for a whole
    page's run, "fragment" for a fragment's (its new_session names the fragments it runs)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    runs: list[str] = []

    def frame(payload):
        if isinstance(payload, (bytes, bytearray)):
            msg = ForwardMsg()
            msg.ParseFromString(bytes(payload))
            if msg.WhichOneof("type") == "new_session":
                runs.append("fragment" if msg.metadata.run.fragment_ids else "page")

    app.page.on("websocket", lambda ws: ws.on("framereceived", frame))
    return runs


def test_a_pause_reruns_the_views_fragment_and_the_word_still_reaches_the_url_and_compare(app):
    """A pause reruns the fragment that holds the component, not the page (its controls, model card, sidebar);
    the word still becomes the session's: ``?text=`` in the URL, and Compare opened from the sidebar holds it. The
    first word is a whole page's run: the "New here?" welcome above the controls goes."""
    runs = server_runs(app)
    open_live(app)
    welcome = app.page.get_by_text("New here?")
    assert welcome.count() == 1
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    box.press_sequentially("capy", delay=80)
    app.wait_until(lambda: re.search(r"[?&]text=capy(&|$)", app.page.url), "the URL to hold text=capy", timeout_s=10)
    app.wait_until(lambda: welcome.count() == 0, "the welcome to go once a word is typed")
    app.wait_idle()
    before = len(runs)
    box.press_sequentially("bara", delay=80)
    app.wait_until(lambda: re.search(r"[?&]text=capybara(&|$)", app.page.url), "the URL to follow", timeout_s=10)
    app.wait_idle()
    app.page.wait_for_timeout(300)
    assert runs[before:] == ["fragment"], runs
    assert drawn(app) == "<BOS> c a p y b a r a" and box.input_value() == "capybara"
    # the sidebar's link drops ?browser=1: Compare opens on this server's default, the server path, with the word
    app.page.locator('[data-testid="stSidebarNav"]').get_by_text("Compare", exact=True).click()
    app.wait_until(
        lambda: app.textbox().count() == 1 and app.textbox().input_value() == "capybara",
        "Compare's box to hold the word typed on Explore",
        timeout_s=60,
    )
    app.wait_until(lambda: re.search(r"[?&]text=capybara(&|$)", app.page.url), "Compare's URL to hold the word")
    app.assert_clean()


def test_bad_input_gets_a_note_never_an_error_or_a_blank(app):
    open_live(app)
    box = app.page.locator('[data-testid="al-live-input"]')
    notes = app.page.locator('[data-testid="al-live-notes"]')
    cases = {
        "ñ🐈": "Not in the vocabulary, shown as <UNK>",
        "CAPYBARA": "Uppercase letters were lowercased.",
        "a\u0007b\u0000c": "Not in the vocabulary",
        "x" * 10_000: "longer than the model's context of 47",
        "<script>alert(1)</script>": "Not in the vocabulary",
    }
    for text, note in cases.items():
        box.fill(text)
        app.wait_until(lambda: note in notes.inner_text(), f"the note for {text[:20]!r}", timeout_s=5)
        assert app.page.locator('[data-testid="al-live-bars"] svg rect').count() > 0, "the bars went blank"
    assert app.page.locator(f"{LIVE} script").count() == 0 and app.dialogs == []
    # an input method: nothing is computed on a half-composed word
    box.fill("ca")
    app.wait_until(lambda: drawn(app) == "<BOS> c a", "ca")
    box.dispatch_event("compositionstart")
    box.evaluate("""i => { i.value = "cañ";
        i.dispatchEvent(new InputEvent("input", {isComposing: true, data: "ñ"})); }""")
    app.page.wait_for_timeout(300)
    assert drawn(app) == "<BOS> c a"
    box.dispatch_event("compositionend")
    app.wait_until(lambda: drawn(app) == "<BOS> c a <UNK>", "the composed word")
    app.assert_clean()


def test_kana_go_to_the_server_path_and_a_to_z_comes_back(app):
    """Japanese is written in romaji by the server (pykakasi): a composed kana word is not computed in the browser;
    a note says so at once, and after the pause the server path draws it (ねこ → neko). A word in a–z typed there
    is computed in the browser again."""
    open_live(app)
    box = app.page.locator('[data-testid="al-live-input"]')
    notes = app.page.locator('[data-testid="al-live-notes"]')
    box.fill("ca")
    app.wait_until(lambda: drawn(app) == "<BOS> c a", "ca")
    # the student pauses on "ca" first: the URL holds it when the kana word arrives (that older word in the URL
    # once seeded the server path's box, which then showed "ca" beside the note about ねこ)
    app.wait_until(lambda: re.search(r"[?&]text=ca(&|$)", app.page.url), "the URL to hold text=ca", timeout_s=10)
    app.wait_idle()
    box.dispatch_event("compositionstart")
    box.evaluate("""i => { i.value = "ねこ";
        i.dispatchEvent(new InputEvent("input", {isComposing: true, data: "ねこ"})); }""")
    app.page.wait_for_timeout(300)
    assert drawn(app) == "<BOS> c a", "nothing is computed while the input method composes"
    box.dispatch_event("compositionend")
    app.wait_until(lambda: "only the server can do" in notes.inner_text(), "the note", timeout_s=2)
    assert drawn(app) == "" and not app.page.locator('[data-testid="al-live-bars"]').is_visible()
    # after the pause: the server path, on the same word, with the same note and the server's romaji
    app.wait_until(
        lambda: (
            app.page.locator(LIVE).count() == 0 and app.textbox().count() == 1 and app.textbox().input_value() == "ねこ"
        ),
        "the server path on ねこ",
        timeout_s=20,
    )
    app.wait_idle()
    app.wait_charts_drawn()
    text = app.main_text()
    assert "only the server can do" in text and "neko" in text, text[:2000]
    app.screenshot("browser-path-kana-on-the-server")
    app.textbox().fill("cat")
    app.wait_until(
        lambda: app.page.locator(LIVE).count() == 1 and drawn(app) == "<BOS> c a t",
        "the browser path on cat",
        timeout_s=20,
    )
    app.assert_clean()


def test_the_echo_of_a_paused_word_does_not_undo_newer_keys(app):
    """The student pauses (the word goes to Python), then types on before the rerun's answer arrives: that answer
    carries the older word, and must not replace what the box holds now. The server's messages are held back on
    the WebSocket to make the order certain."""
    held, hold = [], [False]

    def route(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda m: server.send(m))
        server.on_message(lambda m: held.append(m) if hold[0] else ws.send(m))
        route.ws = ws

    app.page.route_web_socket(re.compile(r".*/_stcore/stream.*"), route)
    open_live(app)
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    hold[0] = True
    box.press_sequentially("ca")
    app.page.wait_for_timeout(700)  # the pause: "ca" went to Python; its answer is held
    box.press_sequentially("py")
    app.wait_until(lambda: drawn(app) == "<BOS> c a p y", "capy drawn")
    assert held, "the paused word's rerun answered nothing"
    hold[0] = False
    for m in held:  # the rerun for "ca" arrives now
        route.ws.send(m)
    app.page.wait_for_timeout(800)
    assert box.input_value() == "capy" and drawn(app) == "<BOS> c a p y", (box.input_value(), drawn(app))
    app.wait_until(lambda: "text=capy" in app.page.url, "the URL to follow the last pause")
    app.assert_clean()


def test_compare_redraws_both_sides_per_key_without_a_rerun(app):
    sent = frames_sent(app)
    app.goto("compare", browser="1")
    sides = app.page.locator('[data-testid="al-live-side"]')
    app.wait_until(
        lambda: sides.count() == 2 and sides.nth(1).get_attribute("data-drawn") == "<BOS>", "both sides drawn"
    )
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    typed = ""
    for ch in "owl":
        box.press(ch)
        typed += ch
        want = " ".join(["<BOS>", *typed])
        for i in range(2):
            app.wait_until(
                lambda: sides.nth(i).get_attribute("data-drawn") == want, f"side {i} to draw {want!r}", timeout_s=2
            )
            bars = sides.nth(i).locator('[data-testid="al-live-bars"] svg text').all_text_contents()
            assert bars[0] == f"Next token after “{ch}”", bars[:2]
            # BertViz draws from its template, fetched once per model: on the first key it may paint a frame later
            bertviz = sides.nth(i).locator('[data-testid="al-live-bertviz"] svg text')
            app.wait_until(
                lambda: bertviz.all_text_contents() == ["<BOS>", *typed] * 2,
                f"side {i}'s BertViz to show {want!r}",
                timeout_s=5,
            )
    # the numbers are the server path's: the model's softmax, its 8 most likely tokens (not renormalised over them)
    for i, name in enumerate(("miniformer", "full_transformer")):
        values = sides.nth(i).locator('[data-testid="al-live-bars"] svg text.al-bar-value').all_text_contents()
        assert values == softmax_bars(name, "owl"), (name, values)
    # the encoder-decoder's BertViz follows its heatmap, which opens on cross-attention
    right_bv = sides.nth(1).locator('[data-testid="al-live-bertviz"] select#filter')
    assert right_bv.input_value() == "2", right_bv.input_value()
    app.wait_until(lambda: re.search(r"[?&]text=owl(&|$)", app.page.url), "the URL to hold text=owl", timeout_s=10)
    assert_silent_burst(app, sent, box, "et", "<BOS> o w l e t")
    app.assert_clean()


def test_japanese_on_a_projector(app):
    """The component's own words come from the catalog, and projector mode's sizes hold in its charts."""
    app.page.set_viewport_size({"width": 1920, "height": 1080})
    open_live(app, lang="ja", present="1")
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    box.press_sequentially("ca", delay=80)
    app.wait_until(lambda: drawn(app) == "<BOS> c a", "ca")
    bars = app.page.locator('[data-testid="al-live-bars"] svg text')
    assert bars.first.text_content() == "「a」 の次のトークン", bars.first.text_content()
    # every label on the bars and the heatmap reads at >= 18 px on a 1920 x 1080 projector
    for chart in ("al-live-bars", "al-live-heatmap", "al-live-entropy"):
        heights = app.page.locator(f'[data-testid="{chart}"] svg text').evaluate_all(
            "ts => ts.map(t => t.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 18, (chart, min(heights))
    assert app.page.locator('[data-testid="al-live-input"]').evaluate("e => getComputedStyle(e).fontSize") == "24px"
    app.screenshot("browser-path-ja-projector")
    app.assert_clean()


def test_the_browser_path_is_the_default_and_browser_0_gives_the_server_path(server_factory, open_page_on):
    """On a server started as a teacher starts it (no ATTENTION_LAB_BROWSER_PATH), a student who opens Explore or
    Compare with no ``?browser=`` gets the views computed in the browser, typing with no rerun per key; a link with
    ``?browser=0`` (what switching off writes) gives the server path."""
    app = open_page_on(server_factory({"ATTENTION_LAB_BROWSER_PATH": None}))
    sent = frames_sent(app)
    app.goto("")
    app.wait_until(lambda: drawn(app) == "<BOS>", "the browser path's first drawing, by default", timeout_s=60)
    assert app.page.get_by_role("switch", name="Compute in my browser").is_checked()
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    assert_silent_burst(app, sent, box, "owl", "<BOS> o w l")
    app.goto("compare")
    sides = app.page.locator('[data-testid="al-live-side"]')
    app.wait_until(
        lambda: sides.count() == 2 and sides.nth(1).get_attribute("data-drawn") == "<BOS>",
        "Compare's browser path, by default",
        timeout_s=60,
    )
    app.goto("", browser="0", text="owl")
    app.wait_until(
        lambda: app.textbox().count() == 1 and app.textbox().input_value() == "owl",
        "the server path's box",
        timeout_s=30,
    )
    assert app.page.locator(LIVE).count() == 0
    assert not app.page.get_by_role("switch", name="Compute in my browser").is_checked()
    app.assert_clean()


def test_bertviz_model_view_in_the_browser(app):
    """Explore's BertViz switches to the model view (every layer and head) in the page, redraws it on every key
    with no rerun, keeps it after the pause, and the server path opens on it; on a projector the model view is the
    labelled grid, its labels at >= 18 px."""
    sent, _ = open_live(app, model="full_transformer")
    bertviz = app.page.locator('[data-testid="al-live-bertviz"]')
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    box.press_sequentially("ow", delay=80)
    app.wait_until(lambda: drawn(app) == "<BOS> o w", "ow")
    app.page.locator('[data-testid="al-live-bertviz-view"] button[data-view="model"]').click()
    # BertViz's own model view: one thumbnail per layer x head of the picked kind, fitted to the column
    vis = bertviz.locator("#vis > svg")
    app.wait_until(lambda: vis.count() == 1 and vis.get_attribute("viewBox"), "BertViz's model view", timeout_s=5)
    assert bertviz.locator("select#filter").count() == 1 and bertviz.locator("select#layer").count() == 0
    box.click()
    box.press("End")  # the caret back after the word (the click went to the button)
    assert_silent_burst(app, sent, box, "l", "<BOS> o w l")
    assert vis.count() == 1 and vis.get_attribute("viewBox")
    # the model view redrew for the new character: a thumbnail's detail lists the tokens
    app.wait_until(lambda: re.search(r"[?&]text=owl(&|$)", app.page.url), "the pause", timeout_s=10)
    app.wait_idle()
    assert vis.count() == 1, "a rerun must not bring the head view back"
    app.page.get_by_text("Compute in my browser", exact=True).click()
    app.wait_until(lambda: app.page.locator(LIVE).count() == 0 and app.textbox().count() == 1, "the server path")
    app.wait_idle()
    selected = app.page.locator(
        '[data-testid="stButtonGroup"] [aria-checked="true"], [data-testid="stButtonGroup"] [aria-pressed="true"]'
    )
    assert "Model view" in selected.all_inner_texts(), selected.all_inner_texts()
    app.assert_clean()


def test_bertviz_model_view_on_a_projector_is_a_readable_grid(app):
    app.page.set_viewport_size({"width": 1920, "height": 1080})
    open_live(app, model="full_transformer", present="1", text="owl")
    app.page.locator('[data-testid="al-live-bertviz-view"] button[data-view="model"]').click()
    grid = app.page.locator('[data-testid="al-live-grid"]')
    app.wait_until(lambda: grid.count() == 1, "the grid")
    texts = grid.locator("text")
    labels = texts.all_text_contents()
    for want in ("encoder L0", "cross L1", "head 3", "<BOS>"):
        assert want in labels, (want, labels[:20])
    assert grid.locator("rect").count() == 6 * 4 * 4 * 4  # 6 patterns x 4 heads x 4 x 4 cells
    # each label's font size on screen: its font size times the SVG's scale (rotated key labels included)
    sizes = texts.evaluate_all(
        "ts => ts.map(t => { const m = t.getScreenCTM(); "
        "return Math.hypot(m.a, m.b) * parseFloat(t.getAttribute('font-size')); })"
    )
    assert min(sizes) >= 18, min(sizes)
    box = app.page.locator('[data-testid="al-live-input"]')
    box.click()
    box.press("End")
    box.press("s")
    app.wait_until(lambda: grid.locator("rect").count() == 6 * 4 * 5 * 5, "the grid on owls", timeout_s=2)
    app.screenshot("browser-path-model-grid-projector")
    app.assert_clean()


def test_lesson_step_1_views_hide_at_the_first_key_of_a_new_word(app):
    """Step 1 of the Lesson in the browser path: no view before a guess is locked (it shows the answer); after
    Reveal the bars show the locked word. A question belongs to its word: the first key that makes the box's word
    another hides the bars behind the "appears once a guess is locked" line at once, in the page, with no message to
    the server (not only at the pause); the locked word typed back before the pause shows them again. At the pause
    the question follows the new word, asked anew (no guess picked, no view): a rerun of the step (a fragment,
    ui/lesson.py step), not of the page."""
    runs = server_runs(app)
    sent, box = reveal_lesson_step(app, 1, "capyba", "al-live-bars")
    sides = app.page.locator('[data-testid="al-live-side"]')
    app.wait_until(
        lambda: sides.count() == 1 and sides.first.get_attribute("data-drawn") == "<BOS> c a p y b a",
        "the bars after Reveal",
    )
    bars = app.page.locator('[data-testid="al-live-bars"] svg text')
    assert bars.first.text_content() == "What comes next?"
    # the bars say what the verdict says: the model's own softmax, not one renormalised over the bars shown
    values = app.page.locator('[data-testid="al-live-bars"] svg text.al-bar-value').all_text_contents()
    assert values == softmax_bars("miniformer", "capyba"), values
    said = re.search(r"The model gives it (\d+)%", app.main_text())
    assert said and round(float(values[0][:-1])) == int(said.group(1)), (values[0], said)
    line = app.page.locator('[data-testid="al-live-hidden"]')
    assert not line.is_visible()
    before = settled(app, sent)
    runs_before = len(runs)
    box.click()
    box.press("End")
    box.press("r")  # the first key of another word: hidden in this very frame, computed for nothing
    assert not app.page.locator('[data-testid="al-live-bars"]').is_visible(), "capybar's answer before a guess"
    assert (
        line.is_visible()
        and line.text_content() == "The live view of the model appears once a guess is locked in (Reveal)."
    )
    box.press("Backspace")  # the locked word again, before the pause: its bars again
    app.wait_until(lambda: app.page.locator('[data-testid="al-live-bars"]').is_visible(), "capyba's bars back", 2)
    assert sides.first.get_attribute("data-drawn") == "<BOS> c a p y b a" and not line.is_visible()
    box.press_sequentially("ra", delay=80)
    assert not app.page.locator('[data-testid="al-live-bars"]').is_visible() and line.is_visible()
    assert len(sent) == before, f"the browser spoke to the server while typing: {sent[before:]}"
    app.wait_until(lambda: "after “capybara”" in app.main_text(), "the question on the paused word", timeout_s=15)
    app.wait_idle()
    assert box.input_value() == "capybara" and app.page.locator('[data-testid="al-live-bars"]').count() == 0
    assert app.page.get_by_role("button", name="Reveal").is_disabled()  # no guess carried over to the new word
    assert "appears once a guess is locked in" in app.main_text()
    assert "fragment" in runs[runs_before:] and "page" not in runs[runs_before:], runs
    ask_again(app)  # the new word's question, answered: its bars
    app.wait_until(
        lambda: sides.count() == 1 and sides.first.get_attribute("data-drawn") == "<BOS> c a p y b a r a",
        "capybara's bars",
    )
    app.assert_clean()


def test_lesson_step_6_head_grid_follows_the_box_after_the_guess(app):
    """Step 6's grid of the last cross-attention layer's heads, drawn in the page after Reveal, one cell per
    (query, key) and head, redrawn on each key without a rerun."""
    sent, box = reveal_lesson_step(app, 6, "capybara", "al-live-headgrid")
    grid = app.page.locator('[data-testid="al-live-headgrid"] svg')
    app.wait_until(lambda: grid.count() == 1 and grid.locator("rect").count() == 4 * 9 * 9, "the grid of capybara")
    labels = grid.locator("text").all_text_contents()
    assert labels[0] == "Cross-attention, last layer: decoder rows read encoder columns" and "head 3" in labels
    before = settled(app, sent)
    box.click()
    box.press("End")
    box.press("s")  # another word: hidden at once, asked anew at the pause
    assert not grid.is_visible()
    assert len(sent) == before, f"the browser spoke to the server while typing: {sent[before:]}"
    ask_again(app)
    app.wait_until(lambda: grid.locator("rect").count() == 4 * 10 * 10, "the grid of capybaras")
    app.assert_clean()


def test_lesson_step_7_leak_heatmap_picks_the_layer_and_head_the_server_picks(app):
    """Step 7 in the browser: the peeking model's word read finished (<EOS>), the heatmap of the cross-attention
    layer and head that read key t+1 most — the same the server's step picks, computed in PyTorch here — with the
    cells (t, t+1) outlined; it follows each key after the guess."""
    from models.capture import capture
    from models.checkpoint import load_checkpoint
    from viz.metrics import leak_summary
    from viz.style import pattern_title

    def server_title(word: str) -> str:
        cap = capture(load_checkpoint("full_transformer_peeking"), word, add_eos=True)
        layer = leak_summary(cap)["layer"]
        p = cap.patterns[layer][0]
        head = max(range(p.shape[0]), key=lambda h: float(p[h].diagonal(1).sum()))
        return f"{pattern_title(layer)} · head {head}"

    _, box = reveal_lesson_step(app, 7, "flycatcher", "al-live-heatmap")
    heat = app.page.locator('[data-testid="al-live-heatmap"] svg')
    title = lambda: heat.locator("text").first.text_content()  # noqa: E731
    app.wait_until(lambda: heat.count() == 1, "the heatmap after Reveal")
    # flycatcher + <EOS>: 12 decoder rows, 12 source keys, so 11 cells (t, t+1)
    assert heat.locator('[data-testid="al-live-next-key"]').count() == 11
    assert title() == server_title("flycatcher"), title()
    for word in ("owl", "kiwi"):
        box.fill(word)
        ask_again(app)  # a new word, a new question
        app.wait_until(
            lambda: heat.locator('[data-testid="al-live-next-key"]').count() == len(word) + 1,
            f"the heatmap of {word}",
        )
        assert title() == server_title(word), (word, title())
    app.assert_clean()


def test_a_view_module_that_does_not_load_gives_the_server_path_with_a_note(app):
    """The view module (forward.js + live.js) is a static file the page fetches once; when it can't be had (a proxy
    that blocks it, a dropped connection), the page draws the server path and says why, instead of an empty box."""
    app.page.route(re.compile(r".*/app/static/weights/live-[0-9a-f]+\.js$"), lambda route: route.abort())
    app.page.goto(f"{app.server.url}/?browser=1&lang=en")
    app.wait_until(lambda: app.textbox().count() == 1, "the server path's box", timeout_s=60)
    app.wait_idle()
    assert app.page.locator(LIVE).count() == 0
    assert "could not load" in app.main_text()
    app.textbox().fill("cat")
    app.wait_until(lambda: "Next token after “t”" in app.main_text(), "the server path's bars on cat", timeout_s=30)
    # the one console error is the blocked file itself (Chromium logs every failed load); nothing else went wrong
    assert [e for e in app.console_errors if "/app/static/weights/live-" not in e] == [], app.console_errors
    app.console_errors.clear()


def test_lesson_steps_2_and_5_redraw_in_the_browser_after_the_guess_without_a_rerun_per_key(app):
    """Steps 2 (attention, step by step) and 5 (positions removed or shuffled) in the browser: nothing before the
    guess is locked; after Reveal each key of the step's box redraws the numbers with no message to the server
    (no rerun per key), and they are PyTorch's: step 2's softmax weights are models.attention_steps' for the new
    word, step 5's first bar is positions_counterfactual's top guess, with the word's PE rows outlined."""
    from models.attention_steps import attention_steps, positions_counterfactual
    from models.checkpoint import load_checkpoint

    mini = load_checkpoint("miniformer")
    sent, box = reveal_lesson_step(app, 2, "banana", "al-live-steps")
    rows = app.page.locator('[data-testid="al-live-steps-table"] tr')
    app.wait_until(lambda: rows.count() == 1 + 7, "the table of banana's 7 keys after Reveal")
    caption = app.page.locator('[data-testid="al-live-steps-caption"]')
    assert caption.text_content().startswith("Query 3: “n” · head 0 · d_k = 32"), caption.text_content()
    # the check compares the page's row with PyTorch's on the server: two computations, so a gap that is not 0
    check = app.page.locator('[data-testid="al-live-steps-check"]').text_content()
    gap = re.search(r"PyTorch computed on the server for the same word differ by at most (\d\.\de-\d\d)", check)
    assert gap and 0 < float(gap.group(1)) <= 1e-5, check
    before = settled(app, sent)
    box.click()
    box.press("End")
    box.press_sequentially("s", delay=80)
    assert not rows.first.is_visible()  # another word: hidden at once, asked anew at the pause
    assert len(sent) == before, f"the browser spoke to the server while typing: {sent[before:]}"
    ask_again(app)
    app.wait_until(lambda: rows.count() == 1 + 8, "the table of bananas")
    want = attention_steps(mini, "bananas", "blocks.0.attn.hook_pattern", 0, 3).weights.tolist()
    got = [rows.nth(1 + k).locator("td").last.text_content() for k in range(8)]
    assert got == [f"{w:.4f}" if k <= 3 else "0" for k, w in enumerate(want)], (got, want)
    app.assert_clean()

    sent, box = reveal_lesson_step(app, 5, "capyba", "al-live-positions")
    bars = app.page.locator('[data-testid="al-live-variants"]')
    app.wait_until(lambda: bars.count() == 1, "the three variants after Reveal")
    assert bars.locator("text").first.text_content() == "Next character after “capyba”"
    assert app.page.locator('[data-testid="al-live-pe-table"] text').first.text_content() == (
        "Positional encoding, 20 positions"
    )
    before = settled(app, sent)
    box.click()
    box.press("End")
    box.press_sequentially("ra", delay=80)
    assert not bars.is_visible()  # another word: hidden at once, asked anew at the pause
    assert len(sent) == before, f"the browser spoke to the server while typing: {sent[before:]}"
    ask_again(app)
    app.wait_until(lambda: bars.locator("text").first.text_content() == "Next character after “capybara”", "capybara")
    outline = app.page.locator('[data-testid="al-live-pe-rows"]')
    cell = app.page.locator('[data-testid="al-live-pe-table"] rect').first
    assert round(float(outline.get_attribute("height")) - 2) == 9 * round(float(cell.get_attribute("height")) - 0.3)
    vocab = mini.vocab.itos
    for mode in ("normal", "none", "shuffled"):  # each variant's longest bar is the server's top guess
        top = vocab[int(positions_counterfactual(mini, "capybara", mode).argmax())]
        top = "end of word" if top == "<EOS>" else top
        widths = bars.locator(f'rect[data-mode="{mode}"]').evaluate_all(
            "rs => rs.map(r => [+r.getAttribute('width'), r.querySelector('title').textContent])"
        )
        assert max(widths)[1].startswith(top + " · "), (mode, top, max(widths))
    app.assert_clean()
