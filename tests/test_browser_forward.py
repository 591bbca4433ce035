"""The browser's forward pass (ui/live/forward.js, run in Node) against PyTorch: one source of truth for the math.

On every shipped checkpoint and on freshly trained tiny ones (a MiniFormer and the peeking FullTransformer, whose
unmasked encoder and cross-attention take the other branch), 1,000+ inputs each — the empty word, one character,
the longest input and longer (windowed), <UNK> characters (digits, emoji, control characters),
uppercase, and <EOS> — give the same tokens, the same logits and the same attention patterns to 1e-5, and the same
numbers the views draw from them (next-token probabilities with temperature and top-k, per-query entropy). One Node
process runs every input of every model; PyTorch runs them batched by length.

Inputs with kana or kanji are not computed in the browser: the server writes them in romaji (models.vocab.romanize,
pykakasi), so the browser hands them to the server path. Which inputs those are, JS and Python agree on every
code point, and romanize leaves every other input as it is.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from lab_fixtures import REPO, TINY_WORDS

from models import registry
from models.checkpoint import load_checkpoint
from models.generate import next_token_probs
from models.vocab import romanize
from services.browser_weights import browser_architectures, publish, runs_in_browser, weights_file
from ui.live_views import needs_server
from viz.metrics import attention_entropy

NODE = shutil.which("node")
RUNNER = REPO / "tests" / "js" / "forward_runner.js"
TOL = 1e-5
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")  # it is on this project's machines


def inputs(n: int = 1000, seed: int = 0) -> list[tuple[str, bool]]:
    """n texts, each with and without <EOS> somewhere in the list: the edge cases first, then prefixes of shipped
    words and random strings mixing letters with characters the vocabulary lacks."""
    words = (REPO / "data" / "words.txt").read_text().split()
    edge = [
        "",
        "a",
        "z",
        "A",
        "Capybara",
        "CAPYBARA",
        "a" * 47,
        "b" * 46,
        "x" * 48,
        "hippopotamus" * 10,
        "q" * 10_000,
        "ねこ",
        "猫",
        "カピバラ",
        "ｃａｔ",
        "ー",
        "cat猫",
        "🐈",
        "cat🐈dog",
        "\x00",
        "a\tb\nc",
        "\u200bzero",
        "ünïcödé",
        "12345",
        "<eos>",
        "<UNK>",
        "a b",
        "İstanbul",
        "straße",
        " ",
        "-",
        "'",
    ]
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz" * 4 + "ABZ0 -'ñ猫🐈\x07"
    out = [(t, eos) for t in edge for eos in (False, True)]
    while len(out) < n:
        if rng.random() < 0.6:
            w = rng.choice(words)
            t = w[: rng.randint(0, len(w))]
        else:
            # mostly word-sized (what a student types), now and then past the context window
            t = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12) if rng.random() < 0.9 else 50))
        out.append((t, rng.random() < 0.3))
    return out


def torch_results(bundle, texts: list[tuple[str, bool]]) -> list[dict]:
    """Per input: ids, logits (T, V) and every pattern (H, Q, K) as float64 numpy, from the PyTorch model, batched by
    length (the same encoding as models.capture.capture: source = target = the word)."""
    encs = [bundle.vocab.encode(t, add_eos=e, max_len=bundle.block_size) for t, e in texts]
    out: list[dict | None] = [None] * len(texts)
    groups: dict[int, list[int]] = {}
    for i, enc in enumerate(encs):
        groups.setdefault(len(enc.ids), []).append(i)
    with torch.inference_mode():
        for _T, idxs in groups.items():
            idx = torch.tensor([encs[i].ids for i in idxs])  # (B, T)
            res = bundle.model(idx, return_attention=True)
            if bundle.is_seq2seq:
                pats = {f"encoder.{l}.attn.hook_pattern": p for l, p in enumerate(res.encoder_attentions)}
                pats |= {f"decoder.{l}.attn.hook_pattern": p for l, p in enumerate(res.decoder_attentions)}
                pats |= {f"decoder.{l}.cross_attn.hook_pattern": p for l, p in enumerate(res.cross_attentions)}
            else:
                pats = {f"blocks.{l}.attn.hook_pattern": p for l, p in enumerate(res.attentions)}
            for b, i in enumerate(idxs):
                patterns = {n: p[b].double().numpy() for n, p in sorted(pats.items())}
                # what the views read off it: the bars (temperature 0.7, top-k 5) and the per-query entropy
                probs = next_token_probs(res.logits[b, -1], 0.7, 5).double().numpy()
                causal = {
                    n: (n.startswith("decoder.") and ".cross_attn." not in n) or not bundle.peeking for n in patterns
                }
                entropy = [attention_entropy(p[b : b + 1], causal[n]).double().numpy() for n, p in sorted(pats.items())]
                out[i] = {
                    "enc": encs[i],
                    "logits": res.logits[b].double().numpy(),
                    "patterns": patterns,
                    "views": [probs, *entropy],
                }
    return out


def run_node(tmp_path: Path, jobs: list[tuple[Path, list[tuple[str, bool]]]]):
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"models": [{"weights": str(w), "inputs": ins} for w, ins in jobs]}))
    numbers = tmp_path / "numbers.bin"
    proc = subprocess.run([NODE, str(RUNNER), str(job), str(numbers)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), np.fromfile(numbers, dtype="<f8")


def fresh_bundles(tmp_path: Path):
    """Freshly trained models, weights unlike any shipped file: a MiniFormer from models.train, and a small peeking
    FullTransformer of a config no shipped file has (2 heads, n_embd 16; the unmasked branches), trained here for
    a few steps and loaded back from its checkpoint."""
    from models.checkpoint import save_checkpoint
    from models.data import encode_words
    from models.full_transformer import FullTransformer, FullTransformerConfig
    from models.train import Recipe, train
    from models.vocab import DEFAULT_VOCAB

    mini = train(
        "miniformer",
        TINY_WORDS * 4,
        Recipe("test", epochs=2, batch_size=16, lr=1e-2, dropout=0.0),
        out=tmp_path / "fresh_miniformer.pt",
    )
    torch.manual_seed(0)
    model = FullTransformer(
        FullTransformerConfig(
            vocab_size=len(DEFAULT_VOCAB), n_head=2, n_embd=16, dim_ff=24, n_layer=1, n_dec_layer=2, peeking=True
        )
    )
    x, y = encode_words(TINY_WORDS)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        model(x, targets=y).loss.backward()
        opt.step()
    save_checkpoint(tmp_path / "fresh_peeking.pt", model.eval(), DEFAULT_VOCAB)
    return [load_checkpoint(mini.checkpoint), load_checkpoint(tmp_path / "fresh_peeking.pt")]


def js_needs_server(texts: list[str]) -> list[bool]:
    """forward.js's needs_server on each text (one Node process)."""
    script = (
        "const F = require(process.argv[1]); let s = ''; process.stdin.on('data', (d) => { s += d; });"
        "process.stdin.on('end', () => process.stdout.write(JSON.stringify(JSON.parse(s).map(F.needs_server))));"
    )
    proc = subprocess.run(
        [NODE, "-e", script, str(REPO / "ui" / "live" / "forward.js")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_browser_hands_what_romanize_converts_to_the_server():
    """JS and Python route the same characters to the server, over every code point; what stays in the browser,
    romanize leaves as it is; and the kana and kanji of the inputs below go to the server."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    assert js_needs_server(chars) == [needs_server(c) for c in chars]
    texts = [t for t, _ in inputs()]
    routed = [needs_server(t) for t in texts]
    assert js_needs_server(texts) == routed
    for text, server in zip(texts, routed):
        if not server:
            assert romanize(text).text == text and romanize(text).pairs == (), text
    for text in ("ねこ", "猫", "カピバラ", "ｃａｔ", "cat猫"):  # what romanize converts goes to the server
        assert romanize(text).pairs and needs_server(text), text
    assert needs_server("ー") and romanize("ー").text == "ー"  # pykakasi can't write it: the server shows <UNK>
    assert not any(needs_server(t) for t in ("", "capybara", "ünïcödé", "🐈", "12345", "İstanbul"))


def test_browser_forward_equals_pytorch(tmp_path):
    bundles = [load_checkpoint(n) for n in registry.shipped_names()] + fresh_bundles(tmp_path)
    assert {b.architecture for b in bundles} == set(browser_architectures()) and all(map(runs_in_browser, bundles))
    assert any(b.peeking for b in bundles) and any(b.architecture == "full" and not b.peeking for b in bundles)
    # what the browser computes itself: kana and kanji go to the server (test above)
    texts = [(t, e) for t, e in inputs(1100) if not needs_server(t)]
    assert len(texts) >= 1000
    folder = tmp_path / "weights"
    jobs = [(folder / publish(b, folder).rsplit("/", 1)[1], texts) for b in bundles]
    meta, numbers = run_node(tmp_path, jobs)
    pos = 0
    n_checked = 0
    for b, rows in zip(bundles, meta):
        expected = torch_results(b, texts)
        lengths = set()
        for (text, eos), got, want in zip(texts, rows, expected):
            enc = want["enc"]
            where = f"{b.name} on {text[:40]!r} (eos={eos})"
            assert got["ids"] == list(enc.ids), where
            assert tuple(got["tokens"]) == enc.tokens, where
            assert tuple(got["unknown"]) == enc.unknown and got["lowercased"] == enc.lowercased, where
            assert got["truncated"] == enc.truncated, where
            assert got["names"] == list(want["patterns"]), where
            for arr in (want["logits"], *want["patterns"].values(), *want["views"]):
                js = numbers[pos : pos + arr.size].reshape(arr.shape)
                pos += arr.size
                assert np.abs(js - arr).max() <= TOL, f"{where}: max |JS - PyTorch| = {np.abs(js - arr).max():.2e}"
            lengths.add(len(enc.ids))
            n_checked += 1
        # the empty word (<BOS> only), one character, and the full context window were all among them
        assert {1, 2, b.block_size} <= lengths, lengths
    assert pos == numbers.size and n_checked == len(bundles) * len(texts)


def test_weights_file_is_content_addressed_and_refuses_other_architectures(tmp_path):
    b = load_checkpoint("miniformer")
    url = publish(b, tmp_path)
    assert url.startswith("app/static/weights/miniformer-") and url.endswith(".json")
    assert publish(b, tmp_path) == url and len(list(tmp_path.iterdir())) == 1  # written once
    doc = json.loads((tmp_path / url.rsplit("/", 1)[1]).read_text())
    assert doc["architecture"] == "miniformer" and doc["vocab"] == list(b.vocab.itos)
    assert sum(np.prod(s) for _, s in doc["tensors"].values()) == b.n_params

    class Future(torch.nn.Module):  # an architecture the browser doesn't implement takes the server path
        cfg = b.cfg

    other = type(b)(name="future", model=Future(), vocab=b.vocab, architecture="miniformer")
    assert not runs_in_browser(other)
    with pytest.raises(ValueError, match="no browser forward"):
        weights_file(other)


# ---- the Lesson's steps 2 and 5 in the browser: attention step by step, and the positions removed or shuffled ----
LESSON_RUNNER = REPO / "tests" / "js" / "lesson_runner.js"
STEPS_FIELDS = ("q", "k", "v", "scores", "scaled", "visible", "weights", "output", "pattern_row")


def run_lesson_node(tmp_path: Path, jobs: list[dict]):
    job = tmp_path / "lesson_job.json"
    job.write_text(json.dumps({"models": jobs}))
    numbers = tmp_path / "lesson_numbers.bin"
    proc = subprocess.run(
        [NODE, str(LESSON_RUNNER), str(job), str(numbers)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), np.fromfile(numbers, dtype="<f8")


@pytest.fixture(scope="module")
def lesson_bundles(tmp_path_factory):
    """Every shipped checkpoint and the freshly trained ones (trained once for this file's Lesson tests), each with
    its weights file as the page gets it: [(bundle, path of the weights file)]."""
    tmp = tmp_path_factory.mktemp("lesson")
    bundles = [load_checkpoint(n) for n in registry.shipped_names()] + fresh_bundles(tmp)
    return [(b, tmp / publish(b, tmp).rsplit("/", 1)[1]) for b in bundles]


def test_positions_removed_or_shuffled_in_the_browser_equal_pytorch(tmp_path, lesson_bundles):
    """Step 5's three variants (positions as trained, removed, shuffled) computed by forward.js with the permutation
    the page sends (ui.live_views.position_perms) equal models.attention_steps.positions_counterfactual, the
    server's answer: logits and next-character probabilities to 1e-5, on every shipped and fresh checkpoint, for
    words of every length from the empty word to the full context window."""
    from models.attention_steps import PE_MODES, position_rows, positions_counterfactual
    from ui.live_views import position_perms

    texts = [t for t, _ in inputs(160, seed=5) if not needs_server(t)]
    jobs = [
        {"weights": str(w), "perms": position_perms(b.block_size), "positions": texts, "steps": []}
        for b, w in lesson_bundles
    ]
    _, numbers = run_lesson_node(tmp_path, jobs)
    pos, n_checked, lengths = 0, 0, set()
    for b, _w in lesson_bundles:
        ids = [b.vocab.encode(t, max_len=b.block_size).ids for t in texts]
        want: dict[tuple[int, str], np.ndarray] = {}  # (input, mode) -> logits (T, V), batched by length
        for T in set(map(len, ids)):
            rows = [i for i, x in enumerate(ids) if len(x) == T]
            for mode in PE_MODES:
                with torch.inference_mode():
                    out = b.model(torch.tensor([ids[i] for i in rows]), pos_embed=position_rows(b, T, mode))
                want |= {(i, mode): out.logits[r].double().numpy() for r, i in enumerate(rows)}  # (T, V)
        for i, text in enumerate(texts):
            for mode in PE_MODES:
                probs = positions_counterfactual(b, text, mode).double().numpy()  # (V,): the step's answer
                for arr in (want[i, mode], probs):
                    js = numbers[pos : pos + arr.size].reshape(arr.shape)
                    pos += arr.size
                    gap = np.abs(js - arr).max()
                    assert gap <= TOL, f"{b.name} {mode} on {text[:40]!r}: max |JS - PyTorch| = {gap:.2e}"
                n_checked += 1
            lengths.add(len(ids[i]))
        assert {1, 2, b.block_size} <= lengths, lengths
    assert pos == numbers.size and n_checked == 3 * len(lesson_bundles) * len(texts)


def test_position_perms_are_the_servers_shuffle():
    """What the page sends for "shuffled": for every length the server's own permutation (seeded torch.randperm
    that moves at least one position), so the browser never re-derives torch's generator."""
    from models.attention_steps import shuffled_order
    from ui.live_views import position_perms

    perms = position_perms(47)
    assert len(perms) == 48 and perms[0] == [] and perms[1] == [0]
    for T in range(2, 48):
        assert perms[T] == shuffled_order(T, 0) and sorted(perms[T]) == list(range(T)) and perms[T] != list(range(T))


def test_attention_steps_in_the_browser_equal_models_attention_steps(tmp_path, lesson_bundles):
    """Step 2's numbers (q, k, v of one head, q·k, ÷√d_k, the mask, softmax weights, the weighted sum of V and the
    model's own pattern row) from forward.js equal models.attention_steps.attention_steps to 1e-5, for many words,
    every attention family (causal and unmasked), every head and query rows from first to last (and from the end)."""
    from models.attention_steps import attention_steps
    from models.capture import capture

    bundles = [b for b, _ in lesson_bundles]
    rng = random.Random(7)
    texts = [(t, e) for t, e in inputs(120, seed=9) if not needs_server(t)]
    jobs, cases = [], []
    for b, w in lesson_bundles:
        names = list(capture(b, "").patterns)
        mine = []
        for text, eos in texts:
            T = len(b.vocab.encode(text, add_eos=eos, max_len=b.block_size).ids)
            for name in (rng.choice(names) for _ in range(3)):
                query = rng.choice([0, T - 1, rng.randrange(T), -1, -T])
                mine.append([text, eos, name, rng.randrange(b.model.cfg.n_head), query])
        jobs.append({"weights": str(w), "perms": [], "positions": [], "steps": mine})
        cases.append(mine)
    meta, numbers = run_lesson_node(tmp_path, jobs)
    pos, n_checked, families = 0, 0, set()
    for b, mine, got in zip(bundles, cases, meta):
        for (text, eos, name, head, query), g in zip(mine, got):
            s = attention_steps(b, text, name, head, query, add_eos=eos)
            where = f"{b.name} {name} head {head} query {query} on {text[:30]!r}"
            assert (g["query"], g["query_token"], tuple(g["key_tokens"]), g["d_k"]) == (
                s.query,
                s.query_token,
                s.key_tokens,
                s.d_k,
            ), where
            for field in STEPS_FIELDS:
                want = getattr(s, field).double().numpy()
                js = numbers[pos : pos + want.size].reshape(want.shape)
                pos += want.size
                gap = np.abs(js - want).max() if want.size else 0.0
                assert gap <= TOL, f"{where}: {field} max |JS - PyTorch| = {gap:.2e}"
            families.add((name.split(".")[0], ".cross_attn." in name, bool(s.visible.all())))
            n_checked += 1
    assert pos == numbers.size and n_checked >= 1000
    # causal rows with hidden keys, unmasked rows (the peeking model), and cross-attention were all among them
    assert {("blocks", False, False), ("decoder", True, False), ("encoder", False, True)} <= families, families
