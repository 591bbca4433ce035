"""A checkpoint's weights as one static file the browser fetches once and caches: the input of ui/live/forward.js.

The file is JSON: ``{"format": 1, "architecture": "miniformer" | "full", "model_args": {...}, "vocab": [...],
"tensors": {state_dict name: [offset, shape]}, "data": base64 of every tensor's float32 values (little-endian,
one after another)}``. Float32 is what the model holds, so nothing is rounded; base64 inside JSON keeps it to one
request (MiniFormer ~45 KB, the FullTransformer ~0.9 MB).

Files go to ``static/weights/`` (git-ignored, served by Streamlit at ``/app/static/weights/``), named by a hash of
their own content: a retrained checkpoint gets a new name, so a browser may cache a name forever and never shows
stale weights. :func:`publish` writes a file once (atomically) and is called by the page with the checkpoint's
mtime in its cache key (ui/live_views.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from models import registry
from models.checkpoint import ModelBundle

REPO_DIR = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = REPO_DIR / "static" / "weights"
URL_PREFIX = "app/static/weights/"  # relative to the app's base URL (works under a baseUrlPath too)
FORMAT = 1


def browser_architectures() -> dict[str, type]:
    """The architectures ui/live/forward.js implements (its ARCHITECTURES), by model class: the registry's rows
    marked ``runs_in_browser``. A checkpoint of any other class — a future architecture, a subclass that changes the
    forward — takes the server path."""
    return {s.architecture: s.model_class for s in registry.MODELS if s.runs_in_browser}


def runs_in_browser(bundle: ModelBundle) -> bool:
    """Whether ui/live/forward.js computes exactly what this bundle's PyTorch model computes."""
    cls = browser_architectures().get(bundle.architecture)
    return cls is not None and type(bundle.model) is cls


def weights_file(bundle: ModelBundle) -> bytes:
    """The JSON file's bytes (see the module docstring). Raises ValueError for an architecture the browser can't run."""
    if not runs_in_browser(bundle):
        raise ValueError(
            f"{bundle.name!r} ({type(bundle.model).__name__}) has no browser forward; "
            f"expected one of {sorted(browser_architectures())}"
        )
    tensors, chunks, offset = {}, [], 0
    for name, t in bundle.model.state_dict().items():
        values = t.detach().to("cpu", torch.float32).contiguous()
        tensors[name] = [offset, list(values.shape)]
        chunks.append(values.numpy().astype("<f4").tobytes())
        offset += values.numel()
    doc = {
        "format": FORMAT,
        "architecture": bundle.architecture,
        "model_args": _args(bundle),
        "vocab": list(bundle.vocab.itos),
        "tensors": tensors,
        "data": base64.b64encode(b"".join(chunks)).decode("ascii"),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _args(bundle: ModelBundle) -> dict:
    import dataclasses

    return dataclasses.asdict(bundle.cfg)


def publish(bundle: ModelBundle, folder: Path = WEIGHTS_DIR) -> str:
    """Write the bundle's weights file into ``folder`` unless it is there already; return its URL path relative to
    the app's base URL (``app/static/weights/<name>-<hash>.json``)."""
    return _write(_safe(bundle.name), weights_file(bundle), folder)


def publish_json(stem: str, doc: dict, folder: Path = WEIGHTS_DIR) -> str:
    """Any JSON the views fetch once per page view rather than receive on every rerun (BertViz's templates, made
    once per model and language by ui/live_views.py), written as :func:`publish` writes weights: named by its
    content, so a browser may cache it for good. Returns its URL path relative to the app's base URL."""
    return _write(_safe(stem), json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), folder)


def publish_script(stem: str, source: str, folder: Path = WEIGHTS_DIR) -> str:
    """A script the page fetches once per page view (the live views' module, ui/live_views.py) instead of receiving
    its text with every rerun, written as :func:`publish` writes weights: named by its content. Returns its URL path
    relative to the app's base URL."""
    return _write(_safe(stem), source.encode(), folder, suffix=".js")


def _write(stem: str, data: bytes, folder: Path, suffix: str = ".json") -> str:
    fname = f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    path = Path(folder) / fname
    if not path.is_file() or path.stat().st_size != len(data):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic: a browser never fetches half a file
    return URL_PREFIX + fname


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "model"


if __name__ == "__main__":  # python -m services.browser_weights NAME...: write the files, print the paths
    from models.checkpoint import load_checkpoint

    for n in sys.argv[1:]:
        print(publish(load_checkpoint(n)))
