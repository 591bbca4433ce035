"""MiniFormer: one post-LN causal self-attention block over characters.

The smallest model that still has a real attention pattern: 1 layer, 1 head, d_model 32, sinusoidal positions,
FFN Linear(d,d) -> ReLU -> Linear(d,d), output Linear(d, vocab).
References: Vaswani et al. 2017 (post-LN, sinusoidal PE); Karpathy's minGPT / nanoGPT (config + forward shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

from models.layers import (
    Dropout,
    ModelOutput,
    Packing,
    PostLNBlock,
    additive_mask,
    causal_mask,
    check_head_mask,
    lm_loss,
    positional,
    qkv_hooks,
    sinusoidal_encoding,
    validate_config,
)
from models.vocab import PAD_ID


@dataclass(frozen=True)
class MiniFormerConfig:
    vocab_size: int
    block_size: int = 48  # tokens incl. <BOS>: at least 32 characters of context
    n_layer: int = 1
    n_head: int = 1
    n_embd: int = 32
    dim_ff: int = 32  # the seed design's FFN is Linear(d, d) -> ReLU -> Linear(d, d)
    dropout: float = 0.0

    def __post_init__(self):
        validate_config(self, ("vocab_size", "block_size", "n_layer", "n_head"))


class MiniFormer(nn.Module):
    architecture = "miniformer"  # its row in models/registry.py, and its checkpoints' "kind" field
    seq2seq = False
    causal = True

    def __init__(self, cfg: MiniFormerConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.register_buffer("pos_enc", sinusoidal_encoding(cfg.block_size, cfg.n_embd), persistent=False)
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            PostLNBlock(cfg.n_embd, cfg.n_head, cfg.dim_ff, cfg.dropout) for _ in range(cfg.n_layer)
        )
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size)

    def forward(
        self,
        idx,
        targets=None,
        *,
        src=None,
        return_attention=False,
        return_qkv=False,
        packing: Packing | None = None,
        head_mask: Mapping[str, torch.Tensor] | None = None,
        pos_embed: torch.Tensor | None = None,
    ) -> ModelOutput:
        """idx (B, T) token ids -> logits (B, T, V) for every position. ``src`` is accepted and ignored so every
        model in the lab has one call signature (the encoder-decoder reads its source from it). ``packing``: rows
        holding several words (training batches, see ``Packing``). ``head_mask``: {"blocks.{l}.attn": (H,)}, each
        head's output multiplied by its entry (0 = knocked out); nothing is stored on the model. ``pos_embed``: the
        (T, C) rows added for position instead of the sinusoidal table's (the positional-encoding lesson passes
        zeros or shuffled rows). ``return_qkv``: also every attention's q, k, v and masked scores, under their TL
        names (``blocks.0.attn.hook_q`` ...)."""
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size={self.cfg.block_size}")
        pos = positional(self.pos_enc, T, packing) if pos_embed is None else pos_embed[:T]
        x = self.drop(self.tok_emb(idx) + pos)  # (B, T, C)
        mask = causal_mask(T, device=idx.device)  # (T, T)
        if packing is not None:
            mask = additive_mask(mask & packing.same_word())  # (B, 1, T, T): own word only
        head_mask = check_head_mask(self, head_mask)
        parts = {}  # TL module name -> AttentionParts
        for l, block in enumerate(self.blocks):
            x, parts[f"blocks.{l}.attn"] = block(x, mask, head_mask.get(f"blocks.{l}.attn"))
        logits = self.lm_head(x)  # (B, T, V)
        return ModelOutput(
            logits=logits,
            loss=lm_loss(logits, targets, PAD_ID),
            attentions=tuple(p.pattern for p in parts.values()) if return_attention else None,
            qkv=qkv_hooks(parts) if return_qkv else None,
        )
