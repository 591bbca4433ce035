"""Projector mode (issue 13 item 4) and the dark chart text every page gets; Generate on a complete word (item 7).

The chart copies are checked on the figure dicts (fonts, the WCAG contrast of every tick colour, no fixed width);
the pages through AppTest: ``?present=1`` turns the mode on and every page still runs and draws its charts large."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest
import torch
from lab_fixtures import REPO, open_app, tiny_bundle

from models.capture import capture
from viz import bertviz_view as bv
from viz import display, style
from viz import figures as F
from viz.metrics import next_token_probs

PAGES = [
    "app_pages/1_explore.py",
    "app_pages/2_compare.py",
    "app_pages/3_leak.py",
    "app_pages/4_generate.py",
    "app_pages/5_train.py",
    "app_pages/6_heads.py",
    "app_pages/7_real_model.py",
]


def contrast(fg: str, bg: str = "#ffffff") -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def lum(c: str) -> float:
        c = {"white": "#ffffff", "black": "#000000"}.get(c, c)
        rgb = [int(c.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula():
    assert contrast("#000000") == pytest.approx(21.0)
    assert contrast("#777777") == pytest.approx(4.48, abs=0.01)  # the WCAG examples' grey


def figures() -> dict[str, go.Figure]:
    """One figure from each kind of builder the pages draw: heatmaps, bars, subplot grids, colour bars, legends."""
    mini = capture(tiny_bundle("miniformer"), "capy")
    full = capture(tiny_bundle("full"), "capy")
    b = tiny_bundle("miniformer")
    probs = next_token_probs(mini.logits[0, -1])
    return {
        "heatmap": F.attention_heatmap(full, "decoder.0.cross_attn.hook_pattern", 1, query=2),
        "entropy": F.entropy_heatmap(full),
        "qent": F.query_entropy(mini, "blocks.0.attn.hook_pattern", 0),
        "bars": F.next_token_bars(probs, b.vocab, expected="a"),
        "lastrow": F.last_row_heatmap(full),
        "strip": F.generation_strip(["a", "b"], [0.5, 0.25], current=1),
        "heads": F.head_grid(full, "encoder.0.attn.hook_pattern"),
        "grid": F.layer_head_grid(full, title="every layer and head"),
        "curves": F.training_curves(
            [{"epoch": 1, "train_loss": 2.0, "val_tf_nll": 2.1, "val_prefix_nll": 2.2, "best_epoch": 1}]
        ),
    }


def axes(layout: dict) -> dict[str, dict]:
    return {k: v for k, v in layout.items() if style.AXIS_KEY.match(k)}


@pytest.mark.parametrize("kind", ["screen", "projector"])
def test_every_chart_text_is_dark(kind):
    """Tick labels, titles, colour bars, annotations: contrast >= 7:1 on the white paper, on screen and projector."""
    make = display.for_screen if kind == "screen" else display.for_projector
    for name, fig in figures().items():
        d = make(fig).to_dict()
        lay = d["layout"]
        bg = lay.get("paper_bgcolor", "#ffffff")
        assert axes(lay), name
        colours = [ax["tickfont"]["color"] for ax in axes(lay).values()] + [lay["font"]["color"]]
        colours += [a["font"]["color"] for a in lay.get("annotations", [])]
        colours += [trace["colorbar"]["tickfont"]["color"] for trace in d["data"] if "colorbar" in trace]
        for c in colours:
            assert contrast(c, bg) >= 7, (name, c)


def test_projector_copy_has_large_fonts_no_fixed_width_and_same_data():
    for name, fig in figures().items():
        before = fig.to_dict()
        fig = go.Figure(fig.to_dict()).update_layout(width=640)  # even a figure given a fixed width
        out = display.for_projector(fig)
        go.Figure(out.to_dict())  # plotly's full validation passes
        d = out.to_dict()
        lay = d["layout"]
        assert "width" not in lay and lay["autosize"] is True, name
        assert lay["font"]["size"] >= 20 and lay["title"]["font"]["size"] >= 20, name
        for key, ax in axes(lay).items():
            assert ax["tickfont"]["size"] >= 16 and ax["automargin"], (name, key)
        for a in lay.get("annotations", []):
            assert a["font"]["size"] >= 16, (name, a.get("text"))
        for trace in d["data"]:
            if "colorbar" in trace:
                assert trace["colorbar"]["tickfont"]["size"] >= 16, name
            if "textfont" in trace:
                assert trace["textfont"]["size"] >= 16, name
        assert lay["height"] > before["layout"]["height"], name  # room for the larger text
        assert [t.get("z", t.get("y")) for t in d["data"]] == [t.get("z", t.get("y")) for t in before["data"]], (
            name
        )  # the same numbers drawn
        assert fig.to_dict()["layout"]["width"] == 640  # the input is not changed


def test_layer_head_grid_labels_every_layer_and_head():
    full = capture(tiny_bundle("full"), "capy")
    fig = F.layer_head_grid(full, title="t", tr=lambda s: "H{h}" if s == "head {h}" else s)
    go.Figure(fig.to_dict())
    n_layers, n_heads = len(full.patterns), max(p.shape[1] for p in full.patterns.values())
    assert [a.text for a in fig.layout.annotations] == [f"H{h}" for h in range(n_heads)]
    row_labels = [fig.layout[f"yaxis{(r * n_heads + 1) if r else ''}"].title.text for r in range(n_layers)]
    assert row_labels == [
        "encoder<br>L0",
        "encoder<br>L1",
        "decoder self<br>L0",
        "decoder self<br>L1",
        "cross<br>L0",
        "cross<br>L1",
    ]
    cells = [trace for trace in fig.data if "weight <b>" in trace.hovertemplate]  # not the grey masks
    assert len(cells) == sum(p.shape[1] for p in full.patterns.values()) == n_layers * n_heads
    first = full.patterns["decoder.0.cross_attn.hook_pattern"][0, 3]
    i = row_labels.index("cross<br>L0")
    z = torch.tensor(cells[i * n_heads + 3].z, dtype=torch.float32).nan_to_num(0.0)  # masked cells: nan
    assert torch.allclose(z, first)


def test_layer_head_grid_speaks_the_page_language():
    """Issue 20 item 10: on a Japanese projector page the grid's row and column labels and every cell's hover are
    Japanese (the page passes ``tr``), not English."""
    import sys

    from ui.i18n import gettext_for

    sys.path.insert(0, str(REPO / "scripts"))
    import i18n as catalogs

    catalogs.compile_all()
    gettext_for.cache_clear()
    ja = gettext_for("ja")
    full = capture(tiny_bundle("full"), "capy")
    fig = F.layer_head_grid(full, title="t", tr=ja)
    n_heads = max(p.shape[1] for p in full.patterns.values())
    assert [a.text for a in fig.layout.annotations] == [f"ヘッド {h}" for h in range(n_heads)]
    assert (
        fig.layout.yaxis.title.text == "エンコーダ<br>L0"
        and fig.layout["yaxis" + str(4 * n_heads + 1)].title.text == "クロス<br>L0"
    )
    hovers = {trace.hovertemplate for trace in fig.data}
    assert hovers == {
        "%{text}<br>重み <b>%{z:.4f}</b><extra></extra>",
        "%{text}<br><b>マスク</b>:このクエリは先を見てはいけません<extra></extra>",
    }, hovers
    assert all(t.startswith("クエリ ") for trace in fig.data for row in trace.text for t in row)


def test_bertviz_fill_frame_script_only_when_asked():
    kw = capture(tiny_bundle("miniformer"), "capy").bertviz_kwargs()
    try:
        plain, filled = bv.live_parts(kw, "head"), bv.live_parts(kw, "head", fill=True)
    except bv.VendorMissingError:
        pytest.skip("static/vendor/ has no d3 / jQuery")
    assert plain["fit"] == "" and "data-filled" in filled["fit"] and filled["markup"] == plain["markup"]
    assert str(bv._FILL_MIN_SCALE) in filled["fit"] and bv._FILL_MIN_SCALE * 15 >= 18  # BertViz's 15 px text


# ---- pages --------------------------------------------------------------------------------------------------------


def _specs(at) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def test_present_param_turns_projector_mode_on_and_every_page_runs():
    at = open_app(timeout=90, present="1", text="capy")
    assert at.session_state["present"] is True and at.toggle(key="present").value is True
    assert any("font-size: 23px" in h.proto.body for h in at.get("html"))
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        for key, spec in _specs(at).items():
            lay = spec["layout"]
            assert "width" not in lay, (page, key)
            for name, ax in axes(lay).items():
                assert ax["tickfont"]["size"] >= 16 and contrast(ax["tickfont"]["color"]) >= 7, (page, key, name)
    at.toggle(key="present").set_value(False).run()
    assert "present" not in at.query_params and not any("font-size: 23px" in h.proto.body for h in at.get("html"))


def test_charts_are_dark_without_projector_mode_too():
    at = open_app(timeout=90, text="capy")
    assert at.session_state["present"] is False
    specs = _specs(at)
    assert specs
    for key, spec in specs.items():
        for name, ax in axes(spec["layout"]).items():
            assert contrast(ax["tickfont"]["color"]) >= 7, (key, name)
            assert ax["tickfont"].get("size", 13) < display.PROJECTOR_TICK_FONT, (key, name)  # on-screen, not projector


def test_projector_model_view_is_a_labelled_grid():
    at = open_app(timeout=90, present="1", text="capy")
    at.segmented_control(key="explore.view").set_value("model").run()
    assert not at.exception, at.exception
    grid = _specs(at)["explore.bertviz.grid"]
    assert grid["layout"]["xaxis"]["tickfont"]["size"] >= 16
    assert grid["layout"]["yaxis"]["title"]["text"] == "self<br>L0"
    assert grid["layout"]["annotations"][0]["text"] == "head 0"


def test_generate_on_a_complete_word_says_so_and_offers_sampling():
    at = open_app(timeout=90, text="capy")
    at.switch_page("app_pages/4_generate.py").run()
    assert not at.exception, at.exception
    said = " ".join(i.value for i in at.info)
    assert "whole word already" in said and not [s for s in at.slider if s.key == "gen.step"]
    at.button(key="gen.try_sampling").click().run()
    assert not at.exception, at.exception
    assert at.session_state["gen.mode"] == "sampled"
    steps = [s for s in at.slider if s.key == "gen.step"]
    assert steps and steps[0].max >= 1  # a timeline to scrub
    assert not any("whole word already" in i.value for i in at.info)


def test_a_grid_title_sits_above_its_subplot_titles_and_ticks_may_turn():
    """Issue 20 item 11: the chart title overlapped the "head h" titles of every head grid (Lesson steps 4, 6, 8),
    and tick labels fixed upright collided ("<BOS>c"). The title is pinned to the top and the top margin holds both
    lines, on screen and on the projector; x tick labels are free to turn where they would collide."""
    full = capture(tiny_bundle("full"), "capybara")
    grid = F.head_grid(full, "encoder.0.attn.hook_pattern", title="Encoder layer 0, every head")
    for fig, title_px, annot_px in (
        (grid, 15, 13),
        (display.for_projector(grid), display.PROJECTOR_FONT + 4, display.PROJECTOR_FONT + 2),
    ):
        lay = fig.to_dict()["layout"]
        subplot_titles = [a for a in lay["annotations"] if a["text"].startswith("head ")]
        assert subplot_titles and all(a["yanchor"] == "bottom" for a in subplot_titles)
        assert lay["title"]["yref"] == "container" and lay["title"]["yanchor"] == "top" and lay["title"]["y"] == 1
        assert lay["margin"]["t"] >= 1.5 * title_px + 1.8 * annot_px, lay["margin"]
        assert max(a["font"]["size"] for a in subplot_titles) <= annot_px
    assert all("tickangle" not in ax for k, ax in grid.to_dict()["layout"].items() if k.startswith("xaxis"))
    single = display.for_projector(F.attention_heatmap(full, "encoder.0.attn.hook_pattern", 0))
    assert single.layout.title.yref != "container"  # a chart without subplot titles keeps its place


@pytest.mark.parametrize("model", ["miniformer", "full_transformer"])
def test_generate_suggests_starts_the_model_carries_on(model):
    """Issue 20 item 13: the box suggested "capy", which both shipped models end at once. Every start it suggests
    now, greedy generation (the page's default) carries on by two characters or more, checked here independently."""
    import re

    from models.checkpoint import load_checkpoint
    from models.generate import generate

    at = open_app(timeout=90, **{"gen.model": model})
    at.switch_page("app_pages/4_generate.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="gen.model").value == model
    hint = at.text_input(key="text").placeholder
    starts = re.fullmatch(r"e\.g\. (.*) \(or leave empty\)", hint)[1].split(", ")
    assert len(starts) == 3 and "capy" not in starts, hint
    b = load_checkpoint(model)
    for start in starts:
        g = generate(b, start, max_new=16, greedy=True)
        assert len(g.text) - len(start) >= 2, (start, g.text, g.stop_reason)
