"""The Train page through AppTest (start, stop, finish, limits, restore) and the upload validation it relies on.
Checkpoints go to temp folders; the word list is a tiny one, so runs take a second or two."""

import json
import os
import signal
import time

import pytest
from lab_fixtures import TINY_WORDS, open_app, shown

from models import registry
from models.checkpoint import list_checkpoints, load_checkpoint
from models.data import MAX_WORDS, WordList, WordListError, parse_words_bytes
from models.train import Recipe
from services import jobs

LONG = Recipe("test", epochs=2000, batch_size=8, lr=1e-2, dropout=0.0)


def train_page():
    return open_app("app_pages/5_train.py", timeout=30)


def texts(elements) -> str:
    return "\n".join(shown(e.value) for e in elements)


def run_until(at, cond, timeout=60.0):
    t = time.monotonic()
    while True:
        at.run()
        assert not at.exception, at.exception
        if cond(at):
            return at
        assert time.monotonic() - t < timeout, "timed out; page shows: " + texts(at.markdown)
        time.sleep(0.2)


def buttons(at) -> list[str]:
    return [b.key for b in at.button]


def progress_text(at) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def test_page_starts_and_stops_a_run(lab):
    at = train_page()
    assert "16** words ready" in texts(at.caption)
    at.segmented_control(key="train.preset").set_value("seed").run()
    assert at.number_input(key="train.epochs").value == 100  # the preset filled the knobs
    at.number_input(key="train.epochs").set_value(500)  # the most the form allows
    at.number_input(key="train.batch_size").set_value(1)  # slow enough to be stopped mid-run
    at.text_input(key="train.name").set_value("Page Run").run()
    assert "Will be saved as **page-run**" in texts(at.caption)
    at.button(key="train.go").click().run()
    assert not at.exception, at.exception
    run_until(at, lambda a: progress_text(a).startswith("Epoch "))
    assert "of 500" in progress_text(at) and "left" in progress_text(at)
    assert at.get("plotly_chart")  # live curves and the live attention
    at.button(key="train.stop").click().run()
    run_until(at, lambda a: len(a.success) > 0)
    assert "now in every page's model picker" in texts(at.success)
    assert "because you pressed Stop" in texts(at.info) and "the best so far" in texts(at.info)
    path = lab / "user" / "page-run.pt"
    assert load_checkpoint(path).meta["display_name"] == "page-run" and "page-run" in list_checkpoints()
    assert at.select_slider(key=f"train.replay.{jobs.get_job('test session id').id}")  # the replay
    at.button(key="train.again").click().run()
    assert "train.go" in buttons(at) and jobs.get_job("test session id") is None


def test_page_says_why_a_killed_run_failed_and_frees_its_slot(lab):
    """kill -9 on the worker process mid-run (what the OOM killer does): the page shows "not saved" with the
    reason, says the slot is free, and the next run can start."""
    at = train_page()
    at.segmented_control(key="train.preset").set_value("seed").run()
    at.number_input(key="train.epochs").set_value(500)
    at.number_input(key="train.batch_size").set_value(1)
    at.text_input(key="train.name").set_value("doomed").run()
    at.button(key="train.go").click().run()
    run_until(at, lambda a: progress_text(a).startswith("Epoch "))
    job = jobs.get_job("test session id")
    assert job.pid != os.getpid()
    os.kill(job.pid, signal.SIGKILL)
    assert job.join(30)
    run_until(at, lambda a: len(a.error) > 0)
    assert "**doomed was not saved.**" in texts(at.error)
    assert "killed by SIGKILL (signal 9)" in texts(at.error) and "ran out of memory" in texts(at.error)
    assert "Traceback" not in texts(at.error)
    assert "training slot is free again" in texts(at.info)
    assert not (lab / "user" / "doomed.pt").exists()
    curves = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Learning curves" in c.proto.spec)
    marks = [a["text"] for a in curves["layout"].get("annotations", [])]
    assert marks and all("not saved" in m and "kept" not in m for m in marks), marks  # nothing was kept
    at.button(key="train.again").click().run()
    assert "**0 of 2**" in texts(at.caption) and not at.button(key="train.go").disabled


def test_page_finishes_a_short_run_and_replays_it(lab):
    at = train_page()
    at.number_input(key="train.epochs").set_value(3)
    at.button(key="train.go").click().run()
    run_until(at, lambda a: len(a.success) > 0)
    assert "**my-miniformer** is saved" in texts(at.success)
    assert at.metric[0].label == "Kept epoch" and at.metric[0].value.endswith("of 3")
    job = jobs.get_job("test session id")
    slider = at.select_slider(key=f"train.replay.{job.id}")
    kept = job.peek().kept_epoch
    assert slider.value == kept  # opens on the saved epoch
    assert slider.options == [f"{e} (kept)" if e == kept else str(e) for e in range(4)]
    slider.set_value(0).run()
    assert not at.exception
    assert any("Epoch 0" in m.value for m in at.markdown)
    # the published model is what the other pages' pickers list
    assert "my-miniformer" in list_checkpoints()


UPLOADS = [
    ("empty.txt", b"", "is empty"),
    ("blank.txt", b"\n  \n\n", "is empty"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("latin1.txt", "caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    ("accents.txt", "cat\ncafé\no'neil\ndog\nemu\nfox\n".encode(), "'é' ('café')"),
    ("long.txt", ("cat\ndog\nemu\nfox\ngnu\n" + "a" * 47 + "\n").encode(), "longer than the model's context"),
    (
        "many.txt",
        "\n".join(
            f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676 % 26)}{chr(97 + i // 17576 % 26)}"
            for i in range(MAX_WORDS + 1)
        ).encode(),
        f"the limit is {MAX_WORDS}",
    ),
    ("few.txt", b"cat\ndog\ncat\n", "at least 5 are needed"),
]


@pytest.mark.parametrize("name,data,message", UPLOADS, ids=[u[0] for u in UPLOADS])
def test_upload_validation_messages(name, data, message):
    with pytest.raises(WordListError, match=None) as e:
        parse_words_bytes(data, source=name)
    assert message in str(e.value) and name in str(e.value)


def test_bad_characters_are_named_and_duplicates_counted():
    with pytest.raises(WordListError) as e:
        parse_words_bytes("cat\ncafé\no'neil\nnaïve\ndog\n".encode(), source="x.txt")
    assert all(s in str(e.value) for s in ("'é'", '"\'"', "'ï'", "'naïve'"))
    wl = parse_words_bytes(b"\xef\xbb\xbfCat\ncat\ndog\n\nemu\nfox\ngnu\nDog\n", source="x.txt")  # BOM, case
    assert isinstance(wl, WordList) and wl.words == ("cat", "dog", "emu", "fox", "gnu")
    assert wl.duplicates_dropped == 2 and wl.blank_lines == 1
    with pytest.raises(WordListError, match="MB; the limit"):
        parse_words_bytes(b"cat\n" * 600_000, source="big.txt")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_word_lists_are_read(encoding):
    """Issue 12 item 14: Notepad's and Excel's "Unicode" text (UTF-16, with or without a BOM) got "looks like a
    binary file"; it is decoded now. Binary data still is refused, and the message says to save as UTF-8."""
    text = "Cat\ndog\r\nemu\nfox\ngnu\ncat\n"
    wl = parse_words_bytes(text.encode(encoding), source="unicode.txt")
    assert wl.words == ("cat", "dog", "emu", "fox", "gnu") and wl.duplicates_dropped == 1
    with pytest.raises(WordListError, match="unicode.txt has characters outside the vocabulary"):
        parse_words_bytes("cat\ncafé\ndog\nemu\nfox\n".encode(encoding), source="unicode.txt")
    with pytest.raises(WordListError, match="binary file.*save it as plain UTF-8"):
        parse_words_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", source="image.txt")


def test_page_trains_from_a_utf16_upload(lab):
    at = train_page()
    at.radio(key="train.words").set_value("upload").run()
    at.file_uploader(key="train.upload").set_value(
        ("notepad.txt", "\ufeffcat\r\ndog\r\nemu\r\nfox\r\ngnu\r\n".encode("utf-16-le"), "text/plain")
    ).run()
    assert not at.exception and not at.error, texts(at.error)
    assert "**5** words ready" in texts(at.caption) and not at.button(key="train.go").disabled


def test_page_shows_each_upload_problem_and_trains_nothing(lab):
    at = train_page()
    at.radio(key="train.words").set_value("upload").run()
    for name, data, message in UPLOADS:
        at.file_uploader(key="train.upload").set_value((name, data, "text/plain")).run()
        assert not at.exception, at.exception
        assert message in texts(at.error), (name, texts(at.error))
        assert "nothing will be trained" in texts(at.error)
        assert at.button(key="train.go").disabled, name
    dup = b"cat\ndog\ncat\nemu\nfox\ngnu\nDOG\n"
    at.file_uploader(key="train.upload").set_value(("dup.txt", dup, "text/plain")).run()
    assert not at.error and "**5** words ready · 2 duplicate(s) dropped" in texts(at.caption)
    assert not at.button(key="train.go").disabled
    assert jobs.get_job("test session id") is None


def test_page_names_and_the_global_cap(lab):
    at = train_page()
    at.text_input(key="train.name").set_value("miniformer").run()
    assert "shipped model's name" in texts(at.error) and at.button(key="train.go").disabled
    at.text_input(key="train.name").set_value("mine").run()
    assert not at.button(key="train.go").disabled
    words = WordList(TINY_WORDS)
    for sid in ("other-1", "other-2"):  # two other sessions hold both slots
        jobs.start_job(sid, "miniformer", words, LONG, name=f"{sid}-model")
    at.run()
    assert "**2 of 2**" in texts(at.caption)
    at.button(key="train.go").click().run()
    assert not at.exception
    assert "All 2 training slots are busy" in texts(at.warning)
    assert jobs.get_job("test session id") is None


def test_page_restores_a_missing_shipped_model(lab, tiny_ckpt_dir):
    at = train_page()
    assert "train.restore.miniformer" not in buttons(at)  # nothing broken, nothing offered
    (tiny_ckpt_dir / "miniformer.pt").unlink()
    at.run()
    assert "`checkpoints/miniformer.pt`): missing" in texts(at.warning)
    at.button(key="train.restore.miniformer").click().run()
    run_until(at, lambda a: len(a.success) > 0, timeout=120)
    assert "is restored" in texts(at.success)
    assert load_checkpoint(tiny_ckpt_dir / "miniformer.pt").meta["recipe"]["name"] == "fast"
    assert "train.restore.miniformer" not in buttons(at)


def test_only_the_session_that_made_a_model_is_offered_to_replace_it(lab):
    """Issue 12 item 13: any session was offered "Replace my existing model" of another session's model."""
    theirs = jobs.start_job(
        "another session",
        "miniformer",
        parse_words_bytes("\n".join(TINY_WORDS).encode()),
        Recipe("test", epochs=1, batch_size=8, lr=1e-2, dropout=0.0),
        name="theirs",
    )
    assert theirs.join(60) and (lab / "user" / "theirs.pt").is_file()
    at = train_page()
    at.text_input(key="train.name").set_value("theirs").run()
    assert not [c for c in at.checkbox if c.key == "train.replace"]  # not offered ...
    assert "saved as 'theirs-2'" in texts(at.caption) and "another session" in texts(at.caption)
    at.number_input(key="train.epochs").set_value(1)
    at.text_input(key="train.name").set_value("mine").run()
    at.button(key="train.go").click().run()
    run_until(at, lambda a: len(a.success) > 0)
    at.button(key="train.again").click().run()
    at.text_input(key="train.name").set_value("mine").run()
    box = at.checkbox(key="train.replace")  # ... but for its own model, yes
    assert box.label == "Replace my existing model “mine”"
    box.check().run()
    assert "Your existing model 'mine' will be replaced." in texts(at.caption)


# ---- a folder that can't be written, and a crowded one (issue 21, items 6 and 8) ---------------------------------
def test_an_unwritable_folder_is_said_plainly_before_training(lab, monkeypatch):
    blocker = lab / "user"
    blocker.write_text("a file where the folder should be")  # root ignores chmod; this stops root too
    at = train_page()
    at.button(key="train.go").click().run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert "Nothing was trained." in errors and "may not write to the folder" in errors, errors
    assert str(lab) not in errors and not jobs.REGISTRY.jobs()
    assert blocker.read_text() == "a file where the folder should be"


def test_the_picker_pages_thousands_of_models(lab):
    """5,000 trained models: the picker shows the shipped ones and one page of the newest, with a search box."""
    from models.checkpoint import save_checkpoint

    user = lab / "user"
    user.mkdir()
    src = load_checkpoint("miniformer")
    save_checkpoint(user / "model-0000.pt", src.model, src.vocab, kind="miniformer")
    data = (user / "model-0000.pt").read_bytes()
    for i in range(1, 5000):
        (user / f"model-{i:04d}.pt").write_bytes(data)
    os.utime(user / "model-4999.pt", (time.time() + 5, time.time() + 5))
    at = open_app()
    options = at.selectbox(key="model").options
    assert len(options) == len(registry.shipped_names()) + 30, len(options)  # one page, not 5,000 options
    assert "model-4999" in " ".join(options)  # newest first
    at.text_input(key="model.find").input("model-0123").run()
    assert not at.exception, at.exception
    options = at.selectbox(key="model").options
    assert len(options) == len(registry.shipped_names()) + 1 and "model-0123" in " ".join(options), options
