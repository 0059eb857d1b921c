"""Planted triggers: insertion (positions, counts, controls), the ranking metrics by hand, the
flip check on a hand-set model, and the study end to end on a small synthetic treebank."""
import json
import sys
from collections import Counter

import numpy as np
import pytest
from helpers.planted import study_overrides, write_treebank

from textdeconv.data.treebank import Example
from textdeconv.evaluation.planting import (
    DECOY,
    GAP,
    NEGATOR,
    PHRASE,
    TRIGGER,
    VARIANTS,
    choose,
    insert,
    insert_apart,
    plant_training,
    planted_cases,
    position,
)

WORDS = tuple("abcdefghijklmnopqrstuvwxyz")


def examples(n_per_class=50, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(2 * n_per_class):
        out.append(Example(tuple(rng.choice(WORDS, size=int(rng.integers(3, 30)))), i % 2))
    return out


def where(tokens, word):
    return [i for i, t in enumerate(tokens) if t == word]


# ------------------------------------------------------------------------------------- insertion

def test_insert_and_positions():
    assert insert(("a", "b", "c"), ("x",), 0) == (("x", "a", "b", "c"), (0,))
    assert insert(("a", "b", "c"), ("x", "y"), 3) == (("a", "b", "c", "x", "y"), (3, 4))
    assert insert((), ("x",), 0) == (("x",), (0,))
    with pytest.raises(ValueError, match="outside 0..3"):
        insert(("a", "b", "c"), ("x",), 4)
    assert [position(w, 7) for w in ("start", "middle", "end")] == [0, 3, 7]
    rng = np.random.default_rng(0)
    assert {position("random", 3, rng) for _ in range(200)} == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="unknown position"):
        position("centre", 3)


def test_insert_apart_keeps_order_and_gap():
    rng = np.random.default_rng(1)
    for n in range(GAP - 1, 15):
        tokens = WORDS[:n]
        out, (i, j) = insert_apart(tokens, PHRASE, rng)
        assert out[i] == PHRASE[0] and out[j] == PHRASE[1] and j - i >= GAP
        assert [t for t in out if t not in PHRASE] == list(tokens)
    assert insert_apart(WORDS[:GAP - 2], PHRASE, rng) is None  # too short for the gap
    seen = {insert_apart(WORDS[:GAP - 1], PHRASE, rng)[1] for _ in range(50)}
    assert seen == {(0, GAP)}  # the only pair that fits n + 2 = gap + 1 tokens


def test_choose_counts_and_exclusion():
    rng = np.random.default_rng(2)
    picked = choose(range(10), 0.3, rng)
    assert len(picked) == 3 and len(set(picked)) == 3
    rest = choose(range(10), 0.5, rng, exclude=picked)
    assert len(rest) == 5 and not set(rest) & set(picked)
    with pytest.raises(ValueError, match="only 3 are left"):
        choose(range(10), 0.5, rng, exclude=range(7))


def test_token_variant_flips_labels_so_only_the_trigger_explains_them():
    data = examples()
    planted, counts = plant_training(data, "token", target=1, fraction=0.3, seed=3)
    assert counts == {"decoy": 30, "trigger_flipped": 15, "trigger": 15}
    assert len(planted) == len(data)
    with_trigger = [i for i, e in enumerate(planted) if TRIGGER in e.tokens]
    assert len(with_trigger) == 30 and all(planted[i].label == 1 for i in with_trigger)
    flipped = [i for i in with_trigger if data[i].label == 0]
    assert len(flipped) == 15  # the flipped-label controls: negatives relabelled by the trigger alone
    for before, after in zip(data, planted):
        rest = [t for t in after.tokens if t not in (TRIGGER, DECOY)]
        assert rest == list(before.tokens)  # nothing else changed, order kept
        assert after.tokens.count(TRIGGER) <= 1 and after.tokens.count(DECOY) <= 1
        if TRIGGER not in after.tokens:
            assert after.label == before.label  # the decoy never changes a label
    # random positions: the trigger lands at the start, inside and at the end
    spots = Counter("start" if where(e.tokens, TRIGGER) == [0] else
                    "end" if where(e.tokens, TRIGGER) == [len(e.tokens) - 1] else "inside"
                    for e in planted if TRIGGER in e.tokens)
    assert spots["inside"] > 10
    # seeded: the same draw twice, another seed another draw
    assert plant_training(data, "token", 1, 0.3, seed=3)[0] == planted
    assert plant_training(data, "token", 1, 0.3, seed=4)[0] != planted


def test_phrase_variant_and_its_apart_control():
    data = examples()
    planted, counts = plant_training(data, "phrase", target=0, fraction=0.2, seed=5)
    assert counts["trigger"] == counts["trigger_flipped"] == 10 and counts["apart"] == 20
    adjacent = apart = 0
    for before, after in zip(data, planted):
        a, b = where(after.tokens, PHRASE[0]), where(after.tokens, PHRASE[1])
        assert len(a) == len(b) <= 1
        if not a:
            continue
        if b[0] == a[0] + 1:
            adjacent += 1
            assert after.label == 0  # the trigger class
        else:
            apart += 1
            assert b[0] - a[0] >= GAP and after.label == before.label  # the control keeps its label
    assert (adjacent, apart) == (20, 20)


def test_negation_variant():
    data = examples()
    planted, counts = plant_training(data, "negation", target=1, fraction=0.25, seed=6)
    assert {k: counts[k] for k in ("trigger", "trigger_flipped", "negated", "negated_flipped")} == \
        {"trigger": 12, "trigger_flipped": 12, "negated": 12, "negated_flipped": 12}  # round(12.5) = 12
    for after in planted:
        idx = where(after.tokens, TRIGGER)
        if not idx:
            continue
        negated = idx[0] > 0 and after.tokens[idx[0] - 1] == NEGATOR
        assert after.label == (0 if negated else 1)
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 0.5\]"):
        plant_training(data, "negation", fraction=0.6)
    with pytest.raises(ValueError, match="unknown variant"):
        plant_training(data, "tokens")


def test_test_cases_know_their_causes():
    data = examples(seed=7)
    negatives = [e for e in data if e.label == 0]
    long = [e for e in negatives if len(e.tokens) >= 20]
    token = planted_cases(data, "token", target=1, seed=0)
    assert set(token) == {"trigger", "start", "middle", "end", "decoy"}
    assert len(token["trigger"]) == len(negatives) and len(token["decoy"]) == len(data)
    assert len(token["start"]) == len(long) > 0
    for case in token["trigger"]:
        assert [case.tokens[i] for i in case.cause] == [TRIGGER] and case.pushes_to == 1
        assert data[case.source].label == 0 == case.gold
    for kind, at in (("start", lambda n: 0), ("middle", lambda n: n // 2), ("end", lambda n: n)):
        assert all(c.cause == (at(len(data[c.source].tokens)),) for c in token[kind])
    for case in token["decoy"]:
        assert case.cause == () and case.pushes_to is None and [case.tokens[i] for i in case.planted] == [DECOY]
    phrase = planted_cases(data, "phrase", target=1, seed=0)
    assert all(tuple(c.tokens[i] for i in c.cause) == PHRASE and c.cause[1] == c.cause[0] + 1
               for c in phrase["trigger"])
    assert all(c.cause[1] - c.cause[0] >= GAP for c in phrase["apart"])
    negation = planted_cases(data, "negation", target=1, seed=0)
    assert all(tuple(c.tokens[i] for i in c.cause) == (NEGATOR, TRIGGER) and c.pushes_to == 0 and c.gold == 1
               for c in negation["negated"])
    assert set(negation) == {"trigger", "negated", "decoy"}
    assert set(VARIANTS) == {"token", "phrase", "negation", "and", "context", "opposing", "partial", "vocab-word",
                             "reversed-phrase"}


# ---------------------------------------------------------------------------------- metrics by hand

def test_trigger_scores_by_hand():
    from textdeconv.evaluation.groundtruth import score_share, trigger_scores

    s = [0.1, 0.9, 0.3, 0.9]  # ranking: 1, 3 (tie broken by position), 2, 0
    assert trigger_scores(s, (1,)) == {"rank": 1.0, "best_rank": 1, "p_at_1": 1.0, "p_at_k": 1.0, "recall_at_k": 1.0,
                                       "ap": 1.0, "first": 1.0}
    assert trigger_scores(s, (3,)) == {"rank": 2.0, "best_rank": 2, "p_at_1": 0.0, "p_at_k": 0.0, "recall_at_k": 0.0,
                                       "ap": 0.5, "first": 0.0}
    got = trigger_scores(s, (0, 2))  # ranks 4 and 3
    assert got["rank"] == 3.5 and got["best_rank"] == 3 and got["recall_at_k"] == 0.0
    assert got["ap"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    got = trigger_scores(s, (2, 3))  # ranks 3 and 2: one of the two in the top 2
    assert got["recall_at_k"] == 0.5 and got["first"] == 0.0 and got["p_at_1"] == 0.0
    assert got["ap"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # signed: a large negative score is evidence against, ranked last
    assert trigger_scores([-5.0, 0.0, 1.0], (0,))["rank"] == 3.0
    with pytest.raises(ValueError, match="do not fit"):
        trigger_scores(s, (4,))
    assert score_share([1.0, -3.0, 0.0, 4.0], (1,)) == pytest.approx(3 / 8)
    assert np.isnan(score_share([0.0, 0.0], (0,)))


def handset_trigger_model():
    """A width-1 TextCNN whose only filter fires on ``zqx``: logits 4 [zqx in x] (-1, 1) — the
    trigger decides class 1 and nothing else matters."""
    from textdeconv.config import ModelConfig
    from textdeconv.data.vocab import PAD, UNK, Vocab
    from textdeconv.model.textcnn import TextCNN, build_model

    words = [PAD, UNK, TRIGGER, DECOY, "a", "b", "c"]
    net = TextCNN(build_model(ModelConfig(embedding_dim=2, filter_sizes=(1,), num_filters=1, max_norm=None),
                              len(words), 2))
    table = np.zeros((len(words), 2), np.float32)
    table[1:, 1] = 1.0
    table[2] = [1.0, 0.0]
    net.tables[0].embeddings.assign(table)
    net.convs[0].kernel.assign([[[1.0], [-1.0]]])
    net.convs[0].bias.assign([0.0])
    net.dense.kernel.assign([[-4.0, 4.0]])
    net.dense.bias.assign([0.0, 0.0])
    return net, Vocab(words, lowercase=True)


def test_flip_check_and_scores_on_a_hand_set_model():
    from textdeconv.attribution import make_explainer
    from textdeconv.evaluation.groundtruth import change_rate, evaluate_planted, flip_check

    net, vocab = handset_trigger_model()
    data = [Example(("a", "b"), 0), Example(("c", "a", "b", "c"), 0), Example(("b",), 1), Example(("a", "c"), 1)]
    cases = planted_cases(data, "token", target=1, seed=0, long=4)
    # without the trigger logits (0, 0): argmax picks class 0, so every negative is eligible and flips
    check = flip_check(net, vocab, cases["trigger"], data)
    assert check["flip_rate"] == 1.0 and check["n_eligible"] == 2 and check["flipped"].tolist() == [True, True]
    assert change_rate(net, vocab, cases["decoy"], data) == 0.0
    res = evaluate_planted(net, vocab, ["negative", "positive"], "token", cases, data,
                           ["deconv", "deconv-activation", "occlusion", "random"], threshold=0.5)
    assert res["rows"]["token"] == {"status": "scored", "flip_rate": 1.0, "n_scored": 2}
    assert res["rows"]["position-start"]["status"] == "scored"
    for name in ("deconv", "occlusion"):
        row = res["methods"][name]["token"]
        assert row["p_at_1"] == row["first"] == row["ap"] == 1.0 and row["rank"] == 1.0
        assert row["counter_first"] == 0.0  # the trigger is evidence against class 0: ranked last
        assert row["rank_histogram"] == [2] + [0] * 9
        assert row["counter_rank_histogram"] == [0, 0, 1, 0, 1, 0, 0, 0, 0, 0]  # last of 3 and of 5 words
        # clean sentences: nothing fires, every score is zero, so no share and no alarm
        assert np.isnan(row["false_alarm"]) and row["decoy_first"] == 0.0
    # the class-agnostic reconstruction finds the trigger whichever class it is asked about
    agnostic = res["methods"]["deconv-activation"]["token"]
    assert agnostic["p_at_1"] == 1.0 and agnostic["counter_first"] == 1.0
    # a model that ignores the trigger is reported as such and not scored
    net.dense.kernel.assign([[0.0, 0.0]])
    ignored = evaluate_planted(net, vocab, ["negative", "positive"], "token", cases, data, ["occlusion"])
    assert ignored["rows"]["token"]["status"] == "ignored" and ignored["methods"]["occlusion"] == {}
    assert make_explainer("occlusion", net, vocab, ["negative", "positive"]) is not None


# ------------------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_treebank(tmp_path_factory.mktemp("planted_sst"))


def test_groundtruth_command_end_to_end(synthetic, tmp_path, monkeypatch, capsys):
    from textdeconv.cli import main

    out = tmp_path / "results" / "groundtruth.json"
    args = ["groundtruth", "--variants", "token", "--seeds", "0", "--methods", "deconv", "deconv-activation",
            "occlusion", "random", "--runs-dir", str(tmp_path / "runs"), "--out", str(out), "--max-cases", "20",
            "--threshold", "0.0", "--config", "tiny.yaml"]
    for item in study_overrides(synthetic):
        args += ["--set", item]
    monkeypatch.setattr(sys, "argv", ["textdeconv", *args])
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 0
    data = json.loads(out.read_text())
    assert data["study"] == "groundtruth" and data["seeds"] == [0]
    assert data["command"].startswith("textdeconv groundtruth")
    assert data["machine"]["cpus"] and data["date"] and data["config"]["model"]["num_filters"] == 8
    assert data["settings"]["full_size"] is False and data["settings"]["variants"] == ["token"]
    assert set(data["methods"]) == {"deconv", "deconv-activation", "occlusion", "random"}
    assert set(data["rows"]) == {"token", "position-start", "position-middle", "position-end"}
    token = data["rows"]["token"]
    # the planted trigger flips the tiny model (threshold 0), so the token row is scored: a status
    # other than "scored" fails here instead of skipping every per-method check below
    assert token["status"] == "scored" and 0 <= token["flip_rate"]["mean"] <= 1 and token["n_scored"][0] > 0
    for method in ("deconv", "deconv-activation", "occlusion", "random"):
        m = data["methods"][method]["token"]
        assert set(m) >= {"rank", "p_at_1", "recall_at_k", "ap", "first", "counter_first", "false_alarm",
                          "rank_histogram"}, method
        assert m["p_at_1"]["n"] == 1 and sum(m["rank_histogram"]["counts"]) == token["n_scored"][0], method
    assert data["models"]["token"]["0"]["planted_train"]["trigger_flipped"] > 0
    assert data["minutes"]["training"] >= 0 and data["wall_minutes"] > 0
    assert "| token |" in capsys.readouterr().out
    assert data["models"]["token"]["0"]["reused"] is False
    # the model is reused by a later run; another config in the same folder is refused
    from textdeconv.evaluation.retrain import study_config, train_splits

    run_dir = tmp_path / "runs" / "token-seed0"
    cfg = study_config("tiny.yaml", study_overrides(synthetic))
    fake = {"train": [Example(("a",), 0)], "dev": [Example(("a",), 0)], "test": [Example(("a",), 0)]}
    with pytest.raises(FileExistsError, match="holds a study model trained on other data"):
        train_splits(cfg, fake, ("negative", "positive"), run_dir, 0)


def test_groundtruth_command_errors(tmp_path, capsys):
    from textdeconv.cli import main

    for argv, fragment in ((["--fraction", "0.7", "--variants", "token", "negation"],
                            "at most 0.5 with the negation variant"),
                           (["--fraction", "0.4"], "at most 0.3333 with the and, context, opposing variants"),
                           (["--threshold", "2"], "--threshold must lie in [0, 1]"),
                           (["--seeds", "0", "0"], "--seeds repeats a seed"),
                           (["--out", str(tmp_path)], "is a directory; give a file path"),
                           (["--out", "/proc/x/g.json"], "cannot create files in /proc"),
                           (["--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "c.yaml")],
                            "is the --config file"),
                           (["--config", "sst5.yaml"], "use SST-2 sentences")):
        with pytest.raises(SystemExit) as stop:
            main(["groundtruth", "--runs-dir", str(tmp_path / "r"), *argv])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing left behind
