"""A small synthetic SST-2 treebank (sentiment carried by a few words, every leaf labelled) and
the tiny study config the ground-truth tests train on, so the studies run end to end in seconds
without the real trees. No TensorFlow at import."""
from pathlib import Path

import numpy as np

POSITIVE = ["good", "great", "fun", "charming"]
NEGATIVE = ["bad", "dull", "awful", "tedious"]
NEUTRAL = ["the", "movie", "plot", "a", "film", "story", "it", "is", "was", "this", "and", "of", "cast", "ending"]


def sentence(rng: np.random.Generator, label: int, length: int) -> list[tuple[str, int]]:
    """(word, treebank label) pairs: one or two words of the class's sentiment among neutral ones."""
    words = [(str(w), 2) for w in rng.choice(NEUTRAL, size=length)]
    pool, word_label = (POSITIVE, 3) if label else (NEGATIVE, 1)
    for _ in range(int(rng.integers(1, 3))):
        words[int(rng.integers(length))] = (str(rng.choice(pool)), word_label)
    return words


def tree(words: list[tuple[str, int]], label: int) -> str:
    """A right-branching PTB tree: every leaf keeps its own label, every inner node the sentence's."""
    node = f"({words[-1][1]} {words[-1][0]})"
    for word, word_label in reversed(words[:-1]):
        node = f"({label} ({word_label} {word}) {node})"
    return node


def write_treebank(root: Path, sizes=(240, 60, 120), seed: int = 0, lengths=(5, 24)) -> Path:
    """root/trees/{train,dev,test}.txt of balanced synthetic sentences (SST labels 1 and 3)."""
    rng = np.random.default_rng(seed)
    (root / "trees").mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "dev", "test"), sizes):
        lines = []
        for i in range(n):
            y = i % 2
            lines.append(tree(sentence(rng, y, int(rng.integers(*lengths))), 3 if y else 1))
        (root / "trees" / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def study_overrides(data_dir: Path, *extra) -> list[str]:
    """--set overrides for a study on ``write_treebank`` data with a tiny, fast model."""
    return [f"data.dir={data_dir}", "data.download=false", "model.embedding_dim=16", "model.num_filters=8",
            "model.filter_sizes=[2,3]", "model.dropout=0.1", "train.optimizer=adam", "train.learning_rate=0.02",
            "train.epochs=2", "train.patience=0", "train.batch_size=25", *extra]
