"""Character vocabulary: <PAD>, <BOS>, <EOS>, <UNK>, then a-z.

A word becomes ``[<BOS>, c1..cn, <EOS>, <PAD>...]``; the model's target is the same sequence shifted by one.
Typed text may hold anything: uppercase is lowercased, other characters map to ``<UNK>`` and are reported.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

PAD, BOS, EOS, UNK = "<PAD>", "<BOS>", "<EOS>", "<UNK>"
SPECIALS = (PAD, BOS, EOS, UNK)
ITOS: tuple[str, ...] = SPECIALS + tuple(string.ascii_lowercase)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
VISIBLE_SPACE = "␣"


@dataclass(frozen=True)
class Encoded:
    ids: tuple[int, ...]            # token ids, <BOS> first
    tokens: tuple[str, ...]         # display strings, one per id
    unknown: tuple[str, ...]        # distinct characters that became <UNK>, in order of appearance
    lowercased: bool                # the text had uppercase letters
    truncated: int                  # characters dropped from the front to fit the context window


class Vocab:
    """Immutable char <-> id mapping. ``Vocab(itos)`` accepts a checkpoint's saved list."""

    def __init__(self, itos=ITOS):
        self.itos: tuple[str, ...] = tuple(itos)
        if self.itos[:4] != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}, got {self.itos[:4]}")
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __hash__(self) -> int:
        return hash(self.itos)

    def unknown_chars(self, text: str) -> list[str]:
        """Distinct characters of ``text`` (already lowercased) that are not in the vocabulary."""
        seen: dict[str, None] = {}
        for ch in text:
            if ch not in self.stoi or ch in SPECIALS:
                seen.setdefault(ch, None)
        return list(seen)

    def encode(self, text: str, *, add_bos: bool = True, add_eos: bool = False, max_len: int | None = None) -> Encoded:
        """Encode typed text. ``max_len`` counts tokens incl. <BOS>/<EOS>; longer text keeps its *last* characters."""
        lowered = text.lower()
        unknown = tuple(self.unknown_chars(lowered))
        chars = list(lowered)
        truncated = 0
        if max_len is not None:
            room = max_len - int(add_bos) - int(add_eos)
            if room < 1:
                raise ValueError(f"max_len={max_len} leaves no room for characters")
            if len(chars) > room:
                truncated = len(chars) - room
                chars = chars[truncated:]
        ids = [self.stoi.get(ch, UNK_ID) if len(ch) == 1 else UNK_ID for ch in chars]
        if add_bos:
            ids.insert(0, BOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return Encoded(ids=tuple(ids), tokens=tuple(self.display(i) for i in ids), unknown=unknown,
                       lowercased=lowered != text, truncated=truncated)

    def display(self, i: int) -> str:
        s = self.itos[i]
        return VISIBLE_SPACE if s == " " else s

    def decode(self, ids) -> str:
        """Characters only: specials are dropped, decoding stops at <EOS>."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
        return "".join(out)


DEFAULT_VOCAB = Vocab()
