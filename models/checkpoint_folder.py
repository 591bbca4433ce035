"""Housekeeping in the checkpoint folders: claims on a name that several processes publish into, and the temp
files a killed write leaves behind. The folders are settings.py's, read at call time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import settings

TMP_RE = re.compile(r"^\..+\.pt\.[A-Za-z0-9_]+\.tmp$")  # atomic_write's mkstemp names: .<name>.pt.<random>.tmp
STALE_TMP_S = 60.0  # a live write takes well under a second; older temp files are a killed run's
# ---- claiming a name in the shared folder ------------------------------------------------------------------------
# Several app processes (a classroom behind nginx, or several machines on one volume) publish into one folder. A run
# claims its name before it starts with a claim file created with O_EXCL — atomic on one machine and on NFS v3+ —
# so two students pressing Train on the same name at the same instant can't both be told "saved" while one file
# silently replaces the other: the second sees the claim and takes the next free name.
CLAIM_STALE_S = 3600.0  # a claim older than this is a dead run's (runs are cut off long before: jobs.py)


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
            os.kill(info["pid"], 0)  # the app process that claimed it: gone means the claim is stale
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
                claim.unlink()  # a dead run's claim; one of the racers takes it over
            except FileNotFoundError:
                pass
            continue
        except OSError as e:
            raise FolderNotWritable(e.errno, e.strerror) from e
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"owner": owner, "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}, f)
        except OSError as e:  # a full disk: no room for even this much
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


def remove_stale_tmp(folders=None, min_age_s: float = STALE_TMP_S) -> list[Path]:
    """Delete the temp files :func:`atomic_write` leaves when its process is killed mid-write (its own naming only,
    regular files only, older than ``min_age_s`` so a write in progress elsewhere is left alone). The app calls it
    at start for the shipped and the user folder. Returns what was removed."""
    removed = []
    now = time.time()
    for folder in folders if folders is not None else (settings.shipped_ckpt_dir(), settings.user_ckpt_dir()):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            try:
                if (
                    TMP_RE.match(e.name)
                    and e.is_file(follow_symlinks=False)
                    and now - e.stat(follow_symlinks=False).st_mtime >= min_age_s
                ):
                    os.unlink(e.path)
                    removed.append(Path(e.path))
            except OSError:
                continue
    return removed
