"""FullTransformer: a 2-layer encoder / 2-layer decoder (post-LN) reading the same word as source and target.

Two variants of one class, chosen by ``FullTransformerConfig.peeking``:

* leak-free (default, ``peeking=False``): causal mask on encoder self-attention and a causal *memory* mask on
  cross-attention, so decoder position t only reads source positions <= t. An honest next-character model.
* peeking (``peeking=True``): exactly the seed design — encoder and cross-attention unmasked. Because the source
  is the target word itself, decoder position t can read source position t+1, which *is* the answer. Its
  teacher-forced loss looks near perfect and means nothing; kept as a lesson.

Both mask the source's padding, as the seed notebook did (``src_key_padding_mask``): a word's logits never depend
on the other words of its batch.

References: Vaswani et al. 2017; the annotated transformer (harvardnlp); PyTorch's nn.Transformer docs for the
mask naming (src_mask / tgt_mask / memory_mask) — but attention is written out here, never ``nn.Transformer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

from models.layers import (
    Dropout,
    FeedForward,
    MultiHeadAttention,
    Packing,
    PostLNBlock,
    Seq2SeqOutput,
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
class FullTransformerConfig:
    vocab_size: int
    block_size: int = 48
    n_layer: int = 2  # encoder layers
    n_dec_layer: int = 2  # decoder layers
    n_head: int = 4
    n_embd: int = 64
    dim_ff: int = 128
    dropout: float = 0.0
    peeking: bool = False  # True = the seed design's unmasked encoder + cross-attention (leaks the answer)

    def __post_init__(self):
        validate_config(self, ("vocab_size", "block_size", "n_layer", "n_dec_layer", "n_head"))


class DecoderBlock(nn.Module):
    def __init__(self, cfg: FullTransformerConfig):
        super().__init__()
        self.attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.dropout)
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.cross_attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.dropout)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.ffn = FeedForward(cfg.n_embd, cfg.dim_ff, cfg.dropout)
        self.ln_3 = nn.LayerNorm(cfg.n_embd)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x, memory, self_mask, memory_mask, self_head_mask=None, cross_head_mask=None):
        # x (B, T, C)  memory (B, S, C); head masks (H,) or None, see MultiHeadAttention
        a, self_parts = self.attn(x, mask=self_mask, head_mask=self_head_mask)  # pattern (B, H, T, T)
        x = self.ln_1(x + self.drop(a))
        a, cross_parts = self.cross_attn(x, memory=memory, mask=memory_mask, head_mask=cross_head_mask)  # (B, H, T, S)
        x = self.ln_2(x + self.drop(a))
        x = self.ln_3(x + self.drop(self.ffn(x)))
        return x, self_parts, cross_parts


class FullTransformer(nn.Module):
    architecture = "full"  # its rows in models/registry.py, and its checkpoints' "kind" field
    seq2seq = True

    def __init__(self, cfg: FullTransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)  # shared by source and target: same alphabet
        self.register_buffer("pos_enc", sinusoidal_encoding(cfg.block_size, cfg.n_embd), persistent=False)
        self.drop = Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(
            PostLNBlock(cfg.n_embd, cfg.n_head, cfg.dim_ff, cfg.dropout) for _ in range(cfg.n_layer)
        )
        self.decoder = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.n_dec_layer))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size)

    @property
    def causal(self) -> bool:
        """True when position t's prediction depends on tokens <= t only (source and target)."""
        return not self.cfg.peeking

    def _embed(self, idx, packing=None, pos_embed=None):
        T = idx.size(1)
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size={self.cfg.block_size}")
        pos = positional(self.pos_enc, T, packing) if pos_embed is None else pos_embed[:T]
        return self.drop(self.tok_emb(idx) + pos)  # (B, T, C)

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
    ) -> Seq2SeqOutput:
        """idx (B, T) target-side tokens; src (B, S) source tokens, default ``idx`` (the training convention:
        source = target = the word). Returns logits (B, T, V) for every target position. ``packing``: rows holding
        several words (training batches, see ``Packing``); source and target then share that layout.
        ``head_mask``: {"encoder.{l}.attn" / "decoder.{l}.attn" / "decoder.{l}.cross_attn": (H,)}, each head's
        output multiplied by its entry (0 = knocked out); nothing is stored on the model. ``pos_embed``: the
        (max(S, T), C) rows added for position on both sides instead of the sinusoidal table's (the
        positional-encoding lesson passes zeros or shuffled rows). ``return_qkv``: also every attention's q, k, v
        and masked scores, under their TL names (``encoder.0.attn.hook_q``, ``decoder.1.cross_attn.hook_k`` ...)."""
        src = idx if src is None else src
        S, T = src.size(1), idx.size(1)
        dev = idx.device
        enc_mask = None if self.cfg.peeking else causal_mask(S, device=dev)  # (S, S) or unmasked
        mem_mask = None if self.cfg.peeking else causal_mask(T, S, device=dev)  # (T, S) or unmasked
        tgt_mask = causal_mask(T, device=dev)  # (T, T) always causal
        if packing is None:
            # Key padding mask (the notebook's src_key_padding_mask): a <PAD> of the source is no key, so a word
            # padded to its batch's longest reads exactly what it reads alone. Without it the unmasked (peeking)
            # encoder and cross-attention read the padding, and a word's score depends on its neighbours. Causal
            # masks already hide the padding after a word, so the leak-free variant's real rows are unchanged.
            src_keys = (src != PAD_ID)[:, None, None, :]  # (B, 1, 1, S)
            enc_mask = src_keys if enc_mask is None else enc_mask & src_keys  # (B, 1, S, S)
            mem_mask = src_keys if mem_mask is None else mem_mask & src_keys  # (B, 1, T, S)
        else:  # (B, 1, T, T): every attention stays inside its own word
            if S != T:
                raise ValueError("a packed batch needs source and target in the same layout")
            same = packing.same_word()
            enc_mask, mem_mask, tgt_mask = (
                additive_mask(same if m is None else m & same) for m in (enc_mask, mem_mask, tgt_mask)
            )

        head_mask = check_head_mask(self, head_mask)
        memory = self._embed(src, packing, pos_embed)  # (B, S, C)
        parts = {}  # TL name -> AttentionParts
        for l, block in enumerate(self.encoder):
            memory, parts[f"encoder.{l}.attn"] = block(memory, enc_mask, head_mask.get(f"encoder.{l}.attn"))
        x = self._embed(idx, packing, pos_embed)  # (B, T, C)
        for l, block in enumerate(self.decoder):
            self_name, cross_name = f"decoder.{l}.attn", f"decoder.{l}.cross_attn"
            x, parts[self_name], parts[cross_name] = block(
                x, memory, tgt_mask, mem_mask, head_mask.get(self_name), head_mask.get(cross_name)
            )
        logits = self.lm_head(x)  # (B, T, V)
        loss = lm_loss(logits, targets, PAD_ID)
        qkv = qkv_hooks(parts) if return_qkv else None
        if not return_attention:
            return Seq2SeqOutput(logits=logits, loss=loss, qkv=qkv)
        per_layer = lambda name, n: tuple(parts[name.format(l)].pattern for l in range(n))
        n_enc, n_dec = len(self.encoder), len(self.decoder)
        return Seq2SeqOutput(
            logits=logits,
            loss=loss,
            encoder_attentions=per_layer("encoder.{}.attn", n_enc),
            decoder_attentions=per_layer("decoder.{}.attn", n_dec),
            cross_attentions=per_layer("decoder.{}.cross_attn", n_dec),
            qkv=qkv,
        )
