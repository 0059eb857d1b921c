"""Real-data training check, in the default suite: the model learns SST-2 (about 10 s on 2 cores)."""
from textdeconv.config import load_config
from textdeconv.training.trainer import train

# Measured on the project's 2-core machine (TensorFlow 2.21.0, oneDNN on; seed 0 also with it off:
# the same figures), the settings below, 7-9 s per run including dev and test evaluation:
#   seed       0      1      2      3      4
#   dev    0.755  0.774  0.781  0.758  0.765
#   test   0.777  0.764  0.764  0.766  0.767
# The floor sits 3.5 points below the lowest of either (about 3 standard deviations of dev); a
# broken pipeline (labels shuffled, padding wrong, vocabulary off) stays near chance (dev is 50.9 %
# positive).
FLOOR = 0.72


def test_two_epochs_on_the_sst2_training_sentences_clear_the_floor(real_data_dir, tmp_path):
    """The tiny model (16-dim random embeddings, 8 filters of widths 3-5, Adam) for 2 epochs on the
    fixed subset of SST-2 that is its 6,920 training sentences (no phrases), scored on the whole dev
    and test sets: far from Kim's numbers, far above chance."""
    cfg = load_config("tiny.yaml", [f"data.dir={real_data_dir}", "data.download=false", "data.train_on=sentences",
                                    "data.max_train=null", "data.max_eval=null", "train.epochs=2", "train.seed=0"])
    metrics = train(cfg, tmp_path / "run", verbose=0)
    assert metrics["train_examples"] == 6920 and metrics["dev"]["n"] == 872 and metrics["test"]["n"] == 1821
    assert metrics["dev"]["accuracy"] > FLOOR and metrics["test"]["accuracy"] > FLOOR
