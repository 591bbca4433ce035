"""A word's score never depends on the other words of its batch: the source's padding is masked (the notebook's
src_key_padding_mask) and <EOS> is never an input, so the model card, the Leak page and ``models.evaluate`` give
one number for the same words, batched or one at a time."""

import json

import pytest
import torch
import torch.nn.functional as F
from lab_fixtures import MODEL_NAMES, TINY_WORDS, open_app, tiny_bundle

from models import registry
from models.checkpoint import load_checkpoint
from models.data import encode_words, load_words, pack_pairs, split_words
from models.evaluate import evaluate_words
from models.evaluate import main as evaluate_main
from models.vocab import EOS_ID, PAD_ID

SHIPPED = registry.shipped_names()


def _teacher_forced_word_nll(model, words, length=None) -> torch.Tensor:
    """(N,) summed teacher-forced NLL of each word, all words in one padded batch."""
    x, y = encode_words(words, length=length)
    with torch.no_grad():
        logits = model(x).logits  # (N, T, V)
    return (
        F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=PAD_ID, reduction="none").view(y.shape).sum(1)
    )


def test_x_never_holds_eos_whatever_the_padding():
    for length in (None, 20):
        x, y = encode_words(["cat", "capybara"], length=length)
        assert not bool((x == EOS_ID).any())
        assert int((y == EOS_ID).sum()) == 2  # <EOS> stays a target of every word
    x, _ = encode_words(["cat", "capybara"])
    assert x[0].tolist()[:5] == encode_words(["cat"])[0][0].tolist() + [PAD_ID]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_word_score_is_the_same_alone_and_in_any_batch(name):
    """Each word's teacher-forced NLL alone, beside its list and padded to 30 positions: the same number."""
    model = tiny_bundle(name).model
    words = list(TINY_WORDS)
    alone = torch.stack([_teacher_forced_word_nll(model, [w])[0] for w in words])
    batched = _teacher_forced_word_nll(model, words)
    padded = _teacher_forced_word_nll(model, words, length=30)
    assert torch.allclose(batched, alone, atol=1e-4, rtol=1e-5), (batched - alone).abs().max()
    assert torch.allclose(padded, alone, atol=1e-4, rtol=1e-5), (padded - alone).abs().max()


def test_peeking_logits_of_a_packed_row_equal_the_padded_batch():
    """Packing (two words a row, attention kept inside each) now gives the peeking model what padding gives it,
    so it trains packed like the leak-free one."""
    model = tiny_bundle("full-peeking").model
    x, y = encode_words(TINY_WORDS[:6])
    xp, yp, packing = pack_pairs(x, y)
    with torch.no_grad():
        lp, lb = model(xp, packing=packing).logits, model(x).logits
    sp = F.cross_entropy(lp[yp != PAD_ID], yp[yp != PAD_ID], reduction="sum")
    sb = F.cross_entropy(lb[y != PAD_ID], y[y != PAD_ID], reduction="sum")
    assert sp.item() == pytest.approx(sb.item(), rel=1e-5)


@pytest.fixture(scope="module")
def test_words():
    return split_words(load_words().words).test


@pytest.mark.parametrize("name", SHIPPED)
def test_card_leak_page_and_cli_agree_with_one_word_at_a_time(name, test_words, tmp_path, capsys):
    """The shipped checkpoints' stored test numbers (the model card) equal what the Leak page computes live
    (``evaluate_words``), what ``python -m models.evaluate`` prints, and the same words scored one at a time. For
    the causal models the stored numbers were written before padding was masked: they must not have moved."""
    b = load_checkpoint(name)
    m = b.meta["metrics"]
    page = evaluate_words(b, test_words)
    words_file = tmp_path / "test_words.txt"
    words_file.write_text("\n".join(test_words) + "\n")
    assert evaluate_main([name, "--words", str(words_file), "--device", "cpu"]) == 0
    cli = json.loads(capsys.readouterr().out)
    alone = torch.cat([_teacher_forced_word_nll(b.model, [w]) for w in test_words]).sum().item() / page.n_tokens
    assert page.n_words == m["n_test_words"] == len(test_words) == 102
    for tf in (page.teacher_forced_nll, cli["teacher_forced_nll"], alone):
        assert tf == pytest.approx(m["test_teacher_forced_nll"], abs=1e-5)
    for prefix in (page.prefix_nll, cli["prefix_nll"]):
        assert prefix == pytest.approx(m["test_prefix_nll"], abs=1e-5)


def test_leak_page_and_card_show_the_same_numbers_and_where_the_teacher_forced_one_comes_from(test_words):
    """The Leak page's peeking row and the model card's stored numbers agree, and the page splits the teacher-forced
    NLL into characters (copied from t+1, near 0) and word ends (no <EOS> in the source to copy)."""
    peek = evaluate_words(load_checkpoint("full_transformer_peeking"), test_words)
    assert peek.teacher_forced_char_nll < 0.05 < 1.0 < peek.teacher_forced_end_nll
    at = open_app("app_pages/3_leak.py", timeout=90)
    text = " ".join(m.value for m in at.markdown)
    assert f"**{peek.teacher_forced_nll:.2f}** teacher-forced but **{peek.prefix_nll:.2f}** prefix-only" in text
    assert f"**{peek.teacher_forced_char_nll:.3f}** on the characters" in text
    assert f"**{peek.teacher_forced_end_nll:.2f}** on each word's end" in text
    (nll,) = [json.loads(el.proto.spec) for el in at.get("plotly_chart") if el.proto.id.endswith("leak.nll")]
    assert nll["layout"]["title"]["text"].startswith("Test NLL")  # the test words, not the validation ones
    card = load_checkpoint("full_transformer_peeking").meta["metrics"]
    assert f"{card['test_teacher_forced_nll']:.2f}" == f"{peek.teacher_forced_nll:.2f}"
