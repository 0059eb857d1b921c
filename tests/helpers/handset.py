"""Hand-set TextCNNs whose every coalition value is known on paper (TensorFlow needed).

Vocabulary: PAD, UNK, a, b, c, d. Embeddings are one-hot over a, b, c, d (PAD and UNK are the
zero vector, so ``pad`` and ``unk`` removal are the same thing here). In a sentence where each
word occurs once, a width-1 filter reading one word fires 1 exactly when the word is present, so
the pooled features are presence indicators and the target logit is a polynomial in them.
"""
import numpy as np

from textdeconv.config import ModelConfig
from textdeconv.data.vocab import PAD, UNK, Vocab
from textdeconv.model.textcnn import TextCNN, build_model

WORDS = ["a", "b", "c", "d"]
ADDITIVE = {"a": 1.0, "b": 2.0, "c": -3.0, "d": 0.5}  # logit_1 = sum of the present words' weights + 0.25


def vocab() -> Vocab:
    return Vocab([PAD, UNK] + WORDS)


def _net(widths, filters):
    cfg = ModelConfig(embedding_dim=4, filter_sizes=widths, num_filters=filters, max_norm=None)
    net = TextCNN(build_model(cfg, 6, 2))
    net.tables[0].embeddings.assign(np.vstack([np.zeros((2, 4)), np.eye(4)]).astype("float32"))
    return net


def additive_net() -> TextCNN:
    """logit_0 = 0, logit_1 = 0.25 + sum_w ADDITIVE[w] [w present]: removing a set of words lowers
    logit_1 by the sum of their weights, whatever the replacement and the order."""
    net = _net((1,), 4)
    net.convs[0].kernel.assign(np.eye(4, dtype="float32")[None])  # filter k reads word k
    net.convs[0].bias.assign(np.zeros(4, "float32"))
    net.dense.kernel.assign(np.stack([np.zeros(4), [ADDITIVE[w] for w in WORDS]], axis=1).astype("float32"))
    net.dense.bias.assign(np.array([0.0, 0.25], "float32"))
    return net


def pairwise_net() -> TextCNN:
    """Widths 1 and 2, four filters each, on the sentence "a b c d" (each word once, in order):

    - width 1: filter k fires [word k present] (k = a, b, c, d);
    - width 2: f_ab = relu(1[a first] + 1[b second] - 0.5): 1.5 when a, b both present (adjacent
      in every coalition under pad / unk, and under delete too, nothing stands between them),
      0.5 when one is, 0 when neither; f_cd the same for c, d; f_bc = relu([b first] + [c
      second] - 1): 1 only when b and c are both present; f_0 = 0.

    logit_1 = 0.1 + 1.0 [a] - 2.0 [b] + 0.5 [c] + 1.5 [d] + 2.0 f_ab - 1.0 f_cd + 3.0 f_bc, logit_0 = 0:
    interactions of order <= 2 only (0.5 [a or b] + [a and b] = 0.5 [a] + 0.5 [b] + 0.5 [a][b]).
    """
    net = _net((1, 2), 4)
    net.convs[0].kernel.assign(np.eye(4, dtype="float32")[None])
    net.convs[0].bias.assign(np.zeros(4, "float32"))
    k2 = np.zeros((2, 4, 4), "float32")  # (width, embedding, filter)
    k2[0, 0, 0] = k2[1, 1, 0] = 1.0  # f_ab: a in the first slot, b in the second
    k2[0, 2, 1] = k2[1, 3, 1] = 1.0  # f_cd
    k2[0, 1, 2] = k2[1, 2, 2] = 1.0  # f_bc
    net.convs[1].kernel.assign(k2)
    net.convs[1].bias.assign(np.array([-0.5, -0.5, -1.0, 0.0], "float32"))
    # pooled features: [width-1 filters a, b, c, d] then [f_ab, f_cd, f_bc, f_0]
    w1 = np.array([1.0, -2.0, 0.5, 1.5, 2.0, -1.0, 3.0, 0.0], "float32")
    net.dense.kernel.assign(np.stack([np.zeros(8, "float32"), w1], axis=1))
    net.dense.bias.assign(np.array([0.0, 0.1], "float32"))
    return net


def pairwise_value(kept: set) -> float:
    """logit_1 of ``pairwise_net`` on "a b c d" with only the words in ``kept``, on paper."""
    a, b, c, d = (float(w in kept) for w in WORDS)
    f_ab = 1.5 if a and b else 0.5 if a or b else 0.0
    f_cd = 1.5 if c and d else 0.5 if c or d else 0.0
    f_bc = 1.0 if b and c else 0.0
    return 0.1 + 1.0 * a - 2.0 * b + 0.5 * c + 1.5 * d + 2.0 * f_ab - 1.0 * f_cd + 3.0 * f_bc


def exact_shapley(value, n: int) -> np.ndarray:
    """Shapley values by enumerating every coalition: phi_i = sum_S |S|!(n-|S|-1)!/n! (v(S+i) - v(S))."""
    from itertools import combinations
    from math import factorial

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            for s in combinations(others, size):
                phi[i] += weight * (value(set(s) | {i}) - value(set(s)))
    return phi
