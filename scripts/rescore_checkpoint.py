"""Re-score a checkpoint's stored numbers (validation and test NLL and accuracy: the model card's) with today's
``models.evaluate``, weights untouched: ``python scripts/rescore_checkpoint.py NAME_OR_PATH [--words FILE]``.

Used when evaluation itself changed. Issue 20: the FullTransformer read the <PAD> (and a shorter word's <EOS>)
of its padded batch, so the peeking model's stored teacher-forced NLL (0.0070) depended on the other words of the
batch it was scored in; with the source's padding masked, the same words score the same alone or batched. The
words must be the ones the checkpoint was trained on, cut by the same split (checked). Everything else it stores
(kept epoch, learning curves) stays as training wrote it; ``rescored`` records when and why the numbers changed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.checkpoint import atomic_write, load_checkpoint  # noqa: E402
from models.data import DEFAULT_WORDS, SPLIT_ID, encode_words, load_words, split_words  # noqa: E402
from models.evaluate import card_metrics, evaluate_tensors  # noqa: E402


def rescore(name_or_path, words_path=DEFAULT_WORDS, reason: str = "") -> dict:
    """Recompute and write the checkpoint's val_* / test_* metrics and val_loss; returns the new metrics."""
    bundle = load_checkpoint(name_or_path)
    wl = load_words(words_path, vocab=bundle.vocab, block_size=bundle.block_size)
    meta = bundle.meta
    if meta.get("words_sha256") != wl.sha256 or meta.get("split") != SPLIT_ID:
        raise ValueError(
            f"{bundle.path} was trained on another word list or split; its held-out words can't be "
            "rebuilt from this one"
        )
    _, val, test = split_words(wl.words)
    L = max(len(w) for w in wl.words) + 1  # the padding models.train used
    ev, te = (evaluate_tensors(bundle.model, *encode_words(part, bundle.vocab, L)) for part in (val, test))
    metrics = {**meta["metrics"], **card_metrics(ev, te)}
    ckpt = torch.load(bundle.path, map_location="cpu", weights_only=True)
    old = ckpt["metrics"]
    ckpt.update(
        metrics=metrics,
        val_loss=ev.prefix_nll,
        rescored={
            "time": time.time(),
            "reason": reason,
            "before": {k: old[k] for k in metrics if k in old and old[k] != metrics[k]},
        },
    )
    atomic_write(lambda tmp: torch.save(ckpt, tmp), bundle.path)
    return metrics


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--words", default=str(DEFAULT_WORDS))
    ap.add_argument("--reason", default="")
    args = ap.parse_args(argv)
    before = load_checkpoint(args.checkpoint).meta["metrics"]
    after = rescore(args.checkpoint, args.words, args.reason)
    for k, v in after.items():
        if before.get(k) != v:
            print(f"{k}: {before.get(k)} -> {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
