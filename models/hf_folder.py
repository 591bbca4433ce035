"""What a local Hugging Face folder must be before transformers opens it, and who may choose one.

A model folder is read by the process that serves the whole class, so three things are checked *before* a single
file of it is handed to transformers:

1. **The path.** Typed text becomes a folder or one plain message (no folder, a file, no ``config.json``, an
   unreadable ``/proc`` entry, ``~nosuchuser``, a NUL, 5,000 characters, a symlink loop: the same sentence, and
   never the resolved path, so the messages do not map the server's disk).
2. **Every file the loader opens** — ``config.json``, the tokenizer's files, the weights and every shard a
   ``*.index.json`` names — is a regular file inside the folder: no ``..``, no absolute name, no symlink that leads
   out, no FIFO (``open()`` on a FIFO blocks holding the GIL and freezes every session of the process), no device.
3. **Its size.** The float32 bytes the weights will take are computed from the files (the safetensors headers,
   the size of a ``.bin``) and refused above a limit (:func:`settings.hf_max_mb`) or
   above what the machine has free now.

Who chooses: opening a folder by path is a teacher's act. On a classroom server (:func:`settings.classroom`, set by
``services/classroom.py`` for its processes, or by hand) students pick from the folders the teacher put in
:func:`settings.models_dir` (and the one preset in :func:`settings.hf_model`); the free path field is off.

:class:`ModelSlot` holds at most one such model per process and drops the last one before it loads the next; sessions
keep a :class:`Held`, which reaches the model through the slot without keeping it alive.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import stat
import threading
from collections.abc import Callable, Iterable
from math import prod
from pathlib import Path, PurePosixPath

import settings
from models.hf_setup import LMLoadError
from models.messages import N_  # an English msgid + parameters (STYLE.md §17)

# The settings this module reads (settings.py is their one home); the names stay for the tests that set them.
MODELS_DIR_ENV = settings.MODELS_DIR_ENV
CLASSROOM_ENV = settings.CLASSROOM_ENV
MAX_MB_ENV = settings.HF_MAX_MB_ENV
DEFAULT_MAX_MB = settings.DEFAULT_HF_MAX_MB
RESERVE_MB = 256  # left free for everything else when a model loads
MAX_PATH_CHARS = 1024
MAX_ENTRIES = 1000  # entries a model folder may hold (it is listed once per load)
MAX_SMALL_JSON = 16_000_000  # config.json / *.index.json / a safetensors header: read by us
MAX_PROVIDED = 100  # folders shown to students
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)  # transformers' own order of preference
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
SUB_FOLDERS = ("additional_chat_templates",)  # the one sub-folder transformers lists in a model folder
FLOAT32 = 4

NOT_A_MODEL_FOLDER = N_(
    "There is no model folder this page can open at that path. Give the folder that holds "
    "config.json, the weights and the tokenizer (as save_pretrained() writes them); the path is "
    "read on the machine that runs the app."
)


# ---- who may open what ---------------------------------------------------------------------------------------------
def classroom() -> bool:
    """A classroom server: students choose among the teacher's folders, never type a path."""
    return settings.classroom()


def free_paths_allowed() -> bool:
    return not classroom()


def models_dir() -> Path | None:
    return settings.models_dir()


def provided_folders() -> dict[str, Path]:
    """The folders the teacher provided, by the name a student sees: every sub-folder of :func:`settings.models_dir`
    (hidden ones skipped, at most :data:`MAX_PROVIDED`, sorted) and, on a classroom server, the folder preset in
    :func:`settings.hf_model`.
    Names only reach the page; the paths stay on the server."""
    found: dict[str, Path] = {}
    root = models_dir()
    if root is not None:
        try:
            with os.scandir(root) as it:
                names = sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
        except OSError:
            names = []
        for name in names[:MAX_PROVIDED]:
            found[name] = root / name
    preset = settings.hf_model()
    if preset and classroom():  # elsewhere the preset fills the path field instead
        found.setdefault(Path(preset).name or preset, Path(preset))  # resolved (or refused) when it loads
    return found


# ---- 1. the path ---------------------------------------------------------------------------------------------------
def resolve_folder(raw: str | os.PathLike) -> Path:
    """The resolved folder that holds a ``config.json``, or LMLoadError: one message for every path that is not one
    (nothing in it repeats the path, resolved or typed)."""
    text = str(raw).strip()
    if not text:
        raise LMLoadError(N_("Give the path of a folder that holds a model's config.json, weights and tokenizer."))
    if len(text) > MAX_PATH_CHARS or "\0" in text:
        raise LMLoadError(NOT_A_MODEL_FOLDER)
    try:
        folder = Path(text).expanduser().resolve(strict=True)  # ~nosuchuser: RuntimeError; a loop: RuntimeError
        ok = folder.is_dir() and stat.S_ISREG(os.stat(folder / "config.json").st_mode)
    except (OSError, RuntimeError, ValueError):  # EACCES (/proc/1/root), ENAMETOOLONG, ELOOP, ENOENT
        ok = False
    if not ok:
        raise LMLoadError(NOT_A_MODEL_FOLDER)
    return folder


# ---- 2. every file the loader opens --------------------------------------------------------------------------------
def _not_plain(name: str) -> LMLoadError:
    return LMLoadError(
        N_(
            "This folder can't be opened here: {file} is not a plain file inside the folder (a link to "
            "somewhere else, a pipe or a device?). Copy the model into a folder of its own, e.g. with "
            "save_pretrained()."
        ),
        file=PurePosixPath(name.replace("\\", "/")).name[:200] or "?",
    )


def inside(folder: Path, name: str) -> Path:
    """``folder / name`` if it is a regular file inside ``folder`` (``folder`` already resolved): a relative name
    without ``..``, that resolves (symlinks followed) to a path under ``folder``, and is a regular file."""
    rel = PurePosixPath(str(name).replace("\\", "/"))
    if not str(name) or "\0" in str(name) or rel.is_absolute() or ".." in rel.parts or len(str(name)) > 255 * 4:
        raise _not_plain(str(name))
    try:
        target = (folder / rel).resolve(strict=True)
        st = os.stat(target)
    except (OSError, RuntimeError, ValueError):
        raise _not_plain(str(name)) from None
    if not target.is_relative_to(folder) or not stat.S_ISREG(st.st_mode):
        raise _not_plain(str(name))
    return target


def _read_json(path: Path, name: str) -> dict:
    """A small JSON file we parse ourselves (config, shard index), size-bounded first."""
    if path.stat().st_size > MAX_SMALL_JSON:
        raise LMLoadError(
            N_("{file} is larger than a model's {file} can be; this folder can't be opened here."), file=name
        )
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise LMLoadError(N_("{file} in this folder is not valid JSON."), file=name)
    return data


def check_files(folder: Path) -> tuple[tuple[Path, ...], dict]:
    """Every file of ``folder`` that transformers may open, checked by :func:`inside`, before it opens one: all of
    the folder's own entries (config, tokenizer files, chat templates, …: all, so no name transformers looks for
    is missed), the files of :data:`SUB_FOLDERS`, and every shard an index names. Other sub-folders are never read
    and are left alone. Returns (the weight files transformers will read, the parsed config)."""
    try:
        with os.scandir(folder) as it:
            entries = {e.name: e for _, e in zip(range(MAX_ENTRIES + 1), it)}
    except OSError:
        raise LMLoadError(NOT_A_MODEL_FOLDER) from None
    if len(entries) > MAX_ENTRIES:
        raise _too_many()
    for name, entry in sorted(entries.items()):
        try:
            is_dir = entry.is_dir()  # stat, never open: safe on a FIFO
        except OSError:
            is_dir = False
        if not is_dir:
            inside(folder, name)
        elif name in SUB_FOLDERS:
            sub = (folder / name).resolve()
            if not sub.is_relative_to(folder):
                raise _not_plain(name)
            children = sorted(os.listdir(sub))
            if len(children) > MAX_ENTRIES:
                raise _too_many()
            for child in children:
                inside(folder, f"{name}/{child}")
    weights = next((f for f in WEIGHT_FILES if f in entries), None)
    if weights is None:
        raise LMLoadError(N_("This folder has a config.json but no weights (model.safetensors or pytorch_model.bin)."))
    if not any(f in entries for f in TOKENIZER_FILES):
        raise LMLoadError(
            N_(
                "This folder has no tokenizer files (tokenizer.json, vocab.json, ...). Save the tokenizer "
                "there too: tokenizer.save_pretrained(folder)."
            )
        )
    config = _read_json(inside(folder, "config.json"), "config.json")
    if not weights.endswith(".index.json"):
        return (inside(folder, weights),), config
    index = _read_json(inside(folder, weights), weights)
    shards = index.get("weight_map")
    if not isinstance(shards, dict) or not shards:
        raise LMLoadError(N_("{file} in this folder names no weight files."), file=weights)
    names = sorted({str(s) for s in shards.values()})
    if len(names) > MAX_ENTRIES:
        raise _too_many()
    return tuple(inside(folder, s) for s in names), config


def _too_many() -> LMLoadError:
    return LMLoadError(
        N_("This folder holds more than {n:,} files; a model folder holds a few dozen. Give the folder of one model."),
        n=MAX_ENTRIES,
    )


# ---- 3. its size ---------------------------------------------------------------------------------------------------
def safetensors_numel(path: Path) -> int:
    """How many numbers a safetensors file holds, from its header alone (8 bytes of length, then JSON)."""
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= n <= MAX_SMALL_JSON or n > path.stat().st_size - 8:
            raise LMLoadError(N_("{file} in this folder is not a safetensors file."), file=path.name)
        try:
            header = json.loads(f.read(n))
            return sum(prod(int(d) for d in t["shape"]) for k, t in header.items() if k != "__metadata__")
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            raise LMLoadError(N_("{file} in this folder is not a safetensors file."), file=path.name) from None


def weights_bytes(weights: Iterable[Path], config: dict) -> int:
    """The bytes the weights take once loaded as float32: exact for safetensors (their headers list every shape),
    for a pickled ``.bin`` its size, doubled when the config says it was saved in 16 bits."""
    total = 0
    half = str(config.get("torch_dtype") or config.get("dtype") or "") in ("float16", "bfloat16")
    for w in weights:
        if w.suffix == ".safetensors":
            total += safetensors_numel(w) * FLOAT32
        else:
            total += w.stat().st_size * (2 if half else 1)
    return total


def max_bytes() -> int:
    """The per-model limit in bytes (:func:`settings.hf_max_mb`)."""
    return int(settings.hf_max_mb() * 1e6)


def available_bytes() -> int | None:
    """Memory this process may still take: the machine's available memory, or less where a cgroup (a container's
    memory limit) allows less. None when it can't be read."""
    free = None
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            room = int(limit) - used
            free = room if free is None else min(free, room)
    except (OSError, ValueError):
        pass
    return free


def check_size(need: int, *, limit: int | None = None, free: int | None = None) -> None:
    """Refuse a model whose float32 weights exceed the limit, or don't fit in what is free now (with a reserve)."""
    limit = max_bytes() if limit is None else limit
    if need > limit:
        raise LMLoadError(
            N_(
                "This model needs about {need:,} MB for its weights; this server loads models of up to "
                "{limit:,} MB (the setting {env}). Pick a smaller model."
            ),
            need=round(need / 1e6),
            limit=round(limit / 1e6),
            env=MAX_MB_ENV,
        )
    free = available_bytes() if free is None else free
    if free is not None and need + RESERVE_MB * 1_000_000 > free:
        raise LMLoadError(
            N_(
                "This model needs about {need:,} MB for its weights, but this server has only {free:,} MB "
                "free now. Try again later or pick a smaller model."
            ),
            need=round(need / 1e6),
            free=max(0, round(free / 1e6)),
        )


def checked_folder(raw: str | os.PathLike) -> tuple[Path, tuple[Path, ...], dict]:
    """(the resolved folder, its weight files, its config) after checks 1 and 2; LMLoadError otherwise.
    Check 3 is :func:`weights_bytes` + :func:`check_size`."""
    folder = resolve_folder(raw)
    weights, config = check_files(folder)
    return folder, weights, config


def precheck(raw: str | os.PathLike) -> None:
    """Checks 1–3 without the free-memory part (the model the slot holds is still counted as used): what can be
    refused before the slot drops its model."""
    _, weights, config = checked_folder(raw)
    check_size(weights_bytes(weights, config), free=2**62)


# ---- one foreign model per process ---------------------------------------------------------------------------------
def release_memory() -> None:
    """Give freed memory back to the system: a collection, then glibc's malloc_trim (freed float32 weights
    otherwise stay in the process's heap, resident)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class ModelSlot:
    """At most one model per process: asking for another drops the one held (and returns its memory) before the
    next loads, under one lock, so two sessions opening two folders at once never hold both. One per process,
    made by the UI's st.cache_resource; the models it hands out are read-only like every cached model."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._value = None

    def get(self, key: tuple, load: Callable[[], object], check: Callable[[], None] | None = None):
        """The model for ``key``: the one held, or ``load()``'s after the one held is dropped. ``check`` runs first,
        while the old model is still held: a folder it refuses (too large, not a model) does not evict it."""
        with self._lock:
            if self._key == key:
                return self._value
            if check is not None:
                check()
            self._key = self._value = None
            release_memory()
            value = load()
            self._key, self._value = key, value
            return value

    def clear(self) -> None:
        with self._lock:
            self._key = self._value = None
            release_memory()

    @property
    def key(self) -> tuple | None:
        return self._key

    def handle(self, key: tuple, load: Callable[[], object], check: Callable[[], None] | None = None) -> Held:
        """Load (or find) the model now, so that errors come here; then hand out a :class:`Held` for it."""
        self.get(key, load, check)
        return Held(self, key, load)


class Held:
    """What a session keeps of a slot's model: the way to it, not the model. A page's globals outlive its run
    (a fragment's function keeps them until the session's next full run, and a closed tab's session lives on for
    minutes), so a session that kept the model itself would keep it after the slot let it go; one Held per
    session keeps nothing. Every attribute is read from the slot's model, which is loaded again if another folder
    took the slot meanwhile."""

    __slots__ = ("_slot", "_key", "_load")

    def __init__(self, slot: ModelSlot, key: tuple, load: Callable[[], object]):
        self._slot, self._key, self._load = slot, key, load

    def __getattr__(self, name: str):
        return getattr(self._slot.get(self._key, self._load), name)

    def __repr__(self) -> str:
        return f"Held({self._key!r})"
