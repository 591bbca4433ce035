"""Settings are read when they are used, not when a module is imported; importing a module sets nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from lab_fixtures import REPO

import settings
from models import checkpoint, checkpoint_folder, hf_setup
from services import job_names, jobs

OFFLINE_KEYS = [k for k, _ in hf_setup.OFFLINE_ENV]


def test_importing_the_real_model_module_sets_no_environment_variable():
    """The offline variables are set when transformers is first imported for a load (hf_setup.transformers_module),
    not as a side effect of ``import models.hf_lm`` (which every page importing it used to do)."""
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_KEYS}
    code = (
        "import json, os; import models.hf_lm; from models import hf_setup; keys = " + repr(OFFLINE_KEYS) + "; "
        "before = {k: os.environ.get(k) for k in keys}; hf_setup.offline_env(); "
        "print(json.dumps([before, {k: os.environ.get(k) for k in keys}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == {k: None for k in OFFLINE_KEYS}
    assert after == dict(hf_setup.OFFLINE_ENV)


def test_a_teachers_own_offline_value_is_kept(monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "0")
    hf_setup.offline_env()
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "0" and os.environ["HF_HUB_OFFLINE"] == "1"


def test_the_cache_folder_is_read_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_LAB_CACHE_DIR", str(tmp_path / "one"))
    assert settings.cache_dir() == tmp_path / "one"
    monkeypatch.setenv("ATTENTION_LAB_CACHE_DIR", str(tmp_path / "two"))  # moved after import: followed
    assert settings.cache_dir() == tmp_path / "two"
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"")
    assert hf_setup.bundled_cache_dir(gguf).parent == tmp_path / "two"  # the bundled model's cache follows
    monkeypatch.delenv("ATTENTION_LAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.cache_dir() == tmp_path / "xdg" / "attention-lab"


def test_checkpoint_folders_move_with_the_environment_after_import(tmp_path, monkeypatch):
    """Every module that reads a checkpoint folder follows the environment as it is now: the loader, the listing,
    the job names, the stale-temp sweep (the user folder used to be fixed when models.checkpoint was imported)."""
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    monkeypatch.setenv(settings.SHIPPED_CKPT_DIR_ENV, str(shipped))
    monkeypatch.delenv(settings.USER_CKPT_DIR_ENV, raising=False)
    assert settings.user_ckpt_dir() == shipped / "user"  # inside the shipped folder by default
    monkeypatch.setenv(settings.USER_CKPT_DIR_ENV, str(user))
    assert checkpoint.resolve_path("miniformer") == shipped / "miniformer.pt"
    assert job_names.user_path("mine") == user / "mine.pt" and job_names.shipped_path("x") == shipped / "x.pt"
    assert checkpoint.list_checkpoints() == []
    user.mkdir()
    (user / "mine.pt").write_bytes(b"not read by the listing")
    assert checkpoint.list_checkpoints() == ["mine"] and checkpoint.resolve_path("mine") == user / "mine.pt"
    stale = user / ".mine.pt.abc123.tmp"
    stale.write_bytes(b"")
    os.utime(stale, (0, 0))
    assert checkpoint_folder.remove_stale_tmp() == [stale]


def test_the_training_time_limit_is_read_when_a_job_is_made(monkeypatch):
    from models.data import WordList
    from services.train_worker import JobSpec

    spec = JobSpec(model_name="miniformer", words=WordList(("abc", "bcd")), recipe=None, name="t", out="/dev/null")
    monkeypatch.setenv(settings.TRAIN_MAX_S_ENV, "12.5")
    assert jobs.TrainingJob(spec, "s1")._max_seconds == 12.5
    monkeypatch.delenv(settings.TRAIN_MAX_S_ENV)
    assert jobs.TrainingJob(spec, "s1")._max_seconds == settings.DEFAULT_TRAIN_MAX_S == 600.0
