"""bench/keras_examples.py end to end on toy data at toy sizes, so the SST-2 study cannot rot:
both tutorial architectures train, every engine method and baseline is explained and scored."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.engine_models import toy_corpus

ROOT = Path(__file__).resolve().parent.parent


def load_bench():
    """bench/keras_examples.py as a module (bench/ is no package; dataclasses need sys.modules)."""
    if "keras_examples" not in sys.modules:
        spec = importlib.util.spec_from_file_location("keras_examples", ROOT / "bench" / "keras_examples.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["keras_examples"] = module
        spec.loader.exec_module(module)
    return sys.modules["keras_examples"]


def test_study_end_to_end_on_toy_data():
    bench = load_bench()
    texts, labels = toy_corpus(96)
    tokens = [t.split() for t in texts]
    data = {"train": (tokens[:64], labels[:64]), "dev": (tokens[64:80], labels[64:80]),
            "test": (tokens[80:], labels[80:])}
    # two methods keep it fast; every engine method's own correctness is tests/test_engine.py's
    results = bench.study(data, ("negative", "positive"), bench.tiny(bench.TUTORIAL), test_stride=2,
                          methods=("deconvnet", "lrp-epsilon"))
    assert set(results) == {"from_scratch", "pretrained"}
    for name, r in results.items():
        assert r["explained"] == {**r["explained"], "sentences": 8, "of": 16, "stride": 2, "truncated": 0}
        assert list(r["methods"]) == ["deconvnet", "lrp-epsilon", *bench.BASELINES]
        for method, m in r["methods"].items():
            for key, _, _ in bench.METRICS:
                assert np.isfinite(m[key]), (name, method, key)
                assert 0 <= m[key] <= 1 or key.endswith("aopc"), (name, method, key)
            assert m["seconds_per_sentence"] > 0
        assert 0 <= r["accuracy"]["test"] <= 1 and r["forward"]["seconds_per_sentence"] > 0
    text = bench.markdown({"examples": results})
    assert "### `from_scratch`" in text and "| `lrp-epsilon` |" in text and "| `random` |" in text


def test_the_bench_runs_every_engine_method():
    from textdeconv.attribution.engine import RULE_NAMES

    assert set(load_bench().METHODS) == set(RULE_NAMES)


@pytest.mark.parametrize("name", ["from_scratch", "pretrained"])
def test_tutorial_sizes_are_the_tutorials(name):
    """The layer sizes of the keras-io examples (the bench's default run)."""
    bench = load_bench()
    ex = bench.TUTORIAL[name]
    model = bench.from_scratch_model(ex) if name == "from_scratch" else bench.pretrained_model(ex, 20000, 2)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv1D"]
    assert [c.filters for c in convs] == [128] * len(convs)
    if name == "from_scratch":
        assert [(c.kernel_size[0], c.strides[0]) for c in convs] == [(7, 3), (7, 3)] and ex.length == 500
        assert model.layers[1].output_dim == 128 and model.layers[-1].units == 1
    else:
        assert [c.kernel_size[0] for c in convs] == [5, 5, 5] and ex.length == 200
        assert model.layers[1].output_dim == 100 and model.layers[-1].units == 2
