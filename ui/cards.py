"""A checkpoint's card (size, kept epoch, the honest held-out numbers) and the held-out evaluation behind it."""

from __future__ import annotations

import streamlit as st

from models.checkpoint import ModelBundle
from ui.cache import bundle
from ui.i18n import _
from ui.text import escape_md, model_label, peek_warning


def model_card(b: ModelBundle, *, compact: bool = False) -> None:
    """One line: size, kept epoch, and the honest numbers — test NLL on words never used for training or for any
    choice, then validation NLL (the words early stopping chose on, so it reads a little low)."""
    m = b.meta.get("metrics", {})
    recipe = (b.meta.get("recipe") or {}).get("name", "?")
    bits = [
        _("**{n}** parameters").format(n=f"{b.n_params:,}"),
        _("epoch **{epoch}** kept ({recipe} recipe)").format(
            epoch=escape_md(b.meta.get("epoch", "?")), recipe=escape_md(recipe)
        ),
    ]  # the checkpoint's own text
    if m.get("test_prefix_nll") is not None:
        bits.append(
            _("test NLL **{nll:.3f}** nats/char on {n} words never used in training or model choice").format(
                nll=m["test_prefix_nll"], n=m.get("n_test_words", "?")
            )
        )
    if m.get("val_prefix_nll") is not None:
        bits.append(_("validation NLL {nll:.3f}").format(nll=m["val_prefix_nll"]))
    tf = m.get("test_teacher_forced_nll", m.get("val_teacher_forced_nll"))
    if tf is not None and b.peeking:
        bits.append(_("teacher-forced {nll:.3f} (leaks)").format(nll=tf))
    st.caption(" · ".join(bits))
    if b.peeking:
        st.warning(peek_warning(), icon=None) if not compact else st.caption(peek_warning())


@st.cache_data(max_entries=16, show_spinner=False)
def _cached_heldout_eval(name: str, ckpt_mtime: float, part: str) -> dict:
    import dataclasses

    from models.evaluate import evaluate_words
    from ui.cache import load_model, shipped_split

    return dataclasses.asdict(evaluate_words(load_model(name, ckpt_mtime), getattr(shipped_split()[0], part)))


def heldout_eval(name: str, part: str = "test") -> dict | None:
    """Teacher-forced and prefix-only NLL of checkpoint ``name`` on one held-out part of the shipped word list
    (``"test"``: words never used in training or model choice; ``"val"``: the words training chose on), computed
    live and cached by checkpoint mtime. Adds ``same_words``: whether the checkpoint was trained on that word
    list with today's split (else these held-out words may include its training words). None when the word list
    is missing."""
    from models.checkpoint import checkpoint_mtime
    from models.data import SPLIT_ID
    from ui.cache import shipped_split, shipped_words

    if not shipped_words():
        return None
    res = dict(_cached_heldout_eval(name, checkpoint_mtime(name), part))
    meta = bundle(name).meta
    res["same_words"] = meta.get("words_sha256") == shipped_split()[1] and meta.get("split") == SPLIT_ID
    return res


def test_comparison(left: str, right: str, evals: dict[str, dict | None]) -> str | None:
    """One honest sentence on how two checkpoints compare on the test words: the difference of their test NLL
    and whether it is bigger than the noise of which words happened to be drawn (paired standard error).
    ``evals`` holds each one's :func:`heldout_eval` on the test words (the page has them already). None when
    either can't be scored."""
    from models.evaluate import EvalResult, paired_difference

    evals = {n: evals[n] for n in (left, right)}
    if None in evals.values():
        return None
    res = {n: EvalResult(**{k: v for k, v in e.items() if k != "same_words"}) for n, e in evals.items()}
    diff, se = paired_difference(res[left], res[right])
    better, worse = (right, left) if diff > 0 else (left, right)
    args = dict(
        n=res[left].n_words,
        better=model_label(better),
        worse=model_label(worse),
        b=res[better].prefix_nll,
        w=res[worse].prefix_nll,
        d=abs(diff),
        se=se,
    )
    if abs(diff) < 2 * se:
        text = _(
            "On the {n} test words, {better} scores {b:.3f} and {worse} {w:.3f} nats per character: a "
            "difference of {d:.3f}. Other words of the same kind would move that difference by about {se:.3f} "
            "(one standard error), so a gap under twice that is not evidence: on new words neither model is "
            "clearly better."
        )
    else:
        text = _(
            "On the {n} test words, {better} scores {b:.3f} and {worse} {w:.3f} nats per character: "
            "{better} is better by {d:.3f}, more than twice the {se:.3f} (one standard error) that other words "
            "of the same kind would move it by."
        )
    text = text.format(**{k: escape_md(v) if isinstance(v, str) else v for k, v in args.items()})
    if not all(e["same_words"] for e in evals.values()):
        text += " " + _(
            "A checkpoint here was trained on another word list or split, so some test words may have "
            "been its training words."
        )
    return text
