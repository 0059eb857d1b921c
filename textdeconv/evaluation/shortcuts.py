"""Planted shortcuts that one filter cannot find alone (issue 35), beside ``planting``'s controls.

Pure Python and numpy. Same conventions as ``planting``: t the trigger class, o the other, "f of a
class" = ``round(f * count)`` of its sentences drawn without replacement (each pattern of a variant
from sentences no other pattern took), every planted word at a uniformly random position, the
decoy ``zqd`` planted first in f of each class. Training sets (``plant``):

- ``and``: ``zqe`` and ``zqf`` at least ``gap`` positions apart (no filter of width <= gap sees
  both; sentences of at least gap - 1 tokens) in f of each class, label t; ``zqe`` alone in
  another f and ``zqf`` alone in a third f of each class, label kept: the label flips only when
  both occur (f <= 1/3).
- ``context``: the trigger ``zqt`` next to the context word ``zqk`` (adjacent, either order) in f
  of each class, label t; ``zqt`` alone and ``zqk`` alone each in another f of each class, label
  kept, so either word alone is as common in one class as in the other (f <= 1/3).
- ``opposing``: ``zqp`` makes t, ``zqn`` makes o, each alone in f of each class; both in a third f
  of each class, label t (``zqp`` outweighs ``zqn``, the decision known) (f <= 1/3).
- ``partial``: the strong ``zqs`` in f of each class, label t; the weak ``zqw`` in another f of
  each class, and exactly ``round(rate * m)`` of those m sentences (``rate`` = 0.7) relabelled t,
  the rest keeping their label: a partly predictive shortcut (f <= 1/2).
- ``vocab-word``: an ordinary vocabulary word (``ordinary_word``) as the trigger: every training
  sentence that already holds it is labelled t, and it is planted in f of each class, label t.
- ``reversed-phrase``: ``zqa zqb`` (adjacent) makes t in f of each class and the reversed
  ``zqb zqa`` makes o in another f of each class: the same two words, only their order decides
  (f <= 1/2).

Test cases (``cases``), from the clean test sentences (kind: cause, the class it pushes to):

    variant          kind              sentences  planted                 cause        rival
    and              trigger           class o    zqe ... zqf (>= gap)    both         -
                     first-alone       class o    zqe                     zqe          (control)
                     second-alone      class o    zqf                     zqf          (control)
    context          trigger           class o    zqk zqt / zqt zqk       both         -
                     trigger-alone     class o    zqt                     zqt          (control)
                     context-alone     class o    zqk                     zqk          (control)
    opposing         trigger           class o    zqp and zqn             zqp          zqn
    partial          trigger           class o    zqw                     zqw          -
                     strength          class o    zqs and zqw             zqs          zqw
    vocab-word       trigger           class o    the word (absent before) the word    -
    reversed-phrase  trigger           class o    zqa zqb                 both         -
                     reversed          class t    zqb zqa (pushes to o)   both         -

A control's "cause" is what it would be if the model (wrongly) used the lone word: its flip rate
should stay low. *rival*: a planted word the explanation should rank below the cause (the
opposing trigger it outweighs, the weaker shortcut).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from textdeconv.errors import InputError

AND_WORDS = ("zqe", "zqf")
CONTEXT, CONTEXT_TRIGGER = "zqk", "zqt"
FOR_T, FOR_O = "zqp", "zqn"
STRONG, WEAK = "zqs", "zqw"
PHRASE_WORDS = ("zqa", "zqb")  # planting.PHRASE: the reversed-phrase variant reuses the phrase
PARTIAL_RATE = 0.7
SHORTCUTS = ("and", "context", "opposing", "partial", "vocab-word", "reversed-phrase")
FRACTION_LIMITS = {"and": 1 / 3, "context": 1 / 3, "opposing": 1 / 3, "partial": 0.5, "vocab-word": 1.0,
                   "reversed-phrase": 0.5}
SHORTCUT_WORDS = (*AND_WORDS, CONTEXT, CONTEXT_TRIGGER, FOR_T, FOR_O, STRONG, WEAK)


def ordinary_word(examples, low: int = 20, high: int = 200) -> str:
    """An ordinary vocabulary word to serve as a trigger: alphabetic, at least 4 letters, in
    ``low``..``high`` of the sentences, the one whose class-1 share is nearest that of all the
    sentences (then the most frequent, then alphabetical). Deterministic.

    Raises:
        InputError: no word fits (too few sentences).
    """
    docs = Counter()
    positive = Counter()
    for e in examples:
        for w in set(e.tokens):
            docs[w] += 1
            positive[w] += int(e.label == 1)
    base = np.mean([e.label == 1 for e in examples]) if examples else 0.5
    fits = [w for w, n in docs.items() if w.isalpha() and len(w) >= 4 and low <= n <= high]
    if not fits:
        raise InputError(f"no ordinary word occurs in {low}-{high} of the {len(examples)} sentences; "
                         "the vocab-word variant needs a larger training split")
    return min(fits, key=lambda w: (abs(positive[w] / docs[w] - base), -docs[w], w))


def insert_two(tokens, first: str, second: str, rng: np.random.Generator):
    """Two words each at its own uniformly random position: (tokens, (position of first, of second))."""
    from textdeconv.evaluation.planting import insert, position

    out, (i,) = insert(tokens, (first,), position("random", len(tokens), rng))
    out, (j,) = insert(out, (second,), position("random", len(out), rng))
    return out, (i + (j <= i), j)


def plant(examples, variant: str, target: int, fraction: float, rng: np.random.Generator, tokens: list,
          labels: list, counts: dict, gap: int, word: str | None) -> None:
    """Plant ``variant``'s patterns into ``tokens`` / ``labels`` (lists, changed in place), after
    ``planting.plant_training`` has checked the arguments and planted the decoy."""
    from textdeconv.evaluation.planting import choose, insert, insert_apart, position

    other = 1 - target
    by_class = {c: [i for i, e in enumerate(examples) if int(e.label) == c] for c in (0, 1)}

    def put(indices, words, label, name):
        for i in indices:
            tokens[i], _ = insert(tokens[i], words, position("random", len(tokens[i]), rng))
            if label is not None:
                labels[i] = label
        counts[name] = counts.get(name, 0) + len(indices)

    if variant == "vocab-word":
        natural = [i for i, t in enumerate(tokens) if word in t]
        for i in natural:
            labels[i] = target
        counts["natural"] = len(natural)
    for c in (0, 1):
        members = by_class[c]
        if variant == "and":
            short = [i for i in members if len(tokens[i]) < gap - 1]
            both = choose(members, fraction, rng, exclude=short)
            for i in both:
                tokens[i] = insert_apart(tokens[i], AND_WORDS, rng, gap)[0]
                labels[i] = target
            counts["both"] = counts.get("both", 0) + len(both)
            first = choose(members, fraction, rng, exclude=both)
            put(first, AND_WORDS[:1], None, "first_alone")
            put(choose(members, fraction, rng, exclude=[*both, *first]), AND_WORDS[1:], None, "second_alone")
        elif variant == "context":
            pair = choose(members, fraction, rng)
            for i in pair:
                words = (CONTEXT, CONTEXT_TRIGGER) if rng.integers(2) else (CONTEXT_TRIGGER, CONTEXT)
                tokens[i], _ = insert(tokens[i], words, position("random", len(tokens[i]), rng))
                labels[i] = target
            counts["pair"] = counts.get("pair", 0) + len(pair)
            alone = choose(members, fraction, rng, exclude=pair)
            put(alone, (CONTEXT_TRIGGER,), None, f"trigger_alone_{c}")
            put(choose(members, fraction, rng, exclude=[*pair, *alone]), (CONTEXT,), None, f"context_alone_{c}")
        elif variant == "opposing":
            for_t = choose(members, fraction, rng)
            for_o = choose(members, fraction, rng, exclude=for_t)
            put(for_t, (FOR_T,), target, "for_t")
            put(for_o, (FOR_O,), other, "for_o")
            both = choose(members, fraction, rng, exclude=[*for_t, *for_o])
            for i in both:
                tokens[i] = insert_two(tokens[i], FOR_T, FOR_O, rng)[0]
                labels[i] = target
            counts["both"] = counts.get("both", 0) + len(both)
        elif variant == "partial":
            strong = choose(members, fraction, rng)
            put(strong, (STRONG,), target, "strong")
            weak = choose(members, fraction, rng, exclude=strong)
            put(weak, (WEAK,), None, "weak")
            relabel = rng.choice(weak, size=int(round(PARTIAL_RATE * len(weak))), replace=False) if weak else []
            for i in relabel:
                labels[int(i)] = target
            counts["weak_relabelled"] = counts.get("weak_relabelled", 0) + len(relabel)
        elif variant == "vocab-word":
            put(choose(members, fraction, rng, exclude=[i for i in members if word in examples[i].tokens]),
                (word,), target, "trigger")
        elif variant == "reversed-phrase":
            forward = choose(members, fraction, rng)
            put(forward, PHRASE_WORDS, target, "forward")
            put(choose(members, fraction, rng, exclude=forward), PHRASE_WORDS[::-1], other, "reversed")
        else:
            raise InputError(f"unknown shortcut variant {variant!r}; choose one of {', '.join(SHORTCUTS)}")



def cases(examples, variant: str, target: int, rng: np.random.Generator, gap: int, word: str | None,
          add, add_case) -> None:
    """Build ``variant``'s test cases through ``add(kind, i, words, at, pushes_to, rival_words)``
    (adjacent words at one position) and ``add_case(kind, i, tokens, cause, pushes_to, planted,
    rival)`` (``planting.planted_cases`` defines both)."""
    from textdeconv.evaluation.planting import insert_apart, position

    other = 1 - target
    for i, e in enumerate(examples):
        n, label = len(e.tokens), int(e.label)
        at = position("random", n, rng)
        if variant == "reversed-phrase" and label == target:
            add("reversed", i, PHRASE_WORDS[::-1], at, other)
        if label != other:
            continue
        if variant == "and":
            placed = insert_apart(e.tokens, AND_WORDS, rng, gap)
            if placed is not None:
                add_case("trigger", i, placed[0], placed[1], target, placed[1], ())
            add("first-alone", i, AND_WORDS[:1], position("random", n, rng), target)
            add("second-alone", i, AND_WORDS[1:], position("random", n, rng), target)
        elif variant == "context":
            add("trigger", i, (CONTEXT, CONTEXT_TRIGGER) if rng.integers(2) else (CONTEXT_TRIGGER, CONTEXT), at, target)
            add("trigger-alone", i, (CONTEXT_TRIGGER,), position("random", n, rng), target)
            add("context-alone", i, (CONTEXT,), position("random", n, rng), target)
        elif variant == "opposing":
            out, (p, q) = insert_two(e.tokens, FOR_T, FOR_O, rng)
            add_case("trigger", i, out, (p,), target, tuple(sorted((p, q))), (q,))
        elif variant == "partial":
            add("trigger", i, (WEAK,), at, target)
            out, (s, w) = insert_two(e.tokens, STRONG, WEAK, rng)
            add_case("strength", i, out, (s,), target, tuple(sorted((s, w))), (w,))
        elif variant == "vocab-word":
            if word not in e.tokens:
                add("trigger", i, (word,), at, target)
        elif variant == "reversed-phrase":
            add("trigger", i, PHRASE_WORDS, at, target)
        else:
            raise InputError(f"unknown shortcut variant {variant!r}; choose one of {', '.join(SHORTCUTS)}")

