"""ROAD (remove and debias): the noisy linear imputation solved by hand, its noise by seed, MoRF
against LeRF on a hand-set model whose right answer is known, the paired tests against hand-computed
values, and ``textdeconv road`` end to end on the bundled model."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import one_line_error, run_cli
from helpers.exact import raises_exactly
from helpers.handset import ADDITIVE, additive_net, vocab
from tiny_models import tiny_net

from textdeconv.errors import InputError
from textdeconv.evaluation.paired import bootstrap_median, compare_all, holm, w_plus_share, wilcoxon_p
from textdeconv.evaluation.road import Imputer, impute, noise_sigma, removal_masks, road_curves, road_study

# ------------------------------------------------------------------------------------ imputation

RAMP = np.arange(5, dtype=np.float64)[:, None] * np.array([[1.0, -2.0, 0.5]]) + np.array([[3.0, 0.0, -1.0]])


def mask(*removed, n=5):
    out = np.zeros(n, bool)
    out[list(removed)] = True
    return out


def test_a_linear_ramp_is_reproduced_inside_the_sentence():
    for removed in ((2,), (1, 2), (1, 2, 3), (1, 3)):
        np.testing.assert_allclose(impute(RAMP, mask(*removed)), RAMP, rtol=0, atol=1e-12)


def test_interior_run_of_two_solved_jointly_by_hand():
    emb = np.array([0.0, 10.0, 4.0, 7.0, 1.0])[:, None]
    # e1 = (0 + e2) / 2 and e2 = (e1 + 7) / 2  ->  e2 = 14/3, e1 = 7/3
    out = impute(emb, mask(1, 2))
    np.testing.assert_allclose(out[:, 0], [0.0, 7 / 3, 14 / 3, 7.0, 1.0], rtol=0, atol=1e-12)
    # separate runs: e1 = (0 + 4) / 2, e3 = (4 + 1) / 2
    np.testing.assert_allclose(impute(emb, mask(1, 3))[:, 0], [0.0, 2.0, 4.0, 2.5, 1.0], rtol=0, atol=1e-12)


def test_edge_words_have_one_neighbour():
    emb = np.array([0.0, 10.0, 4.0, 7.0, 1.0])[:, None]
    np.testing.assert_allclose(impute(emb, mask(0))[:, 0], [10.0, 10.0, 4.0, 7.0, 1.0], rtol=0, atol=0)
    np.testing.assert_allclose(impute(emb, mask(4))[:, 0], [0.0, 10.0, 4.0, 7.0, 7.0], rtol=0, atol=0)
    # a run at the edge copies the one kept word beside it: e0 = e1, e1 = (e0 + e2) / 2 -> e0 = e1 = e2
    np.testing.assert_allclose(impute(emb, mask(0, 1))[:, 0], [4.0, 4.0, 4.0, 7.0, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(impute(emb, mask(0, 1, 2, 3))[:, 0], [1.0] * 5, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(impute(emb, mask()), emb)


def test_noise_lands_on_the_removed_rows_only():
    noise = np.arange(15, dtype=np.float64).reshape(5, 3) + 100
    out = impute(RAMP, mask(1, 2), noise)
    np.testing.assert_array_equal(out[[0, 3, 4]], RAMP[[0, 3, 4]])
    np.testing.assert_allclose(out[[1, 2]], RAMP[[1, 2]] + noise[[1, 2]], rtol=0, atol=1e-12)


def test_impute_refuses_a_sentence_with_nothing_kept():
    with raises_exactly(InputError, "cannot impute every word of a sentence: no kept word to impute from"):
        impute(RAMP, mask(0, 1, 2, 3, 4))
    with raises_exactly(InputError, "emb must be (n, D) and removed (n,), got (5, 3) and (4,)"):
        impute(RAMP, np.zeros(4, bool))


def test_removal_masks_use_the_signed_ranking_and_its_tail():
    got = removal_masks([0.1, 0.9, -2.0, 0.9, 0.0], 2)  # ranking 1, 3, 0, 4, 2 (ties: earlier first)
    np.testing.assert_array_equal(got["morf"], mask(1, 3))
    np.testing.assert_array_equal(got["lerf"], mask(4, 2))
    assert not removal_masks([1.0, 2.0], 0)["lerf"].any()


# ----------------------------------------------------------------------------- noise and the model

def test_noise_sigma_per_channel_and_reproducible_by_seed():
    net = tiny_net("multichannel", dim=5)
    sigma = noise_sigma(net, 0.5)
    assert sigma.shape == (10,)
    for c, table in enumerate(net.tables):
        np.testing.assert_allclose(sigma[5 * c:5 * c + 5], 0.5 * np.asarray(table.embeddings)[1:].std(), rtol=1e-12)
    with raises_exactly(InputError, "noise must be at least 0, got -1.0"):
        noise_sigma(net, -1.0)
    a, b, c = Imputer(net, sigma, seed=3), Imputer(net, sigma, seed=3), Imputer(net, sigma, seed=4)
    np.testing.assert_array_equal(a.noise((7, 1, 2), 6), b.noise((7, 1, 2), 6))
    assert not np.allclose(a.noise((7, 1, 2), 6), c.noise((7, 1, 2), 6))
    assert not np.allclose(a.noise((7, 1, 2), 6), a.noise((7, 2, 2), 6))
    ids = [np.array([2, 3, 4, 5, 6]), np.array([7, 8, 9])]
    drops = [mask(1, 2), mask(0, n=3)]
    keys = [(0, 1, 0), (1, 1, 0)]
    np.testing.assert_array_equal(a.probs(ids, drops, keys), b.probs(ids, drops, keys))
    assert not np.allclose(a.probs(ids, drops, keys), c.probs(ids, drops, keys), rtol=0, atol=1e-9)


@pytest.mark.parametrize("variant", ["rand", "multichannel"])
def test_imputed_probabilities_equal_the_model_on_the_imputed_embeddings(variant):
    import tensorflow as tf

    net = tiny_net(variant, dim=5)
    imputer = Imputer(net, noise_sigma(net, 0.2), seed=1)
    ids = np.array([2, 3, 4, 5, 6, 7])
    drop = mask(0, 2, 3, n=6)
    got = imputer.probs([ids, ids], [drop, np.zeros(6, bool)], [(0, 1, 0), (0, 0, 0)])
    emb = net.embed(ids[None]).numpy()[0]
    by_channel = [impute(emb[:, 5 * c:5 * c + 5], drop, imputer.noise((0, 1, 0), 6)[:, 5 * c:5 * c + 5])
                  for c in range(net.channels)]  # each channel imputed on its own
    padded = np.zeros((1, 6 + 2 * net.pad, emb.shape[1]), np.float32)
    padded[0, net.pad:net.pad + 6] = np.concatenate(by_channel, axis=1)
    ids_padded = np.zeros((1, 6 + 2 * net.pad), np.int32)
    ids_padded[0, net.pad:net.pad + 6] = ids
    want = tf.nn.softmax(net.logits_from_embeddings(tf.constant(padded), tf.constant(ids_padded))).numpy()[0]
    np.testing.assert_allclose(got[0], want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[1], net.predict_proba(ids_padded)[0], rtol=0, atol=1e-6)


def softmax2(logit_1):
    return 1 / (1 + np.exp(-logit_1))


def test_morf_beats_lerf_on_a_hand_set_model():
    """additive_net: logit_1 = 0.25 + sum of the present words' weights (a 1, b 2, c -3, d 0.5) through
    width-1 filters over one-hot words. An imputed word's row mixes other words' one-hot rows, so in
    a sentence holding each word once it removes exactly that word: every probability is known."""
    net = additive_net()
    ids = np.asarray(vocab().encode(["a", "b", "c", "d"]))
    right = SimpleNamespace(token_ids=ids, scores=np.array([ADDITIVE[w] for w in "abcd"]), target=1)
    wrong = SimpleNamespace(token_ids=ids, scores=-right.scores, target=1)
    imputer = Imputer(net, noise_sigma(net, 0.0))
    fractions = (0.1, 0.3, 0.5)  # remove 1, 2, 2 of the 4 words
    got = road_curves(imputer, [right, wrong], [1, 1], fractions)
    full = 0.25 + 1 + 2 - 3 + 0.5
    np.testing.assert_allclose(got["p_full"], [softmax2(full)] * 2, atol=1e-6)
    morf = softmax2(np.array([full - 2, full - 3, full - 3]))   # b, then b and a
    lerf = softmax2(np.array([full + 3, full + 2.5, full + 2.5]))  # c, then c and d
    np.testing.assert_allclose(got["p"]["morf"], [morf, lerf], atol=1e-6)  # the wrong ranking swaps them
    np.testing.assert_allclose(got["p"]["lerf"], [lerf, morf], atol=1e-6)
    np.testing.assert_array_equal(got["correct"]["morf"], [[False] * 3, [True] * 3])  # gold 1 both
    np.testing.assert_allclose(got["aopc_morf"][0], np.mean(softmax2(full) - morf), atol=1e-6)
    assert got["aopc_morf"][0] > 0 > got["aopc_lerf"][0] and got["gap"][0] > 0 > got["gap"][1]
    np.testing.assert_allclose(got["gap"], got["aopc_morf"] - got["aopc_lerf"], rtol=0, atol=0)


def test_road_study_refuses_bad_inputs():
    from textdeconv.attribution import METHODS

    net = tiny_net()
    with raises_exactly(InputError, f"unknown attribution method 'nope'; choose one of {', '.join(METHODS)}"):
        road_study(net, vocab(), ["neg", "pos"], [["good"]], [1], ["deconv", "nope"])
    with raises_exactly(InputError, "fractions must be increasing values in (0, 1), got [0.5, 1.0]"):
        road_study(net, vocab(), ["neg", "pos"], [["good"]], [1], ["deconv"], fractions=(0.5, 1.0))
    with raises_exactly(InputError, "fractions must be increasing values in (0, 1), got [0.3, 0.2]"):
        road_study(net, vocab(), ["neg", "pos"], [["good"]], [1], ["deconv"], fractions=(0.3, 0.2))
    with raises_exactly(InputError, "2 labels for 1 sentences"):
        road_study(net, vocab(), ["neg", "pos"], [["good"]], [1, 0], ["deconv"])


def test_road_study_identities_on_a_tiny_model():
    """grad-x-input equals deconv on a TextCNN, so it removes the same words and, with the noise
    keyed by sentence, order and fraction, feeds the model the same inputs: every paired difference
    is 0 and its p-value 1. The whole-sentence figures do not depend on the method."""
    from tiny_models import random_sentences, tiny_vocab

    net = tiny_net(dim=5)
    sentences = random_sentences(30, np.random.default_rng(0), max_len=9)
    labels = [i % 2 for i in range(30)]
    got = road_study(net, tiny_vocab(), ["neg", "pos"], sentences, labels, ["deconv", "grad-x-input", "random"],
                     fractions=(0.2, 0.5), seed=3)
    assert got["n_sentences"] == 30 and set(got["significance"]) == {"random", "deconv"}
    same = {area: got["significance"]["deconv"][area]["grad-x-input"] for area in ("aopc_morf", "aopc_lerf", "gap")}
    for row in same.values():
        assert row["p"] == 1.0 and row["n_nonzero"] == 0 and row["median_diff"] == 0.0 and row["ci95"] == [0.0, 0.0]
        assert row["w_plus_share"] is None
    assert got["methods"]["deconv"]["morf"] == got["methods"]["grad-x-input"]["morf"]
    assert got["methods"]["deconv"]["lerf"] == got["methods"]["grad-x-input"]["lerf"]
    pad = [0] * net.pad
    predicted = [int(net.predict_proba(np.asarray([pad + tiny_vocab().encode(s) + pad])).argmax()) for s in sentences]
    assert got["full"]["accuracy"] == pytest.approx(np.mean(np.array(predicted) == labels), abs=1e-12)
    assert got["sigma"] == [pytest.approx(0.01 * np.asarray(net.tables[0].embeddings)[1:].std(), rel=1e-12)]


# -------------------------------------------------------------------------------- paired tests

def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06], rtol=0, atol=1e-15)
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0], rtol=0, atol=0)  # capped at 1
    with raises_exactly(InputError, "p-values must lie in [0, 1], got [0.5, 1.5]"):
        holm([0.5, 1.5])


def test_wilcoxon_exact_by_hand():
    # n = 5, no ties: 2^5 = 32 equally likely sign patterns under H0
    assert wilcoxon_p([1, 2, 3, 4, 5]) == pytest.approx(2 / 32, abs=1e-12)  # W- = 0: one pattern per side
    assert wilcoxon_p([-1, 2, 3, 4, 5]) == pytest.approx(2 * 2 / 32, abs=1e-12)  # W- <= 1: {}, {1}
    assert wilcoxon_p([0, 0, 1, 2, 3, 4, 5]) == pytest.approx(2 / 32, abs=1e-12)  # zeros dropped
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0


def test_compare_all_wiring_and_bootstrap():
    values = {"random": np.zeros(5), "good": np.array([1.0, 2, 3, 4, 5]), "mixed": np.array([-1.0, 2, 3, 4, 5]),
              "same": np.zeros(5)}
    got = compare_all(values, "random", seed=0)
    assert list(got) == ["good", "mixed", "same"]
    assert [got[m]["p"] for m in got] == pytest.approx([1 / 16, 1 / 8, 1.0], abs=1e-12)
    # Holm: 1/16 x 3, 1/8 x 2 = 1/4, 1 x 1
    assert [got[m]["p_holm"] for m in got] == pytest.approx([3 / 16, 1 / 4, 1.0], abs=1e-12)
    assert [got[m]["median_diff"] for m in got] == [3.0, 3.0, 0.0]
    assert [got[m]["n_nonzero"] for m in got] == [5, 5, 0]
    assert [got[m]["mean_diff"] for m in got] == [3.0, 2.6, 0.0]
    assert [got[m]["w_plus_share"] for m in got] == [1.0, 14 / 15, None]  # W+ = 15 of 15, 14 of 15
    assert w_plus_share([0, -2, 2, 1]) == pytest.approx(3.5 / 6)  # |d| ranks 2.5, 2.5, 1 (tie averaged)
    assert got["same"]["ci95"] == [0.0, 0.0]
    low, high = got["good"]["ci95"]
    assert 1.0 <= low <= 3.0 <= high <= 5.0
    assert bootstrap_median([1.0, 2, 3, 4, 5], seed=7) == bootstrap_median([1.0, 2, 3, 4, 5], seed=7)
    with raises_exactly(InputError, "cannot compare against 'deconv': it is not among the methods"):
        compare_all(values, "deconv")


# ----------------------------------------------------------------------------------- the command

@pytest.mark.slow  # about 20 s: 20 sentences, three methods, a process loading TensorFlow
def test_road_command_on_the_bundled_model(real_data_dir, tmp_path, monkeypatch):
    out = tmp_path / "road.json"
    proc = run_cli("-m", "textdeconv", "road", "--run", "builtin:sst2", "--max-sentences", "20",
                   "--methods", "deconv", "occlusion", "random", "--out", str(out), "--note", "test run")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["study"] == "road" and data["note"] == "test run"
    assert data["command"].startswith("textdeconv road --run builtin:sst2 --max-sentences 20")
    assert len(data["machine"]["load_average_at_start"]) == 3 and data["date"].startswith("20")
    assert data["settings"]["run"] == "builtin:sst2" and data["settings"]["split"] == "test"
    assert data["settings"]["fractions"] == [0.1, 0.2, 0.3, 0.5] and data["n_sentences"] == 20
    assert list(data["methods"]) == ["deconv", "occlusion", "random"]
    for r in data["methods"].values():
        assert set(r) == {"morf", "lerf", "aopc_morf", "aopc_lerf", "gap", "seconds"}
        assert set(r["morf"]) == {"10", "20", "30", "50"}
        assert all(0 <= r[o][p]["accuracy"] <= 1 and 0 <= r[o][p]["mean_prob"] <= 1
                   for o in ("morf", "lerf") for p in r["morf"])
        assert r["gap"] == pytest.approx(r["aopc_morf"] - r["aopc_lerf"], abs=1e-12)
    assert set(data["significance"]) == {"random", "deconv"}
    assert set(data["significance"]["random"]["aopc_morf"]) == {"deconv", "occlusion"}
    row = data["significance"]["deconv"]["gap"]["random"]
    assert set(row) == {"p", "p_holm", "median_diff", "ci95", "mean_diff", "w_plus_share", "n_nonzero"}
    assert row["p"] <= row["p_holm"] <= 1
    assert "| deconv | morf |" in proc.stdout


def test_road_command_errors(tmp_path):
    out = tmp_path / "road.json"
    one_line_error(run_cli("-m", "textdeconv", "road", "--fractions", "0", "0.5", "--out", str(out)),
                   "error: --fractions must be increasing values in (0, 1), got 0.0 0.5")
    proc = run_cli("-m", "textdeconv", "road", "--methods", "nope", "--out", str(out))
    assert proc.returncode == 2 and "argument --methods: invalid choice: 'nope'" in proc.stderr
    one_line_error(run_cli("-m", "textdeconv", "road", "--max-sentences", "0", "--out", str(out)),
                   "error: --max-sentences must be at least 1, got 0")
    assert not out.exists()


def test_road_command_never_writes_over_its_inputs(tmp_path):
    import hashlib
    import shutil

    from textdeconv.builtin import builtin_dir

    run_dir = tmp_path / "run"
    shutil.copytree(builtin_dir("builtin:sst2"), run_dir)
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run_dir.iterdir()}
    one_line_error(run_cli("-m", "textdeconv", "road", "--run", str(run_dir), "--out", str(run_dir / "vocab.txt")),
                   f"error: --out {run_dir / 'vocab.txt'} is the run's vocab.txt")
    one_line_error(run_cli("-m", "textdeconv", "road", "--run", str(run_dir), "--out", str(run_dir)),
                   f"error: --out {run_dir} is a directory; give a file path")
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run_dir.iterdir()} == digest
