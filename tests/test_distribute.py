"""Distributed training: mirrored over two logical CPUs == one device, a complete and resumable
mirrored run, multi-worker TF_CONFIG errors, mixed precision, and the new config keys."""
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_train import SENTENCES, write_data

from textdeconv.cli import run_main
from textdeconv.config import ConfigError, ModelConfig, TrainConfig, load_config
from textdeconv.model.textcnn import build_model
from textdeconv.training.distribute import (
    dtype_policy,
    float32_copy,
    is_chief,
    is_mixed,
    make_strategy,
    precision_policy,
    read_tf_config,
)

WORKER = Path(__file__).with_name("distribute_worker.py")
MULTIWORKER = Path(__file__).with_name("multiworker_worker.py")
HAS_GPU = bool(tf.config.list_physical_devices("GPU"))
TWO_CPUS = ["train.strategy=mirrored", "train.devices=[/cpu:0, /cpu:1]"]


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return write_data(tmp_path / "data")


def overrides(data_dir, *extra):
    return [f"data.dir={data_dir}", "data.train_on=sentences", "data.download=false", "data.max_train=null",
            "data.max_eval=null", "model.filter_sizes=[2,3]", "train.patience=0", *extra]


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory) -> dict:
    """One subprocess (the CPU split into two logical devices): the equality checks, then a
    mirrored run with Kim's lazy Adadelta crashed after epoch 1 and resumed."""
    tmp = tmp_path_factory.mktemp("mirrored")
    data, run, out = write_data(tmp / "data"), tmp / "run", tmp / "out.json"
    cfg = overrides(data, *TWO_CPUS, "train.epochs=2", "train.optimizer=adadelta", "train.learning_rate=1.0",
                    "train.epsilon=1.0e-6")
    proc = subprocess.run([sys.executable, str(WORKER), str(out), str(run), *cfg], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {**json.loads(out.read_text()), "run": run}


def test_mirrored_over_two_cpus_equals_one_device(mirrored):
    eq = mirrored["equality"]
    assert eq["replicas"] == 2
    assert eq["moved"] > 1e-3  # two Adadelta steps moved every weight ...
    assert eq["gap"] < 1e-5    # ... and the two replicas' summed gradients moved them as one device did
    assert eq["iterations"] == 2
    # the table took the lazy path under the all-reduce: rows never looked up were never touched
    assert eq["untouched_rows_seen"] == [0.0] * 20 and 2.0 in eq["touched_rows_seen"]
    # batches of 7, 7 and 2 rows: padded to an even split with weight-0 rows, still exactly one device's steps
    assert eq["odd_iterations"] == 3 and eq["odd_gap"] < 1e-5


def test_mirrored_run_is_complete_loadable_and_resumes_in_scope(mirrored):
    run, result = mirrored["run"], mirrored["train"]
    for name in ("config.yaml", "vocab.txt", "model.keras", "metrics.csv", "metrics.json", "state.json", "curves.png"):
        assert (run / name).is_file(), name
    assert result["epoch_after_crash"] == 1
    expected = {"strategy": "mirrored", "replicas": 2, "workers": 1, "precision": "float32"}
    assert result["state_after_crash"] == expected
    assert result["metrics"]["distribution"] == expected
    assert json.loads((run / "metrics.json").read_text())["distribution"] == expected
    assert result["metrics"]["epochs_run"] == 2 and result["metrics"]["test"]["n"] == len(SENTENCES)
    # the resumed epoch ran on mirrored variables, with the checkpoint's optimizer state (1 step + 1)
    assert result["resumed_epoch"] == {"distributed": True, "replicas": 2, "optimizer": "LazyAdadelta",
                                       "iterations": 2}
    loaded = result["loaded"]
    assert loaded["classes"] == ["negative", "positive"] and loaded["vocab"] == loaded["table_rows"]
    assert loaded["strategy"] == "mirrored" and loaded["dtypes"] == ["float32"]


def test_mirrored_prior_correction_saves_the_shifted_bias(mirrored):
    """The shift is added to (and taken back from) mirrored variables: with learning rate 0 the
    saved output bias is exactly the shift, as on one device (test_train.py)."""
    prior = mirrored["prior"]
    assert prior["replicas"] == 2
    np.testing.assert_allclose(prior["saved_bias"], prior["shift"], atol=1e-6)
    np.testing.assert_allclose(prior["shift"], np.log([22 / 21, 11 / 7, 11 / 21, 11 / 7, 22 / 21]), atol=1e-6)



def free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> dict:
    """A two-worker cluster on this machine (two processes, TF_CONFIG over localhost ports): each
    runs tests/multiworker_worker.py; returns both workers' reports and the run directory."""
    import os

    tmp = tmp_path_factory.mktemp("multiworker")
    data, run = write_data(tmp / "data"), tmp / "run"
    cfg = overrides(data, "train.strategy=multiworker", "train.epochs=2", "train.batch_size=2", "model.dropout=0.0")
    workers = [f"localhost:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                      "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, str(MULTIWORKER), str(tmp / f"out{index}.json"), str(run), *cfg],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        errors = [p.communicate(timeout=600)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, err in zip(procs, errors):
        assert p.returncode == 0, err[-4000:]
    return {"reports": [json.loads((tmp / f"out{i}.json").read_text()) for i in range(2)], "run": run}


def test_multiworker_steps_equal_one_device(two_workers):
    for report in two_workers["reports"]:
        eq = report["equality"]
        assert eq["replicas"] == 2 and eq["iterations"] == 2  # batches of 8 and 6 rows, split 4+4 and 3+3
        assert eq["gap"] < 1e-5  # the all-reduced gradients moved the weights as one device did
        assert eq["loss"] == pytest.approx(eq["single_loss"], rel=1e-5)  # logged loss averaged across workers


def test_multiworker_run_only_the_chief_writes(two_workers):
    run = two_workers["run"]
    chief, other = two_workers["reports"]
    assert (chief["chief"], other["chief"]) == (True, False)
    assert chief["wrote_to"] == str(run) and other["wrote_to"] != str(run)
    assert not Path(other["wrote_to"]).exists()  # the non-chief's temporary directory is gone
    for name in ("config.yaml", "vocab.txt", "model.keras", "metrics.csv", "metrics.json", "state.json", "curves.png"):
        assert (run / name).is_file(), name
    expected = {"strategy": "multiworker", "replicas": 2, "workers": 2, "precision": "float32"}
    assert json.loads((run / "metrics.json").read_text())["distribution"] == expected
    assert chief["metrics"]["epochs_run"] == 2 and chief["metrics"]["test"]["n"] == len(SENTENCES)
    # both workers trained the same synchronised model: the same scores on the same data
    assert other["metrics"]["dev"] == chief["metrics"]["dev"] and other["metrics"]["test"] == chief["metrics"]["test"]
    # and it is the model one device trains from the same config: 2 epochs of 4 shuffled batches,
    # each split 1 + 1 row across the workers, in the same order (no batch drawn before epoch 1)
    assert chief["run_gap"] < 1e-5

def test_multiworker_without_tf_config_is_a_one_line_error(data_dir, tmp_path, monkeypatch, capsys):
    from textdeconv.training.trainer import train

    monkeypatch.delenv("TF_CONFIG", raising=False)
    cfg = load_config("tiny.yaml", overrides(data_dir, "train.strategy=multiworker"))
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: train(cfg, tmp_path / "run", verbose=0))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: train.strategy=multiworker needs the TF_CONFIG environment variable")
    assert '"task": {"type": "worker", "index": 0}' in err  # an example to copy
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("value, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["a:1"]}}', "must hold a 'cluster' and a 'task'"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "parameter servers"),
    ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief' is not in"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', "must be 0..1"),
])
def test_malformed_tf_config_is_named(value, message):
    with pytest.raises(ValueError, match=message) as info:
        read_tf_config({"TF_CONFIG": value})
    assert "\n" not in str(info.value)


def test_two_worker_tf_config_is_accepted():
    tf_config = {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}
    assert read_tf_config({"TF_CONFIG": json.dumps(tf_config)}) == tf_config


def test_single_device_and_chief_by_default():
    strategy = make_strategy(TrainConfig())
    assert strategy.num_replicas_in_sync == 1 and is_chief(strategy)


def test_mirrored_rejects_a_device_that_does_not_exist():
    with pytest.raises(ValueError, match="/gpu:7 is not a device on this machine"):
        make_strategy(TrainConfig(strategy="mirrored", devices=("/gpu:7",)))


@pytest.mark.skipif(HAS_GPU, reason="checks the CPU-only behaviour")
def test_cpu_runs_stay_float32():
    assert precision_policy(TrainConfig()) == "float32"  # auto
    assert precision_policy(TrainConfig(mixed_precision="off")) == "float32"
    with pytest.raises(ValueError, match="needs training to run on GPUs"):
        precision_policy(TrainConfig(mixed_precision="on"))


def test_mixed_precision_model_outputs_float32_and_saves_as_float32():
    cfg = ModelConfig(embedding_dim=8, filter_sizes=(2, 3), num_filters=4)
    with dtype_policy("mixed_float16"):
        model = build_model(cfg, 30, 2, seed=0)
    assert keras.config.dtype_policy().name == "float32"  # restored after the block
    assert is_mixed(model) and model.get_layer("conv_2").compute_dtype == "float16"
    ids = np.array([[0, 0, 5, 6, 7, 0, 0]], np.int32)
    assert model.get_layer("logits").compute_dtype == "float32" and model(ids).dtype == "float32"
    twin = float32_copy(model)
    assert not is_mixed(twin) and {w.dtype for w in twin.weights} == {"float32"}
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(twin(ids).numpy(), model(ids).numpy(), atol=2e-3)  # float16 rounding only


@pytest.mark.skipif(not HAS_GPU, reason="needs a GPU")
def test_mixed_precision_run_on_gpu(data_dir, tmp_path):
    from textdeconv.training.rundir import read_run
    from textdeconv.training.trainer import train

    metrics = train(load_config("tiny.yaml", overrides(data_dir, "train.epochs=2", "train.optimizer=adadelta",
                                                       "train.learning_rate=1.0", "train.keep_checkpoints=true")),
                    tmp_path / "run", verbose=0)
    assert metrics["distribution"]["precision"] == "mixed_float16"
    ckpt = keras.models.load_model(next((tmp_path / "run" / "checkpoints").glob("epoch_*.keras")), safe_mode=True)
    assert is_mixed(ckpt) and type(ckpt.optimizer).__name__ == "LossScaleOptimizer"
    net = read_run(tmp_path / "run")[2]  # model.keras: float32, for explain.py
    assert not is_mixed(net.model)
    metrics = train(None, tmp_path / "run", resume=True, verbose=0)
    assert metrics["epochs_run"] == 2


# --------------------------------------------------------------------------------------------
# Config keys


def test_strategy_keys_defaults_and_overrides():
    cfg = load_config("tiny.yaml")
    assert (cfg.train.strategy, cfg.train.devices, cfg.train.mixed_precision) == ("default", None, "auto")
    cfg = load_config("tiny.yaml", ["train.strategy=mirrored", "train.devices=/gpu:1", "train.mixed_precision=off"])
    assert (cfg.train.strategy, cfg.train.devices, cfg.train.mixed_precision) == ("mirrored", ("/gpu:1",), "off")
    assert load_config("tiny.yaml", TWO_CPUS).train.devices == ("/cpu:0", "/cpu:1")
    # YAML reads a bare on/off as a boolean; for this key it means on/off
    for value, expected in (("on", "on"), ("off", "off"), ("true", "on"), ("'off'", "off"), ("auto", "auto")):
        assert load_config("tiny.yaml", [f"train.mixed_precision={value}"]).train.mixed_precision == expected


@pytest.mark.parametrize("items, message", [
    (["train.strategy=horovod"], "'train.strategy' must be one of default, mirrored, multiworker"),
    (["train.mixed_precision=fp16"], "'train.mixed_precision' must be one of auto, on, off"),
    (["train.mixed_precision=1"], "'train.mixed_precision' must be a string"),
    (["train.devices=[/gpu:0]"], "'train.devices' applies to train.strategy=mirrored only"),
    (["train.strategy=multiworker", "train.devices=[/gpu:0]"], "applies to train.strategy=mirrored only"),
    (["train.strategy=mirrored", "train.devices=[/gpu:0, /gpu:0]"], "distinct device names"),
    (["train.strategy=mirrored", "train.devices=[]"], "'train.devices' must be a non-empty list"),
    (["train.stratgy=mirrored"], "did you mean 'train.strategy'"),
])
def test_strategy_keys_are_validated(items, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny.yaml", items)
