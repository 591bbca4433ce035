"""Character vocabulary: <PAD>, <BOS>, <EOS>, <UNK>, then a-z.

A word becomes ``[<BOS>, c1..cn, <EOS>, <PAD>...]``; the model's target is the same sequence shifted by one.
Typed text may hold anything: Japanese kana and kanji are written in romaji (ねこ, 猫 -> neko, see :func:`romanize`),
uppercase is lowercased, other characters map to ``<UNK>`` and are reported.
"""

from __future__ import annotations

import functools
import re
import string
import threading
from dataclasses import dataclass

PAD, BOS, EOS, UNK = "<PAD>", "<BOS>", "<EOS>", "<UNK>"
SPECIALS = (PAD, BOS, EOS, UNK)
ITOS: tuple[str, ...] = SPECIALS + tuple(string.ascii_lowercase)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
VISIBLE_SPACE = "␣"


# Kana (hiragana, katakana incl. the long-vowel mark ー, half-width katakana), kanji with 々, and full-width Latin
# letters (what a Japanese keyboard types in its wide mode): what romanize() converts.
_JAPANESE_RUN = re.compile(
    "[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f\u3005\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff21-\uff3a\uff41-\uff5a]+"
)
_LETTERS = re.compile("[A-Za-z]+")
_kakasi_lock = threading.Lock()


@dataclass(frozen=True)
class Romanized:
    text: str  # the text with each Japanese run written in a–z
    pairs: tuple[tuple[str, str], ...] = ()  # (as typed, as the model reads it) for each run that was converted


@functools.lru_cache(maxsize=1)
def _kakasi():
    """pykakasi's converter (its dictionaries load once, ~0.5 s); None when the package is not installed."""
    try:
        import pykakasi
    except ImportError:
        return None
    return pykakasi.kakasi()


@functools.lru_cache(maxsize=2048)
def romanize(text: str) -> Romanized:
    """Japanese kana and kanji written in Hepburn romaji, the only letters the models know: ねこ and 猫 -> neko,
    カピバラ -> kapibara (pykakasi, offline). A piece pykakasi cannot write in letters (a lone ー, an unknown kanji)
    is left as typed, so it shows as ``<UNK>``. Text without Japanese comes back unchanged."""
    if not _JAPANESE_RUN.search(text):
        return Romanized(text)
    kks = _kakasi()
    if kks is None:
        return Romanized(text)
    pairs: list[tuple[str, str]] = []

    def convert(m: re.Match) -> str:
        run = m.group()
        with _kakasi_lock:
            items = kks.convert(run)
        out = "".join(it["hepburn"] if _LETTERS.fullmatch(it["hepburn"] or "") else it["orig"] for it in items)
        if "".join(it["orig"] for it in items) != run:  # pykakasi dropped a character it has no reading for
            return run
        if out != run:
            pairs.append((run, out))
        return out

    return Romanized(_JAPANESE_RUN.sub(convert, text), tuple(pairs))


@dataclass(frozen=True)
class Encoded:
    ids: tuple[int, ...]  # token ids, <BOS> first
    tokens: tuple[str, ...]  # display strings, one per id
    unknown: tuple[str, ...]  # distinct characters that became <UNK>, in order of appearance
    lowercased: bool  # the text had uppercase letters
    truncated: int  # characters dropped from the front to fit the context window
    romanized: tuple[tuple[str, str], ...] = ()  # Japanese runs written in romaji: (as typed, as read)


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
        rom = romanize(text) if any(ch not in self.stoi for ch in text) else Romanized(text)
        text = rom.text
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
        return Encoded(
            ids=tuple(ids),
            tokens=tuple(self.display(i) for i in ids),
            unknown=unknown,
            lowercased=lowered != text,
            truncated=truncated,
            romanized=rom.pairs,
        )

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
