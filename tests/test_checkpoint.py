"""Checkpoint round trip, the one clear error type, atomic writes, and the CLIs."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lab_fixtures import REPO, TINY_WORDS, tiny_bundle

import settings
from models.capture import capture
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_gives_identical_outputs(tmp_path):
    for name in ("miniformer", "full", "full-peeking"):
        b = tiny_bundle(name, seed=3)
        path = save_checkpoint(tmp_path / f"{name}.pt", b.model, b.vocab, epoch=4, metrics={"val_prefix_nll": 2.5})
        back = load_checkpoint(path)
        assert back.meta["epoch"] == 4 and back.peeking == b.peeking and back.vocab == b.vocab
        a, c = capture(b, "capybara"), capture(back, "capybara")
        assert torch.equal(a.logits, c.logits)


def test_missing_truncated_corrupt_and_wrong_shape_raise_checkpoint_error(tmp_path):
    b = tiny_bundle("miniformer")
    good = save_checkpoint(tmp_path / "good.pt", b.model, b.vocab)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="trunc.pt.*truncated or corrupt"):
        load_checkpoint(trunc)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(2000))
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)
    ck = torch.load(good, weights_only=True)
    ck["model_args"]["n_embd"] = 64
    torch.save(ck, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(tmp_path / "shape.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an Attention Lab checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    b = tiny_bundle("miniformer")
    path = save_checkpoint(tmp_path / "m.pt", b.model, b.vocab, epoch=1)
    before = path.read_bytes()

    def boom(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, b.model, b.vocab, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind


def test_train_and_evaluate_cli(tmp_path):
    words = tmp_path / "w.txt"
    words.write_text("\n".join(TINY_WORDS) + "\n")
    out = tmp_path / "cli.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "models.train",
            "--model",
            "full",
            "--words",
            str(words),
            "--epochs",
            "2",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(out).meta["words_sha256"]
    r = subprocess.run(
        [sys.executable, "-m", "models.evaluate", str(out), "--words", str(words)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert {"teacher_forced_nll", "prefix_nll", "accuracy", "n_words", "n_tokens"} <= res.keys()
    assert res["n_words"] == len(TINY_WORDS)
    bad = tmp_path / "bad.txt"
    bad.write_text("cat\nsea lion\ncafé\n")
    r = subprocess.run(
        [sys.executable, "-m", "models.evaluate", str(out), "--words", str(bad)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "' '" in r.stderr and "'é'" in r.stderr


# ---- issue 12: trust every number, file and click -----------------------------------------------------------------


def saved_variant(tmp_path, name: str, change, model: str = "miniformer"):
    """A valid tiny checkpoint, passed through ``change(ckpt_dict)`` and saved as ``name``."""
    b = tiny_bundle(model)
    good = save_checkpoint(
        tmp_path / f"good-{model}.pt",
        b.model,
        b.vocab,
        epoch=3,
        recipe={"name": "fast"},
        metrics={"val_prefix_nll": 2.5, "val_teacher_forced_nll": 2.5},
    )
    ck = torch.load(good, weights_only=True)
    change(ck)
    torch.save(ck, tmp_path / name)
    return tmp_path / name


def test_checkpoint_is_written_at_exactly_the_given_path(tmp_path):
    """Item 1: no ``.pt`` is added; a folder gets ``model.pt`` inside, and the loader reads both the same way."""
    b = tiny_bundle("miniformer")
    for given in (tmp_path / "run", tmp_path / "run.ckpt", tmp_path / "miniformer", tmp_path / "deep" / "x.pt"):
        assert save_checkpoint(given, b.model, b.vocab) == given and given.is_file()
        assert load_checkpoint(given).path == given
    (tmp_path / "folder").mkdir()
    assert save_checkpoint(tmp_path / "folder", b.model, b.vocab) == tmp_path / "folder" / "model.pt"
    assert load_checkpoint(tmp_path / "folder").path == tmp_path / "folder" / "model.pt"
    assert not list(tmp_path.glob("run*.pt")) and not (tmp_path / "miniformer.pt").exists()


def test_train_out_path_is_what_evaluate_reads(tmp_path):
    """Item 1 end to end: ``--out PATH`` writes PATH, and ``models.evaluate PATH`` reads that file, even when PATH
    is a bare name that is also a shipped model's (run from the folder that holds it)."""
    words = tmp_path / "w.txt"
    words.write_text("\n".join(TINY_WORDS) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "models.train",
            "--model",
            "miniformer",
            "--words",
            str(words),
            "--epochs",
            "1",
            "--out",
            "miniformer",
            "--device",
            "cpu",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "miniformer").is_file() and not (tmp_path / "miniformer.pt").exists()
    assert str(tmp_path / "miniformer") not in r.stdout or r.stdout.rstrip().endswith("-> miniformer")
    r = subprocess.run(
        [sys.executable, "-m", "models.evaluate", "miniformer", "--words", str(words)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["checkpoint"] == "miniformer"  # the file written here, not the shipped model


def test_train_refuses_an_unwritable_out_before_training(tmp_path, capsys):
    from models.train import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["--out", str(blocker / "sub" / "m.pt"), "--epochs", "1"]) == 2
    assert "cannot write the checkpoint" in capsys.readouterr().err


def test_retrain_hint_suggests_a_sensible_path(tmp_path):
    """Item 1: ``evaluate /etc/passwd`` must not suggest ``--out /etc/passwd``; a .pt in a writable folder keeps its
    own path."""
    user = settings.user_ckpt_dir()
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(Path("/etc/passwd"))
    assert "--out /etc/passwd" not in str(e.value) and f"--out {user / 'passwd.pt'}" in str(e.value)
    notes = tmp_path / "Notes 2.txt"
    notes.write_text("hello")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(notes)
    assert f"--out {user / 'notes-2.pt'}" in str(e.value)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "gone.pt")
    assert f"--out {tmp_path / 'gone.pt'}" in str(e.value)


def test_non_finite_weights_are_refused_and_evaluate_prints_valid_json(tmp_path, capsys):
    """Item 3: a NaN (or inf) weight is a clear CheckpointError, in the loader and in ``models.evaluate``."""
    from models.evaluate import main

    def poison(value):
        def change(ck):
            ck["model"]["lm_head.weight"][0, 0] = value

        return change

    for value in (float("nan"), float("inf")):
        path = saved_variant(tmp_path, "nan.pt", poison(value))
        with pytest.raises(
            CheckpointError,
            match=r"nan\.pt has NaN or infinite weights \(lm_head\.weight\): the run .* diverged\. Retrain it",
        ):
            load_checkpoint(path)
        words = tmp_path / "w.txt"
        words.write_text("\n".join(TINY_WORDS) + "\n")
        assert main([str(path), "--words", str(words), "--device", "cpu"]) == 2
        out = capsys.readouterr()
        assert out.out == "" and "NaN or infinite weights" in out.err
    good = saved_variant(tmp_path, "fine.pt", lambda ck: None)
    assert main([str(good), "--words", str(words), "--device", "cpu"]) == 0
    json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


@pytest.mark.parametrize(
    "field,value,model",
    [
        ("n_embd", 20000, "miniformer"),
        ("n_layer", 100000, "miniformer"),
        ("block_size", 10**9, "miniformer"),
        ("n_head", 4096, "full"),
        ("n_dec_layer", 5000, "full"),
        ("vocab_size", 10**6, "miniformer"),
        ("n_embd", 64.0, "miniformer"),
        ("n_layer", True, "miniformer"),
        ("dim_ff", "32", "miniformer"),
    ],
)
def test_oversized_or_mistyped_config_is_refused_before_any_allocation(tmp_path, field, value, model):
    """Item 11: checked against CONFIG_BOUNDS before the model is built (was: n_embd=20000 took 17 s and 6.4 GB)."""
    import resource

    path = saved_variant(tmp_path, "big.pt", lambda ck: ck["model_args"].__setitem__(field, value), model)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(
        CheckpointError,
        match=rf"big\.pt does not fit its model \({field}=.*"
        r"(outside this app's bounds|not a whole number)",
    ):
        load_checkpoint(path)
    assert time.perf_counter() - t0 < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 100_000  # KiB: under 100 MB


def test_config_within_bounds_but_too_many_parameters_is_refused(tmp_path):
    from models.checkpoint_checks import MAX_PARAMS

    big = {"n_layer": 8, "n_dec_layer": 8, "n_embd": 512, "dim_ff": 2048, "n_head": 8}
    path = saved_variant(tmp_path, "wide.pt", lambda ck: ck["model_args"].update(big), "full")
    with pytest.raises(CheckpointError, match=rf"parameters; this app loads at most {MAX_PARAMS:,}"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "field,value,what",
    [
        ("kind", ["miniformer"], "expected one of 'miniformer', 'full'"),
        ("kind", "gpt", "expected one of"),
        ("metrics", "x", "'metrics' is 'x', expected a dict of finite numbers"),
        ("metrics", {"val_prefix_nll": "abc"}, "expected a dict of finite numbers"),
        ("metrics", {"val_prefix_nll": float("nan")}, "expected a dict of finite numbers"),
        ("recipe", "x", "'recipe' is 'x', expected a dict with a string 'name'"),
        ("recipe", {"name": 3}, "expected a dict with a string 'name'"),
        ("epoch", "7", "'epoch' is '7', expected a whole number"),
        ("history", {"a": 1}, "expected a list of dicts"),
        ("words_sha256", 5, "expected a string"),
    ],
)
def test_broken_metadata_is_one_clear_checkpoint_error(tmp_path, field, value, what, capsys):
    """Item 11: the loader validates meta once, so pages get typed values; a non-string kind no longer crashes the
    error handler (``TypeError: unhashable type: 'list'``), also not in ``models.evaluate`` (rc 2, not 1)."""
    from models.evaluate import main

    path = saved_variant(tmp_path, "meta.pt", lambda ck: ck.__setitem__(field, value))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert "meta.pt has broken metadata" in str(e.value) and what in str(e.value) and "Retrain it" in str(e.value)
    assert main([str(path)]) == 2 and "broken metadata" in capsys.readouterr().err


def test_loaded_meta_has_the_types_the_pages_read(tmp_path):
    b = load_checkpoint(saved_variant(tmp_path, "ok.pt", lambda ck: ck.update(history=[{"epoch": 1}], extra=[1])))
    assert b.meta["kind"] == "miniformer" and b.meta["recipe"]["name"] == "fast" and b.meta["epoch"] == 3
    assert all(isinstance(v, float) for v in b.meta["metrics"].values())
    assert b.meta["extra"] == [1]  # fields the loader doesn't know are kept as they are


def test_a_fifo_is_refused_at_once_and_never_listed(tmp_path, monkeypatch):
    """Item 11: a FIFO named ``*.pt`` in checkpoints/user/ hung the session forever; only regular files are opened
    (and listed)."""
    import threading

    from models.checkpoint import list_checkpoints

    monkeypatch.setenv(settings.USER_CKPT_DIR_ENV, str(tmp_path))
    b = tiny_bundle("miniformer")
    save_checkpoint(tmp_path / "real.pt", b.model, b.vocab)
    os.mkfifo(tmp_path / "pipe.pt")
    (tmp_path / "dir.pt").mkdir()
    assert "pipe" not in list_checkpoints() and "dir" not in list_checkpoints() and "real" in list_checkpoints()
    result = {}

    def load():
        try:
            load_checkpoint("pipe")
        except CheckpointError as e:
            result["error"] = str(e)

    t = threading.Thread(target=load, daemon=True)  # on the old code it blocks in open() forever
    t.start()
    t.join(10)
    assert not t.is_alive(), "loading a FIFO blocked"
    assert "pipe.pt is not a regular file" in result["error"]


def test_unpickling_error_is_quoted_in_whole_words(tmp_path):
    """Item 11: the loader quotes the reason in whole words (was ``str(e)[:120]``: cut mid-sentence, inside torch's
    advice to load with weights_only=False, with its terminal colour codes)."""
    import datetime

    from models.checkpoint_checks import excerpt

    path = tmp_path / "pickled.pt"
    torch.save({"model": datetime.date(2020, 1, 1)}, path)  # a global weights_only refuses
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert (
        "pickled.pt is truncated or corrupt (UnpicklingError: Unsupported global: GLOBAL datetime.date was not "
        "an allowed global by default). Retrain it" in msg
    ), msg
    assert "\x1b" not in msg and "weights_only" not in msg
    assert excerpt("abcdefghij " * 30, 40) == "abcdefghij abcdefghij abcdefghij …"
    assert excerpt("x" * 50, 40) == "x" * 40 + " …"
    assert excerpt("short\nsecond line") == "short"
