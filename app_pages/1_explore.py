"""Explore: type a word and watch every layer's and head's attention change on each keystroke."""
import streamlit as st

from models.capture import CaptureImportError, from_json
from models.data import next_char_counts
from ui import widgets as w
from ui.cache import get_capture, shipped_words
from viz import figures as F
from viz.metrics import next_token_probs

st.title("Explore")
st.caption("Type a word. After each keystroke the model reads `<BOS>` + your characters and predicts the next one; "
           "every view below shows the attention of that one forward pass.")

c_text, c_model, c_eos = st.columns([3, 2, 1.1], vertical_alignment="bottom")
with c_text:
    text = w.text_box("text")
with c_model:
    name = w.model_picker("model")
with c_eos:
    finished = st.toggle("Finished word", key="explore.eos", help="Append `<EOS>`: read the text as a whole word.")

uploaded = None
with st.expander(":material/folder_open: Open an attention JSON (from this app or the original notebook)"):
    up = st.file_uploader("Attention JSON", type=["json"], key="explore.upload", label_visibility="collapsed")
    if up is not None:
        try:
            uploaded = from_json(up.getvalue(), name=up.name)
            st.success(f"Showing **{up.name}** below ({len(uploaded.patterns)} layer(s), "
                       f"{len(uploaded.tgt_tokens)} tokens). Remove the file to go back to the live model.")
        except CaptureImportError as e:
            st.error(f"**{up.name}** can't be shown: {e}")

bundle = w.load_or_explain(name) if name and uploaded is None else None
if uploaded is None and bundle is None:
    st.stop()
if bundle is not None:
    w.model_card(bundle)

cap = uploaded if uploaded is not None else get_capture(name, text, add_eos=finished)
if uploaded is None:
    if not text:
        w.empty_prompt()
    w.input_notes(cap)

left, right = st.columns([0.9, 1.1], gap="large")

# BertViz first, in its own batch of page updates: the browser draws it before it starts on the plotly charts
# (see w.let_browser_draw); then the bars, then the heavier heatmaps.
with right:
    view = st.segmented_control("BertViz", ["head", "model"], key="explore.view", required=True,
                                format_func=lambda v: {"head": "Head view", "model": "Model view"}[v])
    st.caption("Hover a token to see what it attends to; pick a layer at the top; double-click a head colour to "
               "isolate it." + (" Use the selector to switch between encoder, decoder and cross-attention."
                                if cap.is_seq2seq else ""))
    w.bertviz_frame(cap, view, key="explore.bertviz")
w.let_browser_draw()

with left:
    if cap.logits is not None:
        @st.fragment
        def next_token_panel():
            s1, s2 = st.columns(2)
            top_k = s1.slider("Top-k", 1, len(cap.vocab), key="explore.top_k", help="How many tokens to show.")
            temp = s2.slider("Temperature", 0.1, 2.0, step=0.1, key="explore.temperature",
                             help="Below 1 sharpens the distribution, above 1 flattens it.")
            probs = next_token_probs(cap.next_token_logits(), temp, top_k)
            seen = next_char_counts(text.lower(), shipped_words()) if text and not finished else {}
            expected = next(iter(seen), None)
            last = ("&lt;BOS&gt; (start of a word)" if len(cap.tgt_tokens) == 1
                    else f"“{F.label(cap.tgt_tokens[-1])}”")
            fig = F.next_token_bars(probs, bundle.vocab, top_k=top_k, expected=expected,
                                    title=f"Next token after {last}")
            st.plotly_chart(fig, key="explore.bars", config=w.PLOTLY_CONFIG)
            if expected:
                words = [wd for wd in shipped_words() if wd.startswith(text.lower())][:6]
                st.caption(f"Orange: **{F.char_label(expected)}**, how most training words starting with "
                           f"“{text.lower()}” go on ({', '.join(words)}{'…' if seen and sum(seen.values()) > 6 else ''}). "
                           f"The model gives it **{float(probs[bundle.vocab.stoi[expected]]):.1%}**.")
        next_token_panel()
        w.let_browser_draw()
    entropy_fig = F.entropy_heatmap(cap)     # built once: the PNG export below reuses it
    st.plotly_chart(entropy_fig, key="explore.entropy", config=w.PLOTLY_CONFIG)
    st.caption("**Reading it:** each cell averages, over query positions, the entropy of that head's attention "
               "divided by log(number of keys the query can see). **0** = every query looks at exactly one "
               "character; **1** = attention spread evenly over everything it can see.")

st.subheader("Attention heatmap")
names = cap.names()
h1, h2, h3 = st.columns([2, 1, 2])
pattern = h1.selectbox("Layer", names, format_func=F.pattern_title, key="explore.pattern")
n_head = cap.patterns[pattern].shape[1]
head = h2.selectbox("Head", list(range(n_head)), key="explore.head") if n_head > 1 else 0
q_tokens = cap.axes(pattern)[0]
query = h3.select_slider("Highlight query", options=list(range(len(q_tokens))), value=len(q_tokens) - 1,
                         format_func=lambda i: f"{i}: {q_tokens[i]}", key=f"explore.query.{len(q_tokens)}") \
    if len(q_tokens) > 1 else 0
a1, a2 = st.columns([1.3, 1], gap="large")
heat = F.attention_heatmap(cap, pattern, head, query=query)
a1.plotly_chart(heat, key="explore.heat", config=w.PLOTLY_CONFIG)
a1.caption("Row = the character doing the looking, column = the character looked at. Grey cells are masked: "
           "that query may not look ahead. Hover for the exact weight.")
qent = F.query_entropy(cap, pattern, head, query=query)
a2.plotly_chart(qent, key="explore.qent", config=w.PLOTLY_CONFIG)
if uploaded is None:
    from ui.i18n import _
    from ui.lesson import attention_steps_view, get_steps
    with st.expander(":material/calculate: " + _("Attention, step by step: the numbers behind the highlighted row")):
        attention_steps_view(get_steps(name, text, pattern, head, query, finished), key="explore.steps")

with st.expander(":material/download: Export"):
    e1, e2, e3 = st.columns(3)
    with e1:
        st.markdown("**BertViz view** (standalone, works offline)")
        from viz.bertviz_view import VendorMissingError, head_view_html, model_view_html
        try:
            make = head_view_html if view == "head" else model_view_html
            st.download_button("HTML", data=lambda: make(cap.bertviz_kwargs(), standalone=True),
                               file_name=f"bertviz_{view}_view.html", mime="text/html", key="explore.dl.bv",
                               icon=":material/download:")
        except VendorMissingError as e:
            st.caption(str(e))
    with e2:
        st.markdown("**Capture as JSON** (the notebook's formats)")
        kind = st.selectbox("Attention", cap.square_kinds(), key="explore.json_kind",
                            format_func=lambda k: F.KIND_LABEL[k]) if cap.is_seq2seq else "blocks"
        st.download_button('All layers `{"all": …}`', data=lambda: cap.to_json("all", kind=kind),
                           file_name=f"attention_{kind}_all.json", mime="application/json", key="explore.dl.all")
        st.download_button('One layer `{"attentions": …}`', data=lambda: cap.to_json("layer", kind=kind, layer=0),
                           file_name=f"attention_{kind}_layer0.json", mime="application/json",
                           key="explore.dl.layer")
    with e3:
        st.markdown("**Figures**")
        w.download_figure(heat, "attention_heatmap", key="explore.dl.heat")
        w.download_figure(entropy_fig, "entropy_heatmap", key="explore.dl.ent")
