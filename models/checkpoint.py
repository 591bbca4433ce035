"""Checkpoint I/O: one ``.pt`` file per model, nanoGPT layout, loaded with ``weights_only=True``.

``{"model": state_dict, "model_args": asdict(cfg), "kind": ..., "vocab": itos, "step": n, "val_loss": x,
   "recipe": {...}, "metrics": {...}, "words_sha256": ..., "history": [...]}``

The file's ``kind`` is the model's architecture (a row of models/registry.py); the key keeps its old name so every
checkpoint already written still loads.

Writes are atomic (temp file in the same folder, fsync, ``os.replace``) so a crash or ``kill -9`` mid-write never
leaves a half-written checkpoint; ``checkpoint_folder.remove_stale_tmp`` clears the temp files such a kill leaves
behind. A checkpoint is written at exactly the path it is given, and every loader accepts that path.

Every load problem raises :class:`CheckpointError` naming the file and the fix. The loader checks a file once, so
the rest of the app can trust what it gets: only regular files are opened (a FIFO would block forever); the config
is checked against its bounds before any tensor is allocated; weights must be finite; and the metadata has the types
the pages read (models/checkpoint_checks.py). Claims on a name and stale temp files: models/checkpoint_folder.py.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

import settings
from models import registry
from models.checkpoint_checks import ARCH_KEY, check_config, check_meta, check_weights, excerpt, non_finite
from models.messages import N_, Message, MessageError
from models.vocab import Vocab

RETRAIN_HINT = N_(
    "Restore it with `git checkout -- checkpoints/` or retrain it with "
    "`python -m models.train --model {model} --out {path}`."
)
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colour codes, which torch puts in its messages


class CheckpointError(MessageError, RuntimeError):
    """A checkpoint that is missing, truncated, corrupt or does not fit its model. The message says what to do."""


def build_model(architecture: str, model_args: dict) -> nn.Module:
    try:
        spec = registry.by_architecture(architecture)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    return spec.build(model_args)


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A loaded model with what belongs to it. Read-only by convention: never train or hook a bundle's model."""

    name: str
    model: nn.Module
    vocab: Vocab
    architecture: str
    meta: dict = field(default_factory=dict)  # recipe, metrics, history, words hash, step ...
    path: Path | None = None

    @property
    def cfg(self):
        return self.model.cfg

    @property
    def block_size(self) -> int:
        return self.model.cfg.block_size

    @property
    def is_seq2seq(self) -> bool:
        return registry.by_architecture(self.architecture).seq2seq

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
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a checkpoint is not a secret, and others may serve it
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
    """Write ``model`` (state on cpu) with its config, vocabulary and ``meta`` to ``path`` atomically: exactly
    ``path`` (no suffix is added), or ``model.pt`` inside it when it is a folder, the way :func:`resolve_path` reads
    it back. Returns the file written."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    ckpt = {
        "model": state,
        "model_args": dataclasses.asdict(model.cfg),
        ARCH_KEY: model.architecture,
        "vocab": list(vocab.itos),
        **meta,
    }
    atomic_write(lambda tmp: torch.save(ckpt, tmp), path)
    return path


def resolve_path(name_or_path: str | Path) -> Path:
    """A shipped or user-trained name (``miniformer``, ``my_model``) or a file / directory path. A ``Path`` is
    always a path (never looked up as a name), so a file called ``miniformer`` can still be given."""
    if isinstance(name_or_path, Path):
        return name_or_path / "model.pt" if name_or_path.is_dir() else name_or_path
    s = str(name_or_path)
    if s in registry.shipped_names():
        return settings.shipped_ckpt_dir() / f"{s}.pt"
    user = settings.user_ckpt_dir() / f"{s}.pt"
    if NAME_RE.match(s) and user.exists():
        return user
    p = Path(s)
    if p.is_dir():
        return p / "model.pt"
    return p


def _cause(e: BaseException) -> str:
    """Why a load failed, in a few whole words. torch's weights-only refusal is a page of advice (part of it: load
    with ``weights_only=False``, which runs the file's code) with terminal colour codes; its reason is the
    ``WeightsUnpickler error:`` line, so that line's first sentence is what is quoted."""
    lines = [ln.strip() for ln in ANSI_RE.sub("", str(e)).splitlines() if ln.strip()]
    reason = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("WeightsUnpickler error:")), None)
    if reason is not None:
        reason = reason.split(". ", 1)[0].rstrip(".")
    return f"{type(e).__name__}: {excerpt(reason if reason is not None else (lines[0] if lines else ''))}"


def retrain_path(path: Path) -> Path:
    """Where a "retrain it" hint should write: the file itself when it is a ``.pt`` in a folder one can write, else
    a file in the user folder the app lists (not, say, ``--out /etc/passwd``)."""
    folder = path.parent
    if path.suffix == ".pt" and folder.is_dir() and os.access(folder, os.W_OK):
        return path
    stem = "-".join(path.stem.lower().split())
    return settings.user_ckpt_dir() / f"{stem if NAME_RE.match(stem) else 'my-model'}.pt"


def _fix_hint(path: Path, architecture: str | None = None) -> Message:
    name = path.stem
    if (
        name in registry.shipped_names() and path.resolve().parent == settings.shipped_ckpt_dir().resolve()
    ):  # shipped: restore it
        return Message(RETRAIN_HINT, model=registry.train_flag(name), path=path)
    return Message(
        N_("Retrain it (Train page, or `python -m models.train --model {model} --out {path}`)."),
        model=registry.train_flag(architecture or registry.MODELS[0].architecture),
        path=retrain_path(path),
    )


def _read(path: Path) -> dict:
    """``torch.load`` of a regular file. The file is opened non-blocking and checked with fstat before anything is
    read, so a FIFO or device named ``*.pt`` is refused at once instead of blocking the session forever."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise CheckpointError(
            N_("Checkpoint {path} cannot be opened ({why}). {hint}"),
            path=path,
            why=e.strerror or str(e),
            hint=_fix_hint(path),
        ) from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which raises IsADirectoryError on a folder
        os.close(fd)
        raise CheckpointError(
            N_("Checkpoint {path} is not a regular file (a folder, FIFO or device?). Give the path of a .pt file."),
            path=path,
        )
    with os.fdopen(fd, "rb") as f:
        try:
            return torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated zip, pickle garbage, wrong format: all one story for the user
            raise CheckpointError(
                N_("Checkpoint {path} is truncated or corrupt ({why}). {hint}"),
                path=path,
                why=_cause(e),
                hint=_fix_hint(path),
            ) from e


def load_checkpoint(name_or_path: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
    path = resolve_path(name_or_path)
    if not os.path.lexists(path):
        raise CheckpointError(
            N_("Checkpoint {path} not found. Give a path or one of the shipped names ({shipped}). {hint}"),
            path=path,
            shipped=", ".join(registry.shipped_names()),
            hint=_fix_hint(path),
        )
    ckpt = _read(path)
    if not isinstance(ckpt, dict) or not {"model", "model_args", ARCH_KEY, "vocab"} <= ckpt.keys():
        raise CheckpointError(
            N_("Checkpoint {path} is not an Attention Lab checkpoint (needs model, model_args, kind, vocab). {hint}"),
            path=path,
            hint=_fix_hint(path),
        )
    try:
        meta = check_meta(ckpt)
    except ValueError as e:
        raise CheckpointError(
            N_("Checkpoint {path} has broken metadata ({why}). {hint}"), path=path, why=str(e), hint=_fix_hint(path)
        ) from e
    arch = meta[ARCH_KEY]
    try:
        args = check_config(arch, ckpt["model_args"])  # before any real tensor is allocated
        itos = ckpt["vocab"]
        if (
            not isinstance(itos, (list, tuple))
            or not all(isinstance(c, str) for c in itos)
            or len(set(itos)) != len(itos)
        ):
            raise ValueError("'vocab' is not a list of distinct strings")
        check_weights(ckpt["model"])
        bad = non_finite(ckpt["model"])
        if bad:  # a diverged run: its NaNs would reach every chart, and `NaN` is not even valid JSON
            raise CheckpointError(
                N_("Checkpoint {path} has NaN or infinite weights ({names}): the run that wrote it diverged. {hint}"),
                path=path,
                names=", ".join(bad[:3]) + (", …" if len(bad) > 3 else ""),
                hint=_fix_hint(path, arch),
            )
        model = build_model(arch, args)
        vocab = Vocab(itos)
        if len(vocab) != model.cfg.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} entries but the model expects {model.cfg.vocab_size}")
        model.load_state_dict(ckpt["model"], strict=True)
    except CheckpointError:
        raise
    except (ValueError, TypeError, RuntimeError, KeyError) as e:
        raise CheckpointError(
            N_("Checkpoint {path} does not fit its model ({why}). {hint}"),
            path=path,
            why=excerpt(e, 200),
            hint=_fix_hint(path, arch),
        ) from e
    model.to(device).eval().requires_grad_(False)
    name = path.stem if path.name != "model.pt" else path.parent.name
    return ModelBundle(name=name, model=model, vocab=vocab, architecture=arch, meta=meta, path=path)


def list_checkpoints() -> list[str]:
    """Shipped names first (those present), then user-trained ones, newest first."""
    shipped, user = settings.shipped_ckpt_dir(), settings.user_ckpt_dir()
    names = [n for n in registry.shipped_names() if (shipped / f"{n}.pt").exists()]
    try:
        st = os.stat(user)
    except OSError:
        return names
    return names + list(_user_listing(str(user), st.st_mtime_ns, st.st_ino, st.st_size))


@functools.lru_cache(maxsize=4)
def _user_listing(folder: str, mtime_ns: int, ino: int, size: int) -> tuple[str, ...]:
    """The user folder's model names, newest first, read once per state of the folder: a file created, replaced
    (``os.replace`` is a rename into the folder) or removed changes the folder's mtime, so a page rerun that finds
    it unchanged pays one ``stat`` instead of one per model (5,000 models doubled every keystroke's latency)."""
    user = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return ()
    for e in entries:
        try:
            if e.name.endswith(".pt") and e.is_file():  # regular files only: no FIFOs
                user.append((e.stat().st_mtime, e.name[:-3]))
        except OSError:
            continue
    user.sort(reverse=True)
    return tuple(n for _, n in user if NAME_RE.match(n) and n not in registry.shipped_names())


def checkpoint_mtime(name: str) -> float:
    """The mtime that goes into cache keys, so a retrained file is reloaded. 0.0 when missing."""
    try:
        return resolve_path(name).stat().st_mtime
    except OSError:
        return 0.0
