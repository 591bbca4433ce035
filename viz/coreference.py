"""The Real model page's "what does *it* look at?" experiment, with its controls (issue 20 item 1). Pure: captures
in, numbers and figures out; no Streamlit, inputs never changed.

What a causal model can and cannot show at "it": the row of "it" is computed from "it" and the tokens before it
only, so it cannot depend on the word that settles the reference ("tired" or "wide" comes later). What the row can
show is *which earlier word* a head reads there, and whether that says anything about "it":

* the claim: the head that puts the most weight from "it" on one of two candidate words (``word_attention_lesson``);
* control 1, the same head's other rows: does that head look at the candidate from every later token (an
  "earlier noun" head) or from "it" in particular?
* control 2, the other heads: how much weight does "it" give the candidate in an average head?
* the causal check: the "it" row is the same when the sentence stops at "it" (what comes later cannot change it);
* a counterfactual whose change comes *before* "it": swap the two candidates ("The street didn't cross the
  animal…"), and read the same head from "it" again: does it follow the word, or the place in the sentence?
* a token that *can* see the difference: change the last word ("tired" -> "wide") and read the last token's row,
  which has read it: how many heads favour each candidate there, with each last word?
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from models.capture import AttentionCapture
from viz.labels import N_, Translate, identity
from viz.metrics import VISIBLE_SPACE, attention_to_span, word_attention_lesson, word_span
from viz.style import BLUE, GREY, ORANGE, figure, label


def _stack(cap: AttentionCapture) -> torch.Tensor:
    return torch.stack([cap.patterns[n][0] for n in cap.names("blocks")])  # (layers, H, Q, K)


@dataclass(frozen=True)
class HeadControl:
    """One head (``layer``, ``head``) and one candidate word: the weight every row that can see the candidate puts
    on it (its sub-word tokens summed), the word's own row among them."""

    layer: int
    head: int
    word: str  # the candidate, e.g. "animal"
    query: int  # the row of "it"
    rows: tuple[int, ...]  # every query position after the candidate (they can all see it), "it" too
    row_weights: tuple[float, ...]  # the weight each of those rows puts on the candidate
    heads_mean: float  # control 2: the weight from "it" on the candidate, averaged over every head
    n_heads: int

    @property
    def weight(self) -> float:
        return self.row_weights[self.rows.index(self.query)]

    @property
    def others(self) -> tuple[float, ...]:
        return tuple(w for r, w in zip(self.rows, self.row_weights) if r != self.query)

    @property
    def others_mean(self) -> float:
        return sum(self.others) / len(self.others) if self.others else float("nan")

    @property
    def top_other(self) -> int | None:
        """The other row with the largest weight on the candidate (a position), None when there is none."""
        pairs = [(w, r) for r, w in zip(self.rows, self.row_weights) if r != self.query]
        return max(pairs)[1] if pairs else None

    @property
    def n_at_least(self) -> int:
        """How many other rows put at least as much weight on the candidate as "it" does."""
        return sum(w >= self.weight for w in self.others)

    @property
    def it_stands_out(self) -> bool:
        """Whether "it" looks at the candidate more than every other row of this head does."""
        return self.n_at_least == 0 and bool(self.others)


def head_control(
    cap: AttentionCapture, query: int, span: tuple[int, ...], layer: int, head: int, word: str
) -> HeadControl:
    p = _stack(cap)  # (layers, H, Q, K)
    rows = tuple(range(span[-1] + 1, p.shape[2]))  # the rows that can see the word
    col = p[layer, head][:, list(span)].sum(-1)  # (Q,)
    from_query = p[:, :, query][:, :, list(span)].sum(-1)  # (layers, H)
    return HeadControl(
        layer=layer,
        head=head,
        word=word,
        query=query,
        rows=rows,
        row_weights=tuple(float(col[r]) for r in rows),
        heads_mean=float(from_query.mean()),
        n_heads=from_query.numel(),
    )


def prefix_text(cap: AttentionCapture, query: int) -> str:
    """The text the model has read at ``query``: its tokens up to and including it, spaces restored."""
    return "".join(cap.tgt_tokens[: query + 1]).replace(VISIBLE_SPACE, " ")


def row_difference(cap: AttentionCapture, prefix: AttentionCapture, query: int) -> float | None:
    """The causal check: the largest change, over every layer and head, in row ``query``'s weights when the text
    stops at ``query``. None when the shorter text does not read as the same tokens (then nothing is compared)."""
    if prefix.tgt_tokens != cap.tgt_tokens[: query + 1] or cap.truncated or prefix.truncated:
        return None
    a = _stack(cap)[:, :, query, : query + 1]  # (layers, H, K)
    b = _stack(prefix)[:, :, query, : query + 1]
    return float((a - b).abs().max())


def swap_words(text: str, a: str, b: str) -> str:
    """``text`` with every whole-word ``a`` and ``b`` exchanged (case-insensitive), so the sentence changes only in
    which word stands where: "The animal … the street" -> "The street … the animal"."""
    pattern = re.compile(r"(?<!\w)(" + re.escape(a.strip()) + "|" + re.escape(b.strip()) + r")(?!\w)", re.I)
    return pattern.sub(lambda m: b.strip() if m.group(0).lower() == a.strip().lower() else a.strip(), text)


@dataclass(frozen=True)
class Swap:
    """The counterfactual: the same head, read from "it" in the sentence with the two candidates exchanged."""

    text: str
    weights: dict  # {candidate: weight from "it" in the swapped sentence}
    before: dict  # {candidate: weight from "it" in the sentence as typed}

    @property
    def picks(self) -> str:
        return max(self.weights, key=self.weights.get)

    @property
    def picked_before(self) -> str:
        return max(self.before, key=self.before.get)

    @property
    def follows_word(self) -> bool:
        """Still the same word after the swap (it follows the word, not its place in the sentence)."""
        return self.picks == self.picked_before


@dataclass(frozen=True)
class ItExperiment:
    word: str
    candidates: tuple[str, str]
    query: int
    spans: dict
    answer: str  # the candidate the strongest head favours
    control: HeadControl | None  # that head, that candidate; None when no candidate comes before the word
    prefix: str  # what the model has read at "it"
    later: tuple[str, ...]  # the candidates after "it": causally invisible from its row


def it_experiment(cap: AttentionCapture, word: str, candidates: tuple[str, str]) -> ItExperiment | list[str]:
    """The claim and control 1 and 2 from one capture; the words not found (as whole words) instead when any is
    missing. The causal check and the counterfactual need captures of other texts: :func:`row_difference`,
    :func:`swap_experiment`."""
    lesson = word_attention_lesson(cap, word, candidates)
    if lesson["missing"]:
        return lesson["missing"]
    q, answer = lesson["query"], lesson["answer"]
    layer, head, _w = lesson["best"][answer]
    span = lesson["spans"][answer]
    control = head_control(cap, q, span, layer, head, answer) if span[-1] < q else None  # it can only look back
    return ItExperiment(
        word=word,
        candidates=tuple(candidates),
        query=q,
        spans=lesson["spans"],
        answer=answer,
        control=control,
        prefix=prefix_text(cap, q),
        later=tuple(lesson["later"]),
    )


def swap_experiment(cap: AttentionCapture, swapped: AttentionCapture, exp: ItExperiment) -> Swap | None:
    """Control 3: the experiment's head read from the word in the swapped sentence. None when a candidate comes
    after the word (the swap would change something the row cannot see) or the swapped text lost a word."""
    if exp.later or exp.control is None:
        return None
    spans = {w: word_span(swapped.tgt_tokens, w) for w in (exp.word, *exp.candidates)}
    if not all(spans.values()):
        return None
    q = spans[exp.word][-1]
    if any(spans[c][-1] > q for c in exp.candidates):
        return None
    l, h = exp.control.layer, exp.control.head
    after = {c: float(attention_to_span(swapped, q, spans[c])[l, h]) for c in exp.candidates}
    before = {c: float(attention_to_span(cap, exp.query, exp.spans[c])[l, h]) for c in exp.candidates}
    return Swap(text="".join(swapped.tgt_tokens).replace(VISIBLE_SPACE, " "), weights=after, before=before)


def change_last_word(text: str, new: str) -> str | None:
    """``text`` with its last whole word replaced by ``new`` (what follows it, e.g. a full stop, kept); None when
    there is no word to replace or the new word is empty or the same."""
    m = re.search(r"(\w+)(\W*)$", text)
    new = new.strip()
    if not m or not new or m.group(1).lower() == new.lower():
        return None
    return text[: m.start(1)] + new + m.group(2)


@dataclass(frozen=True)
class LaterRead:
    """The last token's row (it has read the last word) in two sentences that differ only in that word: for each
    last word, how many heads put more weight on the first candidate than on the second, and the mean weights."""

    last: tuple[str, str]  # the last token of each sentence, e.g. ("␣tired", "␣wide")
    favour_first: tuple[int, int]  # heads whose last row puts more on candidates[0] than on candidates[1]
    means: tuple[tuple[float, float], tuple[float, float]]  # per sentence: mean weight on each candidate
    n_heads: int


def later_read(cap: AttentionCapture, other: AttentionCapture, candidates: tuple[str, str]) -> LaterRead | None:
    """Read the last row of both captures. None when a candidate is missing from either or is itself at the end."""
    favour, means, last = [], [], []
    for c in (cap, other):
        spans = [word_span(c.tgt_tokens, w) for w in candidates]
        q = len(c.tgt_tokens) - 1
        if not all(spans) or any(s[-1] >= q for s in spans):
            return None
        a, b = (attention_to_span(c, q, s) for s in spans)  # (layers, H) each
        favour.append(int((a > b).sum()))
        means.append((float(a.mean()), float(b.mean())))
        last.append(c.tgt_tokens[q])
    return LaterRead(last=tuple(last), favour_first=tuple(favour), means=tuple(means), n_heads=a.numel())


def control_bars(
    cap: AttentionCapture,
    control: HeadControl,
    *,
    title: str | None = None,
    y_title: str | None = None,
    mean_label: str | None = None,
    height: int = 300,
    tr: Translate = identity,
) -> go.Figure:
    """Control 1 as bars: one bar per row that can see the candidate (the weight it puts on it), the row of "it" in
    orange, the others in blue, and a dashed line at the others' mean. The same numbers as the candidate's column in
    the head's heatmap."""
    toks = [label(cap.tgt_tokens[r]) for r in control.rows]
    xs = list(range(len(control.rows)))
    colours = [ORANGE if r == control.query else BLUE for r in control.rows]
    data = [
        dict(
            type="bar",
            x=xs,
            y=list(control.row_weights),
            marker=dict(color=colours),
            text=[f"{w:.2f}" for w in control.row_weights],
            textposition="outside",
            cliponaxis=False,
            customdata=toks,
            hovertemplate="%{customdata}: <b>%{y:.3f}</b><extra></extra>",
            showlegend=False,
        )
    ]
    shapes = []
    if control.others:
        shapes.append(
            dict(
                type="line",
                xref="paper",
                x0=0,
                x1=1,
                y0=control.others_mean,
                y1=control.others_mean,
                line=dict(color=GREY, width=2, dash="dash"),
            )
        )
    name = label(control.word)
    title = title or tr(N_("Layer {layer} · head {head}: weight on “{word}” from each later token")).format(
        layer=control.layer, head=control.head, word=name
    )
    mean = (mean_label or tr(N_("mean of the other tokens {mean:.2f}"))).format(mean=control.others_mean)
    # The line's label sits above every bar's number (a weight is at most 1), so it never covers one.
    annotations = (
        [
            dict(
                xref="paper",
                x=1,
                xanchor="right",
                y=1.3,
                yanchor="top",
                showarrow=False,
                text="╌ " + mean,
                font=dict(size=12),
            )
        ]
        if control.others
        else []
    )
    return figure(
        data,
        title,
        height,
        shapes=shapes,
        annotations=annotations,
        xaxis=dict(tickvals=xs, ticktext=toks, tickangle=-40, showgrid=False),
        yaxis=dict(
            range=[0, 1.3],
            tickvals=[0, 0.5, 1],
            title=dict(text=y_title or tr(N_("weight on “{word}”")).format(word=name)),
        ),
    )
