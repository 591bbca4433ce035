"""Train: set up a run, watch the loss fall and the attention form, and publish the model to every page's picker.

Training runs in a worker process of its own (services/jobs.py); this page only starts a job and polls it from a
fragment.
"""
import dataclasses

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

import settings
from models import data as wordlists
from services import job_errors, job_names, job_snapshots, jobs
from services.train_worker import DEFAULT_PROBE
from models.data import WordListError, parse_words_bytes
from models import registry
from models.train import recipe_for
from models.vocab import DEFAULT_VOCAB, romanize
from ui import class_models
from ui import widgets as w
from ui.cache import bundle
from ui.i18n import _, option_labels, render
from viz import figures as F

PRESETS = ("fast", "seed")


def model_labels() -> dict[str, str]:
    return {s.train_flag: _(s.train_label) for s in registry.MODELS}


def preset_labels() -> dict[str, str]:
    return {"fast": _("Fast"), "seed": _("Original recipe (seed)")}


KNOBS = ("epochs", "batch_size", "lr", "dropout", "weight_decay", "seed")
# The form is not drawn while a run and its result are shown; without persist_state Streamlit drops the widgets' state,
# and the remounted widgets showed their minimum values (epochs 1, batch 1, lr 0, no recipe) and sent them back.
KEEP = "session"
MAX_LEN = 46                    # letters per word: the context of 48 tokens less <BOS> and <EOS>

# The job registry is keyed by the session that started it; the first id seen is kept so it never changes.
SID = st.session_state.setdefault("train.sid", get_script_run_ctx().session_id)
OWNER = job_names.owner_id(SID)      # what this session's checkpoints record as their maker


def session_alive(session_id: str) -> bool | None:
    """Whether Streamlit still has this browser session; None when it can't tell (no runtime, e.g. AppTest).
    Called from the job's reader thread after each epoch; Runtime.is_active_session is documented thread-safe."""
    if not Runtime.exists():
        return None
    alive = Runtime.instance().is_active_session(session_id)
    return alive if isinstance(alive, bool) else None


def browser_id() -> str:
    """This browser (every tab of it), for the one-run-per-student limit; see job_names.browser_token."""
    return job_names.browser_token((st.context.cookies or {}).get("_streamlit_xsrf", ""), fallback=SID)


def folder_message(reason: str | None) -> str:
    """Why trained models can't be saved, for a student (no server path), by the folder's state."""
    why = {"full": _("The disk where trained models are saved is full."),
           "read-only": _("The folder where trained models are saved is read-only."),
           }.get(reason, _("This server may not write to the folder where trained models are saved."))
    return _("{why} Tell your teacher. Every other page works as usual, and the shipped models are there.").format(
        why=why)


def job_error(e: Exception) -> str:
    """A refused start, in the session's language (the exception's English stays in the log)."""
    if isinstance(e, job_errors.FolderNotWritableError):
        return _("**Nothing was trained.** {why}").format(why=folder_message(e.reason))
    if isinstance(e, job_errors.BrowserBusyError):
        return _("Another tab of this browser is already training **{model}**. One run per student at a time: "
                 "stop it there or wait for it to finish.").format(model=w.escape_md(e.name))
    return w.escape_md(render(e))


def duration(s: float | None) -> str:
    if s is None:
        return "…"
    s = int(round(s))
    return _("{s} s").format(s=s) if s < 60 else _("{m} min {s:02d} s").format(m=s // 60, s=s % 60)


def apply_preset() -> None:
    """Fill the knobs from the chosen preset for the chosen model (runs before the widgets are drawn)."""
    rec = recipe_for(st.session_state["train.preset"], st.session_state["train.model"])
    for k in KNOBS:
        st.session_state[f"train.{k}"] = getattr(rec, k)


st.session_state.setdefault("train.model", "miniformer")
st.session_state.setdefault("train.preset", "fast")
if "train.epochs" not in st.session_state:
    apply_preset()

st.title(":material/model_training: " + _("Train"))
st.caption(_("Train a model of your own on the word list, watch the loss fall and the attention pattern form, and "
             "find the result in every page's model picker. Training runs in the background: other pages and other "
             "people's sessions stay responsive."))


# ---- while training ---------------------------------------------------------------------------------------------
# The live panel redraws every second but its figures change once an epoch: build each once. cache_resource hands
# back the same object (read-only by convention, st.plotly_chart only serialises it); cache_data would pickle it,
# which costs as much as building it.
@st.cache_resource(max_entries=32, show_spinner=False)
def heads_figure(job_id: int, epoch: int, pattern: str, _snap: dict):
    return F.head_grid(job_snapshots.snapshot_capture(_snap), pattern, title=F.pattern_title(pattern, tr=_), tr=_)


@st.cache_resource(max_entries=8, show_spinner=False)
def curves_figure(job_id: int, epochs_done: int, _history: tuple, saved: bool = True):
    return F.training_curves(list(_history), saved=saved, tr=_)


def attention_row(snap: dict, job_id: int, key: str, *, title: str) -> None:
    """Every head of one pattern of a stored snapshot, in one figure."""
    names = job_snapshots.snapshot_capture(snap).names()
    pattern = names[0]
    if len(names) > 1:
        pattern = st.selectbox(_("Attention"), names, key=f"{key}.pattern",
                               format_func=option_labels(names, lambda n: F.pattern_title(n, tr=_)),
                               help=_("The encoder-decoder has self-attention in the encoder and the decoder, and "
                                      "cross-attention from decoder to encoder; pick one to see its heads."))
    st.markdown(title)
    w.chart(heads_figure(job_id, snap["epoch"], pattern, snap), key=f"{key}.heads")


def stop_mine() -> None:
    """Stop's callback: runs before the fragment redraws, so the very next draw already says "Stopping…"."""
    job = jobs.get_job(SID)
    if job is not None:
        job.stop()


@st.fragment(run_every="1s")
def live_panel() -> None:
    job = jobs.get_job(SID)
    if job is None:
        st.rerun()
    p = job.poll()
    if p.finished:
        st.rerun()                      # the whole page: the result and the replay live outside this fragment
    what = (_("Restoring **{model}**") if p.action == "restore" else _("Training **{model}**")).format(
        model=w.escape_md(w.model_label(p.name) if p.action == "restore" else p.name))
    st.subheader(f"{what} · {model_labels()[p.model_name]}", anchor=False)
    rec = p.recipe
    st.caption(_("{recipe} recipe: {epochs} epochs, batch {batch}, learning rate {lr:g}, dropout {dropout:g}, "
                 "weight decay {wd:g}, seed {seed} · {n} words (80% train, 20% validation)").format(
                   recipe=preset_labels().get(rec["name"], rec["name"]), epochs=p.epochs, batch=rec["batch_size"],
                   lr=rec["lr"], dropout=rec["dropout"], wd=rec["weight_decay"], seed=rec["seed"], n=p.n_words)
               + (f" · {w.escape_md(p.note)}" if p.note else ""))
    if p.status == "queued":
        label = _("Starting a training process (it loads PyTorch first; a few seconds)…")
    elif p.epoch == 0:
        label = _("Starting: building the model and running the first epoch…")
    else:
        label = (_("Epoch {epoch} of {epochs} · {elapsed} so far · about {eta} left").format(
                     epoch=p.epoch, epochs=p.epochs, elapsed=duration(p.elapsed), eta=duration(p.eta))
                 + (" " + _("(early stopping may end it sooner)") if rec.get("patience") else ""))
    bar, stop = st.columns([6, 1], vertical_alignment="bottom")
    bar.progress(p.fraction, text=label)
    if p.stop_requested:
        stop.button(_("Stopping…"), disabled=True, key="train.stopping", width="stretch")
        st.info(_("Stopping after this epoch; the best epoch so far will be kept and saved."))
    else:
        stop.button(_("Stop"), type="secondary", key="train.stop", icon=":material/stop_circle:", width="stretch",
                    on_click=stop_mine, help=_("End after the current epoch. The best epoch so far is kept and saved."))
    left, right = st.columns([1, 1], gap="large")
    with left:
        if p.history:
            w.chart(curves_figure(p.job_id, p.epoch, p.history), key="train.live_curves")
        else:
            st.info(_("The learning curves appear after the first epoch."))
    with right:
        if p.latest_snapshot is not None:
            attention_row(p.latest_snapshot, p.job_id, "train.live",
                          title=_("**Attention on “{word}” now** (epoch {epoch})").format(
                              word=w.escape_md(p.probe_word), epoch=p.latest_snapshot["epoch"]))


# ---- after training ---------------------------------------------------------------------------------------------
@st.fragment
def replay(p: jobs.JobProgress) -> None:
    """The stored snapshots, one epoch at a time (a fragment, so moving the slider redraws only this part)."""
    snaps = p.snapshots
    if not snaps:
        return
    st.subheader(_("Attention during training"), anchor=False)
    st.caption(_("How the model read the probe word **{word}** as it learned. Epoch 0 is the untrained "
                 "model: attention is close to uniform. Drag the slider to watch the pattern form.").format(
                   word=w.escape_md(p.probe_word)))
    epochs = [s["epoch"] for s in snaps]
    kept = p.kept_epoch if p.kept_epoch in epochs else epochs[-1]
    ep = st.select_slider(_("Epoch"), options=epochs, value=kept, key=f"train.replay.{p.job_id}",
                          format_func=option_labels(epochs, lambda e: _("{epoch} (kept)").format(epoch=e)
                                                    if e == p.kept_epoch else str(e)),
                          help=_("Snapshots were taken every few epochs, and at the last one."))
    snap = snaps[epochs.index(ep)]
    stats = next((h for h in p.history if h["epoch"] == ep), None)
    note = (_(" — validation NLL {prefix:.3f} (prefix-only), {tf:.3f} (teacher-forced)").format(
                prefix=stats["val_prefix_nll"], tf=stats["val_tf_nll"]) if stats else
            _(" — untrained, random weights"))
    if ep == p.kept_epoch:
        note += _(" · the saved model")
    attention_row(snap, p.job_id, f"train.replay_{p.job_id}", title=_("**Epoch {epoch}**").format(epoch=ep) + note)


def result_panel(p: jobs.JobProgress) -> None:
    label = w.model_label(p.name)
    if p.status == "failed":
        why = (folder_message(p.error_code) if p.error_code in ("full", "read-only", "permission") else
               _("The run reached this server's time limit in the middle of an epoch, so it was stopped. Fewer "
                 "epochs or a bigger batch size fit in the limit.") if p.error_code == "time-limit" else
               w.escape_md(render(p.error)))
        st.error(_("**{model} was not saved.** {why}").format(model=w.escape_md(p.name), why=why))
        st.info(_("Every saved model is as it was, and this run's training slot is free again: press **Train "
                  "another model** to try again."), icon=":material/info:")
    else:
        kept = p.kept_epoch
        if p.action == "restore":
            st.success(_("**{model}** is restored ({path}), kept epoch {kept}. Every page uses it again on its next "
                         "rerun — no restart needed.").format(model=w.escape_md(label), kept=kept,
                                                              path=f"`checkpoints/{p.name}.pt`"),
                       icon=":material/check_circle:")
        else:
            st.success(_("**{model}** is saved and is now in every page's model picker (Explore, Compare, Leak "
                         "lesson, Generate) — in every open session, no restart needed.").format(
                model=w.escape_md(p.name)), icon=":material/check_circle:")
        if p.status == "stopped":
            st.info(_("Stopped after epoch {epoch} because {why}. Kept epoch {kept}, the best so far.").format(
                epoch=p.epoch, why=w.escape_md(render(p.stop_reason)), kept=kept))
        elif p.stopped_early:
            st.info(_("Early stopping ended the run after epoch {epoch}: no better validation NLL for "
                      "{patience} epochs. Kept epoch {kept}, the best.").format(
                epoch=p.epoch, patience=p.recipe["patience"], kept=kept))
        m = p.metrics
        c = st.columns(5)
        c[0].metric(_("Kept epoch"), _("{kept} of {epochs}").format(kept=kept, epochs=p.epoch))
        c[1].metric(_("Validation NLL (honest)"), f"{m.get('val_prefix_nll', float('nan')):.3f}",
                    help=_("Prefix-only: each character predicted from the characters before it. Nats per "
                           "character; lower is better."))
        c[2].metric(_("Next-character accuracy"), f"{m.get('val_accuracy', 0):.1%}")
        c[3].metric(_("Training time"), duration(p.elapsed))
        c[4].metric(_("Parameters"), f"{m.get('n_params', 0):,}")
        if p.action == "train":
            st.page_link("app_pages/1_explore.py", label=_("Explore {model}").format(model=w.escape_md(p.name)),
                         icon=":material/search:",
                         query_params={"model": p.name})
    left, right = st.columns(2, gap="large")
    with left:
        if p.history:
            w.chart(curves_figure(p.job_id, p.epoch, p.history, saved=p.status != "failed"), key="train.final_curves")
    with right:
        replay(p)
    if st.button(_("Train another model"), type="primary", key="train.again", icon=":material/restart_alt:"):
        jobs.clear_job(SID)
        st.rerun()


# ---- set-up -----------------------------------------------------------------------------------------------------
def word_list():
    """The chosen word list, validated; None (with the reason on the page) when it can't be trained on."""
    src = st.radio(_("Word list"), ["shipped", "upload"], horizontal=True, key="train.words",
                   format_func={"shipped": _("Shipped list (data/words.txt)"), "upload": _("Upload a .txt file")}.get)
    try:
        if src == "shipped":
            words = wordlists.load_words(wordlists.DEFAULT_WORDS)
        else:
            up = st.file_uploader(_("One word per line, letters a–z"), type=["txt"], key="train.upload")
            if up is None:
                st.caption(_("Up to {n:,} words of at most {len} letters; duplicates are dropped, uppercase is "
                             "lowercased.").format(n=wordlists.MAX_WORDS, len=MAX_LEN))
                return None
            words = parse_words_bytes(up.getvalue(), source=up.name)
    except WordListError as e:
        st.error(_("**This word list can't be used, so nothing will be trained.** {why}").format(
            why=w.escape_md(render(e))))
        return None
    bits = [_("**{n:,}** words ready").format(n=len(words.words))]
    if words.duplicates_dropped:
        bits.append(_("{n:,} duplicate(s) dropped").format(n=words.duplicates_dropped))
    if words.blank_lines:
        bits.append(_("{n:,} blank line(s) skipped").format(n=words.blank_lines))
    st.caption(" · ".join(bits))
    return words


def setup_form() -> None:
    st.subheader(_("Set up a run"), anchor=False)
    c1, c2 = st.columns([1, 1], gap="large")
    with c1:
        model = st.selectbox(_("Model"), registry.train_flags(), format_func=model_labels().get, key="train.model",
                             persist_state=KEEP, on_change=apply_preset)
        if model == "full-peeking":
            st.caption(w.peek_warning())
        preset = st.segmented_control(_("Recipe"), list(PRESETS), format_func=preset_labels().get,
                                      key="train.preset", persist_state=KEEP, on_change=apply_preset, required=True)
        base = recipe_for(preset, model)
        if base.patience:
            st.markdown(_("In words: it learns from big batches of words, starts gently and slows down at the end, "
                          "keeps a smoothed average of the weights, blanks out a few letters so the model cannot just "
                          "memorise, and stops once the words it has not trained on stop getting easier to predict."))
            st.caption(_("**Fast:** AdamW, {n} warm-up epochs then a cosine schedule").format(n=base.warmup_epochs)
                       + (_(", scored and kept as a moving average of the weights (EMA {ema:g})").format(ema=base.ema)
                          if base.ema else "")
                       + (_(", trained on noised inputs (each character blanked to `<UNK>` with probability "
                            "{p:g})").format(p=base.input_noise) if base.input_noise else "")
                       + (_("; stops when the teacher-forced validation NLL has not improved for {n} epochs and "
                            "keeps the best epoch.") if base.select_on == "teacher_forced" else
                          _("; stops when the honest (prefix-only) validation NLL has not improved for {n} epochs "
                            "and keeps the best epoch.")).format(n=base.patience))
        else:
            st.markdown(_("In words: small batches at one steady pace for every epoch, and the last epoch is kept "
                          "even when an earlier one was better, as in the original notebook."))
            st.caption(_("**Original recipe:** Adam at a constant learning rate for every epoch, keeping the last "
                         "one (the seed notebook's design). Slower; Stop still keeps the best epoch so far."))
        k = st.columns(3)
        k[0].number_input(_("Epochs"), 1, 500, step=1, key="train.epochs", persist_state=KEEP)
        k[1].number_input(_("Batch size"), 1, 1024, step=8, key="train.batch_size", persist_state=KEEP)
        k[2].number_input(_("Learning rate"), 1e-5, 1.0, step=1e-4, format="%.4f", key="train.lr", persist_state=KEEP)
        k = st.columns(3)
        k[0].number_input(_("Dropout"), 0.0, 0.9, step=0.05, format="%.2f", key="train.dropout", persist_state=KEEP)
        k[1].number_input(_("Weight decay"), 0.0, 1.0, step=0.01, format="%.3f", key="train.weight_decay",
                          persist_state=KEEP)
        k[2].number_input(_("Seed"), 0, 2**31 - 1, step=1, key="train.seed", persist_state=KEEP)
    with c2:
        words = word_list()
        name_in = st.text_input(_("Name for the result"), key="train.name", placeholder=job_names.suggest_name(model),
                                help=_("{rule}. It is saved as checkpoints/user/<name>.pt.").format(
                                    rule=_(job_names.NAME_HELP)))
        replace = False
        name = None
        try:
            wanted = job_names.check_name(name_in or job_names.suggest_name(model))
            if job_names.may_replace(wanted, OWNER):       # only the session that made a model may replace it
                replace = st.checkbox(_("Replace my existing model “{model}”").format(model=w.escape_md(wanted)),
                                      key="train.replace")
            name, note = job_names.publish_name(wanted, replace=replace, owner=OWNER)
            st.caption(w.escape_md(render(note)) if note else _("Will be saved as **{model}**.").format(
                model=w.escape_md(name)))
        except job_errors.ModelNameError as e:
            st.error(w.escape_md(render(e)))
        probe = st.text_input(_("Probe word"), key="train.probe", placeholder=DEFAULT_PROBE,
                              help=_("Its attention is recorded every few epochs, so you can replay how it formed."))
        probe = romanize(probe or DEFAULT_PROBE).text.strip().lower()     # ねこ → neko, as every word box
        bad = DEFAULT_VOCAB.unknown_chars(probe)
        if bad or len(probe) > MAX_LEN:
            st.error((_("The probe word must be letters a–z (not {chars}) and at most {n} long.") if bad else
                      _("The probe word must be letters a–z and at most {n} long.")).format(
                chars=w.escape_md(", ".join(map(repr, bad))), n=MAX_LEN))
            probe = None

    try:
        recipe = dataclasses.replace(recipe_for(preset, model), **{k: st.session_state[f"train.{k}"] for k in KNOBS})
    except ValueError as e:
        st.error(_("These settings can't be trained: {why}.").format(why=w.escape_md(e)))
        recipe = None
    used = jobs.active_count()
    ready = words is not None and name is not None and probe is not None and recipe is not None
    go, info = st.columns([1, 4], vertical_alignment="center")
    clicked = go.button(_("Train"), type="primary", key="train.go", icon=":material/play_arrow:", disabled=not ready,
                        width="stretch")
    info.caption(_("Training runs on this server: **{used} of {max}** at once, each in a process of its own. One run "
                   "per student, at most {minutes:g} minutes each.").format(
        used=used, max=jobs.REGISTRY.max_running, minutes=settings.train_max_s() / 60))
    if clicked:
        try:
            jobs.start_job(SID, model, words, recipe, name=name, replace=replace, probe_word=probe,
                           session_alive=session_alive, browser=browser_id(), on_claim=class_models.recorder(model))
        except (class_models.ClassError, class_models.StoreUnavailable) as e:     # recording it in a class
            from ui.class_session import error_text
            st.error(error_text(e), icon=":material/error:")
        except job_errors.JobLimitError as e:
            st.warning(job_error(e), icon=":material/hourglass_top:")
        except job_errors.JobError as e:
            st.error(job_error(e))
        else:
            st.rerun()


def restore_section(busy: bool) -> None:
    """Only shown when a shipped checkpoint is missing or broken."""
    broken = jobs.broken_shipped(loader=bundle)
    if not broken:
        return
    st.divider()
    st.subheader(_("Restore shipped models"), anchor=False)
    st.caption(_("A shipped checkpoint is missing or can't be loaded. Retrain it here with the fast recipe on the "
                 "shipped word list (the same as `python -m models.train`); it takes a minute or two. "
                 "`git checkout -- checkpoints/` restores the exact original instead."))
    for name, why in broken.items():
        a, b = st.columns([4, 1], vertical_alignment="center")
        a.warning(_("**{model}** ({path}): {why}.").format(model=w.escape_md(w.model_label(name)),
                                                          path=f"`checkpoints/{name}.pt`",
                                                          why=w.escape_md(render(why).strip().rstrip("。."))))
        if b.button(_("Restore"), key=f"train.restore.{name}", disabled=busy, icon=":material/build:",
                    width="stretch"):
            try:
                jobs.start_restore_job(SID, name, session_alive=session_alive)
            except (job_errors.JobError, WordListError) as e:
                st.error(w.escape_md(render(e)))
            else:
                st.rerun()


job = jobs.get_job(SID)
if job is not None and job.active:
    live_panel()
elif job is not None:
    result_panel(job.poll())
else:
    setup_form()
restore_section(busy=job is not None and job.active)
