"""Training: a callback API the app reuses, and ``python -m models.train``.

The model being trained is always a private object built here; the caller gets a finished checkpoint file
(written atomically) and never a model that other code is reading. Two recipes:

* ``seed`` — the original design: Adam lr 1e-3, batch 16, 100 epochs, dropout 0.1, no early stopping, last epoch.
Both split the words three ways (``models.data.split_words``): they learn from the training words, choose (the
kept epoch, early stopping) on the validation words, and score the test words once, at the end, for the record
only — nothing here reads a test score to decide anything.

* ``fast`` — same data and split, whole-tensor batches, AdamW with weight decay, warm-up + cosine LR, dropout,
  an EMA of the weights, early stopping on the honest (prefix-only) validation NLL, keeping the best epoch; the
  FullTransformer also trains on noised inputs (characters blanked to <UNK>, Xie et al. 2017).

References: Karpathy's minGPT Trainer (callbacks), nanoGPT (AdamW groups, cosine schedule, checkpoint layout).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

import settings
from models import registry
from models.checkpoint import save_checkpoint
from models.data import DEFAULT_WORDS, SPLIT_ID, WordList, encode_words, load_words, pack_batches, split_words
from models.evaluate import card_metrics, evaluate_tensors
from models.recipe import SEED_RECIPE, Recipe
from models.vocab import DEFAULT_VOCAB, SPECIALS, UNK_ID, Vocab


def recipe_for(name: str, model_name: str) -> Recipe:
    """The named recipe for ``model_name`` (a train flag of models/registry.py: "miniformer" | "full" | ...)."""
    if name == "seed":
        return SEED_RECIPE
    if name == "fast":
        return registry.by_train_flag(model_name).fast_recipe
    raise ValueError(f"unknown recipe {name!r}; expected 'fast' or 'seed'")


@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    val_tf_nll: float  # teacher-forced validation NLL
    val_prefix_nll: float  # honest: position t from characters <= t only
    val_accuracy: float
    lr: float
    seconds: float  # wall time since training started (training + evaluation)
    train_seconds: float  # time spent in optimisation steps only
    best_epoch: int
    best_score: float  # the kept epoch's validation NLL (prefix-only, or teacher-forced for peeking)


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: list[dict]
    best_epoch: int
    final_epoch: int
    stopped_early: bool
    stopped_by_user: bool
    seconds: float
    metrics: dict
    recipe: Recipe
    checkpoint: Path | None = None
    snapshots: list[dict] = field(default_factory=list)


def make_model(model: str, vocab: Vocab = DEFAULT_VOCAB, dropout: float = 0.0, block_size: int = 48):
    """A freshly initialised model of train flag ``model``."""
    spec = registry.by_train_flag(model)
    return spec.build(spec.fresh_args(len(vocab), block_size, dropout))


def _lr_at(recipe: Recipe, step: int, total: int, steps_per_epoch: int) -> float:
    if recipe.schedule == "constant":
        return recipe.lr
    warm = recipe.warmup_epochs * steps_per_epoch
    if step < warm:
        return recipe.lr * (step + 1) / warm
    prog = (step - warm) / max(1, total - warm)
    return recipe.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(prog, 1.0))))


def _optimizer(model, recipe: Recipe):
    """Adam (no weight decay, the seed design) or AdamW with decay on matrices only (nanoGPT's groups). Every
    recipe gets the fused kernel where this torch build has one for the device: the same update in one kernel
    instead of a dozen small ops per parameter, so both recipes are timed with the same implementation."""
    if recipe.weight_decay == 0:
        cls, groups = torch.optim.Adam, list(model.parameters())
    else:
        decay, rest = [], []
        for n, p in model.named_parameters():
            (decay if p.dim() >= 2 and "emb" not in n else rest).append(p)
        cls, groups = (
            torch.optim.AdamW,
            [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        )
    try:
        return cls(groups, lr=recipe.lr, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype: torch's default
        return cls(groups, lr=recipe.lr)


def noised_inputs(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """A copy of the input batch ``x`` (B, T) in which each character token (not <PAD>, <BOS>, <EOS>) is replaced
    by <UNK> with probability ``p`` ("blank noising", Xie et al. 2017, Data noising as smoothing in neural
    network language models). Targets are never touched; ``x`` itself is left as it was."""
    if p <= 0:
        return x
    hit = torch.rand(x.shape, generator=gen).to(x.device) < p
    return x.masked_fill(hit & (x >= len(SPECIALS)), UNK_ID)


def train(
    model_name: str,
    words: WordList | tuple[str, ...] | list[str],
    recipe: Recipe | str = "fast",
    *,
    vocab: Vocab = DEFAULT_VOCAB,
    device: str | torch.device = "cpu",
    block_size: int = 48,
    on_epoch: Callable[[EpochStats], None] | None = None,
    stop: threading.Event | None = None,
    probe: Callable[[torch.nn.Module, int], dict | None] | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    meta: dict | None = None,
    verbose: bool = False,
) -> TrainResult:
    """Train a fresh ``model_name`` (a train flag: "miniformer" | "full" | "full-peeking") on ``words``.

    ``on_epoch(stats)`` runs after each epoch; ``stop`` ends training after the current epoch (the best epoch is
    kept); ``probe(model, epoch)`` may return a small dict (e.g. an attention snapshot) stored in ``snapshots``;
    ``out`` writes the checkpoint atomically at that path, with ``meta``'s extra entries (e.g. the app's owner tag).
    """
    recipe = recipe_for(recipe, model_name) if isinstance(recipe, str) else recipe
    wl = words if isinstance(words, WordList) else WordList(tuple(words))
    train_words, val_words, test_words = split_words(wl.words)
    device = torch.device(device)
    torch.manual_seed(recipe.seed)
    model = make_model(model_name, vocab, recipe.dropout, block_size).to(device)
    L = max(len(w) for w in wl.words) + 1
    x_tr, y_tr = (t.to(device) for t in encode_words(train_words, vocab, L))
    x_va, y_va = (t.to(device) for t in encode_words(val_words, vocab, L))
    opt = _optimizer(model, recipe)
    has_src = model.seq2seq  # the encoder-decoder: its source gets its own noise draw, and it may pack
    # Packing leaves every logit as it was: each word only reads itself (a causal model from the left; the
    # FullTransformer, peeking or not, never reads <PAD> keys, and x never holds <EOS>, see models.data), exactly
    # what it reads in a padded row or alone.
    pack = has_src if recipe.pack is None else recipe.pack
    gen = torch.Generator().manual_seed(recipe.seed)
    noise_gen = torch.Generator().manual_seed(recipe.seed + 1)  # separate stream: noise off = same batches as before
    steps_per_epoch = math.ceil(len(x_tr) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs

    history: list[dict] = []
    snapshots: list[dict] = []
    best = (math.inf, 0, None)  # (validation score, epoch, state)
    t0 = time.perf_counter()
    train_time = 0.0
    stopped_early = stopped_by_user = False
    step = 0
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=recipe.epochs, unit="epoch", desc=f"{model_name} [{recipe.name}]", file=sys.stderr)
    if probe is not None:
        snap = probe(model.eval(), 0)
        if snap is not None:
            snapshots.append({"epoch": 0, **snap})
    ema = shadow = None
    if recipe.ema:
        ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
        shadow = copy.deepcopy(model).eval().requires_grad_(False)
        live = model.state_dict()  # views of the live weights, updated in place by the optimizer
        ema_keys = [k for k, v in live.items() if v.dtype.is_floating_point]
        ema_to, ema_from = [ema[k] for k in ema_keys], [live[k] for k in ema_keys]
    epoch = 0
    for epoch in range(1, recipe.epochs + 1):
        ts = time.perf_counter()
        model.train()
        perm = torch.randperm(len(x_tr), generator=gen).to(device)
        packed = pack_batches(x_tr, y_tr, perm, recipe.batch_size) if pack else None
        tot, cnt = 0.0, 0
        for k, i in enumerate(range(0, len(perm), recipe.batch_size)):
            b = perm[i : i + recipe.batch_size]
            lr = _lr_at(recipe, step, total_steps, steps_per_epoch)
            for g in opt.param_groups:
                g["lr"] = lr
            xb, yb, packing = packed[k] if pack else (x_tr[b], y_tr[b], None)
            if recipe.input_noise:  # independent draws for the source (encoder) and the target-side input
                extra = {"src": noised_inputs(xb, recipe.input_noise, noise_gen)} if has_src else {}
                loss = model(noised_inputs(xb, recipe.input_noise, noise_gen), yb, packing=packing, **extra).loss
            else:
                loss = model(xb, yb, packing=packing).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(ema_to, ema_from, 1.0 - recipe.ema)
            tot += loss.item() * len(b)
            cnt += len(b)
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.perf_counter() - ts
        if ema is not None:  # evaluate (and keep) the averaged weights, on a private copy
            shadow.load_state_dict(ema)
            scored = shadow
        else:
            scored = model.eval()
        ev = evaluate_tensors(scored, x_va, y_va)
        score = ev.prefix_nll if recipe.select_on == "prefix" else ev.teacher_forced_nll
        if score < best[0]:
            best = (score, epoch, {k: v.detach().clone() for k, v in scored.state_dict().items()})
        stats = EpochStats(
            epoch=epoch,
            epochs=recipe.epochs,
            train_loss=tot / cnt,
            val_tf_nll=ev.teacher_forced_nll,
            val_prefix_nll=ev.prefix_nll,
            val_accuracy=ev.accuracy,
            lr=lr,
            seconds=time.perf_counter() - t0,
            train_seconds=train_time,
            best_epoch=best[1],
            best_score=best[0],
        )
        history.append(dataclasses.asdict(stats))
        if probe is not None:
            snap = probe(scored, epoch)
            if snap is not None:
                snapshots.append({"epoch": epoch, **snap})
        if bar is not None:
            bar.set_postfix(
                train=f"{stats.train_loss:.3f}",
                val_tf=f"{ev.teacher_forced_nll:.3f}",
                val_prefix=f"{ev.prefix_nll:.3f}",
                best=best[1],
            )
            bar.update(1)
        if on_epoch is not None:
            on_epoch(stats)
        if stop is not None and stop.is_set():
            stopped_by_user = True
            break
        if recipe.patience is not None and epoch - best[1] >= recipe.patience:
            stopped_early = True
            break
    if bar is not None:
        bar.close()
    # Stop keeps the best epoch so far whatever the recipe says: a run cut short has no meaningful "last" epoch.
    keep_best = recipe.keep == "best" or stopped_by_user
    if keep_best and best[2] is not None:
        model.load_state_dict(best[2])
    elif ema is not None:
        model.load_state_dict(ema)
    kept = best[1] if keep_best else epoch
    model.eval().requires_grad_(False)
    ev = evaluate_tensors(model, x_va, y_va)
    # The test words, scored once, after every choice has been made: the honest number for the model card.
    te = evaluate_tensors(model, *(t.to(device) for t in encode_words(test_words, vocab, L)))
    metrics = {
        **card_metrics(ev, te),
        "n_train_words": len(train_words),
        "n_val_words": len(val_words),
        "n_test_words": len(test_words),
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    result = TrainResult(
        model=model,
        history=history,
        best_epoch=kept,
        final_epoch=epoch,
        stopped_early=stopped_early,
        stopped_by_user=stopped_by_user,
        seconds=time.perf_counter() - t0,
        metrics=metrics,
        recipe=recipe,
        snapshots=snapshots,
    )
    if out is not None:
        result.checkpoint = save_checkpoint(
            out,
            model,
            vocab,
            step=step,
            val_loss=ev.prefix_nll,
            epoch=kept,
            recipe=dataclasses.asdict(recipe),
            metrics=metrics,
            words_sha256=wl.sha256,
            split=SPLIT_ID,
            n_words=len(wl.words),
            history=history,
            train_model=model_name,
            display_name=name or Path(out).stem,
            trained_seconds=result.seconds,
            snapshots=snapshots,
            created=time.time(),
            **(meta or {}),
        )
    return result


def main(argv=None) -> int:
    from models.data import WordListError
    from models.device import pick_device

    ap = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=registry.train_flags(), default=registry.MODELS[0].train_flag)
    ap.add_argument("--words", default=str(DEFAULT_WORDS), help="one word per line (default: data/words.txt)")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch count")
    ap.add_argument("--recipe", choices=("fast", "seed"), default="fast")
    ap.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    ap.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    ap.add_argument(
        "--out",
        default=None,
        help="the checkpoint file to write, exactly this path (an existing "
        "folder gets model.pt inside); models.evaluate reads it back from the same path "
        "(default: checkpoints/<shipped name>.pt)",
    )
    args = ap.parse_args(argv)
    shipped = registry.by_train_flag(args.model).name
    try:
        device = pick_device(args.device)
        words = load_words(args.words)
        recipe = recipe_for(args.recipe, args.model)
        if args.epochs is not None:
            recipe = dataclasses.replace(recipe, epochs=args.epochs)
        if args.seed is not None:
            recipe = dataclasses.replace(recipe, seed=args.seed)
    except (WordListError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else settings.shipped_ckpt_dir() / f"{shipped}.pt"
    folder = out if out.is_dir() else out.parent
    try:  # find out now, not after minutes of training, that the result can't be written
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
    except OSError as e:
        print(f"error: cannot write the checkpoint to {out}: {e}. Give another --out path.", file=sys.stderr)
        return 2
    if device.type == "cpu":
        torch.set_num_threads(min(torch.get_num_threads(), 2))
    res = train(args.model, words, recipe, device=device, out=out, verbose=True)
    m = res.metrics
    print(
        f"{args.model} [{recipe.name}] on {device}: {res.final_epoch} epochs in {res.seconds:.1f}s, kept epoch "
        f"{res.best_epoch}; validation ({m['n_val_words']} words) teacher-forced NLL "
        f"{m['val_teacher_forced_nll']:.3f}, prefix-only NLL {m['val_prefix_nll']:.3f}; test ({m['n_test_words']} "
        f"words never used in training or model choice) teacher-forced NLL {m['test_teacher_forced_nll']:.3f}, "
        f"prefix-only NLL {m['test_prefix_nll']:.3f}, accuracy {m['test_accuracy']:.3f} -> {res.checkpoint}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
