"""Shared fixtures: tiny seeded models of every kind, and tiny checkpoints in a temp folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from lab_fixtures import MODEL_NAMES, tiny_bundle
from models import registry
from models.checkpoint import ModelBundle, save_checkpoint


@pytest.fixture(params=MODEL_NAMES)
def bundle(request) -> ModelBundle:
    return tiny_bundle(request.param)


@pytest.fixture
def tiny_ckpt_dir(tmp_path) -> Path:
    """A checkpoints folder holding every shipped name, untrained but valid."""
    for spec in registry.MODELS:
        m, name = spec.train_flag, spec.name
        b = tiny_bundle(m)
        save_checkpoint(tmp_path / f"{name}.pt", b.model, b.vocab, recipe={"name": "test"}, epoch=0,
                        metrics={"val_prefix_nll": 3.3, "val_teacher_forced_nll": 3.3, "n_params": b.n_params},
                        train_model=m)
    return tmp_path
