"""Leak lesson: why the original FullTransformer looked perfect, shown with this app's own checkpoints."""

import math

import pandas as pd
import streamlit as st

from ui.cache import available_models, get_capture, get_generation
from ui.cards import heldout_eval
from ui.charts import chart
from ui.controls import text_box
from ui.i18n import _, option_labels
from ui.pickers import load_or_explain
from ui.text import empty_prompt, escape_md, input_notes, model_label, show_notes, show_word, stop_reason
from viz import figures as F
from viz import style
from viz.metrics import counterfactual_next_token, leak_summary, next_key_weights_by_layer, next_token_probs

# The lesson's three roles (a choice of models for what each shows, not a list of every model):
PEEK = "full_transformer_peeking"  # the original design, which reads the answer
FREE = "full_transformer"  # the same network, leak-free
MINI = "miniformer"  # a causal decoder, leak-free by construction


def short_names() -> dict[str, str]:
    return {PEEK: _("peeking"), FREE: _("leak-free"), MINI: "MiniFormer"}


SHORT = short_names()
st.title(_("Leak lesson"))
st.markdown(
    _(
        "The **FullTransformer** reads each word twice: its **encoder** reads the word as the *source*, its "
        "**decoder** reads it as the *target* and, at every position *t*, predicts the next character. In the original "
        "design the "
        "decoder's cross-attention could look at **every** source character — including source position *t+1*, which "
        "**is** the answer. Training rewarded copying it, so its test loss looked almost perfect.\n\n"
        "The **leak-free** FullTransformer masks the encoder and cross-attention too: position *t* only reads source "
        "positions ≤ *t*. Everything below is computed live from this app's checkpoints."
    )
)

models = {}
for name in (PEEK, FREE):
    models[name] = load_or_explain(name)
if None in models.values():
    st.info(
        _(
            "This page needs both shipped FullTransformer checkpoints (`full_transformer.pt` and "
            "`full_transformer_peeking.pt` in `checkpoints/`)."
        )
    )
    st.stop()

# ---- 1. where it looks ---------------------------------------------------------------------------------------------
st.header(_("1 · Where the peeking model looks"), divider="gray")
word = text_box("leak.word", label=_("A whole word"), placeholder="flycatcher")
if not word:
    empty_prompt(_("Type a whole word"))
caps = {n: get_capture(n, word, add_eos=True) for n in (PEEK, FREE)}
input_notes(caps[PEEK])
summary = {n: leak_summary(caps[n]) for n in (PEEK, FREE)}
cross = caps[PEEK].names("cross")
c1, c2, c3 = st.columns([2, 1, 3], vertical_alignment="bottom")
layer = c1.selectbox(
    _("Cross-attention layer"),
    cross,
    index=cross.index(summary[PEEK]["layer"]),
    format_func=option_labels(cross, lambda n: style.pattern_title(n, tr=_)),
    key="leak.layer",
)
n_head = caps[PEEK].patterns[layer].shape[1]
head = c2.selectbox(_("Head"), list(range(n_head)), key="leak.head") if n_head > 1 else 0
c3.caption(
    _(
        "Rows: the decoder position predicting the next character. Columns: the source characters. "
        "The orange outlines mark key *t+1* — the answer."
    )
)
q_tok, k_tok = caps[PEEK].axes(layer)
h1, h2 = st.columns(2, gap="medium")
for col, n in ((h1, PEEK), (h2, FREE)):
    fig = F.attention_heatmap(
        caps[n],
        layer,
        head,
        title=_("{model} · {layer} · head {head}").format(
            model=SHORT[n], layer=style.pattern_title(layer, tr=_), head=head
        ),
        tr=_,
    )
    chart(F.with_next_key_outline(fig, len(q_tok), len(k_tok)), key=f"leak.heat.{n}", container=col)
weights = {SHORT[n]: next_key_weights_by_layer(caps[n]) for n in (PEEK, FREE)}
chart(F.next_key_layer_bars(weights, chance=summary[PEEK]["chance"], tr=_), key="leak.bars")
sp, sf = summary[PEEK], summary[FREE]
shown = "".join(t if len(t) == 1 else "?" for t in caps[PEEK].tgt_tokens[1:-1])  # vocabulary characters only
st.markdown(
    _(
        "On “{word}”, the peeking model's cross-attention heads put on average **{mean:.0%}** of their weight on key "
        "*t+1* (the busiest head: **{max:.0%}**; spreading evenly would give {chance:.0%}). The leak-free model puts "
        "**{free:g}** there — exactly zero, because the mask removes those keys before the softmax."
    ).format(word=escape_md(shown), mean=sp["mean"], max=sp["max"], chance=sp["chance"], free=sf["max"])
)

# ---- 2. the numbers that fooled us ---------------------------------------------------------------------------------
st.header(_("2 · The number that fooled us"), divider="gray")
st.markdown(
    _(
        "*Teacher-forced* NLL feeds the whole word in and scores every position at once — that is how the seed "
        "notebook measured test loss. *Prefix-only* NLL predicts each character from the characters before it "
        "only, the way a model is actually used (when you write a word, the rest of it doesn't exist yet)."
    )
)
# A broken optional checkpoint (MiniFormer) gets its message and is left out; the lesson goes on with the others.
names = [n for n in (PEEK, FREE, MINI) if n in available_models() and load_or_explain(n) is not None]
evals = {n: heldout_eval(n, "test") for n in names}
if None in evals.values():
    st.warning(_("The word list `data/words.txt` is missing, so the test words can't be scored here."))
else:
    rows = [
        {
            "model": SHORT[n],
            "teacher_forced": evals[n]["teacher_forced_nll"],
            "prefix": evals[n]["prefix_nll"],
            "accuracy": evals[n]["accuracy"],
        }
        for n in names
    ]
    uniform = math.log(len(models[FREE].vocab) - 3)  # <PAD>, <BOS> and <UNK> are never targets
    b1, b2 = st.columns(2, gap="medium")
    chart(
        F.nll_bars(rows, uniform=uniform, title=_("Test NLL, teacher-forced vs prefix-only (lower is better)"), tr=_),
        key="leak.nll",
        container=b1,
    )
    table = pd.DataFrame(
        [
            {
                _("model"): r["model"],
                _("teacher-forced"): f"{r['teacher_forced']:.3f}",
                _("prefix-only"): f"{r['prefix']:.3f}",
                _("accuracy"): f"{r['accuracy']:.0%}",
            }
            for r in rows
        ]
    )
    b2.dataframe(table, hide_index=True, width="stretch")
    ep, ef = evals[PEEK], evals[FREE]
    b2.markdown(
        _(
            "On the **{n}** test words (never used in training or model choice), the peeking model scores "
            "**{tf:.2f}** teacher-forced but **{prefix:.2f}** prefix-only: a gap of **{gap:.2f}** nats per character, "
            "the size of the leak. The leak-free model scores **{free:.2f}** both ways — it has nothing to peek at."
        ).format(
            n=ep["n_words"],
            tf=ep["teacher_forced_nll"],
            prefix=ep["prefix_nll"],
            gap=ep["prefix_nll"] - ep["teacher_forced_nll"],
            free=ef["prefix_nll"],
        )
    )
    b2.markdown(
        _(
            "Teacher-forced, the peeking model scores **{char:.3f}** on the characters, which it copies from *t+1*, "
            "and **{end:.2f}** on each word's end: every word is scored as if alone (the padding of its batch is "
            "masked), and a word's source holds no `<EOS>` to copy."
        ).format(char=ep["teacher_forced_char_nll"], end=ep["teacher_forced_end_nll"])
    )
    if not all(e["same_words"] for e in evals.values()):
        b2.caption(
            _(
                "⚠ A checkpoint here was trained on a different word list or split, so some of these test "
                "words may have been training words for it."
            )
        )
    b2.caption(
        _("NLL in nats per character, lower is better; guessing uniformly over 27 tokens scores {uniform:.2f}.").format(
            uniform=uniform
        )
    )

# ---- 3. generate ---------------------------------------------------------------------------------------------------
st.header(_("3 · Ask it to write a word"), divider="gray")
st.markdown(
    _(
        "Generation, one character at a time: the text so far is fed as both source and target, as in "
        "training. Now there *is* no next source character to copy."
    )
)
prefix = text_box("leak.prefix", label=_("Start of a word"), placeholder="capy")
g1, g2 = st.columns(2, gap="medium")
for col, n in ((g1, PEEK), (g2, FREE)):
    gen = get_generation(n, prefix, max_new=12, greedy=True, temperature=1.0, top_k=None, seed=0)
    new = "".join(s.token for s in gen.steps if s.token_id >= 4)
    with col:
        st.markdown(f"**{escape_md(model_label(n))}**")
        show_word(gen.text[: len(gen.text) - len(new)], new)
        st.caption(_("Greedy: {reason} · {n} step(s)").format(reason=stop_reason(gen.stop_reason), n=len(gen.steps)))
        samples = [
            get_generation(n, prefix, max_new=12, greedy=False, temperature=0.8, top_k=None, seed=s).text
            for s in (1, 2, 3)
        ]
        st.markdown(
            _("Sampled (temperature 0.8, seeds 1–3): {words}").format(
                words=", ".join(f"**{escape_md(t)}**" for t in samples)
            )
        )
input_notes(get_capture(PEEK, prefix))
if not prefix:
    st.caption(_("Empty start: both models begin from `<BOS>` alone."))

# ---- 4. counterfactual ---------------------------------------------------------------------------------------------
st.header(_("4 · Change the future, watch the prediction"), divider="gray")
st.markdown(
    _(
        "Keep the target fixed and edit the **source** *after* the typed characters. A model that only reads "
        "the past can't notice; the peeking model follows whatever character sits at *t+1*."
    )
)
t1, t2, t3 = st.columns(3)
with t1:
    target = text_box("leak.target", label=_("Target (typed so far)"), placeholder="capy")
with t2:
    src_a = text_box("leak.src_a", label=_("Source A"), placeholder="capybara")
with t3:
    src_b = text_box("leak.src_b", label=_("Source B"), placeholder="capyzzzz")
cf = {}
f1, f2 = st.columns(2, gap="medium")
for col, n in ((f1, PEEK), (f2, FREE)):
    ca, cb = get_capture(n, target, src=src_a or target), get_capture(n, target, src=src_b or target)
    cf[n] = counterfactual_next_token(ca, cb)
    vocab = models[n].vocab
    fig = F.counterfactual_bars(
        next_token_probs(ca.next_token_logits()),
        next_token_probs(cb.next_token_logits()),
        vocab,
        names=(_("source A"), _("source B")),
        top_k=3,
        title=_("{model}: next character after “{token}”").format(model=SHORT[n], token=style.label(ca.tgt_tokens[-1])),
        tr=_,
    )
    with col:
        chart(fig, key=f"leak.cf.{n}")
        r = cf[n]
        fut = lambda t: _("nothing (source too short)") if t is None else f"“{escape_md(style.char_name(t, tr=_))}”"
        top = lambda i: escape_md(style.char_name(vocab.itos[i], tr=_))
        st.markdown(
            _(
                "Source char at *t+1*: A {future_a}, B {future_b}. Top prediction: A **{top_a}** ({p_a:.0%}), "
                "B **{top_b}** ({p_b:.0%}). Largest change of any probability: **{change:.3g}**."
            ).format(
                future_a=fut(r["future_a"]),
                future_b=fut(r["future_b"]),
                top_a=top(r["top_a"]),
                p_a=r["p_top_a"],
                top_b=top(r["top_b"]),
                p_b=r["p_top_b"],
                change=r["max_change"],
            )
        )
        if r["max_change"] == 0:
            st.success(_("Unchanged, to the last digit: it cannot see the edited characters."))
        elif r["future_a"] is not None and (vocab.itos[r["top_a"]], vocab.itos[r["top_b"]]) == (
            r["future_a"],
            r["future_b"],
        ):
            st.error(_("It predicts exactly the source character at *t+1*, each time: it copies the answer."))
        elif r["only_future_changed"]:
            st.warning(
                _(
                    "The prediction moved although only source characters after the typed ones changed: it "
                    "reads characters it should not see."
                )
            )
        else:
            st.info(
                _(
                    "Sources A and B already differ at character {i}, which the model is allowed to read, so a "
                    "change here is expected. Edit only characters after the target's."
                ).format(i=r["first_diff"])
            )
show_notes(get_capture(PEEK, target, src=src_a or target).notes + get_capture(PEEK, target, src=src_b or target).notes)
st.caption(
    _(
        "The leak-free model's probabilities change only if you edit the source at or before the last typed "
        "character (positions it is allowed to read)."
    )
)
