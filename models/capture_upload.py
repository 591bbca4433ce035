"""An uploaded attention JSON back as an :class:`~models.capture.AttentionCapture`, checked before any view draws it.

Reads the two formats :meth:`AttentionCapture.to_json` and the seed notebook write: one layer,
``{"tokens": [...], "attentions": [[Q x K] per head]}``, or all, ``{"all": [layers][heads][Q][K], "tokens": [...]}``.
Every file that can't be shown gets a :class:`CaptureImportError` saying what is wrong, never a traceback or a
frozen browser tab.
"""

from __future__ import annotations

import json

import torch

from models.capture import AttentionCapture
from models.messages import N_, Message, MessageError

# What the views can draw, so a hostile or mistaken file gets a message instead of a frozen browser tab (BertViz's
# model view draws one SVG line per weight of every layer and head; a 130 KB file with 5,000 heads froze the tab
# for minutes). The largest shipped model, the FullTransformer, has 2 layers x 4 heads over at most 48 tokens.
MAX_JSON_BYTES = 5_000_000  # checked before parsing
MAX_JSON_LAYERS = 24  # layers per file (BERT-large has 24)
MAX_JSON_HEADS = 16  # heads per layer (BERT-large has 16; BertViz's colour scheme holds 10 apart)
MAX_JSON_TOKENS = 256  # tokens in the sequence
MAX_TOKEN_CHARS = 32  # characters in one token (ticks, BertViz's labels)
# layers x heads x Q x K: one SVG line each in BertViz's model view. Measured in Chromium on the 2-core dev machine:
# 93k weights draw in 1.4 s, 197k in 6.3 s; the FullTransformer's largest view (48 tokens) has 18k.
MAX_JSON_WEIGHTS = 100_000
# Rows of a softmax sum to 1. A file written with 4 decimals has rows summing to 0.988-1.012 (32 rounded weights);
# rows within this tolerance are accepted and renormalised to sum to exactly 1 (the capture says so in its notes).
ROW_SUM_TOLERANCE = 2e-2
_FORMAT_HINT = N_(
    'Expected {{"tokens": [...], "attentions": [[...]]}} or {{"all": [...], "tokens": [...]}} '
    "— the formats Attention Lab and the original notebook export."
)


class CaptureImportError(MessageError, ValueError):
    """An uploaded attention JSON that cannot be shown; the message says what is wrong."""


def _parse_json(raw: str | bytes):
    """JSON text or bytes -> Python object; every way parsing can fail becomes a CaptureImportError."""
    size = len(raw)  # bytes, or characters of a str (each at least one byte)
    if size > MAX_JSON_BYTES:
        raise CaptureImportError(
            N_("The file is {size:.1f} MB; the limit is {limit:.0f} MB."), size=size / 1e6, limit=MAX_JSON_BYTES / 1e6
        )
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")  # a UTF-8 byte-order mark (Windows editors write one) is fine
        except UnicodeDecodeError:
            raise CaptureImportError(
                N_("The file is not UTF-8 text; upload the .json the app or the notebook exported.")
            ) from None
    raw = raw.removeprefix("\ufeff")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise CaptureImportError(
            N_("The file is not valid JSON ({why} at line {line}, column {column})."),
            why=e.msg,
            line=e.lineno,
            column=e.colno,
        ) from None
    except RecursionError:
        raise CaptureImportError(
            N_(
                "The file nests lists or objects too deeply to be attention weights "
                "(expected [layers][heads][query][key])."
            )
        ) from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits (Python's int_max_str_digits)
        raise CaptureImportError(N_("A number in the file can't be read: {why}"), why=str(e)) from None


def _nested_len(x, depth: int) -> list[int]:
    """Lengths of the first list at each of ``depth`` levels (just enough to bound sizes before converting)."""
    out = []
    for _ in range(depth):
        if not isinstance(x, list):
            break
        out.append(len(x))
        x = x[0] if x else None
    return out


def from_json(raw: str | bytes, name: str = "uploaded") -> AttentionCapture:
    """Read either notebook format back into a capture (no logits). Raises :class:`CaptureImportError` with a
    message that says what is wrong for any input: bad encoding or JSON, the wrong structure, sizes beyond what the
    views can draw (the ``MAX_JSON_*`` bounds), values that are not probabilities. Rows must sum to 1 within
    ``ROW_SUM_TOLERANCE``; they are renormalised to 1 exactly."""
    data = _parse_json(raw)
    if not isinstance(data, dict) or "tokens" not in data or not ({"all", "attentions"} & data.keys()):
        raise CaptureImportError(_FORMAT_HINT)
    tokens = data["tokens"]
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise CaptureImportError(N_('"tokens" must be a non-empty list of strings.'))
    if len(tokens) > MAX_JSON_TOKENS:
        raise CaptureImportError(
            N_("{n:,} tokens; at most {limit} can be shown."), n=len(tokens), limit=MAX_JSON_TOKENS
        )
    longest = max(len(t) for t in tokens)
    if longest > MAX_TOKEN_CHARS:
        raise CaptureImportError(
            N_("A token is {n:,} characters long; tokens of at most {limit} characters can be shown."),
            n=longest,
            limit=MAX_TOKEN_CHARS,
        )
    layers = data["all"] if "all" in data else [data["attentions"]]
    if not isinstance(layers, list) or not layers:
        raise CaptureImportError(N_('"all" must be a non-empty list of layers.'))
    if len(layers) > MAX_JSON_LAYERS:
        raise CaptureImportError(
            N_("{n:,} layers; at most {limit} can be shown."), n=len(layers), limit=MAX_JSON_LAYERS
        )
    Q = K = len(tokens)
    n_weights = 0
    for l, layer in enumerate(layers):
        dims = _nested_len(layer, 3)
        heads = dims[0] if len(dims) == 3 else 1  # a single head may be written without the head axis
        if heads > MAX_JSON_HEADS:
            raise CaptureImportError(
                N_("Layer {layer} has {n:,} heads; at most {limit} can be shown."),
                layer=l,
                n=heads,
                limit=MAX_JSON_HEADS,
            )
        n_weights += heads * Q * K
    if n_weights > MAX_JSON_WEIGHTS:
        raise CaptureImportError(
            N_(
                "{layers} layer(s) of heads over {tokens} tokens hold {n:,} weights; at most "
                "{limit:,} can be drawn. Export fewer layers or a shorter text."
            ),
            layers=len(layers),
            tokens=Q,
            n=n_weights,
            limit=MAX_JSON_WEIGHTS,
        )
    patterns, notes = {}, []
    for l, layer in enumerate(layers):
        try:
            t = torch.tensor(layer, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError, OverflowError) as e:
            raise CaptureImportError(
                N_("Layer {layer}: attention values must be nested lists of numbers ({why})."), layer=l, why=str(e)
            ) from None
        if t.dim() == 2:  # a single head written without the head axis
            t = t.unsqueeze(0)
        if t.dim() != 3 or t.shape[1:] != (Q, K) or t.shape[0] < 1:
            raise CaptureImportError(
                N_("Layer {layer} has shape {shape}; expected (heads, {q}, {k}) to match the {k} tokens."),
                layer=l,
                shape=tuple(t.shape),
                q=Q,
                k=K,
            )
        if not torch.isfinite(t).all() or (t < 0).any() or (t > 1 + ROW_SUM_TOLERANCE).any():
            raise CaptureImportError(
                N_("Layer {layer} has values outside [0, 1]; attention weights are probabilities."), layer=l
            )
        rows = t.sum(-1)  # (H, Q)
        if ((rows - 1).abs() > ROW_SUM_TOLERANCE).any():
            raise CaptureImportError(
                N_("Layer {layer}: each row must sum to 1 (within {tol:g}); found sums from {lo:.3f} to {hi:.3f}."),
                layer=l,
                tol=ROW_SUM_TOLERANCE,
                lo=float(rows.min()),
                hi=float(rows.max()),
            )
        if ((rows - 1).abs() > 1e-6).any():
            notes.append(
                Message(
                    N_(
                        "Layer {layer}: rows summed to {lo:.4f}–{hi:.4f} (rounded weights); shown "
                        "renormalised to sum to 1."
                    ),
                    layer=l,
                    lo=float(rows.min()),
                    hi=float(rows.max()),
                )
            )
        patterns[f"blocks.{l}.attn.hook_pattern"] = (t / rows.unsqueeze(-1)).unsqueeze(0)  # (1, H, Q, K)
    if len({p.shape[1] for p in patterns.values()}) > 1:
        raise CaptureImportError(N_("Every layer must have the same number of heads."))
    causal = all(bool(torch.all(p[0].triu(1) == 0)) for p in patterns.values())
    return AttentionCapture(
        model_name=name,
        src_tokens=(),
        tgt_tokens=tuple(tokens),
        patterns=patterns,
        logits=None,
        causal=causal,
        notes=tuple(notes),
    )
