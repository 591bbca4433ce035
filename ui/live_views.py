"""Explore's live views computed and drawn in the browser (issue 24): no Streamlit rerun per keystroke.

A ``st.components.v2`` component (no iframe) holds its own text box. It fetches the checkpoint's weights once, as a
static, cacheable file (services/browser_weights.py), and on every keystroke runs the forward pass in JavaScript
(ui/live/forward.js, held equal to PyTorch by tests/test_browser_forward.py) and redraws the next-token bars, the
entropy heatmap and the attention heatmap with its highlighted row (ui/live/live.js). Python builds what is not
per keystroke: the words (through the catalog), projector sizes, colour scales, the model card, the step-by-step
numbers. It hears the word only when the student pauses, and keeps ``?text=`` and the session's word with it.

The browser path is what a student gets by default: the switch "Compute in my browser" is on unless ``?browser=0``
is in the link, the student switches it off, or the server is started with the browser path off
(``settings.browser_path_default``; then ``?browser=1`` or the switch turns it on). A checkpoint the browser can't run
(another architecture), an uploaded attention JSON, or weights the browser fails to load take the server path,
with a note saying so. So does a word with kana or kanji (:func:`needs_server`): the server writes it in romaji
with pykakasi's dictionaries, which the browser doesn't have.
"""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

import settings
from models.attention_steps import shuffled_order
from models.checkpoint import checkpoint_mtime
from models.vocab import _JAPANESE_RUN
from services.browser_weights import publish, publish_json, publish_script, runs_in_browser
from ui.cache import available_models, bundle, get_capture, load_model
from ui.cards import heldout_eval, model_card, test_comparison
from ui.controls import WORD_KEY, lazy_expander, more_controls, sampling_controls
from ui.i18n import _, current_language
from ui.pickers import compare_pickers, load_or_explain, model_picker
from ui.projector import on as projector
from ui.text import escape_md, model_label
from viz import style

KEY = "explore.browser"  # the switch; ?browser=0 / ?browser=1 in a shared link
STATE = "explore.live"  # the component's own state: {"view": {...}, "failed": why}
VIEW_KEY = "explore.view"  # BertViz's head or model view: the server path's segmented control
_DIR = Path(__file__).with_name("live")
_CSS = """
.al-live { font-family: "Source Sans Pro", "Source Sans 3", sans-serif; color: #1F2430; }
.al-chart svg text:not([fill]) { fill: #262730; }
.al-chart svg text { font-family: Inter, "Segoe UI", Helvetica, Arial, sans-serif; }
.al-label { display: block; margin-bottom: 0.4rem; }
.al-label-text { display: block; font-size: 0.875rem; margin-bottom: 0.25rem; }
.al-input { width: 100%; max-width: 36rem; box-sizing: border-box; font-size: 1.1rem; padding: 0.45rem 0.7rem;
            border: 1px solid #d5dae5; border-radius: 0.5rem; background: #F3F5FA; color: #1F2430; }
.al-input:focus { outline: 2px solid #4C6EF5; }
.al-status, .al-notes p { font-size: 0.9rem; margin: 0.2rem 0; }
.al-notes p { background: #e8f1fb; color: #0b3c6b; padding: 0.35rem 0.6rem; border-radius: 0.4rem; }
.al-error { background: #fdecea !important; color: #8a1c12 !important; }
.al-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.5rem; margin-top: 0.6rem; }
.al-controls { display: flex; flex-wrap: wrap; gap: 1.2rem; align-items: center; margin: 0.8rem 0 0.3rem; }
.al-ctl { display: flex; gap: 0.4rem; align-items: center; font-size: 0.875rem; }
.al-ctl select, .al-ctl input { font: inherit; }
.al-side-title { font-weight: 600; font-size: 1.15rem !important; margin: 0.3rem 0; }
.al-caption { font-size: 0.85rem; color: #555b66; margin-top: 0.2rem; }
.al-bvtoggle { display: inline-flex; border: 1px solid #d5dae5; border-radius: 0.5rem; overflow: hidden;
  margin: 0.2rem 0; }
.al-bvtoggle button { font: inherit; border: 0; padding: 0.3rem 0.9rem; background: #fff; color: #1F2430;
  cursor: pointer; }
.al-bvtoggle button + button { border-left: 1px solid #d5dae5; }
.al-bvtoggle button[aria-pressed="true"] { background: #e8edff; color: #1c3fcf; font-weight: 600; }
.al-bvtoggle button:focus-visible { outline: 2px solid #4C6EF5; }
.al-grid-box { overflow-x: auto; max-width: 100%; }
.al-projector .al-label-text, .al-projector .al-ctl, .al-projector .al-notes p,
.al-projector .al-side-title { font-weight: 600; font-size: 1.15rem !important; margin: 0.3rem 0; }
.al-caption { font-size: 20px; }
.al-projector .al-input { font-size: 24px; max-width: none; }
@media (max-width: 900px) { .al-grid { grid-template-columns: minmax(0, 1fr); } }
"""


@st.cache_resource(show_spinner=False)
def _module_url() -> str:
    """forward.js, then the view module (live.js, and steps.js: the Lesson's steps 2 and 5): one ES module,
    published as a static file named by its content (services/browser_weights), which the page fetches once. A
    component's script travels inside every rerun's message (~40 KB a pause per student on a lecture hall's
    Wi-Fi); only the small loader below does now."""
    return publish_script("live", "\n".join((_DIR / f).read_text() for f in ("forward.js", "live.js", "steps.js")))


# The component's own script: fetch the view module named in the data once per page view (one module instance for
# every component on the page, kept on globalThis so a remount finds it), then hand it each rerun's data in order.
# A module that can't load reports "failed", and Python draws the server path with a note (browser_path_unavailable).
_LOADER = """
const MODULES = globalThis.attentionLabModules || (globalThis.attentionLabModules = new Map());
function load(url) {
  if (!MODULES.has(url)) {
    MODULES.set(url, fetch(new URL(url, document.baseURI), {credentials: "same-origin"})
      .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then((src) => import(URL.createObjectURL(new Blob([src], {type: "text/javascript"})))));
  }
  return MODULES.get(url);
}
export default function (component) {
  load(component.data.module).then((m) => m.default(component),
                                   (e) => component.setStateValue("failed", String((e && e.message) || e)));
}
"""


def _component(key: str, data: dict, **kwargs):
    """Draw the live component with ``data`` (plus the view module's address)."""
    # Styles not isolated in a shadow root: BertViz's script finds its root with jQuery / d3 on the document.
    component = st.components.v2.component("attention_lab_live", html="", css=_CSS, js=_LOADER, isolate_styles=False)
    return component(key=key, data=data if "module" in data else {**data, "module": _module_url()}, **kwargs)


@st.cache_resource(max_entries=16, show_spinner=False)
def weights_url(name: str, ckpt_mtime: float) -> str:
    """The checkpoint's weights file (written once per checkpoint version; its name is a hash of its content)."""
    return publish(load_model(name, ckpt_mtime))


def default_on() -> bool:
    """Whether the switch starts on: yes, unless the server was started with the browser path off (settings.py)."""
    return settings.browser_path_default()


def wanted(key: str = KEY) -> bool:
    """Whether this session wants the browser path on this page: its switch, which starts as the link says
    (``?browser=0`` or ``?browser=1``), else as the server's setting says (on unless
    :func:`settings.browser_path_default` says no)."""
    if key not in st.session_state:
        asked = str(st.query_params.get("browser", "")).strip().lower()
        st.session_state[key] = (
            True if asked in ("1", "true", "yes") else False if asked in ("0", "false", "no") else default_on()
        )
    return bool(st.session_state[key])


def _switch(key: str = KEY) -> None:
    st.toggle(
        _("Compute in my browser"),
        key=key,
        on_change=_sync_url,
        args=(key,),
        help=_(
            "Run the model in this browser tab: every view redraws on each keystroke without asking the "
            "server. The weights are downloaded once."
        ),
    )


def _sync_url(key: str = KEY) -> None:
    """The link says the switch's state only where it differs from the server's default."""
    on = bool(st.session_state.get(key))
    if on == default_on():
        if "browser" in st.query_params:
            del st.query_params["browser"]
    else:
        st.query_params["browser"] = "1" if on else "0"


def _picked_model(key: str = "model", default: str | None = None) -> str | None:
    """The checkpoint the page's model picker ``key`` will show (ui.pickers.model_picker's choice), decided before
    it is drawn, so the page can take one path or the other without drawing a widget twice."""
    names = available_models()
    if not names:
        return None
    held = st.session_state.get(key)
    if held in names:
        return held
    wanted_name = st.query_params.get(key)
    return wanted_name if wanted_name in names else default if default in names else names[0]


def _side(
    name: str,
    pattern: str | None,
    root_id: str,
    *,
    title: str = "",
    default_family: str | None = None,
    model_view: bool = False,
    bertviz: bool = True,
) -> dict:
    """One model's part of the component's data: its weights file, pattern titles, entropy rows, BertViz templates
    (the head view; with ``model_view``, the model view too, which opens on ``explore.view``, the server path's
    choice) and the pattern to show (``pattern`` if the model has it, else the first of ``default_family``, else
    the first)."""
    return _picked(
        _side_fixed(name, root_id, title=title, model_view=model_view, bertviz=bertviz), pattern, default_family
    )


def _side_fixed(
    name: str, root_id: str, *, title: str = "", model_view: bool = False, bertviz: bool = True
) -> tuple[dict, dict[str, list[str]]]:
    """What :func:`_side` holds that no pause changes (made once per checkpoint and language, see
    :func:`_side_template`, with ``title``), and the pattern names by family for :func:`_picked`."""
    from viz.bertviz_view import missing_vendor_files

    fixed, families = _side_template(
        name, checkpoint_mtime(name), root_id, current_language(), model_view, bertviz, not missing_vendor_files()
    )
    return {**fixed, "title": title}, families


def _picked(fixed: tuple[dict, dict[str, list[str]]], pattern: str | None, default_family: str | None) -> dict:
    """A side as the component gets it (``fixed`` from :func:`_side_fixed`) with the pattern to show and, where it
    has BertViz's model view, the view it opens on."""
    side, families = fixed
    if pattern not in side["pattern_titles"]:
        pattern = (families.get(default_family) or list(side["pattern_titles"]))[0]
    out = {**side, "pattern": pattern}
    if "bertviz_model" in side:
        out["bertviz_view"] = "model" if st.session_state.get(VIEW_KEY) == "model" else "head"
    return out


@st.cache_resource(max_entries=64, show_spinner=False)
def _side_template(
    name: str, mtime: float, root_id: str, lang: str, model_view: bool, bertviz: bool, vendor: bool
) -> tuple[dict, dict[str, list[str]]]:
    """The part of :func:`_side` that changes only with the checkpoint (``mtime``), the language and whether the
    vendored d3/jQuery are there (``vendor``), and the pattern names by family (the first family's first is the
    default). Shared by every session: read it, never change it."""
    shape = get_capture(name, "")  # the pattern names and families of this model
    families = {family: shape.names(family) for family in shape.families()}
    fixed = {
        "weights": weights_url(name, mtime),
        "pattern_titles": {n: style.pattern_title(n, tr=_) for n in shape.names()},
        "row_labels": {
            n: f"{_(style.FAMILY_LABEL[family])} L{l}" for family, ns in families.items() for l, n in enumerate(ns)
        },
        "bertviz": _template_file(name, mtime, root_id, "head") if bertviz else None,
    }
    if model_view:
        fixed["bertviz_model"] = _template_file(name, mtime, root_id, "model")
    return fixed, families


def _template_file(name: str, mtime: float, root_id: str, view: str) -> dict | None:
    """Where the browser fetches BertViz's ``view`` template of this model, once per page view (a static file named
    by its content; not re-sent on every rerun), with BertViz's selector labels and options in the session's
    language as the server path's frame has them. None when the vendored d3/jQuery are missing."""
    from viz.bertviz_view import _controls_in

    template = bertviz_template(name, mtime, root_id, view)
    if template is None:
        return None
    markup = _controls_in(template["markup"], _)
    return {"url": _published(name, mtime, root_id, view, markup), "root_id": root_id, "view": view}


@st.cache_resource(max_entries=64, show_spinner=False)
def _published(name: str, mtime: float, root_id: str, view: str, markup: str) -> str:
    return publish_json(f"bertviz-{view}-{name}", {**bertviz_template(name, mtime, root_id, view), "markup": markup})


def _footer(*sides: dict) -> None:
    """Under the component: what it is, what it leaves to the server path, and BertViz's missing files if so."""
    if any(side["bertviz"] is None for side in sides):
        from viz.bertviz_view import FETCH_HINT

        st.warning(
            _(
                "BertViz needs its JavaScript files, which are not here yet. Run `{hint}` (the README's commands "
                "do it for you), then reload this page."
            ).format(hint=FETCH_HINT)
        )
    st.caption(
        _(
            "Computed in your browser: the model's weights were downloaded once, and each keystroke runs the "
            "forward pass here, without the server."
        )
        + " "
        + _("The exports are on the server path: switch “Compute in my browser” off.")
    )


def _data(sides: list[dict], text: str, finished: bool, top_k: int, temp: float, bars: int | None = None) -> dict:
    """The component's data. ``top_k`` and ``temp`` shape the next-token distribution as
    models.generate.next_token_probs does (``top_k`` 0: the model's own softmax, nothing renormalised); ``bars``: how
    many of its most likely tokens the bars show (``top_k`` when None: Explore's slider does both, as its server path).
    Lists travel as tuples (the same JSON): Streamlit looks for a dataframe in each
    top-level value of a component's data, and a tuple it skips at once (this runs on every pause)."""
    return {
        "module": _module_url(),
        "sides": tuple(sides),
        "text": text,
        "add_eos": bool(finished),
        "top_k": int(top_k),
        "bars": int(top_k if bars is None else bars),
        "temperature": float(temp),
        "projector": projector(),
        "labels": _labels(),
        **browser_styling(),
    }


def browser_styling() -> dict:
    """What every live-views component draws with besides its data: the house colours and colour scales (viz/style)
    and the vendored d3 and jQuery BertViz needs (static files, fetched once)."""
    return {
        "colors": {
            "blue": style.BLUE,
            "orange": style.ORANGE,
            "grey": style.GREY,
            "blues": style.BLUES,
            "viridis": style.VIRIDIS,
        },
        "vendor": ("app/static/vendor/jquery.min.js", "app/static/vendor/d3.min.js"),
    }


def _session_word() -> str:
    """The session's word (every page's box), from ``?text=`` on a fresh session; written back to the URL."""
    text = st.session_state.get(WORD_KEY)
    if text is None:
        text = str(st.query_params.get(WORD_KEY, ""))
        st.session_state[WORD_KEY] = text
    if text and st.query_params.get(WORD_KEY) != text:
        try:  # the link a teacher copies opens the same word
            st.query_params[WORD_KEY] = text
        except StreamlitAPIException:
            pass  # the server path's box (a Japanese word went there) holds ?text= and writes it itself
    return text


def _on_view(state: str = STATE, *, explore: bool = False) -> None:
    """The student paused: the word becomes the session's word (every page's box, ``?text=``); the BertViz view
    picked (head or model) becomes the server path's too. The component sits in a fragment, so the pause reruns
    that fragment only; where the word changes the page around it, the whole page reruns instead: a word the
    browser can't compute (kana, kanji: the server path) and, on Explore (``explore``), a box that was empty or
    becomes empty (the "New here?" welcome above the controls shows only while the word is empty) or an open
    step-by-step expander (its numbers are the word's)."""
    view = (st.session_state.get(state) or {}).get("view") or {}
    before = str(st.session_state.get(WORD_KEY) or "")
    if isinstance(view.get("text"), str):
        st.session_state[WORD_KEY] = view["text"][:10_000]
    if view.get("bertviz_view") in ("head", "model"):
        st.session_state[VIEW_KEY] = view["bertviz_view"]
    after = str(st.session_state.get(WORD_KEY) or "")
    if needs_server(after) or (explore and (bool(before) != bool(after) or st.session_state.get(STEPS_OPEN))):
        _whole_page()


def _whole_page() -> None:
    """From a callback of the component (inside a fragment): rerun the whole page, not only the fragment (the
    page then takes the server path, or draws what lies around the fragment afresh). A whole-page run needs nothing
    more; the request is queued and this fragment's run is skipped."""
    if _fragment_run():
        st.rerun(scope="app")


def _fragment_run() -> bool:
    """Whether this script run is a fragment's (not the whole page's)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def needs_server(text: str) -> bool:
    """Whether ``text`` holds characters models.vocab.romanize writes in romaji (kana, kanji, full-width letters):
    the browser can't (no pykakasi there), so such a word takes the server path. ui/live/forward.js's
    ``needs_server`` says the same for every character (tests/test_browser_forward.py)."""
    return _JAPANESE_RUN.search(text) is not None


def browser_path_unavailable(names=None, state: str = STATE) -> str | None:
    """Why the switched-on browser path can't draw the picked models or the session's word (shown above the
    server path), or None."""
    failed = (st.session_state.get(state) or {}).get("failed")
    if failed:
        return _(
            "Your browser could not load the model's weights ({why}), so the views below are computed on the server."
        ).format(why=escape_md(failed))
    word = st.session_state.get(WORD_KEY)
    if needs_server(str(word if word is not None else st.query_params.get(WORD_KEY, ""))):
        return _server_word()
    for name in names if names is not None else [_picked_model()]:
        if name is None:
            continue
        try:
            b = bundle(name)
        except Exception:  # a broken checkpoint: the server path explains it
            continue
        if not runs_in_browser(b):
            return _(
                "**{model}** is an architecture the browser can't run yet, so the views below are computed on "
                "the server."
            ).format(model=escape_md(model_label(name)))
    return None


def explore() -> bool:
    """Draw Explore's browser path and return True, or return False (after the switch, and a note when the browser
    path was asked for) and let the page draw its server path."""
    on = wanted()  # first: ?browser=1 sets the switch's value before it is drawn
    _switch()
    if not on or st.session_state.get("explore.upload") is not None:
        return False
    why = browser_path_unavailable()
    if why is not None or _picked_model() is None:
        if why:
            st.info(why)
        return False

    # The same widgets, keys and labels as the server path, so switching paths keeps every choice.
    c_model, c_ctl, c_eos = st.columns([2.2, 2.4, 1.1], vertical_alignment="bottom")
    with c_model:
        name = model_picker("model")
    with c_eos:
        finished = st.toggle(
            _("Finished word"), key="explore.eos", help=_("Append `<EOS>`: read the text as a whole word.")
        )
    bundle = load_or_explain(name)
    if bundle is None:
        st.stop()
    top_k, temp = sampling_controls(more_controls(c_ctl), len(bundle.vocab))
    with st.expander(_(":material/folder_open: Open an attention JSON (from this app or the original notebook)")):
        st.file_uploader(_("Attention JSON"), type=["json"], key="explore.upload", label_visibility="collapsed")
    model_card(bundle)
    fixed = _side_fixed(name, "al-bertviz-explore", model_view=True)
    _live_views(STATE, _data([], "", finished, top_k, temp), (fixed,), None, _stamps([name]), explore=True)
    _footer(fixed[0])

    # Below the fold and not per keystroke: the numbers behind the highlighted row, for the word last paused on. In
    # the page, not the fragment: closed (as it mostly is) a pause costs it nothing; open, a pause reruns the page.
    from ui.lesson import attention_steps_view, get_steps

    steps_box = lazy_expander(
        ":material/calculate: " + _("Attention, step by step: the numbers behind the highlighted row"),
        key=STEPS_OPEN,
    )
    if steps_box.open:
        text = _session_word()
        view = (st.session_state.get(STATE) or {}).get("view") or {}
        pattern = _picked(fixed, view.get("pattern"), None)["pattern"]
        cap = get_capture(name, text, add_eos=finished)
        head = view.get("head") if isinstance(view.get("head"), int) else 0
        head = min(max(head, 0), cap.patterns[pattern].shape[1] - 1)
        q_len = len(cap.axes(pattern)[0])
        query = view.get("query") if isinstance(view.get("query"), int) and 0 <= view["query"] < q_len else q_len - 1
        with steps_box:
            attention_steps_view(get_steps(name, text, pattern, head, query, finished), key="explore.steps")
    return True


STEPS_OPEN = "explore.steps.open"  # Explore's step-by-step expander is open


def _stamps(names: list[str]) -> tuple[tuple[str, float], ...]:
    """Each checkpoint's name and version (its mtime) as the page's full run drew it."""
    return tuple((name, checkpoint_mtime(name)) for name in names)


@st.fragment
def _live_views(
    state: str,
    data: dict,
    fixed: tuple,
    default_family: str | None,
    stamps: tuple[tuple[str, float], ...],
    *,
    explore: bool = False,
) -> None:
    """The live-views component of Explore or Compare: a fragment, so the student's pause reruns this part only
    (the word goes to ``?text=`` and the session; the page's controls, model cards and sidebar are not redrawn),
    unless the pause changes the page around it (:func:`_on_view`). ``data``: the component's data but the word
    and the sides; ``fixed``: each side as :func:`_side_fixed` made it. Both come from the page's last full run:
    nothing in them changes on a pause, so the pause does not make them again, unless a checkpoint was retrained
    since (``stamps``, :func:`_stamps`): then the whole page reruns, with the new weights and its model card.
    ``explore``: see :func:`_on_view`."""
    if any(checkpoint_mtime(name) != mtime for name, mtime in stamps):
        _whole_page()
    text = _session_word()
    view = (st.session_state.get(state) or {}).get("view") or {}
    picks = view.get("sides") if isinstance(view.get("sides"), list) else [view]
    sides = tuple(
        _picked(f, (picks[i] if i < len(picks) and isinstance(picks[i], dict) else {}).get("pattern"), default_family)
        for i, f in enumerate(fixed)
    )
    _component(
        key=state,
        data={**data, "sides": sides, "text": text},
        default={"view": None, "failed": None},
        on_view_change=lambda: _on_view(state, explore=explore),
        on_failed_change=_whole_page,
    )


COMPARE_KEY, COMPARE_STATE = "compare.browser", "compare.live"
COMPARE_TOP_K = 8


def compare() -> bool:
    """Draw Compare's browser path (one box, two models side by side, every per-word view in the browser) and
    return True, or return False and let the page draw its server path (the switch off, or a note why)."""
    on = wanted(COMPARE_KEY)
    _switch(COMPARE_KEY)
    picks = {
        "left": _picked_model("compare.left", "miniformer"),
        "right": _picked_model("compare.right", "full_transformer"),
    }
    if not on:
        return False
    why = browser_path_unavailable(list(picks.values()), COMPARE_STATE)
    if why is not None or None in picks.values():
        if why:
            st.info(why)
        return False
    names = compare_pickers()[0]  # the cards are drawn; the views need only the names
    # Not per keystroke: how the two compare on the test words (cached per checkpoint)
    tests = {side: heldout_eval(names[side], "test") for side in ("left", "right")}
    verdict = (
        test_comparison(names["left"], names["right"], {names[s]: tests[s] for s in ("left", "right")})
        if names["left"] != names["right"]
        else None
    )
    if verdict:
        st.markdown(verdict)  # model names escaped inside
    fixed = tuple(
        _side_fixed(names[s], f"al-bertviz-compare-{s}", title=model_label(names[s])) for s in ("left", "right")
    )
    _live_views(
        COMPARE_STATE,
        _data([], "", False, 0, 1.0, bars=COMPARE_TOP_K),  # the softmax itself, as the server path
        fixed,
        "cross",
        _stamps([names["left"], names["right"]]),
    )
    _footer(*(f[0] for f in fixed))
    return True


# ---- the Lesson's word-driven steps (ui/lesson.py's predict_then_reveal keeps every no-peeking rule) ----------------
LESSON_KEY = "lesson.browser"  # no switch on the Lesson: ?browser=0 / ?browser=1, else the server's default
MAX_WORD = 60  # the Lesson's box holds as many characters as the server path's


def lesson_word_box(n: int, suggestion: str, *, label: str, help: str) -> str | None:
    """Step ``n``'s word box in the browser: each keystroke goes to the step's live views on the page (drawn by
    :func:`lesson_views`, only once the guess is locked) with no rerun; Python hears the word when the student
    pauses, and the question follows it then. Returns the step's word as Python holds it, or None when the step
    takes the server's box instead (the browser path off, or a word in kana or kanji, said in a note)."""
    key = f"lesson.word.{n}"
    st.session_state.setdefault(key, suggestion)
    if not wanted(LESSON_KEY):
        return None
    word = str(st.session_state[key])
    if needs_server(word):
        st.info(_server_word())
        return None
    state = _lesson_state(n, "box")
    if (st.session_state.get(state) or {}).get("failed"):  # the view module did not load in this browser
        return None
    labels = {**_labels(), "input": label, "input_help": help, "placeholder": suggestion}
    _component(
        key=state,
        data={
            "mode": "box",
            "group": key,
            "text": word,
            "sides": [],
            "labels": labels,
            "projector": projector(),
            "max_chars": MAX_WORD,
        },
        default={"view": None, "failed": None},
        on_view_change=lambda: _on_lesson_word(state, key),
        on_failed_change=lambda: None,
    )
    return word


def _lesson_state(n: int, part: str) -> str:
    return f"lesson.live.{n}.{part}"


def _on_lesson_word(state: str, key: str) -> None:
    """The student paused in a Lesson step's box: the step's word (its question follows on this rerun)."""
    view = (st.session_state.get(state) or {}).get("view") or {}
    if isinstance(view.get("text"), str):
        st.session_state[key] = view["text"][:MAX_WORD]


def lesson_views(
    n: int,
    model: str,
    views: list[str],
    suggestion: str,
    *,
    pattern: str | None = None,
    query: int | None = None,
    titles: dict[str, str] | None = None,
    bars: int = 8,
    grid: list[str] | None = None,
    add_eos: bool = False,
    leak: bool = False,
    head: int = 0,
    check_row: list[float] | None = None,
) -> bool:
    """Step ``n``'s live views of ``model`` in the browser, following the step's box on every keystroke (call it
    only where the step would draw its view: after the guess is locked, or the teacher's reveal). ``views``: some
    of "bars", "heat", "entropy", "grid" (every head of the patterns ``grid``, as viz.figures.head_grid); ``pattern``
    and ``query`` fix the heatmap's layer and highlighted row (the question's); ``titles`` replace the charts'
    titles ("bars_title", "heat_title", "headgrid_title"); ``bars``: how many next characters the bars show (the
    model's own softmax, as the step's sentence says it); ``add_eos`` reads the word finished; ``leak``: the
    heatmap shows the layer and head that read key t+1 most, with the cells (t, t+1) outlined (step 7). Two views
    of ui/live/steps.js: "steps", attention step by step for ``pattern``'s ``head`` and the row ``query`` (step 2;
    ``titles["steps"]``: its labels), and "pe" / "positions", the positional-encoding table and the next character
    with positions as trained, removed and shuffled, the server's permutation sent along (step 5;
    ``titles["positions"]``); ``check_row``: step 2's attention row as PyTorch computed it on the server for the
    question's word, which the browser's step-by-step row is checked against. Returns
    False, drawing
    nothing, where the step takes the server's views: the browser path off, the word needs the server, the
    architecture can't run here, or the weights failed to load in this browser (then with a note)."""
    key = f"lesson.word.{n}"
    word = str(st.session_state.get(key, suggestion))
    if not wanted(LESSON_KEY) or needs_server(word):
        return False
    state = _lesson_state(n, "views")
    failed = (st.session_state.get(state) or {}).get("failed")
    if failed:
        st.info(
            _(
                "Your browser could not load the model's weights ({why}), so the views below are computed on the "
                "server."
            ).format(why=escape_md(failed))
        )
        return False
    try:
        if not runs_in_browser(bundle(model)):
            return False
    except Exception:  # a broken checkpoint: the server path explains it
        return False
    side = _side(model, pattern, f"al-bertviz-lesson-{n}", bertviz=False)
    data = _data([side], word, add_eos, 0, 1.0, bars=bars)  # the softmax itself, as the step's sentence
    from ui.lesson import views_hidden_line

    data["labels"] = {**data["labels"], **(titles or {}), "question_hidden": views_hidden_line()}
    data.update(
        mode="views",
        group=key,
        # the word the question on the page was asked (and the guess locked) for: from the first key that makes the
        # box's word another, the views hide behind the line above (the question is new once Python hears the
        # word); the word typed back before the pause shows them again (ui/live/live.js, redraw)
        question_text=word,
        views=list(views),
        fallback=suggestion,
        query=query,
        grid_patterns=grid or [],
        heat_pick="leak" if leak else None,
        head=int(head),
        check_row=check_row,
        # on a projector the view has half the screen: two heads a row, as the server path's grid (cols=2)
        grid_cols=2 if grid and projector() else None,
    )
    if {"steps", "pe", "positions"} & set(views):  # the Lesson's own figures' colours (viz/lesson.py)
        from viz import lesson as VL

        data["colors"] = {
            **data["colors"],
            "lesson_blue": VL.BLUE,
            "lesson_orange": VL.ORANGE,
            "lesson_grey": VL.GREY,
            "cividis": VL.CIVIDIS,
            "signed": VL.SIGNED,
            "variants": [VL.BLUE, VL.ORANGE, "#5b5b5b"],
        }
    if "positions" in views:
        data["perms"] = position_perms(bundle(model).block_size)
    _component(
        key=state,
        data=data,
        default={"view": None, "failed": None},
        on_view_change=lambda: None,
        on_failed_change=lambda: None,
    )
    return True


@functools.lru_cache(maxsize=8)
def _perms(block_size: int, seed: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(shuffled_order(T, seed)) for T in range(block_size + 1))


def position_perms(block_size: int, seed: int = 0) -> list[list[int]]:
    """For every length T from 0 to ``block_size``, the order in which the Lesson's "positions shuffled" variant
    hands out the positional encoding's rows: the server's own (models.attention_steps.shuffled_order, a seeded
    torch.randperm), sent to the browser in the data so forward.js never re-derives torch's generator."""
    return [list(p) for p in _perms(block_size, seed)]


def _server_word() -> str:
    """The note, on either path, when a word goes to the server for its romaji."""
    return _(
        "Kana and kanji are first written in romaji, which only the server can do, so this word is computed "
        "on the server. A word in the letters a–z is computed in your browser again."
    )


PARAMS_MARK = "__ATTENTION_LAB_PARAMS__"


@st.cache_data(max_entries=16, show_spinner=False)
def bertviz_template(name: str, ckpt_mtime: float, root_id: str, view: str = "head") -> dict | None:
    """BertViz's own head (or model) view, made once per model as a template the browser fills on every keystroke:
    its markup,
    its drawing script with the params JSON cut out (``PARAMS_MARK``), and the params without the weights and
    tokens (``names``: BertViz's attention families in its order). The script is post-processed exactly as the
    server's frame gets it (viz/bertviz_view.py: no CDN, a fixed root id). None when the vendored d3/jQuery are
    missing (the page then says how to fetch them)."""
    from viz import bertviz_view as B

    if B.missing_vendor_files():
        return None
    return template_of(get_capture(name, "").bertviz_kwargs(), root_id, view)


def template_of(kwargs: dict, root_id: str, view: str = "head") -> dict:
    """:func:`bertviz_template` of any capture's ``bertviz_kwargs()`` (the Real model's too, ui/real_model.py):
    BertViz's ``view`` cut into markup, script and params (no attention), with the root id ``root_id``."""
    from viz import bertviz_view as B

    before, raw, params, after = B._split_params(B._fragment(view, kwargs))
    before, after = B._strip_cdn(before), B._strip_cdn(after)
    before = before.replace(params["root_div_id"], root_id)
    opener = '<script type="text/javascript">'
    markup, js_head = before.split(opener)
    js = js_head + PARAMS_MARK + after[: after.lower().index("</script")]
    if "://" in js or "://" in markup or "<script" in markup.lower() or js.count(PARAMS_MARK) != 1:
        raise RuntimeError("BertViz's output has an unexpected shape; this was written for bertviz 1.4.1")
    rest = {k: v for k, v in params.items() if k != "attention"}
    return {
        "markup": markup,
        "js": js,
        "mark": PARAMS_MARK,
        "root_id": root_id,
        "view": view,
        "params": {**rest, "root_div_id": root_id, "names": [a["name"] for a in params["attention"]]},
    }


def _labels() -> dict[str, str]:
    """Every word the component shows, in this session's language ({name} placeholders filled in the browser).
    Made once per language (a pause reruns the component on every student's page): read it, never change it."""
    return _labels_in(current_language())


@st.cache_resource(max_entries=8, show_spinner=False)
def _labels_in(lang: str) -> dict[str, str]:
    return {
        "input": _("Type a word"),
        "placeholder": _("e.g. capybara"),
        "loading": _("Loading the model's weights into your browser…"),
        "load_failed": _("The model's weights could not be loaded in this browser ({why}). Switching to the server."),
        "failed": _("The browser could not compute this word ({why})."),
        "empty": _(
            "Type a word above — the views update as you type, no Enter needed. Try capybara, banana or flycatcher."
        ),
        "unknown": _("Not in the vocabulary, shown as <UNK>: {chars}"),
        "lowercased": _("Uppercase letters were lowercased."),
        "truncated": _(
            "The text is longer than the model's context of {n} tokens: showing the last {shown} characters."
        ),
        "server_word": _server_word(),
        "after_eos": _(
            "After <EOS> there is nothing left to predict, so there are no next-token bars; switch "
            "Finished word off to see them."
        ),
        "bos_start": _("{bos} (start of a word)").format(bos="<BOS>"),
        "quoted": _("“{token}”"),
        "bars_title": _("Next token after {last}"),
        "end_of_word": _("end of word"),
        "probability": _("probability"),
        "entropy_title": _("Attention entropy per layer and head"),
        "entropy_hover": _("{row} · head {head}: mean normalised entropy {value}"),
        "head_n": _("head {h}"),
        "layer": _("Layer"),
        "head": _("Head"),
        "query": _("Highlight query"),
        "heat_title": _("{layer} · head {head}"),
        "cell": _("query {q} {q_token} → key {k} {k_token}"),
        "masked": _("masked: this query may not look ahead"),
        "weight_is": _("weight {value}"),
        "key_axis": _("key (attended to)"),
        "query_axis": _("query (attending)"),
        "bertviz_caption": _(
            "Hover a token to see what it attends to; pick a layer at the top; double-click a "
            "head colour to isolate it."
        ),
        "bertviz_failed": _("BertViz failed to draw: {why}"),
        "head_view": _("Head view"),
        "model_view": _("Model view"),
        "bertviz_views": _("BertViz view"),
        "model_caption": _("Every layer (row) and head (column) at once; click a thumbnail to see it larger."),
        "grid_title": _("Every layer and head (BertViz model view as a grid)"),
        "heat_caption": _(
            "Row = the character doing the looking, column = the character looked at. Grey cells are "
            "masked: that query may not look ahead. Hover for the exact weight."
        ),
    }
