"""Every model the lab knows, in one table (HF's auto mappings: ``CONFIG_MAPPING``, ``MODEL_MAPPING_NAMES``).

A model is one frozen :class:`ModelSpec` in :data:`MODELS`. Checkpoint loading, the training command line and its
recipes, the pickers, the Train page, the sidebar and the browser path all read this table, so a new architecture
is one new model file plus one new row here (and its catalog entries).

Three names per model, each for one audience: ``name`` is the shipped checkpoint (``checkpoints/<name>.pt``,
``?model=<name>``), ``train_flag`` the ``python -m models.train --model`` value, and ``architecture`` the model class
a checkpoint is built with (two rows may share one: the FullTransformer with and without ``peeking``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch.nn as nn

from models.full_transformer import FullTransformer, FullTransformerConfig
from models.messages import N_
from models.miniformer import MiniFormer, MiniFormerConfig
from models.recipe import FULL_FAST, MINIFORMER_FAST, PEEKING_FAST, Recipe


@dataclass(frozen=True)
class ModelSpec:
    name: str  # shipped checkpoint name
    train_flag: str  # models.train --model value
    architecture: str  # the model class's name in checkpoints (their "kind" field) and browser weights
    config_class: type
    model_class: type
    peeking: bool  # the config's peeking switch: encoder and cross-attention see the answer
    fast_recipe: Recipe  # the tuned recipe ("fast"); every model also has models.recipe.SEED_RECIPE
    display_name: str  # catalog id (N_): pickers, model cards, chart titles
    train_label: str  # catalog id: the Train page's choice, a little longer
    summary: str  # catalog id: the sidebar's line (Markdown)
    runs_in_browser: bool  # ui/live/forward.js implements this architecture

    def __post_init__(self):
        if getattr(self.model_class, "architecture", None) != self.architecture:
            raise ValueError(f"{self.model_class.__name__}.architecture is not {self.architecture!r}")
        if self.peeking and "peeking" not in {f.name for f in dataclasses.fields(self.config_class)}:
            raise ValueError(f"{self.config_class.__name__} has no peeking switch")

    @property
    def seq2seq(self) -> bool:
        """An encoder-decoder (source and target) rather than one causal stack."""
        return bool(getattr(self.model_class, "seq2seq", False))

    def build(self, model_args: dict) -> nn.Module:
        """The model ``model_args`` (a config's fields) describes, freshly initialised."""
        return self.model_class(self.config_class(**model_args))

    def fresh_args(self, vocab_size: int, block_size: int, dropout: float) -> dict:
        """The config fields of a new model of this row: the config's defaults, with this row's switches."""
        args = {"vocab_size": vocab_size, "block_size": block_size, "dropout": dropout}
        if self.peeking:
            args["peeking"] = True
        return args


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="miniformer",
        train_flag="miniformer",
        architecture="miniformer",
        config_class=MiniFormerConfig,
        model_class=MiniFormer,
        peeking=False,
        fast_recipe=MINIFORMER_FAST,
        display_name=N_("MiniFormer"),
        train_label=N_("MiniFormer — 1 layer, 1 head, causal"),
        summary=N_("**MiniFormer** — 1 layer, 1 head, causal."),
        runs_in_browser=True,
    ),
    ModelSpec(
        name="full_transformer",
        train_flag="full",
        architecture="full",
        config_class=FullTransformerConfig,
        model_class=FullTransformer,
        peeking=False,
        fast_recipe=FULL_FAST,
        display_name=N_("FullTransformer (leak-free)"),
        train_label=N_("FullTransformer — leak-free"),
        summary=N_("**FullTransformer** — encoder 2×4 heads + decoder 2 layers, leak-free."),
        runs_in_browser=True,
    ),
    ModelSpec(
        name="full_transformer_peeking",
        train_flag="full-peeking",
        architecture="full",
        config_class=FullTransformerConfig,
        model_class=FullTransformer,
        peeking=True,
        fast_recipe=PEEKING_FAST,
        display_name=N_("FullTransformer — peeking (leaks)"),
        train_label=N_("FullTransformer — peeking (leaks; the original design)"),
        summary=N_("**FullTransformer — peeking** — the original design, which reads the answer."),
        runs_in_browser=True,
    ),
)


# Lookups read MODELS when called (never a copy made at import), so a row added to it is seen everywhere.
def shipped_names() -> tuple[str, ...]:
    return tuple(s.name for s in MODELS)


def train_flags() -> tuple[str, ...]:
    return tuple(s.train_flag for s in MODELS)


def architectures() -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.architecture for s in MODELS))


def one_per_architecture() -> tuple[ModelSpec, ...]:
    """The first row of each architecture: what a benchmark times once per kind of network."""
    return tuple(by_architecture(a) for a in architectures())


def _row(field: str, value: str, listing) -> ModelSpec:
    for s in MODELS:
        if getattr(s, field) == value:
            return s
    raise KeyError(f"no model has {field} {value!r}; expected one of {', '.join(listing())}")


def by_name(name: str) -> ModelSpec:
    """The row of a shipped checkpoint name; KeyError for any other name."""
    return _row("name", name, shipped_names)


def by_train_flag(flag: str) -> ModelSpec:
    return _row("train_flag", flag, train_flags)


def by_architecture(architecture: str) -> ModelSpec:
    """The first row of an architecture (its classes; peeking or not is the checkpoint's config's business)."""
    return _row("architecture", architecture, architectures)


def train_flag(name_or_architecture: str) -> str:
    """The ``--model`` value of ``models.train`` that rebuilds a shipped checkpoint or a model of an architecture
    (its first row); anything else is returned as it is."""
    for key in ("name", "architecture"):
        for s in MODELS:
            if getattr(s, key) == name_or_architecture:
                return s.train_flag
    return name_or_architecture
