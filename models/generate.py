"""Step-by-step generation from a prefix, greedy or sampled, recording every step's attention.

Sampling follows nanoGPT's ``generate``: logits / temperature, optional top-k, softmax, then argmax (greedy)
or a draw from a seeded ``torch.Generator`` (so a seed always gives the same word). For the FullTransformer each
step feeds the text so far as both source and target — the same convention the model was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from models.capture import AttentionCapture, capture
from models.checkpoint import ModelBundle
from models.vocab import EOS_ID, SPECIALS, romanize


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
    step: int  # 0-based
    text: str  # the characters fed in at this step
    cap: AttentionCapture  # attention of this step's forward pass; the newest position is the last row
    probs: torch.Tensor  # (V,) the distribution the next token was chosen from
    token_id: int
    token: str  # the chosen token ("<EOS>" ends the word)


@dataclass(frozen=True)
class Generation:
    prefix: str
    text: str  # prefix + generated characters
    steps: tuple[GenStep, ...]
    stop_reason: str  # "eos" | "limit" | "context"


class Stepper(Protocol):
    """What the generation loop asks of a model, for a sequence ``seq`` of its own type (the tiny models' text, a
    tokenizer's ids). :class:`CharStepper` is the tiny models'; ``models.hf_lm.TokenStepper`` a causal LM's."""

    def fits(self, seq) -> bool: ...  # one more token still fits the context
    def capture(self, seq) -> AttentionCapture: ...  # one forward pass, every attention kept
    def text(self, seq) -> str: ...  # what the step shows as fed in
    def token(self, token_id: int) -> str: ...  # the chosen token, readable
    def ends(self, token_id: int) -> bool: ...  # the token ends the text (<EOS> and the like)
    def append(self, seq, token_id: int): ...  # the sequence with that token after it


def generation_loop(
    lm: Stepper, seq, prefix: str, *, max_new: int, greedy: bool, temperature: float, top_k: int | None, seed: int
) -> Generation:
    """nanoGPT's generate loop, one full forward pass a step (no KV cache: each step's attention is shown)."""
    gen = torch.Generator().manual_seed(seed)
    steps = []
    reason = "limit"
    for i in range(max_new):
        if not lm.fits(seq):
            reason = "context"
            break
        cap = lm.capture(seq)
        probs = next_token_probs(cap.next_token_logits(), temperature, top_k)
        tid = int(probs.argmax()) if greedy else int(torch.multinomial(probs, 1, generator=gen))
        steps.append(GenStep(step=i, text=lm.text(seq), cap=cap, probs=probs, token_id=tid, token=lm.token(tid)))
        if lm.ends(tid):
            reason = "eos"
            break
        seq = lm.append(seq, tid)
    return Generation(prefix=prefix, text=lm.text(seq), steps=tuple(steps), stop_reason=reason)


@dataclass(frozen=True)
class CharStepper:
    """A tiny model's steps: the sequence is the text so far (``capture`` adds <BOS>)."""

    bundle: ModelBundle

    def fits(self, text: str) -> bool:
        return len(text) + 1 < self.bundle.block_size

    def capture(self, text: str) -> AttentionCapture:
        return capture(self.bundle, text)

    def text(self, text: str) -> str:
        return text

    def token(self, token_id: int) -> str:
        return self.bundle.vocab.itos[token_id]

    def ends(self, token_id: int) -> bool:
        # <EOS>, or <PAD>/<BOS>/<UNK>: nothing sensible to append, so the word ends there too
        return token_id == EOS_ID or token_id < len(SPECIALS)

    def append(self, text: str, token_id: int) -> str:
        return text + self.bundle.vocab.itos[token_id]


def generate(
    bundle: ModelBundle,
    prefix: str,
    *,
    max_new: int = 20,
    greedy: bool = True,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> Generation:
    vocab = bundle.vocab
    text = "".join(c if c in vocab.stoi else "\x00" for c in romanize(prefix).text.lower()).replace("\x00", "?")
    return generation_loop(
        CharStepper(bundle),
        text,
        prefix,
        max_new=max_new,
        greedy=greedy,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
    )
