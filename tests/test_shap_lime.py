"""The shap and lime methods: exact Shapley values on a hand-set model, the exact token sequences the
model sees (no glued, split or cleaned-away masks), seeds, and the missing-extra error.

.ci/run installs the dev extra, which brings shap and lime, and sets TEXTDECONV_REQUIRE_SHAP_LIME
so that there a missing library fails instead of skipping.
"""
import os
import sys

import numpy as np
import pytest
from helpers.exact import raises_exactly
from helpers.handset import WORDS, additive_net, exact_shapley, pairwise_net, pairwise_value, vocab

if not os.environ.get("TEXTDECONV_REQUIRE_SHAP_LIME"):
    pytest.importorskip("shap", reason="shap is not installed (pip install shap: textdeconv's shap extra)")
    pytest.importorskip("lime", reason="lime is not installed (pip install lime: textdeconv's lime extra)")

from textdeconv.attribution import make_explainer  # noqa: E402
from textdeconv.data.vocab import UNK_ID, pad_batch  # noqa: E402
from textdeconv.errors import InputError, MissingExtraError  # noqa: E402

CLASSES = ["neg", "pos"]
SENTENCE = ["a", "b", "c", "d"]


class Recorder:
    """Stands in for an explainer's Perturber: records every (token ids, drop mask) it is asked
    for and the token-id rows and keep masks the network is then fed."""

    def __init__(self, perturber):
        self.inner, self.masks, self.fed = perturber, [], []
        self.replacement, self.batch_size = perturber.replacement, perturber.batch_size
        inner_logits = perturber._logits

        def spy(ids, keep):
            self.fed += [(np.asarray(r), np.asarray(k)) for r, k in zip(ids.numpy(), keep.numpy())]
            return inner_logits(ids, keep)

        perturber._logits = spy

    def logits(self, ids_list, drop_masks):
        self.masks += [(np.asarray(i), np.asarray(d, bool)) for i, d in zip(ids_list, drop_masks)]
        return self.inner.logits(ids_list, drop_masks)


def recorded(explainer) -> Recorder:
    explainer.perturber = Recorder(explainer.perturber)
    return explainer.perturber


@pytest.mark.parametrize("kind", ["partition", "permutation"])
@pytest.mark.parametrize("replacement", ["pad", "unk", "delete"])
def test_shap_gives_the_exact_shapley_values_of_a_hand_set_model(kind, replacement):
    """Every coalition's value is known on paper (helpers.handset.pairwise_value, checked against the
    network itself below); the game has interactions of order <= 2 only, where shap's estimates are
    exact: one antithetic permutation pair (permutation), the fully expanded partition tree (Owen =
    Shapley). Exact Shapley values by enumerating all 16 coalitions: (2.5, 1, 1.25, 0.75)."""
    net, v = pairwise_net(), vocab()
    ids = np.array(v.encode(SENTENCE))
    for keep in range(16):  # the paper values are the network's, removed the way each replacement removes
        kept = [i for i in range(4) if keep >> i & 1]
        row = ids[kept] if replacement == "delete" else np.where(np.isin(np.arange(4), kept), ids, UNK_ID)
        logit = net.forward(pad_batch([row], net.pad, min_len=2)).logits.numpy()[0, 1]
        assert logit == pytest.approx(pairwise_value({WORDS[i] for i in kept}), abs=1e-5)
    exact = exact_shapley(lambda s: pairwise_value({WORDS[i] for i in s}), 4)
    np.testing.assert_allclose(exact, [2.5, 1.0, 1.25, 0.75], atol=1e-12)  # by hand: 2.5 = 1 + 1.5 ...
    max_evals = 9 if kind == "permutation" else 500  # permutation: one pair (2n + 1 evaluations)
    (e,) = make_explainer("shap", net, v, CLASSES, explainer=kind, max_evals=max_evals,
                          replacement=replacement).explain([SENTENCE], target="pos")
    np.testing.assert_allclose(e.scores, exact, atol=1e-5)
    assert e.method == "shap" and e.target == 1


@pytest.mark.parametrize("kind", ["partition", "permutation"])
def test_shap_scores_add_up_to_the_full_minus_the_empty_sentence(kind):
    """Efficiency, on a random TextCNN whose game has interactions of every order."""
    from tiny_models import tiny_net, tiny_vocab

    net, v = tiny_net(seed=3), tiny_vocab()
    sentences = [["good", "movie", "not", "fun", "the", "plot"], ["dull"]]
    explainer = make_explainer("shap", net, v, CLASSES, explainer=kind, max_evals=100)
    for e in explainer.explain(sentences):
        full, empty = explainer.perturber.logits([e.token_ids] * 2, [np.zeros(len(e.tokens), bool),
                                                                      np.ones(len(e.tokens), bool)])[:, e.target]
        assert float(e.scores.sum()) == pytest.approx(float(full - empty), abs=1e-5)


@pytest.mark.parametrize("replacement", ["pad", "unk", "delete"])
@pytest.mark.parametrize("method,options", [("shap", {"max_evals": 60}), ("lime", {"num_samples": 40})])
def test_the_model_sees_exactly_the_kept_tokens(method, options, replacement):
    """No glued, split or cleaned-away masks: every perturbed sentence the network is fed is the
    sentence's own token ids with the masked ones removed as the replacement says: cut out (delete;
    the kept words in order, nothing else), the unknown-word id (unk) or an embedding zeroed in place
    (pad). The sentence holds a repeated word, "n't" and "..." (unknown to this vocabulary: one
    token each all the same)."""
    from tiny_models import tiny_net, tiny_vocab

    net, v = tiny_net(seed=1), tiny_vocab()
    tokens = ["the", "movie", "is", "n't", "good", "...", "good", "fun"]
    explainer = make_explainer(method, net, v, CLASSES, replacement=replacement, **options)
    rec = recorded(explainer)
    (e,) = explainer.explain([tokens])
    ids = np.array(v.encode(tokens))
    assert len(e.scores) == len(tokens) == 8 and e.tokens == tokens
    assert rec.masks and all(np.array_equal(row, ids) for row, _ in rec.masks)
    expected = []
    for _, drop in rec.masks:
        if replacement == "delete":
            expected.append((tuple(ids[~drop]), (1.0,) * int((~drop).sum())))
        elif replacement == "unk":
            expected.append((tuple(np.where(drop, UNK_ID, ids)), (1.0,) * len(ids)))
        else:
            expected.append((tuple(ids), tuple((~drop).astype(float))))
    pad = net.pad
    fed = []
    for row, keep in rec.fed:  # strip the model's padding: PAD (id 0) is never a word
        words = np.nonzero(row)[0]
        lo = pad if len(words) == 0 else words[0]
        assert lo >= pad and np.all(row[:pad] == 0)
        body = row[pad:pad + (len(words) and words[-1] - pad + 1)]
        if replacement == "pad":
            body = row[pad:pad + len(ids)]
        fed.append((tuple(body), tuple(keep[pad:pad + len(body)].astype(float))))
    assert sorted(fed) == sorted(expected)


def test_shap_permutation_seeds_reproduce_and_differ():
    from tiny_models import tiny_net, tiny_vocab

    net, v = tiny_net(seed=2), tiny_vocab()
    sentences = [["good", "movie", "not", "fun", "the", "plot", "dull"], ["a", "great", "plot"]]
    state = np.random.get_state()

    def scores(seed, batch):
        ex = make_explainer("shap", net, v, CLASSES, explainer="permutation", max_evals=15, seed=seed)
        return [e.scores for e in ex.explain(batch)]

    first, again, other = scores(0, sentences), scores(0, sentences), scores(1, sentences)
    alone = scores(0, sentences[:1])
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert np.array_equal(first[0], alone[0])  # a sentence's scores do not depend on its batch
    assert not np.allclose(first[0], other[0])  # one permutation pair, a game with 3rd-order terms
    after = np.random.get_state()  # NumPy's global generator, which shap draws from, is restored
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]


def test_shap_permutation_refuses_too_few_evaluations():
    net, v = pairwise_net(), vocab()
    explainer = make_explainer("shap", net, v, CLASSES, explainer="permutation", max_evals=8)
    with raises_exactly(InputError, "shap: max_evals=8 is too low for the permutation explainer on a 4-word "
                                    "sentence (it needs at least 2n + 1 = 9)"):
        explainer.explain([SENTENCE])


def test_lime_samples_and_scores_are_reproducible_per_seed():
    from tiny_models import tiny_net, tiny_vocab

    net, v = tiny_net(seed=4), tiny_vocab()
    sentences = [["good", "movie", "not", "fun", "dull"], ["the", "plot", "great"]]

    def run(seed, batch):
        ex = make_explainer("lime", net, v, CLASSES, num_samples=30, seed=seed)
        rec = recorded(ex)
        return [e.scores for e in ex.explain(batch)], [d for _, d in rec.masks]

    (s0, m0), (s0b, m0b), (s1, m1) = run(0, sentences), run(0, sentences), run(1, sentences)
    assert not all(np.array_equal(x, y) for x, y in zip(s0, s1))
    assert len(m0) == 60 and all(np.array_equal(x, y) for x, y in zip(m0, m0b))
    assert all(np.array_equal(x, y) for x, y in zip(s0, s0b))
    assert not all(np.array_equal(x, y) for x, y in zip(m0, m1))
    (alone,), masks_alone = run(0, sentences[1:])
    of_second = [d for d in m0 if len(d) == 3]  # batches go by length: the masks of the 3-word sentence
    assert np.array_equal(alone, s0[1]) and all(np.array_equal(x, y) for x, y in zip(masks_alone, of_second))
    assert len(of_second) == 30 and not of_second[0].any() and all(d.any() for d in of_second[1:])
    # lime: the sentence itself, then k >= 1 words removed


def test_lime_keeps_repeated_words_apart():
    """bow=False: "good" twice is two features, removed independently of each other."""
    from tiny_models import oracle_model

    net, v = oracle_model()  # logit_1 = 2 [good in x]
    explainer = make_explainer("lime", net, v, CLASSES, num_samples=200, seed=0)
    rec = recorded(explainer)
    (e,) = explainer.explain([["good", "the", "good"]], target="pos")
    drops = np.array([d for _, d in rec.masks])
    assert drops.shape == (200, 3)
    assert (drops[:, 0] & ~drops[:, 2]).any() and (~drops[:, 0] & drops[:, 2]).any()
    # only removing both copies costs anything: each copy outweighs "the", which only rides along
    assert min(e.scores[0], e.scores[2]) > 2 * abs(e.scores[1]), e.scores


def test_lime_recovers_an_additive_model_in_sign_and_order():
    net, v = additive_net(), vocab()  # logit_1 = 0.25 + a - ... : a 1, b 2, c -3, d 0.5
    (e,) = make_explainer("lime", net, v, CLASSES, num_samples=500).explain([["c", "a", "d", "b"]], target="pos")
    assert list(np.argsort(e.scores)) == [0, 2, 1, 3]  # c < d < a < b
    assert e.scores[0] < 0 < e.scores[2]


@pytest.mark.parametrize("method,extra", [("shap", "shap"), ("lime", "lime")])
def test_a_missing_library_is_one_clear_error(monkeypatch, method, extra):
    from textdeconv.attribution import get_method

    for name in [m for m in sys.modules if m == extra or m.startswith(extra + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, extra, None)  # import fails, find_spec finds nothing
    message = f"the {method} method needs the {extra} library: pip install {extra} (textdeconv's {extra} extra)"
    assert not get_method(method).available()
    with raises_exactly(MissingExtraError, message):
        make_explainer(method, pairwise_net(), vocab(), CLASSES)
    with raises_exactly(MissingExtraError, message):  # the class itself, built directly
        if method == "shap":
            from textdeconv.attribution.shapley import Shap as cls
        else:
            from textdeconv.attribution.lime_words import Lime as cls
        cls(pairwise_net(), vocab(), CLASSES)


def test_option_values_are_checked():
    net, v = pairwise_net(), vocab()
    with raises_exactly(InputError, "shap: explainer must be one of partition, permutation, got 'kernel'"):
        make_explainer("shap", net, v, CLASSES, explainer="kernel")
    with raises_exactly(InputError, "shap: max_evals must be an integer >= 3, got 2"):
        make_explainer("shap", net, v, CLASSES, max_evals=2)
    with raises_exactly(InputError, "lime: num_samples must be an integer >= 2, got 1"):
        make_explainer("lime", net, v, CLASSES, num_samples=1)
    with raises_exactly(InputError, "lime: seed must be an integer >= 0, got -1"):
        make_explainer("lime", net, v, CLASSES, seed=-1)
    with raises_exactly(InputError, "shap: replacement must be one of pad, unk, delete, got 'mask'"):
        make_explainer("shap", net, v, CLASSES, replacement="mask")


@pytest.mark.parametrize("method", ["shap", "lime"])
def test_rows_of_padding_alone_have_no_scores(method):
    """reports.stream.warm_up traces every explainer on rows of padding alone (n = 0 words)."""
    net, v = pairwise_net(), vocab()
    explainer = make_explainer(method, net, v, CLASSES)
    res = explainer.attribute_ids(pad_batch([[]] * 2, net.pad), np.full(2, -1, np.int32))
    assert res["scores"].shape == (2, 2 * net.pad) and not res["scores"].any()
