"""Small pure metrics on captured attention. Nothing here mutates its input or imports streamlit."""

from __future__ import annotations

import torch

from models.capture import AttentionCapture
from models.generate import next_token_probs  # noqa: F401  (re-exported: the views' one import point)
from models.vocab import VISIBLE_SPACE


def visible_keys(Q: int, K: int, causal: bool) -> torch.Tensor:
    """(Q,) number of keys each query row can see."""
    return torch.arange(1, Q + 1).clamp(max=K) if causal else torch.full((Q,), K)


def attention_entropy(pattern: torch.Tensor, causal: bool) -> torch.Tensor:
    """(1, H, Q, K) -> (H, Q) entropy / log(keys visible to that query), in [0, 1]. 0 = one key, 1 = uniform.
    A row that can see a single key has nothing to choose: it is 0 by definition."""
    ent = torch.special.entr(pattern[0].double()).sum(-1)  # (H, Q); entr(0) == 0: masked keys add nothing
    Q, K = pattern.shape[-2:]
    n_keys = visible_keys(Q, K, causal).to(ent.dtype)
    return (ent / torch.log(n_keys.clamp(min=2))).clamp(0, 1).float()


def mean_entropy(cap: AttentionCapture, family: str) -> torch.Tensor:
    """(layers, H): the mean over queries of the normalised entropy, for one family of patterns. Query rows that
    can see only one key (causal row 0) are left out of the mean: their entropy is 0 by construction."""
    rows = []
    for name in cap.names(family):
        p = cap.patterns[name]
        causal = cap.is_masked_causal(name)
        ent = attention_entropy(p, causal)  # (H, Q)
        keep = visible_keys(p.shape[-2], p.shape[-1], causal) > 1
        rows.append(ent[:, keep].mean(-1) if keep.any() else torch.zeros(ent.shape[0]))
    return torch.stack(rows)


def notebook_entropy(pattern: torch.Tensor) -> float:
    """The seed notebook's attention entropy of one layer: -sum p log p in nats (not divided by anything), averaged
    over every head and every query row — rows that can see one key included, at 0. (1, H, Q, K) -> a number.
    :func:`mean_entropy` differs on purpose: per head, divided by log(keys visible), rows with one key left out."""
    return float(torch.special.entr(pattern[0].double()).sum(-1).mean())  # (H, Q) -> mean over heads and rows


def notebook_entropies(cap: AttentionCapture) -> dict[str, float]:
    """{pattern name: :func:`notebook_entropy`} for every square pattern (what the notebook's JSON can hold)."""
    return {n: notebook_entropy(cap.patterns[n]) for family in cap.square_families() for n in cap.names(family)}


def weight_on_next_key(cap: AttentionCapture, name: str) -> torch.Tensor:
    """(H,) mean weight each head puts on key t+1 from query t, over the queries that have a key t+1.
    The peeking FullTransformer's cross-attention reads the answer there; a causal mask makes it exactly 0."""
    p = cap.patterns[name][0]  # (H, Q, K)
    H, Q, K = p.shape
    n = min(Q, K - 1)
    if n < 1:
        return torch.zeros(H)
    idx = torch.arange(n)
    return p[:, idx, idx + 1].mean(-1)  # (H,)


def distribution_comparison(p: torch.Tensor, q: torch.Tensor) -> dict:
    """Two next-token distributions (V,): top-1 agreement, KL(p||q), KL(q||p), each one's probability of
    the other's top."""
    eps = 1e-12
    p, q = p.double(), q.double()
    kl = lambda a, b: float((a * (torch.log(a + eps) - torch.log(b + eps))).sum())
    ta, tb = int(p.argmax()), int(q.argmax())
    return {
        "top1_left": ta,
        "top1_right": tb,
        "agree": ta == tb,
        "kl_left_right": kl(p, q),
        "kl_right_left": kl(q, p),
        "p_left_of_right_top": float(p[tb]),
        "p_right_of_left_top": float(q[ta]),
    }


def next_key_weights_by_layer(cap: AttentionCapture, family: str = "cross") -> dict[str, torch.Tensor]:
    """{pattern name: (H,) weight on key t+1} for every layer of one family ('cross' by default: where the
    peeking FullTransformer reads the answer). Empty for a capture without that family (e.g. MiniFormer)."""
    return {name: weight_on_next_key(cap, name) for name in cap.names(family)}


def leak_summary(cap: AttentionCapture, family: str = "cross") -> dict:
    """How much a model looks one step ahead, over every head of one family: ``mean`` (over layers and heads),
    ``max`` (the most-peeking head), ``layer`` (the pattern whose heads put the most weight on key t+1, on
    average) and ``chance`` (what a head spreading attention evenly over all keys would put there)."""
    by_layer = next_key_weights_by_layer(cap, family)
    if not by_layer:
        return {"mean": 0.0, "max": 0.0, "layer": None, "chance": 0.0}
    w = torch.stack(list(by_layer.values()))  # (layers, H)
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
    pa = cap_a.next_token_logits().double().softmax(-1)  # (V,)
    pb = cap_b.next_token_logits().double().softmax(-1)
    t1 = len(cap_a.tgt_tokens)  # key index t+1 for the last query t
    fut = lambda c: c.src_tokens[t1] if len(c.src_tokens) > t1 else None
    ta, tb = int(pa.argmax()), int(pb.argmax())
    sa, sb = cap_a.src_tokens, cap_b.src_tokens
    diff = next((i for i, (x, y) in enumerate(zip(sa, sb)) if x != y), None)
    if diff is None and len(sa) != len(sb):
        diff = min(len(sa), len(sb))
    return {
        "top_a": ta,
        "top_b": tb,
        "p_top_a": float(pa[ta]),
        "p_top_b": float(pb[tb]),
        "same_top": ta == tb,
        "max_change": float((pa - pb).abs().max()),
        "future_a": fut(cap_a),
        "future_b": fut(cap_b),
        "first_diff": diff,
        "only_future_changed": diff is None or diff >= t1,
    }


def chosen_token_probs(probs: list[torch.Tensor], token_ids: list[int]) -> list[float]:
    """The probability each generation step gave to the token it chose (a step's (V,) probs and its choice)."""
    return [float(p[i]) for p, i in zip(probs, token_ids)]


# ---- Head lab -----------------------------------------------------------------------------------------------------


def head_mean(cap: AttentionCapture, name: str) -> torch.Tensor:
    """(Q, K) mean pattern over the heads that were *not* knocked out (zeros when all were: no position reads
    another through this layer's attention; the layer still adds its output projection's bias, the same vector at
    every position, and still runs its feed-forward and LayerNorms, so it is silenced, not removed)."""
    p = cap.patterns[name][0]  # (H, Q, K)
    keep = [h for h in range(p.shape[0]) if not cap.is_knocked_out(name, h)]
    return p[keep].mean(0) if keep else torch.zeros(p.shape[1:])


def attention_rollout(cap: AttentionCapture, family: str) -> torch.Tensor:
    """Abnar & Zuidema (2020) attention rollout over the layers of one square family ('blocks', 'encoder',
    'decoder'): each layer's head-mean pattern mixed half-and-half with the identity (the residual connection),
    rows renormalised, multiplied from the first layer up. (T, T); row t says how much of position t's final
    representation traces back to each input position. An approximation: it ignores the values, the FFNs and the
    LayerNorms, and it was designed for encoders (see the page for what a causal mask changes)."""
    names = cap.names(family)
    if not names:
        raise ValueError(f"this capture has no {family!r} patterns; it has {cap.families()}")
    T = cap.patterns[names[0]].shape[-1]
    eye = torch.eye(T, dtype=torch.float64)
    out = eye
    for name in names:
        a = 0.5 * head_mean(cap, name).double() + 0.5 * eye  # (T, T) attention + residual
        out = (a / a.sum(-1, keepdim=True)) @ out
    return out.float()


def cross_rollout(cap: AttentionCapture) -> torch.Tensor:
    """(T, S) for the encoder-decoder: the last decoder layer's head-mean cross-attention, carried through the
    encoder's rollout, i.e. which *input* positions the decoder's last cross-attention reads after the encoder has
    mixed them. A further approximation on top of :func:`attention_rollout`."""
    last = cap.names("cross")[-1]
    return (head_mean(cap, last).double() @ attention_rollout(cap, "encoder").double()).float()


def pattern_differences(cap_a: AttentionCapture, cap_b: AttentionCapture) -> dict[str, torch.Tensor]:
    """{pattern name: (H, Q, K) B - A} for every pattern the two captures share, cut to the positions both have
    (equal-length inputs compare everywhere). 0 = the head attends the same way on both inputs."""
    out = {}
    for name in cap_a.names():
        if name not in cap_b.patterns:
            continue
        a, b = cap_a.patterns[name][0], cap_b.patterns[name][0]  # (H, Q, K)
        if a.shape[0] != b.shape[0]:
            continue
        Q, K = min(a.shape[1], b.shape[1]), min(a.shape[2], b.shape[2])
        out[name] = b[:, :Q, :K] - a[:, :Q, :K]
    return out


def next_token_differences(cap_a: AttentionCapture, cap_b: AttentionCapture) -> torch.Tensor:
    """(Q, V) B - A of the next-token distribution (softmax of the logits) at every position both inputs have;
    the last row is the prediction after the shorter input. Each row sums to 0."""
    if cap_a.logits is None or cap_b.logits is None:
        raise ValueError("an imported capture has no logits: the next-token distribution needs a model")
    pa, pb = cap_a.logits[0].double().softmax(-1), cap_b.logits[0].double().softmax(-1)  # (T, V)
    Q = min(len(pa), len(pb))
    return (pb[:Q] - pa[:Q]).float()


# ---- "which word does 'it' look at?" (the Real model page's lesson) -----------------------------------------------
def _word_text(tok: str) -> str:
    return tok.replace(VISIBLE_SPACE, " ")


def word_span(tokens: tuple[str, ...] | list[str], word: str) -> tuple[int, ...]:
    """Positions of the last run of tokens that spells ``word`` as a whole word (case and surrounding spaces
    ignored): ('␣it',) for "it", ('␣anim', 'al') when a tokenizer splits it. () when the word is not there.
    A run must start a word (position 0, a leading space, or after a space / punctuation) and end one (the next
    token starts with a space or is not a letter), so "it" is not found inside "itself"."""
    want = word.strip().lower()
    if not want:
        return ()
    texts = [_word_text(t) for t in tokens]
    for start in range(len(texts) - 1, -1, -1):
        head = texts[start]
        starts_word = start == 0 or head[:1] == " " or not (texts[start - 1][-1:].isalnum())
        if not starts_word:
            continue
        acc = ""
        for end in range(start, len(texts)):
            acc += texts[end]
            got = acc.strip().lower()
            if got == want:
                nxt = texts[end + 1] if end + 1 < len(texts) else " "
                if nxt[:1] == " " or not nxt[:1].isalnum():
                    return tuple(range(start, end + 1))
            if not want.startswith(got):
                break
    return ()


def attention_to_span(cap: AttentionCapture, query: int, keys: tuple[int, ...], family: str = "blocks") -> torch.Tensor:
    """(layers, H): the weight query row ``query`` puts on the key positions ``keys`` (summed: a word split into
    sub-word tokens counts as one), for every layer and head of one family. Rows sum to 1, so this is in [0, 1]."""
    rows = [cap.patterns[n][0, :, query][:, list(keys)].sum(-1) for n in cap.names(family)]  # each (H,)
    return torch.stack(rows)


def top_heads(weights: torch.Tensor, n: int = 5) -> list[tuple[int, int, float]]:
    """The ``n`` (layer, head, weight) entries of a (layers, H) tensor with the largest weight, largest first."""
    flat = weights.flatten()
    vals, idx = flat.topk(min(n, flat.numel()))
    H = weights.shape[1]
    return [(int(i) // H, int(i) % H, float(v)) for v, i in zip(vals, idx)]


def word_attention_lesson(cap: AttentionCapture, word: str, candidates: tuple[str, ...], n: int = 5) -> dict:
    """From ``word`` (its last sub-word token: in a causal model that position has read the whole word) to each
    candidate word: every head's weight, the top ``n`` heads, and which candidate the single strongest head
    favours. ``missing`` lists the words not found as whole words in the capture (then nothing else is computed).

    Returns ``{"missing", "query", "spans", "weights": {cand: (layers, H)}, "top": {cand: [(l, h, w)]},
    "best": {cand: (l, h, w)}, "answer": cand, "later": [cand after the word: causally invisible]}``."""
    spans = {w: word_span(cap.tgt_tokens, w) for w in (word, *candidates)}
    missing = [w for w, s in spans.items() if not s]
    if missing:
        return {"missing": missing}
    q = spans[word][-1]
    visible = [c for c in candidates if spans[c][-1] <= q or not cap.causal]
    later = [c for c in candidates if c not in visible]
    weights = {c: attention_to_span(cap, q, spans[c]) for c in candidates}
    top = {c: top_heads(weights[c], n) for c in candidates}
    best = {c: top[c][0] for c in candidates}
    answer = max(candidates, key=lambda c: best[c][2])
    return {
        "missing": [],
        "query": q,
        "spans": spans,
        "weights": weights,
        "top": top,
        "best": best,
        "answer": answer,
        "later": later,
    }


def next_eos_prob(cap: AttentionCapture) -> float:
    """p(``<EOS>``) after the capture's last token: the probability of ending the word there, read from the word as
    typed (no ``<EOS>`` anywhere in its input). For a finished word this is the honest number for every model: a
    causal one gives exactly :func:`end_of_word_prob`, the peeking one would otherwise read the ``<EOS>`` of its
    source at t+1."""
    from models.vocab import EOS

    if cap.logits is None:
        raise ValueError("next_eos_prob needs a live capture (with logits)")
    return float(cap.logits[0, -1].softmax(-1)[cap.vocab.index(EOS)])


def end_of_word_prob(cap: AttentionCapture) -> float:
    """For a capture read as a finished word (its last token ``<EOS>``): the probability the model gave to ending
    the word at the last character, i.e. p(``<EOS>``) from the logits one position before ``<EOS>``. After ``<EOS>``
    there is nothing left to predict, so its own next-token distribution means nothing."""
    from models.vocab import EOS

    if cap.logits is None or len(cap.tgt_tokens) < 2 or cap.tgt_tokens[-1] != EOS:
        raise ValueError("end_of_word_prob needs a live capture of a finished word (last token <EOS>, with logits)")
    return float(cap.logits[0, -2].softmax(-1)[cap.vocab.index(EOS)])  # cap.vocab: the itos tuple
