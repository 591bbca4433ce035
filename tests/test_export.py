"""Exports (issue 12, item 9): the figures as 16:9 slides with every axis label inside the picture and clear of
the cells, rendered by kaleido (SVG to read where each label went, PNG for its size); Explore's export buttons
name their figure, the one-layer JSON holds the selected layer, and the standalone BertViz page says what it shows."""

from __future__ import annotations

import html
import json
import struct

import plotly.graph_objects as go
import pytest
from lab_fixtures import open_app, shown, tiny_bundle
from svg_layout import layout_boxes

from models.capture import capture
from models.capture_upload import from_json
from viz import display
from viz import figures as F
from viz.export import figure_image, png_available

LONG_WORD = "hippopotamus-and-crocodile-flycatcher-capybara!"  # 48 tokens, "<UNK>"s among them


def _figures():
    full = capture(tiny_bundle("full"), "banana")
    mini = capture(tiny_bundle("miniformer"), LONG_WORD)
    return {
        "heatmap, 7 tokens": F.attention_heatmap(full, "decoder.0.cross_attn.hook_pattern", 1, query=3),
        "heatmap, 48 tokens": F.attention_heatmap(mini, "blocks.0.attn.hook_pattern", 0, query=5),
        "entropy, 6 rows": F.entropy_heatmap(full),
        "head grid, subplots": F.head_grid(full, "encoder.0.attn.hook_pattern"),
    }


def _tick_axes(fig_dict: dict) -> dict:
    return {k: v for k, v in fig_dict["layout"].items() if k[1:5] == "axis" and v.get("tickvals") is not None}


@pytest.mark.parametrize("which", list(_figures()))
def test_slide_copy_lists_every_tick_label_in_legible_fonts(which):
    fig = _figures()[which]
    before = fig.to_dict()
    slide = display.for_slide(fig, subtitle="MiniFormer · “<b>x</b>”")
    assert fig.to_dict() == before  # the page's figure is untouched
    d = go.Figure(slide.to_dict()).to_dict()  # plotly's full validation passes
    lay = d["layout"]
    assert (lay["width"], lay["height"]) == (display.SLIDE_WIDTH, display.SLIDE_HEIGHT)
    assert lay["title"]["font"]["size"] >= 26 and "&lt;b&gt;" in lay["title"]["subtitle"]["text"]
    axes = _tick_axes(before)
    assert axes
    for key, ax in axes.items():
        out = lay[key]
        assert list(out["tickvals"]) == list(ax["tickvals"]) and list(out["ticktext"]) == list(ax["ticktext"])
        assert out["tickmode"] == "array" and out["automargin"] is True
        assert out["tickfont"]["size"] >= 11
        if ax.get("title", {}).get("text"):
            assert out["title"]["font"]["size"] >= 20 and out["title"]["standoff"] >= 10


def _svg_layout(fig) -> dict:
    return layout_boxes(figure_image(display.for_slide(fig, subtitle="model · word"), "svg").decode())


@pytest.mark.skipif(not png_available(), reason="kaleido needs a local Chromium (test.sh installs one)")
@pytest.mark.parametrize("which", ["heatmap, 7 tokens", "heatmap, 48 tokens", "entropy, 6 rows"])
def test_rendered_slide_shows_every_tick_label_inside_the_picture_and_off_the_cells(which):
    fig = _figures()[which]
    rendered = _svg_layout(fig)
    w, h = rendered["size"]
    assert (w, h) == (display.SLIDE_WIDTH, display.SLIDE_HEIGHT)
    boxes = rendered["boxes"]
    for key, ax in _tick_axes(fig.to_dict()).items():
        drawn = [b.text for b in boxes if b.kind == key[0] + "tick"]
        assert drawn == [html.unescape(t) for t in ax["ticktext"]], key  # every label, in order, none dropped
    x0, y0, x1, y1 = rendered["plot"]
    for b in boxes:
        assert b.inside(w, h), f"{b.text!r} ({b.kind}) is cut off at the picture's edge: {b}"
        assert not b.overlaps(x0, y0, x1, y1), f"{b.text!r} ({b.kind}) is drawn over the cells: {b}"
        assert b.font >= 11
    for kind in ("xtick", "ytick"):  # neighbouring labels don't run into each other
        along = sorted((b for b in boxes if b.kind == kind), key=lambda b: (b.x0, b.y0))
        for a, b in zip(along, along[1:]):
            assert not a.overlaps(b.x0, b.y0, b.x1, b.y1, slack=0.5), (a, b)


@pytest.mark.skipif(not png_available(), reason="kaleido needs a local Chromium (test.sh installs one)")
def test_png_export_is_a_slide_sized_picture():
    from viz.export import figure_png

    png = figure_png(_figures()["heatmap, 7 tokens"], subtitle="MiniFormer · “banana”")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (
        (width, height)
        == (display.SLIDE_WIDTH * display.SLIDE_SCALE, display.SLIDE_HEIGHT * display.SLIDE_SCALE)
        == (2560, 1440)
    )


# ---- Explore's export expander -------------------------------------------------------------------------------------


@pytest.fixture
def downloads(monkeypatch):
    """{deferred file id: (file name, data callable)} of every download button the page drew."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    seen = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        file_id = original(self, data_callable, mimetype, coordinates, file_name, **kw)
        seen[file_id] = (file_name, data_callable)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return seen


def _buttons(at, downloads) -> dict:
    """{button label: (disabled, file name, data callable)}."""
    out = {}
    for el in at.get("download_button"):
        name, data = downloads.get(el.proto.deferred_file_id, (None, None))
        out[el.proto.label] = (el.proto.disabled, name, data)
    return out


def _explore(model: str, text: str):
    at = open_app(timeout=30)
    at.selectbox(key="model").set_value(model).run()
    at.text_input(key="text").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.get("download_button")  # the Export expander builds its buttons only once it is opened
    at.session_state["explore.export.open"] = True
    at.run()
    return at


def test_export_buttons_name_their_figure_and_the_layer_json_is_the_selected_layer(downloads):
    from ui.cache import get_capture

    at = _explore("full_transformer", "banana")
    at.selectbox(key="explore.pattern").set_value("decoder.1.attn.hook_pattern").run()
    assert not at.exception, [e.value for e in at.exception]
    buttons = _buttons(at, downloads)
    labels = list(buttons)
    assert len(labels) == len(set(labels)) and "PNG" not in labels
    assert {"Attention heatmap (PNG)", "Entropy heatmap (PNG)"} <= set(labels) or {
        "Attention heatmap (HTML)",
        "Entropy heatmap (HTML)",
    } <= set(labels)
    assert "Selected: decoder self-attention layer 1" in [shown(c.value) for c in at.caption]
    disabled, file_name, data = buttons['Selected layer `{"attentions": …}`']
    assert not disabled and file_name == "attention_decoder_layer1.json"
    got = json.loads(data())
    cap = get_capture("full_transformer", "banana")
    want = json.loads(cap.to_json("layer", family="decoder", layer=1))
    assert got == want and got != json.loads(cap.to_json("layer", family="decoder", layer=0))
    assert from_json(data()).tgt_tokens == cap.tgt_tokens

    # Cross-attention can't be written in the one-token-list format: the button says so instead of exporting
    at.selectbox(key="explore.pattern").set_value("decoder.0.cross_attn.hook_pattern").run()
    disabled, _, _ = _buttons(at, downloads)['Selected layer `{"attentions": …}`']
    assert disabled and "Selected: cross-attention layer 0" in [shown(c.value) for c in at.caption]


def test_standalone_bertviz_page_says_what_it_shows(downloads):
    pytest.importorskip("bertviz")
    from viz.bertviz_view import missing_vendor_files

    assert not missing_vendor_files(), "run python scripts/fetch_vendor.py"
    at = _explore("miniformer", "capy")
    _, file_name, data = _buttons(at, downloads)["Head view (HTML)"]
    page = data()
    assert file_name == "bertviz_head_view.html"
    header = page[page.index('<header class="bv-header">') : page.index("</header>")]
    for text in ("BertViz Head view · MiniFormer", "Word: “capy”", "Exported from Attention Lab on 20"):
        assert text in header, header
    assert "<title>BertViz Head view · MiniFormer</title>" in page


def test_an_uploaded_file_name_in_the_bertviz_header_stays_text(downloads):
    at = open_app(timeout=30)
    good = json.dumps({"tokens": ["<BOS>", "a"], "attentions": [[[1, 0], [0.5, 0.5]]]}).encode()
    name = "</title><script>alert(1)</script>http://x.example.json"
    at.file_uploader(key="explore.upload").set_value((name, good, "application/json"))
    at.session_state["explore.export.open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    page = _buttons(at, downloads)["Head view (HTML)"][2]()
    assert "<script>alert" not in page and "http://x" not in page
    assert "&lt;&#47;title&gt;&lt;script&gt;alert(1)&lt;&#47;script&gt;http:&#47;&#47;x.example.json" in page
    assert name in shown(next(s.value for s in at.success))
