"""One attention-capture contract that every view in the lab reads.

``capture(bundle, text)`` runs one forward pass in eval mode under ``torch.inference_mode()`` and returns an
:class:`AttentionCapture`: tokens, logits and every post-softmax pattern as (1, H, Q, K) cpu float32 tensors named
TransformerLens-style (``blocks.0.attn.hook_pattern``, ``encoder.{l}.attn.hook_pattern``,
``decoder.{l}.attn.hook_pattern``, ``decoder.{l}.cross_attn.hook_pattern``). Nothing is written to the model:
models are shared by every browser session.

JSON import/export speaks the seed notebook's two formats:
``{"tokens": [...], "attentions": [[Q x K] per head]}`` (one layer) and ``{"all": [layers][heads][Q][K], "tokens": [...]}``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import torch

from models.checkpoint import ModelBundle
from models.messages import N_, Message, MessageError

JSON_FORMATS = ("all", "layer")
PATTERN_FAMILIES = ("encoder", "decoder", "cross")
# What the views can draw, so a hostile or mistaken file gets a message instead of a frozen browser tab (BertViz's
# model view draws one SVG line per weight of every layer and head; a 130 KB file with 5,000 heads froze the tab
# for minutes). The largest shipped model, the FullTransformer, has 2 layers x 4 heads over at most 48 tokens.
MAX_JSON_BYTES = 5_000_000      # checked before parsing
MAX_JSON_LAYERS = 24            # layers per file (BERT-large has 24)
MAX_JSON_HEADS = 16             # heads per layer (BERT-large has 16; BertViz's colour scheme holds 10 apart)
MAX_JSON_TOKENS = 256           # tokens in the sequence
MAX_TOKEN_CHARS = 32            # characters in one token (ticks, BertViz's labels)
# layers x heads x Q x K: one SVG line each in BertViz's model view. Measured in Chromium on the 2-core dev machine:
# 93k weights draw in 1.4 s, 197k in 6.3 s; the FullTransformer's largest view (48 tokens) has 18k.
MAX_JSON_WEIGHTS = 100_000
# Rows of a softmax sum to 1. A file written with 4 decimals has rows summing to 0.988-1.012 (32 rounded weights);
# rows within this tolerance are accepted and renormalised to sum to exactly 1 (the capture says so in its notes).
ROW_SUM_TOLERANCE = 2e-2
_FORMAT_HINT = N_('Expected {{"tokens": [...], "attentions": [[...]]}} or {{"all": [...], "tokens": [...]}} '
                  "— the formats Attention Lab and the original notebook export.")
_NAME_RE = re.compile(r"^(blocks|encoder|decoder)\.(\d+)\.(attn|cross_attn)\.hook_pattern$")


class CaptureImportError(MessageError, ValueError):
    """An uploaded attention JSON that cannot be shown; the message says what is wrong."""


@dataclass(frozen=True)
class AttentionCapture:
    model_name: str
    src_tokens: tuple[str, ...]            # enc-dec source; () for MiniFormer
    tgt_tokens: tuple[str, ...]            # decoder / causal tokens = query rows of every self-attn pattern
    patterns: dict[str, torch.Tensor]      # TL name -> (1, H, Q, K) cpu float32 detached
    logits: torch.Tensor | None            # (1, T, V); None for an imported JSON
    causal: bool = True                    # self-attention rows only see keys <= their own position
    peeking: bool = False                  # the enc-dec variant whose encoder / cross-attention see the future
    vocab: tuple[str, ...] = ()            # itos, to label logits
    unknown: tuple[str, ...] = ()          # typed characters that became <UNK>
    lowercased: bool = False
    truncated: int = 0                     # characters dropped from the front to fit the context
    notes: tuple[Message, ...] = field(default=())    # what happened to the input; ui.i18n.render shows each
    # Heads knocked out in the forward pass that made this capture, as sorted (attention module, head) pairs, e.g.
    # (("decoder.0.cross_attn", 2),); () = none. The patterns of a knocked-out head are still what it computed.
    knocked_out: tuple[tuple[str, int], ...] = ()
    # Asked for (capture(..., qkv=True)): every attention's q, k, v (1, H, T, hs) and masked scores (1, H, Q, K), by
    # TL hook name ("blocks.0.attn.hook_q", "decoder.0.cross_attn.hook_attn_scores"); empty otherwise.
    qkv: dict[str, torch.Tensor] = field(default_factory=dict)

    # ---- structure -------------------------------------------------------------------------------------------
    @property
    def is_seq2seq(self) -> bool:
        return bool(self.src_tokens)

    def names(self, family: str | None = None) -> list[str]:
        """Pattern names of one family ('blocks', 'encoder', 'decoder', 'cross') in layer order, or all of them."""
        def key(n):
            m = _NAME_RE.match(n)
            return (("blocks", "encoder", "decoder").index(m[1]), int(m[2]), m[3])
        out = sorted(self.patterns, key=key)
        if family is None:
            return out
        if family == "cross":
            return [n for n in out if ".cross_attn." in n]
        return [n for n in out if n.startswith(family + ".") and ".cross_attn." not in n]

    def families(self) -> list[str]:
        """Pattern families present: ['blocks'] for a causal LM, encoder / decoder / cross for the enc-dec."""
        return ["encoder", "decoder", "cross"] if self.is_seq2seq else ["blocks"]

    def square_families(self) -> list[str]:
        """Families whose queries and keys are the same tokens (what the notebook JSON formats can hold)."""
        return [k for k in self.families() if k != "cross"]

    def family_of(self, name: str) -> tuple[str, int]:
        """(family, layer index within that family) of one pattern: 'decoder.1.cross_attn...' -> ('cross', 1)."""
        m = _NAME_RE.match(name)
        if m is None or name not in self.patterns:
            raise KeyError(f"{name!r} is not one of this capture's patterns: {self.names()}")
        family = "cross" if m[3] == "cross_attn" else m[1]
        return family, self.names(family).index(name)

    def axes(self, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(query tokens, key tokens) of one pattern."""
        if name.startswith("encoder."):
            return self.src_tokens, self.src_tokens
        if ".cross_attn." in name:
            return self.tgt_tokens, self.src_tokens
        return self.tgt_tokens, self.tgt_tokens

    def is_masked_causal(self, name: str) -> bool:
        """Whether this pattern's keys are limited to positions <= the query's (decoder self-attn always is)."""
        if name.startswith("decoder.") and ".cross_attn." not in name:
            return True
        return self.causal and not self.peeking

    def hf_tuples(self) -> dict[str, tuple[torch.Tensor, ...]]:
        if not self.is_seq2seq:
            return {"attentions": tuple(self.patterns[n] for n in self.names("blocks"))}
        return {"encoder_attentions": tuple(self.patterns[n] for n in self.names("encoder")),
                "decoder_attentions": tuple(self.patterns[n] for n in self.names("decoder")),
                "cross_attentions": tuple(self.patterns[n] for n in self.names("cross"))}

    def bertviz_kwargs(self) -> dict:
        t = self.hf_tuples()
        if not self.is_seq2seq:
            return {"attention": t["attentions"], "tokens": list(self.tgt_tokens)}
        return {"encoder_attention": t["encoder_attentions"], "decoder_attention": t["decoder_attentions"],
                "cross_attention": t["cross_attentions"], "encoder_tokens": list(self.src_tokens),
                "decoder_tokens": list(self.tgt_tokens)}

    def is_knocked_out(self, name: str, head: int) -> bool:
        """Whether ``head`` of pattern ``name`` (``...hook_pattern`` or the module name) was knocked out."""
        return (name.removesuffix(".hook_pattern"), head) in self.knocked_out

    def next_token_logits(self) -> torch.Tensor | None:
        """(V,) logits for the token after the last one, or None for an imported capture."""
        return None if self.logits is None else self.logits[0, -1]

    # ---- JSON ------------------------------------------------------------------------------------------------
    def to_json(self, fmt: str = "all", family: str | None = None, layer: int = 0) -> str:
        """Export one family of patterns ('blocks' / 'encoder' / 'decoder' / 'cross') in a notebook format."""
        if fmt not in JSON_FORMATS:
            raise ValueError(f"fmt must be one of {JSON_FORMATS}")
        family = family or self.families()[0]
        names = self.names(family)
        if not names:
            raise ValueError(f"this capture has no {family!r} patterns; it has {self.families()}")
        q_tok, k_tok = self.axes(names[0])
        if q_tok != k_tok:
            raise ValueError("the notebook's JSON formats hold one token list, so only self-attention (square) "
                             "patterns can be exported; cross-attention has separate query and key tokens")
        rnd = lambda t: [[[round(float(x), 6) for x in row] for row in head] for head in t[0].tolist()]
        if fmt == "layer":
            if not 0 <= layer < len(names):
                raise ValueError(f"layer {layer} out of range: {family} has {len(names)} layer(s)")
            data = {"tokens": list(k_tok), "attentions": rnd(self.patterns[names[layer]])}
        else:
            data = {"all": [rnd(self.patterns[n]) for n in names], "tokens": list(k_tok)}
        data["model"] = self.model_name
        data["kind"] = family           # the file's key for the family, as files already exported have it
        return json.dumps(data)


def _parse_json(raw: str | bytes):
    """JSON text or bytes -> Python object; every way parsing can fail becomes a CaptureImportError."""
    size = len(raw)                     # bytes, or characters of a str (each at least one byte)
    if size > MAX_JSON_BYTES:
        raise CaptureImportError(N_("The file is {size:.1f} MB; the limit is {limit:.0f} MB."),
                                 size=size / 1e6, limit=MAX_JSON_BYTES / 1e6)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")      # a UTF-8 byte-order mark (Windows editors write one) is fine
        except UnicodeDecodeError:
            raise CaptureImportError(N_("The file is not UTF-8 text; upload the .json the app or the notebook "
                                        "exported.")) from None
    raw = raw.removeprefix("\ufeff")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise CaptureImportError(N_("The file is not valid JSON ({why} at line {line}, column {column})."),
                                 why=e.msg, line=e.lineno, column=e.colno) from None
    except RecursionError:
        raise CaptureImportError(N_("The file nests lists or objects too deeply to be attention weights "
                                    "(expected [layers][heads][query][key]).")) from None
    except ValueError as e:       # e.g. an integer of more than 4300 digits (Python's int_max_str_digits)
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
        raise CaptureImportError(N_("{n:,} tokens; at most {limit} can be shown."), n=len(tokens),
                                 limit=MAX_JSON_TOKENS)
    longest = max(len(t) for t in tokens)
    if longest > MAX_TOKEN_CHARS:
        raise CaptureImportError(N_("A token is {n:,} characters long; tokens of at most {limit} characters can be "
                                    "shown."), n=longest, limit=MAX_TOKEN_CHARS)
    layers = data["all"] if "all" in data else [data["attentions"]]
    if not isinstance(layers, list) or not layers:
        raise CaptureImportError(N_('"all" must be a non-empty list of layers.'))
    if len(layers) > MAX_JSON_LAYERS:
        raise CaptureImportError(N_("{n:,} layers; at most {limit} can be shown."), n=len(layers),
                                 limit=MAX_JSON_LAYERS)
    Q = K = len(tokens)
    n_weights = 0
    for l, layer in enumerate(layers):
        dims = _nested_len(layer, 3)
        heads = dims[0] if len(dims) == 3 else 1          # a single head may be written without the head axis
        if heads > MAX_JSON_HEADS:
            raise CaptureImportError(N_("Layer {layer} has {n:,} heads; at most {limit} can be shown."),
                                     layer=l, n=heads, limit=MAX_JSON_HEADS)
        n_weights += heads * Q * K
    if n_weights > MAX_JSON_WEIGHTS:
        raise CaptureImportError(N_("{layers} layer(s) of heads over {tokens} tokens hold {n:,} weights; at most "
                                    "{limit:,} can be drawn. Export fewer layers or a shorter text."),
                                 layers=len(layers), tokens=Q, n=n_weights, limit=MAX_JSON_WEIGHTS)
    patterns, notes = {}, []
    for l, layer in enumerate(layers):
        try:
            t = torch.tensor(layer, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError, OverflowError) as e:
            raise CaptureImportError(N_("Layer {layer}: attention values must be nested lists of numbers ({why})."),
                                     layer=l, why=str(e)) from None
        if t.dim() == 2:          # a single head written without the head axis
            t = t.unsqueeze(0)
        if t.dim() != 3 or t.shape[1:] != (Q, K) or t.shape[0] < 1:
            raise CaptureImportError(N_("Layer {layer} has shape {shape}; expected (heads, {q}, {k}) to match the {k} "
                                        "tokens."), layer=l, shape=tuple(t.shape), q=Q, k=K)
        if not torch.isfinite(t).all() or (t < 0).any() or (t > 1 + ROW_SUM_TOLERANCE).any():
            raise CaptureImportError(N_("Layer {layer} has values outside [0, 1]; attention weights are "
                                        "probabilities."), layer=l)
        rows = t.sum(-1)                                                            # (H, Q)
        if ((rows - 1).abs() > ROW_SUM_TOLERANCE).any():
            raise CaptureImportError(N_("Layer {layer}: each row must sum to 1 (within {tol:g}); found sums from "
                                        "{lo:.3f} to {hi:.3f}."),
                                     layer=l, tol=ROW_SUM_TOLERANCE, lo=float(rows.min()), hi=float(rows.max()))
        if ((rows - 1).abs() > 1e-6).any():
            notes.append(Message(N_("Layer {layer}: rows summed to {lo:.4f}–{hi:.4f} (rounded weights); shown "
                                    "renormalised to sum to 1."), layer=l, lo=float(rows.min()), hi=float(rows.max())))
        patterns[f"blocks.{l}.attn.hook_pattern"] = (t / rows.unsqueeze(-1)).unsqueeze(0)   # (1, H, Q, K)
    if len({p.shape[1] for p in patterns.values()}) > 1:
        raise CaptureImportError(N_("Every layer must have the same number of heads."))
    causal = all(bool(torch.all(p[0].triu(1) == 0)) for p in patterns.values())
    return AttentionCapture(model_name=name, src_tokens=(), tgt_tokens=tuple(tokens), patterns=patterns,
                            logits=None, causal=causal, notes=tuple(notes))


def quoted(chars) -> str:
    """Characters as the user can see them, each quoted ('ñ' '!')."""
    return " ".join(repr(c) for c in chars)


def romanized_note(pairs) -> Message:
    """The note for Japanese written in romaji: "ねこ → neko" for each converted run."""
    return Message(N_("{words}: the models know only the letters a–z, so Japanese is written in romaji."),
                   words=", ".join(f"{typed} → {read}" for typed, read in pairs))


def _encode_for(bundle: ModelBundle, text: str, add_eos: bool):
    return bundle.vocab.encode(text, add_eos=add_eos, max_len=bundle.block_size)


def head_mask_tensors(model, knocked_out, device=None) -> dict[str, torch.Tensor]:
    """``knocked_out`` (attention module, head) pairs -> the ``head_mask`` argument of a model's forward: one (H,)
    tensor of ones per named module, 0 at each knocked-out head. Built per call, never stored on the model."""
    masks: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    for module, head in knocked_out:
        if module not in modules or not hasattr(modules[module], "n_head"):
            raise ValueError(f"{module!r} is not an attention module of this model")
        n_head = modules[module].n_head
        if not 0 <= head < n_head:
            raise ValueError(f"{module} has heads 0..{n_head - 1}; there is no head {head}")
        masks.setdefault(module, torch.ones(n_head, device=device))[head] = 0.0
    return masks


def capture(bundle: ModelBundle, text: str, src: str = "", *, add_eos: bool = False,
            knocked_out=(), qkv: bool = False) -> AttentionCapture:
    """Run ``bundle`` on ``text`` (decoder / causal side) and ``src`` (enc-dec source; default: ``text``, the
    training convention) and return every attention pattern. ``add_eos`` treats the text as a finished word.
    ``knocked_out``: (attention module, head) pairs whose output is multiplied by 0 in this forward pass.
    ``qkv``: also keep every attention's q, k, v and masked scores (:attr:`AttentionCapture.qkv`)."""
    model, vocab = bundle.model, bundle.vocab
    knocked_out = tuple(sorted(set((str(m), int(h)) for m, h in knocked_out)))
    tgt = _encode_for(bundle, text, add_eos)
    notes = []
    if tgt.romanized:
        notes.append(romanized_note(tgt.romanized))
    if tgt.unknown:
        notes.append(Message(N_("Not in the vocabulary, shown as <UNK>: {chars}."), chars=quoted(tgt.unknown)))
    if tgt.lowercased:
        notes.append(Message(N_("Uppercase letters were lowercased.")))
    if tgt.truncated:
        notes.append(Message(N_("Text is longer than the model's context of {context} tokens: showing the last {n} "
                                "characters."), context=bundle.block_size - 1, n=len(tgt.ids) - 1 - int(add_eos)))
    dev = bundle.device
    idx = torch.tensor([tgt.ids], device=dev)                                              # (1, T)
    src_enc = None
    if bundle.is_seq2seq:
        src_enc = tgt if not src or src == text else _encode_for(bundle, src, add_eos)
        if src_enc is not tgt and src_enc.romanized:
            notes.append(romanized_note(src_enc.romanized))
        if src_enc is not tgt and src_enc.unknown:
            notes.append(Message(N_("Source characters shown as <UNK>: {chars}."), chars=quoted(src_enc.unknown)))
    if model.training:   # a shared model is never toggled here; a loaded bundle is always in eval mode
        raise RuntimeError(f"model {bundle.name!r} is in training mode; capture only reads eval-mode models")
    with torch.inference_mode():
        kw = {"src": torch.tensor([src_enc.ids], device=dev)} if src_enc is not None else {}
        if knocked_out:
            kw["head_mask"] = head_mask_tensors(model, knocked_out, dev)
        out = model(idx, return_attention=True, return_qkv=qkv, **kw)
    cpu = lambda t: t.detach().to("cpu", torch.float32).clone()
    if bundle.is_seq2seq:
        patterns = {}
        for l, p in enumerate(out.encoder_attentions):
            patterns[f"encoder.{l}.attn.hook_pattern"] = cpu(p)
        for l, (p, c) in enumerate(zip(out.decoder_attentions, out.cross_attentions)):
            patterns[f"decoder.{l}.attn.hook_pattern"] = cpu(p)
            patterns[f"decoder.{l}.cross_attn.hook_pattern"] = cpu(c)
    else:
        patterns = {f"blocks.{l}.attn.hook_pattern": cpu(p) for l, p in enumerate(out.attentions)}
    return AttentionCapture(
        model_name=bundle.name, src_tokens=src_enc.tokens if src_enc is not None else (),
        tgt_tokens=tgt.tokens, patterns=patterns, logits=cpu(out.logits), causal=bool(model.causal),
        peeking=bundle.peeking, vocab=vocab.itos, unknown=tgt.unknown, lowercased=tgt.lowercased,
        truncated=tgt.truncated, notes=tuple(notes), knocked_out=knocked_out,
        qkv={n: cpu(t) for n, t in out.qkv.items()} if qkv else {})

