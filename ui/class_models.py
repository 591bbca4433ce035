"""Students' models in a class (issue 22, item 6): a model a student trains during a class shows in that student's
pickers and the teacher's, not in the other students' (30 students pressing Train in step 8 would otherwise give
everyone a picker of 30 ``lesson-miniformer-N``); the teacher's page lists them and clears them.

How: when a run in a class claims its name (``services.jobs.start_job(on_claim=...)``), the store records whose it
is (:meth:`services.class_store.ClassStore.add_model`) before the run starts, so the file is never published
unrecorded. :func:`visible` filters the names every picker lists (``ui.cache.available_models``). Outside a class
nothing changes: the store is not even opened. A model the teacher trains is not recorded: it is for the class to see.

Only small named values in ``st.session_state`` (``class.code``, ``class.token``, ``class.secret``, read here by
name so this module imports nothing of ``ui`` and ``ui.cache`` can call it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import streamlit as st

from services.class_store import ClassError, ClassModel, StoreUnavailable, shared_store


def _me() -> tuple[str | None, str, bool]:
    """(class code, member token, is the teacher) of this session; code None outside a class."""
    ss = st.session_state
    code = ss.get("class.code")
    return (code or None), (ss.get("class.token") or ""), bool(code and ss.get("class.secret"))


def hidden(records: Sequence[ClassModel], code: str | None, token: str, teacher: bool) -> set[str]:
    """The names a session may not see: every class's models but its own (a student) or its class's (the
    teacher). Other classes on the same server stay apart."""
    if not code:
        return set()
    return {m.name for m in records if m.code != code or not (teacher or (token and m.token == token))}


def visible(names: list[str]) -> list[str]:
    """``names`` (the checkpoints on disk) less the models other students trained in a class. Outside a class, or
    when the store can't be read, ``names`` as they are (a store that is down must not empty every picker)."""
    code, token, teacher = _me()
    if not code:
        return names
    try:
        drop = hidden(shared_store().class_models(), code, token, teacher)
    except (ClassError, StoreUnavailable):
        return names
    return [n for n in names if n not in drop] if drop else names


def recorder(model_name: str) -> Callable[[str], None] | None:
    """What ``start_job(on_claim=...)`` calls with the claimed name in a class: records the student's model (the
    store error, if any, goes up and the run does not start). None for the teacher and outside a class."""
    code, token, teacher = _me()
    if not code or teacher or not token:
        return None

    def record(name: str) -> None:
        shared_store().add_model(code, token, name, model_name)

    return record


def clear(names: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """The teacher clears the class's models (``names``, or all): the checkpoint files, then the records.
    Returns (cleared, still training: left alone). Anyone but the teacher gets ``ClassError("wrong_secret")``,
    and nothing is touched."""
    from models import checkpoint_folder
    from services.job_names import user_path

    code, _token, teacher = _me()
    store = shared_store()
    secret = st.session_state.get("class.secret") or ""
    if not (code and teacher and store.check_secret(code, secret)):
        raise ClassError("wrong_secret")
    mine = [m.name for m in store.class_models(code) if names is None or m.name in set(names)]
    busy, done = [], []
    for name in mine:
        path = user_path(name)
        if checkpoint_folder.claimed(path):  # still training: its file comes later and must stay recorded
            busy.append(name)
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # the file first: a record without a file shows nothing
        done.append(name)
    if done:
        store.remove_models(code, secret, done)
    return done, busy


def teacher_panel(code: str) -> None:
    """On the teacher's page: who trained what and when, and Clear (chosen ones or all)."""
    import datetime

    import settings
    from ui.class_session import error_text
    from ui.i18n import _

    try:
        store = shared_store()
        records = store.class_models(code)
        members = {m.token: m.nickname for m in store.members(code)}
    except (ClassError, StoreUnavailable) as e:
        st.error(error_text(e), icon=":material/error:")
        return
    st.subheader(_("Models trained in this class"), anchor=False)
    if st.session_state.get("teach.models.done"):
        n, k = st.session_state.pop("teach.models.done")
        st.success(
            _("{n} cleared.").format(n=n)
            + ("" if not k else " " + _("{k} still training: clear them when their run ends.").format(k=k)),
            icon=":material/delete:",
        )
    if not records:
        st.caption(
            _(
                "None yet. A model a student trains during the class shows in that student's pickers and "
                "here, not in the other students'."
            )
        )
        return
    ids = {t: f"s{i + 1:03d}" for i, t in enumerate(members)}
    rows = [
        {
            _("Student"): members.get(m.token) or ids.get(m.token, "?"),
            _("When"): datetime.datetime.fromtimestamp(m.at).strftime("%H:%M"),
            _("Model"): m.name,
            _("Architecture"): m.model,
            _("Saved"): "✓" if (settings.user_ckpt_dir() / f"{m.name}.pt").exists() else _("training"),
        }
        for m in records
    ]
    st.dataframe(rows, hide_index=True, width="stretch")  # nicknames as cell text, never markup
    a, b, c = st.columns([3, 1.2, 1.2], vertical_alignment="bottom")
    pick = a.multiselect(
        _("Models to clear"), [m.name for m in records], key="teach.models.pick", placeholder=_("Choose models")
    )
    clicked = None
    if b.button(
        _("Clear the chosen"), key="teach.models.clear", icon=":material/delete:", disabled=not pick, width="stretch"
    ):
        clicked = list(pick)
    if c.button(_("Clear all"), key="teach.models.clear_all", icon=":material/delete_sweep:", width="stretch"):
        clicked = None if not records else [m.name for m in records]
    if clicked:
        try:
            done, busy = clear(clicked)
        except (ClassError, StoreUnavailable) as e:
            st.error(error_text(e), icon=":material/error:")
            return
        except OSError as e:
            st.error(_("A model file can't be removed: {why}").format(why=type(e).__name__), icon=":material/error:")
            return
        st.session_state["teach.models.done"] = (len(done), len(busy))
        st.session_state.pop("teach.models.pick", None)
        st.rerun()
