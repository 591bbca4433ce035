"""Shared fixtures: tiny seeded models of every kind, tiny checkpoints in a temp folder, and the app's checkpoint
folders pointed there (``user_ckpt_dir``, ``lab_dirs``, ``lab``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_fixtures import MODEL_NAMES, TINY_WORDS, tiny_bundle

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
        save_checkpoint(
            tmp_path / f"{name}.pt",
            b.model,
            b.vocab,
            recipe={"name": "test"},
            epoch=0,
            metrics={"val_prefix_nll": 3.3, "val_teacher_forced_nll": 3.3, "n_params": b.n_params},
            train_model=m,
        )
    return tmp_path


@pytest.fixture
def user_ckpt_dir(tmp_path, monkeypatch) -> Path:
    """The folder of models trained in the app, pointed at ``<tmp>/user`` (not created: a save makes it)."""
    import settings

    user = tmp_path / "user"
    monkeypatch.setenv(settings.USER_CKPT_DIR_ENV, str(user))
    return user


@pytest.fixture
def lab_dirs(tiny_ckpt_dir, user_ckpt_dir, monkeypatch) -> Path:
    """Both checkpoint folders the app reads in temp: the shipped one holds ``tiny_ckpt_dir``'s models (returned;
    it is ``tmp_path``), the user one is ``user_ckpt_dir``. A test that changes ``registry.MODELS`` first asks for
    this with ``request.getfixturevalue`` afterwards, so the shipped folder holds its rows too."""
    import settings

    monkeypatch.setenv(settings.SHIPPED_CKPT_DIR_ENV, str(tiny_ckpt_dir))
    return tiny_ckpt_dir


@pytest.fixture
def lab(lab_dirs, monkeypatch):
    """``lab_dirs``, a tiny shipped word list (runs take a second or two), and a job registry emptied afterwards."""
    from models import data as wordlists
    from services import jobs

    words = lab_dirs / "words.txt"
    words.write_text("\n".join(TINY_WORDS) + "\n")
    monkeypatch.setattr(wordlists, "DEFAULT_WORDS", words)
    yield lab_dirs
    jobs.REGISTRY.stop_all(timeout=60)
    for j in jobs.REGISTRY.jobs():
        jobs.REGISTRY.clear(j.session_id)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A private ``redis-server`` (tests/class_fixtures.py) for a test module, or a skip that says how to get one."""
    from class_fixtures import RedisServer, have_redis

    if not have_redis():
        pytest.skip("redis-server is not installed (bash test.sh installs Debian's redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def server_path_unless_asked(monkeypatch):
    """Explore's and Compare's browser path is the students' default (ui/live_views.py). AppTest runs the pages in
    this process, and most page tests were written for the server path: they get it, as a server started with
    ``ATTENTION_LAB_BROWSER_PATH=0`` gives it. Tests of the browser path pass ``?browser=1``, and tests of its
    default ``monkeypatch.delenv("ATTENTION_LAB_BROWSER_PATH")`` (tests/test_live_views.py)."""
    monkeypatch.setenv("ATTENTION_LAB_BROWSER_PATH", "0")
