"""Compare: one word, two models side by side, with one query position highlighted in both."""

import hashlib

import pandas as pd
import streamlit as st

from models.data import next_char_counts
from ui.cache import get_capture, shipped_words
from ui.cards import heldout_eval, test_comparison
from ui.charts import bertviz_or_note, chart, let_browser_draw
from ui.controls import text_box
from ui.i18n import _, option_labels
from ui.pickers import compare_pickers
from ui.text import alphabet_note, empty_prompt, escape_md, model_label, show_notes
from viz import figures as F
from viz import style
from viz.metrics import distribution_comparison, next_token_probs

TOP_K = 8
SIDES = ("left", "right")

st.title(_("Compare"))
st.caption(_("One word feeds two models. Pick a model for each side; the views line up so you can read across."))

# ---- the browser path (issue 24): the per-word views computed and drawn in the student's browser (ui/live_views.py)
from ui import live_views  # noqa: E402

if live_views.compare():
    st.stop()

text = text_box()
alphabet_note()
names, bundles = compare_pickers()

caps = {side: get_capture(names[side], text) for side in SIDES}
if not text:
    empty_prompt()
show_notes(caps["left"].notes + caps["right"].notes)

# ---- the two next-token distributions, compared ------------------------------------------------------------------
probs = {side: next_token_probs(caps[side].next_token_logits()) for side in SIDES}
vocab = bundles["left"].vocab
if bundles["left"].vocab != bundles["right"].vocab:
    st.warning(
        _("These two checkpoints use different vocabularies, so their next-token distributions can't be compared.")
    )
else:
    cmp = distribution_comparison(probs["left"], probs["right"])
    top = {"left": cmp["top1_left"], "right": cmp["top1_right"]}
    other = {"left": cmp["p_left_of_right_top"], "right": cmp["p_right_of_left_top"]}
    rows = []
    tests = {side: heldout_eval(names[side], "test") for side in SIDES}
    for side in SIDES:
        nll = None if tests[side] is None else tests[side]["prefix_nll"]
        rows.append(
            {
                "": {"left": _("left"), "right": _("right")}[side],
                _("model"): model_label(names[side]),
                _("parameters"): f"{bundles[side].n_params:,}",
                _("surprise on new words (test NLL)"): "—" if nll is None else f"{nll:.3f}",
                _("top next char"): style.char_name(vocab.itos[top[side]], tr=_),
                _("own first choice, p"): f"{float(probs[side][top[side]]):.1%}",
                _("other's first choice, p"): f"{other[side]:.1%}",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    tops = {
        side: escape_md(style.char_name(vocab.itos[top[side]], tr=_)) for side in SIDES
    }  # a checkpoint's vocabulary
    agree = (
        _(":material/check_circle: Both put **{left}** first.")
        if cmp["agree"]
        else _(":material/cancel: They disagree: **{left}** (left) vs **{right}** (right).")
    ).format(**tops)
    st.markdown(
        agree
        + " "
        + _(
            "How far apart the two predictions are (KL divergence): left from right **{lr:.3f}**, "
            "right from left **{rl:.3f}** nats — 0 means the two distributions are identical."
        ).format(lr=cmp["kl_left_right"], rl=cmp["kl_right_left"])
    )
    st.caption(
        _(
            "Test NLL: average surprise per character on {n} words never used in training or model "
            "choice, predicting each character from the ones before it only (lower is better; a uniform "
            "guess over 27 scores 3.30)."
        ).format(n="—" if tests["left"] is None else tests["left"]["n_words"])
    )
    verdict = (
        test_comparison(names["left"], names["right"], {names[side]: tests[side] for side in SIDES})
        if names["left"] != names["right"]
        else None
    )
    if verdict:
        st.markdown(verdict)  # model names escaped inside

# ---- linked query position ---------------------------------------------------------------------------------------
tokens = (
    caps["left"].tgt_tokens
    if len(caps["left"].tgt_tokens) <= len(caps["right"].tgt_tokens)
    else caps["right"].tgt_tokens
)
Q = len(tokens)


def keep_pick(slider_key: str) -> None:
    """The user picked a position: it holds for this text (typing more follows the last character again)."""
    st.session_state["compare.query"] = st.session_state[slider_key]
    st.session_state["compare.query_text"] = text


# The pick is explicit state, and the slider is a new widget for each text, opened on the position shown: one
# slider under one key kept its value while the text grew (the browser sends a select_slider's value as an index
# into its options), so typing "flycatcher" left the highlight on "1: f".
picked = st.session_state["compare.query"] if st.session_state["compare.query_text"] == text else -1
query = picked if 0 <= picked < Q else Q - 1
if Q > 1:
    slider_key = "compare.query." + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    st.select_slider(
        _("Highlight query position (both sides)"),
        options=list(range(Q)),
        value=query,
        key=slider_key,
        format_func=lambda i: f"{i}: {tokens[i]}",
        on_change=keep_pick,
        args=(slider_key,),
        help=_(
            "Outlines this row in both attention heatmaps and this bar in both per-query entropy "
            "charts. Follows the last character while you type."
        ),
    )

# ---- the views, one row per view so the two sides line up ----------------------------------------------------------
counts = next_char_counts(text.lower(), shipped_words()) if text else {}
expected = next(iter(counts), None)
last = "<BOS>" if Q == 1 else tokens[-1]
st.caption(
    _(
        "**Orange bar**: how most training words that start like the typed text go on. **Heatmaps**: row = "
        "the character doing the looking, column = the character looked at; grey = masked (may not look "
        "ahead); the orange outline is the query position picked above. **Entropy**: 0 = one key, 1 = spread "
        "evenly."
    )
)
# Each row is its own pair of columns, so a taller chart on one side (the encoder-decoder has more layers and heads)
# pushes both sides' next row down alike. Empty rows first, so the page reads header, bars, heatmaps, entropy,
# BertViz from the top, but it is sent BertViz first, then the bars, then the heatmaps, each in its own browser batch
# (see let_browser_draw): the browser draws both BertViz frames before it starts on eight plotly charts.
ROWS = ("header", "bars", "pickers", "heat", "qent", "entropy", "bertviz")
rows = {row: dict(zip(SIDES, st.columns(2, gap="medium"))) for row in ROWS}
patterns, heads = {}, {}
for side in SIDES:
    cap, name = caps[side], names[side]
    rows["header"][side].markdown("##### " + escape_md(model_label(names[side])))  # one line at 1024 px
    with rows["pickers"][side]:
        pnames = cap.names()
        default = pnames.index(cap.names("cross")[0]) if cap.is_seq2seq else 0
        p1, p2 = st.columns([2, 1])
        patterns[side] = p1.selectbox(
            _("Layer"),
            pnames,
            index=default,
            format_func=option_labels(pnames, lambda n: style.pattern_title(n, tr=_)),
            key=f"compare.{side}.pattern.{name}",
        )
        n_head = cap.patterns[patterns[side]].shape[1]
        heads[side] = (
            p2.selectbox(_("Head"), list(range(n_head)), key=f"compare.{side}.head.{name}") if n_head > 1 else 0
        )
for side in SIDES:
    with rows["bertviz"][side]:
        st.markdown(_("**BertViz head view**"))
        # Opens on the family and layer of the heatmap above it (an encoder-decoder's BertViz would open on encoder).
        bertviz_or_note(caps[side], "head", key=f"compare.{side}.bertviz", pattern=patterns[side])
let_browser_draw()
for side in SIDES:
    with rows["bars"][side]:
        chart(
            F.next_token_bars(
                probs[side],
                bundles[side].vocab,
                top_k=TOP_K,
                expected=expected,
                height=90 + 28 * (TOP_K + 1),
                title=_("Next token after {last}").format(last=_("“{token}”").format(token=style.label(last))),
                tr=_,
            ),
            key=f"compare.{side}.bars",
        )
let_browser_draw()
for side in SIDES:
    cap, pattern, head = caps[side], patterns[side], heads[side]
    chart(
        F.attention_heatmap(cap, pattern, head, query=query, tr=_),
        key=f"compare.{side}.heat",
        container=rows["heat"][side],
    )
    qent = F.query_entropy(
        cap,
        pattern,
        head,
        query=query,
        height=230,
        tr=_,  # the long default title is cut
        title=_("Per-query entropy · head {head}").format(head=head),
    )  # at 1024 px
    chart(qent, key=f"compare.{side}.qent", container=rows["qent"][side])
    chart(F.entropy_heatmap(cap, tr=_), key=f"compare.{side}.entropy", container=rows["entropy"][side])
