"""The layer-wise reverse engine: deconvnet, guided backprop, gradients and LRP for any supported
Keras 3 text CNN (issue 24), with the same ``Explanation`` results as our own runs.

    from textdeconv.attribution.engine import analyzer, explain_model
    a = analyzer(model, method="deconvnet")        # checks every layer first
    scores = a.attribute(ids)                      # (batch, time)
    expls = explain_model(model, ["a fine film"], vocabulary="vocab.txt", method="lrp-epsilon")

graph.py walks and checks the model, rules.py holds each layer's backward rule per method,
analysis.py (``Analyzer``) runs them as one compiled batched graph, explainer.py packs ``Explanation``s,
vocabulary.py and loading.py read a user's vocabulary and saved model. docs/any-model.md.

The names below are imported on first use, so ``vocabulary`` and ``loading`` (and this package)
import without TensorFlow until a model is loaded or analysed.
"""
import importlib

_WHERE = {
    "Analyzer": "analysis", "analyzer": "analysis",
    "EngineExplainer": "explainer", "ModelExplainer": "explainer", "explain_model": "explainer",
    "SUPPORTED": "graph", "UnsupportedModelError": "graph", "build_graph": "graph",
    "load_model_for_explaining": "loading", "RULE_NAMES": "rules",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
