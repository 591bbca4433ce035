"""Typing appends tokens: what a causal LM computed for a prefix stays true when more text follows it. So a keystroke
needs the forward pass only for the tokens that changed; the keys and values of the tokens before them
(``past_key_values``), their attention rows and their logits rows are reused.

Why this is exact: in a causal model, token t's query, key, value, attention row and logits depend on tokens
0..t only (the mask hides everything later). A new token's query attends to the cached keys of the prefix and to
its own key, through the same softmax a full pass computes; the only difference is the order of floating-point
sums in a smaller matrix product (tests/test_hf_prefix_cache.py holds both equal within float tolerance).

Why the *longest common token prefix*, not the old text: a keystroke can change the last word's tokens (byte-level
BPE: "␣tire" + "d" is "␣tired", one new token that replaces one; a deletion or an edit in the middle changes more).
The prefix cache is a trie of token ids, one node per token, holding that token's

- keys and values, one ``(1, H_kv, 1, hs)`` pair per layer (what the model's KV cache holds for it),
- attention row, ``(L, H, t + 1)``: what token t attends to, over tokens 0..t, in every layer and head,
- logits row, ``(V,)``: the model's next-token scores after it.

A capture walks the trie as far as the ids agree, runs the model on the rest with the walked keys/values as its
cache, adds the new tokens as nodes, and assembles the ``(1, H, T, T)`` patterns and ``(1, T, V)`` logits from the
rows. Students who type the same sentence (a class does) share the nodes.

One :class:`PrefixCache` per process (the UI makes it with ``st.cache_resource``): it holds tensors computed from
a model, never the model, and nothing is written to the shared model. It is bounded in bytes: least recently used
nodes go first, always a leaf (a node is touched after its children, so the oldest node has none).

References: the KV cache of Hugging Face transformers (``DynamicCache``, ``past_key_values``); Karpathy's nanoGPT
(the plain generate loop without one); Pope et al. (2022), "Efficiently Scaling Transformer Inference" (why the
prefix's keys and values are all a new token needs).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import torch

import settings
from models.capture import AttentionCapture
from models.messages import Message


def max_bytes() -> int:
    """The bound on a process's prefix cache in bytes (:func:`settings.lm_prefix_mb`)."""
    return int(settings.lm_prefix_mb() * 1e6)


@dataclass(eq=False)
class Node:
    """One token at one position, after the tokens of its parents."""

    token: int
    parent: Node | None
    kv: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer (k, v), each (1, H_kv, 1, hs)
    rows: torch.Tensor  # (L, H, t + 1): this token's attention rows
    logits: torch.Tensor  # (V,)
    children: dict[int, Node] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes + v.nbytes for k, v in self.kv) + self.rows.nbytes + self.logits.nbytes


class PrefixCache:
    """A per-process LRU trie of computed tokens, per model (``key``: e.g. the model's source and file stamp, so a
    replaced model never meets its predecessor's rows). Thread-safe: Streamlit runs each session on its own
    thread. The forward pass itself runs outside the lock."""

    def __init__(self, max_bytes_: int | None = None):
        self.max_bytes = max_bytes() if max_bytes_ is None else max_bytes_
        self._lock = threading.Lock()
        self._roots: dict[Hashable, dict[int, Node]] = {}
        self._lru: OrderedDict[int, tuple[Hashable, Node]] = OrderedDict()  # id(node) -> (key, node), oldest first
        self.nbytes = 0
        self.computed = 0  # tokens run through the model (for the benchmark)
        self.reused = 0  # tokens taken from the cache

    def __len__(self) -> int:
        return len(self._lru)

    def walk(self, key: Hashable, ids: Sequence[int]) -> list[Node]:
        """The nodes of the longest prefix of ``ids`` already computed (touched: most recent now)."""
        with self._lock:
            path, level = [], self._roots.get(key, {})
            for tok in ids:
                node = level.get(int(tok))
                if node is None:
                    break
                path.append(node)
                level = node.children
            self._touch(key, path)
            self.reused += len(path)
            return path

    def add(self, key: Hashable, path: list[Node], nodes: list[Node]) -> list[Node]:
        """Hang ``nodes`` (a chain, the first one's parent is ``path[-1]``) under ``path``; a node another session
        added meanwhile for the same token is kept and used instead. Then evict down to the bound. Returns the
        full path."""
        with self._lock:
            full = list(path)
            self.computed += len(nodes)
            if path and not self._alive(path[-1]):  # evicted while the model ran: keep the result uncached
                return full + nodes
            level = path[-1].children if path else self._roots.setdefault(key, {})
            for node in nodes:
                have = level.get(node.token)
                if have is None:
                    node.parent = full[-1] if full else None
                    level[node.token] = node
                    self.nbytes += node.nbytes
                    have = node
                full.append(have)
                level = have.children
            self._touch(key, full)
            self._evict()
            return full

    def clear(self) -> None:
        with self._lock:
            self._roots.clear()
            self._lru.clear()
            self.nbytes = self.computed = self.reused = 0

    # -- under the lock ------------------------------------------------------------------------------------------
    def _alive(self, node: Node) -> bool:
        return id(node) in self._lru and self._lru[id(node)][1] is node

    def _touch(self, key, path: list[Node]) -> None:
        for node in reversed(path):  # leaf first, root last: a parent is always more recent than its children
            self._lru[id(node)] = (key, node)
            self._lru.move_to_end(id(node))

    def _evict(self) -> None:
        while self.nbytes > self.max_bytes and self._lru:
            _, (key, node) = self._lru.popitem(last=False)  # the oldest: a leaf (see _touch)
            siblings = node.parent.children if node.parent is not None else self._roots.get(key, {})
            if siblings.get(node.token) is node:
                del siblings[node.token]
            if node.parent is None and key in self._roots and not self._roots[key]:
                del self._roots[key]  # the model's last token went
            self.nbytes -= node.nbytes


# ---- the forward pass on the new tokens ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Row:
    """One sequence to extend: its token ids and the nodes of its cached prefix (``len(path) < len(ids)``)."""

    ids: tuple[int, ...]
    path: list[Node]


def _kv_cache(model, rows: Sequence[Row], N: int):
    """A fresh transformers DynamicCache holding each row's prefix keys and values, right-aligned in ``N`` slots:
    (B, H_kv, N, hs) per layer, zeros in the slots before a shorter prefix (its attention mask hides them)."""
    from transformers import DynamicCache

    some = next(r.path for r in rows if r.path)
    n_layer = len(some[0].kv)
    data = []
    for l in range(n_layer):
        k0, v0 = some[0].kv[l]
        K = k0.new_zeros(len(rows), k0.shape[1], N, k0.shape[3])  # (B, H_kv, N, hs)
        V = v0.new_zeros(len(rows), v0.shape[1], N, v0.shape[3])
        for i, r in enumerate(rows):
            n = len(r.path)
            if n:
                K[i, :, N - n :] = torch.cat([node.kv[l][0][0] for node in r.path], dim=1)
                V[i, :, N - n :] = torch.cat([node.kv[l][1][0] for node in r.path], dim=1)
        data.append((K, V))
    return DynamicCache(ddp_cache_data=data, config=model.config)


def forward_rows(model, rows: Sequence[Row]) -> list[list[Node]] | None:
    """One padded forward pass for several sequences at once (a micro-batch of students' keystrokes), each row
    computing only its tokens after its cached prefix. Returns, per row, the new nodes; None when this model's
    cache can't be split per token (see :func:`_new_nodes`).

    The layout, per row of ``n`` cached and ``m`` new tokens, in ``N + M`` slots (N, M: the largest n and m)::

        [ pad * (N - n) | prefix (n) ]  [ new (m) | pad * (M - m) ]
          the KV cache, right-aligned     input_ids (B, M)

    The 2D attention mask (B, N + M) is 1 on a row's real tokens only, so no real query ever weighs a pad key
    (its softmax weight is exactly 0: transformers adds the dtype's minimum before the softmax); the causal part
    follows the slot index, the same for every row, and within a row real tokens keep their order. position_ids
    give each real token its position in its own sequence (RoPE and learned positions read these, not slots); a
    pad query repeats the row's last position and its output is thrown away. A row's pattern is then its real
    key columns, exactly what a single-sequence pass computes up to float rounding (tests/test_hf_prefix_cache.py).
    """
    B = len(rows)
    N = max(len(r.path) for r in rows)
    M = max(len(r.ids) - len(r.path) for r in rows)
    input_ids = torch.zeros(B, M, dtype=torch.long)  # (B, M), pads are token 0 (masked as keys, ignored as queries)
    position_ids = torch.zeros(B, M, dtype=torch.long)  # (B, M)
    mask = torch.zeros(B, N + M, dtype=torch.long)  # (B, N + M)
    for i, r in enumerate(rows):
        n, m = len(r.path), len(r.ids) - len(r.path)
        input_ids[i, :m] = torch.tensor(r.ids[n:])
        position_ids[i] = torch.arange(n, n + M).clamp(max=n + m - 1)
        mask[i, N - n : N + m] = 1
    with torch.inference_mode():
        kw = {"cache": _kv_cache(model, rows, N)} if N else {}
        out = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=position_ids,
            output_attentions=True,
            use_cache=True,
            **kw,
        )
    cache = getattr(out, "cache", None)  # transformers 5: `cache`, was past_key_values
    layers = getattr(cache, "layers", None)
    if not layers or any(
        type(lay).__name__ != "DynamicLayer" or getattr(lay, "keys", None) is None or lay.keys.shape[-2] != N + M
        for lay in layers
    ):
        return None
    att = torch.stack(out.attentions)  # (L, B, H, M, N + M)
    return [_new_nodes(att[:, i], out.logits[i], layers, i, r, N) for i, r in enumerate(rows)]


def _new_nodes(att: torch.Tensor, logits: torch.Tensor, layers, i: int, r: Row, N: int) -> list[Node]:
    """Row ``i``'s new nodes from a padded pass: ``att`` (L, H, M, N + M), ``logits`` (M, V); its real key
    columns are slots N - n .. N + m - 1, which are its tokens 0 .. n + m - 1 in order."""
    n, m = len(r.path), len(r.ids) - len(r.path)
    cols = slice(N - n, N + m)
    nodes = []
    for j in range(m):
        t = n + j  # the token's position in its sequence
        kv = tuple(
            (lay.keys[i : i + 1, :, N + j : N + j + 1].clone(), lay.values[i : i + 1, :, N + j : N + j + 1].clone())
            for lay in layers
        )
        nodes.append(
            Node(
                token=int(r.ids[t]),
                parent=None,
                kv=kv,
                rows=att[:, :, j, cols][:, :, : t + 1].clone(),  # (L, H, t + 1); later slots are exactly 0
                logits=logits[j].detach().clone(),
            )
        )
    return nodes


def _assemble(path: list[Node]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per layer (1, H, T, T) patterns (zeros above the diagonal, as the softmax gives) and (1, T, V) logits."""
    T = len(path)
    L, H = path[-1].rows.shape[:2]
    P = torch.zeros(L, H, T, T)  # (L, H, Q, K)
    for t, node in enumerate(path):
        P[:, :, t, : t + 1] = node.rows
    logits = torch.stack([n.logits for n in path]).unsqueeze(0)  # (1, T, V)
    return [P[l : l + 1].clone() for l in range(L)], logits


def extend(model, cache: PrefixCache, key: Hashable, ids: Sequence[int], path: list[Node]) -> list[Node] | None:
    """The full path of ``ids``: ``path`` (its cached prefix) and the rest computed by one forward pass, added to
    ``cache``. None when the model's cache can't be split per token."""
    nodes = forward_rows(model, [Row(tuple(ids), path)])
    return None if nodes is None else cache.add(key, path, nodes[0])


def capture_ids(
    b,
    ids: Sequence[int],
    cache: PrefixCache,
    key: Hashable,
    *,
    notes: tuple[Message, ...] = (),
    truncated: int = 0,
    batcher=None,
) -> AttentionCapture:
    """The same AttentionCapture as :func:`models.hf_lm.capture_ids` (within float tolerance), computing only the
    tokens after the longest prefix ``cache`` already holds for this model. With a ``batcher``
    (services/lm_batcher.Batcher), the forward pass runs on its worker, padded into one batch with other
    sessions' keystrokes."""
    from models.hf_lm import readable

    if b.model.training:
        raise RuntimeError(f"model {b.name!r} is in training mode; capture only reads eval-mode models")
    ids = [int(i) for i in ids]
    path = cache.walk(key, ids)
    if len(path) < len(ids):
        path = extend(b.model, cache, key, ids, path) if batcher is None else batcher.extend(b, cache, key, ids)
        if path is None:  # not a cache we can split per token: a plain full pass, uncached
            from models.hf_lm import capture_ids as full

            return full(b, ids, notes=notes, truncated=truncated)
    patterns, logits = _assemble(path)
    return AttentionCapture(
        model_name=b.name,
        src_tokens=(),
        tgt_tokens=tuple(readable(b.tokenizer, i) for i in ids),
        patterns={f"blocks.{l}.attn.hook_pattern": p for l, p in enumerate(patterns)},
        logits=logits,
        causal=True,
        truncated=truncated,
        notes=notes,
    )
