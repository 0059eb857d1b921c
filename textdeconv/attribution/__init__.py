"""The one registry of attribution methods: names, options and how to build each one.

Importable without TensorFlow (the command line checks a method and its options before paying
for TensorFlow's import); a method's module is imported only when the method is built. Every
method is an ``Explainer`` whose ``explain`` returns ``Explanation`` objects:

    explainer = make_explainer("integrated-gradients", net, vocab, class_names, steps=50)
    expls = explainer.explain(token_lists, target="positive")

Another package adds a method with ``register(Method(...))``.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field

from textdeconv.errors import InputError, MissingExtraError


@dataclass(frozen=True)
class Option:
    """One keyword option of a method: its default, and the values it takes (``choices``, or
    an integer of at least ``minimum``)."""

    default: object
    help: str
    choices: tuple = ()
    minimum: int | None = None

    def check(self, method: str, name: str, value):
        if self.choices:
            if value not in self.choices:
                raise InputError(f"{method}: {name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        elif self.minimum is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
                raise InputError(f"{method}: {name} must be an integer >= {self.minimum}, got {value!r}")
        return value


@dataclass(frozen=True)
class Method:
    """A registered method: ``factory`` is ``"module:callable"``, called as
    ``callable(net, vocab, class_names, **fixed, **options)``."""

    name: str
    factory: str
    summary: str
    options: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    family: str = "gradient"  # "deconv", "gradient", "perturbation" or "baseline"
    extra: str = ""  # the pip extra (and module) the method needs beyond textdeconv's dependencies

    def available(self) -> bool:
        """False when the method's optional library is not installed (``pip install <extra>``)."""
        return not self.extra or importlib.util.find_spec(self.extra) is not None

    def require(self) -> None:
        """MissingExtraError, before any work, when the method's optional library is missing."""
        if not self.available():
            raise MissingExtraError(f"the {self.name} method needs the {self.extra} library: pip install "
                                    f"{self.extra} (textdeconv's {self.extra} extra)", name=self.extra)

    def build(self, net, vocab, class_names, **options):
        module, attr = self.factory.split(":")
        return getattr(importlib.import_module(module), attr)(net, vocab, class_names, **self.fixed, **options)


SALIENCY = Option("dot", "deconv methods: word score = projection . embedding (dot, signed) or ||projection|| "
                         "(norm)", choices=("dot", "norm"))
ENGINE_SALIENCY = Option("dot", "word score from the signal g at the embedding: g . embedding (dot, signed), "
                                "||g|| (norm) or sum of g over the embedding (sum)", choices=("dot", "norm", "sum"))
REPLACEMENT = Option("pad", "how a removed word is replaced: the padding id, the unknown-word id, or deleted",
                     choices=("pad", "unk", "delete"))
_DECONV = "textdeconv.attribution.deconv:Deconvnet"
_GRADIENT = "textdeconv.attribution.gradient:Gradient"

METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add (or replace) a method in the registry."""
    METHODS[method.name] = method
    return method


for _m in (
    Method("deconv", _DECONV, "deconvnet: class evidence (output weights of the target) unpooled through the "
           "switches and projected with the tied filters", {"saliency": SALIENCY}, {"method": "deconv"}, "deconv"),
    Method("deconv-activation", _DECONV, "deconvnet: the pooled activations projected back (class-agnostic "
           "reconstruction, Zeiler & Fergus)", {"saliency": SALIENCY}, {"method": "deconv-activation"}, "deconv"),
    Method("deconv-weighted", _DECONV, "deconvnet: activation x output weight of every filter (its share of the "
           "target logit)", {"saliency": SALIENCY}, {"method": "deconv-weighted"}, "deconv"),
    Method("deconv-rectified", _DECONV, "deconvnet: the class evidence rectified (only filters that speak for the "
           "target)", {"saliency": SALIENCY}, {"method": "deconv-rectified"}, "deconv"),
    Method("gradient", _GRADIENT, "gradient of the target logit, summed over the embedding",
           fixed={"method": "gradient"}),
    Method("gradient-l2", _GRADIENT, "L2 norm of the gradient of the target logit (unsigned)",
           fixed={"method": "gradient-l2"}),
    Method("grad-x-input", _GRADIENT, "gradient x input: gradient dotted with the word's embedding",
           fixed={"method": "grad-x-input"}),
    Method("integrated-gradients", "textdeconv.attribution.integrated_gradients:IntegratedGradients",
           "integrated gradients from an all-zero (or all-unknown) embedding",
           {"steps": Option(50, "quadrature steps", minimum=1),
            "baseline": Option("zero", "the baseline input", choices=("zero", "unk")),
            "rule": Option("midpoint", "the quadrature rule", choices=("midpoint", "trapezoid"))}),
    Method("occlusion", "textdeconv.attribution.occlusion:Occlusion",
           "leave-one-out: the drop of the target logit when the word is removed",
           {"replacement": REPLACEMENT}, family="perturbation"),
    Method("guided-backprop", "textdeconv.attribution.guided_backprop:GuidedBackprop",
           "guided backpropagation: only positive signal through the ReLU, at positive activations"),
    Method("random", "textdeconv.attribution.random_baseline:RandomAttribution",
           "random N(0, 1) scores: the floor every method should beat",
           {"seed": Option(0, "random seed", minimum=0)}, family="baseline"),
):
    register(_m)

DECONV_METHODS = tuple(n for n, m in METHODS.items() if m.family == "deconv")
METHOD_NAMES = tuple(METHODS)


def methods() -> list[str]:
    """The registered method names."""
    return list(METHODS)


method_names = methods


def get_method(name: str) -> Method:
    """The registered method; an unknown name raises InputError listing the known ones."""
    if name not in METHODS:
        raise InputError(f"unknown attribution method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def check_options(name: str, options: dict) -> dict:
    """``options`` checked against the method's: an unknown option or a bad value is an InputError."""
    method = get_method(name)
    for key, value in options.items():
        if key not in method.options and key not in ("fast", "internal_batch_size"):
            known = ", ".join(method.options) or "none"
            raise InputError(f"{name} has no option {key!r} (its options: {known})")
        if key in method.options:
            method.options[key].check(name, key, value)
    return dict(options)


def resolved_options(name: str, options: dict) -> dict:
    """Every option of the method with its value: ``options`` (checked) over the defaults. Two
    calls that resolve alike build the same explainer (a resumed job compares these)."""
    method = get_method(name)
    return {**{k: o.default for k, o in method.options.items()}, **check_options(name, options)}


def method_options(method: str, **given) -> dict:
    """The options among ``given`` (e.g. every command-line option) that ``method`` takes."""
    return {k: v for k, v in given.items() if k in get_method(method).options and v is not None}


def make_explainer(name: str, net, vocab, class_names, **options):
    """Build the named method with its options (checked). Raises InputError for an unknown name,
    MissingExtraError for a method whose optional library is not installed."""
    get_method(name).require()
    return get_method(name).build(net, vocab, class_names, **check_options(name, options))


# ---- issue 24: the layer-wise reverse engine (textdeconv/attribution/engine, docs/any-model.md) ----
# Only the names our runs lack; gradient, grad-x-input and guided-backprop keep their dedicated
# implementations, which the engine equals to 1e-5 (tests/test_engine.py). For any other Keras
# model, textdeconv.attribution.engine.analyzer(model, method) takes every engine method.
_ENGINE = "textdeconv.attribution.engine.explainer:run_explainer"
# alpha-beta and z+ maps take the explained value's sign; the predicted class's contrast logit is
# never negative, its own logit can be (docs/evaluation.md#sign-handling)
CONTRAST = Option(True, "explain z_target - mean of the other logits (True) or z_target itself (False)",
                  choices=(True, False))
for _m in (
    Method("deconvnet", _ENGINE, "layer-wise deconvnet (Zeiler & Fergus): switches at every max-pool, the "
           "backward signal rectified at every ReLU; on our TextCNN equal to deconv-rectified",
           {"saliency": ENGINE_SALIENCY}, {"method": "deconvnet"}, "engine"),
    Method("lrp-epsilon", _ENGINE, "LRP-epsilon: the target logit redistributed layer by layer in proportion "
           "to each input's contribution; biases and epsilon absorb the rest (extras: absorbed)",
           {"epsilon": Option(0.01, "stabiliser added to each pre-activation, in its sign (0 = LRP-0)")},
           {"method": "lrp-epsilon"}, "engine"),
    Method("lrp-alpha-beta", _ENGINE, "LRP-alpha-beta: positive contributions weighted alpha, negative beta "
           "(alpha - beta = 1; default alpha=1, beta=0), of the contrast logit (target minus the mean of the others)",
           {"alpha": Option(1.0, "weight of the positive contributions (>= 1)"),
            "beta": Option(0.0, "weight of the negative contributions (alpha - 1)"), "contrast": CONTRAST},
           {"method": "lrp-alpha-beta"}, "engine"),
    Method("lrp-zplus", _ENGINE, "LRP z+: relevance follows positive contributions only, biases ignored; of the "
           "contrast logit (target minus the mean of the others)",
           {"contrast": CONTRAST}, {"method": "lrp-zplus"}, "engine"),
):
    register(_m)
METHOD_NAMES = tuple(METHODS)  # DECONV_METHODS stays the filter-table methods: the engine has no filter table

# ---- issue 34: the methods users know from other libraries (docs/perturbation-methods.md) ----
SEED = Option(0, "random seed; each sentence draws from its own seed derived from it and the sentence", minimum=0)
for _m in (
    Method("occlusion-window", "textdeconv.attribution.occlusion:WindowOcclusion",
           "sliding-window occlusion (Captum's, stride 1): every run of `width` consecutive words removed once; "
           "a word's score is the mean drop of the target logit over the windows covering it",
           {"width": Option(3, "words per window (the filter widths)", choices=(2, 3, 4, 5)),
            "replacement": REPLACEMENT}, family="perturbation"),
    Method("shap", "textdeconv.attribution.shapley:Shap",
           "Shapley values of the target logit over the words, by the shap library (partition: Owen values over "
           "a balanced tree of positions; permutation: antithetic permutations); words removed as occlusion's",
           {"explainer": Option("partition", "shap's explainer", choices=("partition", "permutation")),
            "max_evals": Option(500, "model evaluations per sentence", minimum=3),
            "replacement": REPLACEMENT, "seed": SEED}, family="perturbation", extra="shap"),
    Method("lime", "textdeconv.attribution.lime_words:Lime",
           "LIME by the lime library: a kernel-weighted ridge fit of the target logit on which words are kept "
           "(bow=False: every position its own feature); words removed as occlusion's",
           {"num_samples": Option(5000, "perturbed sentences per sentence", minimum=2),
            "replacement": REPLACEMENT, "seed": SEED}, family="perturbation", extra="lime"),
):
    register(_m)
METHOD_NAMES = tuple(METHODS)
# what a command runs when no method is named: every method whose optional library is not needed
DEFAULT_METHODS = tuple(n for n, m in METHODS.items() if not m.extra)
