"""Training end to end on small trees written here: overfitting, run directory, resume."""
import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import write_trees

from textdeconv.config import load_config
from textdeconv.training import trainer as train_mod
from textdeconv.training.rundir import read_run
from textdeconv.training.trainer import make_dataset, train

SENTENCES = [  # (label 0-4, tokens)
    (4, "a gripping , funny movie"), (0, "a dull , lifeless mess"), (3, "warm and engaging"),
    (1, "the plot is thin"), (4, "great fun"), (0, "bad acting , worse script"),
    (3, "a charming film"), (1, "tedious and long"),
]


def tree(label, text):
    words = text.split()
    node = f"(2 {words[0]})"
    for w in words[1:]:
        node = f"({label} {node} (2 {w}))"
    return node if len(words) > 1 else f"({label} {words[0]})"


def write_data(root: Path) -> Path:
    """``SENTENCES`` as root/trees/{train,dev,test}.txt (the same 8 trees in each); return ``root``."""
    return write_trees(root, {split: [tree(y, s) for y, s in SENTENCES] for split in ("train", "dev", "test")})


@pytest.fixture
def overfit_dir(tmp_path):
    return write_data(tmp_path / "data")


def small_config(data_dir, *extra):
    return load_config("tiny.yaml", [f"data.dir={data_dir}", "data.train_on=sentences", "data.download=false",
                                     "data.max_train=null", "data.max_eval=null", "model.filter_sizes=[2,3]",
                                     "train.learning_rate=0.02", *extra])


def frozen(cfg):
    """``cfg`` with learning rate 0: the weights stay as initialised. The config refuses it (a
    user's run must learn), so it is set on the dataclass."""
    return cfg.replace(train=dataclasses.replace(cfg.train, learning_rate=0.0))


def test_overfits_a_handful_and_writes_a_complete_run(overfit_dir, tmp_path):
    run = tmp_path / "run"
    metrics = train(small_config(overfit_dir, "train.epochs=25"), run, verbose=0)
    assert metrics["dev"]["accuracy"] == 1.0 and metrics["test"]["accuracy"] == 1.0
    assert metrics["test"]["confusion_matrix"] == [[4, 0], [0, 4]]
    assert metrics["test"]["macro_f1"] == 1.0
    for name in ("config.yaml", "vocab.txt", "model.keras", "metrics.csv", "metrics.json", "state.json"):
        assert (run / name).is_file(), name
    history = pd.read_csv(run / "metrics.csv")
    assert history["epoch"].tolist() == list(range(1, 26))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(history.columns)
    assert json.loads((run / "metrics.json").read_text())["best_epoch"] == metrics["best_epoch"]
    assert not (run / "checkpoints").exists()  # finished: model.keras is the best; no train.keep_checkpoints
    cfg, vocab, net, classes = read_run(run)
    assert classes == ("negative", "positive") and len(vocab) == net.tables[0].input_dim
    assert cfg.model.filter_sizes == (2, 3)


def test_early_stopping_on_dev_accuracy(overfit_dir, tmp_path):
    metrics = train(small_config(overfit_dir, "train.epochs=40", "train.patience=2"), tmp_path / "r", verbose=0)
    assert metrics["epochs_run"] == metrics["best_epoch"] + 2 < 40


def crash_then_resume(cfg, run, monkeypatch, evaluations: int):
    """Train ``cfg`` into ``run``, killed (KeyboardInterrupt) right after evaluation number
    ``evaluations`` was committed; return metrics.csv as the crash left it and the resumed run's metrics."""
    original = train_mod.RunRecorder.on_epoch_end

    def crash(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == evaluations - 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod.RunRecorder, "on_epoch_end", crash)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run, verbose=0)
    assert json.loads((run / "state.json").read_text())["epoch"] == evaluations
    before = pd.read_csv(run / "metrics.csv")
    monkeypatch.setattr(train_mod.RunRecorder, "on_epoch_end", original)
    return before, train(None, run, resume=True, verbose=0)


def assert_equals_the_uninterrupted_run(cfg, run: Path, ref: Path) -> None:
    """``run`` (crashed and resumed) trained exactly as ``cfg`` trained without a break into ``ref``:
    every metrics.csv value but wall time, and the weights of the last checkpoint, bit for bit."""
    train(cfg, ref, verbose=0)
    pd.testing.assert_frame_equal(pd.read_csv(run / "metrics.csv").drop(columns="seconds"),
                                  pd.read_csv(ref / "metrics.csv").drop(columns="seconds"), check_exact=True)
    last = [keras.models.load_model(r / "checkpoints" / json.loads((r / "state.json").read_text())["checkpoint"])
            for r in (run, ref)]
    for a, b in zip(*(m.get_weights() + m.optimizer.variables for m in last), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resume_after_a_crash_keeps_every_finished_epoch(overfit_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = small_config(overfit_dir, "train.epochs=4", "train.patience=0")
    original = train_mod.RunRecorder.on_epoch_end
    kept = []

    def watch(self, epoch, logs=None):  # what the checkpoints folder holds after each commit
        original(self, epoch, logs)
        kept.append(sorted(p.name for p in (run / "checkpoints").iterdir()))

    monkeypatch.setattr(train_mod.RunRecorder, "on_epoch_end", watch)
    before, metrics = crash_then_resume(cfg, run, monkeypatch, 2)
    after = pd.read_csv(run / "metrics.csv")
    assert after["epoch"].tolist() == [1, 2, 3, 4] and metrics["epochs_run"] == 4
    pd.testing.assert_frame_equal(after.iloc[:2], before)  # finished epochs kept as they were
    assert kept[1] and "epoch_002.keras" in kept[1]  # until the end, the resume checkpoint is there
    assert not (run / "checkpoints").exists()  # finished: model.keras alone (train.keep_checkpoints: false)
    assert train(None, run, resume=True, verbose=0) == metrics  # a finished run resumes to its metrics
    ref = tmp_path / "ref"
    monkeypatch.setattr(train_mod.RunRecorder, "on_epoch_end", original)
    train(cfg, ref, verbose=0)
    pd.testing.assert_frame_equal(after.drop(columns="seconds"),
                                  pd.read_csv(ref / "metrics.csv").drop(columns="seconds"), check_exact=True)
    for a, b in zip(keras.models.load_model(run / "model.keras").get_weights(),
                    keras.models.load_model(ref / "model.keras").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keep_checkpoints_keeps_them_and_a_run_without_them_cannot_be_continued(overfit_dir, tmp_path):
    from textdeconv.errors import ConfigError, MissingFileError

    with pytest.raises(ConfigError, match="'train.keep_checkpoints' must be true or false, got 'maybe'"):
        small_config(overfit_dir, "train.keep_checkpoints=maybe")
    kept = tmp_path / "kept"
    train(small_config(overfit_dir, "train.epochs=2", "train.keep_checkpoints=true"), kept, verbose=0)
    state = json.loads((kept / "state.json").read_text())
    assert sorted(p.name for p in (kept / "checkpoints").iterdir()) == sorted({state["checkpoint"], state["best"]})
    dropped = tmp_path / "dropped"
    train(small_config(overfit_dir, "train.epochs=2"), dropped, verbose=0)
    state = json.loads((dropped / "state.json").read_text())
    (dropped / "state.json").write_text(json.dumps({**state, "finished": False}))  # as a continuation would
    with pytest.raises(MissingFileError, match="is missing, so the run cannot be continued .*keep_checkpoints"):
        train(None, dropped, resume=True, verbose=0)


def test_bench_extend_needs_the_checkpoints_and_keeps_them(overfit_dir, tmp_path, monkeypatch):
    import importlib.util

    from textdeconv.errors import MissingFileError

    root = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(root / "bench"))
    spec = importlib.util.spec_from_file_location("bench_accuracy", root / "bench" / "accuracy.py")
    accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy)
    plain = tmp_path / "plain"
    train(small_config(overfit_dir, "train.epochs=1"), plain, verbose=0)
    with pytest.raises(MissingFileError, match="keeps it only with train.keep_checkpoints: true"):
        accuracy.extend(plain, tmp_path / "plain-more", ["train.epochs=2"])
    assert not (tmp_path / "plain-more").exists()
    kept = tmp_path / "kept"
    train(small_config(overfit_dir, "train.epochs=1", accuracy.KEEP), kept, verbose=0)  # as the bench trains
    accuracy.extend(kept, tmp_path / "more", ["train.epochs=2"])
    metrics = train(None, tmp_path / "more", resume=True, verbose=0)
    assert metrics["epochs_run"] == 2 and (tmp_path / "more" / "checkpoints").is_dir()  # extendable again


def test_training_progress_is_one_line_per_epoch_on_stderr_when_stdout_is_no_terminal(overfit_dir, tmp_path,
                                                                                         capsys):
    train(small_config(overfit_dir, "train.epochs=2", "train.patience=0"), tmp_path / "run")  # verbose="auto"
    out, err = capsys.readouterr()
    assert out == ""  # no Keras progress bar: stdout (no terminal here) carries results only
    epochs = err.strip().splitlines()
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"] and "\b" not in err
    assert all(" loss " in line and "val_accuracy" in line for line in epochs)


def test_passes_counts_evaluations_in_passes_over_the_training_set():
    assert [train_mod.passes(e, 4) for e in (1, 2, 3, 4, 5, 8)] == [0.25, 0.5, 0.75, 1, 1.25, 2]
    assert train_mod.passes(1, 3) == 0.3333 and train_mod.passes(7, 1) == 7
    assert isinstance(train_mod.passes(8, 4), int)


def test_several_dev_evaluations_per_epoch(overfit_dir, tmp_path):
    """evals_per_epoch=k: k rows per pass in metrics.csv, every pass still sees every example once
    (the optimizer's step count is k windows of ceil(batches / k) steps per pass)."""
    run = tmp_path / "run"
    cfg = small_config(overfit_dir, "train.epochs=2", "train.patience=0", "train.batch_size=3",
                       "train.evals_per_epoch=3", "train.keep_checkpoints=true")
    metrics = train(cfg, run, verbose=0)
    history = pd.read_csv(run / "metrics.csv")
    assert history["epoch"].tolist() == [0.3333, 0.6667, 1.0, 1.3333, 1.6667, 2.0]
    assert metrics["epochs_run"] == 2 and metrics["best_epoch"] in history["epoch"].tolist()
    best = history["epoch"][history["val_accuracy"].idxmax()]
    assert metrics["best_epoch"] == pytest.approx(best)
    state = json.loads((run / "state.json").read_text())
    model = keras.models.load_model(run / "checkpoints" / state["checkpoint"])
    assert int(model.optimizer.iterations.numpy()) == 6 * 1  # 8 sentences / 3 = 3 batches: 3 windows of 1 step
    assert metrics["seconds_per_epoch"] == pytest.approx(history["seconds"].mean() * 3)


def test_resume_mid_pass_with_several_evaluations_per_epoch(overfit_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = small_config(overfit_dir, "train.epochs=2", "train.patience=0", "train.batch_size=2",
                       "train.evals_per_epoch=2", "train.keep_checkpoints=true")
    before, metrics = crash_then_resume(cfg, run, monkeypatch, 3)  # half-way through pass 2
    after = pd.read_csv(run / "metrics.csv")
    assert after["epoch"].tolist() == [0.5, 1.0, 1.5, 2.0] and metrics["epochs_run"] == 2
    pd.testing.assert_frame_equal(after.iloc[:3], before)
    state = json.loads((run / "state.json").read_text())
    model = keras.models.load_model(run / "checkpoints" / state["checkpoint"])
    assert int(model.optimizer.iterations.numpy()) == 4 * 2  # 4 windows of ceil(4 batches / 2) steps
    assert_equals_the_uninterrupted_run(cfg, run, tmp_path / "ref")


def test_resume_with_windows_across_passes_equals_the_uninterrupted_run(overfit_dir, tmp_path, monkeypatch):
    """2 evaluations a pass of 3 batches: windows of 2 steps, so window 2 holds pass 1's last batch and
    pass 2's first; the crash after window 2 resumes one batch into pass 2."""
    cfg = small_config(overfit_dir, "train.epochs=2", "train.patience=0", "train.batch_size=3",
                       "train.evals_per_epoch=2", "train.keep_checkpoints=true")
    crash_then_resume(cfg, tmp_path / "run", monkeypatch, 2)
    assert_equals_the_uninterrupted_run(cfg, tmp_path / "run", tmp_path / "ref")


@pytest.mark.parametrize("k, epochs_run", [(1, 3), (2, 2.5)])
def test_patience_counts_passes_whatever_the_evaluations_per_pass(overfit_dir, tmp_path, k, epochs_run):
    """With a learning rate of 0 the dev accuracy never improves after the first evaluation, so
    patience 2 (passes) stops after 2 * k further evaluations."""
    cfg = frozen(small_config(overfit_dir, "train.epochs=10", "train.patience=2", f"train.evals_per_epoch={k}"))
    metrics = train(cfg, tmp_path / "run", verbose=0)
    assert metrics["best_epoch"] == (1 if k == 1 else 0.5) and metrics["epochs_run"] == epochs_run


PRIOR_TREES = ["(4 (2 good) (4 fun))", "(0 (2 a) (0 mess))"]


FROZEN = ("train.epochs=2", "train.patience=0", "train.keep_checkpoints=true")  # with frozen(): the zero output
# bias stays zero


def prior_config(tmp_path, *extra):
    data = write_trees(tmp_path / "data", {split: PRIOR_TREES for split in ("train", "dev", "test")})
    return small_config(data, "data.dataset=sst5", "data.train_on=phrases", "train.batch_size=2", *extra)


def test_prior_shift_by_hand(tmp_path):
    """Sentences 4, 0 -> add-one counts (2, 1, 1, 1, 2) / 7; distinct phrases 4, 2, 4, 0, 2, 0 ->
    (3, 1, 3, 1, 3) / 11; the shift is the log of their ratio."""
    cfg = prior_config(tmp_path)
    labels = [4, 2, 4, 0, 2, 0]  # what training reads (data.phrase_examples' labels)
    expected = np.log(np.array([2, 1, 1, 1, 2]) / 7) - np.log(np.array([3, 1, 3, 1, 3]) / 11)
    np.testing.assert_allclose(train_mod.prior_shift(cfg, labels, 5), expected, rtol=1e-6)


def test_shifted_output_bias_restores_the_exact_bias():
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, name="logits", bias_initializer="random_normal")(inp))
    bias = model.get_layer("logits").bias
    before = bias.numpy().copy()
    shift = np.array([0.1, -0.3], np.float32)
    with train_mod.shifted_output_bias(model, shift):
        np.testing.assert_array_equal(bias.numpy(), before + shift)
    np.testing.assert_array_equal(bias.numpy(), before)  # bit for bit, not before + shift - shift
    with train_mod.shifted_output_bias(model, None):
        np.testing.assert_array_equal(bias.numpy(), before)


def test_prior_correction_shifts_evaluation_and_saved_model_but_not_training(tmp_path):
    """Learning rate 0 keeps the zero-initialised output bias, so the saved model's bias is exactly
    the shift, the last checkpoint's stays zero, and dev accuracy per epoch is the shifted model's.
    Training itself (the loss per epoch) is identical with and without the correction."""
    plain = train(frozen(prior_config(tmp_path / "a", *FROZEN)), tmp_path / "plain", verbose=0)
    shifted = train(frozen(prior_config(tmp_path / "b", *FROZEN, "train.prior_correction=true")),
                    tmp_path / "shifted", verbose=0)
    shift = train_mod.prior_shift(prior_config(tmp_path / "c"), [4, 2, 4, 0, 2, 0], 5)
    assert "prior_shift" not in plain
    assert list(shifted["prior_shift"]) == ["very negative", "negative", "neutral", "positive", "very positive"]
    np.testing.assert_allclose(list(shifted["prior_shift"].values()), shift, atol=1e-6)
    run = tmp_path / "shifted"
    saved = keras.models.load_model(run / "model.keras").get_layer("logits").bias.numpy()
    np.testing.assert_array_equal(saved, shift)
    state = json.loads((run / "state.json").read_text())
    last = keras.models.load_model(run / "checkpoints" / state["checkpoint"]).get_layer("logits").bias.numpy()
    np.testing.assert_array_equal(last, np.zeros(5, np.float32))
    a, b = pd.read_csv(tmp_path / "plain" / "metrics.csv"), pd.read_csv(run / "metrics.csv")
    pd.testing.assert_series_equal(a["loss"], b["loss"])
    assert b["val_accuracy"].iloc[state["best_epoch"] - 1] == pytest.approx(shifted["dev"]["accuracy"])


def test_kim_cleaning_reaches_training_and_explanations(tmp_path):
    """vocab.clean=kim: the vocabulary holds cleaned tokens, and explaining typed text scores the
    tokens the model read (hyphens split, full stops gone); nothing left is a clear error."""
    from textdeconv.attribution import make_explainer
    from textdeconv.data.vocab import tokenize

    data = write_trees(tmp_path / "data", {split: [tree(4, "a well-made film ."), tree(0, "a half-baked mess .")]
                                           for split in ("train", "dev", "test")})
    run = tmp_path / "run"
    metrics = train(small_config(data, "train.epochs=1", "vocab.clean=kim"), run, verbose=0)
    assert metrics["vocab_size"] == 2 + 7  # a well made film half baked mess
    assert (run / "vocab.txt").read_text().split("\n")[2:-1] == sorted(["a", "well", "made", "film", "half", "baked",
                                                                        "mess"], key=lambda w: (w != "a", w))
    cfg, vocab, net, classes = read_run(run)
    assert vocab.clean == "kim"
    explainer = make_explainer("deconv", net, vocab, classes)
    (expl,) = explainer.explain([tokenize("A well-made film.", lowercase=False)])
    assert list(expl.tokens) == ["A", "well", "made", "film"] and len(expl.scores) == 4
    with pytest.raises(ValueError, match=r"sentence 0 is empty after vocab.clean=kim; nothing to explain"):
        explainer.explain([["."]])


def test_run_directory_guards(overfit_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(None, tmp_path / "empty", resume=True)
    run = tmp_path / "run"
    train(small_config(overfit_dir, "train.epochs=1"), run, verbose=0)
    with pytest.raises(FileExistsError, match="pass --resume"):
        train(small_config(overfit_dir), run)


def test_corrupt_model_file_is_a_clear_error(overfit_dir, tmp_path):
    run = tmp_path / "run"
    train(small_config(overfit_dir, "train.epochs=1"), run, verbose=0)
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.keras could not be loaded"):
        read_run(run)


def test_datasets_are_not_autotuned():
    """tf.data's autotuning thread made an iterator's teardown wait for its next wake-up (up to
    twice the work: fit on 300 batches returned after 10.24 s for 5.9 s); the pipelines turn it off."""
    for seed in (None, 1):
        assert make_dataset([[2, 3]] * 10, [0] * 10, 4, pad=4, seed=seed).options().autotune.enabled is False


def test_bucket_chunk_one_gives_random_batches():
    """Default chunks of 100 batches sort by length (a batch spans a narrow length range); with
    bucket_chunk=1 (Kim's random batches) a batch spans about the whole range."""
    rng = np.random.default_rng(0)
    seqs = [[2] * n for n in rng.integers(1, 31, size=5000)]

    def mean_span(**kwargs):
        spans = [np.ptp((ids.numpy() != 0).sum(axis=1))
                 for ids, _ in make_dataset(seqs, np.zeros(5000), 50, pad=4, seed=3, **kwargs)]
        return np.mean(spans)

    assert mean_span() <= 1.0
    assert mean_span(bucket_chunk=1) >= 20.0


def test_dataset_batches_cover_every_example_once():
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(2, 50, size=rng.integers(1, 30))) for _ in range(333)]
    labels = np.arange(333) % 2
    for seed, chunk in ((None, 100), (7, 100), (7, 1), (7, 3)):
        ds = make_dataset(seqs, labels, 50, pad=4, seed=seed, bucket_chunk=chunk)
        seen = []
        for ids, _y in ds:
            ids = ids.numpy()
            assert np.all(ids[:, :4] == 0)  # Kim's padding in front of every row
            lengths = (ids != 0).sum(axis=1)
            assert ids.shape[1] == lengths.max() + 8
            seen += [tuple(int(t) for t in row[row != 0]) for row in ids]
        assert sorted(seen) == sorted(tuple(int(t) for t in s) for s in seqs)
        assert len(list(ds)) == ds.cardinality().numpy() == 7


def test_a_stream_skipping_batches_is_the_tail_of_the_stream_from_the_start():
    """Pass p is a function of (seed, p): the stream started ``skip`` batches in (a resumed run) is
    the full stream's tail, passes differ from one another, and another seed gives other passes."""
    rng = np.random.default_rng(1)
    seqs = [list(rng.integers(2, 50, size=rng.integers(1, 30))) for _ in range(95)]
    labels = np.arange(95) % 2

    def batches(ds):
        return [tuple(tuple(int(t) for t in row[row != 0]) for row in ids.numpy()) for ids, _ in ds]

    full = batches(make_dataset(seqs, labels, 10, pad=2, seed=5, bucket_chunk=3, passes=3))
    assert len(full) == 30
    for skip in (1, 10, 13, 29):
        assert batches(make_dataset(seqs, labels, 10, pad=2, seed=5, bucket_chunk=3, passes=None,
                                    skip=skip).take(30 - skip)) == full[skip:]
    assert sorted(full[:10]) != sorted(full[10:20]) and full[:10] != batches(
        make_dataset(seqs, labels, 10, pad=2, seed=6, bucket_chunk=3))
