"""One generation loop (models.generate.generation_loop) behind a small protocol: the tiny models' generate and the
real model's generate_lm both run it, and its stopping rules hold for any model that implements the protocol."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hf_fixtures import save_tiny
from lab_fixtures import tiny_bundle

from models import generate as G
from models import hf_lm
from models.capture import AttentionCapture


@dataclass(frozen=True)
class Counting:
    """A model that always predicts ``favourite`` (logits one-hot on it) over a vocabulary of 5 tokens."""

    favourite: int
    limit: int = 100
    end: int = 0

    def fits(self, seq):
        return len(seq) < self.limit

    def capture(self, seq):
        logits = torch.full((1, len(seq), 5), -10.0)
        logits[0, -1, self.favourite] = 10.0
        return AttentionCapture(
            model_name="counting", src_tokens=(), tgt_tokens=tuple(map(str, seq)), patterns={}, logits=logits
        )

    def text(self, seq):
        return "".join(map(str, seq))

    def token(self, token_id):
        return str(token_id)

    def ends(self, token_id):
        return token_id == self.end

    def append(self, seq, token_id):
        return seq + [token_id]


def test_the_loop_stops_at_the_limit_the_context_and_the_end():
    kw = dict(max_new=3, greedy=True, temperature=1.0, top_k=None, seed=0)
    g = G.generation_loop(Counting(2), [1], "1", **kw)
    assert (g.text, g.stop_reason, [s.text for s in g.steps]) == ("1222", "limit", ["1", "12", "122"])
    g = G.generation_loop(Counting(2, limit=2), [1], "1", **kw)
    assert (g.text, g.stop_reason, len(g.steps)) == ("12", "context", 1)
    g = G.generation_loop(Counting(0), [1], "1", **kw)
    assert (g.text, g.stop_reason, g.steps[0].token) == ("1", "eos", "0")


def test_both_bundles_generate_through_the_one_loop(monkeypatch, tmp_path):
    seen = []
    real = G.generation_loop

    def spy(lm, seq, prefix, **kw):
        seen.append(type(lm).__name__)
        return real(lm, seq, prefix, **kw)

    monkeypatch.setattr(G, "generation_loop", spy)
    monkeypatch.setattr(hf_lm, "generation_loop", spy)
    tiny = G.generate(tiny_bundle("miniformer"), "ca", max_new=3)
    assert tiny.steps and tiny.text.startswith("ca")
    lm = hf_lm.load_folder(save_tiny("gpt2", tmp_path / "gpt2"))
    real_lm = hf_lm.generate_lm(lm, "The animal", max_new=2)
    assert real_lm.steps and real_lm.prefix == "The animal"
    assert seen == ["CharStepper", "TokenStepper"]
