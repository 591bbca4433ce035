"""One attention-capture contract that every view in the lab reads.

``capture(bundle, text)`` runs one forward pass in eval mode under ``torch.inference_mode()`` and returns an
:class:`AttentionCapture`: tokens, logits and every post-softmax pattern as (1, H, Q, K) cpu float32 tensors named
TransformerLens-style (``blocks.0.attn.hook_pattern``, ``encoder.{l}.attn.hook_pattern``,
``decoder.{l}.attn.hook_pattern``, ``decoder.{l}.cross_attn.hook_pattern``). Nothing is written to the model:
models are shared by every browser session.

JSON export (:meth:`AttentionCapture.to_json`) speaks the seed notebook's two formats:
``{"tokens": [...], "attentions": [[Q x K] per head]}`` (one layer) and
``{"all": [layers][heads][Q][K], "tokens": [...]}``.
models/capture_upload.py reads them back, checking an uploaded file before any view draws it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import torch

from models.checkpoint import ModelBundle
from models.messages import N_, Message

JSON_FORMATS = ("all", "layer")
PATTERN_FAMILIES = ("encoder", "decoder", "cross")
_NAME_RE = re.compile(r"^(blocks|encoder|decoder)\.(\d+)\.(attn|cross_attn)\.hook_pattern$")


@dataclass(frozen=True)
class AttentionCapture:
    model_name: str
    src_tokens: tuple[str, ...]  # enc-dec source; () for MiniFormer
    tgt_tokens: tuple[str, ...]  # decoder / causal tokens = query rows of every self-attn pattern
    patterns: dict[str, torch.Tensor]  # TL name -> (1, H, Q, K) cpu float32 detached
    logits: torch.Tensor | None  # (1, T, V); None for an imported JSON
    causal: bool = True  # self-attention rows only see keys <= their own position
    peeking: bool = False  # the enc-dec variant whose encoder / cross-attention see the future
    vocab: tuple[str, ...] = ()  # itos, to label logits
    unknown: tuple[str, ...] = ()  # typed characters that became <UNK>
    lowercased: bool = False
    truncated: int = 0  # characters dropped from the front to fit the context
    notes: tuple[Message, ...] = field(default=())  # what happened to the input; ui.i18n.render shows each
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
        return {
            "encoder_attentions": tuple(self.patterns[n] for n in self.names("encoder")),
            "decoder_attentions": tuple(self.patterns[n] for n in self.names("decoder")),
            "cross_attentions": tuple(self.patterns[n] for n in self.names("cross")),
        }

    def bertviz_kwargs(self) -> dict:
        t = self.hf_tuples()
        if not self.is_seq2seq:
            return {"attention": t["attentions"], "tokens": list(self.tgt_tokens)}
        return {
            "encoder_attention": t["encoder_attentions"],
            "decoder_attention": t["decoder_attentions"],
            "cross_attention": t["cross_attentions"],
            "encoder_tokens": list(self.src_tokens),
            "decoder_tokens": list(self.tgt_tokens),
        }

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
            raise ValueError(
                "the notebook's JSON formats hold one token list, so only self-attention (square) "
                "patterns can be exported; cross-attention has separate query and key tokens"
            )
        rnd = lambda t: [[[round(float(x), 6) for x in row] for row in head] for head in t[0].tolist()]
        if fmt == "layer":
            if not 0 <= layer < len(names):
                raise ValueError(f"layer {layer} out of range: {family} has {len(names)} layer(s)")
            data = {"tokens": list(k_tok), "attentions": rnd(self.patterns[names[layer]])}
        else:
            data = {"all": [rnd(self.patterns[n]) for n in names], "tokens": list(k_tok)}
        data["model"] = self.model_name
        data["kind"] = family  # the file's key for the family, as files already exported have it
        return json.dumps(data)


def quoted(chars) -> str:
    """Characters as the user can see them, each quoted ('ñ' '!')."""
    return " ".join(repr(c) for c in chars)


def romanized_note(pairs) -> Message:
    """The note for Japanese written in romaji: "ねこ → neko" for each converted run."""
    return Message(
        N_("{words}: the models know only the letters a–z, so Japanese is written in romaji."),
        words=", ".join(f"{typed} → {read}" for typed, read in pairs),
    )


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


def capture(
    bundle: ModelBundle, text: str, src: str = "", *, add_eos: bool = False, knocked_out=(), qkv: bool = False
) -> AttentionCapture:
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
        notes.append(
            Message(
                N_("Text is longer than the model's context of {context} tokens: showing the last {n} characters."),
                context=bundle.block_size - 1,
                n=len(tgt.ids) - 1 - int(add_eos),
            )
        )
    dev = bundle.device
    idx = torch.tensor([tgt.ids], device=dev)  # (1, T)
    src_enc = None
    if bundle.is_seq2seq:
        src_enc = tgt if not src or src == text else _encode_for(bundle, src, add_eos)
        if src_enc is not tgt and src_enc.romanized:
            notes.append(romanized_note(src_enc.romanized))
        if src_enc is not tgt and src_enc.unknown:
            notes.append(Message(N_("Source characters shown as <UNK>: {chars}."), chars=quoted(src_enc.unknown)))
    if model.training:  # a shared model is never toggled here; a loaded bundle is always in eval mode
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
        model_name=bundle.name,
        src_tokens=src_enc.tokens if src_enc is not None else (),
        tgt_tokens=tgt.tokens,
        patterns=patterns,
        logits=cpu(out.logits),
        causal=bool(model.causal),
        peeking=bundle.peeking,
        vocab=vocab.itos,
        unknown=tgt.unknown,
        lowercased=tgt.lowercased,
        truncated=tgt.truncated,
        notes=tuple(notes),
        knocked_out=knocked_out,
        qkv={n: cpu(t) for n, t in out.qkv.items()} if qkv else {},
    )
