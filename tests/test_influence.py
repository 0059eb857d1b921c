"""Which training sentences drove a prediction (textdeconv/influence): TracIn against GradientTape,
nearest neighbours by hand, planted label noise found, checkpoints kept across a resume, refusals."""
import hashlib
import importlib.util
import json
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import ROOT
from helpers.exact import raises_exactly

from textdeconv.config import ModelConfig
from textdeconv.errors import InputError, MissingFileError, OutputError
from textdeconv.influence import tracin
from textdeconv.influence.similar import cosine_matrix, filter_names, nearest
from textdeconv.influence.sources import Checkpoint
from textdeconv.model.textcnn import build_model


def load_bench():
    """bench/influence.py as a module (its synthetic sentences and label flips)."""
    if "influence_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("influence_bench", ROOT / "bench" / "influence.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["influence_bench"]


# --------------------------------------------------------------------------------------------
# TracIn's arithmetic against GradientTape on tiny models with two saved checkpoints

TRAIN = [[2, 3, 4], [5, 6, 5, 7], [3, 3], [8, 2, 9, 4, 6], [7]]  # ids; 5 and 3 repeat within a sentence
TRAIN_Y = [0, 1, 1, 0, 1]
TEST = [[2, 3, 9], [6, 5]]
TEST_Y = [1, 0]
LRS = (0.5, 2.0)


def checkpoints(tmp_path, **model):
    """Two checkpoints of one tiny TextCNN (the second's weights moved), with learning rates LRS."""
    cfg = ModelConfig(embedding_dim=6, filter_sizes=(2, 3), num_filters=4, dropout=0.5, **model)
    m = build_model(cfg, 10, 2, seed=3)
    rng = np.random.default_rng(0)
    out = []
    for i, lr in enumerate(LRS):
        if i:
            m.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in m.get_weights()])
        path = tmp_path / f"weights_{i + 1:03d}.keras"
        m.save(path)
        out.append(Checkpoint(path, float(i + 1), lr))
    return out


def tape_gradients(model, seq, label, pad):
    """Every trainable weight's gradient of -log p(label) through the Keras model itself (dense)."""
    ids = np.zeros((1, len(seq) + 2 * pad), np.int32)
    ids[0, pad:pad + len(seq)] = seq
    with tf.GradientTape() as tape:
        loss = -tf.math.log(model(ids, training=False)[0, label])
    grads = tape.gradient(loss, model.trainable_variables)
    return {v.path: np.asarray(tf.convert_to_tensor(g), np.float64) for v, g in zip(model.trainable_variables, grads)}


def reference(cks, layer_filter):
    pad = 2
    want = np.zeros((len(TEST), len(TRAIN)))
    self_inf = np.zeros(len(TRAIN))
    for ck in cks:
        model = keras.models.load_model(ck.path, safe_mode=True)
        tr = [tape_gradients(model, s, y, pad) for s, y in zip(TRAIN, TRAIN_Y)]
        te = [tape_gradients(model, s, y, pad) for s, y in zip(TEST, TEST_Y)]
        keys = [k for k in tr[0] if layer_filter(k)]
        for q, gq in enumerate(te):
            for j, g in enumerate(tr):
                want[q, j] += ck.learning_rate * sum(float((gq[k] * g[k]).sum()) for k in keys)
        for j, g in enumerate(tr):
            self_inf[j] += ck.learning_rate * sum(float((g[k] ** 2).sum()) for k in keys)
    return want, self_inf


@pytest.mark.numerics
@pytest.mark.parametrize("output_weights", ["keras", "kim"])
def test_output_layer_tracin_equals_gradient_tape_dot_products(tmp_path, output_weights):
    """(x . x' + 1)(g . g') summed with the learning rates == the GradientTape gradients' dot products
    over the logits layer's kernel and bias (kim: x carries the 1 - dropout factor)."""
    cks = checkpoints(tmp_path, output_weights=output_weights)
    want, want_self = reference(cks, lambda k: k.startswith("logits/"))
    got = tracin.tracin_output(cks, TRAIN, TRAIN_Y, TEST, TEST_Y)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tracin.self_influence_output(cks, TRAIN, TRAIN_Y), want_self, rtol=1e-5)
    assert np.abs(want).min() > 1e-4  # no trivially zero pair


def test_output_layer_formula_by_hand():
    """One hand-set case of grad_W . grad_W' + grad_b . grad_b' = (x . x' + 1)(g . g'):
    x = (1, 2), g = (0.25, -0.25); x' = (3, 0), g' = (-0.5, 0.5): (3 + 1) * (-0.25) = -1."""
    x, g, x2, g2 = np.array([1.0, 2]), np.array([0.25, -0.25]), np.array([3.0, 0]), np.array([-0.5, 0.5])
    by_parts = float((np.outer(x, g) * np.outer(x2, g2)).sum() + g @ g2)
    assert by_parts == -1.0


@pytest.mark.slow
@pytest.mark.numerics
def test_tracin_over_every_weight_equals_gradient_tape_dot_products(tmp_path):
    """Forward-mode directional derivatives (all weights) and the per-sentence backward passes of
    self-influence == the dense GradientTape gradients' dot products; repeated words included."""
    cks = checkpoints(tmp_path)
    want, want_self = reference(cks, lambda k: True)
    got = tracin.tracin_all(cks, TRAIN, TRAIN_Y, TEST, TEST_Y, batch_size=2)  # batches of mixed lengths
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tracin.self_influence_all(cks, TRAIN, TRAIN_Y), want_self, rtol=1e-5)


def test_ranked_splits_by_sign_and_breaks_ties_by_position():
    pro, opp = tracin.ranked(np.array([[0.5, -1.0, 0.0, 2.0, -0.2, 0.5], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), 2)
    assert pro[0].tolist() == [3, 0] and opp[0].tolist() == [1, 4]
    assert pro[1].tolist() == [] and opp[1].tolist() == []  # no sign, no proponent or opponent


# --------------------------------------------------------------------------------------------
# nearest neighbours by hand

def test_nearest_by_hand():
    """query (1, 0, 2): itself 1; (2, 0, 1): (2 + 2) / 5 = 0.8; (0, 1, 0) and (0, 0, 0): 0 (tie: earlier
    first). The shares h_j h'_j / (|h||h'|) of the filters active in both sum to the cosine."""
    query = np.array([[1.0, 0.0, 2.0]])
    train = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 2.0], [2.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(cosine_matrix(query, train), [[0.0, 1.0, 0.8, 0.0]])
    names = filter_names((2, 3), (2, 1))
    assert names == [(2, 0), (2, 1), (3, 0)]
    found, shared = nearest(query, train, 3, names, top_filters=5)
    assert found["train"].tolist() == [1, 2, 0] and found["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(found["similarity"], [1.0, 0.8, 0.0])
    first = shared[shared["rank"] == 1]
    assert list(zip(first["width"], first["filter"])) == [(3, 0), (2, 0)]  # shares 4/5 then 1/5
    np.testing.assert_allclose(first["share"], [0.8, 0.2])
    second = shared[shared["rank"] == 2]
    assert list(zip(second["width"], second["filter"])) == [(2, 0), (3, 0)]  # 2/5 each: feature order
    np.testing.assert_allclose(second["share"], [0.4, 0.4])
    np.testing.assert_allclose(second["activation"], [1.0, 2.0])
    np.testing.assert_allclose(second["train_activation"], [2.0, 1.0])
    assert (shared["rank"] != 3).all()  # similarity 0: nothing shared


# --------------------------------------------------------------------------------------------
# a small planted-noise run (synthetic sentences; kept every epoch)

NOISY_TRAIN, NOISE, EPOCHS, PROBE = 60, 0.1, 8, "the plot was superb and witty"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A run on 60 synthetic sentences, 6 with flipped labels, plus a copy of PROBE labelled negative."""
    bench = load_bench()
    rows = bench.synthetic_rows(NOISY_TRAIN + 40, seed=1)
    noisy, flipped = bench.flip(rows[:NOISY_TRAIN], NOISE, seed=1)
    folder = tmp_path_factory.mktemp("planted")
    run_dir = bench.train_run(folder, [*noisy, (PROBE, "negative")], [*rows[NOISY_TRAIN:], (PROBE, "positive")],
                              epochs=EPOCHS, overrides={"train.batch_size": 8, "train.learning_rate": 0.02})
    import textdeconv as td

    return td.load_run(run_dir), [i + 1 for i in flipped], NOISY_TRAIN + 1


@pytest.mark.slow
def test_keep_every_epoch_records_each_checkpoint_and_its_learning_rate(planted):
    run, _, _ = planted
    state = json.loads((run.path / "state.json").read_text())
    assert [e["epoch"] for e in state["tracin"]] == list(range(1, EPOCHS + 1))
    assert all(e["learning_rate"] == np.float32(0.02) for e in state["tracin"])  # the Adam step set
    assert sorted(p.name for p in (run.path / "checkpoints").iterdir()) == [f"weights_{i:03d}.keras"
                                                                            for i in range(1, EPOCHS + 1)]


@pytest.mark.slow
def test_a_planted_mislabelled_copy_is_the_top_opponent_over_every_weight(planted):
    """The training copy of PROBE labelled negative raised the loss of PROBE's right (positive) class
    the most, over every weight; over the output layer alone only other mislabelled sentences beat it
    (their large output-layer gradients count for every positive-looking sentence)."""
    run, flipped, planted_id = planted
    frame = run.influence([PROBE], k=len(flipped) + 1, layers="all", target="positive").to_frame()
    top = frame[(frame["kind"] == "opponent") & (frame["rank"] == 1)]
    assert top["train_id"].item() == planted_id and top["train_label"].item() == "negative"
    assert top["train_text"].item() == PROBE and top["influence"].item() < 0
    out = run.influence([PROBE], k=len(flipped) + 1, target="positive").to_frame()
    opponents = out[out["kind"] == "opponent"]["train_id"].tolist()
    assert planted_id in opponents and set(opponents[:opponents.index(planted_id)]) <= set(flipped)


@pytest.mark.slow
@pytest.mark.parametrize("layers", ["output", "all"])
def test_two_classes_the_other_target_scales_every_influence_by_minus_p0_over_p1(planted, layers):
    """With two classes the loss gradient wrt the logits for target 1, (p0, p1 - 1) = (p0, -p0), is
    -p0/p1 times the one for target 0, (p0 - 1, p1) = (-p1, p1), and the chain rule carries the factor
    to every weight: TracIn for target 1 = -p0/p1 x TracIn for target 0, at one checkpoint."""
    run, _, _ = planted
    cks = tracin_checkpoints(run)[:1]
    seq = [run.vocab.encode(PROBE.split())]
    from textdeconv.influence.query import train_data
    from textdeconv.influence.sources import forward_features, load_net

    ts, seqs = train_data(run, "test")
    p = forward_features(load_net(cks[0].path), seq)[1][0]
    fn = tracin.tracin_output if layers == "output" else tracin.tracin_all
    pos, neg = fn(cks, seqs, ts.labels, seq, [1]), fn(cks, seqs, ts.labels, seq, [0])
    np.testing.assert_allclose(pos, -p[0] / p[1] * neg, rtol=1e-4, atol=1e-9)
    assert np.abs(pos).max() > 1e-3


def tracin_checkpoints(run):
    from textdeconv.influence.sources import kept_checkpoints

    return kept_checkpoints(run.path)


@pytest.mark.slow
def test_similar_finds_the_planted_copy_first(planted):
    run, _, planted_id = planted
    found = run.similar([PROBE], k=2)
    frame, shared = found.to_frame(), found.filters_frame()
    assert frame["train_id"].iloc[0] == planted_id and frame["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-12)
    assert list(frame.columns) == ["sentence_id", "text", "predicted", "rank", "train_id", "train_text", "train_label",
                                   "similarity"]
    mine = shared[shared["rank"] == 1]
    np.testing.assert_allclose(mine["activation"], mine["train_activation"])  # the same sentence
    assert (np.diff(mine["share"].to_numpy()) <= 0).all() and len(mine) == 5


@pytest.mark.slow
@pytest.mark.parametrize("layers", ["output", "all"])
def test_self_influence_puts_the_flipped_labels_on_top(planted, layers):
    """The two training sentences of largest self-influence are mislabelled (chance: (7/61)^2 ~ 1%),
    and the 14 largest hold at least half the 7 (chance 23%); bench/influence.py measures recall@k."""
    run, flipped, planted_id = planted
    frame = run.self_influence(layers)
    assert frame["rank"].tolist() == list(range(1, NOISY_TRAIN + 2))
    assert (np.diff(frame["self_influence"].to_numpy()) <= 0).all()
    noisy = set(flipped) | {planted_id}
    assert set(frame["train_id"][:2]) <= noisy, frame.head(5)
    assert len(set(frame["train_id"][: 2 * len(noisy)]) & noisy) / len(noisy) >= 0.5, frame.head(15)


# --------------------------------------------------------------------------------------------
# refusals

def test_a_run_without_kept_checkpoints_and_bad_arguments_are_refused_in_one_line():
    import textdeconv as td

    run = td.load_run("builtin:sst2")
    with raises_exactly(MissingFileError, "builtin:sst2 kept no per-epoch checkpoints: train with "
                        "train.keep_every_epoch: true, or use the final model alone (checkpoints='final', "
                        "--checkpoints final)"):
        run.influence(["a dull mess"])
    with raises_exactly(InputError, "k must be a whole number from 1 to 10,000, got 0"):
        run.similar(["great fun"], k=0)
    with raises_exactly(InputError, "filters must be a whole number from 1 to 10,000, got True"):
        run.similar(["great fun"], filters=True)
    with raises_exactly(InputError, "layers must be one of output, all, got 'conv'"):
        run.influence(["great fun"], layers="conv")
    with raises_exactly(InputError, "checkpoints must be one of every, final, got 'best'"):
        run.self_influence(checkpoints="best")


@pytest.mark.slow
def test_training_sentences_that_are_not_there_are_one_line(planted, tmp_path):
    import textdeconv as td

    run, _, _ = planted
    moved = td.load_run(run.path)
    (tmp_path / "gone").mkdir()
    for name in ("train.csv", "dev.csv"):  # the data this run was trained on, moved away
        (run.path.parent / name).rename(tmp_path / "gone" / name)
    try:
        with pytest.raises(MissingFileError, match=r"^similar\(\) needs the run's training sentences, which are not "
                                                   r"available: data file not found: .*/train.csv$"):
            moved.similar(["great fun"])
    finally:
        for name in ("train.csv", "dev.csv"):
            (tmp_path / "gone" / name).rename(run.path.parent / name)


@pytest.mark.slow
def test_save_csv_refuses_the_runs_own_files(planted):
    run, _, _ = planted
    vocab = run.path / "vocab.txt"
    before = hashlib.sha256(vocab.read_bytes()).hexdigest()
    found = run.similar(["great fun"], k=2)
    with raises_exactly(OutputError, f"save_csv: {vocab} is the run's vocab.txt"):
        found.save_csv(vocab)
    assert hashlib.sha256(vocab.read_bytes()).hexdigest() == before


@pytest.mark.slow
def test_save_csv_and_json_round_trip(planted, tmp_path):
    run, _, _ = planted
    found = run.influence(["great fun", "a dull mess"], k=2)
    found.save_csv(tmp_path / "i.csv")
    found.save_json(tmp_path / "i.json")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "i.csv"), found.to_frame(), check_dtype=False)
    data = json.loads((tmp_path / "i.json").read_text())
    assert data["kind"] == "tracin" and data["settings"]["layers"] == "output"
    assert [s["sentence_id"] for s in data["sentences"]] == [1, 2]
    first = data["sentences"][0]["proponents"][0]
    row = found.to_frame().iloc[0]
    assert (first["train_id"], first["influence"]) == (row["train_id"], row["influence"])


# --------------------------------------------------------------------------------------------
# train.keep_every_epoch across a crash and a resume

@pytest.mark.slow
def test_kept_epochs_survive_a_crash_between_their_file_and_the_commit(tmp_path, monkeypatch):
    """Killed after weights_003.keras was written but before state.json committed epoch 3: the resumed
    run redoes epoch 3 and ends with the uninterrupted run's TracIn record and the same weights, bit for bit."""
    from test_train import small_config, write_data

    from textdeconv.training import trainer as train_mod

    cfg = small_config(write_data(tmp_path / "data"), "train.epochs=4", "train.patience=0",
                       "train.keep_every_epoch=true")
    original = train_mod.atomic_write_json

    def crash(path, obj, *a, **k):
        if path.name == "state.json" and obj.get("epoch") == 3 and not obj.get("finished"):
            assert (path.parent / "checkpoints" / "weights_003.keras").is_file()
            raise KeyboardInterrupt
        return original(path, obj, *a, **k)

    monkeypatch.setattr(train_mod, "atomic_write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train(cfg, tmp_path / "run", verbose=0)
    assert [e["epoch"] for e in json.loads((tmp_path / "run" / "state.json").read_text())["tracin"]] == [1, 2]
    monkeypatch.setattr(train_mod, "atomic_write_json", original)
    train_mod.train(None, tmp_path / "run", resume=True, verbose=0)
    train_mod.train(cfg, tmp_path / "ref", verbose=0)
    states = [json.loads((tmp_path / r / "state.json").read_text()) for r in ("run", "ref")]
    assert states[0]["tracin"] == states[1]["tracin"] and len(states[0]["tracin"]) == 4
    for e in states[1]["tracin"]:
        a, b = (keras.models.load_model(tmp_path / r / "checkpoints" / e["weights"]) for r in ("run", "ref"))
        for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(x, y)
    # finished without train.keep_checkpoints: the optimizer checkpoints are gone, the TracIn weights stay
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [f"weights_{i:03d}.keras"
                                                                                   for i in range(1, 5)]


# --------------------------------------------------------------------------------------------
# the command line

@pytest.mark.slow
def test_influence_command_prints_json_and_writes_csv(planted, tmp_path):
    from conftest import one_line_error, run_cli

    run, _, planted_id = planted
    csv = tmp_path / "i.csv"
    proc = run_cli("-m", "textdeconv", "influence", "--run", str(run.path), PROBE, "--target", "positive",
                   "--layers", "all", "--top", "2", "--json", "--csv", str(csv))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["kind"] == "tracin" and data["sentences"][0]["opponents"][0]["train_id"] == planted_id
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["sentence_id", "text", "target", "kind", "rank", "train_id", "train_text",
                                   "train_label", "influence"]
    assert frame["kind"].tolist() == ["proponent", "proponent", "opponent", "opponent"]
    text = run_cli("-m", "textdeconv", "influence", "--run", str(run.path), PROBE, "--similar", "--top", "1")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[2].split()[1:] == [f"#{planted_id}", "negative", *PROBE.split()]
    self_inf = run_cli("-m", "textdeconv", "influence", "--run", str(run.path), "--self-influence", "--top", "3")
    assert self_inf.returncode == 0 and len(self_inf.stdout.splitlines()) == 3
    as_json = run_cli("-m", "textdeconv", "influence", "--run", str(run.path), "--self-influence", "--top", "3",
                      "--json")
    assert json.loads(as_json.stdout) == run.self_influence().head(3).to_dict("records")  # every digit
    vocab = run.path / "vocab.txt"
    before = vocab.read_bytes()
    one_line_error(run_cli("-m", "textdeconv", "influence", "--run", str(run.path), PROBE, "--csv", str(vocab)),
                   "--csv")
    assert vocab.read_bytes() == before


@pytest.mark.slow
def test_influence_command_refusals_are_one_line(tmp_path):
    from conftest import one_line_error, run_cli

    one_line_error(run_cli("-m", "textdeconv", "influence", "--run", "builtin:sst2", "a dull mess"),
                   "builtin:sst2 kept no per-epoch checkpoints: train with train.keep_every_epoch: true")
    one_line_error(run_cli("-m", "textdeconv", "influence", "--run", "builtin:sst2", "a dull mess",
                           "--target", "neutral"), "unknown target class 'neutral'")
    usage = run_cli("-m", "textdeconv", "influence", "--run", "builtin:sst2", "--self-influence", "a dull mess")
    assert usage.returncode == 2
    assert "--self-influence ranks the training sentences and takes no sentences" in usage.stderr
