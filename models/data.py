"""The word list: loading, validation, the train / validation / test split and batching into (x, y) tensors.

A word becomes ``[<BOS>, c1..cn, <EOS>, <PAD>...]``; x is that sequence without its last token and y the same
sequence shifted by one, so position t of x predicts y[t] and <PAD> targets are ignored by the loss. <EOS> is a
target only: x is ``[<BOS>, c1..cn, <PAD>...]`` however long its batch's longest word is.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from models.layers import Packing
from models.messages import N_, Message, MessageError
from models.vocab import BOS_ID, DEFAULT_VOCAB, EOS_ID, PAD_ID, Vocab

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_WORDS = REPO_DIR / "data" / "words.txt"
MAX_WORDS = 20_000  # an uploaded list larger than this is refused: training it would take too long here
MAX_BYTES = 2_000_000  # an uploaded file larger than this is refused before it is decoded
SPLIT_SEED = 42
# Shares of the split (the rest trains). Validation chooses: early stopping, the kept epoch, recipe settings. Test
# words are used for nothing but the number reported on the model card, Compare and the Leak lesson.
VAL_SHARE = 0.1
TEST_SHARE = 0.1
# Written into every checkpoint: a checkpoint made with another split (e.g. the old seeded 80/20 shuffle) may have
# trained on today's test words, and the pages say so instead of calling its score honest.
SPLIT_ID = f"sha256-buckets/seed {SPLIT_SEED}/train {1 - VAL_SHARE - TEST_SHARE:.2f} val {VAL_SHARE} test {TEST_SHARE}"


WORD_LIST = Message(N_("word list"))  # what a list is called when it has no file name


class WordListError(MessageError, ValueError):
    """A word list that cannot be trained on; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class WordList:
    words: tuple[str, ...]
    duplicates_dropped: int = 0
    blank_lines: int = 0

    @property
    def sha256(self) -> str:
        return words_hash(self.words)


def words_hash(words) -> str:
    return hashlib.sha256("\n".join(words).encode()).hexdigest()


def parse_words(
    text: str,
    *,
    vocab: Vocab = DEFAULT_VOCAB,
    block_size: int = 48,
    max_words: int = MAX_WORDS,
    source: str = WORD_LIST,
) -> WordList:
    """Validate one-word-per-line text. Words are lowercased and stripped; duplicates are dropped and counted."""
    if "\x00" in text:
        raise WordListError(N_("{source} looks like a binary file, not text with one word per line."), source=source)
    lines = text.splitlines()
    stripped = [ln.strip().lower() for ln in lines]
    words = [w for w in stripped if w]
    if not words:
        raise WordListError(N_("{source} is empty: put one word per line (letters a-z)."), source=source)
    bad: dict[str, list[str]] = {}
    for w in words:
        for ch in vocab.unknown_chars(w):
            bad.setdefault(ch, []).append(w)
    if bad:
        shown = "; ".join(
            f"{ch!r} ({', '.join(repr(w) for w in ws[:3])}{', …' if len(ws) > 3 else ''})"
            for ch, ws in list(bad.items())[:8]
        )
        raise WordListError(
            N_("{source} has characters outside the vocabulary (a-z): {shown}. Remove or replace them and try again."),
            source=source,
            shown=shown,
        )
    longest = max(words, key=len)
    if len(longest) + 2 > block_size:  # +2: <BOS> and <EOS> must fit the context too
        too_long = [w for w in words if len(w) + 2 > block_size]
        raise WordListError(
            N_(
                "{source} has {n} word(s) longer than the model's context of {context} characters, "
                "e.g. {word!r}. Shorten or remove them."
            ),
            source=source,
            n=len(too_long),
            context=block_size - 2,
            word=too_long[0][:40],
        )
    unique = list(dict.fromkeys(words))
    if len(unique) > max_words:
        raise WordListError(
            N_("{source} has {n} distinct words; the limit is {limit}. Use a smaller list."),
            source=source,
            n=len(unique),
            limit=max_words,
        )
    if len(unique) < 5:
        raise WordListError(
            N_("{source} has only {n} distinct word(s); at least 5 are needed for a train / validation / test split."),
            source=source,
            n=len(unique),
        )
    return WordList(
        words=tuple(unique), duplicates_dropped=len(words) - len(unique), blank_lines=len(lines) - len(words)
    )


def parse_words_bytes(raw: bytes, *, source: str = WORD_LIST, max_bytes: int = MAX_BYTES, **kw) -> WordList:
    """Validate an uploaded or read file: size, binary content and encoding first (UTF-8; UTF-16 and UTF-32 are
    decoded too, see :func:`text_encoding`), then :func:`parse_words`."""
    if len(raw) > max_bytes:
        raise WordListError(
            N_("{source} is {size:.1f} MB; the limit is {limit:.0f} MB (at most {n} words). Use a smaller list."),
            source=source,
            size=len(raw) / 1e6,
            limit=max_bytes / 1e6,
            n=MAX_WORDS,
        )
    encoding = text_encoding(raw)
    if encoding is None:
        raise WordListError(
            N_(
                "{source} looks like a binary file, not text with one word per line. If it is text, "
                "save it as plain UTF-8 text and try again."
            ),
            source=source,
        )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise WordListError(
            N_(
                "{source} is not UTF-8 text with one word per line (undecodable byte at position "
                "{position}). Save it as plain UTF-8 text and try again."
            ),
            source=source,
            position=e.start,
        ) from e
    return parse_words(text, source=source, **kw)


def text_encoding(raw: bytes) -> str | None:
    """The codec that reads ``raw``: UTF-8 (BOM or not) unless it is UTF-16 or UTF-32, which Windows Notepad and
    Excel write as "Unicode" text (a BOM, or for UTF-16 without one every ASCII character followed or preceded by a
    zero byte); None for binary data (other zero bytes)."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):  # the UTF-32 BOMs first: FF FE 00 00 also starts with UTF-16's FF FE
            return codec
    if b"\x00" not in raw:
        return "utf-8-sig"
    if len(raw) % 2 == 0:
        odd, even = raw[1::2], raw[0::2]
        if odd.count(0) == len(odd) and 0 not in even:
            return "utf-16-le"
        if even.count(0) == len(even) and 0 not in odd:
            return "utf-16-be"
    return None


def load_words(path: str | Path = DEFAULT_WORDS, **kw) -> WordList:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise WordListError(N_("Cannot read word list {path}: {why}"), path=path, why=e.strerror or str(e)) from e
    return parse_words_bytes(raw, source=str(path), **kw)


class Split(NamedTuple):
    """A word list cut three ways; ``split[1]`` is the validation part (callers that only need it index it)."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


def _bucket(word: str, seed: int) -> float:
    """A number in [0, 1) that depends on the word and the seed only, not on the other words of the list."""
    digest = hashlib.sha256(f"{seed}:{word}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_words(words, seed: int = SPLIT_SEED, val_share: float = VAL_SHARE, test_share: float = TEST_SHARE) -> Split:
    """Train / validation / test, decided word by word from a hash of (seed, word), in the list's order.

    Because each word's part depends on the word alone, adding or removing other words never moves a test word
    into training: a test word stays a test word of every list that holds it. Shares are therefore close to, not
    exactly, 80 / 10 / 10. A list too small for that to give every part a word (under ~40 words) is cut by
    rank of the same hash instead, so each part still gets at least one word.
    """
    words = tuple(words)
    b = {w: _bucket(w, seed) for w in words}
    test_cut, val_cut = 1.0 - test_share, 1.0 - test_share - val_share
    part = lambda w: "test" if b[w] >= test_cut else "val" if b[w] >= val_cut else "train"
    parts = {k: tuple(w for w in words if part(w) == k) for k in ("train", "val", "test")}
    if len(words) >= 3 and not all(parts.values()):
        ranked = sorted(words, key=b.get)  # the same hash, cut by rank
        n_test = max(1, round(len(words) * test_share))
        n_val = max(1, round(len(words) * val_share))
        test, val = set(ranked[-n_test:]), set(ranked[-n_test - n_val : -n_test])
        parts = {
            "train": tuple(w for w in words if w not in test and w not in val),
            "val": tuple(w for w in words if w in val),
            "test": tuple(w for w in words if w in test),
        }
    return Split(parts["train"], parts["val"], parts["test"])


def encode_words(words, vocab: Vocab = DEFAULT_VOCAB, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) each (N, L) long tensors, L = longest word + 1 (or ``length``)."""
    L = max(len(w) for w in words) + 1 if length is None else length
    seqs = torch.full((len(words), L + 1), PAD_ID, dtype=torch.long)
    for i, w in enumerate(words):
        ids = [BOS_ID] + [vocab.stoi[c] for c in w] + [EOS_ID]
        if len(ids) > L + 1:
            raise ValueError(f"word {w!r} needs {len(ids) - 1} positions, more than length={L}")
        seqs[i, : len(ids)] = torch.tensor(ids)
    x, y = seqs[:, :-1].clone(), seqs[:, 1:].contiguous()  # (N, L), (N, L)
    # <EOS> is only ever a target: where a shorter word's x would hold it (the position after its last character,
    # whose target is <PAD>), x holds <PAD>, so x is [<BOS>, c1..cn, <PAD>...] for every word whatever its batch —
    # the source a model reading the word alone gets (the padding is masked, see models.full_transformer).
    x[x == EOS_ID] = PAD_ID
    return x, y


def pack_pairs(x: torch.Tensor, y: torch.Tensor):
    """Lay a batch's words two to a row, the shortest with the longest, instead of padding each to the longest.

    x, y (B, L) as from ``encode_words``. Returns ``(xp, yp, packing)``: (ceil(B/2), T) tensors, T the longest
    pair, and the ``models.layers.Packing`` (position in own word, which word) a causal model needs so that
    attention never crosses words. Every target of every word is there once, so the loss is the same; at batch
    128 of data/words.txt the rows hold ~40 % fewer positions than (B, L). Padding at a row's end is a segment of
    its own.
    """
    return pack_batches(x, y, torch.arange(len(x), device=x.device), len(x))[0]


def pack_batches(x: torch.Tensor, y: torch.Tensor, perm: torch.Tensor, batch_size: int) -> list[tuple]:
    """``pack_pairs`` of every batch ``perm[i:i + batch_size]`` of an epoch, computed together: one set of tensor
    ops an epoch instead of ~25 small ones a step, which weigh on a small model's step."""
    B, n = batch_size, len(perm)
    full = n // B
    out = _pack_rows(x, y, perm[: full * B].view(full, B)) if full else []
    if n % B:
        out += _pack_rows(x, y, perm[full * B :].view(1, -1))
    return out


def _pack_rows(x, y, words):  # words (N, B): N batches of B word indices
    N, B = words.shape
    L, h, dev = x.size(1), (B + 1) // 2, x.device
    need = (y != PAD_ID).sum(1)  # (all words,) positions each uses: characters + <EOS>
    short = words.gather(1, need[words].argsort(dim=1, stable=True))  # (N, B) each batch, shortest first
    a = short[:, :h]  # the shorter half (and the middle word when B is odd)
    b = torch.zeros(N, h, dtype=torch.long, device=dev)
    b[:, : B - h] = short[:, h:].flip(1)  # the longer half, longest first: shortest + longest
    na = need[a]
    nb = torch.zeros(N, h, dtype=torch.long, device=dev)
    nb[:, : B - h] = need[b[:, : B - h]]
    lengths = (na + nb).amax(1).tolist()  # each batch's row length
    j = torch.arange(max(lengths), device=dev).view(1, 1, -1)
    in_a = j < na[..., None]  # (N, h, T)
    real = j < (na + nb)[..., None]
    flat = torch.where(in_a, a[..., None] * L + j, b[..., None] * L + j - na[..., None])
    flat = flat.masked_fill_(~real, 0)  # any valid index: padding is overwritten below
    xp = x.reshape(-1)[flat].masked_fill_(~real, PAD_ID)
    yp = y.reshape(-1)[flat].masked_fill_(~real, PAD_ID)
    pos = torch.where(in_a, j, j - na[..., None]).masked_fill_(~real, 0)
    seg = (~in_a).long() + (~real).long()  # 0 first word, 1 second word, 2 padding
    return [
        (
            xp[i, :, :T].contiguous(),
            yp[i, :, :T].contiguous(),
            Packing(positions=pos[i, :, :T].contiguous(), segments=seg[i, :, :T].contiguous()),
        )
        for i, T in enumerate(lengths)
    ]


def next_char_counts(prefix: str, words) -> dict[str, int]:
    """How the words that start with ``prefix`` continue: {next char or '<EOS>': count}, most common first."""
    counts: dict[str, int] = {}
    for w in words:
        if w.startswith(prefix):
            nxt = w[len(prefix)] if len(w) > len(prefix) else "<EOS>"
            counts[nxt] = counts.get(nxt, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
