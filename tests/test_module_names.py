"""Issue 23, item 3: rooms that do one job, one name per thing. Read from the source (ast), so these run in well
under a second and need no model."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _top_level_names(folder: str) -> dict[str, list[str]]:
    """{public function / class name: the modules of ``folder`` that define it}."""
    seen = collections.defaultdict(list)
    for path in sorted((ROOT / folder).glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                seen[node.name].append(path.name)
    return seen


def test_no_public_name_is_defined_twice_in_ui_or_viz():
    """ui/real_model.py had its own ``model_card`` (a language model's) beside the widgets' one (a checkpoint's)."""
    for folder in ("ui", "viz"):
        twice = {name: where for name, where in _top_level_names(folder).items() if len(where) > 1}
        assert not twice, (folder, twice)


def test_tr_only_ever_means_translate_in_viz():
    """``tr`` is the translation function (viz.labels.Translate) everywhere in viz/; a trace is ``trace``."""
    wrong = []
    for path in sorted((ROOT / "viz").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.arg) and node.arg == "tr":
                if not (isinstance(node.annotation, ast.Name) and node.annotation.id == "Translate"):
                    wrong.append(f"{path.name}:{node.lineno} argument without the Translate annotation")
            elif isinstance(node, ast.Name) and node.id == "tr" and isinstance(node.ctx, ast.Store):
                wrong.append(f"{path.name}:{node.lineno} 'tr' assigned (a loop variable?)")
    assert not wrong, wrong


def test_the_split_modules_are_gone_and_nothing_imports_them():
    """No compatibility re-exports: ui/widgets.py is gone, and viz.figures holds builders only (the look is
    viz.style's, the screen / projector / slide copies viz.display's, the Head lab's builders their own module)."""
    assert not (ROOT / "ui" / "widgets.py").exists()
    from viz import display, head_lab_figures, style

    defined = {
        node.name
        for node in ast.parse((ROOT / "viz" / "figures.py").read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef)
    }
    assert defined.isdisjoint({"for_screen", "for_projector", "for_slide", "label", "figure", "diff_heatmaps"})
    assert callable(display.for_slide) and callable(style.figure) and callable(head_lab_figures.diff_heatmaps)
    users = [
        p
        for folder in ("app_pages", "ui", "tests", "bench", "viz", "services", "models")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != Path(__file__).name
        and (
            "ui.widgets import" in p.read_text(encoding="utf-8") or "ui import widgets" in p.read_text(encoding="utf-8")
        )
    ]
    assert not users, users


def test_tr_is_never_a_trace_anywhere():
    """Outside viz/ too (the tests, the benches, the pages), ``tr`` is never assigned: a trace is ``trace``, and
    ``tr`` stays the name of the translation function a page passes to a builder."""
    wrong = []
    for folder in ("app_pages", "ui", "services", "models", "bench", "tests", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Name) and node.id == "tr" and isinstance(node.ctx, ast.Store):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                elif isinstance(node, ast.arg) and node.arg == "tr" and folder != "tests":
                    if not (isinstance(node.annotation, ast.Name) and node.annotation.id == "Translate"):
                        wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} (an argument tr, not a Translate)")
    assert not wrong, wrong
