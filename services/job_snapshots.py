"""A training run's attention snapshots: the word they read, and a stored snapshot back as a capture.

take_snapshot runs in the worker (services/train_worker.py); the page turns what it sent back into an
:class:`~models.capture.AttentionCapture` with :func:`snapshot_capture`, so the usual figure builders draw it.
"""

from __future__ import annotations

import torch

from models.capture import AttentionCapture
from models.data import WordList
from services.train_worker import DEFAULT_PROBE


def default_probe(words: WordList) -> str:
    """The word a run's attention snapshots read when none is given: capybara if the list has it, else its first."""
    return DEFAULT_PROBE if DEFAULT_PROBE in words.words else words.words[0]


def snapshot_capture(snap: dict, model_name: str = "training") -> AttentionCapture:
    """A stored snapshot back as an :class:`AttentionCapture`, so the usual figure builders can draw it."""
    return AttentionCapture(
        model_name=model_name,
        src_tokens=tuple(snap.get("src_tokens", ())),
        tgt_tokens=tuple(snap["tgt_tokens"]),
        patterns={
            n: torch.tensor(p, dtype=torch.float32).unsqueeze(0)  # (1, H, Q, K)
            for n, p in snap["patterns"].items()
        },
        logits=None,
        causal=bool(snap.get("causal", True)),
        peeking=bool(snap.get("peeking")),
    )
