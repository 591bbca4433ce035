"""The teacher's presenter view (issue 22, item 5): the guide's 45-minute plan as data — where each part happens, its
minute in the plan and what to say (the "Say" notes of docs/teaching.md, in the catalog, so they come in the
teacher's language) — and :func:`presenter` which draws, for the class's current place: the notes, a timer against
the plan, who joined, who answered the current question, and per question the joined → answered → right funnel.
Only the teacher's page (app_pages/8_teach.py) calls it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import MappingProxyType

import streamlit as st

from models.messages import N_
from services.class_store import ClassError, ClassInfo, StoreUnavailable, shared_store

PLAN_MINUTES = 45


@dataclass(frozen=True)
class PlanPart:
    """One row of the guide's plan: the app page (url path) and Lesson step where it happens, its start minute and
    length, a title and what to say (catalog ids)."""

    page: str
    step: int
    start: int
    minutes: int
    title: str
    say: str


PLAN: tuple[PlanPart, ...] = (
    PlanPart(
        "teach",
        0,
        0,
        3,
        N_("Start the class"),
        N_(
            '"Scan the QR code, or open the join address and type the code. A nickname is optional: any name '
            'will do. Your screen follows mine from now on."'
        ),
    ),
    PlanPart(
        "lesson",
        1,
        3,
        5,
        N_("Step 1. Guess the next letter"),
        N_(
            '"A language model does one thing: it reads text one character at a time and gives every possible '
            "next character a probability. Ours learned from about a thousand animal, fruit and vegetable "
            'names. The longest bar is its best guess."'
        ),
    ),
    PlanPart(
        "lesson",
        2,
        8,
        6,
        N_("Step 2. Query, key, value and the formula"),
        N_(
            '"Each character makes three vectors: a query (the question it asks), a key (the label it offers) '
            "and a value (the content it carries). The query is compared with every key, the scores are divided "
            "by √d_k so that softmax does not saturate, softmax turns them into weights that add up to 1, and "
            'the output is the weighted sum of the values."'
        ),
    ),
    PlanPart(
        "real_model",
        0,
        14,
        5,
        N_('Real model: does "it" look at "animal"?'),
        N_(
            "\"The model reads left to right. At 'it' it has read only 'The animal didn't cross the street "
            "because it'. The word that tells us who is tired comes later, so it cannot change what 'it' looks "
            'at."'
        ),
    ),
    PlanPart(
        "lesson",
        3,
        19,
        4,
        N_("Step 3. No looking ahead: the causal mask"),
        N_(
            "\"When the model writes a word, the later characters don't exist yet, so while it learns it must "
            "not look at them either. In the heatmap each row is a character doing the looking, each column a "
            'character being looked at. The grey upper triangle is what is hidden."'
        ),
    ),
    PlanPart(
        "lesson",
        4,
        23,
        5,
        N_("Step 4. Several heads, and how spread out they are"),
        N_(
            "\"One head learns one kind of relation. The FullTransformer's encoder has four heads per layer. "
            "They look at the same characters in different ways at the same time, and their outputs are joined "
            "and mixed. Entropy tells us how spread out a head is: 0 means each character looks at one other, 1 "
            'means it looks at everything evenly."'
        ),
    ),
    PlanPart(
        "lesson",
        5,
        28,
        4,
        N_("Step 5. Where am I? Positional encoding"),
        N_(
            "\"Attention by itself doesn't know the order of the characters. It compares vectors, wherever they "
            "are. So each position adds its own pattern of sine and cosine waves to the character's vector. "
            "Here is the model's own table, and what it predicts when we remove or shuffle the positions.\""
        ),
    ),
    PlanPart(
        "lesson",
        6,
        32,
        4,
        N_("Step 6. Encoder, decoder and cross-attention"),
        N_(
            '"The original Transformer has two halves. The encoder reads the whole input; the decoder writes '
            "the output one character at a time with masked self-attention, and consults the encoder through "
            "cross-attention: the decoder's queries read the encoder's keys and values. Every sub-layer is "
            "wrapped in a residual connection and layer normalisation. Our FullTransformer reads the word as "
            'input and predicts it again, one step ahead."'
        ),
    ),
    PlanPart(
        "lesson",
        7,
        36,
        5,
        N_("Step 7. The leak: a model that read the answer"),
        N_(
            '"Our first encoder–decoder scored an almost perfect loss, by cheating. Its source is the word '
            "itself, and its encoder and cross-attention were not masked, so at position t it could read the "
            "character at t+1: the answer. Scored with the whole true word given at once (teacher-forced) it "
            "looks brilliant. Asked honestly, one character at a time from the characters before (prefix-only), "
            "it doesn't.\""
        ),
    ),
    PlanPart(
        "lesson",
        8,
        41,
        4,
        N_("Step 8. Train a model and watch attention form"),
        N_(
            '"Training: the model sees the words of the list and, after each character, is told the true next '
            "one. Its weights are nudged so that character gets a higher probability. The loss is the surprise "
            '(cross-entropy). Press Train and watch the attention on a word take shape, epoch by epoch."'
        ),
    ),
)
# Pages the plan visits inside another part's minutes: Explore in step 2, Head lab in step 4, Compare in step 6,
# the Leak lesson in step 7.
ALSO = MappingProxyType(
    {
        "explore": ("lesson", 2),
        "heads": ("lesson", 4),
        "compare": ("lesson", 6),
        "leak": ("lesson", 7),
        "join": ("teach", 0),
    }
)


def part_at(page: str, step: int) -> PlanPart | None:
    """The plan's part for a place in the app (None for a place the plan does not visit, e.g. Generate)."""
    page, step = ALSO.get(page, (page, step))
    return next((p for p in PLAN if (p.page, p.step) == (page, step)), None)


def clock(minutes: float) -> str:
    """Minutes as the plan writes them: 19 → "0:19"."""
    m = int(max(0, minutes))
    return f"{m // 60}:{m % 60:02d}"


def pace(elapsed_min: float, part: PlanPart) -> int:
    """Whole minutes behind the plan (> 0), ahead of it (< 0), or 0 while the class is inside the part's minutes
    (or less than a minute outside them)."""
    if elapsed_min < part.start:
        return -int(part.start - elapsed_min)
    if elapsed_min > part.start + part.minutes:
        return int(elapsed_min - part.start - part.minutes)
    return 0


def place_label(page: str, step: int) -> str:
    """Where the class is, in the teacher's language: "Lesson, step 3", or the page's title."""
    from ui.i18n import _

    if page == "lesson":
        return _("Lesson, step {n}").format(n=step)
    titles = {
        "explore": N_("Explore"),
        "compare": N_("Compare"),
        "leak": N_("Leak lesson"),
        "generate": N_("Generate"),
        "train": N_("Train"),
        "heads": N_("Head lab"),
        "real_model": N_("Real model"),
        "teach": N_("Teach a class"),
        "join": N_("Join a class"),
    }
    return _(titles[page]) if page in titles else page


def answered_names(code: str, question: str) -> tuple[list[str], list[str]]:
    """(answered, not yet) of the current question: nicknames, or the CSV's anonymous ids (s001 …) without one."""
    store = shared_store()
    members = store.members(code)
    answers = store.answers(code, question) if question else {}
    names = [m.nickname or f"s{i + 1:03d}" for i, m in enumerate(members)]
    done = [n for n, m in zip(names, members) if m.token in answers]
    return done, [n for n, m in zip(names, members) if m.token not in answers]


@st.fragment(run_every="5s")
def presenter(code: str, place_title: str | None = None) -> None:
    """The presenter view, redrawn every 5 s (this fragment only): where the class is against the plan's clock, what
    to say there and who answered (first: that is what the teacher glances at), then who joined and the funnel.
    ``place_title`` names the class's place (the page's title)."""
    from ui.class_session import error_text, funnel_rows
    from ui.i18n import _

    try:
        c: ClassInfo = shared_store().get_class(code)
        members = shared_store().members(code)
        done, waiting = answered_names(code, c.question)
    except (ClassError, StoreUnavailable) as e:
        st.error(error_text(e), icon=":material/error:")
        return
    elapsed = (time.time() - c.created) / 60 if c.active else ((c.ended or c.created) - c.created) / 60
    part = part_at(c.page, c.step)
    place = place_label(c.page, c.step)
    with st.container(border=True):
        st.markdown("#### " + _("Presenter view: {place}").format(place=place))
        m1, m2, m3 = st.columns(3)
        m1.metric(
            _("Class time"),
            clock(elapsed),
            help=_("Since the class started, of the {n}-minute plan.").format(n=PLAN_MINUTES),
        )
        if part is not None:
            m2.metric(
                _("Planned for this part"),
                f"{clock(part.start)}–{clock(part.start + part.minutes)}",
                help=_(part.title),
            )
            d = pace(elapsed, part)
            m3.metric(
                _("Against the plan"),
                _("on time") if d == 0 else (_("{n} min behind") if d > 0 else _("{n} min ahead")).format(n=abs(d)),
            )
            st.markdown("**" + _("Say") + ":** " + _(part.say))
            nxt = next((p for p in PLAN if p.start > part.start), None)
            if nxt is not None:
                st.caption(_("Next at {time}: {title}").format(time=clock(nxt.start), title=_(nxt.title)))
        else:
            m2.metric(_("Planned for this part"), "—")
            st.caption(_("The 45-minute plan does not visit this page; the notes come back at the next step."))
        if c.question:
            st.markdown("**" + _("Answered: {a} of {n}").format(a=len(done), n=len(members)) + "**")
            if done:
                st.text(", ".join(done))
            if waiting:
                st.caption(_("Not yet:"))
                st.text(", ".join(waiting))
    st.subheader(_("{n} joined").format(n=len(members)), anchor=False)
    if members:
        st.text(", ".join(m.nickname or _("anonymous") for m in members))  # nicknames are text, never markup
    st.subheader(_("Per question: joined → answered → right"), anchor=False)
    rows = funnel_rows(code)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption(_("No question asked yet."))
