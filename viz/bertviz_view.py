"""BertViz's head view and model view as self-contained HTML pages that draw fully offline, and safely.

BertViz 1.4.1 (Vig, "A Multiscale Visualization of Attention in the Transformer Model", ACL 2019 demos) returns,
with ``html_action="return"``, a fragment that loads require.js from a CDN, whose ``require.config`` then asks the
CDN for d3 5.7.0 and jQuery 2.0.0. Offline (a classroom behind a firewall) that draws nothing. We post-process it:

1. Drop the require.js ``<script src>`` and the ``require.config({paths: …})`` block, and take the scheme off
   the URLs in BertViz's comments: the page names no ``http://`` or ``https://`` address at all.
2. Provide jQuery and d3 as page globals, from ``static/vendor/`` (fetched by ``python scripts/fetch_vendor.py``):
   ``standalone=False`` emits ``<script src="/app/static/vendor/d3.min.js">``. Streamlit serves ``static/`` there
   (``server.enableStaticServing``) and a ``srcdoc`` iframe resolves root-relative URLs against the app's
   origin, so the browser fetches and caches ~320 KB once instead of receiving it inlined on every rerun.
   ``standalone=True`` inlines both files, for a download that works opened from disk.
3. A few-line ``require(deps, callback)`` stand-in hands ``window.jQuery`` / ``window.d3`` to BertViz's callback.
4. Tokens are user text. BertViz embeds them as JSON inside ``<script>``; a token ``</script><img onerror=…>``
   would end the script there. We re-serialise that JSON with ``<``, ``>``, ``&`` (and ``/``) escaped as
   ``\\u003c``-style escapes, the same strings to JavaScript. BertViz then draws tokens with d3 ``.text()``
   (textContent), never as markup. As a second line of defence a Content-Security-Policy lets only this page's
   own (nonce-carrying) scripts run and forbids every network request except those script files.
5. BertViz's random ``uuid4`` div id is replaced by a hash of the content, so the same input gives the same
   page and Streamlit does not reload an unchanged iframe on an unrelated rerun.

The app itself draws with :func:`live_parts`: the same post-processed markup and script, sent to the frame in
``ui/bertviz_live/`` that stays on the page and redraws in place (d3 and jQuery load once per page view). The
full pages (``head_view_html`` / ``model_view_html``) are the downloads, standalone=True, and the static-linked
variant for embedding elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
from pathlib import Path

import torch
from bertviz import head_view, model_view

from viz.labels import N_, Translate, identity

VENDOR_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor"
VENDOR_FILES = ("d3.min.js", "jquery.min.js")
FETCH_HINT = "python scripts/fetch_vendor.py"
DEFAULT_STATIC_URL = "/app/static/vendor"  # where Streamlit serves <repo>/static/vendor with enableStaticServing
VIEWS = ("head", "model")
ATTENTION_DECIMALS = 4  # weights drawn as opacities; see _rounded
_ATTENTION_KEYS = ("attention", "encoder_attention", "decoder_attention", "cross_attention")

# st.iframe(html, height="content") (Streamlit 1.67) appends this exact size-reporting script to the srcdoc; the CSP
# lets it run by its hash. Another Streamlit version may change it: auto-height then stays at 150 px, while a fixed
# height=estimate_height(...) keeps working (and does not make the page jump), so prefer that.
_STREAMLIT_AUTOSIZE_SHA256 = "sha256-DDFiVuFZGZu7dauH2HVkuyGeSeHw5ZgKt70bMpVHIwk="
# Per server process: nonces differ between processes (so nobody can precompute one) yet are stable within one,
# which keeps the page for a given input byte-identical across reruns. Immutable, so not shared mutable state.
_NONCE_KEY = secrets.token_bytes(16)

_REQUIRE_SCRIPT_RE = re.compile(r"<script\s+src=\"https?://[^\"]*\"\s*>\s*</script>", re.I)
_REQUIRE_CONFIG_RE = re.compile(r"require\.config\(\{\s*paths:\s*\{[^{}]*\}\s*\}\);")
_PARAMS_MARK = "const params = "

# BertViz's JS, after our changes, asks for exactly these modules.
_SHIM_JS = """\
// BertViz calls requirejs(['jquery', 'd3'], callback). Both libraries are already page globals (loaded above
// without require.js, so they set window.jQuery and window.d3): hand them to the callback directly.
(function () {
  var where = %(where)s;
  function modules() { return {jquery: window.jQuery, d3: window.d3}; }
  function require(deps, callback) {
    var mods = modules();
    var missing = deps.filter(function (name) { return !mods[name]; });
    if (missing.length) {
      var p = document.createElement("p");
      p.style.cssText = "color:#b00020;font:14px sans-serif";
      p.textContent = "BertViz could not load " + missing.join(" and ") + " from " + where +
        ". Run `%(hint)s` and check that Streamlit has server.enableStaticServing = true.";
      document.body.appendChild(p);
      return;
    }
    return callback.apply(window, deps.map(function (name) { return mods[name]; }));
  }
  require.config = function () {};
  window.require = window.requirejs = require;
})();
"""

# The model view is a fixed 970 px wide SVG; a frame has no scrollbars, so in a narrower column its right-hand
# heads were cut off. _FIT_WIDTH gives each SVG BertViz has drawn a viewBox so it scales down to the frame (never
# up). One copy serves both: the standalone page runs it on every DOM change, the app's live frame
# (ui/bertviz_live/main.js) receives it from live_parts and runs it after each redraw.
_FIT_WIDTH = """\
document.querySelectorAll("#vis > svg:not([viewBox])").forEach(function (svg) {
  var w = +svg.getAttribute("width"), h = +svg.getAttribute("height");
  if (!w || !h) return;
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("width", "100%");
  svg.removeAttribute("height");
  svg.style.maxWidth = w + "px";
});
"""
# Projector mode: the head view's drawing (335 px of tokens and lines at 15 px text, in a frame two or three times as
# wide) scales up to fill the frame's width, unless that makes it taller than _FILL_MAX_H px; never below
# _FILL_MIN_SCALE, so token labels stay >= 18 px. The model view scales the same way. Runs after every redraw (the
# frame watches its root), once per SVG.
_FILL_MIN_SCALE, _FILL_MAX_H = 1.3, 720
_FILL_FRAME = """\
document.body.style.fontSize = "20px";
document.querySelectorAll("#vis > svg:not([data-filled])").forEach(function (svg) {
  var box = svg.getBBox(), pad = 4;
  if (!box.width || !box.height) return;
  var w = box.width + 2 * pad, h = box.height + 2 * pad;
  var s = Math.min((document.documentElement.clientWidth - 16) / w, Math.max(%s, %d / h));
  svg.setAttribute("viewBox", [box.x - pad, box.y - pad, w, h].join(" "));
  svg.setAttribute("width", Math.floor(w * s));
  svg.setAttribute("height", Math.floor(h * s));
  svg.style.maxWidth = "none";
  svg.setAttribute("data-filled", s.toFixed(3));
});
""" % (_FILL_MIN_SCALE, _FILL_MAX_H)  # noqa: UP031 (JavaScript braces: no str.format)
_FIT_WIDTH_JS = (
    "new MutationObserver(function () {\n"
    + _FIT_WIDTH
    + "}).observe(document.documentElement, {childList: true, subtree: true});\n"
)

_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>
  body {{ margin: 0; padding: 6px 8px; background: #fff; color: #1F2430;
         font-family: 'Helvetica Neue', Helvetica, Arial, sans-serif; font-size: 14px; }}
  select {{ font: inherit; margin-right: 12px; }}
  .bv-header h1 {{ font-size: 20px; margin: 4px 0 2px; }}
  .bv-header p {{ margin: 0 0 2px; color: #4a5060; }}
  .bv-header {{ margin-bottom: 10px; padding-bottom: 6px; border-bottom: 1px solid #dde1ea; }}
</style>
{vendor_scripts}
<script nonce="{nonce}">
{shim}</script>
</head>
<body>
{body}
</body>
</html>
"""


class VendorMissingError(RuntimeError):
    """BertViz's d3 / jQuery are not in static/vendor/ yet; the message names them and the command that fetches them."""


def missing_vendor_files() -> list[str]:
    """Names from VENDOR_FILES that are absent (or empty) in VENDOR_DIR."""
    missing = []
    for name in VENDOR_FILES:
        path = Path(VENDOR_DIR) / name
        if not path.is_file() or path.stat().st_size == 0:
            missing.append(name)
    return missing


def script_safe_json(obj) -> str:
    """JSON that is safe inside an HTML <script>: no token can write ``</script>``, ``<!--`` or a URL scheme.

    ``<``, ``>`` and ``&`` become ``\\u003c`` ``\\u003e`` ``\\u0026`` (as Django's json_script does) and ``/``
    becomes ``\\/``; these characters only occur inside JSON strings, and JavaScript reads the same strings back.
    """
    return _escape_json_text(json.dumps(obj))  # ensure_ascii: U+2028/2029 and non-ASCII are \u escapes already


def _escape_json_text(text: str) -> str:
    """Escape JSON text from json.dumps for a <script>: outside strings it has no < > & /, so this is exact."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("/", "\\/")


def head_view_html(
    bertviz_kwargs: dict,
    *,
    standalone: bool = False,
    static_url: str = DEFAULT_STATIC_URL,
    header: tuple[str, ...] = (),
) -> str:
    """BertViz's head view (one layer at a time, lines from each query token to the keys it attends to).

    ``bertviz_kwargs`` is what you would pass to ``bertviz.head_view``: ``attention=`` (tuple per layer of
    (1, H, Q, K) tensors) and ``tokens=``, or ``encoder_attention=`` / ``decoder_attention=`` /
    ``cross_attention=`` with ``encoder_tokens=`` / ``decoder_tokens=``. Tokens are shown exactly as given
    (``prettify_tokens`` defaults to False here: char-level tokens are literal characters).
    ``header``: lines of plain text shown above the view (say what it shows: model, word, view, date); the first
    is the heading and the page title. Escaped: user text never becomes markup.
    Raises VendorMissingError when static/vendor/ lacks d3 or jQuery.
    """
    return _page("head", _fragment("head", bertviz_kwargs), standalone=standalone, static_url=static_url, header=header)


def model_view_html(
    bertviz_kwargs: dict,
    *,
    standalone: bool = False,
    static_url: str = DEFAULT_STATIC_URL,
    header: tuple[str, ...] = (),
) -> str:
    """BertViz's model view (a thumbnail per layer x head; click one for its detail), light mode.

    Same arguments as :func:`head_view_html`; ``display_mode`` defaults to ``"light"`` to match the app.
    BertViz draws it 970 px wide; here it scales down to narrower frames (keeping its aspect ratio).
    """
    return _page(
        "model", _fragment("model", bertviz_kwargs), standalone=standalone, static_url=static_url, header=header
    )


# Geometry, from BertViz 1.4.1's head_view.js / model_view.js and measured in Chromium 156 (page padding 12 px,
# "Layer:" / "Attention:" select row ~21 px). Heights in CSS pixels; a few pixels of slack so nothing is cut off.
_HEAD_ROW, _HEAD_TOP = 22.5, 30  # BOXHEIGHT, TEXT_TOP
_MODEL_AXIS, _MODEL_PAD = 38, 5  # axis labels, THUMBNAIL_PADDING
_MODEL_DETAIL_ROW, _MODEL_DETAIL_EXTRA = 18, 55
_MODEL_WIDTH, _BODY_PAD_X = 970, 16  # DIV_WIDTH; body padding left + right
_PAGE_CHROME = 12 + 21 + 10  # body padding + select row + slack


def estimate_height(n_tokens: int, view: str, *, n_layer: int = 1, n_head: int = 1, width: int | None = None) -> int:
    """Iframe height (px) that shows the whole view without scrolling (measured: 8-28 px to spare).

    head:  43 + 30 + 22.5 * n_tokens (BertViz's row height), whatever the layers and heads.
    model: 43 + max(n_layer * (84 * n_tokens / n_head + 10) + 38, 18 * n_tokens + 55) for a frame at least
           986 px wide: BertViz makes a thumbnail row 7 * 12 / n_head px tall, so few heads make tall thumbnails.
           In a narrower frame the drawing scales down with the width; pass the frame's ``width`` to scale the
           estimate too (without it, the estimate is an upper bound). Pass n_layer / n_head for the model view
           (defaults 1 and 1, MiniFormer's: the tallest per layer); :func:`estimate_height_for` reads all of it
           from the bertviz kwargs.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    n = max(int(n_tokens), 1)
    if view == "head":
        svg = n * _HEAD_ROW + _HEAD_TOP
    else:
        thumb = n * 7 * (12 / max(n_head, 1)) + 2 * _MODEL_PAD
        svg = max(max(n_layer, 1) * thumb + _MODEL_AXIS, n * _MODEL_DETAIL_ROW + _MODEL_DETAIL_EXTRA)
        if width is not None:
            svg *= min(1.0, max(width - _BODY_PAD_X, 1) / _MODEL_WIDTH)
    return int(svg + _PAGE_CHROME + 0.999)


def estimate_height_for(bertviz_kwargs: dict, view: str, *, width: int | None = None) -> int:
    """:func:`estimate_height` for the largest panel among the attention kinds in ``bertviz_kwargs``
    (BertViz's "Attention:" selector switches between encoder, decoder and cross inside the same iframe)."""
    height = 0
    for att_key, q_key, k_key in (
        ("attention", "tokens", "tokens"),
        ("encoder_attention", "encoder_tokens", "encoder_tokens"),
        ("decoder_attention", "decoder_tokens", "decoder_tokens"),
        ("cross_attention", "decoder_tokens", "encoder_tokens"),
    ):
        att = bertviz_kwargs.get(att_key)
        if att is None:
            continue
        n = max(len(bertviz_kwargs[q_key]), len(bertviz_kwargs[k_key]))
        n_head = att[0].shape[1] if isinstance(att[0], torch.Tensor) else len(att[0][0])
        height = max(height, estimate_height(n, view, n_layer=len(att), n_head=n_head, width=width))
    if not height:
        raise ValueError("bertviz_kwargs holds no attention: expected attention= or encoder_/decoder_/cross_attention=")
    return height


def _rounded(bertviz_kwargs: dict) -> dict:
    """Attention weights rounded to ATTENTION_DECIMALS, as float64 so that JSON writes "0.1235", not float32's
    "0.12349999696016312": the page gets ~3x smaller and builds faster. BertViz only uses the weights as line and
    box opacities, where 1e-4 is invisible. New tensors; the caller's are untouched."""
    out = dict(bertviz_kwargs)
    for key in _ATTENTION_KEYS:
        layers = out.get(key)
        if layers is not None:
            out[key] = tuple(
                a.detach().to("cpu", torch.float64).round(decimals=ATTENTION_DECIMALS)
                if isinstance(a, torch.Tensor)
                else a
                for a in layers
            )
    return out


def _check_layer_counts(bertviz_kwargs: dict) -> None:
    """BertViz 1.4.1 takes the layer list from the first attention kind it is given and reuses it for the others
    (one "Layer" selector for all): fewer decoder than encoder layers raises IndexError deep inside it, more are
    silently cut. Say so plainly instead."""
    counts = {
        k: len(bertviz_kwargs[k])
        for k in ("encoder_attention", "decoder_attention", "cross_attention")
        if bertviz_kwargs.get(k) is not None
    }
    if len(set(counts.values())) > 1 and "include_layers" not in bertviz_kwargs:
        raise ValueError(
            f"BertViz shows encoder, decoder and cross-attention with one layer selector, so they need "
            f"the same number of layers; got {counts}. Render the encoder on its own "
            "(encoder_attention=, encoder_tokens=) and the decoder with its cross-attention "
            "(decoder_attention=, cross_attention=, encoder_tokens=, decoder_tokens=)."
        )


# ---- post-processing ---------------------------------------------------------------------------------------------
def _fragment(view: str, bertviz_kwargs: dict) -> str:
    """BertViz's own HTML fragment for ``view`` (what ``html_action="return"`` gives), weights rounded, tokens shown
    as given (``prettify_tokens=False``), the model view in light mode unless the caller says otherwise."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    _check_layer_counts(bertviz_kwargs)
    kwargs = {"prettify_tokens": False, **_rounded(bertviz_kwargs), "html_action": "return"}
    if view == "head":
        return head_view(**kwargs).data
    return model_view(**{"display_mode": "light", **kwargs}).data


def _require_vendor() -> None:
    missing = missing_vendor_files()
    if missing:
        raise VendorMissingError(f"{', '.join(missing)} missing from {VENDOR_DIR}; fetch them with `{FETCH_HINT}`")


def text_html(text: str) -> str:
    """Plain text as HTML text: ``& < > " '`` as entities, and ``/`` too, so no text can spell an address
    (``://``), end a script or open a comment; the browser shows the same characters."""
    return html.escape(str(text), quote=True).replace("/", "&#47;")


def _header_html(header: tuple[str, ...]) -> str:
    if not header:
        return ""
    first, *rest = (text_html(line) for line in header)
    lines = "".join(f"<p>{line}</p>" for line in rest)
    return f'<header class="bv-header"><h1>{first}</h1>{lines}</header>\n'


def _page(view: str, fragment: str, *, standalone: bool, static_url: str, header: tuple[str, ...] = ()) -> str:
    _require_vendor()
    if "://" in static_url or any(c in static_url for c in "\"'<>\\ "):
        raise ValueError(
            f"static_url must be a path on the app's own server such as {DEFAULT_STATIC_URL!r}, got {static_url!r}"
        )
    static_url = static_url.rstrip("/")

    markup, js, tail, digest = _body(view, fragment)
    content_key = f"{digest}\0{standalone}\0{static_url}"
    nonce = hmac.new(_NONCE_KEY, content_key.encode(), hashlib.sha256).hexdigest()[:32]
    body = f'{_header_html(header)}{markup}<script nonce="{nonce}">{js}</script>{tail}'

    vendor = {name: (VENDOR_DIR / name) for name in ("jquery.min.js", "d3.min.js")}  # jQuery first, as BertViz
    if standalone:
        scripts = "\n".join(f'<script nonce="{nonce}">\n{_inline_js(p)}\n</script>' for p in vendor.values())
        where = "this file"
    else:
        scripts = "\n".join(
            f'<script nonce="{nonce}" src="{html.escape(static_url)}/{name}"></script>' for name in vendor
        )
        where = static_url + "/"
    # Scripts only with this page's nonce (so also the vendor files by URL); no fetch/XHR, images, fonts, forms.
    script_src = f"'nonce-{nonce}'" + ("" if standalone else f" '{_STREAMLIT_AUTOSIZE_SHA256}'")
    csp = f"default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    shim = _SHIM_JS % {"where": script_safe_json(where), "hint": FETCH_HINT}
    if view == "model":
        shim += _FIT_WIDTH_JS
    title = text_html(header[0]) if header else f"BertViz {view} view"
    page = _PAGE.format(csp=csp, title=title, vendor_scripts=scripts, nonce=nonce, shim=shim, body=body.strip("\n"))
    # Structural checks, cheap next to building the page. If BertViz's output changes, fail loudly rather than
    # load from a CDN or let text end a script: "</script" only where our 4 scripts end, no "<!--" (which would
    # let a "<script" in jQuery's strings start an escaped state), no "://" (no web address).
    if page.lower().count("</script") != len(vendor) + 2 or "<!--" in page or "://" in page:
        raise RuntimeError(
            "BertViz's HTML has an unexpected shape after post-processing (a web address, an extra "
            "<script> or '<!--'); this module was written for bertviz 1.4.1, check what it emits now"
        )
    return page


def _body(view: str, fragment: str) -> tuple[str, str, str, str]:
    """BertViz's fragment made safe (see the module docstring): (markup, drawing script without its <script>
    tags, text after the script, content digest). The markup is BertViz's template only (no user text); the tokens
    are in the script, inside escaped JSON strings."""
    before, raw_json, params, after = _split_params(fragment)
    before, after = _strip_cdn(before), _strip_cdn(after)
    # A content hash instead of BertViz's uuid4: same input -> same page (see the module docstring, point 5).
    old_id = params["root_div_id"]
    digest = hashlib.sha256(f"{view}\0{raw_json.replace(old_id, '')}".encode()).hexdigest()
    root_id = f"bertviz-{digest[:16]}"
    before = before.replace(old_id, root_id)
    opener = '<script type="text/javascript">'
    if before.count(opener) != 1 or after.lower().count("</script") != 1:
        raise RuntimeError('unexpected BertViz HTML: expected one inline <script type="text/javascript">')
    markup, js_head = before.split(opener)
    # raw_json is json.dumps(params) (bertviz's defaults = ours), so escaping its text equals
    # script_safe_json(params) without encoding the floats a second time.
    end = after.lower().index("</script")
    js = js_head + _escape_json_text(raw_json.replace(old_id, root_id)) + after[:end]
    tail = after[end + len("</script>") :]
    return markup, js, tail, digest


# BertViz's own words above its drawing (bertviz 1.4.1 writes them in English into the markup): the layer and attention
# selectors' labels and the encoder-decoder options. The page passes ``tr`` so a Japanese projector reads them too.
_CONTROL_WORDS = (
    ("Layer: <select", N_("Layer"), " <select"),
    ("Attention: <select", N_("Attention"), " <select"),
    (">Encoder</option>", N_("Encoder"), "</option>"),
    (">Decoder</option>", N_("Decoder"), "</option>"),
    (">Cross</option>", N_("Cross"), "</option>"),
)


def _controls_in(markup: str, tr: Translate) -> str:
    """BertViz's markup with its selector labels and options in ``tr``'s language (html-escaped)."""
    for english, msgid, tail in _CONTROL_WORDS:
        head = ">" if english.startswith(">") else ""
        colon = ":" if tail == " <select" else ""
        markup = markup.replace(english, head + html.escape(tr(msgid)) + colon + tail)
    return markup


def live_parts(bertviz_kwargs: dict, view: str = "head", *, fill: bool = False, tr: Translate = identity) -> dict:
    """What the app's persistent BertViz frame (ui/bertviz_live) draws: BertViz's own markup and drawing script
    for this input, post-processed exactly as :func:`head_view_html` / :func:`model_view_html` pages are.

    Returns ``{"markup", "js", "key", "fit"}``: ``key`` is a content hash (same input, same key: the frame skips
    redrawing), ``fit`` is the script that scales the model view down to the frame ("" for the head view; the
    frame measures its own height). ``fill`` (projector mode): ``fit`` scales the drawing up to fill the frame
    instead, token labels >= 18 px. ``tr`` translates BertViz's selector labels and options (the key changes with
    them, so switching language redraws the frame).
    Raises VendorMissingError when static/vendor/ lacks d3 or jQuery (the frame loads them from there).
    """
    fragment = _fragment(view, bertviz_kwargs)
    _require_vendor()
    markup, js, _tail, digest = _body(view, fragment)
    if "://" in js or "://" in markup or "<script" in markup.lower():
        raise RuntimeError(
            "BertViz's output has an unexpected shape (a web address or a second <script>); this "
            "module was written for bertviz 1.4.1, check what it emits now"
        )
    translated = _controls_in(markup, tr)
    if translated != markup:
        digest = hashlib.sha256(f"{digest}\0{translated}".encode()).hexdigest()
    markup = translated
    return {
        "markup": markup,
        "js": js,
        "key": f"{view}-{digest[:24]}",
        "fit": _FILL_FRAME if fill else _FIT_WIDTH if view == "model" else "",
    }


def selectors_for(bertviz_kwargs: dict, pattern: str) -> dict[str, str]:
    """The values of BertViz's own head-view selectors that show the TL pattern ``pattern`` (e.g.
    ``"decoder.1.cross_attn.hook_pattern"``): ``{"filter": option, "layer": l}``, where ``filter`` is the
    encoder / decoder / cross selector (its options are indices into the attention kinds given, in BertViz's order:
    encoder, decoder, cross). A causal model has no such selector: only ``{"layer": l}``."""
    parts = pattern.split(".")
    if len(parts) != 4 or parts[0] not in ("blocks", "encoder", "decoder") or not parts[1].isdigit():
        raise ValueError(f"not a TL attention pattern name: {pattern!r}")
    out = {"layer": parts[1]}
    if parts[0] != "blocks":
        argument = "cross_attention" if parts[2] == "cross_attn" else f"{parts[0]}_attention"  # BertViz's name
        given = [
            k
            for k in ("encoder_attention", "decoder_attention", "cross_attention")
            if bertviz_kwargs.get(k) is not None
        ]
        if argument not in given:
            raise ValueError(f"{pattern!r} is a {argument.replace('_', ' ')}, which these BertViz arguments lack")
        out["filter"] = str(given.index(argument))
    return out


def _split_params(fragment: str) -> tuple[str, str, dict, str]:
    """(text before BertViz's params JSON, that JSON's text, the params, text after). The JSON holds the tokens;
    decoding it with raw_decode finds its exact end whatever the tokens contain, so our edits never touch them."""
    start = fragment.find(_PARAMS_MARK)
    if start < 0 or fragment.find(_PARAMS_MARK, start + 1) >= 0:
        raise RuntimeError("unexpected BertViz HTML: expected exactly one 'const params = {…}' (bertviz 1.4.1)")
    start += len(_PARAMS_MARK)
    params, end = json.JSONDecoder().raw_decode(fragment, start)
    raw, after = fragment[start:end], fragment[end:]
    # BertViz fills its template with str.replace("PYTHON_PARAMS", json), which also pastes the raw JSON, tokens
    # and all, into the comment "// HACK: PYTHON_PARAMS is a template marker" on the same line: a token
    # "</script>" there would end the script. Every copy is byte-identical, so put the marker back.
    after = after.replace(raw, "PYTHON_PARAMS")
    return fragment[:start], raw, params, after


def _strip_cdn(text: str) -> str:
    """BertViz's own text, never token data: drop the CDN loads, keep comments but without URL schemes."""
    text = _REQUIRE_SCRIPT_RE.sub("", text)
    text = _REQUIRE_CONFIG_RE.sub("", text)
    return re.sub(r"https?://", "", text)


def _inline_js(path: Path) -> str:
    """A vendored file's JS, safe to place between <script> and </script>.

    The minified libraries contain XML namespace identifiers such as "http://www.w3.org/2000/svg" (names that
    d3 passes to createElementNS, never fetched) and d3's licence header names its site. Writing "://" as
    ":\\/\\/" keeps every such string identical for JavaScript (``\\/`` is ``/`` in a string, regex or comment)
    while the page names no address, which keeps "grep the page for http" a meaningful offline check.
    """
    js = path.read_text(encoding="utf-8")
    if "</script" in js.lower() or "<!--" in js:
        raise RuntimeError(f"{path.name} contains '</script' or '<!--' and cannot be inlined as is")
    return js.replace("://", ":\\/\\/")
