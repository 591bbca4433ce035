"""Real model: a real language model (SmolLM2-135M, or any local Hugging Face causal LM), live as you type, with
the lecture's own example: in "The animal didn't cross the street because it was too tired", what does "it" look at?"""

import streamlit as st

from models import hf_lm
from services import lm_views
from ui import real_model as R
from ui import session_defaults as D
from ui.charts import bertviz_frame, chart, let_browser_draw
from ui.controls import sampling_controls
from ui.i18n import _
from ui.projector import on as projector
from ui.text import escape_md, show_word
from viz import figures as F
from viz import style
from viz.metrics import chosen_token_probs, next_token_probs

LIVE_LM = "150ms"  # one forward is ~86 ms on one thread: commit after a short pause, so a burst of keys runs once

st.title(_("Real model"))
st.caption(
    _(
        "A real, pretrained language model, running offline on this machine. It reads sub-word tokens "
        "instead of characters; type a sentence and every view follows."
    )
)

source = R.source_picker()
if source is None:
    st.info(_("Type the path of a local Hugging Face model folder in the sidebar (or pick the bundled SmolLM2)."))
    st.stop()
b = R.lm_or_explain(source)
if b is None:
    st.stop()
R.lm_card(b)
R.clamp_layer_head(b)


def server_views(cap, text: str, layer: int, head: int, top_k: int, temp: float) -> None:
    """The per-key views drawn on the server (plotly figures, BertViz's frame): where the browser could not draw
    them."""
    left, right = st.columns([0.9, 1.1], gap="large")
    with left:
        probs = next_token_probs(cap.next_token_logits(), temp, top_k)
        title = _("Next token after “{token}”").format(token=style.label(cap.tgt_tokens[-1]))
        chart(F.next_token_bars(probs, hf_lm.TokenVocab(b.tokenizer), top_k=top_k, title=title, tr=_), key="real.bars")
    let_browser_draw()
    with right:
        st.markdown("**" + _("BertViz head view") + "**")
        st.caption(
            _(
                "Pick a layer at the top; hover a token to see what it attends to; "
                "double-click a head colour to isolate it."
            )
        )
        bertviz_frame(
            cap,
            "head",
            key="real.bertviz",
            pattern=cap.names()[layer],
            parts=lambda: R.bertviz_parts(source, text),
        )
    let_browser_draw()
    e_col, h_col = st.columns([1, 1.15], gap="large")
    with e_col:
        chart(R.entropy_figure(source, text), key="real.entropy")
        st.caption(
            _(
                "Each cell: how spread out one head's attention is, averaged over the tokens. 0 = every token looks "
                "at exactly one other, 1 = attention spread evenly over everything it can see."
            )
        )
    with h_col:
        chart(R.heatmap_figure(source, text, cap, layer, head), key="real.heat")
        st.caption(
            _(
                "Row = the token doing the looking, column = the token looked at. Grey cells are masked: a token "
                "may not look ahead. Hover for the exact weight."
            )
        )


# The views' knobs, outside the per-key fragment: a key does not redraw them; changing one reruns the page.
sampling, picks = st.columns(2)
sampling_controls(sampling, lm_views.TOP_K[1], page="real")  # the range the route checks
s3, s4 = picks.columns(2)
s3.selectbox(_("Layer"), list(range(b.n_layer)), key="real.layer")
s4.selectbox(_("Head"), list(range(b.n_head)), key="real.head")


# Everything below follows the typed text: a keystroke reruns this fragment only, not the page (the sidebar, the
# title, the model card). A newer key still interrupts a run that has not finished (Streamlit stops it at its next
# element and starts again with the newest text); its forward pass is not lost: its tokens are in the prefix cache.
# Served by serve.py (run.sh, classroom.sh), the component owns the text box: each key asks the light route
# (services/lm_views.py) for its views with one plain request, and this fragment runs only when the student pauses.
@st.fragment
def live():
    failed = R.live_failed()
    routed = failed is None and R.views_route_served()
    if routed:
        text = st.session_state.get("real.text", "")
    else:
        text = st.text_input(
            _("Type a sentence"),
            key="real.text",
            live=LIVE_LM,
            help=_("Any text. The model sees its last {n} tokens.").format(n=hf_lm.MAX_TOKENS),
        )
    cap = R.live_capture(source, text)
    if cap is None:  # the server was too busy: the message is shown, the student types on
        return
    top_k, temp = D.current("real.top_k"), D.current("real.temperature")
    layer, head = st.session_state["real.layer"], st.session_state["real.head"]
    if routed:  # the box and the views first (the "it" question above them on the projector): what follows is
        # the text's at the last pause
        if projector():
            R.it_lesson(source, b, cap, text)
        R.live_views(source, text, layer, head, top_k, temp)
        R.vendor_note()
    if not text:
        st.info(_("Type a sentence above — the views update as you type, no Enter needed."))
    if cap.truncated:
        st.info(
            _("The text is {n} tokens long; the views show its last {k}.").format(
                n=len(cap.tgt_tokens) + cap.truncated, k=len(cap.tgt_tokens)
            )
        )
    R.token_chips(cap.tgt_tokens)
    st.caption(
        _(
            "The {n} tokens the model reads (␣ is a space). Common words are one token; "
            "rare ones are split into pieces."
        ).format(n=len(cap.tgt_tokens))
    )
    if projector() and not routed:
        R.it_lesson(source, b, cap, text)

    # The views, drawn in the browser from the data this run sends (the tokens, the chosen layer's pattern, the entropy,
    # the bars: ui/real_model.live_data), so a key costs the server its forward pass and one small message, not
    # plotly figures and BertViz's markup. The knobs above the text box set them.
    if routed:
        pass
    elif failed is None:
        R.live_views(source, text, layer, head, top_k, temp)
        R.vendor_note()
    else:
        st.info(
            _("Your browser could not draw the views ({why}), so they are drawn on the server.").format(
                why=escape_md(failed)
            )
        )
        server_views(cap, text, layer, head, top_k, temp)
    st.caption(
        _("Orange outline: the row of “{word}” (or the last token).").format(
            word=escape_md(st.session_state["real.word"])
        )
    )

    # ---- the lecture's lesson: what does "it" look at? (first on the projector: the question and its view on one
    # screen)
    if not projector():
        R.it_lesson(source, b, cap, text)


live()

# ---- step-through generation: outside the per-key fragment, so a key does not redraw its widgets; it reads the typed
# text and the picks when a full run draws it (Generate, or any of its own widgets).
text = st.session_state.get("real.text", "")
layer, head = st.session_state["real.layer"], st.session_state["real.head"]
st.subheader(_("Let it write"))
g1, g2, g3 = st.columns([1, 1, 1], vertical_alignment="bottom")
max_new = g1.slider(_("New tokens"), 1, 10, D.widget("real.gen.n"), key="real.gen.n")
mode = g2.segmented_control(
    _("Decoding"),
    ["greedy", "sampled"],
    key="real.gen.mode",
    required=True,
    format_func={"greedy": _("greedy"), "sampled": _("sampled")}.__getitem__,
    help=_("Sampled uses the temperature and top-k above; the seed is fixed, so it repeats."),
)
if g3.button(_("Generate"), key="real.gen.go", icon=":material/play_arrow:", type="primary"):
    st.session_state["real.gen.for"] = text
if st.session_state.get("real.gen.for") != text:
    st.caption(_("Press Generate: the model adds tokens one at a time (one forward pass each), then scrub the steps."))
else:
    greedy = mode != "sampled"
    gen = R.lm_generation(
        source,
        text,
        max_new=max_new,
        greedy=greedy,
        temperature=1.0 if greedy else D.current("real.temperature"),
        top_k=None if greedy else D.current("real.top_k"),
        seed=0,
    )
    new = "".join(s.token for s in gen.steps).replace("␣", " ")
    show_word(gen.prefix if len(gen.prefix) < 200 else "…" + gen.prefix[-200:], new, size="1.5rem")
    if gen.steps:

        @st.fragment
        def timeline():
            n = len(gen.steps)
            if st.session_state.get("real.gen.step", 0) >= n:
                st.session_state["real.gen.step"] = n - 1
            i = st.slider(_("Step"), 0, n - 1, key="real.gen.step") if n > 1 else 0
            probs = chosen_token_probs([s.probs for s in gen.steps], [s.token_id for s in gen.steps])
            chart(
                F.generation_strip(
                    [s.token for s in gen.steps],
                    probs,
                    current=i,
                    title=_("Chosen token and its probability, step by step"),
                    tr=_,
                ),
                key="real.gen.strip",
            )
            step = gen.steps[i]
            a1, a2 = st.columns([1.2, 1], gap="medium")
            sname = step.cap.names()[layer]
            chart(
                F.attention_heatmap(
                    step.cap,
                    sname,
                    head,
                    query=len(step.cap.tgt_tokens) - 1,
                    height=R.heatmap_height(len(step.cap.tgt_tokens)),
                    title=_("Step {i} · layer {layer} · head {head}").format(i=i, layer=layer, head=head),
                    tr=_,
                ),
                key="real.gen.heat",
                container=a1,
            )
            chart(
                F.next_token_bars(
                    step.probs,
                    hf_lm.TokenVocab(b.tokenizer),
                    top_k=10,
                    expected=step.token,
                    title=_("Step {i}: what comes next?").format(i=i),
                    tr=_,
                ),
                key="real.gen.bars",
                container=a2,
            )
            a2.caption(_("Orange: the token chosen at this step."))

        timeline()
