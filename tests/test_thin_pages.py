"""Issue 23 item 4 and item 5's second half: one training panel (ui/training_panel.py) for the Lesson and the Train
page, no tensor math in the Lesson page, and every page's session defaults in ui/session_defaults.py with the
sliders carrying their own first values."""

from __future__ import annotations

import re

import torch
from lab_fixtures import REPO, shown

from models.capture import AttentionCapture
from viz import lesson as L

APP = str(REPO / "app.py")
PAGES = REPO / "app_pages"


def source(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def test_one_training_panel_serves_the_lesson_and_the_train_page():
    """Neither page carries a panel of its own (a polling fragment, its own start or its own result); both draw the
    one in ui/training_panel.py."""
    for page in ("0_lesson.py", "5_train.py"):
        src = source(page)
        assert "@st.fragment" not in src, page
        assert "jobs.start_job(" not in src and "get_script_run_ctx" not in src, page
        assert "TP.live_panel(" in src and "TP.result_panel(" in src and "TP.session_id()" in src, page
    from ui import training_panel as TP

    assert TP.SID_KEY == "train.sid"


def test_the_lesson_page_does_no_tensor_math():
    src = source("0_lesson.py")
    found = re.findall(
        r"\.(?:argmax|argmin|max|min|sum|mean|diagonal|softmax|shape)\b(?!\()|"
        r"\.(?:argmax|argmin|max|sum|mean|diagonal|softmax)\(",
        src,
    )
    assert not found, found
    assert "import torch" not in src


def _cap(pattern: torch.Tensor) -> AttentionCapture:
    Q, K = pattern.shape[-2:]
    return AttentionCapture(
        model_name="hand",
        src_tokens=tuple("abcd"[:K]),
        tgt_tokens=tuple("wxyz"[:Q]),
        patterns={"decoder.0.cross_attn.hook_pattern": pattern},
        logits=torch.zeros(1, Q, 3),
    )


def test_leakiest_head_and_top_guesses_by_hand():
    eye, nxt = torch.eye(3), torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    pattern = torch.stack([eye, nxt, eye]).unsqueeze(0)  # (1, H=3, Q=3, K=3): head 1 reads t+1
    before = pattern.clone()
    assert L.leakiest_head(_cap(pattern), "decoder.0.cross_attn.hook_pattern") == 1
    assert torch.equal(pattern, before)  # the input is unchanged
    itos = ["<PAD>", "a", "b"]
    top = L.top_guesses({"normal": torch.tensor([0.1, 0.2, 0.7]), "none": torch.tensor([0.5, 0.4, 0.1])}, itos)
    assert top == {"normal": ("b", torch.tensor(0.7).item()), "none": ("<PAD>", 0.5)}


def test_every_page_reads_its_session_defaults_from_one_place():
    """app.py sets ui/session_defaults.py's state once; no page sets defaults of its own; the sliders' and boxes'
    first values are the widgets' own (nothing presets them in session state), read from the same module."""
    from streamlit.testing.v1 import AppTest

    from ui import session_defaults as D

    for page in PAGES.glob("*.py"):
        src = page.read_text(encoding="utf-8")
        module_level = [ln for ln in src.splitlines() if ln.startswith(("st.session_state.setdefault", "DEFAULTS"))]
        assert not module_level, (page.name, module_level)
    app = (REPO / "app.py").read_text(encoding="utf-8")
    assert "session_defaults.apply()" in app and "setdefault" not in app
    assert not set(D.STATE) & set(D.WIDGETS)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for key, value in D.state().items():
        assert at.session_state[key] == value, key
    for key in ("real.top_k", "real.temperature", "real.gen.n", "gen.seed", "gen.mode", "gen.step"):
        assert key not in at.session_state, key  # the widget's own value, not preset
    at.switch_page("app_pages/4_generate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="gen.seed").value == D.widget("gen.seed")
    assert at.segmented_control(key="gen.mode").value == D.widget("gen.mode")
    assert at.slider(key="gen.max_new").value == D.widget("gen.max_new")
    at.switch_page("app_pages/3_leak.py").run()  # the Leak page's words: from the module
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["leak.word"] == D.STATE["leak.word"]


def test_a_second_tab_training_is_said_the_same_way_on_both_pages(monkeypatch):
    """The Lesson's refusals are the Train page's sentences now (one start, one set of messages): a run in another
    tab of the browser is named, not shown as the job's English log line."""
    from services import job_errors, job_names, jobs

    def busy(*a, **kw):
        raise job_errors.BrowserBusyError("other-tab-model")

    monkeypatch.setattr(jobs, "start_job", busy)
    monkeypatch.setattr(job_names, "folder_problem", lambda: None)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["step"] = "8"
    at.run()
    at.switch_page("app_pages/0_lesson.py").run()
    at.button_group(key="lesson.8.guess").set_value(0).run()
    at.button(key="lesson.train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = [shown(m.value) for m in at.warning]
    busy_tab = "Another tab of this browser is already training **other-tab-model**. One run per student"
    assert any(m.startswith(busy_tab) for m in said), said
