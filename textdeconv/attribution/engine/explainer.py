"""The engine's results as ``Explanation``s: for our runs, and for any supported Keras model.

- ``EngineExplainer``: an ``Analyzer`` behind the ``Explainer`` interface; over a textdeconv
  TextCNN it pads as our runs do (``net.pad`` PAD ids on each side), and ``run_explainer`` is the
  registry's factory for the engine's methods on our runs.
- ``ModelExplainer``: over someone else's model. Rows are laid out as the model was trained:
  a model with a fixed input length L (``keras.Input((L,))`` or a TextVectorization's
  ``output_sequence_length``) reads every sentence right-padded with id 0 to L, and a longer
  sentence is cut to its first L tokens (``extras["truncated"]`` counts the dropped ones), as the
  vectorizer would; a model of variable length reads each sentence at its own length (right-padded
  to the fewest ids its convolutions and poolings need). Sentences are batched only with sentences
  of the same padded length, so a batch's result is exactly each sentence's own. A textdeconv
  TextCNN (a run's ``net.model``, recognised by its ``WindowMask`` layers) reads Kim's margin:
  ``pad`` PAD ids before and after every sentence, as ``run.predict`` lays it out.
- ``explain_model``: the one-call form (``td.explain_model``).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from textdeconv.attribution.engine.analysis import Analyzer
from textdeconv.attribution.engine.vocabulary import read_vocabulary, tokenizer_for, vocab_from_tokens
from textdeconv.attribution.explanation import Explainer, Explanation, resolve_target
from textdeconv.errors import InputError

_IGNORED = ("fast", "internal_batch_size")  # registry-wide options with no meaning here


class EngineExplainer(Explainer):
    """``attribute_ids`` = ``analyzer.analyze``: scores, logits, target, target_logit and, for LRP,
    absorbed (the epsilon/bias budget) and absorbed_layers, all with a leading batch axis."""

    def __init__(self, analyzer: Analyzer, vocab, class_names, net=None):
        super().__init__(net if net is not None else SimpleNamespace(pad=0), vocab, class_names)
        if len(self.class_names) != analyzer.num_classes:
            raise InputError(f"got {len(self.class_names)} class names for a model of {analyzer.num_classes} classes")
        self.analyzer, self.name = analyzer, analyzer.method

    def attribute_ids(self, ids, target) -> dict:
        return self.analyzer.analyze(ids, target)


def run_explainer(net, vocab, class_names, method: str, **options) -> EngineExplainer:
    """Registry factory: the engine's ``method`` over a textdeconv ``TextCNN`` (its ``net.model``)."""
    options = {k: v for k, v in options.items() if k not in _IGNORED}
    return EngineExplainer(Analyzer(net.model, method, **user_options(method, options)), vocab, class_names,
                           net=net)


def user_options(method: str, options: dict) -> dict:
    """``options`` with the registry's defaults where the engine's differ: every path a user explains
    through (runs, ``--model`` files, ``explain_model``) explains lrp-alpha-beta / lrp-zplus as the
    contrast; only ``analyzer()`` itself keeps the logit, for the peer comparisons."""
    from textdeconv.attribution import METHODS

    registered = METHODS[method].options if method in METHODS else {}
    if "contrast" in registered:
        return {"contrast": registered["contrast"].default, **options}
    return options


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class ModelExplainer(EngineExplainer):
    """Explain texts with any supported Keras model.

    Args:
        analyzer: the ``Analyzer`` (model and method).
        vocabulary: file path, token list or TextVectorization (vocabulary.py); default: the
            model's own TextVectorization, if it starts with one.
        class_names: one label per class (default "0", "1", ...; a sigmoid unit has two classes).
        tokenizer: keras (default), ptb, whitespace or a callable; default for a model with a
            TextVectorization: that layer's own standardize and split.
        lowercase: look tokens up lower-cased (default: as the tokenizer / vectorizer does).
        sequence_length: ids per row for a model of variable input length (default: none, each
            sentence at its own length); a model with a fixed input length always uses it.
    """

    def __init__(self, analyzer: Analyzer, vocabulary=None, class_names=None, tokenizer=None, lowercase=None,
                 sequence_length: int | None = None):
        graph = analyzer.graph
        if vocabulary is None:
            if graph.vectorizer is None:
                raise InputError(f"model {analyzer.model.name!r} has no TextVectorization layer: give its vocabulary "
                                 "(a one-token-per-line file, a list, or the TextVectorization it was trained with)")
            vocabulary = graph.vectorizer
        tokens = read_vocabulary(vocabulary)
        if len(tokens) > analyzer.vocab_size:
            raise InputError(f"the vocabulary has {len(tokens)} tokens but the model's embedding has only "
                             f"{analyzer.vocab_size} rows; is it the model's own vocabulary?")
        vectorizer = vocabulary if hasattr(vocabulary, "get_vocabulary") else graph.vectorizer
        self.tokenize, lower = tokenizer_for(tokenizer, vectorizer, lowercase)
        if class_names is None:
            class_names = [str(i) for i in range(analyzer.num_classes)]
        super().__init__(analyzer, vocab_from_tokens(tokens, lower), class_names)
        # our TextCNN was trained on [pad PAD | tokens | pad PAD] rows (vocab.pad_batch)
        self.margin = max((int(s.layer.pad) for s in graph.steps if type(s.layer).__name__ == "WindowMask"
                           and type(s.layer).__module__.startswith("textdeconv.")), default=0)
        fixed = graph.sequence_length
        if sequence_length is not None and fixed is not None and int(sequence_length) != fixed:
            raise InputError(f"model {analyzer.model.name!r} reads exactly {fixed} ids per row, "
                             f"not sequence_length={sequence_length}")
        if sequence_length is not None and (isinstance(sequence_length, bool) or int(sequence_length) < 1):
            raise InputError(f"sequence_length must be a positive integer, got {sequence_length!r}")
        given = None if sequence_length is None else int(sequence_length)
        self.sequence_length = fixed if fixed is not None else given
        if self.sequence_length is not None and self.sequence_length < 2 * self.margin + 1:
            raise InputError(f"sequence_length {self.sequence_length} leaves no room for a token between the "
                             f"{self.margin} PAD ids this TextCNN reads on each side")
        if self.sequence_length is not None and self.sequence_length < graph.min_length:
            raise InputError(f"sequence_length {self.sequence_length} is shorter than the {graph.min_length} ids "
                             "the model's convolutions and poolings need")

    def explain(self, sentences, target=None, batch_size: int = 128) -> list[Explanation]:
        """Explain raw texts (split by the tokenizer) or token lists.

        Args:
            sentences: a text, or a list of texts and/or token lists.
            target: None (predicted class), a class index or name, or one per sentence.
            batch_size: rows per compiled call.
        """
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        sentences = [self.tokenize(s) if isinstance(s, str) else [str(t) for t in s] for s in sentences]
        for i, s in enumerate(sentences):
            if not s:
                raise InputError(f"sentence {i} has no tokens; nothing to explain")
        targets = target if isinstance(target, (list, tuple, np.ndarray)) else [target] * len(sentences)
        if len(targets) != len(sentences):
            raise InputError(f"got {len(targets)} targets for {len(sentences)} sentences")
        targets = np.array([resolve_target(t, self.class_names) for t in targets], np.int32)
        length, floor, m = self.sequence_length, self.analyzer.graph.min_length, self.margin
        cut = [max(0, len(s) - (length - 2 * m)) if length else 0 for s in sentences]
        sentences = [s[:len(s) - c] for s, c in zip(sentences, cut)]
        ids = [self.vocab.encode(s) for s in sentences]
        width = [length or max(len(x) + 2 * m, floor) for x in ids]
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(width):
            groups.setdefault(w, []).append(i)
        out: list[Explanation | None] = [None] * len(sentences)
        for w, members in sorted(groups.items()):
            for start in range(0, len(members), batch_size):
                batch = members[start:start + batch_size]
                rows = np.zeros((len(batch), w), np.int32)
                for r, i in enumerate(batch):
                    rows[r, m:m + len(ids[i])] = ids[i]
                res = self.attribute_ids(rows, targets[batch])
                probs = _softmax(res["logits"])
                for r, i in enumerate(batch):
                    n = len(ids[i])
                    extras = {k: v[r] for k, v in res.items() if k not in ("scores", "logits", "target")}
                    extras["pad_score"] = float(res["scores"][r].sum() - res["scores"][r, m:m + n].sum())
                    if cut[i]:
                        extras["truncated"] = cut[i]
                    t, p = int(res["target"][r]), int(probs[r].argmax())
                    out[i] = Explanation(
                        tokens=sentences[i], token_ids=np.asarray(ids[i]), scores=res["scores"][r, m:m + n].copy(),
                        target=t, target_name=self.class_names[t], predicted=p, predicted_name=self.class_names[p],
                        probs=probs[r], method=self.name, extras=extras)
        return out


def explain_model(model, texts, vocabulary=None, method: str = "deconvnet", target=None, class_names=None,
                  tokenizer=None, lowercase=None, sequence_length=None, batch_size: int = 128,
                  **options) -> list[Explanation]:
    """Explain ``texts`` with any supported Keras text model (``td.explain_model``).

    Args:
        model: a Keras 3 model from integer ids (or strings through a TextVectorization) to logits.
        texts: a text, or texts and/or token lists.
        vocabulary: file path, token list or TextVectorization (default: the model's own).
        method: an engine method (``RULE_NAMES``); ``options`` its options (saliency, epsilon,
            alpha, beta, contrast: True by default for lrp-alpha-beta and lrp-zplus, as through
            the registry; ``analyzer()`` alone explains the logit by default).
        target, class_names, tokenizer, lowercase, sequence_length, batch_size: see ``ModelExplainer``.
    Returns:
        one ``Explanation`` per text.
    """
    explainer = ModelExplainer(Analyzer(model, method, **user_options(method, options)), vocabulary, class_names,
                               tokenizer, lowercase, sequence_length)
    return explainer.explain(texts, target=target, batch_size=batch_size)
