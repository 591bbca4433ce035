"""Join a class: the code from the board (or the QR code's link) and an optional nickname. The browser keeps an
anonymous token, so a reload or a dropped Wi-Fi brings the student back to where the class is."""

import streamlit as st

from services.class_store import NICKNAME_MAX, clean_code, shared_store
from ui import class_session as cs
from ui.i18n import _
from ui.text import escape_md

st.title(_("Join a class"))

if cs.is_student():
    try:
        c = shared_store().get_class(cs.code())
        me = shared_store().member(c.code, cs.token())
    except (cs.ClassError, cs.StoreUnavailable) as e:
        st.error(cs.error_text(e), icon=":material/error:")
        st.stop()
    who = escape_md(me.nickname) if me is not None and me.nickname else _("anonymous")
    st.success(_("You are in class {code} as {who}.").format(code=c.code, who=who), icon=":material/group:")
    if st.button(_("Leave the class"), key="join.leave", icon=":material/logout:"):
        cs.leave()
        st.rerun()
    st.stop()

st.markdown(_("Type the code your teacher shows. A nickname is optional: the class sees it, so any name will do."))
with st.form("join.form"):
    code_in = st.text_input(
        _("Join code"),
        value=str(st.query_params.get("code", ""))[:12],
        max_chars=12,
        key="join.code",
        placeholder="ABCDE",
    )
    nick_in = st.text_input(_("Nickname (optional)"), max_chars=NICKNAME_MAX, key="join.nick")
    go = st.form_submit_button(_("Join"), icon=":material/login:", type="primary")
if go:
    code = clean_code(code_in)
    if not code:
        st.error(_("A join code is 5 letters and digits, like ABC23."), icon=":material/error:")
    else:
        with cs.reported():
            cs.join(code, nick_in)
            st.session_state["class.stage"] = None  # arrive where the class is (app.py's class bar follows)
            st.rerun()
