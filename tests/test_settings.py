"""Settings are read when they are used, not when a module is imported; importing a module sets nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from lab_fixtures import REPO
from models import hf_setup

OFFLINE_KEYS = [k for k, _ in hf_setup.OFFLINE_ENV]


def test_importing_the_real_model_module_sets_no_environment_variable():
    """The offline variables are set when transformers is first imported for a load (hf_setup.transformers_module),
    not as a side effect of ``import models.hf_lm`` (which every page importing it used to do)."""
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_KEYS}
    code = ("import json, os; import models.hf_lm; from models import hf_setup; keys = %r; "
            "before = {k: os.environ.get(k) for k in keys}; hf_setup.offline_env(); "
            "print(json.dumps([before, {k: os.environ.get(k) for k in keys}]))" % OFFLINE_KEYS)
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
    assert hf_setup.cache_dir() == tmp_path / "one"
    monkeypatch.setenv("ATTENTION_LAB_CACHE_DIR", str(tmp_path / "two"))     # moved after import: followed
    assert hf_setup.cache_dir() == tmp_path / "two"
    monkeypatch.delenv("ATTENTION_LAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_setup.cache_dir() == tmp_path / "xdg" / "attention-lab"
