"""Step-by-step generation from a prefix, greedy or sampled, recording every step's attention.

Sampling follows nanoGPT's ``generate``: logits / temperature, optional top-k, softmax, then argmax (greedy)
or a draw from a seeded ``torch.Generator`` (so a seed always gives the same word). For the FullTransformer each
step feeds the text so far as both source and target — the same convention the model was trained with.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from models.capture import AttentionCapture, capture
from models.checkpoint import ModelBundle
from models.vocab import EOS_ID, romanize


def next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """(V,) logits -> (V,) probabilities after temperature and top-k (nanoGPT generate() logic, pure)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits.softmax(-1)


@dataclass(frozen=True)
class GenStep:
    step: int                     # 0-based
    text: str                     # the characters fed in at this step
    cap: AttentionCapture         # attention of this step's forward pass; the newest position is the last row
    probs: torch.Tensor           # (V,) the distribution the next token was chosen from
    token_id: int
    token: str                    # the chosen token ("<EOS>" ends the word)


@dataclass(frozen=True)
class Generation:
    prefix: str
    text: str                     # prefix + generated characters
    steps: tuple[GenStep, ...]
    stop_reason: str              # "eos" | "limit" | "context"


def generate(bundle: ModelBundle, prefix: str, *, max_new: int = 20, greedy: bool = True, temperature: float = 1.0,
             top_k: int | None = None, seed: int = 0) -> Generation:
    vocab = bundle.vocab
    gen = torch.Generator().manual_seed(seed)
    text = "".join(c if c in vocab.stoi else "\x00" for c in romanize(prefix).text.lower()).replace("\x00", "?")
    steps = []
    reason = "limit"
    for i in range(max_new):
        if len(text) + 1 >= bundle.block_size:
            reason = "context"
            break
        cap = capture(bundle, text)
        probs = next_token_probs(cap.next_token_logits(), temperature, top_k)
        tid = int(probs.argmax()) if greedy else int(torch.multinomial(probs, 1, generator=gen))
        steps.append(GenStep(step=i, text=text, cap=cap, probs=probs, token_id=tid, token=vocab.itos[tid]))
        if tid == EOS_ID:
            reason = "eos"
            break
        if tid >= 4:
            text += vocab.itos[tid]
        else:   # <PAD>/<BOS>/<UNK> predicted: nothing sensible to append, stop here
            reason = "eos"
            break
    return Generation(prefix=prefix, text=text, steps=tuple(steps), stop_reason=reason)
