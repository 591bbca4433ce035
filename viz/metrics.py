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
