"""Small pure metrics on captured attention. Nothing here mutates its input or imports streamlit."""
from __future__ import annotations

import torch

from models.capture import AttentionCapture
from models.generate import next_token_probs  # noqa: F401  (re-exported: the views' one import point)


def visible_keys(Q: int, K: int, causal: bool) -> torch.Tensor:
    """(Q,) number of keys each query row can see."""
    return torch.arange(1, Q + 1).clamp(max=K) if causal else torch.full((Q,), K)


def attention_entropy(pattern: torch.Tensor, causal: bool) -> torch.Tensor:
    """(1, H, Q, K) -> (H, Q) entropy / log(keys visible to that query), in [0, 1]. 0 = one key, 1 = uniform.
    A row that can see a single key has nothing to choose: it is 0 by definition."""
    ent = torch.special.entr(pattern[0].double()).sum(-1)                    # (H, Q); entr(0) == 0: masked keys add nothing
    Q, K = pattern.shape[-2:]
    n_keys = visible_keys(Q, K, causal).to(ent.dtype)
    return (ent / torch.log(n_keys.clamp(min=2))).clamp(0, 1).float()


def mean_entropy(cap: AttentionCapture, kind: str) -> torch.Tensor:
    """(layers, H): the mean over queries of the normalised entropy, for one family of patterns. Query rows that
    can see only one key (causal row 0) are left out of the mean: their entropy is 0 by construction."""
    rows = []
    for name in cap.names(kind):
        p = cap.patterns[name]
        causal = cap.is_masked_causal(name)
        ent = attention_entropy(p, causal)                                      # (H, Q)
        keep = visible_keys(p.shape[-2], p.shape[-1], causal) > 1
        rows.append(ent[:, keep].mean(-1) if keep.any() else torch.zeros(ent.shape[0]))
    return torch.stack(rows)


def weight_on_next_key(cap: AttentionCapture, name: str) -> torch.Tensor:
    """(H,) mean weight each head puts on key t+1 from query t, over the queries that have a key t+1.
    The peeking FullTransformer's cross-attention reads the answer there; a causal mask makes it exactly 0."""
    p = cap.patterns[name][0]                                                   # (H, Q, K)
    H, Q, K = p.shape
    n = min(Q, K - 1)
    if n < 1:
        return torch.zeros(H)
    idx = torch.arange(n)
    return p[:, idx, idx + 1].mean(-1)                                          # (H,)


def distribution_comparison(p: torch.Tensor, q: torch.Tensor) -> dict:
    """Two next-token distributions (V,): top-1 agreement, KL(p||q), KL(q||p), each one's probability of the other's top."""
    eps = 1e-12
    p, q = p.double(), q.double()
    kl = lambda a, b: float((a * (torch.log(a + eps) - torch.log(b + eps))).sum())
    ta, tb = int(p.argmax()), int(q.argmax())
    return {"top1_left": ta, "top1_right": tb, "agree": ta == tb, "kl_left_right": kl(p, q), "kl_right_left": kl(q, p),
            "p_left_of_right_top": float(p[tb]), "p_right_of_left_top": float(q[ta])}


def next_key_weights_by_layer(cap: AttentionCapture, kind: str = "cross") -> dict[str, torch.Tensor]:
    """{pattern name: (H,) weight on key t+1} for every layer of one family ('cross' by default: where the
    peeking FullTransformer reads the answer). Empty for a capture without that family (e.g. MiniFormer)."""
    return {name: weight_on_next_key(cap, name) for name in cap.names(kind)}


def leak_summary(cap: AttentionCapture, kind: str = "cross") -> dict:
    """How much a model looks one step ahead, over every head of one family: ``mean`` (over layers and heads),
    ``max`` (the most-peeking head), ``layer`` (the pattern whose heads put the most weight on key t+1, on
    average) and ``chance`` (what a head spreading attention evenly over all keys would put there)."""
    by_layer = next_key_weights_by_layer(cap, kind)
    if not by_layer:
        return {"mean": 0.0, "max": 0.0, "layer": None, "chance": 0.0}
    w = torch.stack(list(by_layer.values()))                                    # (layers, H)
    best = max(by_layer, key=lambda n: float(by_layer[n].mean()))
    K = cap.patterns[best].shape[-1]
    return {"mean": float(w.mean()), "max": float(w.max()), "layer": best, "chance": 1.0 / K}


def counterfactual_next_token(cap_a: AttentionCapture, cap_b: AttentionCapture) -> dict:
    """Compare the next-token prediction of two captures that differ only in their source.

    Returns each side's top-1 id and probability, the largest absolute change of any token's probability
    (``max_change``; exactly 0 when the model cannot see the part of the source that changed), and the source token
    at position t+1 (the one right after the last target position) on each side, or None when the source is
    that short; ``first_diff``, the first source position where the two differ (None if identical), and
    ``only_future_changed``, whether every difference lies after the last target position t."""
    pa = cap_a.next_token_logits().double().softmax(-1)                          # (V,)
    pb = cap_b.next_token_logits().double().softmax(-1)
    t1 = len(cap_a.tgt_tokens)                                                   # key index t+1 for the last query t
    fut = lambda c: c.src_tokens[t1] if len(c.src_tokens) > t1 else None
    ta, tb = int(pa.argmax()), int(pb.argmax())
    sa, sb = cap_a.src_tokens, cap_b.src_tokens
    diff = next((i for i, (x, y) in enumerate(zip(sa, sb)) if x != y), None)
    if diff is None and len(sa) != len(sb):
        diff = min(len(sa), len(sb))
    return {"top_a": ta, "top_b": tb, "p_top_a": float(pa[ta]), "p_top_b": float(pb[tb]),
            "same_top": ta == tb, "max_change": float((pa - pb).abs().max()),
            "future_a": fut(cap_a), "future_b": fut(cap_b),
            "first_diff": diff, "only_future_changed": diff is None or diff >= t1}


def chosen_token_probs(probs: list[torch.Tensor], token_ids: list[int]) -> list[float]:
    """The probability each generation step gave to the token it chose (a step's (V,) probs and its choice)."""
    return [float(p[i]) for p, i in zip(probs, token_ids)]


def end_of_word_prob(cap: AttentionCapture) -> float:
    """For a capture read as a finished word (its last token ``<EOS>``): the probability the model gave to ending
    the word at the last character, i.e. p(``<EOS>``) from the logits one position before ``<EOS>``. After ``<EOS>``
    there is nothing left to predict, so its own next-token distribution means nothing."""
    from models.vocab import EOS
    if cap.logits is None or len(cap.tgt_tokens) < 2 or cap.tgt_tokens[-1] != EOS:
        raise ValueError("end_of_word_prob needs a live capture of a finished word (last token <EOS>, with logits)")
    return float(cap.logits[0, -2].softmax(-1)[cap.vocab.index(EOS)])              # cap.vocab: the itos tuple
