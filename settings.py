"""Where Attention Lab keeps its files, and what the environment may change: one place, read at call time.

Every folder the app reads or writes, and every ``ATTENTION_LAB_*`` setting read below the UI, is a function here
that reads the environment when it is called, never when a module is imported. So a test (or a classroom server
that starts its processes with another environment) moves a folder with ``monkeypatch.setenv`` / ``env=`` and every
module follows, the training worker processes included (they inherit the environment).

Nothing here imports the rest of the app: ``models/``, ``services/`` and ``ui/`` all read it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent

SHIPPED_CKPT_DIR_ENV = "ATTENTION_LAB_CKPT_DIR"  # the shipped checkpoints (tests point it at tiny ones)
USER_CKPT_DIR_ENV = "ATTENTION_LAB_USER_CKPT_DIR"  # models trained in the app; git-ignored
CACHE_DIR_ENV = "ATTENTION_LAB_CACHE_DIR"  # the real model's de-quantized weights
TRAIN_MAX_S_ENV = "ATTENTION_LAB_TRAIN_MAX_S"  # a training run's time limit, seconds
DEFAULT_TRAIN_MAX_S = 600.0


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw) if raw else None


def shipped_ckpt_dir() -> Path:
    """The shipped checkpoints: ``checkpoints/`` in the repository, or :data:`SHIPPED_CKPT_DIR_ENV`."""
    return _env_path(SHIPPED_CKPT_DIR_ENV) or REPO_DIR / "checkpoints"


def user_ckpt_dir() -> Path:
    """Models trained in the app: :data:`USER_CKPT_DIR_ENV`, else ``user/`` inside :func:`shipped_ckpt_dir`. Several
    app processes (a classroom) share it."""
    return _env_path(USER_CKPT_DIR_ENV) or shipped_ckpt_dir() / "user"


def cache_dir() -> Path:
    """Where the real model's de-quantized weights are written once at first load: :data:`CACHE_DIR_ENV` (tests, a
    classroom server), else ``$XDG_CACHE_HOME/attention-lab`` or ``~/.cache/attention-lab``."""
    return _env_path(CACHE_DIR_ENV) or (_env_path("XDG_CACHE_HOME") or Path.home() / ".cache") / "attention-lab"


def train_max_s() -> float:
    """A training run's time limit in seconds (:data:`TRAIN_MAX_S_ENV`, else 600)."""
    return float(os.environ.get(TRAIN_MAX_S_ENV) or DEFAULT_TRAIN_MAX_S)
