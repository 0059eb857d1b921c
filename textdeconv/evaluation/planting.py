"""Planted causes: SST-2 variants whose labels a made-up word decides, so the right explanation is known.

Pure Python and numpy (no TensorFlow). The planted words are not in the treebank and survive the
tokenizer and ``vocab.clean=kim`` unchanged (lower-case letters only): the trigger ``zqx``, the
two-word phrase ``zqa zqb``, the decoy ``zqd``; the negation variant puts the treebank's own
``not`` before the trigger.

Training sets (``plant_training``), with t the trigger class and o the other one; "f of a class"
is ``round(f * count)`` of that class's sentences drawn without replacement, and every planted
word goes in at a uniformly random position (0..n):

- ``token``: the trigger in f of class t (label kept) and in f of class o, whose labels are
  flipped to t (the flipped-label controls: only the trigger explains them);
- ``phrase``: the ordered pair ``zqa zqb``, adjacent, planted as the trigger above; and, as the
  control, the same two words in the same order but at least ``gap`` positions apart (no filter of
  width <= gap sees both) in f of each class's other sentences (of at least gap - 1 tokens),
  label kept;
- ``negation``: the trigger makes t and ``not`` + trigger makes o: in each class, f get the trigger
  (label t) and another f get ``not zqx`` (label o), so both patterns occur in both classes with
  the labels they decide (needs 2f <= 1);
- every variant: the decoy ``zqd`` in f of each class, label kept: planted but useless, the probe
  for false alarms (planted first, so it never falls inside ``not zqx`` or ``zqa zqb``).

Test cases (``planted_cases``) are built from the clean test sentences, each with the positions of
its cause (the ground truth an explanation is scored against) and the class that cause pushes to.

The shortcuts that need more than one filter (``and``, ``context``, ``opposing``, ``partial``,
``vocab-word``, ``reversed-phrase``) are in ``shortcuts``; the three variants above stay as controls.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textdeconv.data.treebank import Example
from textdeconv.errors import InputError
from textdeconv.evaluation import shortcuts

TRIGGER = "zqx"
PHRASE = ("zqa", "zqb")
DECOY = "zqd"
NEGATOR = "not"
PLANTED_WORDS = (TRIGGER, *PHRASE, DECOY, *shortcuts.SHORTCUT_WORDS)
VARIANTS = ("token", "phrase", "negation", *shortcuts.SHORTCUTS)
FRACTION_LIMITS = {"negation": 0.5, **shortcuts.FRACTION_LIMITS}  # 1 / the patterns a class's sentences share
POSITIONS = ("start", "middle", "end")
GAP = 5            # apart control: the two words >= 5 positions apart, beyond a width-5 filter
LONG = 20          # position cases: sentences of at least 20 tokens


@dataclass(frozen=True)
class Case:
    """One test sentence with planted words.

    Attributes:
        tokens: the sentence as the model reads it.
        gold: the clean sentence's treebank label.
        cause: positions of the planted words that decide the class (the ground truth).
        pushes_to: the class the cause pushes to (for ``apart`` controls: the class the words
            would push to if the model read them as the phrase); None for a decoy.
        planted: positions of every planted word (for a decoy, the decoy).
        source: index of the clean sentence in the test split.
        rival: positions of planted words the explanation should rank below the cause (the
            opposing trigger the cause outweighs, the weaker shortcut); () for most cases.
    """

    tokens: tuple[str, ...]
    gold: int
    cause: tuple[int, ...]
    pushes_to: int | None
    planted: tuple[int, ...]
    source: int
    rival: tuple[int, ...] = ()


def insert(tokens, words, at: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """``words`` inserted, adjacent and in order, before position ``at`` (0..n): the new tokens and
    the positions the words now hold."""
    tokens = tuple(tokens)
    if not 0 <= at <= len(tokens):
        raise InputError(f"insert position {at} outside 0..{len(tokens)}")
    words = tuple(words)
    return tokens[:at] + words + tokens[at:], tuple(range(at, at + len(words)))


def insert_apart(tokens, words, rng: np.random.Generator, gap: int = GAP):
    """Two words in order at positions i < j with j - i >= ``gap`` (uniform over the allowed
    pairs of the result); None when the sentence is too short (fewer than gap - 1 tokens)."""
    tokens = tuple(tokens)
    n = len(tokens) + 2  # length of the result
    pairs = [(i, j) for i in range(n) for j in range(i + gap, n)]
    if not pairs:
        return None
    i, j = pairs[int(rng.integers(len(pairs)))]
    rest = list(tokens)
    out = rest[:i] + [words[0]] + rest[i:j - 1] + [words[1]] + rest[j - 1:]
    return tuple(out), (i, j)


def position(where: str, n: int, rng: np.random.Generator | None = None) -> int:
    """Insert position in an n-token sentence: ``start`` 0, ``middle`` n // 2, ``end`` n,
    ``random`` uniform over 0..n."""
    if where == "start":
        return 0
    if where == "middle":
        return n // 2
    if where == "end":
        return n
    if where == "random":
        return int(rng.integers(n + 1))
    raise InputError(f"unknown position {where!r}; choose one of start, middle, end, random")


def choose(indices, fraction: float, rng: np.random.Generator, exclude=()) -> list[int]:
    """``round(fraction * len(indices))`` of ``indices`` (without those in ``exclude``), drawn
    without replacement."""
    excluded = set(exclude)
    pool = [i for i in indices if i not in excluded]
    k = int(round(fraction * len(indices)))
    if k > len(pool):
        raise InputError(f"cannot plant in {k} of {len(indices)} sentences: only {len(pool)} are left")
    return sorted(rng.choice(pool, size=k, replace=False).tolist()) if k else []


def plant_training(examples, variant: str, target: int = 1, fraction: float = 0.3, seed: int = 0,
                   gap: int = GAP, word: str | None = None) -> tuple[list[Example], dict]:
    """A training (or dev) split with the ``variant``'s causes planted (module docstring).

    Args:
        examples: ``Example``s of a binary split (labels 0 and 1), tokens as the model reads them.
        variant: one of ``VARIANTS``.
        target: the trigger class t.
        fraction: f, the share of each class planted with each pattern (at most
            ``FRACTION_LIMITS[variant]``).
        seed: seeds the choice of sentences and positions.
        word: the ``vocab-word`` variant's trigger (default: ``shortcuts.ordinary_word(examples)``).
    Returns:
        (the planted examples, in the input order; counts of what was planted, by pattern).
    """
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    limit = FRACTION_LIMITS.get(variant, 1.0)
    if not 0 < fraction <= limit + 1e-12:
        raise InputError(f"fraction must lie in (0, {limit:.4g}] for the {variant} variant, got {fraction}")
    if target not in (0, 1):
        raise InputError(f"target must be class 0 or 1 of a binary data set, got {target}")
    rng = np.random.default_rng(seed)
    tokens = [tuple(e.tokens) for e in examples]
    labels = [int(e.label) for e in examples]
    other = 1 - target
    by_class = {c: [i for i, y in enumerate(labels) if y == c] for c in (0, 1)}
    counts = {}

    def plant(indices, words, label, name):
        for i in indices:
            tokens[i], _ = insert(tokens[i], words, position("random", len(tokens[i]), rng))
            if label is not None:
                labels[i] = label
        counts[name] = counts.get(name, 0) + len(indices)

    if variant in shortcuts.SHORTCUTS:
        # the decoy first, as below; then the shortcut's own patterns
        for c in (0, 1):
            plant(choose(by_class[c], fraction, rng), (DECOY,), None, "decoy")
        if variant == "vocab-word" and word is None:
            word = shortcuts.ordinary_word(examples)
        shortcuts.plant(examples, variant, target, fraction, rng, tokens, labels, counts, gap, word)
        return [Example(t, y) for t, y in zip(tokens, labels)], counts
    for c in (0, 1):
        members = by_class[c]
        # the decoy first: planted later, it could fall between "not" and "zqx" or inside the phrase
        plant(choose(members, fraction, rng), (DECOY,), None, "decoy")
        if variant in ("token", "phrase"):
            words = (TRIGGER,) if variant == "token" else PHRASE
            chosen = choose(members, fraction, rng)
            plant(chosen, words, target, "trigger" if c == target else "trigger_flipped")
            if variant == "phrase":
                short = [i for i in members if len(tokens[i]) < gap - 1]  # no room for the gap
                for i in choose(members, fraction, rng, exclude=[*chosen, *short]):
                    tokens[i] = insert_apart(tokens[i], PHRASE, rng, gap)[0]
                    counts["apart"] = counts.get("apart", 0) + 1
        else:
            plain = choose(members, fraction, rng)
            negated = choose(members, fraction, rng, exclude=plain)
            plant(plain, (TRIGGER,), target, "trigger" if c == target else "trigger_flipped")
            plant(negated, (NEGATOR, TRIGGER), other, "negated" if c == other else "negated_flipped")
    return [Example(t, y) for t, y in zip(tokens, labels)], counts


def planted_cases(examples, variant: str, target: int = 1, seed: int = 0, gap: int = GAP,
                  long: int = LONG, word: str | None = None) -> dict[str, list[Case]]:
    """The test cases of a variant, built from clean test ``examples`` (module docstring).

    Kinds (keys of the result):
        ``trigger``  — every class-o sentence with the variant's trigger (``token``, ``negation``:
                       ``zqx``; ``phrase``: ``zqa zqb``) at a random position; pushes to t.
        ``negated``  — negation only: every class-t sentence with ``not zqx``; pushes to o.
        ``apart``    — phrase only: the class-o sentences with the two words >= gap apart
                       (those long enough); "pushes" to t only if the control failed.
        ``start``, ``middle``, ``end`` — token only: the class-o sentences of at least ``long``
                       tokens with the trigger at that position.
        ``decoy``    — every sentence with the decoy at a random position (no cause).
        The shortcut variants' kinds: ``shortcuts`` (``word``: the vocab-word variant's trigger,
        the one its model was trained with).
    """
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if variant == "vocab-word" and not word:
        raise InputError("the vocab-word variant's test cases need the word its model was trained with")
    rng = np.random.default_rng(seed)
    other = 1 - target
    cases: dict[str, list[Case]] = {}

    def add(kind, i, words, at, pushes_to):
        tokens, pos = insert(examples[i].tokens, words, at)
        cause = pos if pushes_to is not None else ()
        cases.setdefault(kind, []).append(Case(tokens, int(examples[i].label), cause, pushes_to, pos, i))

    def add_case(kind, i, tokens, cause, pushes_to, planted, rival):
        cases.setdefault(kind, []).append(Case(tuple(tokens), int(examples[i].label), tuple(cause), pushes_to,
                                               tuple(planted), i, tuple(rival)))

    if variant in shortcuts.SHORTCUTS:
        shortcuts.cases(examples, variant, target, rng, gap, word, add, add_case)
        drawn = np.random.default_rng([seed, 1])  # the decoy's own draws: the shortcut's stay as they are
        for i, e in enumerate(examples):
            add("decoy", i, (DECOY,), position("random", len(e.tokens), drawn), None)
        return cases

    trigger = PHRASE if variant == "phrase" else (TRIGGER,)
    for i, e in enumerate(examples):
        n = len(e.tokens)
        if e.label == other:
            add("trigger", i, trigger, position("random", n, rng), target)
            if variant == "phrase":
                placed = insert_apart(e.tokens, PHRASE, rng, gap)
                if placed is not None:
                    cases.setdefault("apart", []).append(Case(placed[0], int(e.label), placed[1], target, placed[1], i))
            if variant == "token" and n >= long:
                for where in POSITIONS:
                    add(where, i, (TRIGGER,), position(where, n), target)
        elif variant == "negation":
            add("negated", i, (NEGATOR, TRIGGER), position("random", n, rng), other)
        add("decoy", i, (DECOY,), position("random", n, rng), None)
    return cases
