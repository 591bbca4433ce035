"""The Real model page served as run.sh serves it (``streamlit run serve.py``): the component owns the text box and
every key is one GET /lm/views (services/lm_views.py), not a Streamlit rerun. Typing redraws the bars, BertViz and
the heatmap with the new last token while the page sends Streamlit nothing (its WebSocket frames are counted); at
the pause one message goes and the page's token chips follow. A knob (Layer) changes what the next key asks; a
half-composed word (an input method) asks nothing, the composed one does. No page errors, no request leaves
localhost."""

from __future__ import annotations

import time

LIVE = '[data-testid="al-live"]'


def texts(app, view: str) -> list[str]:
    return app.page.locator(f'[data-testid="al-live-{view}"] svg text').all_text_contents()


def test_typing_asks_the_route_and_reruns_nothing_until_the_pause(server_factory, open_page_on):
    server = server_factory(script="serve.py")
    app = open_page_on(server)
    sent: list[float] = []  # when the page sent Streamlit a WebSocket frame (a rerun request, a state change)
    views: list[str] = []
    app.page.on("websocket", lambda ws: ws.on("framesent", lambda _: sent.append(time.monotonic())))
    app.page.on("request", lambda r: views.append(r.url) if "/lm/views?" in r.url else None)
    app.goto("real_model")
    app.wait_until(lambda: "␣tired" in texts(app, "bertviz"), "BertViz to draw the lecture sentence", timeout_s=120)
    app.wait_idle()
    box = app.page.locator('[data-testid="al-live-input"]')
    assert box.is_visible() and box.input_value().endswith("too tired")  # the component's box, not st.text_input
    assert app.page.locator('[data-testid="stTextInput"] input[aria-label="Type a sentence"]').count() == 0
    time.sleep(0.5)
    before = len(sent)
    box.click()
    box.press("End")
    start = time.monotonic()
    for ch in " and slept":  # keys 100 ms apart: under the 400 ms pause
        box.press(ch if ch != " " else "Space")
        time.sleep(0.1)
    typed = time.monotonic()
    app.wait_until(lambda: (app.page.locator(LIVE).get_attribute("data-drawn") or "").endswith("␣slept"), "the route")
    during = [t for t in sent[before:] if start <= t <= typed]
    assert during == [], f"{len(during)} WebSocket frame(s) sent while typing: a key must not rerun the script"
    assert len(views) >= 2, views  # one request per key (a key typed while one is out waits for it)
    assert all("text=" in u and "id=" in u and "/real_model" not in u.split("/lm/views")[0] for u in views)
    # every view shows the new last token
    assert "␣slept" in texts(app, "bertviz")
    assert "␣slept" in texts(app, "heatmap")
    assert any("slept" in t for t in texts(app, "bars"))  # the bars' title: Next token after "␣slept"
    # the pause: one message to Python, whose fragment run then shows the token chips of the new text
    app.wait_until(lambda: len(sent) > before, "the text reported at the pause")
    app.wait_until(
        lambda: any(
            "␣slept" in t and "␣tired" in t
            for t in app.page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()
        ),
        "the token chips after the pause",
    )
    assert len(sent) - before <= 2, len(sent) - before
    assert box.get_attribute("maxlength") == "2000"  # the route's limit
    # a knob (outside the fragment: the page reruns) changes what the next key asks for
    picker = app.page.get_by_role("combobox", name="Layer", exact=True)
    picker.click()
    app.page.get_by_role("option", name="3", exact=True).click()
    app.wait_until(lambda: "Layer 3 · head 0" in " ".join(texts(app, "heatmap")), "the heatmap of the picked layer")
    asked = len(views)
    box.press("End")
    box.press(".")
    app.wait_until(lambda: (app.page.locator(LIVE).get_attribute("data-drawn") or "").endswith("␣slept ."), "a key")
    assert "layer=3" in views[-1] and len(views) > asked
    assert "Layer 3 · head 0" in " ".join(texts(app, "heatmap"))
    # a Japanese input method: nothing is asked for a half-composed word, the composed one is
    asked, before_ja = len(views), app.page.locator(LIVE).get_attribute("data-drawn")
    app.page.evaluate(
        """() => { const b = document.querySelector('[data-testid=al-live-input]');
        b.dispatchEvent(new CompositionEvent('compositionstart'));
        b.value = b.value + ' ねこ';
        b.dispatchEvent(new InputEvent('input', {isComposing: true, data: 'ねこ'})); }"""
    )
    time.sleep(1.0)
    assert len(views) == asked
    app.page.evaluate(
        "() => document.querySelector('[data-testid=al-live-input]')"
        ".dispatchEvent(new CompositionEvent('compositionend'))"
    )
    app.wait_until(lambda: len(views) > asked, "the composed word asked")
    app.wait_until(lambda: app.page.locator(LIVE).get_attribute("data-drawn") != before_ja, "the composed word drawn")
    assert "ねこ" in views[-1] or "%E3%81%AD%E3%81%93" in views[-1]
    assert app.page.locator(LIVE).get_attribute("data-route-error") is None
    app.assert_clean()
