"""Building blocks shared by both architectures, written out so every weight and pattern is visible.

References: Vaswani et al. 2017 (sinusoidal encoding, post-LN blocks); the annotated transformer
(harvardnlp); minGPT's CausalSelfAttention. Attention is computed explicitly — never SDPA, flash or
``nn.Transformer*`` — because those hide the pattern we want to show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn


def sinusoidal_encoding(block_size: int, n_embd: int) -> torch.Tensor:
    """(T, C) table: PE[t, 2i] = sin(t / 10000^(2i/C)), PE[t, 2i+1] = cos(...)."""
    pos = torch.arange(block_size, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    div = torch.exp(torch.arange(0, n_embd, 2, dtype=torch.float32) * (-math.log(10000.0) / n_embd))
    pe = torch.zeros(block_size, n_embd)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: n_embd // 2])
    return pe


def causal_mask(q_len: int, k_len: int | None = None, device=None) -> torch.Tensor:
    """Bool (Q, K): query q may read key k iff k <= q. True = visible."""
    k_len = q_len if k_len is None else k_len
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()


def additive_mask(mask: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """Bool mask (True = visible) -> the same shape of 0.0 (visible) / -inf (hidden), to add to attention scores.
    Adding it gives exactly what ``masked_fill(~mask, -inf)`` gives, with a float add in place of a bool kernel
    over the whole (B, H, Q, K) score tensor (several times slower on CPU)."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


@dataclass(frozen=True)
class Packing:
    """Training batches lay several words end to end in one row (``models.data.pack_pairs``) instead of padding
    each word to the longest. ``positions`` (R, T): each token's place in its own word, for the positional
    encoding; ``segments`` (R, T): which word of the row it belongs to. Attention never crosses words, so every
    word's logits are the ones it would get alone in a row."""

    positions: torch.Tensor
    segments: torch.Tensor

    def same_word(self) -> torch.Tensor:
        """(R, 1, T, T) bool: query t and key s belong to the same word (broadcasts over heads)."""
        s = self.segments
        return (s[:, :, None] == s[:, None, :]).unsqueeze(1)


def attention_scores(q, k, mask=None):  # q (B,H,Q,hs)  k (B,H,K,hs)  mask broadcastable to (B,H,Q,K)
    """Scaled, masked scores q·k/√hs, -inf where a key is hidden. ``mask``: bool (True = visible) or an
    ``additive_mask`` of 0 / -inf."""
    att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))  # (B, H, Q, K)
    if mask is not None:
        att = att + (additive_mask(mask, att.dtype) if mask.dtype == torch.bool else mask)
    return att  # (B, H, Q, K)


def attention_pattern(q, k, mask=None):  # q (B,H,Q,hs)  k (B,H,K,hs)  mask broadcastable to (B,H,Q,K)
    """Post-softmax attention (see :func:`attention_scores`)."""
    return attention_scores(q, k, mask).softmax(dim=-1)  # (B, H, Q, K), the captured tensor


class AttentionParts(NamedTuple):
    """What one attention sub-layer computed, named as TransformerLens hooks them. Returned by every call (they are
    references, no copies); a model collects them only when asked (``return_qkv``)."""

    q: torch.Tensor  # (B, H, Q, hs)  hook_q
    k: torch.Tensor  # (B, H, K, hs)  hook_k
    v: torch.Tensor  # (B, H, K, hs)  hook_v
    scores: torch.Tensor  # (B, H, Q, K)   hook_attn_scores: q·k/√hs, -inf where the mask hides a key
    pattern: torch.Tensor  # (B, H, Q, K)   hook_pattern: softmax of the scores, before dropout

    def hooks(self, module: str) -> dict[str, torch.Tensor]:
        """{"<module>.hook_q": q, ... "<module>.hook_attn_scores": scores} (the pattern goes with the attentions)."""
        return {
            f"{module}.hook_q": self.q,
            f"{module}.hook_k": self.k,
            f"{module}.hook_v": self.v,
            f"{module}.hook_attn_scores": self.scores,
        }


class Dropout(nn.Module):
    """Inverted dropout (same contract as ``nn.Dropout``: identity in eval mode or at p = 0, else zero each element
    with probability p and scale the rest by 1 / (1 - p)), with a cheaper mask on CPU: 16 random bits per element,
    four from each 64-bit draw, instead of ``bernoulli_``'s one draw per element, turned into the 0 / 1/(1-p)
    multiplier by integer arithmetic. Measured on the 2-core CI machine for a (128, 14, 32) tensor: 783 us for
    ``nn.functional.dropout`` (a quarter of a training step), 305 us with a bool mask, ~195 us as written here.
    p is rounded to a multiple of 1/65536 (0.1 -> 0.100006)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout={p} must be in [0, 1)")
        self.p = p
        self.cut = round(p * 65536)  # drop where the 16-bit draw (0..65535) is below this

    def forward(self, x):
        if not self.training or self.cut == 0:
            return x
        n = x.numel()
        bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), 2**63 - 1)
        r = bits.view(torch.int16)[:n].view(x.shape)  # uniform over -32768..32767, like x
        lo = self.cut - 32769  # r <= lo: dropped (probability cut / 65536)
        # clamp + subtract gives 0 (dropped) or 1 (kept) without a comparison: comparisons and bool -> float
        # conversions are 4-5x slower than integer arithmetic in torch's CPU kernels
        scale = r.clamp(lo, lo + 1).sub_(lo).to(x.dtype).mul_(65536.0 / (65536 - self.cut))
        return x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MultiHeadAttention(nn.Module):
    """Self- or cross-attention with separate q/k/v projections (cross-attention reads keys from ``memory``)."""

    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} not divisible by n_head={n_head}")
        self.n_head = n_head
        self.q_proj = nn.Linear(n_embd, n_embd)
        self.k_proj = nn.Linear(n_embd, n_embd)
        self.v_proj = nn.Linear(n_embd, n_embd)
        self.out_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H, T, hs)
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)

    def forward(
        self, x, memory=None, mask=None, head_mask=None
    ):  # x (B,Q,C)  memory (B,K,C) or None for self-attention
        """``head_mask`` (H,): each head's output is multiplied by it before the heads are concatenated and
        projected (Michel et al. 2019): 0 knocks a head out, 1 keeps it. The pattern itself is still computed and
        returned, so a view can show what the silenced head would have looked at. Returns the sub-layer's output
        (B, Q, C) and its :class:`AttentionParts`."""
        memory = x if memory is None else memory
        q, k, v = self._heads(self.q_proj(x)), self._heads(self.k_proj(memory)), self._heads(self.v_proj(memory))
        scores = attention_scores(q, k, mask)  # (B, H, Q, K)
        pattern = scores.softmax(dim=-1)  # (B, H, Q, K), pre-dropout: captured
        y = self.attn_dropout(pattern) @ v  # (B, H, Q, hs); dropout on our own copy
        B, H, Q, hs = y.shape
        if head_mask is not None:
            y = y * head_mask.to(y.dtype).view(1, H, 1, 1)  # (B, H, Q, hs), silenced heads 0
        y = y.transpose(1, 2).reshape(B, Q, H * hs)  # (B, Q, C)
        return self.out_proj(y), AttentionParts(q, k, v, scores, pattern)


def qkv_hooks(parts: dict[str, AttentionParts]) -> dict[str, torch.Tensor]:
    """{TL module name: AttentionParts} -> every module's q, k, v and scores under their hook names."""
    return {hook: t for module, p in parts.items() for hook, t in p.hooks(module).items()}


def validate_config(cfg, counts: tuple[str, ...]) -> None:
    """Checks both architectures' configs share: head split, even width for the sinusoidal table, positive
    counts, dropout range."""
    if cfg.n_embd % cfg.n_head:
        raise ValueError(f"n_embd={cfg.n_embd} not divisible by n_head={cfg.n_head}")
    if cfg.n_embd % 2:
        raise ValueError(f"n_embd={cfg.n_embd} must be even for the sinusoidal encoding")
    if min(getattr(cfg, c) for c in counts) < 1:
        raise ValueError(f"{', '.join(counts)} must all be >= 1")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"dropout={cfg.dropout} must be in [0, 1)")


class FeedForward(nn.Sequential):
    def __init__(self, n_embd: int, dim_ff: int, dropout: float):
        super().__init__(nn.Linear(n_embd, dim_ff), nn.ReLU(), Dropout(dropout), nn.Linear(dim_ff, n_embd))


class PostLNBlock(nn.Module):
    """Self-attention then FFN, post-LN as in the original Transformer: x = LN(x + attn(x)); x = LN(x + ffn(x)).
    MiniFormer's block and the FullTransformer's encoder block."""

    def __init__(self, n_embd: int, n_head: int, dim_ff: int, dropout: float):
        super().__init__()
        self.attn = MultiHeadAttention(n_embd, n_head, dropout)
        self.ln_1 = nn.LayerNorm(n_embd)
        self.ffn = FeedForward(n_embd, dim_ff, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.drop = Dropout(dropout)

    def forward(self, x, mask, head_mask=None):  # x (B, T, C)
        a, parts = self.attn(x, mask=mask, head_mask=head_mask)  # (B, T, C), AttentionParts (pattern (B, H, T, T))
        x = self.ln_1(x + self.drop(a))
        x = self.ln_2(x + self.drop(self.ffn(x)))
        return x, parts


@dataclass(frozen=True)
class ModelOutput:
    logits: torch.Tensor  # (B, T, V) for every position
    loss: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None  # per layer (B, H, T, T)
    qkv: dict[str, torch.Tensor] | None = None  # return_qkv: TL hook name -> tensor (AttentionParts.hooks)


@dataclass(frozen=True)
class Seq2SeqOutput:
    logits: torch.Tensor  # (B, T, V)
    loss: torch.Tensor | None = None
    encoder_attentions: tuple[torch.Tensor, ...] | None = None  # per encoder layer (B, H, S, S)
    decoder_attentions: tuple[torch.Tensor, ...] | None = None  # per decoder layer (B, H, T, T)
    cross_attentions: tuple[torch.Tensor, ...] | None = None  # per decoder layer (B, H, T, S)
    qkv: dict[str, torch.Tensor] | None = None  # return_qkv: TL hook name -> tensor


def check_head_mask(model: nn.Module, head_mask) -> dict:
    """Validate a ``head_mask`` argument of a model's forward: a mapping from attention-module names (TL paths
    such as ``blocks.0.attn``, ``encoder.1.attn``, ``decoder.0.cross_attn``) to (H,) tensors. Returns a plain dict
    (empty for None). Unknown names and wrong shapes raise ValueError naming the valid ones."""
    if not head_mask:
        return {}
    valid = {n: m.n_head for n, m in model.named_modules() if isinstance(m, MultiHeadAttention)}
    for name, m in head_mask.items():
        if name not in valid:
            raise ValueError(f"head_mask key {name!r} is not an attention module; expected one of {sorted(valid)}")
        if tuple(m.shape) != (valid[name],):
            raise ValueError(f"head_mask[{name!r}] has shape {tuple(m.shape)}; expected ({valid[name]},)")
    return dict(head_mask)


def positional(pos_enc: torch.Tensor, T: int, packing: Packing | None) -> torch.Tensor:
    """The sinusoidal rows for a (B, T) batch: (T, C) for ordinary rows, (B, T, C) for packed ones."""
    return pos_enc[:T] if packing is None else pos_enc[packing.positions]


def lm_loss(logits: torch.Tensor, targets: torch.Tensor | None, pad_id: int) -> torch.Tensor | None:
    if targets is None:
        return None
    return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=pad_id)
