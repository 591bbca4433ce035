"""Head lab (issue 15): head masks through the forward pass, importance, roles, rollout, differences, leave-one-out,
their figures, and the page under AppTest with the shipped checkpoints and with an uploaded JSON."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
import torch
from lab_fixtures import MODEL_NAMES, TINY_WORDS, open_app, strings, tiny_bundle

from models.capture import capture, head_mask_tensors
from models.capture_upload import from_json
from models.heads import (
    ROLES,
    attention_modules,
    head_importance,
    head_roles,
    honest_nll,
    label_role,
    leave_one_out,
    one_char_changed,
    role_scores,
)
from models.vocab import UNK_ID
from viz import figures as F
from viz import head_lab_figures
from viz.metrics import (
    attention_rollout,
    cross_rollout,
    head_mean,
    next_token_differences,
    next_token_probs,
    pattern_differences,
)


def every_head(bundle, module=None):
    return [(m, h) for m, n in attention_modules(bundle.model) if module in (None, m) for h in range(n)]


# ---- the head mask ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_knocking_out_every_head_of_a_layer_equals_that_layers_attention_output_zeroed(model):
    """All heads of one module masked == the same model (a private copy) with that module's attention output, the
    heads' concatenation that out_proj reads, replaced by zeros through a hook. Checked for every module."""
    b = tiny_bundle(model)
    idx = torch.tensor([b.vocab.encode("capybara").ids])
    intact = b.model(idx).logits
    for module, _n_head in attention_modules(b.model):
        masked = b.model(idx, head_mask=head_mask_tensors(b.model, every_head(b, module))).logits
        twin = copy.deepcopy(b.model)
        out_proj = dict(twin.named_modules())[module].out_proj
        out_proj.register_forward_pre_hook(lambda mod, args: (torch.zeros_like(args[0]),))
        zeroed = twin(idx).logits
        assert torch.allclose(masked, zeroed, atol=1e-6), module
        assert not torch.allclose(masked, intact, atol=1e-4), module  # the knock-out did something


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_a_mask_of_ones_is_the_intact_model_and_one_head_changes_it(model):
    b = tiny_bundle(model)
    idx = torch.tensor([b.vocab.encode("zebra").ids])
    ones = {m: torch.ones(n) for m, n in attention_modules(b.model)}
    assert torch.equal(b.model(idx, head_mask=ones).logits, b.model(idx).logits)
    m, _n = attention_modules(b.model)[0]
    one = b.model(idx, head_mask=head_mask_tensors(b.model, [(m, 0)])).logits
    assert not torch.allclose(one, b.model(idx).logits, atol=1e-5)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_the_mask_never_changes_the_models_state(model):
    b = tiny_bundle(model)
    before = {k: v.clone() for k, v in b.model.state_dict().items()}
    attrs = {n: set(vars(mod)) for n, mod in b.model.named_modules()}
    plain = capture(b, "kiwi")
    capture(b, "kiwi", knocked_out=every_head(b))
    leave_one_out(b, "kiwi", every_head(b)[:1])
    honest_nll(b, TINY_WORDS, every_head(b)[:2])
    for k, v in b.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert {n: set(vars(mod)) for n, mod in b.model.named_modules()} == attrs
    again = capture(b, "kiwi")
    assert torch.equal(again.logits, plain.logits) and not b.model.training


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_knocking_out_every_head_still_gives_a_valid_distribution(model):
    b = tiny_bundle(model)
    cap = capture(b, "flycatcher", knocked_out=every_head(b))
    p = next_token_probs(cap.next_token_logits())
    assert torch.isfinite(p).all() and (p >= 0).all() and float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    for pat in cap.patterns.values():
        assert torch.allclose(pat.sum(-1), torch.ones(pat.shape[:-1]), atol=1e-5)


def test_the_capture_carries_the_mask_and_stays_picklable_and_exportable():
    b = tiny_bundle("full")
    plain = capture(b, "owl")
    assert plain.knocked_out == () and not plain.is_knocked_out("decoder.0.cross_attn.hook_pattern", 1)
    cap = capture(b, "owl", knocked_out=[("decoder.0.cross_attn", 1), ("encoder.1.attn", 0), ("encoder.1.attn", 0)])
    assert cap.knocked_out == (("decoder.0.cross_attn", 1), ("encoder.1.attn", 0))
    assert cap.is_knocked_out("decoder.0.cross_attn.hook_pattern", 1) and cap.is_knocked_out("encoder.1.attn", 0)
    assert not cap.is_knocked_out("decoder.0.attn.hook_pattern", 1)
    back = pickle.loads(pickle.dumps(cap))
    assert back.knocked_out == cap.knocked_out and torch.equal(back.logits, cap.logits)
    assert from_json(cap.to_json("all", family="encoder")).names() == [
        "blocks.0.attn.hook_pattern",
        "blocks.1.attn.hook_pattern",
    ]


def test_bad_masks_are_refused_with_the_valid_names():
    b = tiny_bundle("miniformer")
    idx = torch.tensor([b.vocab.encode("ab").ids])
    with pytest.raises(ValueError, match="blocks.0.attn"):
        b.model(idx, head_mask={"encoder.0.attn": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        b.model(idx, head_mask={"blocks.0.attn": torch.zeros(3)})
    with pytest.raises(ValueError, match="no head 5"):
        head_mask_tensors(b.model, [("blocks.0.attn", 5)])


# ---- importance ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_importance_is_deterministic_sorted_and_is_the_nll_rise(model):
    b = tiny_bundle(model)
    base, rows = head_importance(b, TINY_WORDS)
    base2, rows2 = head_importance(b, TINY_WORDS)
    assert base == base2 and rows == rows2
    assert len(rows) == len(every_head(b))
    assert [r.delta for r in rows] == sorted((r.delta for r in rows), reverse=True)
    r = rows[-1]
    assert r.delta == pytest.approx(honest_nll(b, TINY_WORDS, [(r.module, r.head)]) - base, abs=1e-9)
    assert base == pytest.approx(honest_nll(b, TINY_WORDS), abs=1e-12)


def test_honest_nll_by_hand_for_a_causal_model():
    """Mean cross-entropy of every next token of two words, each position read from its own prefix."""
    b = tiny_bundle("miniformer")
    total, n = 0.0, 0
    for w in ("cat", "owl"):
        ids = b.vocab.encode(w, add_eos=True).ids
        logp = b.model(torch.tensor([ids[:-1]])).logits[0].double().log_softmax(-1)
        total -= sum(float(logp[t, ids[t + 1]]) for t in range(len(ids) - 1))
        n += len(ids) - 1
    assert honest_nll(b, ("cat", "owl")) == pytest.approx(total / n, abs=1e-6)


# ---- roles ----------------------------------------------------------------------------------------------------------


def causal_pattern(rows: list[list[float]]) -> torch.Tensor:
    Q = len(rows)
    p = torch.zeros(1, 1, Q, Q)
    for q, r in enumerate(rows):
        p[0, 0, q, : len(r)] = torch.tensor(r)
    return p


def score(sc, role):
    s, c = sc[role]
    return float(s[0]) / int(c) if int(c) else float("nan")


def test_role_scores_of_a_previous_character_head():
    Q = 6
    rows = [[1.0]] + [[0.0] * (q - 1) + [1.0, 0.0] for q in range(1, Q)]  # row q: all on key q-1
    ids = torch.tensor([[1, 5, 6, 7, 8, 9]])
    sc = role_scores(causal_pattern(rows), ids, ids, causal=True)
    assert score(sc, "previous") == 1.0
    for role in ("start", "self", "same", "first", "spread"):
        assert score(sc, role) == pytest.approx(0.0, abs=1e-12) or score(sc, role) != score(sc, role), role
    assert int(sc["next"][1]) == 0  # a causal row never sees t+1
    assert score(sc, "confidence") == 1.0


def test_role_scores_of_a_uniform_head_by_hand():
    """Row q of a causal uniform head puts 1/(q+1) on each key. Scored rows are q = 3, 4, 5 (MIN_QUERY = 3)."""
    Q = 6
    rows = [[1.0 / (q + 1)] * (q + 1) for q in range(Q)]
    ids = torch.tensor([[1, 5, 6, 5, 8, 5]])  # 'b a b ? a' style: repeated id 5 at positions 1, 3, 5
    sc = role_scores(causal_pattern(rows), ids, ids, causal=True)
    expect = (1 / 4 + 1 / 5 + 1 / 6) / 3
    for role in ("previous", "start", "self", "first"):
        assert score(sc, role) == pytest.approx(expect), role
    assert score(sc, "spread") == pytest.approx(1.0)
    # same character: query 3 (id 5) has key 1; query 5 (id 5) has keys 1 and 3; query 4 (id 8) has none
    assert int(sc["same"][1]) == 2
    assert score(sc, "same") == pytest.approx((1 / 4 + 2 / 6) / 2)
    # confidence over rows that see >= 2 keys: mean of 1/2 .. 1/6
    assert score(sc, "confidence") == pytest.approx(sum(1 / (q + 1) for q in range(1, Q)) / (Q - 1))


def test_role_scores_see_the_next_key_only_without_a_mask():
    Q = 5
    p = torch.zeros(1, 1, Q, Q)
    for q in range(Q):
        p[0, 0, q, min(q + 1, Q - 1)] = 1.0
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    sc = role_scores(p, ids, ids, causal=False)
    assert score(sc, "next") == 1.0 and int(sc["next"][1]) == 1  # only query 3 has a key 4
    assert score(sc, "self") == pytest.approx(0.5)  # query 4 points at itself


def test_label_needs_a_clear_lead():
    assert label_role({"previous": 0.8, "self": 0.1, "spread": 0.2}) == ("previous", pytest.approx(0.6))
    assert label_role({"previous": 0.45, "self": 0.4})[0] == "mixed"  # best does not lead by 0.15
    assert label_role({"previous": 0.3, "self": 0.05})[0] == "mixed"  # leads, but scores under 0.4
    assert label_role({"previous": float("nan"), "next": float("nan")}) == ("mixed", 0.0)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_head_roles_cover_every_head_with_scores_in_range(model):
    b = tiny_bundle(model)
    roles = head_roles(b, TINY_WORDS)
    assert [(r.module, r.head) for r in roles] == every_head(b)
    for r in roles:
        assert set(r.scores) == set(ROLES) and 0 < r.confidence <= 1
        for role, v in r.scores.items():
            assert v != v or -1e-9 <= v <= 1 + 1e-9, (r, role)
        assert r.label in ROLES + ("mixed",)
    masked = [r for r in roles if r.module.startswith("decoder.") and r.module.endswith(".attn")]
    assert all(r.scores["next"] != r.scores["next"] for r in masked)  # decoder self-attn: no next key


# ---- rollout, differences, leave-one-out ----------------------------------------------------------------------------


def two_layer_capture(a0: torch.Tensor, a1: torch.Tensor, knocked_out=()):
    from models.capture import AttentionCapture

    T = a0.shape[-1]
    return AttentionCapture(
        model_name="t",
        src_tokens=(),
        tgt_tokens=tuple("abc"[:T]),
        logits=None,
        patterns={"blocks.0.attn.hook_pattern": a0, "blocks.1.attn.hook_pattern": a1},
        knocked_out=tuple(knocked_out),
    )


def test_rollout_by_hand():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    cap = two_layer_capture(a.view(1, 1, 2, 2), b.view(1, 1, 2, 2))
    # layer 0: 0.5 A + 0.5 I = [[1, 0], [.5, .5]]; layer 1: [[1, 0], [.25, .75]]; rollout = L1 @ L0
    expect = torch.tensor([[1.0, 0.0], [0.25 + 0.75 * 0.5, 0.75 * 0.5]])
    assert torch.allclose(attention_rollout(cap, "blocks"), expect)
    before = cap.patterns["blocks.0.attn.hook_pattern"].clone()
    off = two_layer_capture(a.view(1, 1, 2, 2), b.view(1, 1, 2, 2), [("blocks.1.attn", 0)])
    # every head of layer 1 knocked out: that layer passes only its residual, so rollout = layer 0's mixing
    assert torch.allclose(attention_rollout(off, "blocks"), torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    assert torch.equal(cap.patterns["blocks.0.attn.hook_pattern"], before)
    assert torch.equal(head_mean(off, "blocks.1.attn.hook_pattern"), torch.zeros(2, 2))


def test_rollout_rows_are_distributions_on_real_models():
    cap = capture(tiny_bundle("full"), "banana")
    for kind in ("encoder", "decoder"):
        r = attention_rollout(cap, kind)
        assert torch.allclose(r.sum(-1), torch.ones(len(cap.tgt_tokens)), atol=1e-5)
        assert bool(torch.all(r.triu(1) == 0))  # causal stays causal
    c = cross_rollout(cap)
    assert c.shape == (len(cap.tgt_tokens), len(cap.src_tokens))
    assert torch.allclose(c.sum(-1), torch.ones(len(cap.tgt_tokens)), atol=1e-5)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_differences_are_zero_for_equal_inputs_and_zero_before_a_change_under_a_causal_mask(model):
    b = tiny_bundle(model)
    a, same = capture(b, "capybara"), capture(b, "capybara")
    assert all(float(d.abs().max()) == 0 for d in pattern_differences(a, same).values())
    other = capture(b, one_char_changed("capybara"))  # "capycara": position 5 changes
    diffs = pattern_differences(a, other)
    assert set(diffs) == set(a.patterns)
    for name, d in diffs.items():
        assert torch.allclose(d, other.patterns[name][0] - a.patterns[name][0])
        if a.is_masked_causal(name) and (not b.is_seq2seq or not b.peeking):
            assert float(d[:, :5].abs().max()) == 0, name  # rows before the change
    nd = next_token_differences(a, other)
    assert nd.shape == (len(a.tgt_tokens), len(b.vocab))
    assert torch.allclose(nd.sum(-1), torch.zeros(nd.shape[0]), atol=1e-6)
    if b.model.causal:
        assert float(nd[:5].abs().max()) == 0


def test_differences_of_unequal_lengths_use_the_common_positions():
    b = tiny_bundle("miniformer")
    a, c = capture(b, "cat"), capture(b, "cats")
    d = pattern_differences(a, c)["blocks.0.attn.hook_pattern"]
    assert d.shape[1:] == (4, 4) and float(d.abs().max()) == 0  # "cat" is a prefix of "cats"
    assert next_token_differences(a, c).shape[0] == 4


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_leave_one_out_by_hand(model):
    b = tiny_bundle(model)
    loo = leave_one_out(b, "kiwi")
    probs = next_token_probs(capture(b, "kiwi").next_token_logits()).double()
    assert loo.top == int(probs.argmax()) and loo.p_top == pytest.approx(float(probs[loo.top]), abs=1e-6)
    assert loo.tokens == ("<BOS>", "k", "i", "w", "i") and loo.delta[0] == 0.0
    for i in range(1, 5):
        ids = list(b.vocab.encode("kiwi").ids)
        ids[i] = UNK_ID
        p = b.model(torch.tensor([ids])).logits[0, -1].double().softmax(-1)
        assert loo.delta[i] == pytest.approx(loo.p_top - float(p[loo.top]), abs=1e-6), i


def test_one_char_changed():
    assert one_char_changed("capybara") == "capycara"
    assert (
        one_char_changed("z") == "a"
        and one_char_changed("") == ""
        and one_char_changed("a!b") == "aab"
        and one_char_changed("ab!") == "ac!"
    )
    assert one_char_changed("oz") == "oa"


# ---- figures --------------------------------------------------------------------------------------------------------


def test_head_lab_figures_label_themselves_through_tr():
    """One labelling convention: a builder translates its own titles, axis titles and head names with ``tr``; a
    page passes ``tr`` (and a title only where it names the data), never the figure's fixed words."""
    mark = lambda s: "«" + s + "»"
    b = tiny_bundle("full-peeking")
    a, c = capture(b, "cat"), capture(b, "cot")
    diffs = pattern_differences(a, c)
    name = a.names("encoder")[0]
    figs = {
        "diff": head_lab_figures.diff_heatmaps(diffs, a, c, row_titles={}, tr=mark),
        "next": head_lab_figures.next_token_diff_heatmap(next_token_differences(a, c), a, c, b.vocab, tr=mark),
        "rollout": head_lab_figures.rollout_figure([("raw", head_mean(a, name))], a.tgt_tokens, a.tgt_tokens, tr=mark),
        "grid": F.layer_head_grid(a, tr=mark),
    }
    for kind, fig in figs.items():
        lay = fig.to_dict()["layout"]
        assert lay["title"]["text"].startswith("«"), (kind, lay["title"])
        axis_titles = [
            v["title"]["text"] for k, v in lay.items() if k[1:5] == "axis" and v.get("title", {}).get("text")
        ]
        assert all("«" in t for t in axis_titles) and (axis_titles or kind == "diff"), (kind, axis_titles)
    assert figs["next"].layout.xaxis.ticktext[0] == "«end»"  # <EOS>, in the page's words
    assert all("«head {h}»" not in a.text and "«head" in a.text for a in figs["grid"].layout.annotations)
    assert any("«head" in a.text for a in figs["diff"].layout.annotations)


def test_head_lab_figures_by_data_and_full_validation():
    from test_viz import validate

    b = tiny_bundle("full-peeking")
    a, c = capture(b, "<img>"), capture(b, "<imq>")
    diffs = pattern_differences(a, c)
    fig = head_lab_figures.diff_heatmaps(diffs, a, c, title="d", row_titles={n: n for n in diffs})
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == sum(d.shape[0] for d in diffs.values())
    m = max(float(d.abs().max()) for d in diffs.values())
    assert all(t.zmid == 0 and t.zmin == pytest.approx(-max(m, 1e-3)) and t.zmax == -t.zmin for t in heat)
    nd = next_token_differences(a, c)
    nfig = head_lab_figures.next_token_diff_heatmap(nd, a, c, b.vocab, title="n")
    assert len(nfig.data[0].z) == len(a.tgt_tokens) and len(nfig.data[0].z[0]) == len(b.vocab) - 3
    assert nfig.layout.xaxis.ticktext[0] == "end" and nfig.data[0].zmid == 0
    roll = head_lab_figures.rollout_figure(
        [("raw", head_mean(a, a.names("encoder")[0])), ("rollout", attention_rollout(a, "encoder"))],
        a.tgt_tokens,
        a.tgt_tokens,
        title="r",
        x_title="k",
        y_title="q",
    )
    loo = leave_one_out(b, "<img>")
    vs = head_lab_figures.attention_vs_importance(
        loo.tokens,
        a.patterns[a.names("cross")[0]][0, 0, -1],
        [None] + list(loo.delta[1:]),
        top="<EOS>",
        p_top=0.5,
        pattern_label="cross L0",
    )
    assert vs.layout.title.text == "Prediction: end of word (50%)"
    assert vs.data[1].y[0] is None and list(vs.data[1].y[1:]) == pytest.approx(list(loo.delta[1:]))
    assert list(vs.data[0].y) == pytest.approx(a.patterns[a.names("cross")[0]][0, 0, -1].tolist())
    ko = capture(b, "<img>", knocked_out=[("decoder.1.attn", 2)])
    ent = F.entropy_heatmap(ko, notes={"decoder.1.attn.hook_pattern": ["r0", "r1", "<b>r2</b>", "r3"]}, off_label="OFF")
    cell = ent.data[0].text[3][2]  # decoder self L1, head 2
    assert "&lt;b&gt;r2&lt;/b&gt;" in cell and "OFF" in cell and "OFF" not in ent.data[0].text[3][1]
    for f in (fig, nfig, roll, vs, ent):
        validate(f)
        for s in strings(f.to_dict()):
            assert "<img" not in s and "<script" not in s, s


# ---- the page -------------------------------------------------------------------------------------------------------

TOOLS = ("knockout", "roles", "rollout", "changed", "importance")


def chart_keys(at) -> set[str]:
    return {el.proto.id.rsplit("-", 1)[-1] for el in at.get("plotly_chart")}


@pytest.mark.parametrize("model", ("miniformer", "full_transformer"))
def test_page_runs_every_tool_with_both_models(model):
    at = open_app("app_pages/6_heads.py")
    at.selectbox(key="model").set_value(model).run()
    at.text_input(key="text").input("capybar").run()
    want = {
        "knockout": {"heads.bars.before", "heads.bars.after"},
        "roles": {"heads.roles.entropy"},
        "rollout": {"heads.rollout.blocks"}
        if model == "miniformer"
        else {"heads.rollout.encoder", "heads.rollout.decoder", "heads.rollout.cross"},
        "changed": {"heads.changed.next", "heads.changed.patterns"},
        "importance": {"heads.loo.chart"},
    }
    for tool in TOOLS:
        at.session_state["heads.tool"] = tool
        at.run()
        assert not at.exception, (tool, [e.value for e in at.exception])
        assert not at.error, (tool, [e.value for e in at.error])
        assert chart_keys(at) == want[tool], tool
    at.session_state["heads.tool"] = "knockout"
    at.button(key="heads.ko.all").click().run()  # every head out
    assert not at.exception
    caption = " ".join(str(c.value) for c in at.caption)
    assert "KL(all ‖ knocked out)" in caption
    from models.checkpoint import load_checkpoint

    heads = every_head(load_checkpoint(model))
    n = sum(len(at.session_state[f"heads.ko.{model}.{m}"]) for m in dict(heads))
    assert n == len(heads) == (1 if model == "miniformer" else 24)
    spec = {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    assert spec["heads.bars.after"]["layout"]["title"]["text"] == f"{n} head(s) knocked out"
    table = at.dataframe[0].value
    assert len(table) == n and list(table["NLL change"]) == sorted(table["NLL change"], reverse=True)


def test_page_escapes_the_token_in_the_bar_title_on_an_empty_word():
    at = open_app("app_pages/6_heads.py")
    spec = {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    assert spec["heads.bars.before"]["layout"]["title"]["text"] == "All heads: next after “&lt;BOS&gt;”"


def test_page_with_an_uploaded_json_shows_the_model_free_views_and_says_why_the_rest_are_off():
    at = open_app("app_pages/6_heads.py")
    data = capture(tiny_bundle("miniformer"), "cat").to_json("all").encode()
    at.file_uploader(key="heads.upload").set_value(("<b>cat</b>.json", data, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert chart_keys(at) == {"heads.json.entropy", "heads.json.rollout"}
    assert any("they are off" in str(i.value) for i in at.info)
    assert "<b>cat</b>.json" in [str(t.value) for t in at.text]  # the name as text, not markup
    at.file_uploader(key="heads.upload").set_value(("bad.json", b"{not json", "application/json")).run()
    assert not at.exception and at.error
