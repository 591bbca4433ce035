"""viz/bertviz_view.py: BertViz pages that name no web address, embed every token safely and fail helpfully.

Needs static/vendor/ (``python scripts/fetch_vendor.py``; test.sh runs it). The browser-level proof that these
pages draw offline is scripts/check_bertviz_offline.py.
"""

import re
from html.parser import HTMLParser

import pytest
import torch

from viz import bertviz_view as bv
from viz.bertviz_view import (
    FETCH_HINT,
    VendorMissingError,
    estimate_height,
    estimate_height_for,
    head_view_html,
    missing_vendor_files,
    model_view_html,
    script_safe_json,
)

XSS = ("</script><img src=x onerror=alert(1)>", "<script>alert(1)</script>")
SRC = ["<BOS>", "c", "a", "p", "y", "␣", "&", "/", *XSS]
TGT = ["<BOS>", "h", "i", XSS[1]]
VIEWS = {"head": head_view_html, "model": model_view_html}


def softmaxed(n_layer, n_head, q, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, n_head, q, k, generator=g).softmax(-1) for _ in range(n_layer))  # (1, H, Q, K)


def self_attn_kwargs():
    return {"attention": softmaxed(1, 2, len(SRC), len(SRC)), "tokens": list(SRC)}


def enc_dec_kwargs():
    s, t = len(SRC), len(TGT)
    return {
        "encoder_attention": softmaxed(2, 2, s, s, 1),
        "decoder_attention": softmaxed(2, 2, t, t, 2),
        "cross_attention": softmaxed(2, 2, t, s, 3),
        "encoder_tokens": list(SRC),
        "decoder_tokens": list(TGT),
    }


CASES = {"self": self_attn_kwargs, "enc_dec": enc_dec_kwargs}


class StartTags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.seen = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, dict(attrs)))


@pytest.fixture(scope="module", autouse=True)
def vendor_present():
    if missing_vendor_files():
        pytest.fail(f"static/vendor/ lacks {missing_vendor_files()}: run `{FETCH_HINT}` first")


@pytest.fixture(
    params=[(c, v, s) for c in CASES for v in VIEWS for s in (False, True)],
    ids=lambda p: f"{p[0]}-{p[1]}-{'standalone' if p[2] else 'static'}",
)
def page(request):
    case, view, standalone = request.param
    kw = CASES[case]()
    return kw, VIEWS[view](kw, standalone=standalone), standalone


def test_names_no_web_address(page):
    _, html, _ = page
    assert "http://" not in html.lower() and "https://" not in html.lower()
    assert "require.config({" not in html and "cdnjs" not in html


def test_every_token_embedded_in_escaped_form(page):
    kw, html, _ = page
    tokens = kw.get("tokens") or kw["encoder_tokens"] + kw["decoder_tokens"]
    for tok in tokens:
        assert script_safe_json(tok) in html, tok
    # Spelled out by hand too, so the test does not only trust script_safe_json.
    assert r'"\u003c\/script\u003e\u003cimg src=x onerror=alert(1)\u003e"' in html
    assert r'"\u003cBOS\u003e"' in html and r'"\u0026"' in html and r'"\u2423"' in html


def test_tokens_cannot_escape_the_script(page):
    _, html, standalone = page
    low = html.lower()
    assert "<img" not in low
    assert "</script><img" not in low and "<script>alert" not in low and "<bos>" not in low
    # BertViz pastes its JSON into a "// HACK:" comment as well; that copy must be gone too.
    assert html.count("onerror=alert(1)") == html.count(r"onerror=alert(1)\u003e")
    # "</script" only where our own scripts end: jQuery + d3 + require stand-in + BertViz's code.
    assert low.count("</script") == 4 and "<!--" not in html
    # Parsed as a browser would (script bodies are raw text): only our elements, 4 scripts, each with the nonce
    # that the CSP requires, so nothing else could run even if markup got in.
    tags = StartTags()
    tags.feed(html)
    assert {t for t, _ in tags.seen} <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "script",
        "body",
        "div",
        "span",
        "select",
        "option",
    }
    nonce = re.search(r"script-src 'nonce-([0-9a-f]+)'", html)[1]
    scripts = [a for t, a in tags.seen if t == "script"]
    assert len(scripts) == 4 and all(a.get("nonce") == nonce for a in scripts)
    assert "default-src 'none'" in html


def test_standalone_inlines_the_libraries_and_static_links_them(page):
    _, html, standalone = page
    if standalone:
        assert "d3js.org v5.7.0" in html and "jQuery v2.2.4" in html
        assert "/app/static/vendor" not in html
    else:
        assert 'src="/app/static/vendor/jquery.min.js"' in html and 'src="/app/static/vendor/d3.min.js"' in html
        assert "d3js.org v5.7.0" not in html and len(html) < 100_000
    assert "window.requirejs = require" in html  # the stand-in BertViz's requirejs([...]) call uses


def test_inlined_d3_keeps_its_namespace_strings():
    html = head_view_html(self_attn_kwargs(), standalone=True)
    assert r'"http:\/\/www.w3.org\/2000\/svg"' in html or r'"http:\/\/www.w3.org/2000/svg"' in html


def test_model_view_is_light_and_head_view_has_one_layer_selector():
    assert '"display_mode": "light"' in model_view_html(self_attn_kwargs())
    html = head_view_html(enc_dec_kwargs())
    assert html.count('id="layer"') == 1 and '<option value="2">Cross</option>' in html


def test_same_input_same_page_and_inputs_untouched():
    kw = enc_dec_kwargs()
    before = {k: [t.clone() for t in v] for k, v in kw.items() if k.endswith("attention")}
    assert head_view_html(kw) == head_view_html(kw)  # stable srcdoc: Streamlit keeps the iframe on reruns
    for k, tensors in before.items():
        assert all(torch.equal(a, b) for a, b in zip(tensors, kw[k]))
    other = {**kw, "decoder_tokens": ["<BOS>", "h", "o", "!"]}
    assert head_view_html(other) != head_view_html(kw)


def test_static_url_is_configurable_but_must_stay_on_the_app_server():
    html = head_view_html(self_attn_kwargs(), static_url="/lab/app/static/vendor/")
    assert 'src="/lab/app/static/vendor/d3.min.js"' in html
    with pytest.raises(ValueError, match="static_url"):
        head_view_html(self_attn_kwargs(), static_url="https://cdn.example/vendor")


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("standalone", [False, True])
def test_missing_vendor_files_raise_with_the_fetch_command(monkeypatch, tmp_path, view, standalone):
    monkeypatch.setattr(bv, "VENDOR_DIR", tmp_path)
    assert missing_vendor_files() == ["d3.min.js", "jquery.min.js"]
    with pytest.raises(VendorMissingError) as e:
        VIEWS[view](self_attn_kwargs(), standalone=standalone)
    assert FETCH_HINT in str(e.value) and "d3.min.js" in str(e.value) and "jquery.min.js" in str(e.value)
    (tmp_path / "d3.min.js").write_text("x")
    assert missing_vendor_files() == ["jquery.min.js"]


@pytest.mark.parametrize("view", VIEWS)
def test_encoder_decoder_layer_counts_must_match(view):
    kw = {
        **enc_dec_kwargs(),
        "decoder_attention": softmaxed(1, 2, len(TGT), len(TGT)),
        "cross_attention": softmaxed(1, 2, len(TGT), len(SRC)),
    }
    with pytest.raises(ValueError, match="same number of layers"):
        VIEWS[view](kw)


def test_estimate_height():
    # Head view: BertViz rows are 22.5 px; layers and heads do not matter. Measured in Chromium: 15 tokens -> 403.
    assert estimate_height(15, "head") == estimate_height(15, "head", n_layer=3, n_head=4)
    assert 403 <= estimate_height(15, "head") <= 403 + 30
    assert estimate_height(16, "head") - estimate_height(15, "head") in (22, 23)
    # Model view: thumbnail rows 84 / n_head px per layer. Measured: 15 tokens, 2 layers x 4 heads -> 723 px.
    assert 723 <= estimate_height(15, "model", n_layer=2, n_head=4) <= 723 + 30
    assert estimate_height(15, "model", n_head=1) > estimate_height(15, "model", n_head=4)
    assert estimate_height(15, "model", n_layer=2, n_head=4, width=500) < estimate_height(
        15, "model", n_layer=2, n_head=4
    )
    assert estimate_height_for(enc_dec_kwargs(), "model") == estimate_height(len(SRC), "model", n_layer=2, n_head=2)
    with pytest.raises(ValueError):
        estimate_height(5, "neuron")


# ---- the live frame (ui/bertviz_live): BertViz's markup + drawing script, sent on each rerun --------------------
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("view", VIEWS)
def test_live_parts_carry_tokens_only_as_escaped_json(case, view):
    kw = CASES[case]()
    parts = bv.live_parts(kw, view)
    markup, js = parts["markup"], parts["js"]
    # The markup is BertViz's template: no token and no script in it (the frame sets it with innerHTML).
    assert "<script" not in markup.lower() and "alert(1)" not in markup and 'id="vis"' in markup.replace("'", '"')
    tokens = kw.get("tokens") or kw["encoder_tokens"] + kw["decoder_tokens"]
    for tok in tokens:
        assert script_safe_json(tok) in js, tok
    assert "<" not in js.split("const params = ", 1)[1].split("\n", 1)[0]  # the params line has no raw '<'
    assert "</script" not in js.lower() and "://" not in js and "://" not in markup
    assert js.lstrip().startswith(("/**", "requirejs")) and "requirejs(['jquery', 'd3']" in js
    assert bool(parts["fit"]) == (view == "model")
    if view == "model":  # the frame runs the same fitting code as the standalone page
        assert parts["fit"] in bv.model_view_html(kw, standalone=True)


def test_live_parts_key_follows_the_content_and_the_page_matches():
    kw = enc_dec_kwargs()
    a, b = bv.live_parts(kw, "head"), bv.live_parts(kw, "head")
    assert a == b  # same input: same key, the frame skips redrawing
    other = bv.live_parts({**kw, "decoder_tokens": ["<BOS>", "h", "o", "!"]}, "head")
    assert other["key"] != a["key"] and bv.live_parts(kw, "model")["key"] != a["key"]
    # The frame draws exactly what the downloadable page holds: same markup and same script.
    page = head_view_html(kw)
    assert a["markup"].strip() in page and a["js"] in page


def test_live_parts_speak_the_page_language():
    """Issue 20 item 10: BertViz writes "Layer:", "Attention:" and its Encoder / Decoder / Cross options in English;
    with the page's ``tr`` they read in Japanese (escaped), the key changes with them so a language switch redraws,
    and the English frame is as before."""
    import sys

    from lab_fixtures import REPO

    sys.path.insert(0, str(REPO / "scripts"))
    import i18n as catalogs

    from ui.i18n import gettext_for

    catalogs.compile_all()
    gettext_for.cache_clear()
    kw = enc_dec_kwargs()
    en, ja = bv.live_parts(kw, "head"), bv.live_parts(kw, "head", tr=gettext_for("ja"))
    assert "Layer: <select" in en["markup"] and ">Cross</option>" in en["markup"]
    assert "層: <select" in ja["markup"] and "アテンション: <select" in ja["markup"]
    assert [o in ja["markup"] for o in (">エンコーダ</option>", ">デコーダ</option>", ">クロス</option>")] == [True] * 3
    assert not re.search(r"Layer|Attention:|>(Encoder|Decoder|Cross)<", ja["markup"]), ja["markup"]
    assert ja["key"] != en["key"] and ja["js"] == en["js"]
    assert bv.live_parts(kw, "head", tr=lambda s: "<b>" + s)["markup"].count("&lt;b&gt;") == 5  # escaped
    model = bv.live_parts(kw, "model", tr=gettext_for("ja"))["markup"]
    assert "アテンション: <select" in model and "Attention:" not in model


@pytest.mark.parametrize("view", VIEWS)
def test_live_parts_need_the_vendor_files(monkeypatch, tmp_path, view):
    monkeypatch.setattr(bv, "VENDOR_DIR", tmp_path)
    with pytest.raises(VendorMissingError, match="fetch_vendor"):
        bv.live_parts(self_attn_kwargs(), view)


def test_live_frame_files_are_offline_and_locked_down():
    from pathlib import Path

    folder = Path(bv.__file__).resolve().parent.parent / "ui" / "bertviz_live"
    page = (folder / "index.html").read_text()
    js = (folder / "main.js").read_text()
    assert "://" not in page and "://" not in js
    csp = re.search(r'Content-Security-Policy"\s+content="([^"]+)"', page)[1]
    assert (
        "default-src 'none'" in csp
        and "script-src-attr 'none'" in csp
        and "'unsafe-inline'" not in csp.split("style-src")[0]
    )
    # The frame loads the vendored libraries relative to its own URL (so a baseUrlPath works) and its own script.
    srcs = re.findall(r'<script src="([^"]+)"', page)
    assert srcs == ["../../app/static/vendor/jquery.min.js", "../../app/static/vendor/d3.min.js", "main.js"]
    assert "streamlit:componentReady" in js and "streamlit:setFrameHeight" in js and ".innerHTML = args.markup" in js


def test_selectors_for_names_bertviz_own_kind_and_layer_options():
    """Compare opens each BertViz on the heatmap's pattern: BertViz's "filter" options are indices into the kinds
    given, in its order encoder, decoder, cross (issue 12 item 5: it opened on the encoder beside cross)."""
    t = torch.full((1, 1, 2, 2), 0.5)
    full = {
        "encoder_attention": (t, t),
        "decoder_attention": (t, t),
        "cross_attention": (t, t),
        "encoder_tokens": ["a", "b"],
        "decoder_tokens": ["a", "b"],
    }
    assert bv.selectors_for(full, "decoder.1.cross_attn.hook_pattern") == {"filter": "2", "layer": "1"}
    assert bv.selectors_for(full, "encoder.0.attn.hook_pattern") == {"filter": "0", "layer": "0"}
    assert bv.selectors_for(full, "decoder.0.attn.hook_pattern") == {"filter": "1", "layer": "0"}
    no_encoder = {k: v for k, v in full.items() if k != "encoder_attention"}
    assert bv.selectors_for(no_encoder, "decoder.0.cross_attn.hook_pattern")["filter"] == "1"
    assert bv.selectors_for({"attention": (t,), "tokens": ["a", "b"]}, "blocks.0.attn.hook_pattern") == {"layer": "0"}
    with pytest.raises(ValueError, match="lack"):
        bv.selectors_for(no_encoder, "encoder.0.attn.hook_pattern")
    with pytest.raises(ValueError, match="not a TL attention pattern"):
        bv.selectors_for(full, "cross")
    # the page draws what the option index names: BertViz's own params list the kinds in that order
    html = head_view_html(full)
    assert html.index('"name": "Encoder"') < html.index('"name": "Decoder"') < html.index('"name": "Cross"')
