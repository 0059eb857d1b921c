"""The shortcuts that need more than one filter (issue 35): each generator's label rule holds by
construction, the singles of ``context`` are balanced, ``partial`` relabels exactly its share, the
test cases know their causes and rivals, and the metrics on hand-made scores and a hand-set model."""
from collections import Counter

import numpy as np
import pytest
from helpers.exact import raises_exactly

from textdeconv.data.treebank import Example
from textdeconv.errors import InputError
from textdeconv.evaluation.planting import DECOY, GAP, PHRASE, VARIANTS, plant_training, planted_cases
from textdeconv.evaluation.shortcuts import (
    AND_WORDS,
    CONTEXT,
    CONTEXT_TRIGGER,
    FOR_O,
    FOR_T,
    PARTIAL_RATE,
    SHORTCUTS,
    STRONG,
    WEAK,
    ordinary_word,
)

WORDS = tuple("abcdefghijklmnopqrstuvwxyz")


def examples(n_per_class=50, seed=0):
    rng = np.random.default_rng(seed)
    return [Example(tuple(rng.choice(WORDS, size=int(rng.integers(3, 30)))), i % 2) for i in range(2 * n_per_class)]


def where(tokens, word):
    return [i for i, t in enumerate(tokens) if t == word]


def test_the_new_variants_are_registered_by_their_names():
    assert SHORTCUTS == ("and", "context", "opposing", "partial", "vocab-word", "reversed-phrase")
    assert VARIANTS[:3] == ("token", "phrase", "negation") and set(SHORTCUTS) <= set(VARIANTS)


@pytest.mark.parametrize("target", [0, 1])
def test_and_flips_the_label_only_when_both_words_occur(target):
    data = examples()
    planted, counts = plant_training(data, "and", target=target, fraction=0.3, seed=1)
    assert counts["both"] == counts["first_alone"] == counts["second_alone"] == 30  # 15 of each class
    seen = Counter()
    for before, after in zip(data, planted):
        a, b = where(after.tokens, AND_WORDS[0]), where(after.tokens, AND_WORDS[1])
        assert len(a) <= 1 and len(b) <= 1
        assert [t for t in after.tokens if t not in (*AND_WORDS, DECOY)] == list(before.tokens)
        if a and b:
            assert b[0] - a[0] >= GAP and after.label == target  # apart: no width-5 filter sees both
            seen["both"] += 1
        else:
            assert after.label == before.label  # one word alone (or none) changes nothing
            seen["one"] += bool(a or b)
    assert seen == {"both": 30, "one": 60}


def test_context_counts_only_next_to_its_context_word_and_the_singles_are_balanced():
    data = examples()
    planted, counts = plant_training(data, "context", target=1, fraction=0.3, seed=2)
    # each single in the same share of both classes: alone, neither word says anything about the class
    assert counts["trigger_alone_0"] == counts["trigger_alone_1"] == 15
    assert counts["context_alone_0"] == counts["context_alone_1"] == 15 and counts["pair"] == 30
    orders, singles = Counter(), Counter()
    for before, after in zip(data, planted):
        t, k = where(after.tokens, CONTEXT_TRIGGER), where(after.tokens, CONTEXT)
        if t and k:
            assert abs(t[0] - k[0]) == 1 and after.label == 1  # adjacent, either order
            orders[t[0] < k[0]] += 1
        elif t or k:
            assert after.label == before.label
            singles[("trigger" if t else "context", before.label)] += 1
    assert set(orders) == {True, False}
    assert singles == {("trigger", 0): 15, ("trigger", 1): 15, ("context", 0): 15, ("context", 1): 15}


@pytest.mark.parametrize("target", [0, 1])
def test_opposing_triggers_each_decide_their_class_and_together_the_target(target):
    data = examples()
    planted, counts = plant_training(data, "opposing", target=target, fraction=0.3, seed=3)
    assert counts["for_t"] == counts["for_o"] == counts["both"] == 30
    for after in planted:
        p, n = FOR_T in after.tokens, FOR_O in after.tokens
        if p:
            assert after.label == target  # alone or outweighing the other one
        elif n:
            assert after.label == 1 - target


def test_partial_relabels_exactly_its_share_of_the_weak_sentences():
    data = examples()
    planted, counts = plant_training(data, "partial", target=1, fraction=0.2, seed=4)
    assert counts["strong"] == counts["weak"] == 20 and counts["weak_relabelled"] == 2 * round(PARTIAL_RATE * 10)
    weak_o = [(b, a) for b, a in zip(data, planted) if WEAK in a.tokens and b.label == 0]
    assert len(weak_o) == 10
    flip_rate = np.mean([a.label == 1 for _, a in weak_o])
    assert flip_rate == pytest.approx(PARTIAL_RATE)  # 7 of the 10 class-0 weak sentences relabelled
    assert all(a.label == 1 for b, a in zip(data, planted) if STRONG in a.tokens or (WEAK in a.tokens and b.label))
    assert not any(STRONG in a.tokens and WEAK in a.tokens for a in planted)  # separate sentences in training


def test_reversed_phrase_order_alone_decides():
    data = examples()
    planted, counts = plant_training(data, "reversed-phrase", target=1, fraction=0.3, seed=5)
    assert counts["forward"] == counts["reversed"] == 30
    for before, after in zip(data, planted):
        a, b = where(after.tokens, PHRASE[0]), where(after.tokens, PHRASE[1])
        if not a:
            assert not b and after.label == before.label
            continue
        assert abs(a[0] - b[0]) == 1
        assert after.label == (1 if b[0] == a[0] + 1 else 0)


def word_examples():
    """'plot' in 40 sentences, 20 of each class (balanced); 'dull' in 30, all class 0; 'film' in
    40, 30 of class 1; 'acting' in 10 (too rare); one-letter fillers."""
    out = []
    for i in range(100):
        y = i % 2
        words = ["x", "y"]
        if i < 40:
            words.append("plot")
        if y == 0 and i < 60:
            words.append("dull")
        if (y == 1 and i < 60) or i in (0, 2, 4, 6, 8, 10, 12, 14, 16, 18):
            words.append("film")
        if i < 10:
            words.append("acting")
        out.append(Example(tuple(words), y))
    return out


def test_ordinary_word_and_the_vocab_word_variant():
    data = word_examples()
    assert ordinary_word(data) == "plot"  # balanced like the data (0.5), 20-200 sentences, >= 4 letters
    with raises_exactly(InputError, "no ordinary word occurs in 20-200 of the 100 sentences; the vocab-word "
                                    "variant needs a larger training split"):
        ordinary_word(examples())
    planted, counts = plant_training(data, "vocab-word", target=0, fraction=0.2, seed=6)
    # 20% of each class's 50 sentences, drawn from the 30 that lack the word
    assert counts["natural"] == 40 and counts["trigger"] == 2 * 10
    assert all(e.label == 0 for e in planted if "plot" in e.tokens)  # the rule holds for every sentence
    assert sum("plot" in e.tokens for e in planted) == 60 and all(e.tokens.count("plot") <= 1 for e in planted)
    with raises_exactly(InputError, "the vocab-word variant's test cases need the word its model was trained with"):
        planted_cases(data, "vocab-word")
    cases = planted_cases(data, "vocab-word", target=1, seed=0, word="plot")
    assert len(cases["trigger"]) == 30  # the class-0 sentences without the word
    assert all(tuple(c.tokens[i] for i in c.cause) == ("plot",) and c.pushes_to == 1 for c in cases["trigger"])


def test_fraction_limits():
    with raises_exactly(InputError, "fraction must lie in (0, 0.3333] for the and variant, got 0.4"):
        plant_training(examples(), "and", fraction=0.4)
    with raises_exactly(InputError, "fraction must lie in (0, 0.5] for the partial variant, got 0.6"):
        plant_training(examples(), "partial", fraction=0.6)


def test_test_cases_know_their_causes_and_rivals():
    data = examples()
    t, o = 1, 0

    def words(c, positions):
        return tuple(c.tokens[i] for i in positions)

    got = planted_cases(data, "and", target=t, seed=0)
    assert set(got) == {"trigger", "first-alone", "second-alone", "decoy"}
    assert all(words(c, c.cause) == AND_WORDS and c.cause[1] - c.cause[0] >= GAP and c.pushes_to == t
               and c.gold == o for c in got["trigger"])
    assert all(words(c, c.cause) == AND_WORDS[:1] for c in got["first-alone"])
    got = planted_cases(data, "context", target=t, seed=0)
    assert all(set(words(c, c.cause)) == {CONTEXT, CONTEXT_TRIGGER} and c.cause[1] == c.cause[0] + 1
               for c in got["trigger"])
    assert {words(c, c.cause) for c in got["trigger-alone"]} == {(CONTEXT_TRIGGER,)}
    got = planted_cases(data, "opposing", target=t, seed=0)
    assert all(words(c, c.cause) == (FOR_T,) and words(c, c.rival) == (FOR_O,) and c.pushes_to == t
               and sorted(c.planted) == sorted(c.cause + c.rival) for c in got["trigger"])
    assert len(got["trigger"]) == 50
    got = planted_cases(data, "partial", target=t, seed=0)
    assert all(words(c, c.cause) == (WEAK,) for c in got["trigger"])
    assert all(words(c, c.cause) == (STRONG,) and words(c, c.rival) == (WEAK,) for c in got["strength"])
    got = planted_cases(data, "reversed-phrase", target=t, seed=0)
    assert all(words(c, c.cause) == PHRASE and c.pushes_to == t and c.gold == o for c in got["trigger"])
    assert all(words(c, c.cause) == PHRASE[::-1] and c.pushes_to == o and c.gold == t for c in got["reversed"])
    assert len(got["trigger"]) == len(got["reversed"]) == 50 and len(got["decoy"]) == 100
    for variant in SHORTCUTS:  # every case is the clean sentence with only the planted words added
        kw = {"word": "zzz"} if variant == "vocab-word" else {}
        for kind, kind_cases in planted_cases(data, variant, target=t, seed=3, **kw).items():
            for c in kind_cases:
                rest = [w for i, w in enumerate(c.tokens) if i not in c.planted]
                assert rest == list(data[c.source].tokens), (variant, kind)
    # seeded
    assert planted_cases(data, "opposing", seed=1) == planted_cases(data, "opposing", seed=1)


def test_rival_and_precision_at_k_by_hand():
    from textdeconv.evaluation.groundtruth import trigger_scores

    s = [0.1, 0.9, 0.3, 0.5]  # ranking: 1, 3, 2, 0
    assert trigger_scores(s, (1,), rival=(3,))["above_rival"] == 1.0
    assert trigger_scores(s, (2,), rival=(3,))["above_rival"] == 0.0
    got = trigger_scores(s, (1, 2), rival=(0,))  # ranks 1 and 3, rival rank 4
    assert got["above_rival"] == 1.0 and got["p_at_k"] == 0.5 and got["rank"] == 2.0
    assert trigger_scores(s, (1, 2), rival=(3,))["above_rival"] == 0.0  # the rival (rank 2) beats one cause token
    assert "above_rival" not in trigger_scores(s, (1,))
    with raises_exactly(InputError, "rival positions [1] must lie in the 4-token sentence, apart from the cause"):
        trigger_scores(s, (1,), rival=(1,))


def opposing_model():
    """Width-1 TextCNN, one-hot embeddings of zqp and zqn: filter 0 fires on zqp, filter 1 on zqn;
    logit_1 = 2 [zqp], logit_0 = 1 [zqn] + 0.5: zqp outweighs zqn, and without zqp class 0 wins."""
    from textdeconv.config import ModelConfig
    from textdeconv.data.vocab import PAD, UNK, Vocab
    from textdeconv.model.textcnn import TextCNN, build_model

    words = [PAD, UNK, FOR_T, FOR_O, DECOY, "a", "b", "c"]
    net = TextCNN(build_model(ModelConfig(embedding_dim=2, filter_sizes=(1,), num_filters=2, max_norm=None),
                              len(words), 2))
    table = np.zeros((len(words), 2), np.float32)
    table[2, 0] = table[3, 1] = 1.0
    net.tables[0].embeddings.assign(table)
    net.convs[0].kernel.assign(np.eye(2, dtype=np.float32)[None])
    net.convs[0].bias.assign([0.0, 0.0])
    net.dense.kernel.assign([[0.0, 2.0], [1.0, 0.0]])
    net.dense.bias.assign([0.5, 0.0])
    return net, Vocab(words, lowercase=True)


def test_opposing_row_on_a_hand_set_model():
    from textdeconv.evaluation.groundtruth import evaluate_planted

    net, vocab = opposing_model()
    data = [Example(("a", "b"), 0), Example(("c", "a", "b", "c"), 0), Example(("b",), 1)]
    cases = planted_cases(data, "opposing", target=1, seed=0)
    res = evaluate_planted(net, vocab, ["negative", "positive"], "opposing", cases, data, ["occlusion", "random"])
    assert res["rows"]["opposing"] == {"status": "scored", "flip_rate": 1.0, "n_scored": 2}
    row = res["methods"]["occlusion"]["opposing"]
    # occlusion of class 1: removing zqp drops logit_1 by 2, removing zqn changes nothing (0, as every
    # filler): zqp first, zqn below it
    assert row["p_at_1"] == row["p_at_k"] == row["above_rival"] == 1.0 and row["rank"] == 1.0


@pytest.mark.slow
def test_shortcut_study_end_to_end(tmp_path):
    """Two of the new variants through the study on the synthetic treebank (tiny model, 1 seed)."""
    from helpers.planted import study_overrides, write_treebank

    from textdeconv.evaluation.groundtruth import groundtruth_study
    from textdeconv.evaluation.retrain import study_config

    cfg = study_config("tiny.yaml", study_overrides(write_treebank(tmp_path / "data")))
    res = groundtruth_study(cfg, tmp_path / "runs", variants=("opposing", "reversed-phrase"), seeds=(0,),
                            methods=("occlusion", "random"), threshold=0.0, max_cases=10)
    assert list(res["rows"]) == ["opposing", "reversed-phrase", "reversed-phrase-reversed"]
    assert [res["rows"][r]["k"] for r in res["rows"]] == [1, 2, 2]
    opposing = res["methods"]["occlusion"]["opposing"]
    assert {"p_at_k", "rank", "above_rival", "counter_first"} <= set(opposing)
    assert "above_rival" not in res["methods"]["occlusion"]["reversed-phrase"]
    assert res["models"]["opposing"]["0"]["planted_train"]["both"] > 0
