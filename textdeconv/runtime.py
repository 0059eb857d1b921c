"""A quiet TensorFlow start-up, shared by the command line and the Python API."""
from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off stderr


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 while TensorFlow loads and probes devices.

    TensorFlow's native code logs before absl is initialised ("All log messages before
    absl::InitializeLog() ...", CUDA driver probes on CPU machines); TF_CPP_MIN_LOG_LEVEL does
    not reach those lines, so they would bury the one-line errors this tool prints.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tensorflow():
    """Import TensorFlow quietly and initialise its devices; return the module."""
    if "tensorflow" in sys.modules and getattr(load_tensorflow, "done", False):
        return sys.modules["tensorflow"]
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
    _quiet_loggers(tf)
    return tf


def _quiet_loggers(tf) -> None:
    tf.get_logger().setLevel("ERROR")  # no retracing chatter when methods are rebuilt per model (sanity checks)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    load_tensorflow.done = True


class _ImportHook:
    """A finder that wraps the first import of one module: ``wrap(run, module)`` runs in place of
    the module's own execution (``run(module)`` executes it). It answers once, then steps aside."""

    def __init__(self, name: str, wrap):
        self.name, self.wrap = name, wrap

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module
        spec.loader.exec_module = lambda module: self.wrap(run, module)
        return spec


def _on_first_import(name: str, wrap) -> None:
    if name not in sys.modules and not any(isinstance(f, _ImportHook) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook(name, wrap))


def _import_tensorflow_quietly(run, module) -> None:
    with quiet_native_stderr():
        run(module)
        module.config.list_physical_devices()  # the device probe logs too
    _quiet_loggers(module)


def quiet_tensorflow_on_import() -> None:
    """Make the first ``import tensorflow`` quiet, whoever does it: modules such as
    ``textdeconv.attribution.perturb`` import TensorFlow at the top, and without this importing one
    of them printed TensorFlow's native start-up lines (absl, oneDNN, CUDA probes) on stderr."""
    _on_first_import("tensorflow", _import_tensorflow_quietly)


def register_keras_objects() -> None:
    """Register textdeconv's Keras classes (the TextCNN's layers, the optimizer), so that
    ``keras.models.load_model`` opens a run's model.keras and checkpoints without more imports."""
    import textdeconv.model.textcnn  # noqa: F401
    import textdeconv.training.optim  # noqa: F401


def _import_keras_then_register(run, module) -> None:
    run(module)
    try:
        register_keras_objects()
    except Exception:  # registering must never break the user's `import keras`
        pass


def register_keras_objects_on_import() -> None:
    """Register now when Keras is loaded, else the moment the user imports it (``import textdeconv``
    stays free of TensorFlow; the classes subclass Keras's, so they cannot exist before it)."""
    if "keras" in sys.modules:
        register_keras_objects()
    else:
        _on_first_import("keras", _import_keras_then_register)


def keras_error(e: Exception, limit: int = 240) -> str:
    """Keras's load error in one short line: its type and first sentences, without its advice to pass
    ``safe_mode=False`` (which would run code from the file) and never its misleading "File not found"."""
    import re

    detail = " ".join(str(e).split())
    detail = re.sub(r"[^.]*safe_mode=False[^.]*\.?", "", detail).strip()
    if "not found" in detail.lower():
        detail = ""
    if len(detail) > limit:
        detail = detail[:limit].rstrip() + "..."
    return type(e).__name__ + (f": {detail}" if detail else "")
