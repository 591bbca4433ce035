"""Train: set up a run, watch the loss fall and the attention form, and publish the model to every page's picker.

Training runs in a worker process of its own (services/jobs.py); this page only starts a job and polls it from a
fragment.
"""

import dataclasses

import streamlit as st

import settings
from models import data as wordlists
from models import registry
from models.data import WordListError, parse_words_bytes
from models.train import recipe_for
from models.vocab import DEFAULT_VOCAB, romanize
from services import job_errors, job_names, jobs, train_worker
from ui import training_panel as TP
from ui.cache import bundle
from ui.i18n import _, render
from ui.text import escape_md, model_label, peek_warning

PRESETS = ("fast", "seed")
KNOBS = ("epochs", "batch_size", "lr", "dropout", "weight_decay", "seed")
# The form is not drawn while a run and its result are shown; without persist_state Streamlit drops the widgets' state,
# and the remounted widgets showed their minimum values (epochs 1, batch 1, lr 0, no recipe) and sent them back.
KEEP = "session"
MAX_LEN = 46  # letters per word: the context of 48 tokens less <BOS> and <EOS>

SID = TP.session_id()  # the session's job slot (the Lesson's step 8 shares it)
OWNER = job_names.owner_id(SID)  # what this session's checkpoints record as their maker


def saved(p: jobs.JobProgress) -> str:
    if p.action == "restore":
        return _(
            "**{model}** is restored ({path}), kept epoch {kept}. Every page uses it again on its next "
            "rerun — no restart needed."
        ).format(model=escape_md(model_label(p.name)), kept=p.kept_epoch, path=f"`checkpoints/{p.name}.pt`")
    return _(
        "**{model}** is saved and is now in every page's model picker (Explore, Compare, Leak "
        "lesson, Generate) — in every open session, no restart needed."
    ).format(model=escape_md(p.name))


def look() -> TP.Look:
    return TP.Look(
        key="train",
        saved=saved,
        again=_("Train another model"),
        retry=_("Train another model"),
        not_saved=lambda p, why: _("**{model} was not saved.** {why}").format(model=escape_md(p.name), why=why),
    )


def apply_preset() -> None:
    """Fill the knobs from the chosen preset for the chosen model (runs before the widgets are drawn)."""
    rec = recipe_for(st.session_state["train.preset"], st.session_state["train.model"])
    for k in KNOBS:
        st.session_state[f"train.{k}"] = getattr(rec, k)


if "train.epochs" not in st.session_state:
    apply_preset()

st.title(":material/model_training: " + _("Train"))
st.caption(
    _(
        "Train a model of your own on the word list, watch the loss fall and the attention pattern form, and "
        "find the result in every page's model picker. Training runs in the background: other pages and other "
        "people's sessions stay responsive."
    )
)


# ---- set-up -----------------------------------------------------------------------------------------------------
def word_list():
    """The chosen word list, validated; None (with the reason on the page) when it can't be trained on."""
    src = st.radio(
        _("Word list"),
        ["shipped", "upload"],
        horizontal=True,
        key="train.words",
        format_func={"shipped": _("Shipped list (data/words.txt)"), "upload": _("Upload a .txt file")}.get,
    )
    try:
        if src == "shipped":
            words = wordlists.load_words(wordlists.DEFAULT_WORDS)
        else:
            up = st.file_uploader(_("One word per line, letters a–z"), type=["txt"], key="train.upload")
            if up is None:
                st.caption(
                    _(
                        "Up to {n:,} words of at most {len} letters; duplicates are dropped, uppercase is lowercased."
                    ).format(n=wordlists.MAX_WORDS, len=MAX_LEN)
                )
                return None
            words = parse_words_bytes(up.getvalue(), source=up.name)
    except WordListError as e:
        st.error(
            _("**This word list can't be used, so nothing will be trained.** {why}").format(why=escape_md(render(e)))
        )
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
        model = st.selectbox(
            _("Model"),
            registry.train_flags(),
            format_func=TP.model_labels().get,
            key="train.model",
            persist_state=KEEP,
            on_change=apply_preset,
        )
        if registry.by_train_flag(model).peeking:
            st.caption(peek_warning())
        preset = st.segmented_control(
            _("Recipe"),
            list(PRESETS),
            format_func=TP.preset_labels().get,
            key="train.preset",
            persist_state=KEEP,
            on_change=apply_preset,
            required=True,
        )
        base = recipe_for(preset, model)
        if base.patience:
            st.markdown(
                _(
                    "In words: it learns from big batches of words, starts gently and slows down at the end, "
                    "keeps a smoothed average of the weights, blanks out a few letters so the model cannot just "
                    "memorise, and stops once the words it has not trained on stop getting easier to predict."
                )
            )
            st.caption(
                _("**Fast:** AdamW, {n} warm-up epochs then a cosine schedule").format(n=base.warmup_epochs)
                + (
                    _(", scored and kept as a moving average of the weights (EMA {ema:g})").format(ema=base.ema)
                    if base.ema
                    else ""
                )
                + (
                    _(", trained on noised inputs (each character blanked to `<UNK>` with probability {p:g})").format(
                        p=base.input_noise
                    )
                    if base.input_noise
                    else ""
                )
                + (
                    _(
                        "; stops when the teacher-forced validation NLL has not improved for {n} epochs and "
                        "keeps the best epoch."
                    )
                    if base.select_on == "teacher_forced"
                    else _(
                        "; stops when the honest (prefix-only) validation NLL has not improved for {n} epochs "
                        "and keeps the best epoch."
                    )
                ).format(n=base.patience)
            )
        else:
            st.markdown(
                _(
                    "In words: small batches at one steady pace for every epoch, and the last epoch is kept "
                    "even when an earlier one was better, as in the original notebook."
                )
            )
            st.caption(
                _(
                    "**Original recipe:** Adam at a constant learning rate for every epoch, keeping the last "
                    "one (the seed notebook's design). Slower; Stop still keeps the best epoch so far."
                )
            )
        k = st.columns(3)
        k[0].number_input(_("Epochs"), 1, 500, step=1, key="train.epochs", persist_state=KEEP)
        k[1].number_input(_("Batch size"), 1, 1024, step=8, key="train.batch_size", persist_state=KEEP)
        k[2].number_input(_("Learning rate"), 1e-5, 1.0, step=1e-4, format="%.4f", key="train.lr", persist_state=KEEP)
        k = st.columns(3)
        k[0].number_input(_("Dropout"), 0.0, 0.9, step=0.05, format="%.2f", key="train.dropout", persist_state=KEEP)
        k[1].number_input(
            _("Weight decay"), 0.0, 1.0, step=0.01, format="%.3f", key="train.weight_decay", persist_state=KEEP
        )
        k[2].number_input(_("Seed"), 0, 2**31 - 1, step=1, key="train.seed", persist_state=KEEP)
    with c2:
        words = word_list()
        name_in = st.text_input(
            _("Name for the result"),
            key="train.name",
            placeholder=job_names.suggest_name(model),
            help=_("{rule}. It is saved as checkpoints/user/<name>.pt.").format(rule=_(job_names.NAME_HELP)),
        )
        replace = False
        name = None
        try:
            wanted = job_names.check_name(name_in or job_names.suggest_name(model))
            if job_names.may_replace(wanted, OWNER):  # only the session that made a model may replace it
                replace = st.checkbox(
                    _("Replace my existing model “{model}”").format(model=escape_md(wanted)), key="train.replace"
                )
            name, note = job_names.publish_name(wanted, replace=replace, owner=OWNER)
            st.caption(
                escape_md(render(note)) if note else _("Will be saved as **{model}**.").format(model=escape_md(name))
            )
        except job_errors.ModelNameError as e:
            st.error(escape_md(render(e)))
        probe = st.text_input(
            _("Probe word"),
            key="train.probe",
            placeholder=train_worker.DEFAULT_PROBE,
            help=_("Its attention is recorded every few epochs, so you can replay how it formed."),
        )
        probe = romanize(probe or train_worker.DEFAULT_PROBE).text.strip().lower()  # ねこ → neko, as every word box
        bad = DEFAULT_VOCAB.unknown_chars(probe)
        if bad or len(probe) > MAX_LEN:
            st.error(
                (
                    _("The probe word must be letters a–z (not {chars}) and at most {n} long.")
                    if bad
                    else _("The probe word must be letters a–z and at most {n} long.")
                ).format(chars=escape_md(", ".join(map(repr, bad))), n=MAX_LEN)
            )
            probe = None

    try:
        recipe = dataclasses.replace(recipe_for(preset, model), **{k: st.session_state[f"train.{k}"] for k in KNOBS})
    except ValueError as e:
        st.error(_("These settings can't be trained: {why}.").format(why=escape_md(e)))
        recipe = None
    used = jobs.active_count()
    ready = words is not None and name is not None and probe is not None and recipe is not None
    go, info = st.columns([1, 4], vertical_alignment="center")
    clicked = go.button(
        _("Train"), type="primary", key="train.go", icon=":material/play_arrow:", disabled=not ready, width="stretch"
    )
    info.caption(
        _(
            "Training runs on this server: **{used} of {max}** at once, each in a process of its own. One run "
            "per student, at most {minutes:g} minutes each."
        ).format(used=used, max=jobs.REGISTRY.max_running, minutes=settings.train_max_s() / 60)
    )
    if (
        clicked
        and TP.start(SID, model, recipe, name=name, words=words, replace=replace, probe_word=probe, watch_session=True)
        is not None
    ):
        st.rerun()


def restore_section(busy: bool) -> None:
    """Only shown when a shipped checkpoint is missing or broken."""
    broken = jobs.broken_shipped(loader=bundle)
    if not broken:
        return
    st.divider()
    st.subheader(_("Restore shipped models"), anchor=False)
    st.caption(
        _(
            "A shipped checkpoint is missing or can't be loaded. Retrain it here with the fast recipe on the "
            "shipped word list (the same as `python -m models.train`); it takes a minute or two. "
            "`git checkout -- checkpoints/` restores the exact original instead."
        )
    )
    for name, why in broken.items():
        a, b = st.columns([4, 1], vertical_alignment="center")
        a.warning(
            _("**{model}** ({path}): {why}.").format(
                model=escape_md(model_label(name)),
                path=f"`checkpoints/{name}.pt`",
                why=escape_md(render(why).strip().rstrip("。.")),
            )
        )
        if b.button(_("Restore"), key=f"train.restore.{name}", disabled=busy, icon=":material/build:", width="stretch"):
            try:
                jobs.start_restore_job(SID, name, session_alive=TP.session_alive)
            except (job_errors.JobError, WordListError) as e:
                st.error(escape_md(render(e)))
            else:
                st.rerun()


job = jobs.get_job(SID)
if job is not None and job.active:
    TP.live_panel(SID, look())
elif job is not None:
    TP.result_panel(SID, job.poll(), look())
else:
    setup_form()
restore_section(busy=job is not None and job.active)
