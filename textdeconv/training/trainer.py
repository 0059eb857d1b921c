"""Training, evaluation, checkpointing and resuming; the run directory.

A run directory holds:
    config.yaml        the resolved config (read back by explain.py)
    vocab.txt          one token per line, line number = id
    model.keras        the best-on-dev model (Keras format, loaded with safe_mode); with
                       train.prior_correction its output bias holds the prior shift
    metrics.csv        one row per finished epoch (loss, accuracy, val_loss, val_accuracy, seconds);
                       with train.evals_per_epoch k > 1, per k-th of an epoch (epoch 0.25, 0.5, ...)
    curves.png         metrics.csv plotted (loss and accuracy, train and dev), written when training ends
    metrics.json       final dev/test accuracy, macro-F1 and confusion matrices; "vectors": the
                       pretrained vectors' coverage (embeddings.Coverage.to_dict()); "distribution":
                       strategy, replicas, workers and precision of the last (re)start (distribute.py);
                       "prior_shift": per class, what train.prior_correction added to the output bias
    state.json         resume state (epochs done, best, history, the Dropout seed generators' state);
                       written last in each epoch, it is the commit point
    checkpoints/       while training: the last epoch's model with its optimizer state (mixed
                       precision: in mixed precision; model.keras is always float32) and the best
                       epoch's; deleted when the run finishes unless train.keep_checkpoints
                       with train.keep_every_epoch also weights_NNN.keras, every evaluation's
                       float32 weights (state.json "tracin": file and learning rate), kept for TracIn
    tensorboard/       TensorBoard logs
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from textdeconv.config import Config, load_config, save_config
from textdeconv.data.splits import load_splits, pin, split_sentences
from textdeconv.data.vocab import BUCKET_CHUNK, Vocab, length_batches, pad_batch
from textdeconv.errors import DataError, MissingFileError, OutputError
from textdeconv.files import atomic_path, atomic_write_json
from textdeconv.model.embeddings import initial_table, token_counts
from textdeconv.model.textcnn import build_model
from textdeconv.training.distribute import (
    describe,
    dtype_policy,
    float32_copy,
    for_replicas,
    make_strategy,
    precision_policy,
    writable_run_dir,
)
from textdeconv.training.optim import LazyAdadelta
from textdeconv.training.rundir import plot_training_curves


def make_dataset(seqs, labels, batch_size: int, pad: int, seed: int | None = None,
                 bucket_chunk: int = BUCKET_CHUNK, passes: int | None = 1, skip: int = 0):
    """tf.data pipeline of padded, length-bucketed batches ``(ids (B, T) int32, labels (B,) int32)``.

    Rows are laid out as the model expects (``pad`` PAD, tokens, PAD to the batch's longest row).
    Without ``seed`` (evaluation) all rows are sorted by length, in one fixed order. With ``seed``
    (training) the stream is ``passes`` passes over the examples (None: endless), ``skip`` batches
    into it. Pass ``p`` is a function of ``(seed, p)`` alone (``pass_order``): examples shuffled,
    sorted by length within chunks of ``bucket_chunk`` batches (so a batch holds similar lengths)
    and the batches shuffled; ``bucket_chunk=1`` gives Kim's plain random batches. So a resumed run
    that skips the batches already trained on sees exactly the batches the uninterrupted run saw.
    Everything runs inside tf.data: a Python generator in the input pipeline made each CPU
    training step ~2.5x slower.
    """
    labels = np.asarray(labels, dtype=np.int32)
    lengths = np.array([len(s) + 2 * pad for s in seqs], dtype=np.int64)
    if seed is None:  # evaluation: sorted by length, fixed order
        order = np.argsort(lengths, kind="stable")
        seqs, labels, lengths = [seqs[i] for i in order], labels[order], lengths[order]
    flat = np.zeros(int(lengths.sum()), dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for s, st in zip(seqs, starts):
        flat[st + pad: st + pad + len(s)] = s
    rows = tf.RaggedTensor.from_row_lengths(flat, lengths)
    n_batches = -(-len(labels) // batch_size)
    if seed is None:
        ds = tf.data.Dataset.from_tensor_slices((rows, labels)).batch(batch_size)
    else:
        first, offset = divmod(skip, n_batches)
        last = tf.int64.max if passes is None else (skip + passes * n_batches - 1) // n_batches + 1
        sizes = tf.constant(lengths)

        def one_pass(p):
            return tf.data.Dataset.from_tensor_slices(pass_order(sizes, batch_size, bucket_chunk, seed, p))

        ids = tf.constant(labels)
        ds = (tf.data.Dataset.range(first, last).flat_map(one_pass).skip(offset)
              .map(lambda idx: (tf.gather(rows, idx), tf.gather(ids, idx)), num_parallel_calls=2))
        n_batches = -1 if passes is None else passes * n_batches
    ds = ds.map(lambda x, y: (x.to_tensor(), y), num_parallel_calls=2)
    # No autotuning: its model thread sleeps 10 ms, 20 ms, 40 ms, ... between rounds, and an
    # iterator's teardown waits for it to wake, so fit(ds.take(300)) returned after 10.24 s for
    # 5.9 s of work (bench/train_speed.py). Reading batches costs ~1 ms of a ~20 ms step anyway.
    options = tf.data.Options()
    options.autotune.enabled = False
    if n_batches >= 0:
        ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    return ds.prefetch(2).with_options(options)


def pass_order(lengths, batch_size: int, bucket_chunk: int, seed: int, p) -> tf.RaggedTensor:
    """Pass ``p``'s batches as example indices: (batches, None) int64, a function of ``(seed, p)`` only.

    Stateless shuffles (seeded ``[seed, 2p]`` for examples, ``[seed, 2p + 1]`` for batches) carry no
    state from one pass to the next, so nothing but the pass number has to survive a restart.
    ``lengths``: (n,) int64, each example's padded length.
    """
    n = tf.shape(lengths, out_type=tf.int64)[0]
    p = tf.cast(p, tf.int64)
    order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), 2 * p]))
    if bucket_chunk > 1:  # stable sort by (chunk, length): each chunk of bucket_chunk batches sorted by length
        key = tf.range(n) // (batch_size * bucket_chunk) * (tf.reduce_max(lengths) + 1) + tf.gather(lengths, order)
        order = tf.gather(order, tf.argsort(key, stable=True))
    # chunks hold whole batches, so cutting the sorted order every batch_size rows cuts within chunks
    batches = tf.RaggedTensor.from_row_starts(order, tf.range(0, n, batch_size))
    n_batches = batches.nrows()
    shuffled = tf.random.experimental.stateless_shuffle(tf.range(n_batches),
                                                         seed=tf.stack([tf.constant(seed, tf.int64), 2 * p + 1]))
    return tf.gather(batches, shuffled)


def predict_ids(model: keras.Model, seqs, pad: int, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (n, classes) for id sequences, batched by length, in input order."""
    out = None
    for b in length_batches([len(s) for s in seqs], batch_size, None):
        probs = model(pad_batch([seqs[i] for i in b], pad), training=False).numpy()
        if out is None:
            out = np.zeros((len(seqs), probs.shape[1]), np.float32)
        out[b] = probs
    return out


def classification_metrics(y_true, y_pred, class_names) -> dict:
    labels = list(range(len(class_names)))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(class_names),
        "n": int(len(y_true)),
    }


def prior_shift(cfg: Config, train_labels, num_classes: int) -> np.ndarray:
    """(classes,) float32: log p(y | the training split's sentences) - log p(y | the examples trained on).

    Training on every phrase teaches the model the phrases' class prior (SST-5: 51% neutral), while
    dev and test are sentences (19% neutral in the training split). Added to the output bias, the
    shift turns p(y | x) under the first prior into p(y | x) under the second, if p(x | y) is
    shared (Saerens et al., 2002). Both priors come from the training split; counts are add-one
    smoothed so a class absent from one of them keeps a finite shift.
    """
    target = np.bincount(split_sentences(cfg.data, "train")[2], minlength=num_classes) + 1.0
    source = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=num_classes) + 1.0
    return (np.log(target / target.sum()) - np.log(source / source.sum())).astype(np.float32)


@contextlib.contextmanager
def shifted_output_bias(model: keras.Model, shift):
    """Inside the block the logits layer's bias is ``bias + shift`` (``shift`` None: unchanged);
    the exact original values come back afterwards."""
    if shift is None:
        yield
        return
    bias = model.get_layer("logits").bias
    original = bias.numpy()
    bias.assign(original + shift)
    try:
        yield
    finally:
        bias.assign(original)


class PriorShift(keras.callbacks.Callback):
    """Dev evaluation (early stopping, best model) under ``shift`` while training stays unshifted."""

    def __init__(self, shift):
        super().__init__()
        self.shift, self.stack = shift, contextlib.ExitStack()

    def on_test_begin(self, logs=None):
        self.stack.enter_context(shifted_output_bias(self.model, self.shift))

    def on_test_end(self, logs=None):
        self.stack.close()  # restores the exact bias; the emptied stack is ready for the next evaluation


def passes(evaluations: int, evals_per_epoch: int):
    """Passes over the training set after ``evaluations`` dev evaluations: an int when whole."""
    done = evaluations / evals_per_epoch
    return int(done) if done == int(done) else round(done, 4)


def rng_state(model: keras.Model) -> list[list[int]]:
    """Every random-number state training draws from: the state of each of the model's seed
    generators (Dropout's masks), in ``model.variables`` order. A .keras file does not keep them."""
    return [[int(x) for x in v.numpy()] for v in model.variables if v.path.endswith("seed_generator_state")]


def restore_rng_state(model: keras.Model, saved) -> None:
    """Put back what ``rng_state`` recorded at the last commit (None: a new run, nothing to do)."""
    if saved is None:
        return
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    if len(states) != len(saved):
        raise DataError(f"state.json records {len(saved)} random-number states, the checkpoint's model has "
                        f"{len(states)}; the run cannot be resumed exactly: start it again in another --run-dir")
    for v, value in zip(states, saved):
        v.assign(np.asarray(value, dtype=v.dtype))


def make_optimizer(cfg) -> keras.optimizers.Optimizer:
    """Kim's Adadelta (lazy on the embedding table unless ``sparse_updates`` is off) or Adam."""
    if cfg.optimizer == "adadelta":
        kind = LazyAdadelta if cfg.sparse_updates else keras.optimizers.Adadelta
        return kind(learning_rate=cfg.learning_rate, rho=cfg.rho, epsilon=cfg.epsilon)
    return keras.optimizers.Adam(learning_rate=cfg.learning_rate, epsilon=cfg.epsilon)


class RunRecorder(keras.callbacks.Callback):
    """Per epoch: checkpoint, metrics.csv, best model and early stopping, committed by state.json.

    Every file is written atomically, and state.json (written last) names the checkpoint it
    belongs to, so an interruption at any point resumes from the last finished epoch.

    With ``evals_per_epoch`` k > 1 a Keras "epoch" is one k-th of a pass over the training set:
    each row of metrics.csv is one dev evaluation, its ``epoch`` the passes done (0.25, 0.5, ...),
    and ``patience`` still counts passes (k * patience evaluations).
    """

    def __init__(self, run_dir: Path, patience: int, state: dict, evals_per_epoch: int = 1, shift=None,
                 keep_every_epoch: bool = False):
        super().__init__()
        self.run_dir, self.state, self.k, self.shift = run_dir, state, evals_per_epoch, shift
        self.keep_every_epoch = keep_every_epoch
        self.patience = patience * evals_per_epoch
        self.ckpt_dir = run_dir / "checkpoints"

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": passes(epoch + 1, self.k), **{k: float(v) for k, v in (logs or {}).items()},
               "seconds": round(time.perf_counter() - self.t0, 3)}
        st = self.state
        st["history"].append(row)
        improved = row["val_accuracy"] > st["best_val_accuracy"]
        ckpt = self.ckpt_dir / f"epoch_{epoch + 1:03d}.keras"
        with atomic_path(ckpt) as tmp:
            self.model.save(tmp)
        if improved:
            # the best model is saved as it was evaluated: with the prior shift, if any
            # the best model is saved for inference: float32 (explaining needs it), no optimizer, so
            # it loads in plain Keras (keras.models.load_model) once textdeconv is imported
            with atomic_path(self.ckpt_dir / f"best_{epoch + 1:03d}.keras") as tmp, \
                    shifted_output_bias(self.model, self.shift):
                float32_copy(self.model).save(tmp)
        if self.keep_every_epoch:
            # TracIn's checkpoint: the weights training reached (float32, unshifted: the training loss's
            # weights), with the step size that led there. Written before the commit; a resumed run
            # redoing this evaluation writes the same file again
            name = f"weights_{epoch + 1:03d}.keras"
            with atomic_path(self.ckpt_dir / name) as tmp:
                float32_copy(self.model).save(tmp)
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            st["tracin"] = [*st.get("tracin", []), {"epoch": row["epoch"], "weights": name, "learning_rate": lr}]
        with atomic_path(self.run_dir / "metrics.csv") as tmp:
            pd.DataFrame(st["history"]).to_csv(tmp, index=False)
        st.update(epoch=epoch + 1, checkpoint=ckpt.name, wait=0 if improved else st["wait"] + 1,
                  rng=rng_state(self.model))
        if improved:
            st.update(best_val_accuracy=row["val_accuracy"], best_epoch=epoch + 1, best=f"best_{epoch + 1:03d}.keras")
        atomic_write_json(self.run_dir / "state.json", st)  # the commit point
        if improved:
            with atomic_path(self.run_dir / "model.keras") as tmp:
                shutil.copyfile(self.ckpt_dir / st["best"], tmp)
        for old in own_checkpoints(self.ckpt_dir):  # never a file of the user's that happens to be there
            if old.name not in (st["checkpoint"], st["best"]):
                old.unlink()
        if self.patience and st["wait"] >= self.patience:
            self.model.stop_training = True


class EpochLog(keras.callbacks.Callback):
    """One plain line per epoch on stderr (``epoch 3/25: loss 0.41  accuracy 0.83  ...  (2.1 s)``):
    what a run shows when stdout is no terminal, where Keras's progress bar would fill a log with
    backspaces. Results stay on stdout."""

    def __init__(self, epochs: int, evals_per_epoch: int = 1, stream=None):
        super().__init__()
        self.epochs, self.k, self.stream = epochs, evals_per_epoch, stream

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = "  ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
        print(f"epoch {passes(epoch + 1, self.k)}/{self.epochs}: {values}  ({time.perf_counter() - self.t0:.1f} s)",
              file=self.stream or sys.stderr, flush=True)


def interactive() -> bool:
    """True when stdout is a terminal (or a notebook): where a progress bar belongs."""
    try:
        return sys.stdout.isatty() or "ipykernel" in sys.modules
    except (AttributeError, ValueError):
        return False


CHECKPOINT_NAME = re.compile(r"(epoch|best)_\d{3,}\.keras")  # RunRecorder's names (weights_NNN.keras stay)


def own_checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files training wrote in ``folder`` (by name: epoch_NNN.keras, best_NNN.keras)."""
    return sorted(p for p in folder.glob("*.keras") if CHECKPOINT_NAME.fullmatch(p.name) and p.is_file())


def drop_checkpoints(run_dir: Path, cfg: Config) -> None:
    """A finished run keeps model.keras (the best model) and, only with train.keep_checkpoints,
    checkpoints/ (the last epoch with its optimizer state, and the best: two more copies).
    Only the checkpoint files training wrote are removed, and the folder only when that empties it."""
    if not cfg.train.keep_checkpoints:
        folder = run_dir / "checkpoints"
        for p in own_checkpoints(folder):
            p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: anything else in it is not ours


def sync_best_model(run_dir: Path, state: dict) -> None:
    """Make ``model.keras`` the checkpoint ``state.json`` names as best.

    ``RunRecorder`` copies a new best into ``model.keras`` just after the commit, so a kill between
    the two would leave it one best behind; this repeats the (idempotent) copy before evaluating.
    """
    best = run_dir / "checkpoints" / (state.get("best") or "")
    if state.get("best") and best.is_file():
        with atomic_path(run_dir / "model.keras") as tmp:
            shutil.copyfile(best, tmp)


def train(cfg: Config, run_dir: str | Path, resume: bool = False, verbose="auto") -> dict:
    """Train (or resume) a TextCNN as configured; return the final metrics dict.

    ``verbose``: "auto" shows Keras's progress bar when stdout is a terminal, else one line per
    epoch on stderr (``EpochLog``); 0, 1 or 2 are passed to ``model.fit`` as they are.
    ``train.strategy`` picks the devices (distribute.py): the model, its optimizer and a resumed
    checkpoint are built inside the strategy's scope, ``train.batch_size`` is the global batch, and
    with several workers only the chief writes ``run_dir``.
    """
    run_dir = Path(run_dir)
    state_path = run_dir / "state.json"
    if resume:
        if not state_path.is_file():
            raise MissingFileError(f"nothing to resume in {run_dir}: no state.json (start it without --resume)")
        cfg = load_config(run_dir / "config.yaml")
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{state_path} is damaged ({e}); the run cannot be resumed: start it again in another "
                            "--run-dir") from None
        for stale in (*run_dir.glob(".*.tmp*"), *run_dir.glob("checkpoints/.*.tmp*")):
            stale.unlink()  # a temporary file whose write a kill cut short (io.atomic_path's names)
    else:
        if state_path.exists():
            raise OutputError(f"{run_dir} already holds a run; pass --resume to continue it or pick another --run-dir")
        state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "wait": 0, "history": [],
                 "checkpoint": None, "best": None, "finished": False}

    strategy = make_strategy(cfg.train)  # before any TensorFlow op: multi-worker collectives are set up first
    run_dir = writable_run_dir(strategy, run_dir, resume)  # itself on the chief, a temporary copy on other workers
    state_path = run_dir / "state.json"
    keras.utils.set_random_seed(cfg.train.seed)
    splits, class_names = load_splits(cfg.data, cfg.vocab.clean)
    if resume:
        vocab = Vocab.load(run_dir / "vocab.txt", cfg.vocab.lowercase, cfg.vocab.clean)
    else:
        cfg = cfg.replace(data=pin(cfg.data, class_names))  # custom data: saved with its class names, absolute paths
        vocab = Vocab.build((ex.tokens for ex in splits["train"]), cfg.vocab.min_count, cfg.vocab.lowercase,
                            cfg.vocab.clean)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        vocab.save(run_dir / "vocab.txt")
    enc = {k: ([vocab.encode(ex.tokens) for ex in v], [ex.label for ex in v]) for k, v in splits.items()}
    pad = max(cfg.model.filter_sizes) - 1

    if state["finished"]:
        plot_training_curves(run_dir)  # a run trained before curves.png existed gets one on resume
        return json.loads((run_dir / "metrics.json").read_text())
    if state["checkpoint"] and not (run_dir / "checkpoints" / state["checkpoint"]).is_file():
        raise MissingFileError(f"{run_dir / 'checkpoints' / state['checkpoint']} is missing, so the run cannot be "
                               "continued (a finished run keeps its checkpoints only with "
                               "train.keep_checkpoints: true)")
    vectors = None
    if not state["checkpoint"] and cfg.model.vectors:  # a checkpoint (and model.keras) already holds the tables
        counts = token_counts((ex.tokens for ex in splits["train"]), cfg.vocab.lowercase)
        vectors, coverage = initial_table(cfg, vocab, counts)
        state["vectors"] = coverage.to_dict()  # saved with state.json, for metrics.json after a resume
        if verbose != 0:
            print(coverage.summary())
    # variables (model, optimizer slots, a checkpoint's restored ones) are created per replica inside
    # the scope; a checkpoint keeps the precision it was saved in, a new model takes the configured one
    with strategy.scope(), dtype_policy(precision_policy(cfg.train)):
        if state["checkpoint"]:
            model = keras.models.load_model(run_dir / "checkpoints" / state["checkpoint"], safe_mode=True)
        else:
            model = build_model(cfg.model, len(vocab), len(class_names), vectors=vectors, seed=cfg.train.seed)
            # weighted: the rows for_replicas adds to split a batch evenly weigh 0 (without weights, the same)
            model.compile(optimizer=make_optimizer(cfg.train), loss="sparse_categorical_crossentropy",
                          weighted_metrics=["accuracy"], jit_compile=cfg.train.jit_compile)
    state["distribution"] = describe(cfg.train, strategy, model)

    k = cfg.train.evals_per_epoch  # Keras epochs (state["epoch"], "wait") count evaluations: k per pass
    shift = prior_shift(cfg, enc["train"][1], len(class_names)) if cfg.train.prior_correction else None
    recorder = RunRecorder(run_dir, cfg.train.patience, state, k, shift, cfg.train.keep_every_epoch)
    callbacks = [recorder] if shift is None else [PriorShift(shift), recorder]
    if cfg.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    if verbose == "auto":  # Keras's bar only on a terminal: redirected, it wrote thousands of backspaces
        verbose = 1 if interactive() else 0
        if not verbose:
            callbacks.append(EpochLog(cfg.train.epochs, k))
    if state["epoch"] < cfg.train.epochs * k and not (recorder.patience and state["wait"] >= recorder.patience):
        # one endless stream of passes (each shuffled by (seed, pass)) cut into windows of `steps` batches, one
        # per Keras epoch; a resumed run skips the windows already trained on, so it sees the uninterrupted order
        batches = -(-len(enc["train"][1]) // cfg.train.batch_size)
        steps = -(-batches // k)
        train_ds = make_dataset(*enc["train"], cfg.train.batch_size, pad, seed=cfg.train.seed,
                                bucket_chunk=cfg.train.bucket_chunk, passes=None, skip=state["epoch"] * steps)
        restore_rng_state(model, state.get("rng"))
        dev_ds = make_dataset(*enc["dev"], 256, pad)
        train_ds, dev_ds = for_replicas(train_ds, strategy, train=True), for_replicas(dev_ds, strategy, train=False)
        model.fit(train_ds, validation_data=dev_ds, epochs=cfg.train.epochs * k, initial_epoch=state["epoch"],
                  steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False)

    sync_best_model(run_dir, state)
    best = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    metrics = {"best_epoch": passes(state["best_epoch"], k), "epochs_run": passes(state["epoch"], k),
               "seconds_per_epoch": float(np.mean([r["seconds"] for r in state["history"]])) * k,
               "train_examples": len(enc["train"][0]), "vocab_size": len(vocab)}
    if "vectors" in state:
        metrics["vectors"] = state["vectors"]
    metrics["distribution"] = state["distribution"]
    if shift is not None:
        metrics["prior_shift"] = dict(zip(class_names, np.round(shift.astype(float), 6).tolist()))
    for split in ("dev", "test"):
        if split not in enc:  # custom data without a test file
            continue
        seqs, labels = enc[split]
        pred = predict_ids(best, seqs, pad).argmax(axis=1)
        metrics[split] = classification_metrics(labels, pred, class_names)
    atomic_write_json(run_dir / "metrics.json", metrics)
    state["finished"] = True
    atomic_write_json(state_path, state)
    plot_training_curves(run_dir)
    drop_checkpoints(run_dir, cfg)
    return metrics

