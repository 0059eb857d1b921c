"""ROAR (plain and recursive) and data randomization: the removal rules and the comparisons by
hand, then both studies end to end on a small synthetic treebank (sharing their base model)."""
import json

import numpy as np
import pytest
from helpers.planted import study_overrides, write_treebank

from textdeconv.data.treebank import Example
from textdeconv.evaluation.data_randomization import compare, permuted_splits, topk_overlap
from textdeconv.evaluation.roar import n_remove, other_class, reduce_split, remove_top


def test_n_remove_keeps_a_word():
    assert [n_remove(0.1, n) for n in (1, 2, 9, 10, 11, 20)] == [0, 1, 1, 1, 2, 2]
    assert [n_remove(0.5, n) for n in (1, 2, 3, 4, 5)] == [0, 1, 2, 2, 3]
    assert n_remove(0.3, 10) == 3  # no float-noise extra word (0.3 * 10 = 3.0000000000000004)
    assert n_remove(0.2, 0) == 0


def test_remove_top_by_signed_score_keeps_order():
    tokens = ("a", "b", "c", "d", "e")
    assert remove_top(tokens, [0.1, 0.9, -2.0, 0.9, 0.0], 2) == ("a", "c", "e")  # ties: earlier first
    assert remove_top(tokens, [0.1, 0.9, -2.0, 0.9, 0.0], 0) == tokens
    assert remove_top(tokens, [5, 4, 3, 2, 1], 4) == ("e",)
    with pytest.raises(ValueError, match="4 scores for 5 tokens"):
        remove_top(tokens, [1, 2, 3, 4], 1)
    data = [Example(("x", "y", "z"), 1), Example(("p",), 0)]
    assert reduce_split(data, [np.array([0.0, 1.0, 0.5]), np.array([3.0])], [2, 0]) == \
        [Example(("x",), 1), Example(("p",), 0)]


def test_other_class_is_binary_only():
    assert other_class([0, 1, 1, 0]) == [1, 0, 0, 1]
    assert other_class(np.array([1, 0])) == [0, 1]
    with pytest.raises(ValueError, match="needs two classes, the model has 5"):
        other_class([0, 3], num_classes=5)


def test_topk_overlap_and_compare_by_hand():
    assert topk_overlap([3, 2, 1, 0, 0], [0, 2, 3, 1, 0], fraction=0.4) == 0.5  # top-2 {0, 1} vs {2, 1}
    assert topk_overlap([1, 2, 3], [1, 2, 3], fraction=0.2) == 1.0  # k = 1
    assert topk_overlap([1, 2, 3], [3, 2, 1], fraction=1.0) == 1.0  # k = n: every set is the whole sentence
    from textdeconv.attribution.explanation import Explanation

    def e(scores):
        return Explanation(["w"] * len(scores), np.arange(len(scores)), np.asarray(scores, float), 1, "", 1, "",
                           np.array([0.5, 0.5]), "hand")

    res = compare([e([1, 2, 3]), e([1, 2, 3, 4])], [e([3, 2, 1]), e([1, 2, 3, 4])], fraction=0.25)
    assert res["spearman_mean"] == pytest.approx(0.0) and res["n_sentences"] == 2  # -1 and +1
    assert res["abs_spearman_mean"] == pytest.approx(1.0)  # a whole-map sign flip ranks alike: |rho| 1
    assert res["topk_overlap"] == pytest.approx(0.5)  # k = 1: {2} vs {0}, then {3} vs {3}


def test_permuted_splits():
    splits = {"train": [Example((str(i),), i % 2) for i in range(40)], "dev": [Example(("d",), 0)] * 6,
              "test": [Example(("t",), 1)] * 3}
    perm = permuted_splits(splits, seed=3)
    assert [e.tokens for e in perm["train"]] == [e.tokens for e in splits["train"]]
    assert sorted(e.label for e in perm["train"]) == sorted(e.label for e in splits["train"])  # a permutation
    assert [e.label for e in perm["train"]] != [e.label for e in splits["train"]]
    assert len(perm["dev"]) == 6 and all(e in perm["train"] for e in perm["dev"])  # a sample of the permuted train
    assert perm["test"] is splits["test"]
    assert permuted_splits(splits, seed=3) == perm


# ------------------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from textdeconv.evaluation.retrain import study_config

    root = tmp_path_factory.mktemp("roar")
    data = write_treebank(root / "data", sizes=(160, 40, 60))
    return study_config("tiny.yaml", study_overrides(data)), root / "runs"


def test_roar_end_to_end(study):
    from textdeconv.evaluation.retrain import accuracy, load_model, sentence_splits
    from textdeconv.evaluation.roar import roar_study

    cfg, runs = study
    res = roar_study(cfg, runs, ["random"], fractions=(0.5,), seeds=(0,))
    assert res["retrains"] == 2  # the base model and ROAR at 50%
    r = res["methods"]["random"]
    assert set(r) == {"roar", "deletion", "roar_on_full", "roar_on_swapped"} and set(r["roar"]) == {"50"}
    assert 0 <= r["roar"]["50"]["mean"] <= 1 and r["roar"]["50"]["n"] == 1 and r["roar"]["50"]["sd"] is None
    assert 0.5 < res["base"]["test_accuracy"]["mean"] <= 1  # the synthetic task is learnable
    # random ignores the class, so the swapped removal is the same removal: the same accuracy
    assert r["roar_on_swapped"]["50"]["mean"] == r["roar"]["50"]["mean"]
    splits, _ = sentence_splits(cfg)
    vocab, net = load_model(runs / "roar-random-50-seed0")
    assert r["roar_on_full"]["50"]["mean"] == accuracy(net, vocab, splits["test"])  # every word back
    lines = (runs / "roar-random-50-seed0" / "data" / "test.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    # every sentence lost ceil(n / 2) of its n words, one word kept
    assert [len(row["text"].split()) for row in rows] == [len(e.tokens) - n_remove(0.5, len(e.tokens))
                                                          for e in splits["test"]]
    with pytest.raises(ValueError, match="increasing values"):
        roar_study(cfg, runs, ["random"], fractions=(0.5, 0.2))
    # explicit target classes, one per sentence (the swapped removal), as the explainer gives them
    from textdeconv.attribution import make_explainer
    from textdeconv.evaluation.roar import explain_scores

    explainer = make_explainer("deconv", net, vocab, ["negative", "positive"])
    some = splits["test"][:4]
    want = [e.scores for e in explainer.explain([list(e.tokens) for e in some], target=[1, 0, 0, 1])]
    assert all(np.array_equal(a, b) for a, b in zip(explain_scores(explainer, some, [1, 0, 0, 1]), want))
    with pytest.raises(ValueError, match="3 targets for 4 examples"):
        explain_scores(explainer, some, [1, 0, 0])
    with pytest.raises(ValueError, match=r"recursive seeds must be among the seeds: \[3\]"):
        roar_study(cfg, runs, ["random"], seeds=(0,), recursive_methods=("random",), recursive_seeds=(3,))


@pytest.mark.slow
def test_recursive_roar_removes_up_to_the_original_count(study):
    from textdeconv.evaluation.retrain import sentence_splits
    from textdeconv.evaluation.roar import roar_study

    cfg, runs = study
    res = roar_study(cfg, runs, ["occlusion"], fractions=(0.2, 0.5), seeds=(0,), recursive_methods=("occlusion",))
    assert set(res["methods"]["occlusion"]["recursive"]) == {"20", "50"}
    splits, _ = sentence_splits(cfg)
    for pct, f in (("20", 0.2), ("50", 0.5)):
        rows = (runs / f"rroar-occlusion-{pct}-seed0" / "data" / "test.jsonl").read_text().splitlines()
        # each step removes words until ceil(k n) of the original n are gone, whatever the last step took
        assert [len(json.loads(row)["text"].split()) for row in rows] == \
            [len(e.tokens) - n_remove(f, len(e.tokens)) for e in splits["test"]]


def test_data_randomization_end_to_end(study):
    from textdeconv.evaluation.data_randomization import data_randomization_study

    cfg, runs = study  # base-seed0 comes from the ROAR test when it ran first
    res = data_randomization_study(cfg, runs, ["deconv", "random"], seeds=(0,), n_sentences=20, permuted_epochs=3)
    model = res["models"]["0"]
    assert 0 <= model["permuted_test_accuracy"] <= 1 and 0 <= model["permuted_memorised"] <= 1
    # the random method does not look at the model: identical scores on both, rho 1, full overlap
    rand = res["methods"]["random"]["permuted"]
    assert rand["spearman"]["mean"] == pytest.approx(1.0) and rand["topk_overlap"]["mean"] == 1.0
    assert rand["abs_rho"]["mean"] == pytest.approx(1.0)
    assert res["methods"]["deconv"]["permuted"]["spearman"]["mean"] < 0.99
    assert "other_seed" not in res["methods"]["deconv"]  # one seed: no second real model to compare with
    assert res["n_sentences"] == 20 and res["permuted_training"] == {"epochs": 3, "patience": 0}


def test_roar_and_randomization_command_errors(tmp_path, capsys):
    from textdeconv.cli import main

    for argv, fragment in ((["roar", "--fractions", "0.5", "0.2"], "--fractions must be increasing values"),
                           (["roar", "--fractions", "1.0"], "--fractions must be increasing values in (0, 1)"),
                           (["roar", "--methods", "deconv", "random", "--recursive", "occlusion"],
                            "--recursive names methods not in --methods: occlusion"),
                           (["roar", "--seeds", "0", "1", "--recursive-seeds", "2", "0"],
                            "--recursive-seeds names seeds not in --seeds: 2"),
                           (["randomization", "--top", "0"], "--top must lie in (0, 1]"),
                           (["randomization", "--sentences", "0"], "--sentences must be at least 1"),
                           (["randomization", "--seeds", "-1"], "--seeds must be non-negative")):
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--runs-dir", str(tmp_path / "r"), "--out", str(tmp_path / "o.json")])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists() and not (tmp_path / "o.json").exists()


def test_all_stands_for_every_method():
    from textdeconv.cli.studies import every

    assert every(["occlusion", "all"], ["deconv", "occlusion", "random"]) == ["occlusion", "deconv", "random"]
    assert every(["all", "all"], ["a", "b"]) == ["a", "b"] and every([], ["a"]) == []
