"""Inside one attention head: the numbers of one forward pass, step by step, and positional-encoding counterfactuals.

``attention_steps(bundle, text, pattern_name, head, query)`` runs the model once (``capture(..., qkv=True)``: its
own forward, nothing written to it) and takes the q, k, v that attention sub-layer computed, with the mask its
scores carry; what follows is arithmetic on those numbers, Attention(Q, K, V) = softmax(QKᵀ / √d_k) V for one row:

    scores  = k @ q                     # (K,)   q·k for every key
    scaled  = scores / sqrt(d_k)        # (K,)   keeps the softmax from saturating
    masked  = scaled, -inf where hidden # (K,)   the causal mask: keys after the query are hidden
    weights = softmax(masked)           # (K,)   the attention row (== the captured pattern row)
    output  = weights @ v               # (hs,)  this head's output for the query

``positions_counterfactual(bundle, text, mode)``: the next-character distribution when the positional encoding is
removed (zeros) or shuffled, through the models' ``pos_embed`` argument.

References: Vaswani et al. 2017 §3.2.1 (scaled dot-product attention), §3.5 (positional encoding).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

from models.capture import capture
from models.checkpoint import ModelBundle

PE_MODES = ("normal", "none", "shuffled")
_NAME_RE = re.compile(r"^(blocks|encoder|decoder)\.(\d+)\.(attn|cross_attn)\.hook_pattern$")


@dataclass(frozen=True)
class AttentionSteps:
    """Scaled dot-product attention of one head for one query row, every intermediate kept (cpu float32)."""

    model_name: str
    pattern_name: str  # TL name, e.g. "blocks.0.attn.hook_pattern"
    head: int
    query: int  # query position
    query_token: str
    key_tokens: tuple[str, ...]
    d_k: int  # head size hs
    q: torch.Tensor  # (hs,)   the query vector
    k: torch.Tensor  # (K, hs) every key vector
    v: torch.Tensor  # (K, hs) every value vector
    scores: torch.Tensor  # (K,)    q·k
    scaled: torch.Tensor  # (K,)    q·k / sqrt(d_k)
    visible: torch.Tensor  # (K,)    bool: False = hidden by the mask (its score becomes -inf)
    weights: torch.Tensor  # (K,)    softmax of the masked scores: the attention row
    output: torch.Tensor  # (hs,)   weights @ v: the head's output for this query
    pattern_row: torch.Tensor  # (K,)    the same row as the attention module itself computed it


def _parse(name: str) -> tuple[str, int, str]:
    m = _NAME_RE.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not an attention pattern name such as 'blocks.0.attn.hook_pattern'")
    return m[1], int(m[2]), m[3]


def _encode(bundle: ModelBundle, text: str, add_eos: bool) -> tuple[torch.Tensor, tuple[str, ...]]:
    enc = bundle.vocab.encode(text, add_eos=add_eos, max_len=bundle.block_size)
    return torch.tensor([enc.ids], device=bundle.device), enc.tokens  # (1, T)


def attention_steps(
    bundle: ModelBundle, text: str, pattern_name: str, head: int, query: int, *, add_eos: bool = False
) -> AttentionSteps:
    """Softmax(q·K / √d_k)·V for one query row of one head, with every intermediate (see the module docstring).
    ``query`` may be negative (from the end). Raises ValueError for a pattern, head or query the model lacks."""
    _parse(pattern_name)
    cap = capture(bundle, text, add_eos=add_eos, qkv=True)  # one forward pass of the model itself
    if pattern_name not in cap.patterns:
        raise ValueError(f"{type(bundle.model).__name__} has no pattern {pattern_name!r}")
    module = pattern_name.removesuffix(".hook_pattern")
    q_all, k_all, v_all = (cap.qkv[f"{module}.hook_{x}"] for x in "qkv")  # (1, H, Q|K, hs)
    H, Q, hs = q_all.shape[1:]
    if not 0 <= head < H:
        raise ValueError(f"head {head} out of range: this layer has {H} head(s)")
    if not -Q <= query < Q:
        raise ValueError(f"query {query} out of range: there are {Q} query positions")
    query %= Q
    q, k, v = q_all[0, head, query], k_all[0, head], v_all[0, head]  # (hs,), (K, hs), (K, hs)
    scores = k @ q  # (K,)
    scaled = scores / math.sqrt(hs)  # (K,)
    # The mask is the model's own: its scores are -inf exactly where its forward hid a key.
    visible = torch.isfinite(cap.qkv[f"{module}.hook_attn_scores"][0, head, query])  # (K,)
    weights = scaled.masked_fill(~visible, float("-inf")).softmax(dim=-1)  # (K,)
    output = weights @ v  # (hs,)
    q_tokens, k_tokens = cap.axes(pattern_name)
    return AttentionSteps(
        model_name=bundle.name,
        pattern_name=pattern_name,
        head=head,
        query=query,
        query_token=q_tokens[query],
        key_tokens=k_tokens,
        d_k=hs,
        q=q,
        k=k,
        v=v,
        scores=scores,
        scaled=scaled,
        visible=visible,
        weights=weights,
        output=output,
        pattern_row=cap.patterns[pattern_name][0, head, query].clone(),
    )


# ---- positional encoding, counterfactual --------------------------------------------------------------------------
def shuffled_order(T: int, seed: int = 0) -> list[int]:
    """A seeded permutation of range(T) that moves at least one position (the identity would change nothing)."""
    if T < 2:
        return list(range(T))
    gen = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(T, generator=gen).tolist()
        if perm != list(range(T)):
            return perm


def position_rows(bundle: ModelBundle, T: int, mode: str, seed: int = 0) -> torch.Tensor:
    """The (T, C) rows added for position: the model's sinusoidal table ('normal'), zeros ('none'), or the table's
    rows in a shuffled order ('shuffled': token t gets position ``shuffled_order(T)[t]``'s encoding)."""
    if mode not in PE_MODES:
        raise ValueError(f"mode must be one of {PE_MODES}, not {mode!r}")
    pe = bundle.model.pos_enc[:T]  # (T, C)
    if mode == "none":
        return torch.zeros_like(pe)
    if mode == "shuffled":
        return pe[torch.tensor(shuffled_order(T, seed), device=pe.device)]
    return pe


def positions_counterfactual(bundle: ModelBundle, text: str, mode: str, *, seed: int = 0) -> torch.Tensor:
    """(V,) next-character probabilities after ``text`` when positions are as ``mode`` says (see
    :func:`position_rows`). For the encoder-decoder, source and target both get the same rows."""
    model = bundle.model
    if model.training:
        raise RuntimeError(f"model {bundle.name!r} is in training mode; only eval-mode models are read here")
    idx, _ = _encode(bundle, text, add_eos=False)
    with torch.inference_mode():
        out = model(idx, pos_embed=position_rows(bundle, idx.size(1), mode, seed))
    return out.logits[0, -1].softmax(-1).detach().to("cpu", torch.float32).clone()  # (V,)


def sinusoidal_table(bundle: ModelBundle, T: int) -> torch.Tensor:
    """(T, C) copy of the model's own positional-encoding table, for the picture."""
    return bundle.model.pos_enc[:T].detach().to("cpu", torch.float32).clone()
