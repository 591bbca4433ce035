"""Lesson: eight steps in the lecture's order, each with a few plain sentences, one live view of the real models and a
predict-then-reveal question whose answer is computed from the models. Steps are addressable: ?step=3."""

import time

import streamlit as st

from models.capture import quoted
from models.train import recipe_for
from models.vocab import DEFAULT_VOCAB, romanize
from services import job_names, job_snapshots
from ui import class_session, live_views, projector
from ui import lesson as LS
from ui import training_panel as TP
from ui.cache import bundle, get_capture
from ui.cards import heldout_eval
from ui.charts import chart
from ui.controls import LIVE
from ui.i18n import _, option_labels
from ui.text import escape_md, input_notes
from viz import figures as F
from viz import lesson as L
from viz import style
from viz.metrics import leak_summary, next_token_probs

FS = LS.FONT_SIZE
WATCH_S = 30.0  # the "watch" pace spreads a training run over about this long
LESSON_MODEL = "lesson-miniformer"


def tok(t: str) -> str:
    """A token as code, so `<BOS>` shows as text in markdown (radio options, messages)."""
    return "`" + t.replace("`", "'") + "`"


def char_name(t: str) -> str:
    return _("end of word") if t == "<EOS>" else tok(t)


def plain(t: str) -> str:
    """A token as an answer button reads it: plain text in quotes (the buttons escape it), never code."""
    return _("“{token}”").format(token=t)


def char_option(t: str) -> str:
    return _("end of word") if t == "<EOS>" else plain(t)


def key_option(tokens, i: int) -> str:
    """Key position ``i`` as an answer button: its position and its character, plain."""
    return f"{i}: {plain(tokens[i])}"


def heat_height(n_rows: int) -> int:
    """A heatmap tall enough to read from the back of a room: rows of about two lines of text each."""
    return 140 + int(FS * 2.2) * n_rows


def word_box(n: int, suggestion: str, *, browser: bool = False) -> str:
    """This step's word, with the suggested one filled in; an empty box falls back to the suggestion. ``browser``:
    the step draws its views with live_views.lesson_views, so in the browser path (ui/live_views.py) the box is the
    live component's: the views follow each key in the page, the question follows the word when the student
    pauses."""
    key = f"lesson.word.{n}"
    st.session_state.setdefault(key, suggestion)
    label = _("Word")
    help_ = _(
        "Lowercase a–z: the models know only these 26 letters (type names in English, or Japanese, which is "
        "written in romaji: ねこ → neko). Other characters show as <UNK>."
    )
    if class_session.is_student() or class_session.word_fixed(f"lesson.{n}"):
        # The class answers one question: its word is the teacher's (ui/class_session), the same on every screen, and
        # guesses are kept as the options' positions, so a student's own word would make another question. The
        # teacher's is fixed while the class guesses; after the reveal a new word asks the class a new question.
        text = st.text_input(
            label,
            key=key,
            disabled=True,
            max_chars=live_views.MAX_WORD,
            help=_("In a class, the teacher chooses the word: every screen asks the same question.")
            if class_session.is_student()
            else _("The class is guessing about this word. Reveal the answer; then a new word asks a new question."),
        )
        return text if text.strip() else suggestion
    text = live_views.lesson_word_box(n, suggestion, label=label, help=help_) if browser else None
    if text is None:
        text = st.text_input(label, key=key, live=LIVE, max_chars=live_views.MAX_WORD, help=help_)
    if not text.strip():
        st.info(_("The box is empty, so this step uses the suggested word “{word}”.").format(word=suggestion))
        return suggestion
    return text


def word_and_capture(n: int, suggestion: str, model: str, *, add_eos: bool = False, browser: bool = False):
    """This step's word (see :func:`word_box`) and the model's capture of it, with what happened to the text."""
    word = word_box(n, suggestion, browser=browser)
    cap = get_capture(model, word, add_eos=add_eos)
    if cap.unknown:  # a question about <UNK> would ask about nothing: say so plainly, ask about the suggestion
        st.info(
            _(
                "The models know only the letters a–z, and {chars} can't be written in them, so this step uses the "
                "suggested word “{word}”."
            ).format(chars=escape_md(quoted(cap.unknown)), word=suggestion)
        )
        word, cap = suggestion, get_capture(model, suggestion, add_eos=add_eos)
    else:
        word = romanize(word).text  # what the model reads (ねこ → neko); the note below says so
    input_notes(cap)
    return word, cap


def formula(*parts: str) -> None:
    """A step's formula: its parts on one line, or on a projector one part a line (the text column is half the
    screen there, and one line of large type ran out of it, clipped)."""
    st.latex(
        r"\begin{gathered}" + r" \\ ".join(parts) + r"\end{gathered}" if projector.on() else r"\qquad ".join(parts)
    )


def live_view(guess: LS.Guess, view):
    """Where to draw the step's live view (``view``: beside the question on a projector, under it otherwise), or None
    while the guess is not locked in: the view shows the answer, so one line says it comes after the guess. No
    peeking, alone or in a class."""
    if not guess.locked:
        view.caption(LS.views_hidden_line())
        return None
    return view


# ---- the steps -------------------------------------------------------------------------------------------------------
def step_next_char(n: int, view) -> None:
    st.markdown(
        _(
            "A language model reads a word one character at a time and, after each one, gives every possible "
            "next character a probability. Our models learned this from about 1000 animal, fruit and vegetable "
            "names. The longest bar is the model's best guess."
        )
    )
    LS.term("next_char")
    if not LS.model_ready("miniformer"):
        return
    word, cap = word_and_capture(n, "capyba", "miniformer", browser=True)
    probs = next_token_probs(cap.next_token_logits())
    options, top = L.top_choices(probs, cap.vocab)
    g = LS.predict_then_reveal(
        f"lesson.{n}",
        _("Which character will MiniFormer rank first after “{word}”?").format(word=escape_md(word)),
        options,
        lambda: (
            top,
            _("The model gives it {p:.0%}; the bars show the rest.").format(p=float(probs[cap.vocab.index(top)])),
        ),
        format_func=option_labels(options, char_option),
        about=word,
    )
    if (box := live_view(g, view)) is not None:
        with box:
            if not live_views.lesson_views(
                n, "miniformer", ["bars"], "capyba", titles={"bars_title": _("What comes next?")}
            ):
                chart(
                    F.next_token_bars(probs, bundle("miniformer").vocab, top_k=8, title=_("What comes next?"), tr=_),
                    key=f"lesson.{n}.bars",
                )


def step_qkv(n: int, view) -> None:
    st.markdown(
        _(
            "Each character makes three vectors from its embedding: a **query** (the question it asks), a "
            "**key** (the label it offers) and a **value** (the content it carries). A query is compared with "
            "every key (a dot product), the scores are divided by √d_k so softmax does not saturate, softmax "
            "turns them into weights that sum to 1, and the output is the weighted sum of the values."
        )
    )
    formula(
        r"Q = XW_Q,\quad K = XW_K,\quad V = XW_V,",
        r"\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\!\left(\frac{QK^{\top}}{\sqrt{d_k}}\right)V",
    )
    LS.term("qkv")
    if not LS.model_ready("miniformer"):
        return
    word, cap = word_and_capture(n, "banana", "miniformer", browser=True)
    T = len(cap.tgt_tokens)
    in_class = class_session.active()
    if st.session_state.get(f"lesson.{n}.query", 0) >= T or (in_class and f"lesson.{n}.query" in st.session_state):
        del st.session_state[f"lesson.{n}.query"]  # a shorter word (or a class): back to its middle row
    # A row in the middle by default: it has keys on both sides, so the hidden ones (weight exactly 0) show too. In a
    # class every screen asks about that row (the class's answers are positions among the same options).
    rows = [key_option(cap.tgt_tokens, i) for i in range(T)]
    q = st.select_slider(
        _("Query position (the character that looks)"),
        range(T),
        value=L.middle_query(T),
        key=f"lesson.{n}.query",
        format_func=rows.__getitem__,
        disabled=in_class,
        help=_("In a class, every screen asks about the same row.") if in_class else None,
    )
    s = LS.get_steps("miniformer", word, "blocks.0.attn.hook_pattern", 0, q)
    keys = list(range(len(s.key_tokens)))
    g = LS.predict_then_reveal(
        f"lesson.{n}",
        _("Which character will position {q}, {tok}, look at most (the biggest softmax weight)?").format(
            q=q, tok=tok(s.query_token)
        ),
        keys,
        lambda: (
            L.most_attended_key(s),
            _("Its weight is {w:.2f}, computed from this forward pass below.").format(
                w=float(s.weights[L.most_attended_key(s)])
            ),
        ),
        format_func=lambda i: key_option(s.key_tokens, i),
        about=(word, q),  # a guess about another row is another question
    )
    if (box := live_view(g, view)) is not None:
        with box:
            LS.steps_formula()
            if not live_views.lesson_views(
                n,
                "miniformer",
                ["steps"],
                "banana",
                pattern="blocks.0.attn.hook_pattern",
                query=q,
                titles={"steps": LS.steps_browser_labels()},
                check_row=s.pattern_row.tolist(),  # PyTorch's row: the browser's numbers are checked against it
            ):
                LS.attention_steps_view(s, key=f"lesson.{n}.steps", formula=False)


def step_mask(n: int, view) -> None:
    st.markdown(
        _(
            "When the model writes a word, the later characters do not exist yet, so while it learns it must "
            "not look at them either. The **causal mask** hides every key after the query: in the heatmap each "
            "row is a character looking, each column a character looked at, and the grey upper triangle is "
            "what is hidden."
        )
    )
    LS.term("causal_mask")
    if not LS.model_ready("miniformer"):
        return
    word, cap = word_and_capture(n, "capybara", "miniformer", browser=True)
    name = "blocks.0.attn.hook_pattern"
    q = min(2, len(cap.tgt_tokens) - 1)
    after = L.weight_after_query(cap, name, 0, q)
    opts = {"zero": _("exactly 0"), "little": _("a little (under 10%)"), "lot": _("a lot (10% or more)")}
    right = "zero" if after == 0 else "little" if after < 0.1 else "lot"
    g = LS.predict_then_reveal(
        f"lesson.{n}",
        _("How much attention, in total, does position {q} ({t}) give to the characters after it?").format(
            q=q, t=tok(cap.tgt_tokens[q])
        ),
        list(opts),
        lambda: (
            right,
            _("Computed from the model: {v:.6f}. Softmax gives a hidden key (score −∞) exactly 0.").format(v=after),
        ),
        format_func=opts.get,
        about=word,
    )
    if (box := live_view(g, view)) is not None:
        with box:
            if not live_views.lesson_views(
                n,
                "miniformer",
                ["heat"],
                "capybara",
                pattern=name,
                query=2,
                titles={"heat_title": _("MiniFormer's attention")},
            ):
                chart(
                    F.attention_heatmap(
                        cap,
                        name,
                        0,
                        query=q,
                        title=_("MiniFormer's attention"),
                        height=heat_height(len(cap.tgt_tokens)),
                        tr=_,
                    ),
                    key=f"lesson.{n}.heat",
                )


def why_masked_encoder() -> str:
    return _(
        "Grey triangles in the encoder too: its source is the word itself, so reading ahead would be reading "
        "the answer. The original Transformer reads a whole sentence to translate, so its encoder needs no "
        "mask (step 6)."
    )


def step_heads(n: int, view) -> None:
    st.markdown(
        _(
            "One head learns one kind of relation. The FullTransformer's encoder has four heads per layer that "
            "look at the same characters in different ways at once; their outputs are joined and mixed. "
            "**Entropy** says how spread out a head is: 0 = each character looks at one other, 1 = it looks at "
            "everything evenly."
        )
    )
    LS.term("head")
    LS.term("entropy")
    st.caption(why_masked_encoder())
    if not LS.model_ready("full_transformer"):
        return
    word, cap = word_and_capture(n, "capybara", "full_transformer", browser=True)
    best, ent = L.most_focused_head(cap, "encoder", 0)
    g = LS.predict_then_reveal(
        f"lesson.{n}",
        _("Which head of encoder layer 0 is the most focused (the lowest entropy)?"),
        list(range(len(ent))),
        lambda: (
            best,
            _("Mean entropy per head: {values}.").format(
                values=", ".join(f"{h}: {v:.2f}" for h, v in enumerate(ent.tolist()))
            ),
        ),
        format_func=option_labels(range(len(ent)), lambda h: _("head {h}").format(h=h)),
        about=word,
    )
    if (box := live_view(g, view)) is not None:
        with box:
            if live_views.lesson_views(
                n,
                "full_transformer",
                ["entropy", "grid"],
                "capybara",
                grid=["encoder.0.attn.hook_pattern"],
                titles={"headgrid_title": _("Encoder layer 0, every head")},
            ):
                return
            # Two views side by side on a laptop; one at a time on a projector, where side by side they were cramped
            a, b = (
                st.tabs([_("Entropy per head"), _("Encoder layer 0, every head")])
                if projector.on()
                else st.columns([1, 1.3], gap="medium")
            )
            chart(F.entropy_heatmap(cap, tr=_), key=f"lesson.{n}.ent", container=a)
            chart(
                F.head_grid(cap, "encoder.0.attn.hook_pattern", title=_("Encoder layer 0, every head"), tr=_),
                key=f"lesson.{n}.grid",
                container=b,
            )


def step_positions(n: int, view) -> None:
    st.markdown(
        _(
            "Attention by itself does not know the order of the characters: it compares vectors, wherever they "
            "are. So each position adds its own pattern of sine and cosine waves to the character's vector. "
            "Below: the model's own table, and what it predicts when we remove or shuffle the positions."
        )
    )
    formula(
        r"PE_{(pos,\,2i)} = \sin\!\left(\frac{pos}{10000^{2i/d}}\right),",
        r"PE_{(pos,\,2i+1)} = \cos\!\left(\frac{pos}{10000^{2i/d}}\right)",
    )
    LS.term("positions")
    if not LS.model_ready("miniformer"):
        return
    word, cap = word_and_capture(n, "capyba", "miniformer", browser=True)
    variants = {m: LS.get_positions("miniformer", word, m) for m in ("normal", "none", "shuffled")}
    top = L.top_guesses(variants, cap.vocab)  # {mode: (character, probability)}
    opts = {"same": _("it stays the same"), "changes": _("it changes")}
    g = LS.predict_then_reveal(
        f"lesson.{n}",
        _(
            "Remove the positions (set the positional encoding to 0): will MiniFormer's top guess after "
            "“{word}” stay the same?"
        ).format(word=escape_md(word)),
        list(opts),
        lambda: (
            "same" if top["none"][0] == top["normal"][0] else "changes",
            _("With positions: {a} ({pa:.0%}). Without: {b} ({pb:.0%}). Shuffled: {c} ({pc:.0%}).").format(
                a=char_name(top["normal"][0]),
                pa=top["normal"][1],
                b=char_name(top["none"][0]),
                pb=top["none"][1],
                c=char_name(top["shuffled"][0]),
                pc=top["shuffled"][1],
            ),
        ),
        format_func=opts.get,
        about=word,
    )
    labels = {  # the charts' own words (viz/lesson.py, for the browser's drawing of them), the caption, the legend
        **L.words(L.POSITIONS_WORDS, _),
        "pe_caption": _("One row per position, one column per dimension. This word uses rows 0 to {last}."),
        "names": {"normal": _("with positions"), "none": _("positions removed"), "shuffled": _("positions shuffled")},
    }
    if (box := live_view(g, view)) is not None:
        with box:
            if live_views.lesson_views(n, "miniformer", ["pe", "positions"], "capyba", titles={"positions": labels}):
                return
            T = len(cap.tgt_tokens)
            rows = max(T, 20)  # enough rows for the waves to show, even for a short word
            a, b = st.columns([1, 1], gap="medium")
            chart(
                L.pe_table(LS.get_pe_table("miniformer", rows), tr=_, font_size=FS),
                key=f"lesson.{n}.pe",
                container=a,
            )
            a.caption(labels["pe_caption"].format(last=T - 1))
            chart(
                L.next_char_variants(
                    {labels["names"][m]: p for m, p in variants.items()},
                    bundle("miniformer").vocab,
                    word=word,
                    tr=_,
                    font_size=FS,
                ),
                key=f"lesson.{n}.cf",
                container=b,
            )


def step_encdec(n: int, view) -> None:
    st.markdown(
        _(
            "The original Transformer has two halves. The **encoder** reads the whole input and builds a "
            "representation of each character; the **decoder** writes the output one character at a time with "
            "masked self-attention, and consults the encoder through **cross-attention**: its queries read "
            "the encoder's keys and values. Every sub-layer is wrapped in a residual connection and layer "
            "normalisation. Our FullTransformer reads the word as input and predicts it again, one step "
            "ahead."
        )
    )
    st.markdown(
        _(
            "But our FullTransformer's input *is* the word it predicts: an encoder reading all of it would hand "
            "the decoder the next character, the answer (step 7). So the leak-free one masks its **encoder** "
            "and **cross-attention** too: position t reads input up to t (the grey triangles). The original "
            "Transformer needs no such mask: its input, a sentence to translate, is not the answer."
        )
    )
    LS.term("cross")
    if not LS.model_ready("full_transformer"):
        return
    word, cap = word_and_capture(n, "capybara", "full_transformer", browser=True)
    cross = cap.names("cross")[-1]
    src = cap.axes(cross)[1]
    best, row = L.most_read_source(cap, cross)
    g = LS.predict_then_reveal(
        f"lesson.{n}",
        _(
            "In the last cross-attention layer, which source character does the decoder's newest position "
            "({t}) read most, all heads averaged?"
        ).format(t=tok(cap.tgt_tokens[-1])),
        list(range(len(src))),
        lambda: (
            best,
            _(
                "It puts {w:.0%} of its attention there. The leak-free model may only read source "
                "characters up to its own position."
            ).format(w=float(row[best])),
        ),
        format_func=lambda i: key_option(src, i),
        about=word,
    )
    if (box := live_view(g, view)) is not None:
        with box:
            title = _("Cross-attention, last layer: decoder rows read encoder columns")
            if not live_views.lesson_views(
                n, "full_transformer", ["grid"], "capybara", grid=[cross], titles={"headgrid_title": title}
            ):
                chart(F.head_grid(cap, cross, cols=2, title=title, tr=_), key=f"lesson.{n}.grid")


def step_leak(n: int, view) -> None:
    st.markdown(
        _(
            "Our first encoder–decoder scored an almost perfect loss — by cheating. Its source is the word "
            "itself and its encoder and cross-attention were not masked, so at position t it could read the "
            "character at t+1: the answer. Scored on the whole true word at once (teacher-forced) it looks "
            "brilliant; asked honestly, one character at a time from the characters before (prefix-only), "
            "it is not."
        )
    )
    LS.term("teacher_forced")
    LS.term("prefix_only")
    if not LS.model_ready("full_transformer_peeking"):
        return
    word, cap = word_and_capture(n, "flycatcher", "full_transformer_peeking", add_eos=True, browser=True)
    layer = leak_summary(cap)["layer"]
    where, weights = L.where_cross_looks(cap, layer)
    opts = {
        "self": _("at t, its own position"),
        "next": _("at t+1, the next character (the answer)"),
        "elsewhere": _("somewhere else"),
    }
    g = LS.predict_then_reveal(
        f"lesson.{n}",
        _("In the peeking model's cross-attention, where does decoder position t look most?"),
        list(opts),
        lambda: (
            where,
            _("All heads of {layer} averaged: {s:.0%} on t, {x:.0%} on t+1, {e:.0%} elsewhere.").format(
                layer=style.pattern_title(layer, tr=_), s=weights["self"], x=weights["next"], e=weights["elsewhere"]
            ),
        ),
        format_func=opts.get,
        about=word,
    )
    if (box := live_view(g, view)) is not None:
        with box:
            if not live_views.lesson_views(
                n, "full_transformer_peeking", ["heat"], "flycatcher", pattern=layer, add_eos=True, leak=True
            ):
                Q, K = map(len, cap.axes(layer))  # query rows, key columns
                chart(
                    F.with_next_key_outline(
                        F.attention_heatmap(cap, layer, L.leakiest_head(cap, layer), height=heat_height(Q), tr=_), Q, K
                    ),
                    key=f"lesson.{n}.heat",
                )
            st.caption(_("Outlined: the cell (t, t+1), where the answer sits."))
            scores = heldout_eval("full_transformer_peeking")
            if scores is not None:
                st.markdown(
                    _(
                        "On the test words: teacher-forced surprise {tf:.2f} nats per character, honest "
                        "(prefix-only) {pre:.2f} — the first number is the leak."
                    ).format(tf=scores["teacher_forced_nll"], pre=scores["prefix_nll"])
                )
            st.page_link("app_pages/3_leak.py", label=_("The whole story: Leak lesson"), icon=":material/science:")


def lesson_look() -> TP.Look:
    return TP.Look(
        key="lesson.train",
        detailed=False,
        height=280,
        clock="lesson.train.t0",
        retry_key="lesson.train.retry",
        again=_("Train again"),
        retry=_("Try again"),
        not_saved=lambda p, why: _("**The model was not saved.** {why}").format(why=why),
        saved=lambda p: _(
            "Trained in {s:.0f} s: kept epoch {e}. Saved as {name}; every page's model picker has it."
        ).format(s=p.elapsed, e=p.kept_epoch, name=p.name),
    )


def step_train(n: int, view) -> None:
    st.markdown(
        _(
            "Training: the model sees the words of the word list and, after each character, is told the true "
            "next one. Its weights are nudged so that character gets a higher probability (the loss is the "
            "surprise, cross-entropy). Guess first, then press **Train** and watch the attention on a word take "
            "shape, epoch by epoch. The *watch* pace spreads the run over about half a minute."
        )
    )
    LS.term("nll")
    sid = TP.session_id()
    # The lesson's own run is the job it started (its name may carry a suffix: another session made
    # lesson-miniformer first, and only that session may replace it); any other job is a run from the Train page.
    job, other = TP.mine_and_other(sid, st.session_state.get("lesson.train.job"))
    if other is not None and other.active:
        st.info(
            _(
                "This browser session is training {name} on the Train page; the lesson's run can start when it ends."
            ).format(name=escape_md(other.spec.name))
        )
    done = job.poll() if job is not None and not job.active else None
    trained = done is not None and done.status != "failed" and len(done.snapshots) >= 1
    opts = {"yes": _("yes, more focused"), "no": _("no")}

    def answer():
        first = L.snapshot_focus(job_snapshots.snapshot_capture(done.snapshots[0]))
        kept = L.snapshot_focus(TP.kept_capture(done))
        return (
            "yes" if kept < first else "no",
            _("Mean entropy before training (epoch {e0}): {a:.2f}; in the model kept (epoch {e1}): {b:.2f}.").format(
                e0=done.snapshots[0]["epoch"], a=first, e1=done.kept_epoch, b=kept
            ),
        )

    # The question comes first: Train locks the guess in, so the run (which shows the answer forming) is watched
    # with a guess on the table; Reveal gives the verdict once the run is saved.
    key = f"lesson.{n}"
    g = LS.predict_then_reveal(
        key,
        _("After training, will the attention be more focused (lower entropy) than at epoch 0, before any training?"),
        list(opts),
        answer,
        format_func=opts.get,
        ready=trained,
        not_ready=_("Guess, then train: the answer comes from the run's recorded attention."),
    )
    # The word, the pace and Train in one row: under the question, or on a projector at the top of the view's column,
    # where the run then draws, so all of it stays on the first screen (below the text it fell off the screen).
    c0, c1, c2 = (view if projector.on() else st).columns([1.1, 1.5, 1.1], vertical_alignment="bottom")
    with c0:
        probe = (romanize(word_box(n, "capybara")).text.strip().lower() or "capybara")[:46]
    if job is None and (problem := job_names.folder_problem()):  # said before anyone guesses and presses Train
        TP.folder_error(problem)
    elif job is None and not (other is not None and other.active):
        pace = c1.radio(
            _("Pace"),
            ["watch", "fast"],
            horizontal=True,
            key="lesson.pace",
            format_func={"watch": _("watch (about 30 s)"), "fast": _("full speed (a few seconds)")}.get,
        )
        if c2.button(
            _("Train a MiniFormer"),
            type="primary",
            key="lesson.train",
            icon=":material/play_arrow:",
            disabled=g.choice is None,
            help=_("Choose a guess first") if g.choice is None else None,
            on_click=LS.lock,
            args=(key,),
        ):
            recipe = recipe_for("fast", "miniformer")
            if DEFAULT_VOCAB.unknown_chars(probe):
                st.error(_("The word must be letters a–z to be recorded during training."))
            elif (
                started := TP.start(
                    sid,
                    "miniformer",
                    recipe,
                    name=LESSON_MODEL,
                    replace=True,
                    probe_word=probe,
                    pace_s=WATCH_S / recipe.epochs if pace == "watch" else 0.0,
                )
            ) is not None:
                st.session_state["lesson.train.job"] = started.id
                st.session_state["lesson.train.t0"] = time.time()  # the clock the class watches
                st.rerun()
    with view:  # the run beside the question on a projector
        if job is not None and job.active:
            TP.live_panel(sid, lesson_look(), g.locked)
        if done is not None:
            TP.result_panel(sid, done, lesson_look(), g.locked)


STEPS = (
    (lambda: _("Guess the next letter"), step_next_char),
    (lambda: _("Query, key, value and the formula"), step_qkv),
    (lambda: _("No looking ahead: the causal mask"), step_mask),
    (lambda: _("Several heads, and how spread out they are"), step_heads),
    (lambda: _("Where am I? Positional encoding"), step_positions),
    (lambda: _("Encoder, decoder and cross-attention"), step_encdec),
    (lambda: _("The leak: a model that read the answer"), step_leak),
    (lambda: _("Train a model and watch attention form"), step_train),
)


def current_step() -> int:
    """The step in the URL (?step=N, 1-based); a bad value says so and shows step 1."""
    raw = st.query_params.get("step", "1")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not 1 <= n <= len(STEPS):
        st.info(
            _("There is no step “{raw}”: the lesson has steps 1 to {n}. Showing step 1.").format(
                raw=escape_md(raw[:20]), n=len(STEPS)
            )
        )
        n = 1
    return n


def go_to(n: int) -> None:
    st.query_params["step"] = str(n)


def nav(n: int, where: str) -> None:
    back, mid, nxt = st.columns([1, 4, 1], vertical_alignment="center")
    back.button(
        _("Back"),
        key=f"lesson.back.{where}",
        icon=":material/arrow_back:",
        disabled=n == 1,
        on_click=go_to,
        args=(n - 1,),
        width="stretch",
    )
    mid.progress(n / len(STEPS), text=_("Step {n} of {total}").format(n=n, total=len(STEPS)))
    nxt.button(
        _("Next"),
        key=f"lesson.next.{where}",
        icon=":material/arrow_forward:",
        disabled=n == len(STEPS),
        on_click=go_to,
        args=(n + 1,),
        width="stretch",
        type="primary",
    )


def more(label: str, icon: str, name: str):
    """An expander under the step, or None where its content need not be built now. A student in a class reruns
    this page on every move of the teacher, the whole class at once: there it is built only while open (the
    glossary's table was a third of such a rerun, bench/RESULTS.md "class session"); opening it reruns the page."""
    if class_session.is_student():
        box = st.expander(label, icon=icon, key=f"lesson.more.{name}", on_change="rerun")
        return box if box.open else None
    return st.expander(label, icon=icon)


if not projector.on():  # on a projector the step's own heading says enough
    st.title(_("Lesson: how a Transformer pays attention"))
n = current_step()
nav(n, "top")
title, run_step = STEPS[n - 1]
st.header(_("Step {n}. {title}").format(n=n, title=title()), anchor=False)
LS.step(n, run_step)  # a fragment: a pause in the step's word box reruns the step, not the page
st.divider()
if not class_session.is_student():  # a student in a class follows the teacher: the top row is enough
    nav(n, "bottom")
if (box := more(_("All steps"), ":material/list:", "steps")) is not None:
    with box:
        for i, (t, _run) in enumerate(STEPS, start=1):
            st.page_link(
                "app_pages/0_lesson.py",
                label=_("Step {n}. {title}").format(n=i, title=t()),
                query_params={"step": str(i)},
            )
if (box := more(_("Glossary: the words in plain language"), ":material/menu_book:", "glossary")) is not None:
    with box:
        LS.glossary()
