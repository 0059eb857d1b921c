"""Tokenizer for raw text in the SST/PTB conventions, and the vocabulary (PAD = 0, UNK = 1).

The treebank is tokenized the Penn Treebank way: clitics split off (``ca n't``, ``it 's``),
punctuation separate, brackets as ``-LRB-``/``-RRB-``, double quotes as ````` and ``''``.
``tokenize`` applies the same rules to text a user types, so ``explain.py "a gripping, funny
movie"`` looks up the same vocabulary entries the model was trained on.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from textdeconv.errors import DataError, InputError, MissingFileError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
BUCKET_CHUNK = 100  # batches per sorting chunk: near-uniform lengths in a batch, order still random

_BRACKETS = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"}
_RULES = [
    # opening double quotes -> ``
    (re.compile(r'^"'), "`` "),
    (re.compile(r'(``)'), r" \1 "),
    (re.compile(r'([ (\[{<])"'), r"\1 `` "),
    (re.compile(r"[“„]"), " `` "),
    (re.compile(r"(?<!`)`(?!`)"), " ` "),  # a lone opening single quote (also from ‘) is a token
    # punctuation
    (re.compile(r"\.\.\.|…"), " ... "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r"([^.])(\.)([\]\)}>\"'`\s]*)$"), r"\1 \2 \3 "),  # sentence-final period
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[\]\[\(\)\{\}<>]"), r" \g<0> "),
    (re.compile(r"--|—|–(?=\s)"), " -- "),
    (re.compile(r"([:,])(?=[^\d])"), r" \1 "),  # a lookahead, so ",,a" splits both commas
    (re.compile(r"([:,])$"), r" \1 "),
    # closing double quotes -> ''
    (re.compile(r'"|”'), " '' "),
    (re.compile(r"(\S)('')"), r"\1 \2 "),
    # clitics
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
    (re.compile(r"\b(can)(not)\b", re.I), r"\1 \2"),
    (re.compile(r"\b(gon)(na)\b", re.I), r"\1 \2"),
    (re.compile(r"\b(wan)(na)\b", re.I), r"\1 \2"),
]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 and C1 controls (C1 \x9b is a terminal CSI)
# Invisible characters that only separate or reorder text: zero-width space, BOM, bidi marks,
# embeddings, overrides and isolates (an override left in a token would reverse a terminal line).
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


_KIM_SST = re.compile(r"[^A-Za-z0-9(),!?'`]")  # what Kim's clean_str_sst keeps


def clean_tokens(tokens, clean: str | None) -> list[str]:
    """Apply a cleaning scheme to a token sequence; the result is what the model sees and scores.

    ``None`` keeps the tokens. ``"kim"`` is Kim (2014)'s ``clean_str_sst`` (process_data.py of his
    CNN_sentence code) token by token: every character outside ``A-Za-z0-9(),!?'``` becomes a space,
    so ``"well-made"`` -> ``["well", "made"]``, ``"-LRB-"`` -> ``["LRB"]``, and ``"."``, ``"--"``,
    ``"..."`` and ``";"`` vanish (lower-casing stays ``vocab.lowercase``'s job). On the SST
    sentences of all three splits it gives 16,189 (SST-2) and 17,837 (SST-5) lower-cased types,
    the vocabulary sizes Kim's Table 1 reports (16,185 and 17,836); the tokens as they are give
    17,574 and 19,537.
    """
    if clean is None:
        return list(tokens)
    if clean != "kim":
        raise InputError(f"unknown cleaning scheme {clean!r}; expected None or 'kim'")
    # one substitution over the joined tokens: a space is outside the kept set, so the pieces are
    # those of each token in turn (token by token was a fifth of a streamed explanation's time)
    return _KIM_SST.sub(" ", " ".join(tokens)).split()


def clean_aligned(tokens, values, clean: str | None) -> tuple[list[str], list]:
    """``clean_tokens`` that carries a per-token value along: each piece of a split token keeps
    its token's value, a vanished token drops its own (e.g. the treebank's word labels)."""
    pairs = [(piece, v) for t, v in zip(tokens, values, strict=True) for piece in clean_tokens([t], clean)]
    return [p for p, _ in pairs], [v for _, v in pairs]


def normalize_token(token: str, lowercase: bool) -> str:
    """Form used for vocabulary look-up; treebank tokens and typed tokens both pass through it."""
    return token.lower() if lowercase else token


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split raw text into PTB tokens, e.g. ``"Isn't it (great)?"`` ->
    ``["is", "n't", "it", "-lrb-", "great", "-rrb-", "?"]`` (lower-cased when asked).

    Control characters (C0 and C1), zero-width spaces, byte-order marks and bidi controls count as
    spaces; the text is NFC-normalised; a token made only of invisible format characters (a lone
    zero-width joiner) is dropped. An empty or whitespace-only text gives ``[]``.
    """
    text = unicodedata.normalize("NFC", _INVISIBLE.sub(" ", _CONTROL.sub(" ", text)))
    text = text.replace("’", "'").replace("‘", "`")
    text = " " + text + " "
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    tokens = [_BRACKETS.get(t, t) for t in text.split()
              if t.isascii() or not all(unicodedata.category(c) == "Cf" for c in t)]  # ASCII has no Cf
    return [normalize_token(t, lowercase) for t in tokens]


class Vocab:
    """Token <-> id map; ids 0 and 1 are PAD and UNK.

    Saved as ``vocab.txt``: one token per line, the line number (from 0) is the id. ``clean`` is
    the run's ``vocab.clean``: ``prepare`` applies it to a token list before look-up.
    """

    def __init__(self, tokens: list[str], lowercase: bool = True, clean: str | None = None):
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}")
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate tokens in vocabulary")
        self.lowercase = lowercase
        self.clean = clean
        clean_tokens((), clean)  # an unknown scheme fails here, not at the first sentence

    @classmethod
    def build(cls, sequences, min_count: int = 1, lowercase: bool = True, clean: str | None = None) -> "Vocab":
        """Vocabulary of every (cleaned) token seen at least ``min_count`` times, most frequent first."""
        counts = Counter(normalize_token(t, lowercase) for seq in sequences for t in clean_tokens(seq, clean))
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK] + [t for t in kept if t not in (PAD, UNK)], lowercase, clean)

    def prepare(self, tokens) -> list[str]:
        """The token list the model reads for ``tokens``: ``vocab.clean`` applied (idempotent)."""
        return clean_tokens(tokens, self.clean)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return normalize_token(token, self.lowercase) in self.stoi

    def encode(self, tokens) -> list[int]:
        """Token ids, UNK for unknown tokens; no padding."""
        return [self.stoi.get(normalize_token(t, self.lowercase), UNK_ID) for t in tokens]

    def decode(self, ids) -> list[str]:
        return [self.itos[i] for i in ids]

    def save(self, path: str | Path) -> None:
        from textdeconv.files import atomic_write_text

        if any("\n" in t or "\r" in t for t in self.itos):
            raise ValueError("vocabulary tokens may not contain line breaks")
        atomic_write_text(path, "\n".join(self.itos) + "\n")

    @classmethod
    def load(cls, path: str | Path, lowercase: bool = True, clean: str | None = None) -> "Vocab":
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"vocabulary file not found: {path}")
        clean_tokens((), clean)  # a bad scheme is the caller's, not the file's
        try:
            tokens = path.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not a textdeconv vocabulary (not UTF-8: byte 0x{e.object[e.start]:02x} "
                            f"at offset {e.start})") from None
        if tokens and tokens[-1] == "":
            tokens.pop()
        try:
            return cls(tokens, lowercase, clean)
        except ValueError as e:
            raise DataError(f"{path}: not a textdeconv vocabulary ({e})") from None


def pad_batch(sequences, pad: int, min_len: int = 0):
    """Lay out id sequences as the model expects: ``pad`` PAD ids, the tokens, then PAD up to the
    longest row (at least ``pad`` after every sentence), as Kim padded each sentence.

    Returns:
        ids: (batch, time) int32 numpy array.
    """
    width = max(max((len(s) for s in sequences), default=0) + 2 * pad, min_len)
    out = np.zeros((len(sequences), width), dtype=np.int32)
    for i, s in enumerate(sequences):
        out[i, pad : pad + len(s)] = s
    return out


def length_batches(lengths, batch_size: int, rng=None):
    """Group example indices into batches of similar length.

    With ``rng`` (training): shuffle, sort within chunks of ``BUCKET_CHUNK`` batches by length,
    cut into batches and shuffle the batches. Without (evaluation): sort everything by length.
    """
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        perm = rng.permutation(len(lengths))
        chunk = batch_size * BUCKET_CHUNK
        order = np.concatenate([perm[i:i + chunk][np.argsort(lengths[perm[i:i + chunk]], kind="stable")]
                                for i in range(0, len(perm), chunk)] or [perm])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
