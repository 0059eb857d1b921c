"""The vocabulary and tokenizer of someone else's Keras text model (no TensorFlow import here).

A vocabulary is a list of tokens where the position is the id, laid out as Keras's
``TextVectorization`` lays it out and as textdeconv does: id 0 is padding, id 1 the
out-of-vocabulary token. It comes as

- a file path: one token per line, line N (from 0) = id N, UTF-8 (``vectorizer.get_vocabulary()``
  written one per line; its first line is empty, the padding token ``""``);
- a list of tokens;
- a ``keras.layers.TextVectorization`` (anything with ``get_vocabulary()``).

Texts are split as the model's vectorizer split them: ``keras`` (TextVectorization's default:
strip ``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'`` and split on whitespace, looked up lower-cased),
``ptb`` (textdeconv's Penn Treebank tokenizer), ``whitespace``, or any callable text -> tokens.
"""
from __future__ import annotations

import re
from pathlib import Path

from textdeconv.data.vocab import PAD, UNK, Vocab, tokenize
from textdeconv.errors import InputError, MissingFileError

KERAS_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')  # TextVectorization's strip regex


def keras_tokenize(text: str) -> list[str]:
    """TextVectorization's ``lower_and_strip_punctuation`` + whitespace split, case kept (the
    look-up lower-cases): ``"It's a gem!"`` -> ``["Its", "a", "gem"]``."""
    return KERAS_PUNCTUATION.sub("", text).split()


TOKENIZERS = {"keras": keras_tokenize, "ptb": lambda text: tokenize(text, lowercase=False), "whitespace": str.split}


def _check_tokens(tokens: list, where: str) -> list[str]:
    if len(tokens) < 2:
        raise InputError(f"{where}: a vocabulary needs at least the padding (id 0) and unknown-word (id 1) "
                         f"tokens, got {len(tokens)} token(s)")
    seen = {}
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise InputError(f"{where}: token {i} is {type(token).__name__}, not a string")
        if i >= 2 and (not token.strip() or token != token.strip()):
            raise InputError(f"{where}: token {i} ({token!r}) is empty or has surrounding spaces; only id 0 "
                             "(padding) may be empty")
        if i >= 2 and token in seen:
            raise InputError(f"{where}: token {token!r} appears twice (ids {seen[token]} and {i})")
        seen.setdefault(token, i)
    return list(tokens)


def read_vocabulary(source) -> list[str]:
    """The tokens of ``source`` (a file path, a list, or a TextVectorization), position = id.

    Raises:
        MissingFileError: the file does not exist; InputError: it is unreadable or malformed.
    """
    if hasattr(source, "get_vocabulary"):
        return _check_tokens([str(t) for t in source.get_vocabulary()], f"{type(source).__name__} vocabulary")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise MissingFileError(f"vocabulary file not found: {path}" if not path.exists() else
                                   f"{path} is a folder; give the vocabulary file (one token per line)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text (byte {e.start}); save the vocabulary as UTF-8") from None
        lines = [line.rstrip("\r") for line in text.split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        for i, token in enumerate(lines[2:], start=2):
            if not token.strip() or token != token.strip():
                raise InputError(f"{path}:{i + 1}: empty token or surrounding spaces; one token per line, only "
                                 "line 1 (id 0, padding) may be empty")
        return _check_tokens(lines, str(path))
    if isinstance(source, (list, tuple)):
        return _check_tokens(list(source), "vocabulary")
    raise InputError(f"vocabulary must be a file path, a list of tokens or a TextVectorization, "
                     f"got {type(source).__name__}")


def vocab_from_tokens(tokens: list[str], lowercase: bool = True) -> Vocab:
    """A textdeconv ``Vocab`` with the same ids (ids 0 and 1 renamed <pad> and <unk>)."""
    return Vocab([PAD, UNK] + list(tokens[2:]), lowercase=lowercase)


def vectorizer_tokenizer(vectorizer) -> tuple:
    """(tokenizer, lowercase) reproducing a TextVectorization's built-in standardize and split."""
    config = vectorizer.get_config()
    standardize, split = config.get("standardize"), config.get("split")
    name = type(vectorizer).__name__
    if callable(standardize) or callable(split) or isinstance(standardize, dict) or isinstance(split, dict):
        raise InputError(f"{name} uses a custom standardize or split function; pass tokenizer=<callable text -> "
                         "tokens> that does the same")
    if config.get("ngrams"):
        raise InputError(f"{name} makes n-grams (ngrams={config['ngrams']}); the engine explains single tokens")
    strip = standardize in ("strip_punctuation", "lower_and_strip_punctuation")
    lower = standardize in ("lower", "lower_and_strip_punctuation")
    if split == "character":
        def tok(text):
            return list(KERAS_PUNCTUATION.sub("", text) if strip else text)
    elif split is None:
        def tok(text):
            return [KERAS_PUNCTUATION.sub("", text) if strip else text]
    else:
        tok = keras_tokenize if strip else str.split
    return tok, lower


def tokenizer_for(tokenizer=None, vectorizer=None, lowercase=None) -> tuple:
    """(callable text -> tokens, lowercase) from a name, a callable or the model's vectorizer."""
    if tokenizer is None and vectorizer is not None:
        tok, lower = vectorizer_tokenizer(vectorizer)
        return tok, lower if lowercase is None else bool(lowercase)
    tokenizer = "keras" if tokenizer is None else tokenizer
    if isinstance(tokenizer, str):
        if tokenizer not in TOKENIZERS:
            raise InputError(f"unknown tokenizer {tokenizer!r}; choose one of {', '.join(TOKENIZERS)} "
                             "or pass a callable")
        tokenizer = TOKENIZERS[tokenizer]
    if not callable(tokenizer):
        raise InputError(f"tokenizer must be a name or a callable text -> tokens, got {type(tokenizer).__name__}")
    return tokenizer, True if lowercase is None else bool(lowercase)
