"""Compare, Leak lesson and Generate: the metrics with hand-computed answers, the shipped checkpoints' leak,
deterministic generation, and the three pages under AppTest with good and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from lab_fixtures import open_app, shown, tiny_bundle

from models.capture import AttentionCapture, capture
from models.checkpoint import ModelBundle, load_checkpoint
from models.evaluate import evaluate_words
from models.generate import generate
from models.train import make_model
from models.vocab import DEFAULT_VOCAB, EOS_ID
from viz import figures as F
from viz import style
from viz.metrics import (
    chosen_token_probs,
    counterfactual_next_token,
    distribution_comparison,
    leak_summary,
    next_key_weights_by_layer,
    weight_on_next_key,
)

BAD_INPUTS = ("", "<script>alert(1)</script>", "</script><img src=x onerror=alert(1)>", "Capy Bara!", "x" * 10_000)


def _cap(patterns: dict[str, torch.Tensor], n_src: int | None = None, logits=None) -> AttentionCapture:
    Q = next(iter(patterns.values())).shape[-2]
    tgt = tuple(["<BOS>"] + list("abcdefghij"[: Q - 1]))
    src = tuple(["<BOS>"] + list("abcdefghijklmnop"[: n_src - 1])) if n_src else ()
    return AttentionCapture(model_name="hand", src_tokens=src, tgt_tokens=tgt, patterns=patterns, logits=logits)


# ---- weight on key t+1 -----------------------------------------------------------------------------------------------


def test_weight_on_next_key_hand_made():
    Q = K = 4
    p = torch.zeros(1, 2, Q, K)  # (1, H, Q, K)
    for t in range(Q):  # head 0: 0.75 on t+1 (where it exists), rest on t
        if t + 1 < K:
            p[0, 0, t, t + 1], p[0, 0, t, t] = 0.75, 0.25
        else:
            p[0, 0, t, t] = 1.0
    p[0, 1] = torch.eye(Q)  # head 1: always on itself
    before = p.clone()
    cap = _cap({"decoder.0.cross_attn.hook_pattern": p}, n_src=K)
    w = weight_on_next_key(cap, "decoder.0.cross_attn.hook_pattern")
    assert torch.allclose(w, torch.tensor([0.75, 0.0]))  # mean over the 3 queries that have a key t+1
    assert torch.equal(p, before)  # input unchanged
    s = leak_summary(cap)
    assert s["max"] == pytest.approx(0.75) and s["mean"] == pytest.approx(0.375) and s["chance"] == pytest.approx(0.25)
    assert s["layer"] == "decoder.0.cross_attn.hook_pattern"


def test_weight_on_next_key_is_exactly_zero_under_a_causal_mask():
    torch.manual_seed(0)
    att = torch.randn(1, 3, 5, 5).masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    cap = _cap({"decoder.0.cross_attn.hook_pattern": att.softmax(-1)}, n_src=5)
    assert torch.equal(weight_on_next_key(cap, "decoder.0.cross_attn.hook_pattern"), torch.zeros(3))


def test_next_key_weights_by_layer_and_miniformer_has_no_cross():
    mini = capture(tiny_bundle("miniformer"), "flycatcher", add_eos=True)
    assert next_key_weights_by_layer(mini) == {}
    assert leak_summary(mini)["layer"] is None
    full = capture(tiny_bundle("full"), "flycatcher", add_eos=True)
    by_layer = next_key_weights_by_layer(full)
    assert list(by_layer) == full.names("cross")
    assert all(torch.equal(v, torch.zeros_like(v)) for v in by_layer.values())


def test_shipped_peeking_checkpoint_reads_key_t_plus_1():
    """The lesson's headline: the peeking model's cross-attention sits on the answer; the leak-free one can't."""
    peek = capture(load_checkpoint("full_transformer_peeking"), "flycatcher", add_eos=True)
    free = capture(load_checkpoint("full_transformer"), "flycatcher", add_eos=True)
    peek_w = next_key_weights_by_layer(peek)
    assert max(float(w.max()) for w in peek_w.values()) > 0.5, {k: v.tolist() for k, v in peek_w.items()}
    for name, w in next_key_weights_by_layer(free).items():
        assert torch.equal(w, torch.zeros_like(w)), (name, w.tolist())  # exactly 0, not merely small


# ---- comparison of two distributions -----------------------------------------------------------------------------


def test_distribution_comparison_hand_computed():
    p = torch.tensor([0.5, 0.25, 0.25])
    q = torch.tensor([0.25, 0.5, 0.25])
    r = distribution_comparison(p, q)
    kl = 0.5 * math.log(2) + 0.25 * math.log(0.5)  # sum p log(p/q) = 0.25 ln 2
    assert r["kl_left_right"] == pytest.approx(kl) and r["kl_right_left"] == pytest.approx(kl)
    assert (r["top1_left"], r["top1_right"], r["agree"]) == (0, 1, False)
    assert r["p_left_of_right_top"] == pytest.approx(0.25) and r["p_right_of_left_top"] == pytest.approx(0.25)
    same = distribution_comparison(p, p.clone())
    assert same["agree"] and same["kl_left_right"] == pytest.approx(0.0, abs=1e-12)
    # KL is not symmetric: a one-sided example
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])
    r = distribution_comparison(a, b)
    assert r["kl_left_right"] == pytest.approx(math.log(2)) and r["kl_right_left"] > 10  # q puts mass where p has none


def test_counterfactual_next_token_hand_made():
    logits_a = torch.zeros(1, 3, 6)
    logits_a[0, -1, 4] = 5.0
    logits_b = torch.zeros(1, 3, 6)
    logits_b[0, -1, 5] = 5.0
    pat = torch.ones(1, 1, 3, 5) / 5
    a = AttentionCapture("hand", ("<BOS>", "c", "a", "b", "x"), ("<BOS>", "c", "a"), {"x": pat}, logits_a)
    b = AttentionCapture("hand", ("<BOS>", "c", "a", "z", "x"), ("<BOS>", "c", "a"), {"x": pat}, logits_b)
    r = counterfactual_next_token(a, b)
    assert (r["top_a"], r["top_b"], r["same_top"]) == (4, 5, False)
    assert (r["future_a"], r["future_b"]) == ("b", "z")
    assert r["first_diff"] == 3 and r["only_future_changed"]
    assert r["max_change"] == pytest.approx(math.exp(5) / (math.exp(5) + 5) - 1 / (math.exp(5) + 5))
    same = counterfactual_next_token(a, a)
    assert same["max_change"] == 0 and same["first_diff"] is None


def test_leak_free_prediction_ignores_future_source_exactly():
    for model_name, should_change in (("full", False), ("full-peeking", True)):
        b = tiny_bundle(model_name)
        r = counterfactual_next_token(capture(b, "capy", "capybara"), capture(b, "capy", "capyzzzz"))
        assert r["only_future_changed"]
        assert (r["max_change"] > 0) == should_change, model_name
        if not should_change:
            assert r["max_change"] == 0.0


def test_chosen_token_probs():
    assert chosen_token_probs([torch.tensor([0.1, 0.9]), torch.tensor([0.6, 0.4])], [1, 0]) == pytest.approx([0.9, 0.6])


# ---- teacher-forced vs prefix-only on words ------------------------------------------------------------------------


def test_evaluate_words_causal_equal_and_skips_unreadable_words():
    b = tiny_bundle("full")
    res = evaluate_words(b, ["capybara", "banana", "Ünknown!", "x" * 100])
    assert res.n_words == 2
    assert res.prefix_nll == pytest.approx(res.teacher_forced_nll, rel=1e-5)  # leak-free: nothing to peek at
    with pytest.raises(ValueError):
        evaluate_words(b, ["!!!"])


# ---- generation ----------------------------------------------------------------------------------------------------


def _forced(token_id: int) -> ModelBundle:
    """A tiny MiniFormer whose lm_head always prefers ``token_id``."""
    torch.manual_seed(0)
    model = make_model("miniformer").eval().requires_grad_(False)
    model.lm_head.bias[token_id] = 100.0
    return ModelBundle(name="forced", model=model, vocab=DEFAULT_VOCAB, architecture=model.architecture)


@pytest.mark.parametrize("model_name", ["miniformer", "full", "full-peeking"])
def test_generation_is_deterministic_for_a_seed(model_name):
    b = tiny_bundle(model_name)
    kw = dict(max_new=6, greedy=False, temperature=1.5, top_k=10)
    g1, g2 = generate(b, "ca", seed=7, **kw), generate(b, "ca", seed=7, **kw)
    assert g1.text == g2.text and [s.token_id for s in g1.steps] == [s.token_id for s in g2.steps]
    assert all(torch.equal(s1.probs, s2.probs) for s1, s2 in zip(g1.steps, g2.steps))
    texts = {generate(b, "ca", seed=s, **kw).text for s in range(4)}
    assert len(texts) > 1  # the seed matters when sampling
    greedy = generate(b, "ca", max_new=8)
    assert greedy.text == generate(b, "ca", max_new=8, seed=123).text  # greedy ignores the seed


def test_generation_stops_at_eos():
    g = generate(_forced(EOS_ID), "capy", max_new=10)
    assert g.stop_reason == "eos" and len(g.steps) == 1 and g.steps[-1].token == "<EOS>" and g.text == "capy"


def test_generation_stops_at_the_limit():
    a = DEFAULT_VOCAB.stoi["a"]
    g = generate(_forced(a), "capy", max_new=5)
    assert g.stop_reason == "limit" and len(g.steps) == 5 and g.text == "capyaaaaa"
    # each step's newest position is the last query row of its capture
    assert [len(s.cap.tgt_tokens) for s in g.steps] == [5, 6, 7, 8, 9]


def test_generation_stops_at_the_context():
    a = DEFAULT_VOCAB.stoi["a"]
    b = _forced(a)
    g = generate(b, "b" * (b.block_size - 4), max_new=10)
    assert g.stop_reason == "context" and len(g.steps) == 3
    assert len(g.text) + 1 == b.block_size  # <BOS> + text fill the context exactly


# ---- figures -------------------------------------------------------------------------------------------------------


def assert_level_line(fig, y: float, name: str) -> None:
    """One dashed line at ``y`` across the whole plot, behind the bars, and a legend entry in the same style."""
    line = [s for s in fig.layout.shapes if s.y0 == s.y1 == y]
    assert len(line) == 1 and (line[0].xref, line[0].x0, line[0].x1, line[0].layer) == ("x domain", 0, 1, "below")
    entry = [t for t in fig.data if t.name == name]
    assert len(entry) == 1 and entry[0].line.dash == line[0].line.dash == "dash"


def test_new_figures_by_data():
    b = tiny_bundle("full")
    cap = capture(b, "capy")
    fig = F.last_row_heatmap(cap)
    z = fig.data[0].z
    n_rows = (len(cap.names("decoder")) + len(cap.names("cross"))) * b.cfg.n_head
    assert len(z) == n_rows and len(z[0]) == len(cap.tgt_tokens)
    assert torch.allclose(torch.tensor(z).sum(-1), torch.ones(n_rows))  # each row is one full attention row
    mini = F.last_row_heatmap(capture(tiny_bundle("miniformer"), "capy"))
    assert len(mini.data[0].z) == 1
    heat = F.attention_heatmap(cap, cap.names("cross")[0], 0)
    out = F.with_next_key_outline(heat, 5, 5)
    assert len(out.layout.shapes) == len(heat.layout.shapes) + 4  # (t, t+1) for t = 0..3; input figure untouched
    bars = F.next_key_layer_bars({"peek": {"decoder.0.cross_attn.hook_pattern": torch.tensor([0.5, 0.1])}}, chance=0.2)
    assert list(bars.data[0].x) == ["L0 h0", "L0 h1"]  # the bars
    assert_level_line(bars, 0.2, "even spread (0.20)")
    nll = F.nll_bars([{"model": "a", "teacher_forced": 0.1, "prefix": 3.0}], uniform=3.3)
    assert [list(t.y) for t in nll.data[:2]] == [[0.1], [3.0]]  # the bars
    assert_level_line(nll, 3.3, "uniform guess (3.30)")
    strip = F.generation_strip(["a", "<EOS>"], [0.5, 0.9], current=1)
    assert list(strip.data[0].text) == ["a", "end of word"] and strip.data[0].marker.color[1] == style.ORANGE
    cf = F.counterfactual_bars(
        torch.tensor([0.0, 0, 0, 0, 0.9, 0.1]),
        torch.tensor([0.0, 0, 0, 0, 0.1, 0.9]),
        DEFAULT_VOCAB.__class__(DEFAULT_VOCAB.itos[:6]),
        top_k=1,
    )
    assert list(cf.data[0].y) == pytest.approx([0.9, 0.1]) and list(cf.data[1].y) == pytest.approx([0.1, 0.9])


# ---- the pages under AppTest (shipped checkpoints) -----------------------------------------------------------------


def _no_raw_html(at) -> None:
    for md in at.markdown:  # the only unsafe_allow_html blocks are the generated words; they must be escaped
        assert "<script" not in md.value and "<img" not in md.value, md.value


def test_compare_page_defaults_same_model_and_bad_inputs():
    at = open_app("app_pages/2_compare.py")
    assert at.selectbox(key="compare.left").value == "miniformer"
    assert at.selectbox(key="compare.right").value == "full_transformer"
    at.text_input(key="text").input("capy").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 8  # bars, entropy, heatmap, per-query entropy × 2
    _query_slider(at).set_value(1).run()
    assert not at.exception, at.exception
    at.selectbox(key="compare.right").set_value("miniformer").run()
    assert not at.exception, at.exception
    assert any("Both put" in m.value and "**0.000** nats" in m.value for m in at.markdown)
    at.selectbox(key="compare.left").set_value("full_transformer_peeking").run()
    assert not at.exception, at.exception
    for text in BAD_INPUTS:
        at.text_input(key="text").input(text).run()
        assert not at.exception, (text[:40], at.exception)
        _no_raw_html(at)
    assert any("longer than the model's context" in shown(i.value) for i in at.info)


def test_leak_page_defaults_and_bad_inputs():
    at = open_app("app_pages/3_leak.py")
    assert at.text_input(key="leak.word").value == "flycatcher"
    assert any("test words (never used in training or model choice)" in m.value for m in at.markdown)  # computed live
    assert any("Unchanged, to the last digit" in s.value for s in at.success)  # leak-free ignores the future
    for key, inputs in (
        ("leak.word", BAD_INPUTS),
        ("leak.src_a", BAD_INPUTS),
        ("leak.prefix", BAD_INPUTS[:3]),
        ("leak.target", BAD_INPUTS[:2] + BAD_INPUTS[-1:]),
    ):
        for text in inputs:
            at.text_input(key=key).input(text).run()
            assert not at.exception, (key, text[:40], at.exception)
            _no_raw_html(at)
        at.text_input(key=key).input("capybara").run()


def test_generate_page_greedy_sampled_and_bad_inputs():
    at = open_app("app_pages/4_generate.py")
    at.text_input(key="text").input("ba").run()
    assert not at.exception, at.exception
    at.segmented_control(key="gen.mode").set_value("sampled").run()
    at.number_input(key="gen.seed").set_value(3).run()
    assert not at.exception, at.exception
    first = [m.value for m in at.markdown]
    at.run()
    assert [m.value for m in at.markdown] == first  # same seed, same word
    steps = [s for s in at.slider if s.key == "gen.step"]
    if steps:  # scrub to the last step
        steps[0].set_value(int(steps[0].max)).run()
        assert not at.exception, at.exception
        assert any(m.value.startswith(f"**Step {int(steps[0].max)}**") for m in at.markdown)
    for name in ("full_transformer", "full_transformer_peeking"):
        at.selectbox(key="gen.model").set_value(name).run()
        assert not at.exception, at.exception
        assert any("FullTransformer convention" in i.value for i in at.info)
    for text in BAD_INPUTS:
        at.text_input(key="text").input(text).run()
        assert not at.exception, (text[:40], at.exception)
        _no_raw_html(at)


def _query_slider(at):
    (s,) = [s for s in at.select_slider if (s.key or "").startswith("compare.query")]
    return s


def _outlined_rows(at) -> dict[str, list[float]]:
    """{side: the query rows outlined in that side's attention heatmap} (the linked highlight)."""
    import json

    out = {}
    for el in at.get("plotly_chart"):
        for side in ("left", "right"):
            if el.proto.id.endswith(f"compare.{side}.heat"):
                shapes = json.loads(el.proto.spec)["layout"].get("shapes", [])
                out[side] = [s["y0"] + 0.5 for s in shapes if s.get("type") == "rect" and s.get("x0") == -0.5]
    return out


def test_compare_highlight_follows_typing_unless_a_position_is_picked():
    """Issue 12 item 5: typing "flycatcher" left the highlight on "1: f" while the bars said "after r"."""
    at = open_app("app_pages/2_compare.py")
    word = "flycatcher"
    for i in range(1, len(word) + 1):
        at.text_input(key="text").input(word[:i]).run()
        assert not at.exception, at.exception
        assert _outlined_rows(at) == {"left": [i], "right": [i]}, (word[:i], _outlined_rows(at))  # <BOS> is 0
        s = _query_slider(at)
        assert s.format_func(s.value) == f"{i}: {word[i - 1]}", (word[:i], s.format_func(s.value))
    _query_slider(at).set_value(3).run()  # the user picks a position ...
    assert _outlined_rows(at) == {"left": [3], "right": [3]}
    at.selectbox(key="compare.right").set_value("full_transformer_peeking").run()
    assert _outlined_rows(at) == {"left": [3], "right": [3]}  # ... and it holds for this word
    at.text_input(key="text").input(word + "s").run()  # typing on follows the last character
    assert _outlined_rows(at) == {"left": [len(word) + 1], "right": [len(word) + 1]}


def test_generate_says_plainly_why_a_long_prefix_is_cut():
    """Issue 12 item 8: a 46-character prefix read "the model's context holds 47 tokens, so it continues from the
    last 30 characters only" — 30 < 46 < 47 with no reason given. The message names the room the new characters
    take, and its numbers add up: kept + new = what the model reads at once."""
    import re

    at = open_app("app_pages/4_generate.py")
    prefix = ("abcdefghijklmnopqrstuvwxyz" * 2)[:46]
    at.text_input(key="text").input(prefix).run()
    assert not at.exception, at.exception
    (msg,) = [i.value for i in at.info if "characters long" in i.value]
    m = re.search(
        r"Your text is (\d+) characters long\. The model reads at most (\d+) characters at a time, and "
        r"they must also hold the (\d+) characters it may add, so it continues from the last (\d+) "
        r"characters of your text\.",
        msg,
    )
    assert m, msg
    n, room, new, keep = map(int, m.groups())
    ctx = load_checkpoint("miniformer").block_size
    assert (n, room, new) == (46, ctx - 2, at.slider(key="gen.max_new").value)
    assert keep + new == room and keep < n
    shown = [m.value for m in at.markdown if "<span" in m.value]  # the word: given part grey, new part orange
    assert any(f">{prefix[-keep:]}</span>" in v for v in shown), shown  # continues from exactly those characters
    at.slider(key="gen.max_new").set_value(4).run()  # fewer new characters: more text kept
    (msg,) = [i.value for i in at.info if "characters long" in i.value]
    assert f"the last {ctx - 2 - 4} characters" in msg
