"""Real-data training sanity check: slow (about a minute), so outside the default run (`pytest -m slow`)."""
import pytest

from textdeconv.config import load_config
from textdeconv.training.trainer import train


@pytest.mark.slow
def test_short_sentence_training_learns_sst2(real_data_dir, tmp_path):
    # 2 epochs of a small CNN on the 6,920 SST-2 training sentences: far from Kim's numbers, but a
    # broken pipeline (labels shuffled, padding wrong, vocabulary off) stays near 50 %
    cfg = load_config("tiny.yaml", [f"data.dir={real_data_dir}", "data.train_on=sentences", "data.max_train=null",
                                    "data.max_eval=null", "model.embedding_dim=64", "model.num_filters=32",
                                    "train.epochs=2", "train.batch_size=50"])
    metrics = train(cfg, tmp_path / "run", verbose=0)
    assert metrics["dev"]["n"] == 872 and metrics["test"]["n"] == 1821
    assert metrics["dev"]["accuracy"] > 0.70 and metrics["test"]["accuracy"] > 0.70
