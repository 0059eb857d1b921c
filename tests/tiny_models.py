"""Random tiny TextCNNs for identity tests (TensorFlow needed; import only from TF tests)."""
import numpy as np

from textdeconv.config import ModelConfig
from textdeconv.data.vocab import PAD, UNK, Vocab
from textdeconv.model.textcnn import TextCNN, build_model

VARIANTS = ("rand", "static", "non-static", "multichannel")
WORDS = ["good", "bad", "the", "movie", "not", "fun", "dull", "a", "plot", "great"]


def tiny_vocab() -> Vocab:
    return Vocab([PAD, UNK] + WORDS)


def tiny_net(variant="rand", widths=(2, 3), filters=4, dim=5, classes=2, seed=0, output_weights="keras") -> TextCNN:
    """A TextCNN with random weights, including non-zero conv and output biases."""
    rng = np.random.default_rng(seed)
    vocab_size = len(WORDS) + 2
    vectors = None if variant == "rand" else rng.normal(size=(vocab_size, dim)).astype("float32")
    cfg = ModelConfig(variant=variant, embedding_dim=dim, filter_sizes=widths, num_filters=filters,
                      output_weights=output_weights)
    model = build_model(cfg, vocab_size, classes, vectors=vectors, seed=seed)
    net = TextCNN(model)
    for conv in net.convs:
        conv.bias.assign(rng.normal(scale=0.3, size=conv.bias.shape).astype("float32"))
    net.dense.bias.assign(rng.normal(size=net.dense.bias.shape).astype("float32"))
    return net


def random_sentences(n, rng, max_len=9):
    """Token lists of mixed lengths (1..max_len), some with unknown words."""
    pool = WORDS + ["zzz"]
    return [list(rng.choice(pool, size=int(rng.integers(1, max_len + 1)))) for _ in range(n)]


def oracle_model(weight: float = 2.0):
    """Only "good" fires the single width-1 filter (pre-activation 1; every other word -1):
    pooled p = [good in x], logits = (0, weight * p); so removing "good" costs logit_1 exactly
    ``weight`` and removing anything else costs nothing. Returns ``(TextCNN, Vocab)``."""
    from textdeconv.config import ModelConfig
    from textdeconv.data.vocab import PAD, UNK, Vocab
    from textdeconv.model.textcnn import TextCNN, build_model

    vocab = Vocab([PAD, UNK, "good", "the", "movie", "plot"])
    net = TextCNN(build_model(ModelConfig(embedding_dim=2, filter_sizes=(1,), num_filters=1, max_norm=None), 6, 2))
    net.tables[0].embeddings.assign([[0, 0], [0, 1], [1, 0], [0, 1], [0, 1], [0, 1]])
    net.convs[0].kernel.assign([[[1.0], [-1.0]]])
    net.convs[0].bias.assign([0.0])
    net.dense.kernel.assign([[0.0, weight]])
    net.dense.bias.assign([0.0, 0.0])
    return net, vocab
