"""Where training runs: a tf.distribute strategy, mixed precision, and which worker writes files.

``train.strategy``:
    default      one device (the first GPU when there is one, else the CPU)
    mirrored     ``tf.distribute.MirroredStrategy``: one replica per local GPU, or per device in
                 ``train.devices`` (e.g. ``["/cpu:0", "/cpu:1"]`` for logical CPU devices)
    multiworker  ``tf.distribute.MultiWorkerMirroredStrategy`` over the machines named in the
                 ``TF_CONFIG`` environment variable; every worker runs the same command

``train.batch_size`` is the global batch: each step's batch is split across the replicas
(``batch_size / replicas`` rows each), every replica averages the loss over its own rows and
divides it by the number of replicas, and the gradients are summed: the mean over the global
batch, so the learning rate needs no change. A batch that does not divide evenly (the last one,
or a short length bucket) is padded with weight-0 rows and its real rows reweighted, so it too
takes exactly the step one device would (``for_replicas``).

``train.mixed_precision``: ``auto`` computes in float16 with float32 variables
(``mixed_float16``, Keras's ``LossScaleOptimizer`` added by ``compile``) when training runs on
GPUs, ``on`` insists on it, ``off`` never; CPU runs always stay float32. The output layers
(logits, softmax) compute in float32, and model.keras is always saved in float32, so explain.py and
the attribution methods see the same float32 network either way.

With ``multiworker`` only the chief (task ``chief``, or ``worker`` 0 when the cluster has no chief)
writes the run directory. The other workers run every write too, as TensorFlow recommends (saving
may take part in collective operations), but into a temporary directory that is removed when the
process exits; on ``--resume`` they start from a copy of the chief's run directory, so it must be
on a file system they can read.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from textdeconv.errors import ConfigError

MIXED_POLICY = "mixed_float16"
TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


def read_tf_config(environ=os.environ) -> dict:
    """The cluster described by ``$TF_CONFIG``, checked: ``{"cluster": {...}, "task": {...}}``.

    Raises:
        ConfigError: TF_CONFIG is missing or malformed (one line, with an example).
    """
    text = environ.get("TF_CONFIG", "").strip()
    need = ("train.strategy=multiworker needs the TF_CONFIG environment variable on every worker, "
            f"e.g. {TF_CONFIG_EXAMPLE}")
    if not text:
        raise ConfigError(f"{need} (worker 0 is the chief and writes the run directory)")
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos}); {need}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG must hold a 'cluster' and a 'task' mapping; {need}")
    unsupported = sorted(set(cluster) - {"chief", "worker"})
    if unsupported or not cluster.get("worker") and not cluster.get("chief"):
        raise ConfigError(f"TF_CONFIG 'cluster' must list 'worker' (and optionally one 'chief') addresses, "
                          f"got {sorted(cluster)}; parameter servers and evaluators are not supported")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ConfigError(f"TF_CONFIG cluster '{kind}' must be a list of \"host:port\" strings, got {addresses!r}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        raise ConfigError(f"TF_CONFIG task type {kind!r} is not in the cluster (one of {sorted(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ConfigError(f"TF_CONFIG task index must be 0..{len(cluster[kind]) - 1} for '{kind}', got {index!r}")
    return tf_config


def _device(name: str) -> tf.DeviceSpec:
    try:
        spec = tf.DeviceSpec.from_string(name)
    except (ValueError, TypeError):
        spec = None
    if spec is None or spec.device_type is None:
        raise ConfigError(f"train.devices: {name!r} is not a device name (e.g. /gpu:0 or /cpu:1)")
    return spec


def make_strategy(train_cfg) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy ``train.strategy`` asks for (one per process and setting,
    reused by later runs such as cross-validation folds).

    Call it before any other TensorFlow operation: MultiWorkerMirroredStrategy configures the
    collective ops, which TensorFlow allows only at start-up, and only once.

    Raises:
        ConfigError: TF_CONFIG missing or malformed (multiworker); a listed device does not exist.
    """
    if train_cfg.strategy == "default":
        return tf.distribute.get_strategy()
    if train_cfg.strategy == "multiworker":
        read_tf_config()
    return _strategy(train_cfg.strategy, train_cfg.devices)


@functools.cache
def _strategy(kind: str, devices: tuple[str, ...] | None) -> tf.distribute.Strategy:
    _patch_keras_fit()
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if not devices:
        return tf.distribute.MirroredStrategy()  # every local GPU (the CPU when there is none)
    wanted = [_device(d) for d in devices]
    have = {(d.device_type, d.device_index) for d in map(_device, (x.name for x in tf.config.list_logical_devices()))}
    for name, spec in zip(devices, wanted):
        if (spec.device_type, spec.device_index or 0) not in have:
            known = ", ".join(x.name for x in tf.config.list_logical_devices())
            raise ConfigError(f"train.devices: {name} is not a device on this machine (available: {known})")
    return tf.distribute.MirroredStrategy([f"/{s.device_type.lower()}:{s.device_index or 0}" for s in wanted])


def _patch_keras_fit() -> None:
    """Make Keras 3's ``fit`` run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585)
    and see a distributed run's batches in the same order as one device's.

    Two places in Keras's TensorFlow trainer are replaced:
    - ``_maybe_symbolic_build``: under a strategy, Keras draws the first batch of the epoch
      iterator, averages it across replicas with one ``strategy.reduce`` over the whole
      ``(ids, labels, weights)`` tuple (which the multi-worker collective strategy cannot
      convert: "Attempt to convert a value (PerReplica...)"), builds the metrics from its shapes,
      then starts the epoch on a fresh iterator, which advances the seeded shuffle by one epoch.
      Only shapes and dtypes are needed, so the build now reads them from the dataset's
      ``element_spec`` and draws no batch.
    - ``reduce_per_replica``: multi-worker runs averaged the logged metrics with
      ``reduce("MEAN", v, axis=0)``, which fails on scalars; they are averaged as scalars.
    Every other path defers to Keras's own code; without a strategy (one device) Keras never calls
    either. ``tests/test_distribute.py`` trains mirrored and two-worker runs against one device.
    """
    from keras.src import backend, tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    needed = ("_collective_all_reduce_multi_worker", "reduce_per_replica")
    if getattr(tf_trainer, "_textdeconv_patched", False) or not all(hasattr(tf_trainer, n) for n in needed):
        return  # patched already, or a Keras whose trainer no longer has these seams
    multi = tf_trainer._collective_all_reduce_multi_worker
    build, reduce_per_replica = tf_trainer.TensorFlowTrainer._maybe_symbolic_build, tf_trainer.reduce_per_replica

    def build_from_spec(self, iterator=None, data_batch=None):
        adapter = getattr(iterator, "data_adapter", None)
        if self._distribute_strategy is None or data_batch is not None or adapter is None:
            return build(self, iterator=iterator, data_batch=data_batch)
        spec = adapter.get_tf_dataset().element_spec
        symbolic = tree.map_structure(lambda s: backend.KerasTensor(tuple(s.shape), s.dtype.name), spec)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=symbolic)

    def scalar_mean(values, strategy, reduction):
        if multi(strategy) and reduction in ("auto", "mean"):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_spec
    tf_trainer.reduce_per_replica = scalar_mean
    tf_trainer._textdeconv_patched = True


def on_gpu(train_cfg) -> bool:
    """Whether training runs on GPUs: every listed device is one, or (no list) this machine has one."""
    if train_cfg.strategy == "mirrored" and train_cfg.devices:
        return all(_device(d).device_type == "GPU" for d in train_cfg.devices)
    return bool(tf.config.list_physical_devices("GPU"))


def precision_policy(train_cfg) -> str:
    """``"mixed_float16"`` or ``"float32"`` for ``train.mixed_precision`` on this machine.

    Raises:
        ConfigError: ``on`` where training would not run on GPUs.
    """
    gpu = on_gpu(train_cfg)
    if train_cfg.mixed_precision == "on" and not gpu:
        raise ConfigError("train.mixed_precision=on needs training to run on GPUs, and none is used here; "
                          "CPU runs stay float32 (use auto or off)")
    mixed = train_cfg.mixed_precision == "on" or train_cfg.mixed_precision == "auto" and gpu
    return MIXED_POLICY if mixed else "float32"


@contextlib.contextmanager
def dtype_policy(name: str):
    """Keras's global dtype policy set to ``name`` inside the block (layers keep the one they were built with)."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def is_mixed(model: keras.Model) -> bool:
    return any(layer.dtype_policy.name != "float32" for layer in model.layers)


def float32_copy(model: keras.Model) -> keras.Model:
    """The same network, every layer in float32, with the same weights (no optimizer)."""
    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def _task(strategy) -> tuple[str | None, int | None, dict]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return None, None, {}
    return resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict()


def is_chief(strategy) -> bool:
    """True but for the non-chief workers of a multi-worker cluster (TensorFlow's convention)."""
    kind, index, cluster = _task(strategy)
    return kind in (None, "chief") or kind == "worker" and index == 0 and "chief" not in cluster


def writable_run_dir(strategy, run_dir: Path, resume: bool) -> Path:
    """``run_dir`` on the chief; on another worker a temporary directory removed at exit
    (holding a copy of the chief's run directory when resuming)."""
    if is_chief(strategy):
        return run_dir
    kind, index, _ = _task(strategy)
    tmp = Path(tempfile.mkdtemp(prefix=f"textdeconv-{kind}-{index}-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    if resume:
        shutil.copytree(run_dir, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("tensorboard"))
    return tmp


def for_replicas(ds: tf.data.Dataset, strategy, train: bool) -> tf.data.Dataset:
    """Batches ``(ids (B, T), labels (B,))`` ready for ``strategy``'s replicas.

    With R > 1 replicas every batch is padded to a multiple of R rows with all-PAD rows of label 0
    and sample weight 0, so each replica gets the same number of rows. (Keras also builds its
    metrics from the first batch averaged over the replicas, which fails on uneven shapes.)
    Training rows weigh b'/b (b real rows, b' after padding): each replica divides its weighted
    loss sum by its b'/R rows and Keras scales it by 1/R before the gradients are summed, so the
    step follows the mean loss over the b real rows exactly as on one device. Dev rows weigh 1, so
    val_accuracy counts real rows only (a padded dev batch's loss is averaged over its b' rows).

    Multi-worker: every worker reads the whole (identically seeded) pipeline and keeps its share
    of each batch; sharding by file, the default, does not apply to in-memory data.
    """
    replicas = int(strategy.num_replicas_in_sync)
    if replicas > 1:
        def pad(ids, labels):
            b = tf.shape(labels)[0]
            extra = -b % replicas
            weight = tf.cast(b + extra, tf.float32) / tf.cast(b, tf.float32) if train else 1.0
            weights = tf.concat([tf.fill([b], weight), tf.zeros([extra])], axis=0)
            return tf.pad(ids, [[0, extra], [0, 0]]), tf.pad(labels, [[0, extra]]), weights

        ds = ds.map(pad, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def describe(train_cfg, strategy, model: keras.Model) -> dict:
    """What state.json and metrics.json record about where a run trained."""
    cluster = _task(strategy)[2]
    return {"strategy": train_cfg.strategy, "replicas": int(strategy.num_replicas_in_sync),
            "workers": sum(len(v) for v in cluster.values()) or 1,
            "precision": "mixed_float16" if is_mixed(model) else "float32"}
