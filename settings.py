"""Where Attention Lab keeps its files, and what the environment may change: one place, read at call time.

Every ``ATTENTION_LAB_*`` environment variable the app, the classroom server and the benchmarks read is named here
once, in :data:`SETTINGS` (its name, its default and what it does; docs/settings.md is the same table for
teachers), and read through one function below when it is used, never when a module is imported. So a test (or a
classroom server that starts its processes with another environment) changes a setting with
``monkeypatch.setenv`` / ``env=`` and every module follows, the training worker processes included (they inherit
the environment). Code elsewhere names a variable through its constant here (``settings.STORE_ENV``), never as a
string of its own (tests/test_settings.py checks it).

Nothing here imports the rest of the app: ``models/``, ``viz/``, ``services/`` and ``ui/`` all read it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default as a teacher would write it, and what it does."""

    name: str
    default: str
    what: str


# ---- the variables -------------------------------------------------------------------------------------------------
SHIPPED_CKPT_DIR_ENV = "ATTENTION_LAB_CKPT_DIR"
USER_CKPT_DIR_ENV = "ATTENTION_LAB_USER_CKPT_DIR"
CACHE_DIR_ENV = "ATTENTION_LAB_CACHE_DIR"
TRAIN_MAX_S_ENV = "ATTENTION_LAB_TRAIN_MAX_S"
BROWSER_PATH_ENV = "ATTENTION_LAB_BROWSER_PATH"
HF_MODEL_ENV = "ATTENTION_LAB_HF_MODEL"
MODELS_DIR_ENV = "ATTENTION_LAB_MODELS_DIR"
CLASSROOM_ENV = "ATTENTION_LAB_CLASSROOM"
HF_MAX_MB_ENV = "ATTENTION_LAB_HF_MAX_MB"
LM_PREFIX_MB_ENV = "ATTENTION_LAB_LM_PREFIX_MB"
STORE_ENV = "ATTENTION_LAB_STORE"
TEACHER_PIN_ENV = "ATTENTION_LAB_TEACHER_PIN"
PUBLIC_URL_ENV = "ATTENTION_LAB_PUBLIC_URL"
NGINX_ENV = "ATTENTION_LAB_NGINX"
MAX_CONN_PER_IP_ENV = "ATTENTION_LAB_MAX_CONN_PER_IP"
MAX_CONN_ENV = "ATTENTION_LAB_MAX_CONN"
CLASSROOM_DEBUG_ENV = "ATTENTION_LAB_CLASSROOM_DEBUG"
KALEIDO_BROWSER_ENV = "BROWSER_PATH"  # kaleido's own variable (not ours): the Chromium it renders PNGs with

DEFAULT_TRAIN_MAX_S = 600.0
DEFAULT_HF_MAX_MB = 1500  # GPT-2 medium (355 M parameters, 1.4 GB) fits; 1 B models do not
DEFAULT_LM_PREFIX_MB = 128  # SmolLM2: ~0.28 MB a token (its logits row is 0.2 MB) -> ~450 tokens
DEFAULT_MAX_CONN_PER_IP = 700  # a school's NAT is one address; a page in a class holds two connections
DEFAULT_MAX_CONN = 1500

SETTINGS: tuple[Setting, ...] = (
    Setting(SHIPPED_CKPT_DIR_ENV, "checkpoints/", "the shipped checkpoints' folder (the tests point it at tiny ones)"),
    Setting(USER_CKPT_DIR_ENV, "<checkpoints>/user", "models trained in the app; a classroom's processes share it"),
    Setting(CACHE_DIR_ENV, "$XDG_CACHE_HOME/attention-lab", "the real model's de-quantized weights, written once"),
    Setting(TRAIN_MAX_S_ENV, str(DEFAULT_TRAIN_MAX_S), "a training run's time limit, seconds"),
    Setting(BROWSER_PATH_ENV, "1", "0: Explore's and Compare's switch 'Compute in my browser' starts off"),
    Setting(HF_MODEL_ENV, "", "a local Hugging Face folder the Real model page opens by default"),
    Setting(MODELS_DIR_ENV, "", "the teacher's model folders (one sub-folder per model) students pick from"),
    Setting(CLASSROOM_ENV, "", "1: a classroom server; students pick the teacher's folders, never type a path"),
    Setting(HF_MAX_MB_ENV, str(DEFAULT_HF_MAX_MB), "the largest local model one process loads (float32 MB)"),
    Setting(LM_PREFIX_MB_ENV, str(DEFAULT_LM_PREFIX_MB), "the real model's prefix cache per process, MB (0: off)"),
    Setting(STORE_ENV, "data/classes.sqlite3", "the class store: a SQLite path, sqlite:///path or redis://host"),
    Setting(TEACHER_PIN_ENV, "", "set on a shared server: starting or taking over a class needs this PIN"),
    Setting(PUBLIC_URL_ENV, "", "the address students type, when the machine's own address is not it"),
    Setting(NGINX_ENV, "nginx on the PATH", "the nginx binary classroom.sh runs in front of its processes"),
    Setting(MAX_CONN_PER_IP_ENV, str(DEFAULT_MAX_CONN_PER_IP), "nginx: connections at once from one address"),
    Setting(MAX_CONN_ENV, str(DEFAULT_MAX_CONN), "nginx: connections at once in all"),
    Setting(CLASSROOM_DEBUG_ENV, "", "1: readable backend cookies and a backend header (tests, diagnosis)"),
    Setting(KALEIDO_BROWSER_ENV, "chromium on the PATH", "kaleido's variable: the Chromium that renders PNGs"),
)


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw) if raw else None


def _truthy(name: str) -> bool:
    return _raw(name).lower() in ("1", "true", "yes", "on")


def _number(name: str, default: float) -> float:
    """A number from the environment, else ``default`` (unset, or not a number)."""
    try:
        return float(_raw(name) or default)
    except ValueError:
        return default


# ---- folders -------------------------------------------------------------------------------------------------------
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


# ---- the pages -----------------------------------------------------------------------------------------------------
def browser_path_default() -> bool:
    """Whether Explore's and Compare's browser-path switch starts on: yes, unless :data:`BROWSER_PATH_ENV` is 0."""
    return _raw(BROWSER_PATH_ENV).lower() not in ("0", "false", "no", "off")


def hf_model() -> str:
    """The local model folder the Real model page opens by default (:data:`HF_MODEL_ENV`), or ``""``."""
    return _raw(HF_MODEL_ENV)


def models_dir() -> Path | None:
    """The folder of the teacher's model folders (:data:`MODELS_DIR_ENV`), or None (unset, or ``~nosuchuser``)."""
    raw = _raw(MODELS_DIR_ENV)
    try:
        return Path(raw).expanduser() if raw else None
    except RuntimeError:  # ~nosuchuser: no home to expand; the setting names no folder
        return None


def classroom() -> bool:
    """A classroom server (:data:`CLASSROOM_ENV`): students choose among the teacher's folders, never type a path."""
    return _truthy(CLASSROOM_ENV)


def hf_max_mb() -> float:
    """The largest local model one process may load, float32 MB (:data:`HF_MAX_MB_ENV`: a positive number)."""
    mb = _number(HF_MAX_MB_ENV, DEFAULT_HF_MAX_MB)
    return mb if mb > 0 else DEFAULT_HF_MAX_MB


def lm_prefix_mb() -> float:
    """The bound on a process's prefix cache of the real model's tokens, MB (:data:`LM_PREFIX_MB_ENV`; 0: off)."""
    return max(0.0, _number(LM_PREFIX_MB_ENV, DEFAULT_LM_PREFIX_MB))


def kaleido_browser() -> str:
    """The Chromium kaleido renders PNG exports with, when set in kaleido's own :data:`KALEIDO_BROWSER_ENV`."""
    return _raw(KALEIDO_BROWSER_ENV)


# ---- a class -------------------------------------------------------------------------------------------------------
def store() -> str:
    """Which class store (:data:`STORE_ENV`): empty (SQLite in data/), a path, ``sqlite:///path`` or ``redis://…``."""
    return _raw(STORE_ENV)


def teacher_pin() -> str:
    """The PIN that starting or taking over a class needs (:data:`TEACHER_PIN_ENV`), or ``""`` for none."""
    return os.environ.get(TEACHER_PIN_ENV, "")


def public_url() -> str:
    """The address students type (:data:`PUBLIC_URL_ENV`, without a trailing ``/``), or ``""``."""
    return os.environ.get(PUBLIC_URL_ENV, "").rstrip("/")


def nginx() -> str:
    """The nginx binary the classroom runs (:data:`NGINX_ENV`, else the one on the PATH, else Debian's)."""
    return _raw(NGINX_ENV) or shutil.which("nginx") or "/usr/sbin/nginx"


def max_conn_per_ip() -> int:
    """nginx's cap on connections at once from one address (:data:`MAX_CONN_PER_IP_ENV`)."""
    return int(_number(MAX_CONN_PER_IP_ENV, DEFAULT_MAX_CONN_PER_IP))


def max_conn() -> int:
    """nginx's cap on connections at once in all (:data:`MAX_CONN_ENV`)."""
    return int(_number(MAX_CONN_ENV, DEFAULT_MAX_CONN))


def classroom_debug() -> bool:
    """Readable backend cookies and an ``X-Attention-Lab-Backend`` header (:data:`CLASSROOM_DEBUG_ENV`, not 0)."""
    return _raw(CLASSROOM_DEBUG_ENV) not in ("", "0")
