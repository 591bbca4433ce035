"""models/registry.py is the one table of models: a row added there is all a new architecture needs to appear
everywhere a model is listed, trained, loaded or drawn. The fixture registers a fourth architecture (a MiniFormer
subclass under a name of its own) and nothing else; every test then looks for it where the app would show it."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

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


# ---- nothing else lists the models ----------------------------------------------------------------------------------
_REPO = Path(__file__).resolve().parents[1]
_CODE = ("app.py", "serve.py", "settings.py", "app_pages", "ui", "viz", "models", "services", "bench", "scripts")
# Files that name one model for its role (the Lesson's steps, the Leak lesson's three, Compare's defaults, a bench
# timing MiniFormer against its own bar): a choice of one, never a list of all.
NAMES_ONE_FOR_ITS_ROLE = {
    "app_pages/0_lesson.py",
    "app_pages/3_leak.py",
    "ui/session_defaults.py",
    "ui/pickers.py",
    "ui/live_views.py",
    "bench/train_isolation.py",
    "bench/train_speed.py",
    "models/miniformer.py",  # the class's own architecture name (the registry checks it)
    "models/full_transformer.py",
}


def _code_files():
    for entry in _CODE:
        path = _REPO / entry
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def _model_ids() -> set[str]:
    return {v for s in registry.MODELS for v in (s.name, s.train_flag, s.architecture)}


def test_no_table_outside_the_registry_lists_the_models():
    """A tuple, list, set or dict written out with two models or more outside models/registry.py is a second table
    a fourth architecture would miss (bench/browser_path.py and bench/latency.py held the three names)."""
    ids, tables = _model_ids(), []
    for path in _code_files():
        if path.name == "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and items:
                named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in ids}
                if len(named) >= 2:
                    tables.append(f"{path.relative_to(_REPO)}:{node.lineno} {sorted(named)}")
    assert tables == []


def test_a_model_is_named_by_hand_only_where_a_page_picks_it_for_its_role():
    ids = _model_ids() - {"full"}  # "full" is also a disk's state (services/job_errors.py)
    naming = set()
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in ids:
                naming.add(str(path.relative_to(_REPO)))
    assert naming - {"models/registry.py"} <= NAMES_ONE_FOR_ITS_ROLE, sorted(naming - NAMES_ONE_FOR_ITS_ROLE)
