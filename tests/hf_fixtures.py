"""Tiny random Hugging Face causal LMs in a temp folder, built from a config, no hub: a Llama (GQA, RoPE, like
SmolLM2) and a GPT-2 (learned positions, fused qkv), each with a byte-level BPE tokenizer trained here on a few
sentences and wrapped in PreTrainedTokenizerFast. A plain module (see lab_fixtures.py for why not conftest)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

SENTENCES = (
    "The animal didn't cross the street because it was too tired.",
    "The animal didn't cross the street because it was too wide.",
    "The capital of France is Paris. The cat sat on the mat.",
    "A small model can still show how attention moves between words.",
)
KINDS = ("llama", "gpt2")


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(SENTENCES) * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")


def tiny_model(kind: str, vocab_size: int, seed: int = 0, eos_id: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    if kind == "llama":
        cfg = LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
        )
        return LlamaForCausalLM(cfg)
    if kind == "gpt2":
        cfg = GPT2Config(
            vocab_size=vocab_size,
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=64,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
        )
        return GPT2LMHeadModel(cfg)
    raise ValueError(kind)


def save_tiny(kind: str, folder: Path) -> Path:
    """A folder with config.json, model.safetensors and the tokenizer, as a teacher's downloaded model has."""
    tok = tiny_tokenizer()
    model = tiny_model(kind, len(tok), eos_id=tok.eos_token_id)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
