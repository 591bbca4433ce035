"""Widgets and messages every page shares. Keys are prefixed by page (STYLE.md §10)."""
from __future__ import annotations

import re
import string
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import get_script_run_ctx

from models.capture import AttentionCapture
from models import registry
from models.checkpoint import CheckpointError, ModelBundle
from ui.cache import available_models, bundle
from ui.i18n import _, option_labels, render
from ui.projector import on as projector



def pretty_names() -> dict[str, str]:
    """The shipped checkpoints' names as shown, in this session's language."""
    return {s.name: _(s.display_name) for s in registry.MODELS}


def peek_warning() -> str:
    return _("**Peeking model**: its decoder reads the *next* character from an unmasked encoder. Its low "
             "teacher-forced loss is a leak, not skill — see the **Leak lesson** page.")


# Plotly's mode bar, cut to what a student uses here (save as PNG, reset): each chart builds fewer buttons on
# every keystroke, and a drag still zooms.
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": [
    "zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}
BATCH_GAP_S = 0.05   # see let_browser_draw
LIVE = "20ms"    # commit 20 ms after the last keystroke: unnoticeable, yet keys pressed together still batch


def chart(fig, *, key: str, container=st, **kw) -> None:
    """Every chart on every page goes through here: drawn at its column's width with :data:`PLOTLY_CONFIG`, dark
    tick labels always (viz.display.for_screen), and projector-sized text in projector mode
    (viz.display.for_projector). ``container`` is where it goes (a column); ``kw`` goes to st.plotly_chart."""
    from viz import display
    fig = display.for_projector(fig) if projector() else display.for_screen(fig)
    container.plotly_chart(fig, key=key, width="stretch", config=kw.pop("config", PLOTLY_CONFIG), **kw)


def lazy_expander(label: str, *, key: str, container=st):
    """An expander whose content the page builds only while it is open: ``box = w.lazy_expander(...)``, then
    ``if box.open: with box: ...``. Opening or closing it reruns the page. For what lies below the fold and costs
    real work per keystroke (the step-by-step numbers: ~45 ms of a ~85 ms Explore rerun, py-spy on the server):
    a plain expander runs its content on every rerun even while it is closed. ``key`` holds whether it is open."""
    return container.expander(label, key=key, on_change="rerun")


def more_controls(container=st):
    """Where a page's secondary controls go (sampling knobs, pickers a lesson doesn't need, exports): one
    "More controls" expander in projector mode, so the projected page shows the word and the views; a plain
    container otherwise. Use as ``with w.more_controls(): ...``."""
    if projector():
        return container.expander(_("More controls"), icon=":material/tune:")
    return container.container()


_MD_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_WORD_JOINER = "\u2060"     # invisible, zero width: breaks a GitHub-style autolink without changing what is read
_WWW_DOT = re.compile(r"(?i)(?<![a-z0-9])(www)\\\.")


def escape_md(text) -> str:
    """User text (a typed word, a model or file name, a JSON token, an error message quoting one) made safe for
    st.markdown / st.success / st.error / st.info / st.warning / st.caption and widget labels: shown literally,
    never as a link, an image, HTML, a Streamlit colour / icon directive, an emoji shortcode or LaTeX.

    Every ASCII punctuation character is backslash-escaped (CommonMark lets any of them be), which covers
    ``[x](javascript:…)``, ``![i](…)``, ``<b>``, ``**``, ``$…$``, ``:red[…]`` and ``:material/…:``; line breaks
    become spaces (no headings or lists). GitHub-style autolinks (``http://…``, ``www.…``, ``a@b.c``) ignore
    backslashes, so an invisible word joiner goes inside ``://`` and ``www.`` and before ``@``."""
    text = "".join(" " if ch in "\r\n\t\v\f" else ch for ch in str(text))
    text = _MD_PUNCT.sub(r"\\\1", text)
    text = text.replace("\\:\\/", "\\:" + _WORD_JOINER + "\\/").replace("\\@", _WORD_JOINER + "\\@")
    return _WWW_DOT.sub("\\1" + _WORD_JOINER + "\\.", text)


def model_label(name: str) -> str:
    return pretty_names().get(name) or _("{model} (trained here)").format(model=name)


WORD_KEY = "text"   # the typed word: one session key and one ?text= for every page that takes a word


def text_box(key: str = WORD_KEY, label: str | None = None, placeholder: str | None = None) -> str:
    """The live text box: reruns ~20 ms after the last keystroke, no Enter needed; value lives in the URL.

    Pages that take *the* word (Explore, Compare, Generate) all use the default key, so the word follows the user
    from page to page and a shared ``?text=`` link opens any of them on that word."""
    # One key on several pages: the box on the next page has the same element id when its label is the same, and
    # Streamlit then assumes the browser already shows the session's value, so the box opened empty. Writing the
    # word the session already holds through session state, on a page's first run, makes Streamlit send it. Only
    # then: on a fresh session (nothing held yet) the URL binding fills the box, and a write there would undo the
    # keys typed while the first, slow run was still going.
    here = get_script_run_ctx().page_script_hash
    if st.session_state.get(f"{key}.page") != here:
        st.session_state[f"{key}.page"] = here
        value = st.session_state.get(key)
        if value:
            st.session_state[key] = value
        url = st.query_params.get(key)
        if key == WORD_KEY and value and url != value:
            try:        # the link a teacher copies from this page then opens it on the same word
                st.query_params[key] = value
            except StreamlitAPIException:
                pass    # bound to this page's box since an earlier visit: the binding writes the URL itself
            else:
                # A box bound to the URL takes its first value from the URL the run started with, over the session
                # state: an older word there (the browser path reported "ca", then the student typed ねこ) would
                # show in the box. Run again, now starting from the URL that holds the session's word.
                if url:
                    st.rerun()
    return st.text_input(label or _("Type a word"), key=key, live=LIVE, bind="query-params",
                         placeholder=placeholder or _("e.g. capybara"), max_chars=None,
                         help=_("Lowercase a–z; Japanese is written in romaji (ねこ → neko). Other characters show as "
                                "<UNK>; long text is windowed to the model's context.")) or ""


def alphabet_note() -> None:
    """The models know the 26 letters a–z only: say so under the box (students of any language type English)."""
    st.caption(_("Type English names in the letters a–z, e.g. capybara: the models know only these 26 letters. "
                 "Japanese is written in romaji for them (ねこ → neko)."))


PICKER_PAGE = 30                 # trained models per page of the picker: a class may leave thousands in the folder


def picker_page(names: list[str], key: str, container=st) -> list[str]:
    """The shipped models and one page of the trained ones (newest first), with a search box and a page number
    once there are more than :data:`PICKER_PAGE`: 5,000 models in the folder made every rerun send a 5,000-option
    picker. The chosen model stays in the list whatever the page."""
    shipped = [n for n in names if n in registry.shipped_names()]
    user = [n for n in names if n not in registry.shipped_names()]
    if len(user) <= PICKER_PAGE:
        return names
    # One row, search box and page number, so the picker keeps its place beside the page's other inputs.
    left, right = container.columns([3, 2], vertical_alignment="bottom")
    find = left.text_input(_("Find a trained model"), key=f"{key}.find", max_chars=40,
                                placeholder=_("part of its name"),
                                help=_("{n:,} trained models on this server; the picker shows {page} at a time, "
                                       "newest first.").format(n=len(user), page=PICKER_PAGE))
    q = (find or "").strip().lower()
    matches = [n for n in user if q in n] if q else user
    pages = max(1, -(-len(matches) // PICKER_PAGE))
    page = 1
    if pages > 1:
        page = int(right.number_input(_("Page (of {n})").format(n=pages), 1, pages, 1, key=f"{key}.page"))
    shown = matches[(min(page, pages) - 1) * PICKER_PAGE:][:PICKER_PAGE]
    current = st.session_state.get(key)
    if current in user and current not in shown:
        shown = [current, *shown]
    return shipped + shown


def model_picker(key: str, label: str | None = None, *, default: str | None = None, container=st) -> str | None:
    """A checkpoint selectbox bound to the URL. Lists what is on disk now, so a model trained in another
    session shows up on the next rerun."""
    every = available_models()
    if not every:
        st.error(_("No checkpoints found in `checkpoints/`. Restore the shipped ones with `git checkout -- "
                   "checkpoints/` or train one: `python -m models.train --model miniformer`."))
        return None
    if key in st.session_state and st.session_state[key] not in every:
        del st.session_state[key]            # a checkpoint deleted meanwhile
    wanted = st.query_params.get(key)
    # One key on several pages (Explore, Head lab): as in text_box, the box on the next page is a new widget that
    # opened on the first model; writing the session's choice (kept under a non-widget key) on a page's first run
    # carries it over.
    kept = st.session_state.get(f"{key}.kept")
    here = get_script_run_ctx().page_script_hash
    first_here = st.session_state.get(f"{key}.on_page") != here
    st.session_state[f"{key}.on_page"] = here
    if first_here and kept in every and default is None:     # (a default index + a write: a Streamlit warning)
        st.session_state[key] = kept         # the model this session chose on another page (Explore -> Head lab)
    elif key not in st.session_state and wanted in every:
        st.session_state[key] = wanted       # a shared link: ?model=full_transformer
    names = picker_page(every, key, container)
    index = names.index(default) if default in names else 0
    # The URL carries the checkpoint name (not the pretty label), so a teacher's link stays short and stable.
    choice = container.selectbox(label or _("Model"), names, index=index, key=key,
                                 format_func=option_labels(names, model_label))
    st.session_state[f"{key}.kept"] = choice
    # Write only on change: setting a query param on every rerun sends the server's copy of the whole query string
    # back to the browser and overwrites a newer ?text= from the live text box (the URL lagged a keystroke behind).
    if st.query_params.get(key) != choice:
        st.query_params[key] = choice
    return choice


def compare_pickers() -> tuple[dict[str, str], dict[str, ModelBundle]]:
    """Compare's two model pickers side by side, each with its compact model card: ({side: name}, {side: bundle})
    for sides "left" and "right". Stops the page when a side has no model or its checkpoint can't be loaded (the
    message is already on the page). Used by the server path and the browser path alike."""
    pickers = st.columns(2, gap="medium")
    names = {"left": model_picker("compare.left", _("Left model"), default="miniformer", container=pickers[0]),
             "right": model_picker("compare.right", _("Right model"), default="full_transformer",
                                   container=pickers[1])}
    if None in names.values():
        st.stop()
    bundles = {}
    for side, col in zip(("left", "right"), pickers):
        with col:
            bundles[side] = load_or_explain(names[side])
            if bundles[side] is not None:
                model_card(bundles[side], compact=True)
    if None in bundles.values():
        st.stop()
    return names, bundles


def load_or_explain(name: str) -> ModelBundle | None:
    """The cached model, or a clear message on the page (never a traceback) when its checkpoint is broken. The
    loader has checked the file's config and metadata, so a bundle returned here has the typed ``meta`` that
    :func:`model_card` and the pages read; the failure is cached (ui.cache), so a rerun doesn't pay for it again."""
    try:
        return bundle(name)
    except CheckpointError as e:
        st.error(_("**Cannot load {model}.** {why}").format(model=escape_md(model_label(name)),
                                                             why=escape_md(render(e))))
        return None


def model_card(b: ModelBundle, *, compact: bool = False) -> None:
    """One line: size, kept epoch, and the honest numbers — test NLL on words never used for training or for any
    choice, then validation NLL (the words early stopping chose on, so it reads a little low)."""
    m = b.meta.get("metrics", {})
    recipe = (b.meta.get("recipe") or {}).get("name", "?")
    bits = [_("**{n}** parameters").format(n=f"{b.n_params:,}"),
            _("epoch **{epoch}** kept ({recipe} recipe)").format(
                epoch=escape_md(b.meta.get("epoch", "?")), recipe=escape_md(recipe))]   # the checkpoint's own text
    if m.get("test_prefix_nll") is not None:
        bits.append(_("test NLL **{nll:.3f}** nats/char on {n} words never used in training or model choice")
                    .format(nll=m["test_prefix_nll"], n=m.get("n_test_words", "?")))
    if m.get("val_prefix_nll") is not None:
        bits.append(_("validation NLL {nll:.3f}").format(nll=m["val_prefix_nll"]))
    tf = m.get("test_teacher_forced_nll", m.get("val_teacher_forced_nll"))
    if tf is not None and b.peeking:
        bits.append(_("teacher-forced {nll:.3f} (leaks)").format(nll=tf))
    st.caption(" · ".join(bits))
    if b.peeking:
        st.warning(peek_warning(), icon=None) if not compact else st.caption(peek_warning())


def input_notes(cap: AttentionCapture) -> None:
    """Say what happened to the typed text (Japanese written in romaji, unknown characters, lowercasing, windowing)
    or to an imported file's weights, in the session's language."""
    show_notes(cap.notes)


def show_notes(notes) -> None:
    """Capture notes (``models.messages.Message``), each once, rendered through the catalog. Notes quote the user's
    characters, so they are shown as text."""
    for note in dict.fromkeys(notes):
        st.info(escape_md(render(note)))


def empty_prompt(what: str | None = None) -> None:
    st.info(_("{what} — the views update as you type, no Enter needed. Try **capybara**, **banana** or "
              "**flycatcher**.").format(what=what or _("Type a word above")))


_BERTVIZ_LIVE = components.declare_component("bertviz_live", path=str(Path(__file__).with_name("bertviz_live")))


def bertviz_frame(cap: AttentionCapture, view: str = "head", *, key: str | None = None,
                  pattern: str | None = None) -> bool:
    """BertViz's own head/model view, drawn offline in a frame that stays on the page while the user types (each
    rerun sends only BertViz's markup and script for the new text; d3 and jQuery load once). Returns whether a
    view was sent. When the vendored d3/jQuery are missing, says how to fetch them instead of a blank frame.
    ``pattern`` (a TL name) sets BertViz's own kind and layer selectors to that pattern whenever it changes (the
    user's picks in the frame are kept while it stays the same)."""
    from viz.bertviz_view import FETCH_HINT, VendorMissingError, live_parts, selectors_for
    if view == "model" and projector():   # BertViz's thumbnails carry ~6 px labels: a labelled grid instead
        from viz import figures as F
        chart(F.layer_head_grid(cap, title=_("Every layer and head (BertViz model view as a grid)"),
                                head_label=_("head {h}"), tr=_), key=f"{key or 'bertviz'}.grid")
        return True
    try:
        kwargs = cap.bertviz_kwargs()
        parts = live_parts(kwargs, view, fill=projector(), tr=_)
        select = selectors_for(kwargs, pattern) if pattern else None
    except VendorMissingError as e:
        st.warning(_("BertViz needs its JavaScript files, which are not here yet: {why}\n\nRun `{hint}` (the "
                     "README's commands do it for you), then reload this page.").format(why=e, hint=FETCH_HINT))
        return False
    except ValueError as e:   # e.g. an encoder-decoder whose encoder and decoder have different depths
        st.warning(_("BertViz can't draw this model: {why}").format(why=e))
        return False
    # The key keeps one frame per place on the page: a new text re-renders it instead of mounting a new iframe.
    _BERTVIZ_LIVE(markup=parts["markup"], js=parts["js"], key=key, fit=parts["fit"], draw_key=parts["key"],
                  select=select, default=None, tab_index=-1)
    return True


def let_browser_draw(seconds: float = BATCH_GAP_S) -> None:
    """End the current batch of page updates: pause (idle, no CPU) so Streamlit sends what the script has written so
    far and the browser renders it on its own, before the next, heavier part arrives.

    Why: the browser applies every delta that arrived together in one React render, and the BertViz frame only
    draws after that whole render, plotly charts included. Measured on this 2-core machine (bench/RESULTS.md):
    keystroke -> BertViz drawn ~700 ms with the four charts in the same batch, ~250-300 ms when BertViz is sent
    first and the charts follow after this pause. The charts themselves are not slower for it.
    """
    import time
    time.sleep(seconds)


def download_figure(fig, file_stem: str, key: str, *, what: str, subtitle: str | None = None) -> None:
    """A download of ``fig`` as a slide (viz.display.for_slide: 16:9, every axis label, projector-sized fonts): a PNG
    made on click (kaleido drives the local Chromium, offline), or without Chromium a standalone HTML. ``what``
    names the figure on the button (already translated); ``subtitle`` (plain text: model, word) goes under the
    figure's title. Plotly's camera icon on each chart saves a PNG of the chart as drawn, too."""
    from viz.export import figure_html, figure_png, png_available

    if png_available():
        st.download_button(_("{figure} (PNG)").format(figure=what), data=lambda: figure_png(fig, subtitle=subtitle),
                           file_name=f"{file_stem}.png", mime="image/png", key=key, icon=":material/download:",
                           on_click="ignore",   # a download needs no rerun of the whole page
                           help=_("A 16:9 slide, 2560 × 1440 pixels, rendered offline by the local Chromium "
                                  "(a few seconds the first time)."))
    else:
        st.download_button(_("{figure} (HTML)").format(figure=what),
                           data=lambda: figure_html(fig, subtitle=subtitle), file_name=f"{file_stem}.html",
                           mime="text/html", key=key, icon=":material/download:", on_click="ignore",
                           help=_("No Chromium on the server for PNG; this interactive HTML works offline. "
                                  "The camera icon on the chart saves a PNG."))


# ---- Compare / Leak lesson / Generate ------------------------------------------------------------------------------

@st.cache_data(max_entries=16, show_spinner=False)
def _cached_heldout_eval(name: str, ckpt_mtime: float, part: str) -> dict:
    import dataclasses

    from models.evaluate import evaluate_words
    from ui.cache import load_model, shipped_split
    return dataclasses.asdict(evaluate_words(load_model(name, ckpt_mtime), getattr(shipped_split()[0], part)))


def heldout_eval(name: str, part: str = "test") -> dict | None:
    """Teacher-forced and prefix-only NLL of checkpoint ``name`` on one held-out part of the shipped word list
    (``"test"``: words never used in training or model choice; ``"val"``: the words training chose on), computed
    live and cached by checkpoint mtime. Adds ``same_words``: whether the checkpoint was trained on that word
    list with today's split (else these held-out words may include its training words). None when the word list
    is missing."""
    from models.checkpoint import checkpoint_mtime
    from models.data import SPLIT_ID
    from ui.cache import shipped_split, shipped_words

    if not shipped_words():
        return None
    res = dict(_cached_heldout_eval(name, checkpoint_mtime(name), part))
    meta = bundle(name).meta
    res["same_words"] = meta.get("words_sha256") == shipped_split()[1] and meta.get("split") == SPLIT_ID
    return res


def test_comparison(left: str, right: str, evals: dict[str, dict | None]) -> str | None:
    """One honest sentence on how two checkpoints compare on the test words: the difference of their test NLL
    and whether it is bigger than the noise of which words happened to be drawn (paired standard error).
    ``evals`` holds each one's :func:`heldout_eval` on the test words (the page has them already). None when
    either can't be scored."""
    from models.evaluate import EvalResult, paired_difference

    evals = {n: evals[n] for n in (left, right)}
    if None in evals.values():
        return None
    res = {n: EvalResult(**{k: v for k, v in e.items() if k != "same_words"}) for n, e in evals.items()}
    diff, se = paired_difference(res[left], res[right])
    better, worse = (right, left) if diff > 0 else (left, right)
    args = dict(n=res[left].n_words, better=model_label(better), worse=model_label(worse),
                b=res[better].prefix_nll, w=res[worse].prefix_nll, d=abs(diff), se=se)
    if abs(diff) < 2 * se:
        text = _("On the {n} test words, {better} scores {b:.3f} and {worse} {w:.3f} nats per character: a "
                 "difference of {d:.3f}. Other words of the same kind would move that difference by about {se:.3f} "
                 "(one standard error), so a gap under twice that is not evidence: on new words neither model is "
                 "clearly better.")
    else:
        text = _("On the {n} test words, {better} scores {b:.3f} and {worse} {w:.3f} nats per character: "
                 "{better} is better by {d:.3f}, more than twice the {se:.3f} (one standard error) that other words "
                 "of the same kind would move it by.")
    text = text.format(**{k: escape_md(v) if isinstance(v, str) else v for k, v in args.items()})
    if not all(e["same_words"] for e in evals.values()):
        text += " " + _("A checkpoint here was trained on another word list or split, so some test words may have "
                        "been its training words.")
    return text


def bertviz_or_note(cap: AttentionCapture, view: str = "head", *, key: str | None = None,
                    pattern: str | None = None) -> None:
    """:func:`bertviz_frame`, or a one-line note while the BertViz module itself is unavailable."""
    try:
        bertviz_frame(cap, view, key=key, pattern=pattern)
    except ImportError as e:
        st.caption(_("BertViz view unavailable here ({why}).").format(why=e))


def show_word(prefix: str, generated: str, *, size: str = "2.2rem") -> None:
    """A word with its given prefix in grey and the generated characters in bold orange, html-escaped."""
    import html
    esc = lambda s: html.escape(s, quote=False)
    st.markdown(f"<div style='font-size:{size};font-family:monospace;line-height:1.2;word-break:break-all'>"
                f"<span style='color:#6c757d'>{esc(prefix)}</span>"
                f"<b style='color:#e8702a'>{esc(generated)}</b></div>", unsafe_allow_html=True)


def stop_reason(reason: str) -> str:
    """Why a generation stopped (models.generate's ``stop_reason``), in words."""
    return {"eos": _("stopped at `<EOS>`: the model ended the word"),
            "limit": _("stopped at the length limit"),
            "context": _("stopped: the model's context is full")}[reason]
