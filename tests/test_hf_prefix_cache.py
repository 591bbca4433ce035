"""The Real model's prefix cache (models/hf_prefix_cache.py): a keystroke runs only the tokens that changed, and the
capture is the one a full forward pass gives, over random edit sequences (appends, deletions, edits in the middle,
the empty text, texts past the token window), on a Llama-style and a GPT-2 model; the cache stays under its bound;
the shared model is not touched."""

from __future__ import annotations

import random
import time

import pytest
import torch
from hf_fixtures import KINDS, SENTENCES, save_tiny
from lab_fixtures import REPO  # noqa: F401  (puts the repo on sys.path)

from models import hf_lm
from models.hf_prefix_cache import PrefixCache

LECTURE = "The animal didn't cross the street because it was too tired"
ALPHABET = "abcdefghijklmnopqrstuvwxyz      .,'ABCé"


@pytest.fixture(scope="module", params=KINDS)
def tiny(request, tmp_path_factory):
    folder = save_tiny(request.param, tmp_path_factory.mktemp(request.param))
    return hf_lm.load_folder(folder)


def assert_same(a, b, what=""):
    """Same tokens, patterns and logits as the full forward, within float tolerance."""
    assert a.tgt_tokens == b.tgt_tokens, what
    assert a.truncated == b.truncated and a.notes == b.notes, what
    assert a.names() == b.names(), what
    for name in a.names():
        pa, pb = a.patterns[name], b.patterns[name]
        assert pa.shape == pb.shape, (what, name)
        assert torch.allclose(pa, pb, atol=1e-5, rtol=1e-4), (what, name, float((pa - pb).abs().max()))
        assert bool(torch.all(pa[0].triu(1) == 0)), (what, name)  # causal: exactly 0, as a full run
    assert a.logits.shape == b.logits.shape, what
    assert torch.allclose(a.logits, b.logits, atol=1e-4, rtol=1e-4), (what, float((a.logits - b.logits).abs().max()))


def edits(rng: random.Random, n: int):
    """A student's text over ``n`` keystrokes: mostly typing at the end, sometimes Backspace, an edit in the
    middle, a cleared box, a pasted sentence (past the 32-token window)."""
    text = ""
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            text += rng.choice(ALPHABET)
        elif r < 0.72:
            text = text[:-1]
        elif r < 0.82 and text:
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(ALPHABET) + text[i + 1 :]  # an edit in the middle
        elif r < 0.86:
            text = ""
        elif r < 0.93:
            text += " " + rng.choice(SENTENCES)
        else:
            text = " ".join(SENTENCES)  # the longest input: past the window
        yield text


@pytest.mark.parametrize("seed", range(2))
def test_random_edits_match_a_full_forward(tiny, seed):
    rng = random.Random(seed)
    cache = PrefixCache()
    seen = set()
    for text in edits(rng, 50):
        got = hf_lm.capture_lm(tiny, text, prefix=cache, key="m")
        assert_same(got, hf_lm.capture_lm(tiny, text), repr(text))
        seen.add((text == "", bool(got.truncated)))
    assert (True, False) in seen or seed, "the empty text is among the inputs"
    assert cache.reused > 0 and cache.computed > 0


def test_typing_the_lecture_runs_only_the_new_tokens(tiny):
    cache = PrefixCache()
    text, full_tokens = "", 0
    for ch in LECTURE:
        text += ch
        before = cache.computed
        got = hf_lm.capture_lm(tiny, text, prefix=cache, key="m")
        assert_same(got, hf_lm.capture_lm(tiny, text), repr(text))
        assert cache.computed - before <= 2, (text, cache.computed - before)  # the last word's token(s), not all
        full_tokens += len(got.tgt_tokens)
    assert cache.computed < full_tokens / 4
    # Deleting back to an earlier text, and a second student typing the same sentence: nothing to compute.
    before = cache.computed
    for text in (LECTURE[:-1], LECTURE[:20], LECTURE):
        assert_same(hf_lm.capture_lm(tiny, text, prefix=cache, key="m"), hf_lm.capture_lm(tiny, text))
    assert cache.computed == before


def test_bounded_in_bytes_and_still_exact(tiny):
    one = PrefixCache()
    hf_lm.capture_lm(tiny, LECTURE, prefix=one, key="m")
    per_token = one.nbytes / len(one)
    cache = PrefixCache(max_bytes_=int(per_token * 10))  # room for ~10 tokens
    rng = random.Random(7)
    for text in edits(rng, 40):
        assert_same(hf_lm.capture_lm(tiny, text, prefix=cache, key="m"), hf_lm.capture_lm(tiny, text), repr(text))
        assert cache.nbytes <= cache.max_bytes and len(cache) <= 10
        assert cache.nbytes == sum(n.nbytes for _, n in cache._lru.values())
    # Every cached node hangs from a root (a leaf was evicted first, never a parent under a live child).
    for key, node in cache._lru.values():
        while node.parent is not None:
            assert node.parent.children.get(node.token) is node
            node = node.parent
        assert cache._roots[key].get(node.token) is node
    empty = PrefixCache(max_bytes_=0)  # caching off: still the same captures
    assert_same(hf_lm.capture_lm(tiny, LECTURE, prefix=empty, key="m"), hf_lm.capture_lm(tiny, LECTURE))
    assert len(empty) == 0 and empty.nbytes == 0


def test_models_have_their_own_rows_and_the_shared_model_is_untouched(tiny):
    cache = PrefixCache()
    state = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    attrs = set(vars(tiny.model))
    hf_lm.capture_lm(tiny, LECTURE, prefix=cache, key=("a", 1.0))
    n = len(cache)
    hf_lm.capture_lm(tiny, LECTURE, prefix=cache, key=("a", 2.0))  # a replaced model file: a new stamp
    assert len(cache) == 2 * n and cache.computed == 2 * n
    assert set(vars(tiny.model)) == attrs and not tiny.model.training
    assert all(torch.equal(v, state[k]) for k, v in tiny.model.state_dict().items())


def test_bundled_smollm2_keystrokes_match_a_full_forward():
    """SmolLM2 itself (30 layers, grouped-query attention): the lecture sentence, a few keys, a Backspace."""
    from test_hf_lm import bundled

    b = bundled()
    cache = PrefixCache()
    for text in (LECTURE[:-2], LECTURE[:-1], LECTURE, LECTURE + " ", LECTURE):
        before = cache.computed
        assert_same(hf_lm.capture_lm(b, text, prefix=cache, key="smollm2"), hf_lm.capture_lm(b, text), repr(text))
        if before:
            assert cache.computed - before <= 2, (text, cache.computed - before)  # "␣tir" -> "␣tire" -> "␣tired"
    assert cache.computed - before == 0  # the Backspace: all cached


def test_sessions_on_threads_share_one_cache(tiny):
    """Streamlit runs each session on its own thread: four students editing at once through one small cache
    (evicting while others compute) all get a full forward's capture."""
    import threading

    cache = PrefixCache()
    hf_lm.capture_lm(tiny, LECTURE, prefix=cache, key="m")
    cache = PrefixCache(max_bytes_=int(cache.nbytes / len(cache) * 25))
    texts = [list(edits(random.Random(100 + i), 25)) for i in range(4)]
    expected = [[hf_lm.capture_lm(tiny, t) for t in ts] for ts in texts]
    failures = []

    def student(i):
        try:
            for t, want in zip(texts[i], expected[i]):
                assert_same(hf_lm.capture_lm(tiny, t, prefix=cache, key="m"), want, repr(t))
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            failures.append(e)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures[:1]
    assert cache.nbytes <= cache.max_bytes and cache.nbytes == sum(n.nbytes for _, n in cache._lru.values())


# ---- keystrokes of several sessions in one padded forward pass (models/hf_prefix_cache.forward_rows) -------------
def test_a_padded_batch_matches_single_forwards(tiny):
    """Rows of different cached and new lengths in one pass — no prefix, a long prefix and one new token, a pasted
    sentence, the empty text (BOS alone), the longest input (the 32-token window), random edits — each row's
    attention rows and logits are a full single-sequence forward's."""
    from models.hf_prefix_cache import Row, _assemble, capture_ids, forward_rows

    rng = random.Random(3)
    cache = PrefixCache()
    texts = ["", LECTURE, LECTURE + " and", " ".join(SENTENCES), "The", *list(edits(rng, 30))[::3]]
    rows = []
    for i, t in enumerate(texts):
        ids, _ = hf_lm.encode(tiny, t)
        n = (0, len(ids) - 1, len(ids) - 1, 4)[i] if i < 4 else rng.randrange(len(ids))  # tokens already cached
        if n:
            capture_ids(tiny, ids[:n], cache, "m")
        path = cache.walk("m", ids)[:n]
        rows.append(Row(tuple(ids), path))
    assert len({len(r.path) for r in rows}) > 3 and len({len(r.ids) - len(r.path) for r in rows}) > 3
    assert any(not r.path for r in rows) and any(len(r.ids) == hf_lm.MAX_TOKENS for r in rows)
    new = forward_rows(tiny.model, rows)
    assert new is not None and len(new) == len(rows)
    for t, r, nodes in zip(texts, rows, new):
        assert [n.token for n in nodes] == list(r.ids[len(r.path) :])
        patterns, logits = _assemble(list(r.path) + nodes)
        want = hf_lm.capture_ids(tiny, r.ids)
        for l, p in enumerate(patterns):
            q = want.patterns[f"blocks.{l}.attn.hook_pattern"]
            assert torch.allclose(p, q, atol=1e-5, rtol=1e-4), (t, l, float((p - q).abs().max()))
            assert bool(torch.all(p[0].triu(1) == 0)), (t, l)
        assert torch.allclose(logits, want.logits, atol=1e-4, rtol=1e-4), (t, float((logits - want.logits).abs().max()))


def test_batched_sessions_match_a_full_forward(tiny):
    """Six students editing at once through one micro-batcher (services/lm_batcher.Batcher) and one small cache:
    every capture is a full forward's, the worker ran rows of several sessions in one pass, identical requests ran
    once, and the shared model is untouched."""
    import threading

    from services.lm_batcher import Batcher

    state = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    attrs = set(vars(tiny.model))
    one = PrefixCache()
    hf_lm.capture_lm(tiny, LECTURE, prefix=one, key="m")
    cache = PrefixCache(max_bytes_=int(one.nbytes / len(one) * 40))  # small: evicting while others compute
    batcher = Batcher(max_batch=4, gather_s=0.05)
    texts = [list(edits(random.Random(200 + i), 15)) for i in range(5)] + [[LECTURE[:k] for k in range(5, 60, 4)]]
    texts.append(list(texts[-1]))  # a seventh student typing the sixth one's keys
    expected = [[hf_lm.capture_lm(tiny, t) for t in ts] for ts in texts]
    failures, go = [], threading.Barrier(len(texts))

    def student(i):
        try:
            go.wait()
            for t, want in zip(texts[i], expected[i]):
                assert_same(hf_lm.capture_lm(tiny, t, prefix=cache, key="m", batcher=batcher), want, repr(t))
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            failures.append(e)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(len(texts))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures[:1]
    assert max(batcher.batches) > 1 and max(batcher.batches) <= 4, batcher.batches
    assert batcher.rows < sum(map(len, texts)), "the seventh student's keys were not all run again"
    assert cache.nbytes <= cache.max_bytes
    assert set(vars(tiny.model)) == attrs and not tiny.model.training
    assert all(torch.equal(v, state[k]) for k, v in tiny.model.state_dict().items())


class _StuckModel(torch.nn.Module):
    """A model whose forward pass waits for ``release`` (a busy server), or fails (``fail``)."""

    def __init__(self, release=None, fail=False):
        super().__init__()
        self.release, self.fail = release, fail

    def forward(self, **kw):
        if self.fail:
            raise RuntimeError("this forward always fails")
        self.release.wait(5)
        raise RuntimeError("released")


def test_the_batcher_never_blocks_a_session_forever(tiny):
    """A stuck forward pass: the session gets Busy (a catalog message) after the timeout, a full queue gets Busy at
    once, and a forward pass that fails on the worker leaves the session its own plain pass (the capture is
    still right) and the worker alive."""
    import threading
    from types import SimpleNamespace

    from services.lm_batcher import Batcher, Busy

    release = threading.Event()
    stuck = SimpleNamespace(model=_StuckModel(release))
    batcher = Batcher(timeout_s=0.3, max_pending=1)
    t0 = time.perf_counter()
    with pytest.raises(Busy) as e:
        batcher.extend(stuck, PrefixCache(), "s", [1, 2, 3])  # the worker now waits inside the forward
    assert 0.25 < time.perf_counter() - t0 < 3 and "busy" in e.value.message.msgid
    other = threading.Thread(target=lambda: _busy_or_none(batcher, stuck), daemon=True)
    other.start()  # fills the one slot
    time.sleep(0.1)
    with pytest.raises(Busy):
        batcher.extend(stuck, PrefixCache(), "s", [7, 8])
    release.set()
    other.join(5)
    failing = SimpleNamespace(model=_StuckModel(fail=True))
    assert batcher.extend(failing, PrefixCache(), "f", [1, 2]) is None  # the caller runs a plain pass
    cache = PrefixCache()
    assert_same(
        hf_lm.capture_lm(tiny, LECTURE, prefix=cache, key="m", batcher=batcher), hf_lm.capture_lm(tiny, LECTURE)
    )
    assert len(cache) == len(hf_lm.encode(tiny, LECTURE)[0])  # the worker survived and computed it


def _busy_or_none(batcher, bundle):
    from services.lm_batcher import Busy

    try:
        batcher.extend(bundle, PrefixCache(), "s", [4, 5, 6])
    except Busy:
        pass
