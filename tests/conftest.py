"""Shared fixtures: tiny seeded models of every kind, and tiny checkpoints in a temp folder."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.checkpoint import ModelBundle, save_checkpoint  # noqa: E402
from models.train import make_model  # noqa: E402
from models.vocab import DEFAULT_VOCAB  # noqa: E402

MODEL_NAMES = ("miniformer", "full", "full-peeking")
TINY_WORDS = ("cat", "dog", "capybara", "apple", "banana", "carrot", "zebra", "lion", "tiger", "mango", "kiwi",
              "lemon", "onion", "bee", "ant", "owl")


def tiny_bundle(model_name: str, seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    model = make_model(model_name).eval().requires_grad_(False)
    return ModelBundle(name=model_name, model=model, vocab=DEFAULT_VOCAB, kind=model.kind)


@pytest.fixture(params=MODEL_NAMES)
def bundle(request) -> ModelBundle:
    return tiny_bundle(request.param)


@pytest.fixture
def tiny_ckpt_dir(tmp_path) -> Path:
    """A checkpoints folder holding the three shipped names, untrained but valid."""
    names = {"miniformer": "miniformer", "full": "full_transformer", "full-peeking": "full_transformer_peeking"}
    for m, name in names.items():
        b = tiny_bundle(m)
        save_checkpoint(tmp_path / f"{name}.pt", b.model, b.vocab, recipe={"name": "test"}, epoch=0,
                        metrics={"val_prefix_nll": 3.3, "val_teacher_forced_nll": 3.3, "n_params": b.n_params},
                        train_model=m)
    return tmp_path
