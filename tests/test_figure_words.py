"""One labelling convention for every figure (issue 23): each public builder in viz/ takes ``tr`` and translates its
own words (titles, axis titles, colour-bar titles), marked with ``N_()`` so they are catalog entries; a caller passes
text only for what names its data. Built here in English and Japanese, from tiny models: no Streamlit, well under a
second per builder."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import torch
from lab_fixtures import tiny_bundle

from models.attention_steps import attention_steps
from models.capture import capture
from models.vocab import DEFAULT_VOCAB
from ui.i18n import gettext_for
from viz import class_session, coreference, figures, head_lab_figures, lesson
from viz.labels import identity
from viz.metrics import head_mean, next_token_differences, pattern_differences

VIZ = Path(__file__).resolve().parents[1] / "viz"
# Functions that take a finished figure (or its dict) and return a copy or restyle it: not builders.
NOT_BUILDERS = {
    "for_screen",
    "for_projector",
    "for_slide",
    "with_next_key_outline",
    "figure",
    "from_spec",
    "house_layout",
}
DATA = "«data»"  # what a caller passes where the title names its data (kept as given)


def _builders() -> set[str]:
    found = set()
    for path in VIZ.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.FunctionDef)
                and not node.name.startswith("_")
                and node.returns is not None
                and ast.unparse(node.returns).endswith("Figure")
                and node.name not in NOT_BUILDERS
            ):
                found.add(f"{path.stem}.{node.name}")
    return found


def _cases():
    mini, full = tiny_bundle("miniformer"), tiny_bundle("full-peeking")
    a, b = capture(full, "cat"), capture(full, "cot")
    m = capture(mini, "capybara")
    name = m.names("blocks")[0]
    probs = torch.softmax(m.logits[0, -1], -1)
    steps = attention_steps(mini, "capy", name, 0, 2)
    control = coreference.head_control(m, 5, (1, 2), 0, 0, "ap")
    cross = {n: w[0, :, :-1].diagonal(1, -2, -1).mean(-1) for n, w in a.patterns.items() if "cross" in n}
    history = [
        {"epoch": e, "train_loss": 2 / e, "val_tf_nll": 2.1 / e, "val_prefix_nll": 2.3 / e, "best_epoch": 2}
        for e in (1, 2)
    ]
    return {
        "class_session.guesses_histogram": lambda tr: class_session.guesses_histogram([2, 1], ["a", "b"], 0, tr=tr),
        "coreference.control_bars": lambda tr: coreference.control_bars(m, control, tr=tr),
        "figures.attention_heatmap": lambda tr: figures.attention_heatmap(m, name, 0, tr=tr),
        "figures.entropy_heatmap": lambda tr: figures.entropy_heatmap(a, tr=tr),
        "figures.query_entropy": lambda tr: figures.query_entropy(m, name, 0, tr=tr),
        "figures.next_token_bars": lambda tr: figures.next_token_bars(probs, mini.vocab, tr=tr),
        "figures.next_key_weights": lambda tr: figures.next_key_weights({"m": torch.rand(4)}, DATA, tr=tr),
        "figures.training_curves": lambda tr: figures.training_curves(history, tr=tr),
        "figures.next_key_layer_bars": lambda tr: figures.next_key_layer_bars({"m": cross}, chance=0.2, tr=tr),
        "figures.nll_bars": lambda tr: figures.nll_bars(
            [{"model": "m", "teacher_forced": 1.0, "prefix": 2.0}], uniform=3.0, tr=tr
        ),
        "figures.counterfactual_bars": lambda tr: figures.counterfactual_bars(probs, probs.flip(0), mini.vocab, tr=tr),
        "figures.last_row_heatmap": lambda tr: figures.last_row_heatmap(a, tr=tr),
        "figures.generation_strip": lambda tr: figures.generation_strip(["a", "<EOS>"], [0.5, 0.9], tr=tr),
        "figures.head_grid": lambda tr: figures.head_grid(a, a.names("encoder")[0], tr=tr),
        "figures.layer_head_grid": lambda tr: figures.layer_head_grid(a, tr=tr),
        "head_lab_figures.diff_heatmaps": lambda tr: head_lab_figures.diff_heatmaps(
            pattern_differences(a, b), a, b, row_titles={}, tr=tr
        ),
        "head_lab_figures.next_token_diff_heatmap": lambda tr: head_lab_figures.next_token_diff_heatmap(
            next_token_differences(a, b), a, b, DEFAULT_VOCAB, tr=tr
        ),
        "head_lab_figures.rollout_figure": lambda tr: head_lab_figures.rollout_figure(
            [(DATA, head_mean(a, a.names("encoder")[0]))], a.tgt_tokens, a.tgt_tokens, tr=tr
        ),
        "head_lab_figures.attention_vs_importance": lambda tr: head_lab_figures.attention_vs_importance(
            m.tgt_tokens,
            probs[: len(m.tgt_tokens)],
            [None] * len(m.tgt_tokens),
            top="a",
            p_top=0.5,
            pattern_label=DATA,
            tr=tr,
        ),  # fmt: skip
        "head_lab_figures.candidate_heads_bars": lambda tr: head_lab_figures.candidate_heads_bars(
            {"tired": torch.rand(1, 1), "wide": torch.rand(1, 1)}, tr=tr
        ),
        "lesson.steps_weights_bars": lambda tr: lesson.steps_weights_bars(steps, tr=tr),
        "lesson.value_mix": lambda tr: lesson.value_mix(steps, tr=tr),
        "lesson.pe_table": lambda tr: lesson.pe_table(torch.zeros(4, 6), tr=tr),
        "lesson.next_char_variants": lambda tr: lesson.next_char_variants(
            {DATA: probs}, mini.vocab, word="capy", tr=tr
        ),
    }


CASES = _cases()


def _words(fig) -> list[str]:
    """The figure's fixed words: its title, every axis title and every colour-bar title (a symbol such as "B − A",
    with no word of two letters, reads the same in every language and is left out)."""
    d = fig.to_plotly_json()
    lay = d["layout"]
    words = [(lay.get("title") or {}).get("text")]
    words += [(v.get("title") or {}).get("text") for k, v in lay.items() if k[1:5] == "axis" and isinstance(v, dict)]
    words += [((t.get("colorbar") or {}).get("title") or {}).get("text") for t in d["data"]]
    return [w for w in words if w and re.search(r"[^\W\d_]{2}|[^\W\d_\x00-\x7f]", w)]


def test_every_public_builder_is_built_here():
    """A new builder joins the table below, so its words are checked too."""
    assert set(CASES) == _builders()


def test_every_builder_takes_tr():
    from viz import labels

    for key in CASES:
        module, name = key.split(".")
        param = inspect.signature(getattr(globals()[module], name)).parameters.get("tr")
        assert param is not None and param.default is labels.identity, key


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_figures_words_come_from_the_catalog_in_english_and_japanese(key):
    """With a marking ``tr`` every title and axis word shows the mark (it went through ``tr``, nothing typed around
    it); every msgid the builder asked for has a Japanese entry, and the Japanese figure draws it."""
    asked: list[str] = []
    mark = lambda s: asked.append(s) or "«" + s + "»"
    words = _words(CASES[key](mark))
    assert words, key
    assert all("«" in w for w in words), (key, words)
    ja = gettext_for("ja")
    untranslated = sorted({s for s in asked if any(c.isalpha() for c in s) and ja(s) == s})
    assert untranslated == [], key
    en, jp = _words(CASES[key](identity)), _words(CASES[key](ja))
    assert len(en) == len(jp) and en != jp, (key, en, jp)
