"""Teach: start a class (a join code and its QR code for the back row), take it over again with the teacher's link or
PIN, and see who joined, who answered and a CSV of the results. The class itself is led from the Lesson."""

import streamlit as st

import settings
from services.class_store import clean_code, shared_store
from ui import class_models, class_plan
from ui import class_session as cs
from ui.i18n import _
from ui.text import escape_md

st.title(_("Teach a class"))

if not cs.is_teacher():
    pin_needed = bool(settings.teacher_pin())
    st.markdown(
        _(
            "Start a class, show its code (or QR code) on the projector, and every student who joins follows "
            "you through the Lesson. Each question is opened, closed and revealed by you, and the projector "
            "shows the class's guesses beside the model's answer."
        )
    )
    with st.form("teach.start", border=True):
        pin = st.text_input(_("Teacher PIN"), type="password", max_chars=64, key="teach.pin") if pin_needed else ""
        if st.form_submit_button(_("Start a class"), icon=":material/school:", type="primary"):
            with cs.reported():
                c = cs.start_class(pin)
                if not pin_needed:  # the teacher's own link carries the key
                    st.query_params.update({"class": c.code, "key": cs.secret()})
                st.rerun()
    with st.expander(_("Take over a running class"), icon=":material/key:"):
        with st.form("teach.takeover", border=False):
            code_in = st.text_input(_("Join code"), max_chars=12, key="teach.code")
            key_in = st.text_input(_("Teacher key or PIN"), type="password", max_chars=64, key="teach.key")
            if st.form_submit_button(_("Take over")):
                with cs.reported():
                    if not cs.take_over(clean_code(code_in), key_in):
                        st.error(cs.error_text(cs.ClassError("wrong_secret")), icon=":material/error:")
                    else:
                        st.rerun()
    st.stop()

try:
    c = shared_store().get_class(cs.code())
except (cs.ClassError, cs.StoreUnavailable) as e:
    if not isinstance(e, cs.StoreUnavailable):  # the class bar above has said what is wrong with the store
        st.error(cs.error_text(e), icon=":material/error:")
    st.stop()

address = cs.join_address(c.code)


def join_block() -> None:
    """The join code and its QR code, large for the back row."""
    left, right = st.columns([3, 2], gap="large", vertical_alignment="center")
    with left:
        st.markdown(
            _("Join at **{address}** with the code").format(address=escape_md(address.split("/join")[0] + "/join"))
        )
        st.markdown(
            f"<div style='font-size:7rem;font-weight:800;letter-spacing:0.15em;line-height:1.1'>{c.code}</div>",
            unsafe_allow_html=True,
        )  # the code: our own letters A–Z and 2–9, never user text
        if not c.active:
            st.warning(_("This class has ended."), icon=":material/event_busy:")
    with right:
        st.image(cs.qr_png(address), width=420, caption=_("Scan to join"))


# Before the first question the page is the projector's join screen; once the class is under way it is the teacher's
# presenter view (on the laptop, beside the projected Lesson), with the code one click away for latecomers.
started = bool(c.question) or (c.page, c.step) != ("lesson", 1)
if not started:
    join_block()
else:
    with st.expander(_("Join code {code} and its QR code").format(code=c.code), icon=":material/qr_code_2:"):
        join_block()

if c.active:
    a, b, e = st.columns(3)
    a.page_link(
        "app_pages/0_lesson.py",
        label=_("Lead the Lesson"),
        icon=":material/school:",
        query_params={"step": str(c.step or 1)},
    )
    b.caption(cs.elapsed_text(c.created))
    if e.button(_("End the class"), key="teach.end", icon=":material/stop_circle:"):
        with cs.reported():
            shared_store().end_class(c.code, cs.secret())
            st.rerun()

class_plan.presenter(c.code)  # notes, timer, who joined and answered, the funnel
try:
    asked = bool(shared_store().results(c.code))
except (cs.ClassError, cs.StoreUnavailable):
    asked = False  # the presenter view above has said why
if asked:
    d1, d2 = st.columns(2)
    d1.download_button(
        _("Download the results (CSV)"),
        cs.results_csv(c.code),
        file_name=f"class-{c.code}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    d2.download_button(
        _("Download the class summary (HTML, works offline)"),
        cs.summary(c.code),
        file_name=f"class-{c.code}.html",
        mime="text/html",
        icon=":material/description:",
    )
class_models.teacher_panel(c.code)
if not cs.is_student():
    with st.expander(_("The teacher's link"), icon=":material/key:"):
        st.caption(
            _(
                "Keep it private: whoever opens it leads the class. Bookmark it to come back after a reload "
                "on another machine."
            )
        )
        st.code(f"{address.split('/join')[0]}/teach?class={c.code}&key={cs.secret()}", language=None)
