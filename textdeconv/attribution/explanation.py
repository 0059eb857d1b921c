"""The result type every attribution method returns, so every exporter and metric takes any method."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from textdeconv.errors import InputError


@dataclass
class Explanation:
    """Per-token scores for one sentence and one target class.

    Attributes:
        tokens: the sentence's tokens as typed (original case; after the run's vocab.clean), length n.
        token_ids: (n,) int vocabulary ids (1 = unknown word).
        scores: (n,) float; positive = evidence for ``target`` (see each method's sign convention).
        target: class index the scores explain; ``target_name`` its label.
        predicted: the model's predicted class, ``predicted_name`` its label; ``probs``
            (classes,) the softmax output.
        method: registry name of the method that produced the scores.
        extras: method-specific detail (e.g. the deconvnet's per-filter table and identity terms).
    """

    tokens: list[str]
    token_ids: np.ndarray
    scores: np.ndarray
    target: int
    target_name: str
    predicted: int
    predicted_name: str
    probs: np.ndarray
    method: str
    extras: dict = field(default_factory=dict)

    @property
    def in_vocab(self) -> np.ndarray:
        return self.token_ids != 1

    @property
    def probability(self) -> float:
        """Probability the model gives the target class."""
        return float(self.probs[self.target])

    def _repr_html_(self) -> str:
        """A coloured heatmap in Jupyter (``textdeconv.reports.heatmap``)."""
        from textdeconv.reports.heatmap import explanation_html

        return explanation_html(self)


def resolve_target(target, class_names) -> int:
    """``None`` -> -1 (the predicted class); an index or a class name (case-insensitive) -> index."""
    if target is None:
        return -1
    if isinstance(target, str):
        key = target.strip().lower()
        names = [c.lower() for c in class_names]
        if key in names:
            return names.index(key)
        if key.lstrip("-").isdigit():
            target = int(key)
        else:
            raise InputError(f"unknown target class {target!r}; choose one of {', '.join(class_names)} "
                             f"or an index 0-{len(class_names) - 1}")
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise InputError(f"target must be a class name or index, got {target!r}")
    if not 0 <= target < len(class_names):
        raise InputError(f"target class index {target} out of range 0-{len(class_names) - 1} "
                         f"({', '.join(class_names)})")
    return int(target)


class Explainer:
    """Base of every attribution method: encodes tokens, batches by length, resolves targets and
    packages results as ``Explanation``s. Subclasses implement ``attribute_ids``.

    Args:
        net: a ``textdeconv.model.TextCNN``.
        vocab: the run's ``Vocab``.
        class_names: label of each class index.
    """

    name = "base"

    def __init__(self, net, vocab, class_names):
        self.net, self.vocab, self.class_names = net, vocab, list(class_names)

    def attribute_ids(self, ids, target) -> dict:
        """ids (batch, time) int32 padded as the model expects; target (batch,) int32, -1 for the
        predicted class. Returns numpy arrays: ``scores`` (batch, time), ``logits`` (batch, classes),
        ``target`` (batch,), and any per-example extras with a leading batch axis."""
        raise NotImplementedError

    def logits_and_targets(self, ids, target):
        """For methods that read only the model's outputs: ``ids`` as int32, the batch's logits (one
        compiled forward pass, built on first use) and each row's target (-1 = the predicted class)."""
        import tensorflow as tf

        if getattr(self, "_forward", None) is None:
            net = self.net
            self._forward = tf.function(lambda x: net.forward(x).logits, reduce_retracing=True)
        ids = np.asarray(ids, np.int32)
        logits = self._forward(tf.constant(ids)).numpy()
        return ids, logits, np.where(np.asarray(target) < 0, logits.argmax(axis=-1), target).astype(np.int32)

    def explain(self, sentences, target=None, batch_size: int = 128) -> list[Explanation]:
        """Explain token lists (one list per sentence).

        Args:
            sentences: list of token lists (use ``vocab.tokenize`` for raw text); the run's
                ``vocab.clean`` is applied, so the explanations hold the tokens the model read.
            target: None (predicted class), a class index or name, or one such per sentence.
            batch_size: sentences per batch; batches group sentences of similar length.
        """
        from textdeconv.data.vocab import length_batches, pad_batch

        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        if any(isinstance(s, str) for s in sentences):  # a string would be explained character by character
            raise InputError("sentences must be token lists, e.g. [vocab.tokenize('a fine film')], not strings")
        sentences = [self.vocab.prepare(s) for s in sentences]  # vocab.clean, as in training
        for i, s in enumerate(sentences):
            if not s:
                after = f" after vocab.clean={self.vocab.clean}" if self.vocab.clean else ""
                raise InputError(f"sentence {i} is empty{after}; nothing to explain")
        targets = target if isinstance(target, (list, tuple, np.ndarray)) else [target] * len(sentences)
        if len(targets) != len(sentences):
            raise InputError(f"got {len(targets)} targets for {len(sentences)} sentences")
        targets = np.array([resolve_target(t, self.class_names) for t in targets], np.int32)
        ids = [self.vocab.encode(s) for s in sentences]
        out: list[Explanation | None] = [None] * len(sentences)
        pad = self.net.pad
        for batch in length_batches([len(x) for x in ids], batch_size):
            res = self.attribute_ids(pad_batch([ids[i] for i in batch], pad), targets[batch])
            probs = _softmax(res["logits"])
            for row, i in enumerate(batch):
                n = len(ids[i])
                extras = {k: v[row] for k, v in res.items() if k not in ("scores", "logits", "target")}
                # padding is no word, but its mass is kept so the completeness identities still check
                extras["pad_score"] = float(res["scores"][row, :pad].sum() + res["scores"][row, pad + n:].sum())
                t, p = int(res["target"][row]), int(probs[row].argmax())
                out[i] = Explanation(
                    tokens=sentences[i], token_ids=np.asarray(ids[i]), scores=res["scores"][row, pad:pad + n].copy(),
                    target=t, target_name=self.class_names[t], predicted=p, predicted_name=self.class_names[p],
                    probs=probs[row], method=self.name, extras=extras)
        return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
