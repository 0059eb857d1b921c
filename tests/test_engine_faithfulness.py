"""The faithfulness metrics on any Keras model through the engine's ``ModelPerturber``: a hand-set
averaging model whose perturbed outputs are worked out by hand, and our TextCNN, where the adapter
must give exactly the numbers of textdeconv's own ``Perturber``."""
import keras
import numpy as np
import pytest
from tiny_models import random_sentences, tiny_net, tiny_vocab

from textdeconv.attribution import make_explainer
from textdeconv.attribution.engine import Analyzer
from textdeconv.attribution.engine.perturb import ModelPerturber, occlusion_explanations, random_explanations
from textdeconv.attribution.perturb import Perturber
from textdeconv.errors import InputError
from textdeconv.evaluation.faithfulness import deletion_insertion, eraser

L = keras.layers
CLASSES = ["neg", "pos"]
VOCAB = ["", "[UNK]", "a", "b", "c"]
P0, UNK_ROW = 0.3, 0.5           # the padding id's row is not zero: "pad" must mean that row
ROWS = {"a": 1.0, "b": 2.0, "c": 4.0}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def mean_model(length=None):
    """z = mean over the row of a 1-d embedding, p(pos) = sigmoid(z); with ``length`` the row is
    right-padded with id 0 (embedding P0) to ``length`` ids."""
    ids = keras.Input((length,), dtype="int32")
    emb = L.Embedding(len(VOCAB), 1)
    x = L.GlobalAveragePooling1D()(emb(ids))
    dense = L.Dense(1, activation="sigmoid")
    model = keras.Model(ids, dense(x))
    emb.embeddings.assign(np.array([[P0], [UNK_ROW], [1.0], [2.0], [4.0]], "float32"))
    dense.kernel.assign([[1.0]])
    dense.bias.assign([0.0])
    return model


def explained(model, sentences, target=None):
    explainer = Analyzer(model, "gradient").explainer(vocabulary=VOCAB, class_names=CLASSES)
    return explainer, explainer.explain(sentences, target=target)


def with_scores(expls, scores):
    from dataclasses import replace

    return [replace(e, scores=np.asarray(s, np.float64)) for e, s in zip(expls, scores)]


@pytest.mark.parametrize("replacement, z_without_c, z_only_c", [
    ("pad", (1 + 2 + P0) / 3, (P0 + P0 + 4) / 3),
    ("unk", (1 + 2 + UNK_ROW) / 3, (UNK_ROW + UNK_ROW + 4) / 3),
    ("delete", (1 + 2) / 2, 4.0),
])
@pytest.mark.parametrize("target", [0, 1])
def test_eraser_by_hand(replacement, z_without_c, z_only_c, target):
    explainer, expls = explained(mean_model(), [["a", "b", "c"]], target=target)
    expls = with_scores(expls, [[1.0, 2.0, 4.0]])  # "c" ranks first
    res = eraser(expls, ModelPerturber(explainer, replacement), ks=(0.3,))  # ceil(0.9) = 1 token

    def p(z):
        return sigmoid(z) if target == 1 else 1 - sigmoid(z)

    full = p(7 / 3)
    assert res["per_sentence"]["p_full"][0] == pytest.approx(full, abs=1e-6)
    assert res["per_sentence"]["p_full"][0] == pytest.approx(expls[0].probs[target], abs=1e-6)
    assert res["comprehensiveness"][0] == pytest.approx(full - p(z_without_c), abs=1e-6)
    assert res["sufficiency"][0] == pytest.approx(full - p(z_only_c), abs=1e-6)
    assert res["replacement"] == replacement


def test_curves_by_hand():
    explainer, expls = explained(mean_model(), [["a", "b", "c"]], target=1)
    expls = with_scores(expls, [[1.0, 2.0, 4.0]])  # ranking c, b, a
    res = deletion_insertion(expls, ModelPerturber(explainer, "pad"), fractions=(0.0, 0.5, 1.0))  # 0, 2, 3 tokens
    z = {"morf": [7 / 3, (1 + 2 * P0) / 3, P0],
         "lerf": [7 / 3, (2 * P0 + 4) / 3, P0],
         "insertion": [P0, (P0 + 2 + 4) / 3, 7 / 3]}
    for name, values in z.items():
        np.testing.assert_allclose(res["curves"][name], sigmoid(np.array(values)), atol=1e-6, err_msg=name)


def test_fixed_length_rows_are_laid_out_as_explained():
    """A model of 4 ids per row: the sentence is right-padded with id 0 (P0) to 4, and a deleted
    token's place is padding again."""
    explainer, expls = explained(mean_model(length=4), [["a", "b", "c"], ["c", "a"]], target=1)
    perturber = ModelPerturber(explainer, "delete")
    logits = perturber.logits([e.token_ids for e in expls], [np.array([False, False, True]), np.zeros(2, bool)])
    np.testing.assert_allclose(logits[:, 1], [(1 + 2 + 2 * P0) / 4, (4 + 1 + 2 * P0) / 4], atol=1e-6)
    full = perturber.logits([e.token_ids for e in expls])
    np.testing.assert_allclose(np.exp(full[:, 1]) / (1 + np.exp(full[:, 1])), [e.probs[1] for e in expls], atol=1e-6)
    everything = eraser(expls, perturber, ks=(1.0,))  # sufficiency keeps all, comprehensiveness removes all
    assert everything["sufficiency"][0] == pytest.approx(0, abs=1e-6)
    assert everything["comprehensiveness"][0] == pytest.approx(
        np.mean([e.probs[1] for e in expls]) - sigmoid(P0), abs=1e-6)


@pytest.mark.parametrize("target", [0, 1])
def test_occlusion_and_random_baselines(target):
    explainer, expls = explained(mean_model(), [["a", "b", "c"], ["b"]], target=target)
    occ = occlusion_explanations(expls, ModelPerturber(explainer, "pad"))
    sign = 1 if target == 1 else -1  # a sigmoid unit: class 0 is explained as -z
    np.testing.assert_allclose(occ[0].scores, sign * (np.array([1.0, 2.0, 4.0]) - P0) / 3, atol=1e-6)
    np.testing.assert_allclose(occ[1].scores, [sign * (2.0 - P0)], atol=1e-6)
    assert occ[0].method == "occlusion" and occ[0].target == target and occ[0].tokens == ["a", "b", "c"]
    rand, again = random_explanations(expls, seed=3), random_explanations(expls[:1], seed=3)
    np.testing.assert_array_equal(rand[0].scores, again[0].scores)  # per sentence, not per batch
    assert rand[0].method == "random" and rand[0].scores.shape == (3,)


def test_adapter_refuses_what_it_cannot_run():
    net, vocab = tiny_net(), tiny_vocab()
    with pytest.raises(InputError, match="engine explainer"):
        ModelPerturber(make_explainer("deconv", net, vocab, CLASSES))
    explainer, _ = explained(mean_model(), [["a"]])
    with pytest.raises(InputError, match="unknown replacement"):
        ModelPerturber(explainer, "blank")


@pytest.mark.parametrize("variant", ["rand", "multichannel"])
@pytest.mark.parametrize("replacement", ["pad", "unk", "delete"])
def test_on_our_textcnn_the_adapter_gives_todays_numbers(variant, replacement):
    net, vocab = tiny_net(variant), tiny_vocab()
    sentences = random_sentences(12, np.random.default_rng(1))
    engine = make_explainer("deconvnet", net, vocab, CLASSES)  # the engine over our run's model
    expls = engine.explain(sentences)
    ours, adapter = Perturber(net, replacement), ModelPerturber(engine, replacement)
    rng = np.random.default_rng(2)
    drops = [rng.random(len(e.token_ids)) < 0.4 for e in expls]
    np.testing.assert_allclose(adapter.logits([e.token_ids for e in expls], drops),
                               ours.logits([e.token_ids for e in expls], drops), atol=1e-5)
    for metric in (eraser, deletion_insertion):
        a, b = metric(expls, adapter), metric(expls, ours)
        for key in ("comprehensiveness", "sufficiency") if metric is eraser else ("morf", "lerf", "insertion"):
            got = a[key] if metric is eraser else a["curves"][key]
            want = b[key] if metric is eraser else b["curves"][key]
            np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"{metric.__name__} {key}")


def test_on_our_textcnn_occlusion_equals_ours():
    net, vocab = tiny_net(), tiny_vocab()
    sentences = random_sentences(8, np.random.default_rng(4))
    engine = make_explainer("deconvnet", net, vocab, CLASSES)
    mine = occlusion_explanations(engine.explain(sentences), ModelPerturber(engine, "pad"))
    ours = make_explainer("occlusion", net, vocab, CLASSES).explain(sentences)
    for m, o in zip(mine, ours):
        np.testing.assert_allclose(m.scores, o.scores, atol=1e-5)


def test_delete_everything_without_padding_is_refused_as_today():
    net, vocab = tiny_net(widths=(1,)), tiny_vocab()
    engine = make_explainer("deconvnet", net, vocab, CLASSES)
    expls = engine.explain([["good", "movie"]])
    for perturber in (Perturber(net, "delete"), ModelPerturber(engine, "delete")):
        with pytest.raises(InputError, match="widest filter is 1"):
            eraser(expls, perturber, ks=(1.0,))  # comprehensiveness@1 removes every token
