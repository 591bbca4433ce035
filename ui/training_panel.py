"""The training panel the Train page and the Lesson's step 8 share: start a run, watch it (a fragment polls the
worker every second) and show what it saved. A page passes its differences as a :class:`Look` (its widget keys,
its sentences, how much it shows); the run itself lives in services/jobs.py, keyed by the session's ``train.sid``,
so one browser session has one run whichever page started it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from models import data as wordlists
from models import registry
from models.data import WordList, WordListError
from models.train import Recipe
from services import job_errors, job_names, job_snapshots, jobs
from ui import class_models
from ui.charts import chart
from ui.i18n import _, option_labels, render
from ui.text import escape_md, model_label
from viz import figures as F
from viz import style

SID_KEY = "train.sid"


@dataclass(frozen=True)
class Look:
    """What one page's panel shows. ``key`` prefixes its widget keys. ``detailed``: the Train page's panel (the run's
    heading and recipe, time left, Stop, a picker for the attention pattern, the scores and a replay slider);
    otherwise the Lesson's (a progress line on the click's clock in ``clock``, the first pattern, before/after).
    ``height``: the figures' height (None: their own). ``saved`` and ``not_saved`` make the result's headline
    (``not_saved`` gets the reason); ``again``/``retry`` label the button that clears a saved/failed run."""

    key: str
    saved: Callable[[jobs.JobProgress], str]
    not_saved: Callable[[jobs.JobProgress, str], str]
    again: str
    retry: str
    detailed: bool = True
    height: int | None = None
    clock: str | None = None
    retry_key: str | None = None  # the failed run's button key, where it differs from the saved run's


def session_id() -> str:
    """The session's job slot: the first id seen is kept, so it never changes (both pages share it)."""
    return st.session_state.setdefault(SID_KEY, get_script_run_ctx().session_id)


def model_labels() -> dict[str, str]:
    return {s.train_flag: _(s.train_label) for s in registry.MODELS}


def preset_labels() -> dict[str, str]:
    return {"fast": _("Fast"), "seed": _("Original recipe (seed)")}


def duration(s: float | None) -> str:
    if s is None:
        return "…"
    s = int(round(s))
    return _("{s} s").format(s=s) if s < 60 else _("{m} min {s:02d} s").format(m=s // 60, s=s % 60)


def session_alive(session_id: str) -> bool | None:
    """Whether Streamlit still has this browser session; None when it can't tell (no runtime, e.g. AppTest).
    Called from the job's reader thread after each epoch; Runtime.is_active_session is documented thread-safe."""
    if not Runtime.exists():
        return None
    alive = Runtime.instance().is_active_session(session_id)
    return alive if isinstance(alive, bool) else None


def browser_id(sid: str) -> str:
    """This browser (every tab of it), for the one-run-per-student limit; see job_names.browser_token."""
    return job_names.browser_token((st.context.cookies or {}).get("_streamlit_xsrf", ""), fallback=sid)


def folder_message(reason: str | None) -> str:
    """Why trained models can't be saved, for a student (no server path), by the folder's state."""
    why = {
        "full": _("The disk where trained models are saved is full."),
        "read-only": _("The folder where trained models are saved is read-only."),
    }.get(reason, _("This server may not write to the folder where trained models are saved."))
    return _("{why} Tell your teacher. Every other page works as usual, and the shipped models are there.").format(
        why=why
    )


def folder_error(reason: str | None) -> None:
    st.error(_("**Nothing was trained.** {why}").format(why=folder_message(reason)))


def job_error(e: Exception) -> str:
    """A refused start, in the session's language (the exception's English stays in the log)."""
    if isinstance(e, job_errors.FolderNotWritableError):
        return _("**Nothing was trained.** {why}").format(why=folder_message(e.reason))
    if isinstance(e, job_errors.BrowserBusyError):
        return _(
            "Another tab of this browser is already training **{model}**. One run per student at a time: "
            "stop it there or wait for it to finish."
        ).format(model=escape_md(e.name))
    return escape_md(render(e))


def start(
    sid: str,
    model: str,
    recipe: Recipe,
    *,
    name: str,
    words: WordList | None = None,
    replace: bool = False,
    probe_word: str | None = None,
    pace_s: float = 0.0,
    watch_session: bool = False,
) -> jobs.TrainingJob | None:
    """Start this session's run (``words``: None for the shipped list), recorded in the class when the session is in
    one; None, with the reason on the page, when it is refused. ``watch_session``: stop the run when the tab
    closes."""
    try:
        if words is None:
            words = wordlists.load_words(wordlists.DEFAULT_WORDS)
        return jobs.start_job(
            sid,
            model,
            words,
            recipe,
            name=name,
            replace=replace,
            probe_word=probe_word,
            pace_s=pace_s,
            session_alive=session_alive if watch_session else None,
            browser=browser_id(sid),
            on_claim=class_models.recorder(model),
        )
    except (class_models.ClassError, class_models.StoreUnavailable) as e:  # recording it in a class
        from ui.class_session import error_text

        st.error(error_text(e), icon=":material/error:")
    except job_errors.JobLimitError as e:
        st.warning(job_error(e), icon=":material/hourglass_top:")
    except job_errors.JobError as e:
        st.error(job_error(e))
    except WordListError as e:
        st.warning(escape_md(render(e)), icon=":material/hourglass_top:")
    return None


def clear_run(sid: str) -> None:
    jobs.clear_job(sid)


def mine_and_other(sid: str, mine: int | None) -> tuple[jobs.TrainingJob | None, jobs.TrainingJob | None]:
    """The session's run, split by who started it: (the run with id ``mine``, or None; any other run, or None)."""
    job = jobs.get_job(sid)
    if job is None or job.id == mine:
        return job, None
    return None, job


def kept_capture(p: jobs.JobProgress):
    """The probe word's attention in the model the run kept (its best epoch, the one saved), not its last epoch."""
    from ui.cache import get_capture

    return get_capture(p.name, p.probe_word)


# ---- figures ------------------------------------------------------------------------------------------------------
# The live panel redraws every second but its figures change once an epoch: build each once. cache_resource hands
# back the same object (read-only by convention, st.plotly_chart only serialises it); cache_data would pickle it,
# which costs as much as building it.
@st.cache_resource(max_entries=32, show_spinner=False)
def heads_figure(job_id: int, epoch: int, pattern: str, title: str | None, height: int | None, _snap: dict):
    cap = job_snapshots.snapshot_capture(_snap)
    return F.head_grid(
        cap,
        pattern,
        title=style.pattern_title(pattern, tr=_) if title is None else title,
        tr=_,
        **({"height": height} if height else {}),
    )


@st.cache_resource(max_entries=8, show_spinner=False)
def curves_figure(job_id: int, epochs_done: int, height: int | None, _history: tuple, saved: bool = True):
    return F.training_curves(list(_history), saved=saved, tr=_, **({"height": height} if height else {}))


def attention_row(snap: dict, job_id: int, key: str, *, title: str) -> None:
    """Every head of one pattern of a stored snapshot, in one figure, with a picker where there are several."""
    names = job_snapshots.snapshot_capture(snap).names()
    pattern = names[0]
    if len(names) > 1:
        pattern = st.selectbox(
            _("Attention"),
            names,
            key=f"{key}.pattern",
            format_func=option_labels(names, lambda n: style.pattern_title(n, tr=_)),
            help=_(
                "The encoder-decoder has self-attention in the encoder and the decoder, and "
                "cross-attention from decoder to encoder; pick one to see its heads."
            ),
        )
    st.markdown(title)
    chart(heads_figure(job_id, snap["epoch"], pattern, None, None, snap), key=f"{key}.heads")


# ---- while training -----------------------------------------------------------------------------------------------
def stop_mine(sid: str) -> None:
    """Stop's callback: runs before the fragment redraws, so the very next draw already says "Stopping…"."""
    job = jobs.get_job(sid)
    if job is not None:
        job.stop()


def progress(p: jobs.JobProgress, look: Look, sid: str) -> None:
    if not look.detailed:  # seconds since the click, start-up included: the clock a class watches
        t0 = st.session_state.get(look.clock) if look.clock else None
        st.progress(
            p.fraction,
            text=_("Epoch {e} of {n} · {s:.0f} s").format(
                e=p.epoch, n=p.epochs, s=time.time() - t0 if t0 else p.elapsed
            ),
        )
        return
    rec = p.recipe
    if p.status == "queued":
        label = _("Starting a training process (it loads PyTorch first; a few seconds)…")
    elif p.epoch == 0:
        label = _("Starting: building the model and running the first epoch…")
    else:
        label = _("Epoch {epoch} of {epochs} · {elapsed} so far · about {eta} left").format(
            epoch=p.epoch, epochs=p.epochs, elapsed=duration(p.elapsed), eta=duration(p.eta)
        ) + (" " + _("(early stopping may end it sooner)") if rec.get("patience") else "")
    bar, stop = st.columns([6, 1], vertical_alignment="bottom")
    bar.progress(p.fraction, text=label)
    if p.stop_requested:
        stop.button(_("Stopping…"), disabled=True, key=f"{look.key}.stopping", width="stretch")
        st.info(_("Stopping after this epoch; the best epoch so far will be kept and saved."))
    else:
        stop.button(
            _("Stop"),
            type="secondary",
            key=f"{look.key}.stop",
            icon=":material/stop_circle:",
            width="stretch",
            on_click=stop_mine,
            args=(sid,),
            help=_("End after the current epoch. The best epoch so far is kept and saved."),
        )


def heading(p: jobs.JobProgress) -> None:
    what = (_("Restoring **{model}**") if p.action == "restore" else _("Training **{model}**")).format(
        model=escape_md(model_label(p.name) if p.action == "restore" else p.name)
    )
    st.subheader(f"{what} · {model_labels()[p.model_name]}", anchor=False)
    rec = p.recipe
    st.caption(
        _(
            "{recipe} recipe: {epochs} epochs, batch {batch}, learning rate {lr:g}, dropout {dropout:g}, "
            "weight decay {wd:g}, seed {seed} · {n} words (80% train, 20% validation)"
        ).format(
            recipe=preset_labels().get(rec["name"], rec["name"]),
            epochs=p.epochs,
            batch=rec["batch_size"],
            lr=rec["lr"],
            dropout=rec["dropout"],
            wd=rec["weight_decay"],
            seed=rec["seed"],
            n=p.n_words,
        )
        + (f" · {escape_md(p.note)}" if p.note else "")
    )


@st.fragment(run_every="1s")
def live_panel(sid: str, look: Look, locked: bool = True) -> None:
    """The run while it trains: progress, the learning curves and, once a guess is locked in (the attention forming
    is the Lesson's answer), the probe word's attention now."""
    job = jobs.get_job(sid)
    if job is None:
        st.rerun()
    p = job.poll()
    if p.finished:
        st.rerun()  # the whole page: the result lives outside this fragment
    if look.detailed:
        heading(p)
    progress(p, look, sid)
    left, right = st.columns([1, 1], gap="large")
    with left:
        if p.history:
            chart(curves_figure(p.job_id, p.epoch, look.height, p.history), key=f"{look.key}.live_curves")
        elif look.detailed:
            st.info(_("The learning curves appear after the first epoch."))
    snap = p.latest_snapshot
    if snap is None or not locked:
        return
    with right:
        if look.detailed:
            attention_row(
                snap,
                p.job_id,
                f"{look.key}.live",
                title=_("**Attention on “{word}” now** (epoch {epoch})").format(
                    word=escape_md(p.probe_word), epoch=snap["epoch"]
                ),
            )
        else:
            pattern = job_snapshots.snapshot_capture(snap).names()[0]
            chart(
                heads_figure(
                    p.job_id,
                    snap["epoch"],
                    pattern,
                    _("Attention on “{w}” at epoch {e}").format(w=p.probe_word, e=snap["epoch"]),
                    look.height,
                    snap,
                ),
                key=f"{look.key}.live",
            )


# ---- after training -----------------------------------------------------------------------------------------------
@st.fragment
def replay(p: jobs.JobProgress, look: Look) -> None:
    """The stored snapshots, one epoch at a time (a fragment, so moving the slider redraws only this part)."""
    snaps = p.snapshots
    if not snaps:
        return
    st.subheader(_("Attention during training"), anchor=False)
    st.caption(
        _(
            "How the model read the probe word **{word}** as it learned. Epoch 0 is the untrained "
            "model: attention is close to uniform. Drag the slider to watch the pattern form."
        ).format(word=escape_md(p.probe_word))
    )
    epochs = [s["epoch"] for s in snaps]
    kept = p.kept_epoch if p.kept_epoch in epochs else epochs[-1]
    ep = st.select_slider(
        _("Epoch"),
        options=epochs,
        value=kept,
        key=f"{look.key}.replay.{p.job_id}",
        format_func=option_labels(
            epochs, lambda e: _("{epoch} (kept)").format(epoch=e) if e == p.kept_epoch else str(e)
        ),
        help=_("Snapshots were taken every few epochs, and at the last one."),
    )
    snap = snaps[epochs.index(ep)]
    stats = next((h for h in p.history if h["epoch"] == ep), None)
    note = (
        _(" — validation NLL {prefix:.3f} (prefix-only), {tf:.3f} (teacher-forced)").format(
            prefix=stats["val_prefix_nll"], tf=stats["val_tf_nll"]
        )
        if stats
        else _(" — untrained, random weights")
    )
    if ep == p.kept_epoch:
        note += _(" · the saved model")
    attention_row(snap, p.job_id, f"{look.key}.replay_{p.job_id}", title=_("**Epoch {epoch}**").format(epoch=ep) + note)


def before_and_kept(p: jobs.JobProgress, look: Look) -> None:
    """Epoch 0 beside the model the run kept: the change training made."""
    a, b = st.columns(2, gap="large")
    for col, cap, title, k in (
        (a, job_snapshots.snapshot_capture(p.snapshots[0]), _("Before training (epoch 0)"), "before"),
        (b, kept_capture(p), _("The model kept (epoch {e})").format(e=p.kept_epoch), "kept"),
    ):
        chart(
            F.head_grid(cap, cap.names()[0], title=title, tr=_, **({"height": look.height} if look.height else {})),
            key=f"{look.key}.{k}",
            container=col,
        )


def failure_reason(p: jobs.JobProgress) -> str:
    if p.error_code in ("full", "read-only", "permission"):
        return folder_message(p.error_code)
    if p.error_code == "time-limit":
        return _(
            "The run reached this server's time limit in the middle of an epoch, so it was stopped. Fewer "
            "epochs or a bigger batch size fit in the limit."
        )
    return escape_md(render(p.error or ""))


def scores(p: jobs.JobProgress) -> None:
    """Why the run ended where it did, and what the kept model scores."""
    kept = p.kept_epoch
    if p.status == "stopped":
        st.info(
            _("Stopped after epoch {epoch} because {why}. Kept epoch {kept}, the best so far.").format(
                epoch=p.epoch, why=escape_md(render(p.stop_reason)), kept=kept
            )
        )
    elif p.stopped_early:
        st.info(
            _(
                "Early stopping ended the run after epoch {epoch}: no better validation NLL for "
                "{patience} epochs. Kept epoch {kept}, the best."
            ).format(epoch=p.epoch, patience=p.recipe["patience"], kept=kept)
        )
    m = p.metrics
    c = st.columns(5)
    c[0].metric(_("Kept epoch"), _("{kept} of {epochs}").format(kept=kept, epochs=p.epoch))
    c[1].metric(
        _("Validation NLL (honest)"),
        f"{m.get('val_prefix_nll', float('nan')):.3f}",
        help=_(
            "Prefix-only: each character predicted from the characters before it. Nats per character; lower is better."
        ),
    )
    c[2].metric(_("Next-character accuracy"), f"{m.get('val_accuracy', 0):.1%}")
    c[3].metric(_("Training time"), duration(p.elapsed))
    c[4].metric(_("Parameters"), f"{m.get('n_params', 0):,}")
    if p.action == "train":
        st.page_link(
            "app_pages/1_explore.py",
            label=_("Explore {model}").format(model=escape_md(p.name)),
            icon=":material/search:",
            query_params={"model": p.name},
        )


def result_panel(sid: str, p: jobs.JobProgress, look: Look, locked: bool = True) -> None:
    """A finished run: saved (with what it learned, once a guess is locked in) or not (with why), and the button
    that frees the session's slot for another run."""
    failed = p.status == "failed"
    if failed:
        st.error(look.not_saved(p, failure_reason(p)))
        if look.detailed:
            st.info(
                _(
                    "Every saved model is as it was, and this run's training slot is free again: press **Train "
                    "another model** to try again."
                ),
                icon=":material/info:",
            )
    else:
        st.success(look.saved(p), icon=":material/check_circle:")
        if look.detailed:
            scores(p)
    if look.detailed:
        left, right = st.columns(2, gap="large")
        with left:
            if p.history:
                chart(
                    curves_figure(p.job_id, p.epoch, look.height, p.history, saved=not failed),
                    key=f"{look.key}.final_curves",
                )
        with right:
            replay(p, look)
    elif not failed and p.snapshots and locked:  # before/after is the Lesson's answer: once a guess is locked in
        before_and_kept(p, look)
    label, key = (look.retry, look.retry_key or f"{look.key}.again") if failed else (look.again, f"{look.key}.again")
    if st.button(label, type="primary" if look.detailed else "secondary", key=key, icon=":material/restart_alt:"):
        clear_run(sid)
        st.rerun()
