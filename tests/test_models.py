"""Model behaviour: causality, the peeking leak, honest metrics, overfitting, determinism."""

import pytest
import torch
from lab_fixtures import TINY_WORDS, tiny_bundle

from models.data import encode_words
from models.evaluate import evaluate_tensors, prefix_logits
from models.train import Recipe, make_model, train
from models.vocab import DEFAULT_VOCAB


def _logits(b, word):
    ids = torch.tensor([DEFAULT_VOCAB.encode(word).ids])
    with torch.no_grad():
        return b.model(ids).logits[0]  # (T, V)


@pytest.mark.parametrize("name", ["miniformer", "full"])
def test_future_characters_do_not_change_past_predictions(name):
    b = tiny_bundle(name)
    a, c = _logits(b, "capybara"), _logits(b, "capxqzzz")
    t = len("cap")  # positions 0..3 read <BOS> c a p only
    assert torch.allclose(a[: t + 1], c[: t + 1], atol=1e-6)
    assert not torch.allclose(a[t + 1 :], c[t + 1 :])  # and later ones do read the change


def test_peeking_model_sees_the_future():
    b = tiny_bundle("full-peeking")
    a, c = _logits(b, "capybara"), _logits(b, "capxqzzz")
    assert not torch.allclose(a[:4], c[:4], atol=1e-4)


def test_peeking_src_is_read_at_t_plus_1_and_leakfree_ignores_it():
    for name, changes in (("full-peeking", True), ("full", False)):
        b = tiny_bundle(name)
        ids = torch.tensor([DEFAULT_VOCAB.encode("cap").ids])
        src1 = torch.tensor([DEFAULT_VOCAB.encode("capy").ids])
        src2 = torch.tensor([DEFAULT_VOCAB.encode("capz").ids])
        with torch.no_grad():
            l1 = b.model(ids, src=src1).logits
            l2 = b.model(ids, src=src2).logits
        assert (not torch.allclose(l1, l2, atol=1e-5)) == changes, name


@pytest.mark.parametrize("name", ["miniformer", "full"])
def test_prefix_nll_equals_teacher_forced_for_causal_models(name):
    b = tiny_bundle(name)
    x, y = encode_words(TINY_WORDS)
    exact = prefix_logits(b.model, x, y, exact=True)
    fast = prefix_logits(b.model, x, y)
    mask = y != 0
    assert torch.allclose(exact[mask], fast[mask], atol=1e-5)
    r = evaluate_tensors(b.model, x, y, exact=True)
    assert r.prefix_nll == pytest.approx(r.teacher_forced_nll, abs=1e-5)
    assert r.n_tokens == sum(len(w) + 1 for w in TINY_WORDS)


def test_prefix_nll_differs_from_teacher_forced_for_peeking():
    b = tiny_bundle("full-peeking")
    x, y = encode_words(TINY_WORDS)
    r = evaluate_tensors(b.model, x, y)
    assert abs(r.prefix_nll - r.teacher_forced_nll) > 1e-4


@pytest.mark.parametrize("name", ["miniformer", "full", "full-peeking"])
def test_tiny_model_overfits_one_batch(name):
    words = TINY_WORDS[:8]
    recipe = Recipe("t", epochs=150, batch_size=64, lr=1e-2, dropout=0.0, seed=0)
    res = train(name, list(words) * 2, recipe)  # duplicates so the split still trains on all eight words
    assert res.history[-1]["train_loss"] < 0.6 < res.history[0]["train_loss"]


def test_training_is_deterministic_for_a_seed():
    recipe = Recipe("t", epochs=3, batch_size=8, lr=3e-3, dropout=0.1, seed=7)
    a = train("miniformer", TINY_WORDS, recipe)
    b = train("miniformer", TINY_WORDS, recipe)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert a.history[-1]["val_prefix_nll"] == b.history[-1]["val_prefix_nll"]


def test_stop_event_keeps_best_epoch():
    import threading

    stop = threading.Event()
    seen = []

    def on_epoch(s):
        seen.append(s)
        if s.epoch == 3:
            stop.set()

    recipe = Recipe("t", epochs=50, batch_size=8, lr=3e-3, dropout=0.0, keep="best", seed=1)
    res = train("miniformer", TINY_WORDS, recipe, on_epoch=on_epoch, stop=stop)
    assert res.stopped_by_user and res.final_epoch == 3 and len(seen) == 3
    best = min(res.history, key=lambda h: h["val_prefix_nll"])
    assert res.best_epoch == best["epoch"]
    assert res.metrics["val_prefix_nll"] == pytest.approx(best["val_prefix_nll"], abs=1e-6)


def test_input_noise_replaces_only_characters_with_unk_on_a_copy():
    from models.train import noised_inputs
    from models.vocab import BOS_ID, PAD_ID, UNK_ID

    x, _ = encode_words(TINY_WORDS * 20)
    before = x.clone()
    gen = torch.Generator().manual_seed(0)
    assert noised_inputs(x, 0.0, gen) is x
    z = noised_inputs(x, 0.3, gen)
    assert torch.equal(x, before)  # the batch itself is untouched
    changed = z != x
    assert changed.any() and bool((z[changed] == UNK_ID).all())  # replacements are <UNK> only
    assert not bool(changed[x < 4].any())  # <PAD>/<BOS>/<EOS> never change
    assert bool((z[:, 0] == BOS_ID).all()) and torch.equal(z == PAD_ID, x == PAD_ID)
    rate = changed.sum().item() / (x >= 4).sum().item()
    assert 0.25 < rate < 0.35


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_recipe_rejects_bad_input_noise(p):
    with pytest.raises(ValueError, match="input_noise"):
        Recipe("t", epochs=1, batch_size=8, lr=1e-3, dropout=0.0, input_noise=p)


def test_input_noise_is_applied_in_training_only_and_is_deterministic(monkeypatch):
    import models.train as train_mod
    from models.vocab import UNK_ID

    seen = []
    real = train_mod.noised_inputs

    def spy(x, p, gen):
        out = real(x, p, gen)
        seen.append(out)
        return out

    monkeypatch.setattr(train_mod, "noised_inputs", spy)
    recipe = Recipe("t", epochs=3, batch_size=8, lr=3e-3, dropout=0.1, input_noise=0.3, seed=7)
    a = train("full", TINY_WORDS, recipe)
    assert seen and any(bool((s == UNK_ID).any()) for s in seen)  # training batches were noised
    b = train("full", TINY_WORDS, recipe)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    # validation reads the clean words: the reported metric is the clean evaluation of the kept model
    from models.data import split_words

    val = split_words(TINY_WORDS).val
    L = max(len(w) for w in TINY_WORDS) + 1
    x, y = encode_words(val, length=L)
    assert a.metrics["val_prefix_nll"] == pytest.approx(evaluate_tensors(a.model, x, y).prefix_nll, abs=1e-6)


def test_dropout_zeroes_about_p_scales_the_rest_and_is_identity_in_eval():
    from models.layers import Dropout

    d = Dropout(0.1).train()
    x = torch.ones(200_000, requires_grad=True)
    y = d(x)
    dropped = (y == 0).float().mean().item()
    assert 0.095 < dropped < 0.105  # p rounded to 6554/65536
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 65536 / (65536 - 6554)))  # inverted dropout: mean stays 1
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x*mask*s)/dx = mask*s
    z = torch.randn(3, 5, 7)
    assert d.eval()(z) is z and Dropout(0.0).train()(z) is z  # eval mode and p = 0: untouched
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)


def test_dropout_masks_follow_the_torch_seed_and_vary_between_calls():
    from models.layers import Dropout

    d = Dropout(0.5).train()
    x = torch.ones(4, 6, 9)
    torch.manual_seed(3)
    a, b = d(x), d(x)
    torch.manual_seed(3)
    assert torch.equal(d(x), a)
    assert not torch.equal(a, b)
    assert a.shape == x.shape and set(a.unique().tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize("name", ["miniformer", "full"])
@pytest.mark.parametrize("n", [1, 7, 16])
def test_packed_rows_give_every_word_exactly_its_own_logits(name, n):
    """Two words a row, attention kept inside each word: every real position's logits equal the word's logits
    alone in a padded row, every target is there once, and the rows are shorter in total."""
    from models.data import pack_pairs
    from models.vocab import PAD_ID

    torch.manual_seed(1)
    model = make_model(name).eval()
    words = [TINY_WORDS[i % len(TINY_WORDS)] for i in torch.randperm(32)[:n].tolist()]
    x, y = encode_words(words, length=14)
    xp, yp, packing = pack_pairs(x, y)
    with torch.no_grad():
        alone = model(x, y)
        packed = model(xp, yp, packing=packing)
    assert packed.loss.item() == pytest.approx(alone.loss.item(), abs=1e-5)
    seg = packing.segments
    for r in range(xp.size(0)):  # map each packed word back to its row in (x, y)
        for s in (0, 1):
            cols = (seg[r] == s).nonzero().flatten()
            if not len(cols):
                continue
            tokens = xp[r, cols]
            match = [
                i
                for i in range(n)
                if torch.equal(x[i, : len(cols)], tokens) and int((y[i] != PAD_ID).sum()) == len(cols)
            ]
            assert match, (r, s)
            i = match[0]
            assert torch.equal(packing.positions[r, cols], torch.arange(len(cols)))
            assert torch.equal(yp[r, cols], y[i, : len(cols)])
            assert torch.allclose(packed.logits[r, cols], alone.logits[i, : len(cols)], atol=1e-5)
    assert sorted(yp[yp != PAD_ID].tolist()) == sorted(y[y != PAD_ID].tolist())
    assert xp.size(0) == (n + 1) // 2 and xp.numel() <= x.numel()


def test_pack_batches_covers_the_epoch_once_and_matches_pack_pairs():
    from models.data import pack_batches, pack_pairs
    from models.vocab import PAD_ID

    x, y = encode_words(TINY_WORDS * 3, length=14)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    batches = pack_batches(x, y, perm, 20)  # 48 words: 20 + 20 + 8
    assert len(batches) == 3
    for k, (xp, yp, packing) in enumerate(batches):
        b = perm[k * 20 : (k + 1) * 20]
        ex, ey, ep = pack_pairs(x[b], y[b])
        assert torch.equal(xp, ex) and torch.equal(yp, ey)
        assert torch.equal(packing.positions, ep.positions) and torch.equal(packing.segments, ep.segments)
    total = sum(int((yp != PAD_ID).sum()) for _, yp, _ in batches)
    assert total == int((y != PAD_ID).sum())


@pytest.mark.parametrize(
    "name, recipe_pack, packs",
    [
        ("full", None, True),
        ("miniformer", None, False),
        ("miniformer", True, True),
        ("full", False, False),
        ("full-peeking", None, True),
        ("full-peeking", False, False),
    ],
)
def test_training_packs_the_full_transformer_by_default(monkeypatch, name, recipe_pack, packs):
    """Both FullTransformers pack by default (the peeking one too: it never reads <PAD> keys, so a packed row gives
    it the logits a padded one does, tests/test_padding.py); MiniFormer only when the recipe asks."""
    import models.train as train_mod

    calls = []
    real = train_mod.pack_batches
    monkeypatch.setattr(train_mod, "pack_batches", lambda *a: calls.append(1) or real(*a))
    recipe = Recipe("t", epochs=1, batch_size=8, lr=1e-3, dropout=0.1, pack=recipe_pack)
    res = train(name, TINY_WORDS, recipe)
    assert bool(calls) is packs
    assert res.history[0]["train_loss"] > 0


def test_attention_mask_as_bool_or_additive_matches_masked_fill():
    from models.layers import additive_mask, attention_pattern, causal_mask

    torch.manual_seed(0)
    q, k = torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4)
    mask = causal_mask(5)
    ref = ((q @ k.transpose(-2, -1)) / 2).masked_fill(~mask, float("-inf")).softmax(-1)
    assert torch.equal(attention_pattern(q, k, mask), ref)
    assert torch.equal(attention_pattern(q, k, additive_mask(mask)), ref)
    assert bool((attention_pattern(q, k, mask).triu(1) == 0).all())
