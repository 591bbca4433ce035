"""models/registry.py is the one table of models: a row added there is all a new architecture needs to appear
everywhere a model is listed, trained, loaded or drawn. The fixture registers a fourth architecture (a MiniFormer
subclass under a name of its own) and nothing else; every test then looks for it where the app would show it."""

from __future__ import annotations

import dataclasses

import pytest
from lab_fixtures import TINY_WORDS, open_app, tiny_bundle

from models import checkpoint as ckpt
from models import checkpoint_checks, registry
from models.miniformer import MiniFormer, MiniFormerConfig
from models.recipe import Recipe
from models.registry import ModelSpec


class ExtraFormer(MiniFormer):
    """A fourth architecture for the tests: a MiniFormer's forward under a name of its own."""

    architecture = "testformer"


SPEC = ModelSpec(
    name="test_former",
    train_flag="test-former",
    architecture="testformer",
    config_class=MiniFormerConfig,
    model_class=ExtraFormer,
    peeking=False,
    fast_recipe=Recipe("fast", epochs=2, batch_size=16, lr=1e-2, dropout=0.0),
    display_name="ExtraFormer (registry row)",
    train_label="ExtraFormer — one row in the registry",
    summary="**ExtraFormer** — registered by a test.",
    runs_in_browser=False,
)


@pytest.fixture
def fourth(monkeypatch, request):
    """The registry with SPEC added, and checkpoint folders holding every shipped name (SPEC's too)."""
    monkeypatch.setattr(registry, "MODELS", registry.MODELS + (SPEC,))
    return request.getfixturevalue("lab_dirs")  # after the row is in: its tiny checkpoint is written too


def test_every_row_agrees_with_its_classes():
    assert len(set(registry.shipped_names())) == len(registry.MODELS) == len(set(registry.train_flags()))
    for spec in registry.MODELS:
        model = spec.build(spec.fresh_args(30, 48, 0.0))
        assert type(model) is spec.model_class and model.architecture == spec.architecture
        assert getattr(model.cfg, "peeking", False) == spec.peeking
        assert registry.by_architecture(spec.architecture).model_class is spec.model_class  # one class per name
    with pytest.raises(ValueError, match="architecture"):
        dataclasses.replace(SPEC, architecture="miniformer")  # the class says otherwise


def test_a_registered_row_is_trained_saved_and_loaded(fourth, tmp_path):
    from models.train import main, make_model, recipe_for, train

    assert registry.train_flag("test_former") == "test-former"
    assert recipe_for("fast", "test-former") is SPEC.fast_recipe
    assert type(make_model("test-former")) is ExtraFormer
    res = train("test-former", TINY_WORDS, "fast", out=tmp_path / "mine.pt")
    b = ckpt.load_checkpoint(res.checkpoint)
    assert type(b.model) is ExtraFormer and b.architecture == "testformer" and not b.is_seq2seq
    assert checkpoint_checks.approx_params("testformer", dataclasses.asdict(b.cfg)) > 0
    assert "test_former" in ckpt.list_checkpoints()  # a shipped name now
    assert ckpt.resolve_path("test_former") == fourth / "test_former.pt"
    with pytest.raises(SystemExit):  # the command line knows it: argparse's --help exits 0
        main(["--model", "test-former", "--help"])
    from services.browser_weights import runs_in_browser

    assert not runs_in_browser(b) and runs_in_browser(tiny_bundle("miniformer"))


def test_a_registered_row_is_in_the_pickers_the_train_page_and_the_sidebar(fourth):
    from ui.text import pretty_names

    assert pretty_names()["test_former"] == "ExtraFormer (registry row)"
    at = open_app()
    assert "**ExtraFormer** — registered by a test." in "\n".join(m.value for m in at.sidebar.markdown)
    assert "ExtraFormer (registry row)" in at.selectbox(key="model").options
    at.switch_page("app_pages/5_train.py").run()
    assert not at.exception, at.exception
    model = at.selectbox(key="train.model")
    assert "ExtraFormer — one row in the registry" in model.options
    model.set_value("test-former").run()
    assert not at.exception, at.exception
    assert at.number_input(key="train.epochs").value == SPEC.fast_recipe.epochs  # its own recipe
