"""Where a training run's result is saved: the name policy, who may replace a model, and the folder's state.

A user run publishes ``<user folder>/<name>.pt``; a name is normalized (:func:`normalize_name`), checked
(:func:`check_name`), and a taken one gets the first free suffix unless its owner asks to replace it
(:func:`publish_name`). Owners are hashes (:func:`owner_id`, :func:`browser_token`), never live session ids.
Claims on a name in the shared folder are models/checkpoint.py's; starting the run is services/jobs.py's.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import torch

import settings
from models import checkpoint_folder
from models.checkpoint import NAME_RE
from models.messages import N_, Message
from models.registry import shipped_names
from services.job_errors import ModelNameError

NAME_HELP = N_("1–40 characters: lowercase letters a–z, digits, '-' and '_', starting with a letter or digit")
MIN_FREE_BYTES = 8 << 20  # a MiniFormer checkpoint is ~0.1 MB; below 8 MB free the disk is as good as full


def folder_problem() -> str | None:
    """Why trained models can't be saved right now ("permission", "read-only", "full"), or None. Cheap (an access
    check and a statvfs), so a page can say so before a student guesses and presses Train; the claim at Train still
    checks the real write."""
    folder = settings.user_ckpt_dir()
    while not folder.exists() and folder != folder.parent:  # not made yet: its first existing parent decides
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return "permission"
    if st.f_flag & os.ST_RDONLY:
        return "read-only"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "permission"
    if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
        return "full"
    return None


# ---- names -----------------------------------------------------------------------------------------------------
def user_path(name: str) -> Path:
    return settings.user_ckpt_dir() / f"{name}.pt"


def shipped_path(name: str) -> Path:
    return settings.shipped_ckpt_dir() / f"{name}.pt"


def normalize_name(name: str) -> str:
    """What a typed name becomes: trimmed, lowercase, spaces as '-'."""
    return "-".join(name.strip().lower().split())


def check_name(name: str) -> str:
    """The normalized name, or :class:`ModelNameError` saying what to change."""
    n = normalize_name(name)
    if not n:
        raise ModelNameError(N_("Give the result a name ({rule}), e.g. my-miniformer."), rule=Message(NAME_HELP))
    if not NAME_RE.match(n):
        raise ModelNameError(
            N_("{name!r} can't be a model name: use {rule}, e.g. my-miniformer."), name=n, rule=Message(NAME_HELP)
        )
    if n in shipped_names():
        raise ModelNameError(
            N_(
                "{name!r} is a shipped model's name, and shipped models are never overwritten. "
                "Pick another name, e.g. my-{name}."
            ),
            name=n,
        )
    return n


def browser_token(xsrf_cookie: str, fallback: str) -> str:
    """A name for the browser, not the tab: Streamlit's XSRF cookie (``2|mask|masked token|time``) carries one random
    token per browser — every tab sends the same one, only the mask around it changes — so its hash names the
    student for the one-run-per-student limit. Without a readable cookie (AppTest, XSRF off) ``fallback`` (the
    session) stands in. Clearing cookies makes a new "browser"; the slots per process still bound that."""
    import binascii

    try:
        _v, mask, masked, _ts = xsrf_cookie.strip("\"'").split("|")
        m, t = binascii.a2b_hex(mask), binascii.a2b_hex(masked)
        token = bytes(b ^ m[i % len(m)] for i, b in enumerate(t)) if m and t else b""
    except (ValueError, binascii.Error):
        token = b""
    return hashlib.sha256(b"attention-lab-browser\0" + (token or fallback.encode())).hexdigest()[:16]


def owner_id(session_id: str) -> str:
    """The owner tag a session's models carry in their checkpoint (``meta["owner"]``): a hash, so no checkpoint
    holds a live session id."""
    return hashlib.sha256(f"attention-lab-owner\0{session_id}".encode()).hexdigest()[:16]


def may_replace(name: str, owner: str | None) -> bool:
    """Whether ``checkpoints/user/<name>.pt`` exists and was made by ``owner`` (an :func:`owner_id`). Only the
    session that made a model may replace it; a file without a readable owner belongs to nobody here."""
    path = user_path(name)
    try:
        if owner is None or not path.exists():
            return False
    except OSError:
        return False
    try:
        recorded = torch.load(path, map_location="cpu", weights_only=True).get("owner")
    except Exception:  # unreadable or not ours: never overwritten in place
        return False
    return recorded == owner


def taken(name: str) -> bool:
    """A saved model has this name, or a run (in any process sharing the folder) has claimed it."""
    path = user_path(name)
    try:
        return path.exists() or checkpoint_folder.claimed(path)
    except OSError:  # a folder this server may not even read: the claim at Train says so plainly
        return False


def publish_name(name: str, *, replace: bool = False, owner: str | None = None) -> tuple[str, Message | None]:
    """``(final name, note)``. A taken name is overwritten only with ``replace=True`` by the session that made that
    model (``owner``, see :func:`may_replace`); otherwise the result gets the first free suffix (``name-2``,
    ``name-3`` ...) and the note says so."""
    n = check_name(name)
    if not taken(n):
        return n, None
    mine = may_replace(n, owner)
    if replace and mine and not checkpoint_folder.claimed(user_path(n)):
        return n, Message(N_("Your existing model {name!r} will be replaced."), name=n)
    for i in itertools.count(2):
        cand = f"{n[: 40 - len(str(i)) - 1]}-{i}"
        if not taken(cand):
            return cand, Message(
                N_(
                    "A model called {name!r} already exists, so this one will be saved as {new!r} "
                    "(tick “replace” to overwrite it instead)."
                )
                if mine
                else N_(
                    "A model called {name!r} already exists, so this one will be saved as {new!r} "
                    "(it was made in another session, and only that session may replace it)."
                ),
                name=n,
                new=cand,
            )
    raise AssertionError("unreachable")


def suggest_name(model_name: str) -> str:
    """A free default name such as ``my-miniformer`` (or ``my-miniformer-2`` when taken)."""
    return publish_name(f"my-{model_name}")[0]
