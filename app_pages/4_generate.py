"""Generate: let a model write a word from a prefix, then scrub through the steps and see what each one attended to."""

import streamlit as st

from models.checkpoint import CheckpointError
from models.vocab import romanize
from ui import session_defaults as D
from ui.cache import get_capture, get_generation, shipped_words
from ui.cards import model_card
from ui.charts import chart
from ui.controls import more_controls, text_box
from ui.i18n import _
from ui.pickers import load_or_explain, model_picker
from ui.text import alphabet_note, escape_md, input_notes, show_word, stop_reason
from viz import figures as F
from viz import style
from viz.metrics import chosen_token_probs

st.title(_("Generate"))
st.caption(
    _(
        "The model writes one character at a time until it predicts `<EOS>` (end of word) or hits the length "
        "limit. Then scrub the timeline to see what each new character looked at."
    )
)

SUGGESTIONS = 3  # starts of words offered in the box's placeholder
# Starts a student recognises, tried first (each is offered only if the model carries it on; see below)
FAMILIAR = ("capy", "ele", "gir", "straw", "pine", "tig", "kan", "zeb", "pum", "mon", "ban", "cro")


def continued_prefixes(name: str, n: int = SUGGESTIONS, tries: int = 24) -> list[str]:
    """Starts of words (familiar ones first, then the first three letters of words spread over the shipped list) that
    this model, decoding greedily, carries on by at least two characters: the page's own suggestion then always
    writes something (it suggested "capy", which both shipped models end at once). Checked by running the
    generation, cached."""
    words = shipped_words()
    found: list[str] = []
    for start in (*FAMILIAR, *(w_[:3] for w_ in words[:: max(1, len(words) // tries)] if len(w_) > 3)):
        if start in found:
            continue
        try:
            g = get_generation(name, start, max_new=16, greedy=True, temperature=1.0, top_k=None, seed=0)
        except CheckpointError:
            return []
        if sum(step.token_id >= 4 for step in g.steps) >= 2:
            found.append(start)
            if len(found) == n:
                break
    return found


c_text, c_model = st.columns([3, 2], vertical_alignment="bottom")
with c_model:
    name = model_picker("gen.model")
starts = continued_prefixes(name) if name else []
with c_text:
    prefix = text_box(
        label=_("Start of a word"),
        placeholder=_("e.g. {starts} (or leave empty)").format(starts=", ".join(starts))
        if starts
        else _("the start of a word (or leave empty)"),
    )
    alphabet_note()
c_mode, c_len = st.columns([1, 1], vertical_alignment="bottom")
c_temp, c_topk, c_seed = more_controls().columns([1.2, 1, 1], vertical_alignment="bottom")
mode = c_mode.segmented_control(
    _("Decoding"),
    ["greedy", "sampled"],
    default=D.widget("gen.mode"),
    key="gen.mode",
    required=True,
    format_func={"greedy": _("greedy"), "sampled": _("sampled")}.__getitem__,
    help=_("Greedy always takes the most likely token; sampled draws one at random."),
)
greedy = mode != "sampled"
temperature = c_temp.slider(
    _("Temperature"),
    0.1,
    2.0,
    D.widget("gen.temperature"),
    step=0.1,
    key="gen.temperature",
    disabled=greedy,
    help=_("Below 1 sharpens the distribution, above 1 flattens it (sampling only)."),
)
top_k = c_topk.number_input(
    _("Top-k (0 = all)"),
    0,
    30,
    D.widget("gen.top_k"),
    key="gen.top_k",
    disabled=greedy,
    help=_("Sample only among the k most likely tokens (sampling only)."),
)
seed = c_seed.number_input(
    _("Seed"),
    0,
    10_000,
    D.widget("gen.seed"),
    key="gen.seed",
    disabled=greedy,
    help=_("The same seed always gives the same word."),
)
max_new = c_len.slider(_("Max new characters"), 1, 30, D.widget("gen.max_new"), key="gen.max_new")

if name is None:
    st.stop()
b = load_or_explain(name)
if b is None:
    st.stop()
model_card(b, compact=True)

if b.is_seq2seq:
    st.info(
        _(
            "**FullTransformer convention:** at every step the text so far (`<BOS>` + prefix + the characters "
            "generated so far) is fed as **both the source (encoder) and the target (decoder)** — exactly as in "
            "training — and the decoder's last position predicts the next character."
        )
        + (
            " "
            + _(
                "The peeking model learned to copy source position *t+1*, which never exists at the last "
                "position here, so it tends to echo."
            )
            if b.peeking
            else ""
        ),
        icon=":material/info:",
    )

if len(romanize(prefix).text) + 3 > b.block_size:  # no room left to generate: keep the end of the text, say so
    prefix = romanize(prefix).text  # what the model reads (ねこ → neko), cut below
    room = b.block_size - 2  # characters the model reads at once: its context less <BOS>
    keep = max(1, room - max_new)
    st.info(
        _(
            "Your text is {n:,} characters long. The model reads at most {room} characters at a time, and they "
            "must also hold the {new} characters it may add, so it continues from the last {keep} characters of "
            "your text. Lower *Max new characters* to keep more of it."
        ).format(n=len(prefix), room=room, new=max_new, keep=keep)
    )
    prefix = prefix[-keep:]
input_notes(get_capture(name, prefix))
if not prefix:
    st.caption(_("Empty prefix: the model writes a word from `<BOS>` alone."))

gen = get_generation(
    name,
    prefix,
    max_new=max_new,
    greedy=greedy,
    temperature=1.0 if greedy else temperature,
    top_k=None if greedy or not top_k else int(top_k),
    seed=int(seed),
)
new = "".join(s.token for s in gen.steps if s.token_id >= 4)
show_word(gen.text[: len(gen.text) - len(new)], new, size="2.6rem")
reason = stop_reason(gen.stop_reason) + (f" ({max_new})" if gen.stop_reason == "limit" else "")
how = (
    _("greedy")
    if greedy
    else _("sampled, temperature {t:.1f}, {tokens}, seed {seed}").format(
        t=temperature, tokens=_("all tokens") if not top_k else _("top-{k}").format(k=int(top_k)), seed=int(seed)
    )
)
st.caption(_("{reason} · {n} step(s) · {how}").format(reason=reason, n=len(gen.steps), how=how))
if not gen.steps:
    st.warning(_("Nothing was generated: the prefix leaves no room in the model's context."))
    st.stop()


def sample_until_it_continues(first_seed: int) -> None:
    """The button's callback: switch to sampling, at the first seed from ``first_seed`` whose sample adds at least
    one character (the model's own draws, cached), so the timeline has steps to scrub."""
    for s in range(first_seed, min(first_seed + SEED_TRIES, 10_001)):
        g = get_generation(
            name, prefix, max_new=max_new, greedy=False, temperature=temperature, top_k=int(top_k) or None, seed=s
        )
        if any(step.token_id >= 4 for step in g.steps):
            break
    st.session_state["gen.mode"], st.session_state["gen.seed"] = "sampled", s


SEED_TRIES = 50
if gen.stop_reason == "eos" and not new:  # a complete word: the first choice is the end of the word
    word = escape_md(prefix) if prefix else "<BOS>"
    if greedy:
        st.info(
            _(
                "The model reads “{word}” as a whole word already: its most likely next character is the end of "
                "the word, so greedy decoding stops at once and there is nothing to scrub. Sampling draws among "
                "the likely characters instead, and can carry on."
            ).format(word=word),
            icon=":material/info:",
        )
    else:
        st.info(
            _("With seed {seed}, the sample ended the word at once as well.").format(seed=int(seed)),
            icon=":material/info:",
        )
    st.button(
        _("Sample a continuation"),
        key="gen.try_sampling",
        icon=":material/casino:",
        on_click=sample_until_it_continues,
        args=(0 if greedy else int(seed) + 1,),
        help=_("Switches to sampling, at the first seed whose sample adds at least one character."),
    )


@st.fragment
def timeline():
    steps = gen.steps
    n = len(steps)
    if D.current("gen.step") >= n:
        st.session_state["gen.step"] = n - 1
    i = (
        st.slider(
            _("Timeline: step"),
            0,
            n - 1,
            D.widget("gen.step"),
            key="gen.step",
            help=_("Scrub through the generation. Step i reads the text so far and picks the next token."),
        )
        if n > 1
        else 0
    )
    probs = chosen_token_probs([s.probs for s in steps], [s.token_id for s in steps])
    chart(F.generation_strip([s.token for s in steps], probs, current=i, tr=_), key="gen.strip")
    step = steps[i]
    fed = "".join(t if len(t) == 1 else "?" for t in step.cap.tgt_tokens[1:])  # vocabulary characters only
    st.markdown(
        _("**Step {i}** reads `<BOS>{fed}` and picks **{token}** (p = {p:.1%}).").format(
            i=i, fed=fed, token=escape_md(style.char_name(step.token, tr=_)), p=float(step.probs[step.token_id])
        )
    )
    a1, a2 = st.columns([1.25, 1], gap="medium")
    chart(F.last_row_heatmap(step.cap, tr=_), key="gen.lastrow", container=a1)
    a1.caption(
        _(
            "Each row is one head's attention from the newest position (the last character fed in, whose "
            "output predicts the next token) over the characters it can see."
        )
        + (
            " " + _("Decoder self-attention reads the target side, cross-attention the source side.")
            if step.cap.is_seq2seq
            else ""
        )
    )
    chart(
        F.next_token_bars(
            step.probs, b.vocab, top_k=10, expected=step.token, title=_("Step {i}: what comes next?").format(i=i), tr=_
        ),
        key="gen.bars",
        container=a2,
    )
    a2.caption(
        _("Orange: the token chosen at this step.")
        + ("" if greedy else " " + _("Sampling can pick a bar that is not the tallest."))
    )


timeline()
