"""Attention Lab — type a word and watch what small transformers attend to.

``streamlit run app.py``. This entrypoint owns navigation (st.navigation, no pages/ auto-discovery: the folder is
app_pages/ so Streamlit never sees a pages/ folder) and the shared sidebar; each page in app_pages/ is a thin
recipe over models/ and viz/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas  # noqa: F401  (imported whole before any figure: see below)
import streamlit as st

# Sessions run this script on threads of their own. plotly reads pandas straight from sys.modules when a figure has
# list data (its validators), so a session building its first figure while another thread is still importing pandas
# got "partially initialized module 'pandas' has no attribute 'Series'" (a class arriving at once, e2e). The import
# above takes pandas' import lock: every run waits here until pandas is whole.
ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import models/, viz/ and ui/ from here
    sys.path.insert(0, str(ROOT))

from ui import projector, session_defaults, uploads  # noqa: E402  (after the sys.path line above)
from ui.i18n import LANGUAGE_NAMES, LANGUAGES, _, browser_language  # noqa: E402  (after the sys.path line above)

uploads.bound_per_session()  # a session keeps at most a few uploaded files (ui/uploads.py)

projector.init_from_url()  # ?present=1: projector mode, whose sidebar starts collapsed
st.set_page_config(
    page_title="Attention Lab",
    page_icon="🔎",
    layout="wide",
    initial_sidebar_state="collapsed" if projector.on() else "auto",
)

# Session state: small named values only, every page's in one place, keys prefixed by page (STYLE.md §10).
session_defaults.apply()

# The language first: every string below, page titles included, is drawn in it. ?lang=ja|en, else the browser's.
if "lang" not in st.session_state:
    wanted = st.query_params.get("lang")
    st.session_state["lang"] = wanted if wanted in LANGUAGES else browser_language()
st.sidebar.segmented_control(
    "Language · 言語", LANGUAGES, key="lang", bind="query-params", required=True, format_func=LANGUAGE_NAMES.get
)
projector.switch(
    _("Projector mode"),
    help=_(
        "Large text and charts for a 1920 × 1080 projector; the sidebar "
        "collapses and secondary controls go behind “More controls”. "
        "A link with ?present=1 opens in this mode."
    ),
)

# Every page answers at the address the teacher guides print (docs/teaching*.md): /lesson, /explore, /compare, ...
# Streamlit serves the default page at / only (its own url_path then leads nowhere), so the menu's Explore is the
# page at /explore and the bare address opens the same script through a hidden default page.
EXPLORE = ROOT / "app_pages" / "1_explore.py"
pages = [
    st.Page(ROOT / "app_pages" / "0_lesson.py", title=_("Lesson"), url_path="lesson"),
    st.Page(EXPLORE, title=_("Explore"), url_path="explore"),
    st.Page(ROOT / "app_pages" / "2_compare.py", title=_("Compare"), url_path="compare"),
    st.Page(ROOT / "app_pages" / "3_leak.py", title=_("Leak lesson"), url_path="leak"),
    st.Page(ROOT / "app_pages" / "4_generate.py", title=_("Generate"), url_path="generate"),
    st.Page(ROOT / "app_pages" / "5_train.py", title=_("Train"), url_path="train"),
    st.Page(ROOT / "app_pages" / "6_heads.py", title=_("Head lab"), url_path="heads"),
    st.Page(ROOT / "app_pages" / "7_real_model.py", title=_("Real model"), url_path="real_model"),
    st.Page(ROOT / "app_pages" / "8_teach.py", title=_("Teach a class"), url_path="teach"),
    st.Page(ROOT / "app_pages" / "9_join.py", title=_("Join a class"), url_path="join"),
    st.Page(EXPLORE, title=_("Explore"), url_path="start", default=True, visibility="hidden"),
]
page = st.navigation(pages)

with st.sidebar:
    st.markdown("### :material/search: Attention Lab")
    st.caption(
        _(
            "Tiny character-level transformers trained on ~1000 animal, fruit and vegetable names. "
            "Type, and every view updates on each keystroke."
        )
    )
    from models import registry

    st.markdown("\n".join(f"- {_(s.summary)}" for s in registry.MODELS))
    st.caption(
        _(
            "The FullTransformer's source is the word it predicts, so the leak-free one masks its encoder and "
            "cross-attention like its decoder. The original Transformer reads a whole sentence to translate: "
            "its source is not the answer, so it needs no such mask."
        )
    )
    from models.device import pick_device

    st.caption(_("Running on **{device}**.").format(device=pick_device().type.upper()))

from ui.cache import app_started, settle_heap  # noqa: E402  (here: torch is imported by now, after the sidebar)

app_started()  # once per process: clean up after a killed training run
from ui import class_session  # noqa: E402

class_session.init()  # a class this browser is in (cookie or teacher's link), once per session
class_session.bar(page, pages)  # in a class: follow the teacher, or "the class is elsewhere"
page.run()
settle_heap()  # keep the garbage collector off the long-lived heap (a full pass cost ~140 ms)
