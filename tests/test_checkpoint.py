"""Checkpoint round trip, the one clear error type, atomic writes, and the CLIs."""
import json
import os
import subprocess
import sys

import pytest
import torch

from lab_fixtures import REPO, TINY_WORDS, tiny_bundle
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
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]     # no temp file left behind


def test_train_and_evaluate_cli(tmp_path):
    words = tmp_path / "w.txt"
    words.write_text("\n".join(TINY_WORDS) + "\n")
    out = tmp_path / "cli.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "models.train", "--model", "full", "--words", str(words),
                        "--epochs", "2", "--out", str(out), "--device", "cpu"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(out).meta["words_sha256"]
    r = subprocess.run([sys.executable, "-m", "models.evaluate", str(out), "--words", str(words)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert {"teacher_forced_nll", "prefix_nll", "accuracy", "n_words", "n_tokens"} <= res.keys()
    assert res["n_words"] == len(TINY_WORDS)
    bad = tmp_path / "bad.txt"
    bad.write_text("cat\nsea lion\ncafé\n")
    r = subprocess.run([sys.executable, "-m", "models.evaluate", str(out), "--words", str(bad)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "' '" in r.stderr and "'é'" in r.stderr
