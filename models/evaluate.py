"""Honest evaluation: teacher-forced NLL, prefix-only NLL and next-character accuracy.

*Teacher-forced* runs each word once and scores every position — fine for causal models, meaningless for the
peeking FullTransformer, whose position t reads the answer from source position t+1.
*Prefix-only* predicts position t from the word's first t+1 tokens alone (source and target cut there), so no
model can see the future. For causal models the two are equal (a test checks it).

CLI: ``python -m models.evaluate CHECKPOINT --words FILE`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from models.vocab import EOS_ID, PAD_ID


@dataclass(frozen=True)
class EvalResult:
    teacher_forced_nll: float
    prefix_nll: float
    accuracy: float  # next-char top-1 accuracy, prefix-only
    n_words: int
    n_tokens: int
    word_nll: tuple[float, ...] = field(default=(), repr=False)  # prefix-only NLL summed over each word's tokens
    # teacher_forced_nll split by target: the characters, and the word's end (<EOS>). The peeking model copies a
    # character from source position t+1; a word's source holds no <EOS> to copy, so its ending is a real guess.
    teacher_forced_char_nll: float = math.nan
    teacher_forced_end_nll: float = math.nan


@torch.no_grad()
def teacher_forced_token_nll(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """(N, T) teacher-forced NLL of every target, 0 at <PAD> targets: each word run once, every position scored."""
    out = []
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size]).logits  # (B, T, V)
        yb = y[i : i + batch_size]
        out.append(
            F.cross_entropy(logits.flatten(0, 1), yb.flatten(), ignore_index=PAD_ID, reduction="none").view(yb.shape)
        )
    return torch.cat(out)


@torch.no_grad()
def prefix_logits(model, x: torch.Tensor, y: torch.Tensor, exact: bool = False, head_mask=None) -> torch.Tensor:
    """(N, T, V) logits where [:, t] was computed from x[:, :t+1] only. Causal models take one pass unless
    ``exact`` asks for the slow, model-agnostic way (used by tests to prove the two agree). ``head_mask``: passed
    to the model's forward (heads knocked out, see models.layers.MultiHeadAttention)."""
    if getattr(model, "causal", False) and not exact:
        return model(x, head_mask=head_mask).logits
    N, T = x.shape
    out = torch.zeros(N, T, model.cfg.vocab_size, device=x.device)
    for t in range(T):
        rows = (y[:, t] != PAD_ID).nonzero().squeeze(1)  # only words that still have a target at t
        if len(rows) == 0:
            continue
        out[rows, t] = model(x[rows, : t + 1], head_mask=head_mask).logits[:, t]
    return out


@torch.no_grad()
def evaluate_tensors(model, x: torch.Tensor, y: torch.Tensor, exact: bool = False) -> EvalResult:
    """Every metric on (x, y). The model is expected in eval mode (the caller owns its mode)."""
    tf_tokens = teacher_forced_token_nll(model, x, y)  # (N, T)
    end, char = y == EOS_ID, (y != EOS_ID) & (y != PAD_ID)
    mean = lambda m: tf_tokens[m].sum().item() / max(int(m.sum()), 1)
    logits = prefix_logits(model, x, y, exact=exact)
    mask = y != PAD_ID
    per_token = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=PAD_ID, reduction="none").view(
        y.shape
    )  # (N, T), 0 at <PAD> targets
    word_nll = per_token.sum(1)  # (N,)
    nll = word_nll.sum().item()
    n = int(mask.sum())
    acc = (logits[mask].argmax(-1) == y[mask]).float().sum().item()
    return EvalResult(
        teacher_forced_nll=tf_tokens.sum().item() / max(n, 1),
        prefix_nll=nll / max(n, 1),
        accuracy=acc / max(n, 1),
        n_words=len(x),
        n_tokens=n,
        word_nll=tuple(word_nll.tolist()),
        teacher_forced_char_nll=mean(char),
        teacher_forced_end_nll=mean(end),
    )


def card_metrics(val: EvalResult, test: EvalResult) -> dict[str, float]:
    """The validation and test scores a checkpoint's model card keeps (models.train writes them, the rescoring
    script rewrites them): the same six keys in both."""
    return {
        f"{part}_{name}": getattr(ev, name)
        for part, ev in (("val", val), ("test", test))
        for name in ("teacher_forced_nll", "prefix_nll", "accuracy")
    }


def paired_difference(a: EvalResult, b: EvalResult) -> tuple[float, float]:
    """(a.prefix_nll - b.prefix_nll, its standard error) for two models scored on the same words.

    The error says how much the difference would move had other words of the same kind been drawn: the per-word
    differences d_w of summed NLL, scaled to per character, sqrt(n) * std(d_w) / n_tokens. A difference within about
    two standard errors is not evidence that one model is better."""
    if a.n_tokens != b.n_tokens or len(a.word_nll) != len(b.word_nll) or not a.word_nll:
        raise ValueError("paired_difference needs two results on the same words")
    d = [x - y for x, y in zip(a.word_nll, b.word_nll)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / max(n - 1, 1))
    return (sum(d) / a.n_tokens, math.sqrt(n) * sd / a.n_tokens)


def main(argv=None) -> int:
    from models.checkpoint import CheckpointError, load_checkpoint
    from models.data import DEFAULT_WORDS, WordListError, encode_words, load_words
    from models.device import pick_device

    ap = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "checkpoint", help="a path, or a shipped name: miniformer, full_transformer, full_transformer_peeking"
    )
    ap.add_argument("--words", default=str(DEFAULT_WORDS), help="one word per line; every word is evaluated")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    ap.add_argument("--exact", action="store_true", help="prefix NLL by truncation even for causal models")
    args = ap.parse_args(argv)
    try:
        device = pick_device(args.device)
        # An existing file or folder is read at exactly that path (what `models.train --out PATH` wrote, even when
        # PATH looks like a model name); otherwise the argument is a shipped or app-trained name.
        target = Path(args.checkpoint) if os.path.lexists(args.checkpoint) else args.checkpoint
        bundle = load_checkpoint(target, device=device)
        words = load_words(args.words, vocab=bundle.vocab, block_size=bundle.block_size, max_words=10**7).words
    except (CheckpointError, WordListError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    x, y = (t.to(device) for t in encode_words(words, bundle.vocab))
    res = evaluate_tensors(bundle.model, x, y, exact=args.exact)
    out = {"checkpoint": str(bundle.path), **{k: v for k, v in asdict(res).items() if k != "word_nll"}}
    if not all(math.isfinite(v) for v in out.values() if isinstance(v, float)):  # NaN is not JSON
        print(
            f"error: the model's scores on these words are not finite numbers ({res}); checkpoint {bundle.path} "
            "is unusable. Retrain it.",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(out, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def evaluate_words(bundle, words) -> EvalResult:
    """Teacher-forced and prefix-only NLL of a loaded (eval-mode, read-only) bundle on ``words``. Words the model
    cannot read (characters outside its vocabulary, or longer than its context) are skipped; ``n_words`` says how
    many were scored. Used live by the Leak lesson page on the validation words."""
    from models.data import encode_words

    vocab = bundle.vocab
    keep = [w for w in words if w and not vocab.unknown_chars(w) and len(w) + 2 <= bundle.block_size]
    if not keep:
        raise ValueError("no word in the list fits this model's vocabulary and context")
    x, y = (t.to(bundle.device) for t in encode_words(keep, vocab))
    return evaluate_tensors(bundle.model, x, y)
