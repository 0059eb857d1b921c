"""The engine against Captum and zennit (issue 31): golden fixtures written by
``bench/peer_parity.py generate`` in a venv with torch, checked here without torch.

Each fixture (tests/fixtures/peer/<architecture>.npz) holds a model spec, its weights, fixed ids and
targets, and the word scores Captum / zennit gave on a float64 PyTorch twin — with the engine's
documented conventions applied (``expected``) and out of the box (``as_is``). The Keras twin is
rebuilt from the same spec and weights; the engine must equal every expected score to
|engine - peer| <= 1e-5 * max(1, max |peer|) + 1e-6 (float32 against float64).
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "peer"


def load_bench():
    """bench/peer_parity.py as a module (bench/ is no package)."""
    if "peer_parity" not in sys.modules:
        spec = importlib.util.spec_from_file_location("peer_parity", ROOT / "bench" / "peer_parity.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["peer_parity"] = module
        spec.loader.exec_module(module)
    return sys.modules["peer_parity"]


pytestmark = pytest.mark.numerics  # run with oneDNN on and off by .ci/run

pp = load_bench()
_SCORES = {}


def engine(name, compiled=False):
    """(fixture, the engine's scores per method key) for architecture ``name`` (computed once);
    eager by default (the analyzer's walk without tracing: 6x cheaper here)."""
    if (name, compiled) not in _SCORES:
        f = pp.load_fixture(FIXTURES / f"{name}.npz")
        _SCORES[name, compiled] = f, pp.engine_scores(pp.keras_twin(f["spec"], f["weights"]), f, compiled)
    return _SCORES[name, compiled]


def test_fixtures_are_the_scripts_own_and_small():
    """The weights, ids and targets in each fixture are what the script draws from its seed today
    (so regenerating changes only the peers' scores), and all of them stay far under 1 MiB."""
    total = 0
    for k, name in enumerate(pp.ARCHITECTURES):
        path = FIXTURES / f"{name}.npz"
        total += path.stat().st_size
        f = pp.load_fixture(path)
        assert f["spec"] == pp.spec(name)
        weights = pp.weights(pp.spec(name), 10 * k)
        assert sorted(f["weights"]) == sorted(weights)
        for key, value in weights.items():
            np.testing.assert_array_equal(f["weights"][key], value)
        ids, targets = pp.ids_and_targets(pp.spec(name), 10 * k)
        np.testing.assert_array_equal(f["ids"], ids)
        np.testing.assert_array_equal(f["targets"], targets)
        ours = [key for key, _, _ in pp.RUN_METHODS] if name == "textcnn" else ["occlusion"]
        assert sorted(f["expected"]) == sorted([pp.method_key(i) for i in range(len(pp.METHODS))] + ours)
        assert sorted(f["as_is"]) == sorted(key for key, _, _ in pp.AS_IS)
        assert f["versions"]["captum"] and f["versions"]["zennit"]
    assert total < 256 * 1024


@pytest.mark.parametrize("name", pp.ARCHITECTURES)
def test_engine_equals_captum_and_zennit(name):
    f, scores = engine(name)
    assert pp.failures(f, scores) == []
    for key, peer in f["expected"].items():
        assert np.abs(peer).max() > 1e-3, key  # no method is checked on all-zero scores
    if name != "textcnn":  # occlusion: the rows without padding (three of five)
        assert np.isfinite(scores["occlusion"]).all(axis=1).sum() == 3


def test_the_compiled_analyzer_equals_the_peers_too():
    f, scores = engine("stack", compiled=True)
    assert pp.failures(f, scores) == []


def test_the_check_fails_on_a_wrong_fixture():
    """Permuted rows, one position nudged by 1e-4 of the largest score, or another method's scores
    (α-β (2, 1) where α-β (1, 0) is expected) each fail the comparison."""
    f, scores = engine("stack")
    key = "lrp-alpha-beta"
    permuted = {**f, "expected": {**f["expected"], key: f["expected"][key][::-1]}}
    assert [k for k, _ in pp.failures(permuted, scores)] == [key]
    nudged = f["expected"][key].copy()
    nudged[2, 3] += 1e-4 * max(1.0, np.abs(nudged).max())
    assert [k for k, _ in pp.failures({**f, "expected": {**f["expected"], key: nudged}}, scores)] == [key]
    swapped = {**f, "expected": {**f["expected"], key: f["expected"]["lrp-alpha-beta alpha=2 beta=1"]}}
    assert [k for k, _ in pp.failures(swapped, scores)] == [key]


def test_each_convention_is_where_the_docs_say():
    """Out of the box the peers differ from the engine where (and only where) a convention comes into
    play: tied max-pool windows (every model with a max pool over repeated tokens or padding), a ReLU
    reading a shortcut's tensor (only the residual block), zennit's ZPlus keeping the bias
    (every model: all have biases)."""
    def off(name, key):
        f, scores = engine(name)
        i = next(i for k, i, _ in pp.AS_IS if k == key)
        return pp.deviation(scores[pp.method_key(i)], f["as_is"][key]) > 1e-3

    assert all(off(name, "zplus_bias/lrp-zplus") for name in pp.ARCHITECTURES)
    assert [name for name in pp.ARCHITECTURES if off(name, "fan_out_relu/deconvnet")] == ["residual_add"]
    assert [name for name in pp.ARCHITECTURES if off(name, "fan_out_relu/guided-backprop")] == ["residual_add"]
    assert off("kim_branches", "ties/gradient") and off("textcnn", "ties/lrp-epsilon")
    assert not off("avgpool_flatten", "ties/gradient")  # no max pool: nothing to tie
    assert off("stack", "epsilon_at_joins/lrp-epsilon")  # BatchNorm takes the engine's epsilon
    assert not off("textcnn", "epsilon_at_joins/lrp-epsilon")  # no join, pooling average or BatchNorm


def test_recorded_results_are_the_engines():
    """bench/results/peer_parity.json (what docs/any-model.md shows) holds the deviations the engine
    gives today, to 1e-5."""
    record = json.loads((ROOT / "bench" / "results" / "peer_parity.json").read_text(encoding="utf-8"))
    assert list(record["architectures"]) == list(pp.ARCHITECTURES)
    for name, entry in record["architectures"].items():
        f, scores = engine(name)
        for key, value in entry["methods"].items():
            assert abs(pp.deviation(scores[key], f["expected"][key]) - value) < 1e-5, (name, key)
        for key, i, _ in pp.AS_IS:
            now = pp.deviation(scores[pp.method_key(i)], f["as_is"][key])
            assert abs(now - entry["conventions"][key]) < 1e-5, (name, key)
