"""One registry of attribution methods; every method is an ``Explainer`` returning ``Explanation``s.

    explainer = make_explainer("integrated-gradients", net, vocab, class_names, steps=50)
    expls = explainer.explain(token_lists, target="positive")
"""
from __future__ import annotations

from textdeconv.deconv import SIGNALS, Deconvnet

METHODS: dict = {}


def register(name: str):
    """Decorator: register an Explainer factory ``f(net, vocab, class_names, **options)`` as ``name``."""
    def wrap(factory):
        METHODS[name] = factory
        return factory
    return wrap


for _signal in SIGNALS:
    register(_signal)(lambda net, vocab, class_names, _s=_signal, **kw: Deconvnet(net, vocab, class_names, _s, **kw))


def method_names() -> list[str]:
    _load_all()
    return list(METHODS)


def make_explainer(name: str, net, vocab, class_names, **options):
    """Build the named method. Raises ValueError listing the known methods for an unknown name."""
    _load_all()
    if name not in METHODS:
        raise ValueError(f"unknown attribution method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name](net, vocab, class_names, **options)


def _load_all():
    # importing the modules registers their methods
    from textdeconv.attribution import gradient, guided_backprop, integrated_gradients, occlusion, random_baseline  # noqa: F401
