"""What a checkpoint file must hold before the app builds a model from it: the metadata's types, the config's
bounds, finite weights. Arithmetic and type checks only: nothing here allocates a tensor or reads a file.

models/checkpoint.py's loader runs them once per file and turns a ``ValueError`` into a ``CheckpointError``
naming the file and the fix, so the rest of the app can trust what it gets.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from types import MappingProxyType

import torch

from models import registry

ARCH_KEY = "kind"  # the checkpoint's key for its architecture (files written before the registry use it)
# What a checkpoint's model_args may ask for. The shipped models use vocab_size 30, block_size 48, 1-2 encoder and 2
# decoder layers, 1-4 heads, n_embd 32-64, dim_ff 32-128 (171k parameters at most); the bounds leave 4-16x room on
# each, and MAX_PARAMS (~30x the largest shipped model, 20 MB of float32) caps the product. Without them a
# checkpoint asking for n_embd=20000 took 17 s and 6.4 GB to build, n_layer=100000 7.4 GB, and under a memory cap
# the server died with every session. Both checks run before a single tensor is allocated.
CONFIG_BOUNDS = MappingProxyType(
    {
        "vocab_size": (5, 256),  # the 4 specials and at least one character; 256 covers any byte-level vocabulary
        "block_size": (3, 256),  # <BOS>, a character, <EOS>
        "n_layer": (1, 8),
        "n_dec_layer": (1, 8),
        "n_head": (1, 16),
        "n_embd": (2, 512),
        "dim_ff": (1, 2048),
    }
)
MAX_PARAMS = 5_000_000


def excerpt(text: str, limit: int = 160) -> str:
    """The first line of ``text``, cut at a word boundary (never mid-word) when longer than ``limit``."""
    line = (str(text).strip().splitlines() or [""])[0]
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
    return cut.rstrip(" ,;:") + " …"


def _number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# meta key -> (check, what it must be). Keys not listed are kept as they are; listed ones may be absent.
META_FIELDS = MappingProxyType(
    {
        "step": (_count, "a whole number >= 0"),
        "epoch": (_count, "a whole number >= 0"),
        "n_words": (_count, "a whole number >= 0"),
        "val_loss": (_number, "a finite number"),
        "trained_seconds": (_number, "a finite number"),
        "created": (_number, "a finite number"),
        "words_sha256": (lambda v: isinstance(v, str), "a string"),
        "train_model": (lambda v: isinstance(v, str), "a string"),
        "display_name": (lambda v: isinstance(v, str), "a string"),
        "metrics": (
            lambda v: isinstance(v, dict) and all(isinstance(k, str) and _number(x) for k, x in v.items()),
            "a dict of finite numbers",
        ),
        "recipe": (lambda v: isinstance(v, dict) and isinstance(v.get("name"), str), "a dict with a string 'name'"),
        "history": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v), "a list of dicts"),
        "snapshots": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v), "a list of dicts"),
    }
)


def check_meta(ckpt: dict) -> dict:
    """The checkpoint's metadata (everything but weights, config and vocabulary), or ValueError naming the first
    field that does not have the type the pages read. ``kind`` (the architecture) must be a known string."""
    arch, known = ckpt.get(ARCH_KEY), registry.architectures()
    if not isinstance(arch, str) or arch not in known:
        raise ValueError(f"'{ARCH_KEY}' is {excerpt(repr(arch), 60)}, expected one of {', '.join(map(repr, known))}")
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "model_args", "vocab")}
    for key, (ok, what) in META_FIELDS.items():
        if key in meta and not ok(meta[key]):
            raise ValueError(f"'{key}' is {excerpt(repr(meta[key]), 60)}, expected {what}")
    return meta


def approx_params(architecture: str, model_args: dict) -> int:
    """The weight matrices' size of the model ``model_args`` describes (biases and norms aside: within 5 % for the
    shipped models): embedding and head V*C each; a self-attention block 4*C*C (q, k, v, out) and its FFN
    2*C*dim_ff; a decoder block adds cross-attention, 4*C*C more. Missing fields take the config's defaults."""
    cls = registry.by_architecture(architecture).config_class
    a = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    a.update({k: v for k, v in model_args.items() if k in CONFIG_BOUNDS})
    V, C, ff = a.get("vocab_size", 0), a["n_embd"], a["dim_ff"]  # no vocab_size: the config says so later
    block = 4 * C * C + 2 * C * ff
    return 2 * V * C + a["n_layer"] * block + a.get("n_dec_layer", 0) * (block + 4 * C * C)


def check_config(architecture: str, model_args) -> dict:
    """``model_args`` as a dict whose sizes are whole numbers inside :data:`CONFIG_BOUNDS`, and whose model has at
    most about :data:`MAX_PARAMS` parameters; ValueError otherwise. Arithmetic only: nothing is built or
    allocated for a checkpoint that asks too much. (Building it on torch's meta device would also allocate
    nothing, but its first use imports torch's decompositions: 3-6 s on this machine.)"""
    if not isinstance(model_args, dict) or not all(isinstance(k, str) for k in model_args):
        raise ValueError("'model_args' is not a dict of config fields")
    for key, (lo, hi) in CONFIG_BOUNDS.items():
        if key not in model_args:
            continue
        v = model_args[key]
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"{key}={excerpt(repr(v), 40)} is not a whole number")
        if not lo <= v <= hi:
            raise ValueError(f"{key}={v} is outside this app's bounds [{lo}, {hi}]")
    n_params = approx_params(architecture, model_args)
    if n_params > MAX_PARAMS:
        raise ValueError(f"the config asks for about {n_params:,} parameters; this app loads at most {MAX_PARAMS:,}")
    return dict(model_args)


def check_weights(state) -> None:
    """A state dict: tensor names to tensors (what ``load_state_dict`` reads), or ValueError."""
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError("'model' is not a state dict of named tensors")


def non_finite(state: dict) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
