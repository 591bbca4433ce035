"""Streamlit's two caches, used the way STYLE.md §8 says.

``load_model`` keeps one read-only model per (name, mtime) for the whole process; ``cached_capture`` keeps one
capture per input, pickled, so every session gets its own copy. The checkpoint's mtime is part of both keys, so a
retrained file is picked up on the next call without a restart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
import torch

from models.capture import AttentionCapture, capture
from models.checkpoint import (
    CheckpointError,
    ModelBundle,
    checkpoint_mtime,
    list_checkpoints,
    load_checkpoint,
    resolve_path,
)
from models.checkpoint_folder import remove_stale_tmp
from models.device import pick_device
from models.generate import Generation, generate


def one_torch_thread() -> None:
    """One torch thread: two fight the browser on a 2-core machine (6-105 ms -> 2-7 ms per forward, ENV.md).

    Called on every script run, not once at import: Streamlit runs each rerun on a fresh ScriptRunner thread, and
    torch.set_num_threads only sets the OpenMP thread count of the calling thread. Set once at import, later reruns
    ran with the default of 2 and a busy machine made ~30 small ops take up to 490 ms (bench/RESULTS.md);
    set per run, <= 13 ms. The call costs microseconds.
    """
    torch.set_num_threads(1)


one_torch_thread()


@st.cache_resource(show_spinner=False)
def app_started() -> None:
    """Once per server process (app.py calls it on every run; the cache makes it once): remove the temp files a
    killed training run left in the checkpoint folders. Training jobs stop cleanly at shutdown by themselves
    (``services.jobs.stop_all_at_exit``)."""
    remove_stale_tmp()


@st.cache_resource(show_spinner=False)
def _heap() -> dict:
    """What :func:`settle_heap` last froze: the number of imported modules then (one small dict per process)."""
    return {"modules": 0}


def settle_heap() -> None:
    """After each script run (app.py): move the long-lived heap — every imported module, the loaded models — out of
    the cyclic garbage collector's sight with ``gc.freeze()``, whenever a run has imported new modules.

    Why: Streamlit runs ``gc.collect(2)`` after every script run (``runner.postScriptGC``), and Python runs one by
    itself now and then. A full collection walks every tracked object; with torch, plotly and Streamlit imported
    that is ~250 000 objects and ~140 ms of CPU on this machine — the largest single cost of a keystroke, paid on the
    script thread before the next keystroke's run may start (py-spy on the server: 47 % of its samples). Frozen
    objects are skipped, so a collection then walks only what the sessions made since (measured: < 1 ms). Frozen
    objects are still freed by reference counting; only reference cycles among them would wait for an unfreeze,
    and modules and cached models live as long as the process anyway. A collection first, so this run's garbage
    is not frozen with them."""
    import gc

    state = _heap()
    if len(sys.modules) != state["modules"]:
        state["modules"] = len(sys.modules)
        gc.collect()
        gc.freeze()


@st.cache_resource(max_entries=16, show_spinner=False)
def _load_result(name: str, ckpt_mtime: float, path: str) -> ModelBundle | CheckpointError:
    """The bundle, or the error it failed with. A failure is cached as well (by name, mtime and path, like a success):
    Streamlit caches no exception, so a broken checkpoint would otherwise be read and checked again on every rerun
    of every session. A replaced file has a new mtime and is tried afresh."""
    try:
        return load_checkpoint(Path(path), device=pick_device())
    except CheckpointError as e:
        return CheckpointError(e.message)  # the message only: no traceback (and its frames) kept in the cache


def load_model(name: str, ckpt_mtime: float) -> ModelBundle:
    """The cached, read-only bundle of checkpoint ``name`` at ``ckpt_mtime``; :class:`CheckpointError` (cached
    too) when it can't be loaded."""
    res = _load_result(name, ckpt_mtime, str(resolve_path(name)))  # the path too: a missing file's mtime is 0.0
    if isinstance(res, CheckpointError):
        raise CheckpointError(res.message)  # a fresh exception each time: raising one object again grows its traceback
    return res


def bundle(name: str) -> ModelBundle:
    one_torch_thread()
    return load_model(name, checkpoint_mtime(name))


@st.cache_data(max_entries=512, show_spinner=False)
def cached_capture(
    name: str,
    ckpt_mtime: float,
    text: str,
    src: str = "",
    add_eos: bool = False,
    knocked_out: tuple[tuple[str, int], ...] = (),
) -> AttentionCapture:
    return capture(load_model(name, ckpt_mtime), text, src, add_eos=add_eos, knocked_out=knocked_out)


def get_capture(
    name: str, text: str, src: str = "", add_eos: bool = False, knocked_out: tuple[tuple[str, int], ...] = ()
) -> AttentionCapture:
    """The cached capture; ``knocked_out`` (attention module, head) pairs are silenced in its forward pass."""
    one_torch_thread()
    return cached_capture(name, checkpoint_mtime(name), text, src, add_eos, tuple(sorted(knocked_out)))


@st.cache_data(max_entries=64, show_spinner=False)
def cached_generation(
    name: str,
    ckpt_mtime: float,
    prefix: str,
    max_new: int,
    greedy: bool,
    temperature: float,
    top_k: int | None,
    seed: int,
) -> Generation:
    return generate(
        load_model(name, ckpt_mtime),
        prefix,
        max_new=max_new,
        greedy=greedy,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
    )


def get_generation(name: str, prefix: str, **kw) -> Generation:
    one_torch_thread()
    return cached_generation(name, checkpoint_mtime(name), prefix, **kw)


def available_models() -> list[str]:
    """Checkpoint names on disk now (shipped first, then trained in the app); read each rerun so a model
    published by another session appears without a restart. In a class, less the models other students trained
    there (ui/class_models.py)."""
    from ui.class_models import visible

    return visible(list_checkpoints())


@st.cache_resource(show_spinner=False)
def shipped_words() -> tuple[str, ...]:
    """The shipped word list (for "words that start like this" hints); empty if the file is missing. One shared
    tuple per process (immutable, so no session can change it): Compare and Explore read it on every keystroke, and
    st.cache_data would unpickle a fresh copy each time."""
    from models.data import WordListError, load_words

    try:
        return load_words().words
    except WordListError:
        return ()


@st.cache_resource(show_spinner=False)
def shipped_split():
    """The shipped list cut into train / validation / test (``models.data.Split``), and its sha256, computed once
    per process: the cut hashes every word, ~10 ms, which Compare paid twice per keystroke."""
    from models.data import split_words, words_hash

    words = shipped_words()
    return split_words(words), words_hash(words)


# ---- Head lab: per-checkpoint measures on the validation words, cached by the checkpoint's mtime ------------------


def validation_words() -> tuple[str, ...]:
    """The shipped list's validation words (the one place the Head lab picks them): the words training chose on,
    never the test words, so a head's importance or role is measured where no reported number is."""
    return shipped_split()[0].val  # empty when the word list is missing


@st.cache_data(max_entries=16, show_spinner=False)
def cached_head_importance(name: str, ckpt_mtime: float, words: tuple[str, ...]):
    from models.heads import head_importance

    return head_importance(load_model(name, ckpt_mtime), words)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_head_roles(name: str, ckpt_mtime: float, words: tuple[str, ...]):
    from models.heads import head_roles

    return head_roles(load_model(name, ckpt_mtime), words)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_leave_one_out(name: str, ckpt_mtime: float, text: str, knocked_out: tuple[tuple[str, int], ...]):
    from models.heads import leave_one_out

    return leave_one_out(load_model(name, ckpt_mtime), text, knocked_out)


def get_head_importance(name: str):
    """(intact honest NLL, [HeadImportance] largest rise first) of checkpoint ``name`` on the validation words."""
    one_torch_thread()
    return cached_head_importance(name, checkpoint_mtime(name), validation_words())


def get_head_roles(name: str):
    """[HeadRole] of checkpoint ``name`` on the validation words, in forward order."""
    one_torch_thread()
    return cached_head_roles(name, checkpoint_mtime(name), validation_words())


def get_leave_one_out(name: str, text: str, knocked_out: tuple[tuple[str, int], ...] = ()):
    one_torch_thread()
    return cached_leave_one_out(name, checkpoint_mtime(name), text, tuple(sorted(knocked_out)))
