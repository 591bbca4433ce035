"""Explore: type a word and watch every layer's and head's attention change on each keystroke."""

import datetime

import streamlit as st

from models.capture_upload import CaptureImportError, from_json
from models.data import next_char_counts
from ui.cache import get_capture, shipped_words
from ui.cards import model_card
from ui.charts import bertviz_frame, chart, download_figure, let_browser_draw
from ui.controls import WORD_KEY, lazy_expander, more_controls, sampling_controls, text_box
from ui.i18n import _, option_labels, render
from ui.pickers import load_or_explain, model_picker
from ui.text import alphabet_note, empty_prompt, escape_md, input_notes, model_label, peek_warning
from viz import figures as F
from viz import style
from viz.metrics import end_of_word_prob, next_eos_prob, next_token_probs, notebook_entropies

st.title(_("Explore"))
welcome = st.container()  # always in the page, so the box below keeps its place when this empties
if not st.session_state.get(WORD_KEY):
    # A student alone lands here first: say where to start and what to type, in plain words, before any jargon.
    with welcome.container(border=True):
        st.markdown(
            _(
                "**New here?** Start with the **Lesson**: eight short steps, each with a question to guess "
                "before the answer. Or type the name of an animal, a fruit or a vegetable in English in the "
                "box below — for example **capybara** — and watch what the model looks at as you type."
            )
        )
        st.page_link("app_pages/0_lesson.py", label=_("Start the Lesson"), icon=":material/school:")
st.caption(
    _(
        "Type a word. After each keystroke the model reads `<BOS>` + your characters and predicts the next one; "
        "every view below shows the attention of that one forward pass."
    )
)

# ---- the browser path (issue 24): the live views computed and drawn in the student's browser, ui/live_views.py ----
from ui import live_views  # noqa: E402

if live_views.explore():
    st.stop()

c_text, c_model, c_eos = st.columns([3, 2, 1.1], vertical_alignment="bottom")
with c_text:
    text = text_box()
    alphabet_note()
with c_model:
    name = model_picker("model")
with c_eos:
    finished = st.toggle(
        _("Finished word"), key="explore.eos", help=_("Append `<EOS>`: read the text as a whole word.")
    )

uploaded = None
with st.expander(_(":material/folder_open: Open an attention JSON (from this app or the original notebook)")):
    up = st.file_uploader(_("Attention JSON"), type=["json"], key="explore.upload", label_visibility="collapsed")
    if up is not None:
        try:
            uploaded = from_json(up.getvalue(), name=up.name)
            st.success(
                _(
                    "Showing **{file}** below ({layers} layer(s), {tokens} tokens). Remove the file to go back "
                    "to the live model."
                ).format(file=escape_md(up.name), layers=len(uploaded.patterns), tokens=len(uploaded.tgt_tokens))
            )
        except CaptureImportError as e:
            st.error(_("**{file}** can't be shown: {why}").format(file=escape_md(up.name), why=escape_md(render(e))))

bundle = load_or_explain(name) if name and uploaded is None else None
if uploaded is None and bundle is None:
    st.stop()
if bundle is not None:
    with st.expander(_("About this model: size, training and test scores"), icon=":material/info:"):
        model_card(bundle, compact=True)  # the numbers, one click down
    if bundle.peeking:
        st.warning(peek_warning())  # what matters for reading the views stays in sight

cap = uploaded if uploaded is not None else get_capture(name, text, add_eos=finished)
if uploaded is None and not text:
    empty_prompt()
input_notes(cap)

left, right = st.columns([0.9, 1.1], gap="large")

# BertViz first, in its own batch of page updates: the browser draws it before it starts on the plotly charts
# (see let_browser_draw); then the bars, then the heavier heatmaps.
with right:
    view = st.segmented_control(
        "BertViz",
        ["head", "model"],
        key="explore.view",
        required=True,
        format_func={"head": _("Head view"), "model": _("Model view")}.__getitem__,
    )
    st.caption(
        _("Hover a token to see what it attends to; pick a layer at the top; double-click a head colour to isolate it.")
        + (
            " " + _("Use the selector to switch between encoder, decoder and cross-attention.")
            if cap.is_seq2seq
            else ""
        )
    )
    bertviz_frame(cap, view, key="explore.bertviz")
let_browser_draw()

with left:
    if cap.logits is not None and finished:
        # After <EOS> there is nothing to predict: what counts is how sure the model was that the word ends here,
        # read from the word alone (the peeking model would read the <EOS> of its source at t+1).
        st.metric(_("Probability the model gave to ending the word"), f"{next_eos_prob(get_capture(name, text)):.1%}")
        st.caption(
            _(
                "At the last character, `{token}`, the model's probability for `<EOS>` (end of word). After "
                "`<EOS>` there is nothing left to predict, so there are no next-token bars; switch *Finished "
                "word* off to see them."
            ).format(token=cap.tgt_tokens[-2])
        )
        if cap.peeking:
            st.warning(
                _(
                    "Read from the word alone, as the model has it while the word is written. With `<EOS>` "
                    "already in its source (the views here), this model gives **{p:.1%}**: it reads the answer "
                    "at *t+1*, not the word."
                ).format(p=end_of_word_prob(cap))
            )
    elif cap.logits is not None:

        @st.fragment
        def next_token_panel():
            top_k, temp = sampling_controls(more_controls(), len(cap.vocab))
            probs = next_token_probs(cap.next_token_logits(), temp, top_k)
            seen = next_char_counts(text.lower(), shipped_words()) if text and not finished else {}
            expected = next(iter(seen), None)
            last = (
                _("{bos} (start of a word)").format(bos="&lt;BOS&gt;")
                if len(cap.tgt_tokens) == 1
                else _("“{token}”").format(token=style.label(cap.tgt_tokens[-1]))
            )
            fig = F.next_token_bars(
                probs,
                bundle.vocab,
                top_k=top_k,
                expected=expected,
                title=_("Next token after {last}").format(last=last),
                tr=_,
            )
            chart(fig, key="explore.bars")
            if expected:
                words = [wd for wd in shipped_words() if wd.startswith(text.lower())][:6]
                more = "…" if seen and sum(seen.values()) > 6 else ""
                st.caption(
                    _(
                        "Orange: **{char}**, how most training words starting with “{typed}” go on ({words}). "
                        "The model gives it **{p:.1%}**."
                    ).format(
                        char=escape_md(style.char_name(expected, tr=_)),
                        typed=escape_md(text.lower()),
                        words=escape_md(", ".join(words) + more),
                        p=float(probs[bundle.vocab.stoi[expected]]),
                    )
                )

        next_token_panel()
        let_browser_draw()
    entropy_fig = F.entropy_heatmap(cap, tr=_)  # built once: the PNG export below reuses it
    chart(entropy_fig, key="explore.entropy")
    st.caption(
        _(
            "**Reading it:** each cell averages, over query positions, the entropy of that head's attention "
            "divided by log(number of keys the query can see). **0** = every query looks at exactly one "
            "character; **1** = attention spread evenly over everything it can see."
        )
        + " "
        + _(
            "Rows that can see only one key (the first row under a causal mask) are left out: they have no "
            "choice to make. The original notebook's entropy is another number: in nats (not divided), one "
            "per layer, averaged over all heads and every row, the first included."
        )
    )
    if uploaded is not None:
        st.markdown(
            _("The notebook's entropy of this file (nats, mean over heads and all rows): {values}").format(
                values=" · ".join(
                    _("{layer}: **{value:.3f}**").format(layer=style.pattern_title(n, tr=_), value=v)
                    for n, v in notebook_entropies(cap).items()
                )
            )
        )

st.subheader(_("Attention heatmap"))
names = cap.names()
h1, h2, h3 = st.columns([2, 1, 2])
pattern = h1.selectbox(
    _("Layer"), names, format_func=option_labels(names, lambda n: style.pattern_title(n, tr=_)), key="explore.pattern"
)
n_head = cap.patterns[pattern].shape[1]
head = h2.selectbox(_("Head"), list(range(n_head)), key="explore.head") if n_head > 1 else 0
q_tokens = cap.axes(pattern)[0]
query = (
    h3.select_slider(
        _("Highlight query"),
        options=list(range(len(q_tokens))),
        value=len(q_tokens) - 1,
        format_func=lambda i: f"{i}: {q_tokens[i]}",
        key=f"explore.query.{len(q_tokens)}",
    )
    if len(q_tokens) > 1
    else 0
)
a1, a2 = st.columns([1.3, 1], gap="large")
heat = F.attention_heatmap(cap, pattern, head, query=query, tr=_)
chart(heat, key="explore.heat", container=a1)
a1.caption(
    _(
        "Row = the character doing the looking, column = the character looked at. Grey cells are masked: "
        "that query may not look ahead. Hover for the exact weight."
    )
)
qent = F.query_entropy(cap, pattern, head, query=query, tr=_)
chart(qent, key="explore.qent", container=a2)
if uploaded is None:
    from ui.lesson import attention_steps_view, get_steps

    steps_box = lazy_expander(
        ":material/calculate: " + _("Attention, step by step: the numbers behind the highlighted row"),
        key="explore.steps.open",
    )
    if steps_box.open:
        with steps_box:
            attention_steps_view(get_steps(name, text, pattern, head, query, finished), key="explore.steps")


def export_panel() -> None:
    """The exports of what the page shows now: the BertViz view, the capture as JSON, the two heatmaps as slides."""
    # What every export says it shows: the model (or the file) and the word. Plain text; each export escapes it.
    source = up.name if uploaded is not None else model_label(name)
    shown_word = (
        "".join(t if len(t) == 1 else f" {t} " for t in cap.tgt_tokens).strip()
        if uploaded is not None
        else text + (" <EOS>" if finished else "")
    )
    subtitle = f"{source} · “{shown_word}”"
    e1, e2, e3 = st.columns(3)
    with e1:
        st.markdown(_("**BertViz view** (standalone, works offline)"))
        from viz.bertviz_view import VendorMissingError, head_view_html, model_view_html

        view_name = {"head": _("Head view"), "model": _("Model view")}[view]
        # Translated now (the download runs on another thread, outside this session); dated when clicked.
        lines = (
            _("BertViz {view} · {source}").format(view=view_name, source=source),
            _("Word: “{word}”").format(word=shown_word),
            _("Exported from Attention Lab on {date}"),
        )
        header = lambda: (*lines[:2], lines[2].format(date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M")))
        try:
            make = head_view_html if view == "head" else model_view_html
            st.download_button(
                _("{view} (HTML)").format(view=view_name),
                data=lambda: make(cap.bertviz_kwargs(), standalone=True, header=header()),
                file_name=f"bertviz_{view}_view.html",
                mime="text/html",
                key="explore.dl.bv",
                icon=":material/download:",
                on_click="ignore",
            )
        except VendorMissingError as e:
            st.caption(escape_md(e))
    with e2:
        st.markdown(_("**Capture as JSON** (the notebook's formats)"))
        family = (
            st.selectbox(
                _("Attention"),
                cap.square_families(),
                key="explore.json_family",
                format_func=option_labels(cap.square_families(), lambda k: _(style.FAMILY_LABEL[k])),
            )
            if cap.is_seq2seq
            else "blocks"
        )
        st.download_button(
            _('All layers `{"all": …}`'),
            data=lambda: cap.to_json("all", family=family),
            file_name=f"attention_{family}_all.json",
            mime="application/json",
            key="explore.dl.all",
            on_click="ignore",
        )
        # The one-layer format holds the layer picked above the heatmap; cross-attention has two token lists,
        # which that format can't hold.
        sel_family, sel_layer = cap.family_of(pattern)
        square = sel_family in cap.square_families()
        st.download_button(
            _('Selected layer `{"attentions": …}`'),
            data=lambda: cap.to_json("layer", family=sel_family, layer=sel_layer) if square else "",
            file_name=f"attention_{sel_family}_layer{sel_layer}.json",
            mime="application/json",
            key="explore.dl.layer",
            disabled=not square,
            on_click="ignore",
            help=_(
                'The notebook\'s one-layer format, {"tokens": …, "attentions": …}, for the layer '
                "picked above the heatmap."
            )
            if square
            else _(
                "Cross-attention has separate query and key tokens, which the one-layer format can't "
                "hold; pick a self-attention layer above the heatmap."
            ),
        )
        st.caption(_("Selected: {layer}").format(layer=escape_md(style.pattern_title(pattern, tr=_))))
    with e3:
        st.markdown(_("**Figures** (16:9 slides)"))
        download_figure(
            heat, "attention_heatmap", key="explore.dl.heat", what=_("Attention heatmap"), subtitle=subtitle
        )
        download_figure(
            entropy_fig, "entropy_heatmap", key="explore.dl.ent", what=_("Entropy heatmap"), subtitle=subtitle
        )


export_box = lazy_expander(":material/download: " + _("Export"), key="explore.export.open")
if export_box.open:  # built only while open: a dozen elements less on every keystroke
    with export_box:
        export_panel()
