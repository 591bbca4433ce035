"""What the Lesson page (and Explore's step-by-step view) share: cached computations, the predict-then-reveal
question, the step-by-step view, plain words with hover help, and the glossary. Keys are prefixed ``lesson.``
(or by the calling page's prefix)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from models.attention_steps import AttentionSteps, attention_steps, positions_counterfactual, sinusoidal_table
from models.checkpoint import CheckpointError, checkpoint_mtime
from models.vocab import DEFAULT_VOCAB
from ui.cache import available_models, load_model, one_torch_thread
from ui.charts import chart
from ui.i18n import _, current_language, render
from ui.text import escape_md, model_label
from viz import lesson as L

STEP_FRAGMENT = "lesson.step"  # the key of the step's fragment (:func:`step`), where a student's class poller sits

FONT_SIZE = 16  # one parameter for every Lesson figure's text (projector mode enlarges it in w.chart)


# ---- cached computations (by checkpoint mtime, like ui/cache.py) ---------------------------------------------------
@st.cache_data(max_entries=256, show_spinner=False)
def _cached_steps(
    name: str, mtime: float, text: str, pattern: str, head: int, query: int, add_eos: bool
) -> AttentionSteps:
    return attention_steps(load_model(name, mtime), text, pattern, head, query, add_eos=add_eos)


def get_steps(name: str, text: str, pattern: str, head: int, query: int, add_eos: bool = False) -> AttentionSteps:
    one_torch_thread()
    return _cached_steps(name, checkpoint_mtime(name), text, pattern, head, query, add_eos)


@st.cache_data(max_entries=128, show_spinner=False)
def _cached_positions(name: str, mtime: float, text: str, mode: str, seed: int):
    return positions_counterfactual(load_model(name, mtime), text, mode, seed=seed)


def get_positions(name: str, text: str, mode: str, seed: int = 0):
    one_torch_thread()
    return _cached_positions(name, checkpoint_mtime(name), text, mode, seed)


@st.cache_data(max_entries=8, show_spinner=False)
def _cached_pe(name: str, mtime: float, T: int):
    return sinusoidal_table(load_model(name, mtime), T)


def get_pe_table(name: str, T: int):
    return _cached_pe(name, checkpoint_mtime(name), T)


def model_ready(name: str) -> bool:
    """Whether checkpoint ``name`` is here and loads; otherwise a message saying this step is skipped."""
    if name in available_models():
        try:
            load_model(name, checkpoint_mtime(name))
            return True
        except CheckpointError as e:
            why = escape_md(render(e))  # it quotes a path
        else:
            why = ""
    else:
        why = _("its checkpoint file is missing")
    st.warning(
        _(
            "This step needs the {model} model, which can't be used here ({why}). Go on to the next step: "
            "the lesson continues without it. The Train page can restore the shipped models."
        ).format(model=model_label(name), why=why),
        icon=":material/report:",
    )
    return False


# ---- predict, then reveal --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Guess:
    """Where one question stands: the option picked (None before a pick), whether that guess is locked in (from then
    on the evidence may be shown: the step's live view, training's pictures) and whether the verdict is shown."""

    choice: object | None
    locked: bool
    revealed: bool


def lock(key: str) -> None:
    """Lock in the guess now on screen without revealing the verdict (the training step locks it when Train is
    pressed: the run itself shows the answer forming). A callback: ``on_click=lock, args=(key,)``."""
    st.session_state[f"{key}.locked"] = st.session_state.get(f"{key}.guess")


def new_question(key: str, about: object) -> None:
    """Forget question ``key``'s guess (picked, locked, revealed) when what it is asked about is no longer ``about``.
    Before its widget is drawn: the buttons then start with nothing picked."""
    seen = st.session_state.get(f"{key}.about")
    if seen is not None and seen != about:
        st.session_state[f"{key}.guess"] = None  # set, not deleted: the browser's buttons are told to unpick
        for state in (f"{key}.locked", f"{key}.revealed"):
            st.session_state.pop(state, None)
    st.session_state[f"{key}.about"] = about


def views_hidden_line() -> str:
    """The line that stands where a step's live view will be until a guess is locked in (the view shows the
    answer): drawn by the server (app_pages/0_lesson.py) and by the browser while the box holds another word than
    the question's (ui/live/live.js)."""
    from ui import class_session

    return (
        _("The live view of the model appears when the teacher reveals the answer.")
        if class_session.active()
        else _("The live view of the model appears once a guess is locked in (Reveal).")
    )


@st.fragment(key=STEP_FRAGMENT)
def step(n: int, run_step: Callable[[int, object], None]) -> None:
    """Lesson step ``n``, drawn by ``run_step(n, view)`` (``view``: where its live view goes), as a fragment: the
    student's pause in the step's word box (the browser path, ui/live_views.py), the step's own widgets and, in a
    class, answers opened or closed by the teacher (the student's poller is drawn here: ui/class_session.py
    ``step_poller``) rerun the step, not the page
    around it (title, navigation, sidebar, the class strip, the glossary)."""
    from ui import class_session, projector

    class_session.step_poller()  # a student's poller, here so that its trigger reruns this step only
    # On a projector the step's question and its view share one screen: the view beside the text, not below it.
    body, view = st.columns([1, 1.35], gap="large") if projector.on() else (st.container(), st.container())
    with body:
        run_step(n, view)


def predict_then_reveal(
    key: str,
    question: str,
    options: Sequence,
    answer: Callable[[], tuple[object, str]],
    *,
    format_func: Callable[[object], str] = str,
    ready: bool = True,
    not_ready: str = "",
    explain: Callable[[], None] | None = None,
    locked: bool | None = None,
    revealed: bool | None = None,
    about: object = None,
) -> Guess:
    """The one guess-lock-reveal widget: the class commits to a guess (one button per option), then the answer is
    computed live and the verdict says whether the guess was right. ``answer()`` returns (the right option, one
    sentence of explanation with the computed numbers); ``explain()``, when given, draws the evidence under it.

    Alone (``locked`` and ``revealed`` left None) *Reveal* locks the guess and reveals at once; :func:`lock` locks it
    without revealing; a guess changed afterwards unlocks and hides again, so no guess is made after seeing the
    answer. A class session drives it instead: pass ``locked`` (the guess can no longer change; no Reveal button) and
    ``revealed`` (the teacher showed the answer). Nothing is revealed that is not locked. Session keys:
    ``{key}.guess``, ``{key}.reveal``, ``{key}.locked``, ``{key}.revealed`` (the caller's key carries its page
    prefix). Returns the :class:`Guess`; a page shows its evidence only once ``locked``.

    ``about``: what the question is asked about (a step's word, and its query row where the question names one). A
    guess belongs to it: when it changes, the question is new — no option picked, nothing locked or revealed
    (``{key}.about`` keeps the one the guess was made for). Without it the options' indices would carry an old
    word's guess, locked and revealed, over to the new word's options and verdict."""
    from ui.text import escape_md

    driven = locked is not None or revealed is not None
    from ui import class_session

    if not driven and about is not None:
        new_question(key, about)
    if class_session.active():  # the teacher opens, closes and reveals (ui/class_session.py)
        choice = class_session.class_question(
            key, question, options, answer, format_func=format_func, ready=ready, not_ready=not_ready, explain=explain
        )
        shown = class_session.question_revealed(key)
        return Guess(choice, locked=shown, revealed=shown)
    st.markdown("**" + _("Predict first") + "** — " + question)
    options = list(options)
    # The widget's values are the options' indices: plain ints, whatever the options are. Buttons, not a radio: a
    # projected option is as large as any label (>= 20 px) and reads as plain text, never as code; pills wrap
    # onto a second line where a segmented control cut the last options off.
    labels = [escape_md(format_func(o)) for o in options]  # translated now, in this session's language
    picked = st.pills(
        question,
        range(len(options)),
        key=f"{key}.guess",
        disabled=bool(locked),
        format_func=labels.__getitem__,
        label_visibility="collapsed",
        wrap=True,
    )  # in a column they would otherwise scroll sideways, hiding options
    guess = None if picked is None else options[picked]
    if not driven:
        for state in (f"{key}.locked", f"{key}.revealed"):
            if st.session_state.get(state) is not None and st.session_state.get(state) != picked:
                del st.session_state[state]  # a new guess: the old answer is hidden again
        if st.button(
            _("Reveal"),
            key=f"{key}.reveal",
            icon=":material/visibility:",
            type="primary",
            disabled=guess is None or not ready,
            help=_("Choose a guess first") if guess is None else (None if ready else not_ready or None),
        ):
            st.session_state[f"{key}.locked"] = st.session_state[f"{key}.revealed"] = picked
        locked = picked is not None and st.session_state.get(f"{key}.locked") == picked
        revealed = picked is not None and st.session_state.get(f"{key}.revealed") == picked
    locked = bool(locked) and picked is not None
    revealed = bool(revealed) and locked and ready
    if not ready and not_ready:
        st.caption(not_ready)
    if not revealed:
        return Guess(guess, locked, False)
    right, why = answer()
    tail = (" " + why) if why else ""
    said = lambda o: escape_md(format_func(o))  # noqa: E731  (an option as text, as its button reads)
    if guess == right:
        st.success(_("Right: {answer}.").format(answer=said(right)) + tail, icon=":material/check_circle:")
    else:
        st.warning(
            _("Not this time: the answer is {answer} (you chose {guess}).").format(
                answer=said(right), guess=said(guess)
            )
            + tail,
            icon=":material/lightbulb:",
        )
    if explain is not None:
        explain()
    return Guess(guess, locked, True)


# ---- Attention, step by step ---------------------------------------------------------------------------------------
def steps_caption() -> str:
    """The sentence over the step-by-step numbers ({q}, {tok}, {head}, {dk}, {sq:.2f} filled in by the caller)."""
    return _(
        "Query {q}: {tok} · head {head} · d_k = {dk} (the size of each q, k and v vector), so "
        "√d_k = {sq:.2f}. A hidden key gets score −∞, so softmax gives it exactly 0."
    )


def steps_check() -> str:
    """The sentence under them ({gap:.1e}: how far softmax's row is from the model's own pattern row)."""
    return _("Check: this softmax row and the attention the model itself computed differ by at most {gap:.1e}.")


def steps_formula() -> None:
    st.latex(r"\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\!\left(\frac{QK^{\top}}{\sqrt{d_k}}\right)V")


def steps_browser_check() -> str:
    """The browser's check ({gap:.1e}): its softmax row, worked out in the page step by step, against the row PyTorch
    computed on the server for the same word and row — two separate computations, so the check can fail. (The
    page's own forward pass would agree to exactly 0: the same JavaScript, the same order of float64 sums.)"""
    return _(
        "Check: these weights, worked out in your browser, and the attention PyTorch computed on the server for "
        "the same word differ by at most {gap:.1e} (two separate computations; rounding makes the tiny gap)."
    )


def steps_browser_labels() -> dict:
    """Every word of the step-by-step view drawn in the browser (ui/live/steps.js), translated now."""
    return {**L.words(L.STEPS_WORDS, _), "caption": steps_caption(), "check": steps_browser_check()}


def attention_steps_view(s: AttentionSteps, *, key: str, font_size: int = FONT_SIZE, formula: bool = True) -> None:
    """The real numbers of one query row of one head: q·k, ÷√d_k, the mask, softmax, the weighted sum of V
    (``formula``: the formula above them)."""
    if formula:
        steps_formula()
    st.caption(steps_caption().format(q=s.query, tok="`" + s.query_token + "`", head=s.head, dk=s.d_k, sq=s.d_k**0.5))
    left, right = st.columns([1.1, 1], gap="medium")
    left.markdown("**" + L.words(L.STEPS_WORDS["table"], _)["title"] + "**")
    left.dataframe(L.steps_rows(s, _), hide_index=True, width="stretch")  # cells are text, never markup
    chart(L.steps_weights_bars(s, tr=_, font_size=font_size), key=f"{key}.bars", container=right)
    chart(L.value_mix(s, tr=_, font_size=font_size), key=f"{key}.mix")
    gap = float((s.weights - s.pattern_row).abs().max())
    st.caption(steps_check().format(gap=gap))


# ---- plain words ---------------------------------------------------------------------------------------------------
def glossary_entries() -> dict[str, tuple[str, str, str]]:
    """{id: (plain name, the term, a one-line explanation)}, translated now."""
    return _glossary_entries(current_language())


@functools.lru_cache(maxsize=8)
def _glossary_entries(language: str) -> dict[str, tuple[str, str, str]]:
    """Built once per language: a step's terms looked it up whole each time (~48 translations, 3 ms a term)."""
    n_next = len(DEFAULT_VOCAB) - 3  # a–z and <EOS>: <PAD>, <BOS>, <UNK> are never targets (as on the Leak page)
    return {
        "nll": (
            _("surprise per character"),
            _("NLL, in nats"),
            _(
                "How surprised the model is by each real next character, on average: −log of the probability it gave. "
                "Lower is better; guessing evenly among the {n} possible next characters scores {u:.2f}."
            ).format(n=n_next, u=math.log(n_next)),
        ),
        "kl": (
            _("difference between two predictions"),
            _("KL divergence"),
            _("How far one next-character prediction is from another; 0 when they are the same."),
        ),
        "teacher_forced": (
            _("reading the answer sheet"),
            _("teacher-forced"),
            _("Scoring every position at once with the whole true word as input; fair only if the model can't peek."),
        ),
        "prefix_only": (
            _("honest score"),
            _("prefix-only"),
            _("Each character predicted from the characters before it only — the way the model is used."),
        ),
        "causal_mask": (
            _("no looking ahead"),
            _("causal mask"),
            _("Hides later positions from each query, so a prediction only uses what came before."),
        ),
        "qkv": (
            _("the question, the label, the content"),
            _("query, key, value"),
            _(
                "Each character asks a question (query), offers a label (key) and carries content (value); query·key "
                "decides how much of each value is taken."
            ),
        ),
        "head": (
            _("one way of looking"),
            _("head"),
            _("One attention pattern; several heads look at the same characters in different ways at once."),
        ),
        "layer": (
            _("one floor of the model"),
            _("layer"),
            _("Attention plus a small feed-forward network; layers are stacked, each reading the one below."),
        ),
        "entropy": (
            _("how spread out"),
            _("entropy (0–1)"),
            _("0: a query looks at one character only; 1: it spreads its attention evenly over all it can see."),
        ),
        "cross": (
            _("looking at the input"),
            _("cross-attention"),
            _("In the encoder–decoder, the decoder's queries read the encoder's keys and values."),
        ),
        "specials": (
            _("word start, word end, unknown"),
            "<BOS>, <EOS>, <UNK>",
            _("Special tokens: the start of a word, the end of a word, and any character outside a–z."),
        ),
        "temperature": (
            _("boldness"),
            _("temperature"),
            _("Below 1 makes the model pick its favourite more often; above 1 makes it take more chances."),
        ),
        "top_k": (_("shortlist"), _("top-k"), _("Only the k most likely next characters are kept before choosing.")),
        "positions": (
            _("where am I"),
            _("positional encoding"),
            _("Sine and cosine waves added to each character so attention can tell first from last."),
        ),
        "next_char": (
            _("guess the next letter"),
            _("next-character prediction"),
            _("The model's only job: a probability for each character that could come next."),
        ),
    }


def term(term_id: str) -> None:
    """One glossary term: its plain name first, the technical term second, the one-line explanation on hover."""
    plain, technical, explanation = glossary_entries()[term_id]
    st.markdown(f"**{plain}** ({technical.replace('<', chr(92) + '<')})", help=explanation)  # \< : text, not a tag


def glossary() -> None:
    """The glossary, plain name first: a static table whose cells wrap, so every explanation reads in full on the
    page (a data grid cut them off and scrolled inside a small box); its cells are text, never markup."""
    rows = [{_("In plain words"): p, _("Term"): t, _("What it means"): e} for p, t, e in glossary_entries().values()]
    st.table(rows, hide_index=True, border="horizontal")
