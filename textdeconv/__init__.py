"""textdeconv: Kim-style TextCNN sentence classifiers explained with a deconvolutional network.

    import textdeconv as td
    run = td.load_run("runs/sst-...")                 # a trained run directory
    run.predict(["a gripping , funny movie"])          # DataFrame of class probabilities
    ex = run.explain(["a gripping , funny movie"], method="deconv")
    ex.to_frame(); ex[0]                               # rows as `textdeconv explain --csv`; a heatmap
    td.methods()                                       # the registered attribution methods
    td.train("tiny.yaml", run_dir="runs/t", overrides={"train.epochs": 1})
    td.analyzer(keras_model, method="deconvnet")      # deconvnet / LRP for any Keras Conv1D text model
    td.explain_corpus(run_dir, "corpus/*.txt.gz", "out/")  # a corpus on Apache Beam (the [beam] extra)

Importing the package is light (no TensorFlow); the first call that needs a model loads it, quietly.
"""
from textdeconv import runtime as _runtime  # noqa: F401  (TensorFlow's log level, before anything imports it)
from textdeconv.attribution import methods
from textdeconv.errors import UserError

__version__ = "0.1.0"

_runtime.register_keras_objects_on_import()  # model.keras then loads in plain Keras
_runtime.quiet_tensorflow_on_import()  # whichever module imports TensorFlow first, it starts quietly

_LAZY = {  # name -> module: imported on first use, so `import textdeconv` stays free of TensorFlow
    "load_run": "textdeconv.api", "train": "textdeconv.api", "Run": "textdeconv.api",
    "Explanations": "textdeconv.api", "Explanation": "textdeconv.attribution.explanation",
    "make_explainer": "textdeconv.attribution", "load_config": "textdeconv.config",
    "analyzer": "textdeconv.attribution.engine", "explain_model": "textdeconv.attribution.engine",
    "explain_corpus": "textdeconv.reports.beam",
}

__all__ = ["load_run", "train", "methods", "Run", "Explanations", "Explanation", "make_explainer",
           "analyzer", "explain_model", "explain_corpus", "load_config", "UserError", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'textdeconv' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
