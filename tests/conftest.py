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


@pytest.fixture(autouse=True)
def server_path_unless_asked(monkeypatch):
    """Explore's and Compare's browser path is the students' default (ui/live_views.py). AppTest runs the pages in
    this process, and most page tests were written for the server path: they get it, as a server started with
    ``ATTENTION_LAB_BROWSER_PATH=0`` gives it. Tests of the browser path pass ``?browser=1``, and tests of its
    default ``monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")`` (tests/test_live_views.py)."""
    monkeypatch.setenv("ATTENTION_LAB_BROWSER_PATH", "0")

