"""Choosing a checkpoint: the model picker (bound to the URL, paged when a class leaves thousands), Compare's
two pickers, and loading a choice with a clear message instead of a traceback."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from models import registry
from models.checkpoint import CheckpointError, ModelBundle
from ui.cache import available_models, bundle
from ui.cards import model_card
from ui.i18n import _, option_labels, render
from ui.text import escape_md, model_label

PICKER_PAGE = 30  # trained models per page of the picker: a class may leave thousands in the folder


def picker_page(names: list[str], key: str, container=st) -> list[str]:
    """The shipped models and one page of the trained ones (newest first), with a search box and a page number
    once there are more than :data:`PICKER_PAGE`: 5,000 models in the folder made every rerun send a 5,000-option
    picker. The chosen model stays in the list whatever the page."""
    shipped = [n for n in names if n in registry.shipped_names()]
    user = [n for n in names if n not in registry.shipped_names()]
    if len(user) <= PICKER_PAGE:
        return names
    # One row, search box and page number, so the picker keeps its place beside the page's other inputs.
    left, right = container.columns([3, 2], vertical_alignment="bottom")
    find = left.text_input(
        _("Find a trained model"),
        key=f"{key}.find",
        max_chars=40,
        placeholder=_("part of its name"),
        help=_("{n:,} trained models on this server; the picker shows {page} at a time, newest first.").format(
            n=len(user), page=PICKER_PAGE
        ),
    )
    q = (find or "").strip().lower()
    matches = [n for n in user if q in n] if q else user
    pages = max(1, -(-len(matches) // PICKER_PAGE))
    page = 1
    if pages > 1:
        page = int(right.number_input(_("Page (of {n})").format(n=pages), 1, pages, 1, key=f"{key}.page"))
    shown = matches[(min(page, pages) - 1) * PICKER_PAGE :][:PICKER_PAGE]
    current = st.session_state.get(key)
    if current in user and current not in shown:
        shown = [current, *shown]
    return shipped + shown


def model_picker(key: str, label: str | None = None, *, default: str | None = None, container=st) -> str | None:
    """A checkpoint selectbox bound to the URL. Lists what is on disk now, so a model trained in another
    session shows up on the next rerun."""
    every = available_models()
    if not every:
        st.error(
            _(
                "No checkpoints found in `checkpoints/`. Restore the shipped ones with `git checkout -- "
                "checkpoints/` or train one: `python -m models.train --model miniformer`."
            )
        )
        return None
    if key in st.session_state and st.session_state[key] not in every:
        del st.session_state[key]  # a checkpoint deleted meanwhile
    wanted = st.query_params.get(key)
    # One key on several pages (Explore, Head lab): as in text_box, the box on the next page is a new widget that
    # opened on the first model; writing the session's choice (kept under a non-widget key) on a page's first run
    # carries it over.
    kept = st.session_state.get(f"{key}.kept")
    here = get_script_run_ctx().page_script_hash
    first_here = st.session_state.get(f"{key}.on_page") != here
    st.session_state[f"{key}.on_page"] = here
    if first_here and kept in every and default is None:  # (a default index + a write: a Streamlit warning)
        st.session_state[key] = kept  # the model this session chose on another page (Explore -> Head lab)
    elif key not in st.session_state and wanted in every:
        st.session_state[key] = wanted  # a shared link: ?model=full_transformer
    names = picker_page(every, key, container)
    index = names.index(default) if default in names else 0
    # The URL carries the checkpoint name (not the pretty label), so a teacher's link stays short and stable.
    choice = container.selectbox(
        label or _("Model"), names, index=index, key=key, format_func=option_labels(names, model_label)
    )
    st.session_state[f"{key}.kept"] = choice
    # Write only on change: setting a query param on every rerun sends the server's copy of the whole query string
    # back to the browser and overwrites a newer ?text= from the live text box (the URL lagged a keystroke behind).
    if st.query_params.get(key) != choice:
        st.query_params[key] = choice
    return choice


def compare_pickers() -> tuple[dict[str, str], dict[str, ModelBundle]]:
    """Compare's two model pickers side by side, each with its compact model card: ({side: name}, {side: bundle})
    for sides "left" and "right". Stops the page when a side has no model or its checkpoint can't be loaded (the
    message is already on the page). Used by the server path and the browser path alike."""
    pickers = st.columns(2, gap="medium")
    names = {
        "left": model_picker("compare.left", _("Left model"), default="miniformer", container=pickers[0]),
        "right": model_picker("compare.right", _("Right model"), default="full_transformer", container=pickers[1]),
    }
    if None in names.values():
        st.stop()
    bundles = {}
    for side, col in zip(("left", "right"), pickers):
        with col:
            bundles[side] = load_or_explain(names[side])
            if bundles[side] is not None:
                model_card(bundles[side], compact=True)
    if None in bundles.values():
        st.stop()
    return names, bundles


def load_or_explain(name: str) -> ModelBundle | None:
    """The cached model, or a clear message on the page (never a traceback) when its checkpoint is broken. The
    loader has checked the file's config and metadata, so a bundle returned here has the typed ``meta`` that
    :func:`model_card` and the pages read; the failure is cached (ui.cache), so a rerun doesn't pay for it again."""
    try:
        return bundle(name)
    except CheckpointError as e:
        st.error(
            _("**Cannot load {model}.** {why}").format(model=escape_md(model_label(name)), why=escape_md(render(e)))
        )
        return None
