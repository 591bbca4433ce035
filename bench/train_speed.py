"""Original (seed) recipe vs the fast default, same words and split, in one run.

``python -m bench.train_speed [--device D] [--models miniformer full] [--quick]``

For each model: wall time of each recipe (optimisation steps only, evaluation excluded, so the two recipes are
timed alike), the seed recipe's final validation (test) NLL, the time the fast recipe took to first reach it, the
ratio, and both honest (prefix-only) NLLs. Targets: MiniFormer reaches the seed result >= 10x sooner; leak-free
FullTransformer <= 2.30 prefix-only NLL in <= 1/5 of the seed recipe's time.
"""
from __future__ import annotations

import argparse
import dataclasses

import torch

from bench.common import append_results, machine_info
from models.data import load_words
from models.device import pick_device
from models.train import SEED_RECIPE, recipe_for, train


def time_to_reach(history: list[dict], target: float) -> float | None:
    for h in history:
        if h["val_prefix_nll"] <= target:
            return h["train_seconds"]
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.train_speed")
    ap.add_argument("--device", default=None)
    ap.add_argument("--models", nargs="+", default=["miniformer", "full"])
    ap.add_argument("--quick", action="store_true", help="10 seed epochs: a smoke test, not a measurement")
    args = ap.parse_args(argv)
    device = pick_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    words = load_words()
    rows = []
    for m in args.models:
        seed_r = dataclasses.replace(SEED_RECIPE, epochs=10) if args.quick else SEED_RECIPE
        seed = train(m, words, seed_r, device=device)
        fast = train(m, words, "fast", device=device)
        target = seed.history[-1]["val_prefix_nll"]
        t_seed = seed.history[-1]["train_seconds"]
        t_fast_reach = time_to_reach(fast.history, target)
        t_fast = fast.history[-1]["train_seconds"]
        ratio = t_seed / t_fast_reach if t_fast_reach else None
        if m == "miniformer":
            goal = f"reach seed's {target:.3f} >= 10x sooner: " + ("met" if ratio and ratio >= 10 else "NOT met")
        else:
            ok = fast.metrics["val_prefix_nll"] <= 2.30 and t_fast <= t_seed / 5
            goal = (f"<= 2.30 prefix NLL in <= 1/5 of seed time: {'met' if ok else 'NOT met'} "
                    f"({fast.metrics['val_prefix_nll']:.3f} in {t_fast / t_seed:.2f} of it)")
        rows.append((m, f"{t_seed:.1f}", f"{seed.history[-1]['val_prefix_nll']:.3f}",
                     f"{seed.history[-1]['val_tf_nll']:.3f}", f"{t_fast:.1f}", fast.best_epoch,
                     f"{fast.metrics['val_prefix_nll']:.3f}",
                     f"{t_fast_reach:.1f}" if t_fast_reach else "never", f"{ratio:.1f}x" if ratio else "-", goal))
    head = ("model", "seed s", "seed NLL (prefix)", "seed NLL (tf)", "fast s", "fast kept epoch", "fast NLL (prefix)",
            "fast s to seed NLL", "speed-up", "target")
    table = "| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n" + "\n".join(
        "| " + " | ".join(str(c) for c in r) + " |" for r in rows)
    print(table)
    append_results("train_speed" + (" (--quick)" if args.quick else ""), machine_info(device) + "\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
