"""Reliability: the app starts and explains itself when a checkpoint is missing, truncated or corrupt (AppTest on
every page, with the shipped checkpoints folder (``settings.shipped_ckpt_dir()``) pointed at a temporary folder);
and 1000 captures leave every cached model's weights bit-identical."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import pytest
import torch
from lab_fixtures import open_app, shown

import settings
from models import checkpoint as ckpt_mod
from models.capture import capture

PAGES = (
    "app_pages/1_explore.py",
    "app_pages/2_compare.py",
    "app_pages/3_leak.py",
    "app_pages/4_generate.py",
    "app_pages/5_train.py",
    "app_pages/6_heads.py",
)
FAULTS = ("missing", "truncated", "corrupt", "not_a_checkpoint")
CASES = [("miniformer", f) for f in FAULTS] + [
    ("full_transformer_peeking", "missing"),
    ("full_transformer_peeking", "corrupt"),
]


def break_checkpoint(path: Path, fault: str) -> None:
    if fault == "missing":
        path.unlink()
    elif fault == "truncated":  # a copy cut short, e.g. a full disk or an interrupted download
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif fault == "corrupt":  # same size, garbage inside
        data = bytearray(path.read_bytes())
        for i in range(64, len(data), 97):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
    elif fault == "not_a_checkpoint":  # a valid torch file with the wrong content
        torch.save({"weights": torch.zeros(3)}, path)
    elif fault in META_FAULTS:  # a loadable file whose contents lie (issue 12, item 11)
        ck = torch.load(path, weights_only=True)
        META_FAULTS[fault](ck)
        torch.save(ck, path)
    else:
        raise ValueError(fault)


def _poison(ck):
    ck["model"][next(iter(ck["model"]))].view(-1)[0] = float("nan")


META_FAULTS = {
    "kind_not_a_string": lambda ck: ck.__setitem__("kind", ["miniformer"]),
    "metrics_not_a_dict": lambda ck: ck.__setitem__("metrics", "x"),
    "recipe_not_a_dict": lambda ck: ck.__setitem__("recipe", "x"),
    "nll_not_a_number": lambda ck: ck["metrics"].__setitem__("val_prefix_nll", "abc"),
    "nan_weights": _poison,
    "huge_config": lambda ck: ck["model_args"].__setitem__("n_embd", 20000),
}


def visit_pages(**query):
    """Start the app once (Explore, the default page), then switch to every other page: (page, AppTest) pairs."""
    at = open_app(**query)
    yield PAGES[0], at
    for page in PAGES[1:]:
        at.switch_page(page).run()
        yield page, at


def messages(at) -> str:
    """Everything the page says in error / warning / info boxes and captions, as the reader sees it (Markdown's
    backslash escapes, which keep file names and checkpoint contents plain text, removed)."""
    parts = []
    for kind in ("error", "warning", "info", "caption", "markdown", "success"):
        parts += [shown(e.value) for e in getattr(at, kind)]  # as read: user text is escaped Markdown
    return "\n".join(parts)


@pytest.mark.parametrize("broken,fault", CASES)
def test_every_page_survives_a_broken_checkpoint(lab_dirs, broken, fault):
    path = lab_dirs / f"{broken}.pt"
    break_checkpoint(path, fault)
    said = {}
    for page, at in visit_pages(text="capy"):
        assert not at.exception, f"{page} with {broken}.pt {fault}: {[e.value for e in at.exception]}"
        said[page] = messages(at)
    if fault != "missing":
        # The broken file is named, with what is wrong and how to fix it, wherever the page needs it by default.
        needs = (
            ["app_pages/3_leak.py", "app_pages/5_train.py"]
            if broken == "full_transformer_peeking"
            else [
                "app_pages/1_explore.py",
                "app_pages/2_compare.py",
                "app_pages/4_generate.py",
                "app_pages/5_train.py",
                "app_pages/6_heads.py",
            ]
        )
        for page in needs:
            text = said[page]
            assert f"{broken}.pt" in text, f"{page} does not name the broken {broken}.pt:\n{text[:1500]}"
            assert "git checkout -- checkpoints/" in text or "retrain" in text.lower() or "Restore" in text, (
                f"{page} does not say how to fix {broken}.pt:\n{text[:1500]}"
            )
    else:
        # A missing shipped model is explained on the Train page (with a way to restore it) and, where a page
        # can't work without it, on that page.
        assert broken in said["app_pages/5_train.py"] or "Restore" in said["app_pages/5_train.py"], said[
            "app_pages/5_train.py"
        ][:1500]
        if broken == "full_transformer_peeking":
            assert "full_transformer_peeking.pt" in said["app_pages/3_leak.py"], said["app_pages/3_leak.py"][:1500]


@pytest.mark.parametrize("fault", list(META_FAULTS))
def test_every_page_explains_a_checkpoint_with_lying_contents(lab_dirs, fault):
    """Issue 12 item 11: `metrics: "x"`, `recipe: "x"`, a non-number NLL, a list as `kind`, NaN weights or a huge
    config gave tracebacks (or 17 s and 6.4 GB) on Explore, Compare and Generate. The loader refuses them, so
    every page shows the one clear message instead."""
    break_checkpoint(lab_dirs / "miniformer.pt", fault)
    for page, at in visit_pages(text="capy"):
        assert not at.exception, f"{page} with miniformer.pt {fault}: {[e.value for e in at.exception]}"
        if page in ("app_pages/1_explore.py", "app_pages/2_compare.py", "app_pages/4_generate.py"):
            text = messages(at)
            assert "Cannot load MiniFormer" in text and "miniformer.pt" in text and "Restore it" in text, (
                f"{page} does not explain the broken miniformer.pt:\n{text[:1500]}"
            )


def test_a_trained_model_with_a_list_as_kind_is_explained(lab_dirs):
    """Issue 12 item 11: for a model trained in the app, a non-string ``kind`` crashed the error handler itself
    (``TypeError: unhashable type: 'list'``)."""
    user = settings.user_ckpt_dir()
    user.mkdir(parents=True, exist_ok=True)
    path = user / "odd-kind.pt"
    path.write_bytes((lab_dirs / "miniformer.pt").read_bytes())
    break_checkpoint(path, "kind_not_a_string")
    _, at = next(visit_pages(model="odd-kind"))
    assert not at.exception, [e.value for e in at.exception]
    text = messages(at)
    assert "Cannot load odd-kind (trained here)" in text and "'kind' is ['miniformer']" in text, text[:1500]


def test_a_failed_load_is_cached_until_the_file_changes(lab_dirs, monkeypatch):
    """Issue 12 item 11: a failing checkpoint is read once per (file, mtime), not on every rerun of every page."""
    import ui.cache
    from models.checkpoint import checkpoint_mtime

    calls = []
    real = ui.cache.load_checkpoint
    monkeypatch.setattr(ui.cache, "load_checkpoint", lambda *a, **k: calls.append(a) or real(*a, **k))
    path = lab_dirs / "miniformer.pt"
    break_checkpoint(path, "metrics_not_a_dict")
    for _ in range(3):
        with pytest.raises(ckpt_mod.CheckpointError, match="broken metadata"):
            ui.cache.bundle("miniformer")
    assert len(calls) == 1
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # the file is replaced: tried afresh
    with pytest.raises(ckpt_mod.CheckpointError):
        ui.cache.load_model("miniformer", checkpoint_mtime("miniformer"))
    assert len(calls) == 2


def test_app_start_removes_what_a_killed_run_left(lab_dirs):
    """Issue 12 item 12: temp files of a killed write (atomic_write's own naming, older than a minute) are removed
    when the app starts; anything else, and a write still in progress, is left alone."""
    import ui.cache

    user = settings.user_ckpt_dir()
    user.mkdir(parents=True, exist_ok=True)
    old = time.time() - 3600
    stale = [lab_dirs / ".miniformer.pt.k3_x9abc.tmp", user / ".my-model.pt.a1b2c3d4.tmp"]
    keep = [user / ".other.pt.fresh123.tmp", user / "notes.tmp", user / "keep.pt.tmp"]
    for p in stale + keep:
        p.write_bytes(b"partial")
    for p in stale + keep[1:]:
        os.utime(p, (old, old))
    ui.cache.app_started.clear()  # once per process: this test stands for a fresh one
    _, at = next(visit_pages())
    assert not at.exception
    assert [p for p in stale if p.exists()] == [] and all(p.exists() for p in keep)


def test_app_explains_when_every_checkpoint_is_missing(lab_dirs):
    for p in lab_dirs.glob("*.pt"):
        p.unlink()
    for page, at in visit_pages():
        assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
        if page != "app_pages/5_train.py":
            text = messages(at)
            assert "checkpoint" in text.lower(), f"{page} says nothing about the missing checkpoints:\n{text[:1500]}"


# ---- cached models are read-only ---------------------------------------------------------------------------------


def state_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(
            t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
            if t.dtype != torch.bool
            else t.cpu().numpy().tobytes()
        )
    return h.hexdigest()


def test_a_thousand_captures_leave_cached_weights_bit_identical(lab_dirs):
    """The cached loader (ui.cache.load_model, what every page and session reads) and 1000 captures over both
    architectures, with every kind of input: the state_dicts hash the same before and after, and the models stay
    in eval mode with gradients off."""
    from ui.cache import load_model, one_torch_thread

    one_torch_thread()  # as every app rerun does (this thread may not be the one that imported ui.cache)
    names = ("miniformer", "full_transformer", "full_transformer_peeking")
    bundles = {n: load_model(n, ckpt_mod.checkpoint_mtime(n)) for n in names}
    before = {n: state_hash(b.model) for n, b in bundles.items()}
    texts = ("", "a", "capy", "capybara", "flycatcher", "CAPY bara!", "<script>alert(1)</script>", "x" * 300)
    for i in range(1000):
        n = names[i % len(names)]
        b = bundles[n]
        text = texts[i % len(texts)]
        first = next(n for n, m in b.model.named_modules() if hasattr(m, "n_head"))  # Head lab knock-outs too
        cap = capture(
            b,
            text,
            src=("capyzzzz" if i % 7 == 0 and b.is_seq2seq else ""),
            add_eos=i % 5 == 0,
            knocked_out=((first, 0),) if i % 3 == 0 else (),
        )
        assert cap.logits is not None
    for n, b in bundles.items():
        assert load_model(n, ckpt_mod.checkpoint_mtime(n)) is b  # the same cached object
        assert state_hash(b.model) == before[n], f"{n}: weights changed after 1000 captures"
        assert not b.model.training
        assert not any(p.requires_grad for p in b.model.parameters())


def test_checkpoint_errors_are_shown_as_plain_text():
    """What a checkpoint file says (paths, repr of its fields) reaches st.error as text, not Markdown: no link, no
    bare-URL autolink, no image, no :directive:, no HTML entity."""
    from ui.text import escape_md

    raw = "[click](http://evil.example) ![i](x.png) :red[y] *b* `c` &amp; <b>x</b> a\\:b www.x.org me@x.org"
    out = escape_md(raw)
    assert "http://" not in out and "](" not in out and ":red[" not in out and "<b>" not in out
    assert "www." not in out and "www.x" not in out.replace("\\", "")  # nothing Streamlit would autolink
    unescaped = re.sub(r"\\(.)", r"\1", out).replace("\u2060", "")
    assert unescaped == raw


def test_a_rerun_leaves_the_garbage_collector_off_the_long_lived_heap():
    """Issue 14 item 3: a full garbage collection walked every module's and model's objects (~250 000 with torch
    and plotly, ~140 ms of CPU), and Streamlit ran one after every script run. After a run, the heap that was
    there is frozen (collections skip it), and Streamlit's post-run collection is off in the app's config."""
    import gc
    import tomllib

    from streamlit.testing.v1 import AppTest

    import ui.cache

    repo = Path(__file__).resolve().parent.parent
    config = tomllib.loads((repo / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["postScriptGC"] is False
    gc.unfreeze()  # as in a fresh server process: nothing frozen yet
    ui.cache._heap.clear()
    at = AppTest.from_file(str(repo / "app.py"), default_timeout=30)
    at.run()
    assert not at.exception
    frozen = gc.get_freeze_count()
    assert frozen > 100_000 and frozen > 2 * len(gc.get_objects()), (frozen, len(gc.get_objects()))
    at.text_input(key="text").input("capy").run()
    assert not at.exception
