"""Checkpoint I/O: one ``.pt`` file per model, nanoGPT layout, loaded with ``weights_only=True``.

``{"model": state_dict, "model_args": asdict(cfg), "kind": ..., "vocab": itos, "step": n, "val_loss": x,
   "recipe": {...}, "metrics": {...}, "words_sha256": ..., "history": [...]}``

Writes are atomic (temp file in the same folder, fsync, ``os.replace``) so a crash or ``kill -9`` mid-write never
leaves a half-written checkpoint. Every load problem raises :class:`CheckpointError` naming the file and the fix.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import torch
import torch.nn as nn

from models.full_transformer import FullTransformer, FullTransformerConfig
from models.miniformer import MiniFormer, MiniFormerConfig
from models.vocab import Vocab

REPO_DIR = Path(__file__).resolve().parent.parent
CKPT_DIR = REPO_DIR / "checkpoints"
# Models trained in the app; git-ignored. ATTENTION_LAB_USER_CKPT_DIR moves it (tests point it at a temp folder).
USER_CKPT_DIR = Path(os.environ.get("ATTENTION_LAB_USER_CKPT_DIR") or CKPT_DIR / "user")
SHIPPED = MappingProxyType({                # shipped name -> (model kind, peeking)
    "miniformer": ("miniformer", False),
    "full_transformer": ("full", False),
    "full_transformer_peeking": ("full", True),
})
RETRAIN_HINT = ("Restore it with `git checkout -- checkpoints/` or retrain it with "
                "`python -m models.train --model {model} --out {path}`.")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, corrupt or does not fit its model. The message says what to do."""


def build_model(kind: str, model_args: dict) -> nn.Module:
    if kind == "miniformer":
        return MiniFormer(MiniFormerConfig(**model_args))
    if kind == "full":
        return FullTransformer(FullTransformerConfig(**model_args))
    raise ValueError(f"unknown model kind {kind!r}; expected 'miniformer' or 'full'")


def train_flag(name_or_kind: str) -> str:
    """The ``--model`` value of ``models.train`` that rebuilds this checkpoint."""
    return {"miniformer": "miniformer", "full_transformer": "full", "full_transformer_peeking": "full-peeking"}.get(
        name_or_kind, name_or_kind)


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A loaded model with what belongs to it. Read-only by convention: never train or hook a bundle's model."""
    name: str
    model: nn.Module
    vocab: Vocab
    kind: str
    meta: dict = field(default_factory=dict)     # recipe, metrics, history, words hash, step ...
    path: Path | None = None

    @property
    def cfg(self):
        return self.model.cfg

    @property
    def block_size(self) -> int:
        return self.model.cfg.block_size

    @property
    def is_seq2seq(self) -> bool:
        return self.kind == "full"

    @property
    def peeking(self) -> bool:
        return bool(getattr(self.model.cfg, "peeking", False))

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def atomic_write(write, path: Path) -> None:
    """Call ``write(tmp_path)`` then atomically move the result to ``path``. The old file survives any failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)        # mkstemp makes it 0600; a checkpoint is not a secret, and others may serve it
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_checkpoint(path: str | Path, model: nn.Module, vocab: Vocab, **meta) -> Path:
    """Write ``model`` (state on cpu) with its config, vocabulary and ``meta`` to ``path`` atomically."""
    path = Path(path)
    if path.suffix != ".pt":
        path = path / "model.pt" if path.is_dir() else path.with_suffix(".pt")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    ckpt = {"model": state, "model_args": dataclasses.asdict(model.cfg), "kind": model.kind,
            "vocab": list(vocab.itos), **meta}
    atomic_write(lambda tmp: torch.save(ckpt, tmp), path)
    return path


def resolve_path(name_or_path: str | Path) -> Path:
    """A shipped or user-trained name (``miniformer``, ``my_model``) or a file / directory path."""
    s = str(name_or_path)
    if s in SHIPPED:
        return CKPT_DIR / f"{s}.pt"
    if NAME_RE.match(s) and (USER_CKPT_DIR / f"{s}.pt").exists():
        return USER_CKPT_DIR / f"{s}.pt"
    p = Path(s)
    if p.is_dir():
        return p / "model.pt"
    return p


def _fix_hint(path: Path, kind: str | None = None) -> str:
    name = path.stem
    if name in SHIPPED:
        return RETRAIN_HINT.format(model=train_flag(name), path=path)
    return f"Retrain it (Train page, or `python -m models.train --model {train_flag(kind or 'miniformer')} --out {path}`)."


def load_checkpoint(name_or_path: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
    path = resolve_path(name_or_path)
    if not path.exists():
        shipped = ", ".join(SHIPPED)
        raise CheckpointError(f"checkpoint {path} not found. Give a path or one of the shipped names ({shipped}). "
                              + _fix_hint(path))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle garbage, wrong format: all one story for the user
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {str(e)[:120]}). "
                              + _fix_hint(path)) from e
    if not isinstance(ckpt, dict) or not {"model", "model_args", "kind", "vocab"} <= ckpt.keys():
        raise CheckpointError(f"checkpoint {path} is not an Attention Lab checkpoint (needs model, model_args, "
                              "kind, vocab). " + _fix_hint(path))
    kind = ckpt["kind"]
    try:
        model = build_model(kind, dict(ckpt["model_args"]))
        vocab = Vocab(ckpt["vocab"])
        if len(vocab) != model.cfg.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} entries but the model expects {model.cfg.vocab_size}")
        model.load_state_dict(ckpt["model"], strict=True)
    except (ValueError, TypeError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} does not fit its model ({str(e).splitlines()[0][:200]}). "
                              + _fix_hint(path, kind)) from e
    model.to(device).eval().requires_grad_(False)
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "model_args", "vocab")}
    name = path.stem if path.name != "model.pt" else path.parent.name
    return ModelBundle(name=name, model=model, vocab=vocab, kind=kind, meta=meta, path=path)


def list_checkpoints() -> list[str]:
    """Shipped names first (those present), then user-trained ones, newest first."""
    names = [n for n in SHIPPED if (CKPT_DIR / f"{n}.pt").exists()]
    if USER_CKPT_DIR.is_dir():
        user = sorted(USER_CKPT_DIR.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
        names += [p.stem for p in user if NAME_RE.match(p.stem) and p.stem not in SHIPPED]
    return names


def checkpoint_mtime(name: str) -> float:
    """The mtime that goes into cache keys, so a retrained file is reloaded. 0.0 when missing."""
    try:
        return resolve_path(name).stat().st_mtime
    except OSError:
        return 0.0
