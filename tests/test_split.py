"""The train / validation / test split: disjoint, complete, stable per word, and the test words touch nothing."""

from __future__ import annotations

import pytest
from lab_fixtures import TINY_WORDS

from models.data import SPLIT_ID, load_words, split_words
from models.evaluate import evaluate_words, paired_difference


def test_split_is_disjoint_complete_and_roughly_80_10_10():
    words = load_words().words
    s = split_words(words)
    assert set(s.train) | set(s.val) | set(s.test) == set(words)
    assert not (set(s.train) & set(s.val) or set(s.train) & set(s.test) or set(s.val) & set(s.test))
    assert s[1] == s.val  # callers that only need validation index it
    n = len(words)
    assert 0.07 * n <= len(s.val) <= 0.13 * n and 0.07 * n <= len(s.test) <= 0.13 * n


def test_a_word_keeps_its_part_whatever_else_is_in_the_list():
    words = load_words().words
    full = split_words(words)
    half = split_words(words[::2])  # another list that shares half the words
    for part in ("train", "val", "test"):
        assert set(getattr(half, part)) == set(getattr(full, part)) & set(words[::2]), part


def test_small_lists_still_get_every_part():
    for n in (5, 8, len(TINY_WORDS)):
        s = split_words(TINY_WORDS[:n])
        assert s.train and s.val and s.test, n
        assert len(s.train) + len(s.val) + len(s.test) == n


def test_training_reports_test_metrics_and_never_reads_the_test_words(monkeypatch, tmp_path):
    import models.train as train_mod
    from models.checkpoint import load_checkpoint
    from models.train import Recipe, train

    words = load_words().words[:120]
    test_words = set(split_words(words).test)
    seen: list[set[str]] = []
    real = train_mod.encode_words

    def spy(ws, *a, **k):
        seen.append(set(ws))
        return real(ws, *a, **k)

    monkeypatch.setattr(train_mod, "encode_words", spy)
    epochs_seen = []
    res = train(
        "miniformer",
        words,
        Recipe("t", epochs=3, batch_size=32, lr=1e-2, dropout=0.0, keep="best"),
        on_epoch=lambda st: epochs_seen.append(st.epoch),
        out=tmp_path / "m.pt",
    )
    # train words, validation words, then the test words once, after the last epoch's choice was made
    assert [len(s & test_words) for s in seen] == [0, 0, len(test_words)]
    assert epochs_seen == [1, 2, 3]
    m = res.metrics
    assert m["n_test_words"] == len(test_words) and m["test_prefix_nll"] > 0
    meta = load_checkpoint(res.checkpoint).meta
    assert meta["split"] == SPLIT_ID and meta["metrics"]["test_prefix_nll"] == pytest.approx(m["test_prefix_nll"])
    again = evaluate_words(load_checkpoint(res.checkpoint), sorted(test_words))
    assert again.prefix_nll == pytest.approx(m["test_prefix_nll"], abs=1e-5)


def test_paired_difference_by_hand():
    from models.evaluate import EvalResult

    a = EvalResult(2.0, 2.0, 0.5, 3, 10, word_nll=(6.0, 8.0, 6.0))  # 20 nats / 10 tokens
    b = EvalResult(1.8, 1.8, 0.5, 3, 10, word_nll=(5.0, 7.0, 6.0))  # 18 nats / 10 tokens
    diff, se = paired_difference(a, b)
    assert diff == pytest.approx(0.2)
    # d = (1, 1, 0): mean 2/3, sample sd sqrt(1/3); se = sqrt(3) * sqrt(1/3) / 10
    assert se == pytest.approx(0.1)
    with pytest.raises(ValueError):
        paired_difference(a, EvalResult(1, 1, 1, 2, 10, word_nll=(1.0, 2.0)))
