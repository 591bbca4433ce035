"""The head lab's measures: what each attention head is *for*, asked of the model itself.

* **Knock-out and importance** (Michel et al. 2019, "Are Sixteen Heads Really Better than One?"): a head's output
  is multiplied by 0 through the forward pass's ``head_mask`` argument (never by editing weights: cached models are
  shared and read-only); a head's importance is how much the honest, prefix-only NLL on the validation words rises
  when that head alone is knocked out.
* **Roles and confidence** (Voita et al. 2019, "Analyzing Multi-Head Self-Attention"): the share of attention
  mass that fits a positional or token role, computed on the validation words, and the head's confidence, the mean
  over queries of the largest weight. A head gets a role label only when its best score clearly leads.
* **Leave-one-out** (the occlusion test behind Jain & Wallace 2019, "Attention is not Explanation"): each earlier
  character replaced by ``<UNK>`` in turn, and the change in the probability of the model's top choice.

Every function runs the model in eval mode under ``torch.inference_mode()`` and writes nothing to it.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.capture import head_mask_tensors
from models.checkpoint import ModelBundle
from models.evaluate import prefix_logits
from models.vocab import BOS_ID, PAD_ID, UNK_ID

# Roles scored on every head, each as the share of a query's attention mass that fits it, averaged over queries:
# previous (key t-1), start (<BOS>, key 0: often a no-op), self (key t), same (earlier keys holding the query's own
# character), first (the first letter, key 1), next (key t+1: only an unmasked pattern can see it) and spread
# (the row's overlap with an even spread over the keys it can see, rescaled to 0 for one key .. 1 for even).
ROLES = ("previous", "start", "self", "same", "first", "next", "spread")
MIN_QUERY = 3  # roles are scored on queries t >= 3, where <BOS> (0), the first letter (1), the previous
# character (t-1) and the query itself (t) are four different keys
LABEL_MIN = 0.4  # a head is labelled with its best role only if that role's score is at least this ...
LABEL_LEAD = 0.15  # ... and leads the second-best role by at least this much; else it is "mixed"


def attention_modules(model) -> list[tuple[str, int]]:
    """[(TL module name, n_head)] of every attention module, in forward order: ``blocks.0.attn`` for MiniFormer;
    ``encoder.{l}.attn``, then ``decoder.{l}.attn`` and ``decoder.{l}.cross_attn`` for the FullTransformer."""
    return [(n, m.n_head) for n, m in model.named_modules() if hasattr(m, "n_head") and hasattr(m, "q_proj")]


def _readable(bundle: ModelBundle, words: Iterable[str]) -> list[str]:
    vocab = bundle.vocab
    return [w for w in words if w and not vocab.unknown_chars(w) and len(w) + 2 <= bundle.block_size]


def _check_eval(bundle: ModelBundle) -> None:
    if bundle.model.training:
        raise RuntimeError(f"model {bundle.name!r} is in training mode; the head lab only reads eval-mode models")


# ---- knock-out importance ----------------------------------------------------------------------------------------


def honest_nll(bundle: ModelBundle, words: Sequence[str], knocked_out=()) -> float:
    """Prefix-only NLL (nats per character, <EOS> included) on ``words`` with the given heads knocked out: position
    t is predicted from the word's first t+1 tokens only, so the peeking model cannot read the answer."""
    from models.data import encode_words

    _check_eval(bundle)
    keep = _readable(bundle, words)
    if not keep:
        raise ValueError("no word in the list fits this model's vocabulary and context")
    dev = bundle.device
    x, y = (t.to(dev) for t in encode_words(keep, bundle.vocab))
    mask = head_mask_tensors(bundle.model, knocked_out, dev) or None
    with torch.inference_mode():
        logits = prefix_logits(bundle.model, x, y, head_mask=mask)  # (N, T, V)
        m = y != PAD_ID
        return F.cross_entropy(logits[m].double(), y[m], reduction="mean").item()


@dataclass(frozen=True)
class HeadImportance:
    module: str  # TL module name, e.g. "decoder.0.cross_attn"
    head: int
    nll: float  # honest NLL with this head alone knocked out
    delta: float  # nll - the intact model's NLL: how much the model needs this head


def head_importance(bundle: ModelBundle, words: Sequence[str]) -> tuple[float, list[HeadImportance]]:
    """(the intact model's honest NLL, one row per head), rows sorted by ``delta``, largest first (ties keep the
    forward order). One knock-out at a time, every other head intact."""
    base = honest_nll(bundle, words)
    rows = [
        HeadImportance(module, h, nll, nll - base)
        for module, n_head in attention_modules(bundle.model)
        for h in range(n_head)
        for nll in (honest_nll(bundle, words, ((module, h),)),)
    ]
    return base, sorted(rows, key=lambda r: -r.delta)


# ---- roles -----------------------------------------------------------------------------------------------------


def role_scores(
    pattern: torch.Tensor, q_ids: torch.Tensor, k_ids: torch.Tensor, causal: bool, min_query: int = MIN_QUERY
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Sum of each role's attention mass over the scored queries, and how many queries it was scored on.

    pattern (N, H, Q, K) for N words of one length (no padding); q_ids (N, Q), k_ids (N, K) token ids at the
    query and key positions; ``causal``: query t sees keys <= t only. Returns {role: ((H,) mass sum, count)} with
    the extra entry ``"confidence"`` (the largest weight, summed over queries that see at least two keys). Roles
    with no key to point at for a query (no earlier same character; no key t+1 for a causal pattern) skip it."""
    N, H, Q, K = pattern.shape
    p = pattern.double()
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    t = torch.arange(Q)
    n_vis = (t + 1).clamp(max=K) if causal else torch.full((Q,), K)  # (Q,) keys each row sees
    conf_rows = n_vis > 1
    out["confidence"] = (p[:, :, conf_rows].amax(-1).sum((0, 2)), torch.tensor(N * int(conf_rows.sum())))
    scored = t[(t >= min_query) & (t < K)]
    if len(scored) == 0:
        return {r: (torch.zeros(H, dtype=torch.float64), torch.tensor(0)) for r in ROLES} | {
            "confidence": out["confidence"]
        }
    ps = p[:, :, scored]  # (N, H, S, K)
    one = lambda k: ps.gather(-1, k.view(1, 1, -1, 1).expand(N, H, -1, 1)).squeeze(-1)  # (N, H, S)
    n = len(scored)
    out["previous"] = (one(scored - 1).sum((0, 2)), torch.tensor(N * n))
    out["start"] = (ps[..., 0].sum((0, 2)), torch.tensor(N * n))
    out["self"] = (one(scored).sum((0, 2)), torch.tensor(N * n))
    out["first"] = (ps[..., 1].sum((0, 2)), torch.tensor(N * n))
    keys = torch.arange(K)
    same = (
        (k_ids[:, None, :] == q_ids[:, scored, None]) & (keys[None, None, :] < scored[None, :, None]) & (keys >= 1)
    )  # (N, S, K) earlier, not <BOS>
    has_same = same.any(-1)  # (N, S)
    out["same"] = ((ps * same[:, None]).sum(-1).mul(has_same[:, None]).sum((0, 2)), has_same.sum())
    nxt = scored[:0] if causal else scored[scored + 1 < K]  # a causal row never sees t+1
    if len(nxt):
        pn = p[:, :, nxt].gather(-1, (nxt + 1).view(1, 1, -1, 1).expand(N, H, -1, 1)).squeeze(-1)
        out["next"] = (pn.sum((0, 2)), torch.tensor(N * len(nxt)))
    else:
        out["next"] = (torch.zeros(H, dtype=torch.float64), torch.tensor(0))
    nv = n_vis[scored].double()  # (S,)
    even = (keys[None, :] < n_vis[scored][:, None]).double() / nv[:, None]  # (S, K) 1/n on visible
    # overlap with an even spread (sum of min(p, 1/n)), rescaled so one key alone scores 0 and an even spread 1:
    # unscaled, a head split between two of four keys would score 0.5 and "spread out" would win most heads
    overlap = torch.minimum(ps, even).sum(-1)  # (N, H, S)
    out["spread"] = (((overlap - 1 / nv) / (1 - 1 / nv)).sum((0, 2)), torch.tensor(N * n))
    return out


@dataclass(frozen=True)
class HeadRole:
    module: str
    head: int
    scores: dict[str, float]  # role -> share of attention mass that fits it (None-free: NaN when never scored)
    confidence: float  # Voita's: mean over queries of the largest weight
    label: str  # the best role when it clearly leads, else "mixed"
    lead: float  # best score - second-best score


def label_role(
    scores: dict[str, float], min_score: float = LABEL_MIN, min_lead: float = LABEL_LEAD
) -> tuple[str, float]:
    """(label, lead): the best-scoring role if it scores >= ``min_score`` and leads the next by >= ``min_lead``,
    else "mixed". NaN scores (a role that never applied) are ignored."""
    ranked = sorted(((v, r) for r, v in scores.items() if v == v), reverse=True)
    if not ranked:
        return "mixed", 0.0
    best = ranked[0][0]
    second = ranked[1][0] if len(ranked) > 1 else 0.0
    lead = best - second
    return (ranked[0][1] if best >= min_score and lead >= min_lead else "mixed"), lead


def _module_causal(bundle: ModelBundle, module: str) -> bool:
    """Decoder self-attention is always causal; the encoder and cross-attention are unless the model peeks."""
    if module.startswith("decoder.") and not module.endswith("cross_attn"):
        return True
    return not bundle.peeking


def head_roles(bundle: ModelBundle, words: Sequence[str]) -> list[HeadRole]:
    """Role scores and confidence of every head over ``words`` (grouped by length, so no padding is ever attended
    to; the enc-dec model reads each word as its own source, as in training). Rows in forward order."""
    _check_eval(bundle)
    keep = _readable(bundle, words)
    if not keep:
        raise ValueError("no word in the list fits this model's vocabulary and context")
    vocab, dev = bundle.vocab, bundle.device
    modules = attention_modules(bundle.model)
    totals: dict[str, dict[str, list]] = {m: {} for m, _ in modules}
    by_len: dict[int, list[str]] = {}
    for w in keep:
        by_len.setdefault(len(w), []).append(w)
    for n in sorted(by_len):
        ids = torch.tensor([[BOS_ID] + [vocab.stoi[c] for c in w] for w in by_len[n]])  # (N, n+1)
        with torch.inference_mode():
            out = bundle.model(ids.to(dev), return_attention=True)
        if bundle.is_seq2seq:
            pats = {f"encoder.{l}.attn": p for l, p in enumerate(out.encoder_attentions)}
            pats |= {f"decoder.{l}.attn": p for l, p in enumerate(out.decoder_attentions)}
            pats |= {f"decoder.{l}.cross_attn": p for l, p in enumerate(out.cross_attentions)}
        else:
            pats = {f"blocks.{l}.attn": p for l, p in enumerate(out.attentions)}
        for module, p in pats.items():
            sc = role_scores(p.to("cpu", torch.float32), ids, ids, _module_causal(bundle, module))
            for role, (s, c) in sc.items():
                acc = totals[module].setdefault(role, [0.0, 0])
                acc[0] = acc[0] + s
                acc[1] += int(c)
    rows = []
    for module, n_head in modules:
        for h in range(n_head):
            scores = {
                r: (float(totals[module][r][0][h]) / totals[module][r][1]) if totals[module][r][1] else float("nan")
                for r in ROLES
            }
            s, c = totals[module]["confidence"]
            label, lead = label_role(scores)
            rows.append(HeadRole(module, h, scores, float(s[h]) / max(c, 1), label, lead))
    return rows


# ---- leave-one-out and the "what changed" variant ------------------------------------------------------------------


@dataclass(frozen=True)
class LeaveOneOut:
    tokens: tuple[str, ...]  # the input's tokens, <BOS> first
    top: int  # the model's top next-token id on the intact input
    p_top: float  # its probability
    delta: tuple[float, ...]  # per position: p_top - p(top) with that character replaced by <UNK>; 0.0 at <BOS>


def leave_one_out(bundle: ModelBundle, text: str, knocked_out=()) -> LeaveOneOut:
    """Occlusion importance for the next-character prediction after ``text``: one forward pass with every
    character position replaced by ``<UNK>`` in its own row (source and target alike: the enc-dec model reads the
    word as its own source). ``<BOS>`` is never replaced (its delta is 0)."""
    _check_eval(bundle)
    enc = bundle.vocab.encode(text, max_len=bundle.block_size)
    ids = torch.tensor(enc.ids)  # (T,)
    T = len(ids)
    rows = ids.repeat(T, 1)  # (T, T): row 0 intact
    pos = torch.arange(1, T)
    rows[pos, pos] = UNK_ID  # row i: position i -> <UNK>
    dev = bundle.device
    mask = head_mask_tensors(bundle.model, knocked_out, dev) or None
    with torch.inference_mode():
        probs = bundle.model(rows.to(dev), head_mask=mask).logits[:, -1].double().softmax(-1).cpu()  # (T, V)
    top = int(probs[0].argmax())
    delta = (probs[0, top] - probs[:, top]).tolist()
    delta[0] = 0.0
    return LeaveOneOut(tokens=enc.tokens, top=top, p_top=float(probs[0, top]), delta=tuple(delta))


def one_char_changed(word: str) -> str:
    """The default second input of "what changed": ``word`` with its middle character moved one letter on
    (z -> a; anything else -> a). '' stays ''."""
    if not word:
        return ""
    i = len(word) // 2
    c = word[i].lower()
    letters = string.ascii_lowercase
    new = letters[(letters.index(c) + 1) % 26] if c in letters else "a"
    return word[:i] + new + word[i + 1 :]
