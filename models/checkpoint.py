"""Checkpoint I/O: one ``.pt`` file per model, nanoGPT layout, loaded with ``weights_only=True``.

``{"model": state_dict, "model_args": asdict(cfg), "kind": ..., "vocab": itos, "step": n, "val_loss": x,
   "recipe": {...}, "metrics": {...}, "words_sha256": ..., "history": [...]}``

The file's ``kind`` is the model's architecture (a row of models/registry.py); the key keeps its old name so every
checkpoint already written still loads.

Writes are atomic (temp file in the same folder, fsync, ``os.replace``) so a crash or ``kill -9`` mid-write never
leaves a half-written checkpoint; :func:`remove_stale_tmp` clears the temp files such a kill leaves behind. A
checkpoint is written at exactly the path it is given, and every loader accepts that path.

Every load problem raises :class:`CheckpointError` naming the file and the fix. The loader checks a file once, so
the rest of the app can trust what it gets: only regular files are opened (a FIFO would block forever); the config
is checked against :data:`CONFIG_BOUNDS` and :data:`MAX_PARAMS` before any tensor is allocated; weights must be
finite; and the metadata has the types the pages read (:func:`check_meta`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import os
import re
import socket
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import torch
import torch.nn as nn

from models import registry
from models.messages import N_, Message, MessageError
from models.vocab import Vocab

REPO_DIR = Path(__file__).resolve().parent.parent
CKPT_DIR = REPO_DIR / "checkpoints"
# Models trained in the app; git-ignored. ATTENTION_LAB_USER_CKPT_DIR moves it (tests point it at a temp folder).
USER_CKPT_DIR = Path(os.environ.get("ATTENTION_LAB_USER_CKPT_DIR") or CKPT_DIR / "user")
RETRAIN_HINT = N_("Restore it with `git checkout -- checkpoints/` or retrain it with "
                  "`python -m models.train --model {model} --out {path}`.")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ARCH_KEY = "kind"             # the checkpoint's key for its architecture (files written before the registry use it)
# What a checkpoint's model_args may ask for. The shipped models use vocab_size 30, block_size 48, 1-2 encoder and 2
# decoder layers, 1-4 heads, n_embd 32-64, dim_ff 32-128 (171k parameters at most); the bounds leave 4-16x room on
# each, and MAX_PARAMS (~30x the largest shipped model, 20 MB of float32) caps the product. Without them a
# checkpoint asking for n_embd=20000 took 17 s and 6.4 GB to build, n_layer=100000 7.4 GB, and under a memory cap
# the server died with every session. Both checks run before a single tensor is allocated.
CONFIG_BOUNDS = MappingProxyType({
    "vocab_size": (5, 256),      # the 4 specials and at least one character; 256 covers any byte-level vocabulary
    "block_size": (3, 256),      # <BOS>, a character, <EOS>
    "n_layer": (1, 8),
    "n_dec_layer": (1, 8),
    "n_head": (1, 16),
    "n_embd": (2, 512),
    "dim_ff": (1, 2048),
})
MAX_PARAMS = 5_000_000
TMP_RE = re.compile(r"^\..+\.pt\.[A-Za-z0-9_]+\.tmp$")   # atomic_write's mkstemp names: .<name>.pt.<random>.tmp
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")      # terminal colour codes, which torch puts in its messages
STALE_TMP_S = 60.0               # a live write takes well under a second; older temp files are a killed run's


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
    """Write ``model`` (state on cpu) with its config, vocabulary and ``meta`` to ``path`` atomically: exactly
    ``path`` (no suffix is added), or ``model.pt`` inside it when it is a folder, the way :func:`resolve_path` reads
    it back. Returns the file written."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    ckpt = {"model": state, "model_args": dataclasses.asdict(model.cfg), ARCH_KEY: model.architecture,
            "vocab": list(vocab.itos), **meta}
    atomic_write(lambda tmp: torch.save(ckpt, tmp), path)
    return path


def resolve_path(name_or_path: str | Path) -> Path:
    """A shipped or user-trained name (``miniformer``, ``my_model``) or a file / directory path. A ``Path`` is
    always a path (never looked up as a name), so a file called ``miniformer`` can still be given."""
    if isinstance(name_or_path, Path):
        return name_or_path / "model.pt" if name_or_path.is_dir() else name_or_path
    s = str(name_or_path)
    if s in registry.shipped_names():
        return CKPT_DIR / f"{s}.pt"
    if NAME_RE.match(s) and (USER_CKPT_DIR / f"{s}.pt").exists():
        return USER_CKPT_DIR / f"{s}.pt"
    p = Path(s)
    if p.is_dir():
        return p / "model.pt"
    return p


def _excerpt(text: str, limit: int = 160) -> str:
    """The first line of ``text``, cut at a word boundary (never mid-word) when longer than ``limit``."""
    line = (str(text).strip().splitlines() or [""])[0]
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
    return cut.rstrip(" ,;:") + " …"


def _cause(e: BaseException) -> str:
    """Why a load failed, in a few whole words. torch's weights-only refusal is a page of advice (part of it: load
    with ``weights_only=False``, which runs the file's code) with terminal colour codes; its reason is the
    ``WeightsUnpickler error:`` line, so that line's first sentence is what is quoted."""
    lines = [ln.strip() for ln in ANSI_RE.sub("", str(e)).splitlines() if ln.strip()]
    reason = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("WeightsUnpickler error:")), None)
    if reason is not None:
        reason = reason.split(". ", 1)[0].rstrip(".")
    return f"{type(e).__name__}: {_excerpt(reason if reason is not None else (lines[0] if lines else ''))}"


def retrain_path(path: Path) -> Path:
    """Where a "retrain it" hint should write: the file itself when it is a ``.pt`` in a folder one can write, else
    a file in the user folder the app lists (not, say, ``--out /etc/passwd``)."""
    folder = path.parent
    if path.suffix == ".pt" and folder.is_dir() and os.access(folder, os.W_OK):
        return path
    stem = "-".join(path.stem.lower().split())
    return USER_CKPT_DIR / f"{stem if NAME_RE.match(stem) else 'my-model'}.pt"


def _fix_hint(path: Path, architecture: str | None = None) -> Message:
    name = path.stem
    if name in registry.shipped_names() and path.resolve().parent == Path(CKPT_DIR).resolve():   # shipped: restore it
        return Message(RETRAIN_HINT, model=registry.train_flag(name), path=path)
    return Message(N_("Retrain it (Train page, or `python -m models.train --model {model} --out {path}`)."),
                   model=registry.train_flag(architecture or registry.MODELS[0].architecture),
                   path=retrain_path(path))


def _number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# meta key -> (check, what it must be). Keys not listed are kept as they are; listed ones may be absent.
META_FIELDS = MappingProxyType({
    "step": (_count, "a whole number >= 0"),
    "epoch": (_count, "a whole number >= 0"),
    "n_words": (_count, "a whole number >= 0"),
    "val_loss": (_number, "a finite number"),
    "trained_seconds": (_number, "a finite number"),
    "created": (_number, "a finite number"),
    "words_sha256": (lambda v: isinstance(v, str), "a string"),
    "train_model": (lambda v: isinstance(v, str), "a string"),
    "display_name": (lambda v: isinstance(v, str), "a string"),
    "metrics": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and _number(x) for k, x in v.items()),
                "a dict of finite numbers"),
    "recipe": (lambda v: isinstance(v, dict) and isinstance(v.get("name"), str), "a dict with a string 'name'"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v), "a list of dicts"),
    "snapshots": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v), "a list of dicts"),
})


def check_meta(ckpt: dict) -> dict:
    """The checkpoint's metadata (everything but weights, config and vocabulary), or ValueError naming the first
    field that does not have the type the pages read. ``kind`` (the architecture) must be a known string."""
    arch, known = ckpt.get(ARCH_KEY), registry.architectures()
    if not isinstance(arch, str) or arch not in known:
        raise ValueError(f"'{ARCH_KEY}' is {_excerpt(repr(arch), 60)}, expected one of {', '.join(map(repr, known))}")
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "model_args", "vocab")}
    for key, (ok, what) in META_FIELDS.items():
        if key in meta and not ok(meta[key]):
            raise ValueError(f"'{key}' is {_excerpt(repr(meta[key]), 60)}, expected {what}")
    return meta


def approx_params(architecture: str, model_args: dict) -> int:
    """The weight matrices' size of the model ``model_args`` describes (biases and norms aside: within 5 % for the
    shipped models): embedding and head V*C each; a self-attention block 4*C*C (q, k, v, out) and its FFN
    2*C*dim_ff; a decoder block adds cross-attention, 4*C*C more. Missing fields take the config's defaults."""
    cls = registry.by_architecture(architecture).config_class
    a = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    a.update({k: v for k, v in model_args.items() if k in CONFIG_BOUNDS})
    V, C, ff = a.get("vocab_size", 0), a["n_embd"], a["dim_ff"]       # no vocab_size: the config says so later
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
            raise ValueError(f"{key}={_excerpt(repr(v), 40)} is not a whole number")
        if not lo <= v <= hi:
            raise ValueError(f"{key}={v} is outside this app's bounds [{lo}, {hi}]")
    n_params = approx_params(architecture, model_args)
    if n_params > MAX_PARAMS:
        raise ValueError(f"the config asks for about {n_params:,} parameters; this app loads at most {MAX_PARAMS:,}")
    return dict(model_args)


def _check_weights(state) -> None:
    """A state dict: tensor names to tensors (what ``load_state_dict`` reads), or ValueError."""
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ValueError("'model' is not a state dict of named tensors")


def _non_finite(state: dict) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def _read(path: Path) -> dict:
    """``torch.load`` of a regular file. The file is opened non-blocking and checked with fstat before anything is
    read, so a FIFO or device named ``*.pt`` is refused at once instead of blocking the session forever."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise CheckpointError(N_("Checkpoint {path} cannot be opened ({why}). {hint}"), path=path,
                              why=e.strerror or str(e), hint=_fix_hint(path)) from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):      # before fdopen, which raises IsADirectoryError on a folder
        os.close(fd)
        raise CheckpointError(N_("Checkpoint {path} is not a regular file (a folder, FIFO or device?). Give the "
                                 "path of a .pt file."), path=path)
    with os.fdopen(fd, "rb") as f:
        try:
            return torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated zip, pickle garbage, wrong format: all one story for the user
            raise CheckpointError(N_("Checkpoint {path} is truncated or corrupt ({why}). {hint}"), path=path,
                                  why=_cause(e), hint=_fix_hint(path)) from e


def load_checkpoint(name_or_path: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
    path = resolve_path(name_or_path)
    if not os.path.lexists(path):
        raise CheckpointError(N_("Checkpoint {path} not found. Give a path or one of the shipped names ({shipped}). "
                                 "{hint}"), path=path, shipped=", ".join(registry.shipped_names()),
                              hint=_fix_hint(path))
    ckpt = _read(path)
    if not isinstance(ckpt, dict) or not {"model", "model_args", ARCH_KEY, "vocab"} <= ckpt.keys():
        raise CheckpointError(N_("Checkpoint {path} is not an Attention Lab checkpoint (needs model, model_args, "
                                 "kind, vocab). {hint}"), path=path, hint=_fix_hint(path))
    try:
        meta = check_meta(ckpt)
    except ValueError as e:
        raise CheckpointError(N_("Checkpoint {path} has broken metadata ({why}). {hint}"), path=path, why=str(e),
                              hint=_fix_hint(path)) from e
    arch = meta[ARCH_KEY]
    try:
        args = check_config(arch, ckpt["model_args"])          # before any real tensor is allocated
        itos = ckpt["vocab"]
        if not isinstance(itos, (list, tuple)) or not all(isinstance(c, str) for c in itos) \
                or len(set(itos)) != len(itos):
            raise ValueError("'vocab' is not a list of distinct strings")
        _check_weights(ckpt["model"])
        bad = _non_finite(ckpt["model"])
        if bad:     # a diverged run: its NaNs would reach every chart, and `NaN` is not even valid JSON
            raise CheckpointError(N_("Checkpoint {path} has NaN or infinite weights ({names}): the run that wrote it "
                                     "diverged. {hint}"), path=path,
                                  names=", ".join(bad[:3]) + (", …" if len(bad) > 3 else ""),
                                  hint=_fix_hint(path, arch))
        model = build_model(arch, args)
        vocab = Vocab(itos)
        if len(vocab) != model.cfg.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} entries but the model expects {model.cfg.vocab_size}")
        model.load_state_dict(ckpt["model"], strict=True)
    except CheckpointError:
        raise
    except (ValueError, TypeError, RuntimeError, KeyError) as e:
        raise CheckpointError(N_("Checkpoint {path} does not fit its model ({why}). {hint}"), path=path,
                              why=_excerpt(e, 200), hint=_fix_hint(path, arch)) from e
    model.to(device).eval().requires_grad_(False)
    name = path.stem if path.name != "model.pt" else path.parent.name
    return ModelBundle(name=name, model=model, vocab=vocab, architecture=arch, meta=meta, path=path)


def list_checkpoints() -> list[str]:
    """Shipped names first (those present), then user-trained ones, newest first."""
    names = [n for n in registry.shipped_names() if (CKPT_DIR / f"{n}.pt").exists()]
    try:
        st = os.stat(USER_CKPT_DIR)
    except OSError:
        return names
    return names + list(_user_listing(str(USER_CKPT_DIR), st.st_mtime_ns, st.st_ino, st.st_size))


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
            if e.name.endswith(".pt") and e.is_file():              # regular files only: no FIFOs
                user.append((e.stat().st_mtime, e.name[:-3]))
        except OSError:
            continue
    user.sort(reverse=True)
    return tuple(n for _, n in user if NAME_RE.match(n) and n not in registry.shipped_names())


# ---- claiming a name in the shared folder ------------------------------------------------------------------------
# Several app processes (a classroom behind nginx, or several machines on one volume) publish into one folder. A run
# claims its name before it starts with a claim file created with O_EXCL — atomic on one machine and on NFS v3+ —
# so two students pressing Train on the same name at the same instant can't both be told "saved" while one file
# silently replaces the other: the second sees the claim and takes the next free name.
CLAIM_STALE_S = 3600.0           # a claim older than this is a dead run's (runs are cut off long before: jobs.py)


class FolderNotWritable(OSError):
    """The user checkpoints folder can't take a new file (permissions, read-only or full disk); ``errno`` says which."""


def claim_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.stem}.claim")


def _claim_stale(claim: Path, stale_s: float) -> bool:
    try:
        info = json.loads(claim.read_text() or "{}")
        age = time.time() - claim.stat().st_mtime
    except (OSError, ValueError):
        return False
    if age >= stale_s:
        return True
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        try:
            os.kill(info["pid"], 0)          # the app process that claimed it: gone means the claim is stale
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return False


def claim_name(path: Path, owner: str | None = None, stale_s: float = CLAIM_STALE_S) -> bool:
    """Claim checkpoint ``path`` for a run of this process: True when claimed, False when another run holds it.
    :class:`FolderNotWritable` when the folder can't take a file (checked here, before any training)."""
    claim = claim_path(path)
    try:
        claim.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FolderNotWritable(e.errno, e.strerror) from e
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _claim_stale(claim, stale_s):
                return False
            try:
                claim.unlink()               # a dead run's claim; one of the racers takes it over
            except FileNotFoundError:
                pass
            continue
        except OSError as e:
            raise FolderNotWritable(e.errno, e.strerror) from e
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"owner": owner, "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}, f)
        except OSError as e:                 # a full disk: no room for even this much
            release_claim(path)
            raise FolderNotWritable(e.errno, e.strerror) from e
        return True
    return False


def claimed(path: Path, stale_s: float = CLAIM_STALE_S) -> bool:
    """Whether a live run holds a claim on ``path``."""
    claim = claim_path(path)
    return claim.exists() and not _claim_stale(claim, stale_s)


def release_claim(path: Path) -> None:
    try:
        claim_path(path).unlink()
    except OSError:
        pass


def checkpoint_mtime(name: str) -> float:
    """The mtime that goes into cache keys, so a retrained file is reloaded. 0.0 when missing."""
    try:
        return resolve_path(name).stat().st_mtime
    except OSError:
        return 0.0


def remove_stale_tmp(folders=None, min_age_s: float = STALE_TMP_S) -> list[Path]:
    """Delete the temp files :func:`atomic_write` leaves when its process is killed mid-write (its own naming only,
    regular files only, older than ``min_age_s`` so a write in progress elsewhere is left alone). The app calls it
    at start for the shipped and the user folder. Returns what was removed."""
    removed = []
    now = time.time()
    for folder in folders if folders is not None else (CKPT_DIR, USER_CKPT_DIR):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            try:
                if TMP_RE.match(e.name) and e.is_file(follow_symlinks=False) \
                        and now - e.stat(follow_symlinks=False).st_mtime >= min_age_s:
                    os.unlink(e.path)
                    removed.append(Path(e.path))
            except OSError:
                continue
    return removed
