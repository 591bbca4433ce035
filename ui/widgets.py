"""Widgets and messages every page shares. Keys are prefixed by page (STYLE.md §10)."""
from __future__ import annotations

import streamlit as st

from models.capture import AttentionCapture
from models.checkpoint import SHIPPED, CheckpointError, ModelBundle
from ui.cache import available_models, bundle

PRETTY = {"miniformer": "MiniFormer", "full_transformer": "FullTransformer (leak-free)",
          "full_transformer_peeking": "FullTransformer — peeking ⚠"}
PEEK_WARNING = ("⚠ **Peeking model**: its decoder reads the *next* character from an unmasked encoder. Its near-perfect "
                "teacher-forced loss is a leak, not skill — see the **Leak lesson** page.")
LIVE = "120ms"   # commit after 120 ms without a keystroke: short enough to feel instant, long enough to batch bursts


def model_label(name: str) -> str:
    return PRETTY.get(name, f"{name} (trained here)")


def text_box(key: str, label: str = "Type a word", placeholder: str = "e.g. capybara") -> str:
    """The live text box: reruns ~120 ms after the last keystroke, no Enter needed; value lives in the URL."""
    return st.text_input(label, key=key, live=LIVE, bind="query-params", placeholder=placeholder,
                         max_chars=None, help="Lowercase a–z. Other characters show as <UNK>; long text is windowed "
                                              "to the model's context.") or ""


def model_picker(key: str, label: str = "Model", *, default: str | None = None, container=st) -> str | None:
    """A checkpoint selectbox bound to the URL. Lists what is on disk now, so a model trained in another
    session shows up on the next rerun."""
    names = available_models()
    if not names:
        st.error("No checkpoints found in `checkpoints/`. Restore the shipped ones with `git checkout -- checkpoints/` "
                 "or train one: `python -m models.train --model miniformer`.")
        return None
    if key in st.session_state and st.session_state[key] not in names:
        del st.session_state[key]            # a deleted checkpoint, or a bad ?model= in the URL
    index = names.index(default) if default in names else 0
    return container.selectbox(label, names, index=index, key=key, format_func=model_label, bind="query-params")


def load_or_explain(name: str) -> ModelBundle | None:
    """The cached model, or a clear message on the page (never a traceback) when its checkpoint is broken."""
    try:
        return bundle(name)
    except CheckpointError as e:
        st.error(f"**Cannot load {model_label(name)}.** {e}")
        return None


def model_card(b: ModelBundle, *, compact: bool = False) -> None:
    m = b.meta.get("metrics", {})
    nll = m.get("val_prefix_nll")
    tf = m.get("val_teacher_forced_nll")
    recipe = (b.meta.get("recipe") or {}).get("name", "?")
    bits = [f"**{b.n_params:,}** parameters", f"epoch **{b.meta.get('epoch', '?')}** kept ({recipe} recipe)"]
    if nll is not None:
        bits.append(f"honest test NLL **{nll:.3f}** nats/char")
    if tf is not None and b.peeking:
        bits.append(f"teacher-forced {tf:.3f} (leaks)")
    st.caption(" · ".join(bits))
    if b.peeking:
        st.warning(PEEK_WARNING, icon=None) if not compact else st.caption(PEEK_WARNING)


def input_notes(cap: AttentionCapture) -> None:
    """Say what happened to the typed text: unknown characters, lowercasing, windowing."""
    for note in cap.notes:
        st.info(note[0].upper() + note[1:] + ".")


def empty_prompt(what: str = "Type a word above") -> None:
    st.info(f"👆 {what} — the views update as you type, no Enter needed. Try **capybara**, **banana** or **flycatcher**.")
