"""Attention Lab — type a word and watch what small transformers attend to.

``streamlit run app.py``. This entrypoint owns navigation (st.navigation, no pages/ auto-discovery: the folder is app_pages/ so Streamlit never sees a pages/ folder) and the
shared sidebar; each page in app_pages/ is a thin recipe over models/ and viz/.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:       # pages import models/, viz/ and ui/ from here
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="Attention Lab", page_icon="🔎", layout="wide")

# Session state: small named values only, initialised once, keys prefixed by page (STYLE.md §10).
for key, value in {"explore.top_k": 8, "explore.temperature": 1.0, "explore.view": "head",
                   "compare.query": -1, "gen.step": 0}.items():
    st.session_state.setdefault(key, value)

pages = [
    st.Page(ROOT / "app_pages" / "0_lesson.py", title="Lesson", url_path="lesson"),
    st.Page(ROOT / "app_pages" / "1_explore.py", title="Explore", default=True),
    st.Page(ROOT / "app_pages" / "2_compare.py", title="Compare"),
    st.Page(ROOT / "app_pages" / "3_leak.py", title="Leak lesson"),
    st.Page(ROOT / "app_pages" / "4_generate.py", title="Generate"),
    st.Page(ROOT / "app_pages" / "5_train.py", title="Train"),
]
page = st.navigation(pages)

with st.sidebar:
    st.markdown("### :material/search: Attention Lab")
    st.caption("Tiny character-level transformers trained on ~1000 animal, fruit and vegetable names. "
               "Type, and every view updates on each keystroke.")
    st.markdown(
        "- **MiniFormer** — 1 layer, 1 head, causal.\n"
        "- **FullTransformer** — encoder 2×4 heads + decoder 2 layers, leak-free.\n"
        "- **FullTransformer — peeking** — the original design, which reads the answer.")
    from models.device import pick_device
    st.caption(f"Running on **{pick_device().type.upper()}**.")

page.run()
