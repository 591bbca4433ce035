"""Settings are read when they are used, not when a module is imported; importing a module sets nothing."""

from __future__ import annotations

import json
import os
import re
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


# ---- every ATTENTION_LAB_* variable has one home ------------------------------------------------------------------
def test_every_setting_follows_the_environment_after_import(tmp_path, monkeypatch):
    """Each module that reads a setting reads it when it is used: set after every import, each one follows (the
    classroom's connection limits and debug flag were dataclass defaults fixed at import, nginx's path too)."""
    from models import hf_folder, hf_prefix_cache
    from services import class_store, classroom
    from ui import live_views
    from viz import export

    monkeypatch.setenv(settings.CLASSROOM_ENV, "1")
    assert hf_folder.classroom() and not hf_folder.free_paths_allowed()
    monkeypatch.setenv(settings.CLASSROOM_ENV, "0")
    assert not hf_folder.classroom()
    monkeypatch.setenv(settings.MODELS_DIR_ENV, str(tmp_path))
    assert hf_folder.models_dir() == tmp_path
    monkeypatch.setenv(settings.HF_MAX_MB_ENV, "7")
    assert hf_folder.max_bytes() == 7_000_000
    monkeypatch.setenv(settings.LM_PREFIX_MB_ENV, "3")
    assert hf_prefix_cache.max_bytes() == 3_000_000
    monkeypatch.setenv(settings.LM_PREFIX_MB_ENV, "not a number")
    assert hf_prefix_cache.max_bytes() == settings.DEFAULT_LM_PREFIX_MB * 1_000_000
    monkeypatch.setenv(settings.HF_MODEL_ENV, " /srv/m ")
    assert settings.hf_model() == "/srv/m"
    monkeypatch.setenv(settings.BROWSER_PATH_ENV, "0")
    assert not live_views.default_on()
    monkeypatch.setenv(settings.BROWSER_PATH_ENV, "1")
    assert live_views.default_on()
    monkeypatch.setenv(settings.STORE_ENV, f"sqlite:///{tmp_path}/c.sqlite3")
    store = class_store.open_store()
    try:
        assert isinstance(store, class_store.SQLiteStore) and (tmp_path / "c.sqlite3").exists()
    finally:
        store.close()
    monkeypatch.setenv(settings.TEACHER_PIN_ENV, "4321")
    assert settings.teacher_pin() == "4321"
    monkeypatch.setenv(settings.PUBLIC_URL_ENV, "http://class.example/")
    assert settings.public_url() == "http://class.example"
    monkeypatch.setenv(settings.MAX_CONN_PER_IP_ENV, "11")
    monkeypatch.setenv(settings.MAX_CONN_ENV, "22")
    assert (classroom.Limits().per_ip, classroom.Limits().total) == (11, 22)
    monkeypatch.setenv(settings.CLASSROOM_DEBUG_ENV, "1")
    assert classroom.Classroom(workdir=tmp_path, port=1, nginx=False).debug
    monkeypatch.setenv(settings.CLASSROOM_DEBUG_ENV, "0")
    assert not classroom.Classroom(workdir=tmp_path, port=1, nginx=False).debug
    monkeypatch.setenv(settings.NGINX_ENV, str(tmp_path / "no-nginx"))
    assert settings.nginx() == str(tmp_path / "no-nginx") and not classroom.nginx_available()
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on the PATH: kaleido's own variable decides
    monkeypatch.delenv(settings.KALEIDO_BROWSER_ENV, raising=False)
    assert not export.png_available()
    monkeypatch.setenv(settings.KALEIDO_BROWSER_ENV, "/opt/chromium")
    assert export.png_available()


# Where a variable's name may be written as text: its home, the tests and the documentation (a teacher reads them).
_NAMED_ONLY_IN = ("settings.py", "tests/", "docs/", "README.md", "bench/RESULTS.md", "locale/")
_ENV_NAME = re.compile(r"\bATTENTION_LAB_[A-Z0-9_]+")  # not __ATTENTION_LAB_PARAMS__ (a placeholder in live.js)


def _code_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True)
    for name in out.stdout.splitlines():
        path = REPO / name
        if name.startswith(_NAMED_ONLY_IN) or path.is_symlink() or not path.is_file():
            continue
        if path.suffix in (".py", ".sh", ".js", ".toml", ".cfg", ".yaml", ".yml", ".conf") or path.name == "Dockerfile":
            yield name, path.read_text(errors="replace")


def test_no_environment_variable_is_named_outside_settings():
    """A variable read in two places drifts (ATTENTION_LAB_HF_MODEL was read by models/ and ui/): code names one
    through its constant in settings.py, comments and docstrings through its accessor."""
    found = [f"{name}: {m.group()}" for name, text in _code_files() for m in _ENV_NAME.finditer(text)]
    assert found == []
    names = [s.name for s in settings.SETTINGS]
    assert len(set(names)) == len(names)
    constants = {v for k, v in vars(settings).items() if k.endswith("_ENV") and isinstance(v, str)}
    assert constants == set(names)  # every constant is in the table, and the table holds nothing else


def test_every_setting_is_documented():
    docs = (REPO / "README.md").read_text() + "".join(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))
    missing = [s.name for s in settings.SETTINGS if not re.search(rf"`{s.name}\b", docs)]
    assert missing == []
    table = (REPO / "docs" / "settings.md").read_text()
    assert [s.name for s in settings.SETTINGS if f"| `{s.name}` |" not in table] == []
