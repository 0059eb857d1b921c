"""ROAD, Remove And Debias (Rong et al., ICML 2022), adapted to text: remove words *without
retraining* by imputing their embeddings from their neighbours, beside ROAR (``roar``).

Why: ROAR retrains on sentences that lost their signed-top words, and the retrained model can
read the label off *which* words are missing (``roar``'s leakage check). Plain deletion or a PAD
vector instead puts the model off its training distribution, and a fixed value marks where the
removed words were. ROAD's noisy linear imputation fills each removed position with what its
surroundings predict, plus a little noise, and asks the original model; Rong et al. report that
this keeps the removal pattern from leaking class information and that the MoRF and LeRF orders
then rank methods more consistently (``bench/road_report.py`` counts the method pairs they agree on).

Removal: for a sentence of n words with the method's scores for the class the model predicts on
the whole sentence, a fraction k removes ``roar.n_remove(k, n)`` words (ceil(k n), one word
always stays): for MoRF the top of ``faithfulness.ranking`` (signed, ties by position), for LeRF
its bottom (the last m of the same ranking, as ``faithfulness.deletion_insertion``'s lerf).

Imputation (``impute``), the text analogue of the reference implementation's
``NoisyLinearImputer`` (tleemann/road_evaluation): on the sentence's embeddings E (n, D), each
removed e_r is the mean of its in-sentence neighbours e_{r-1}, e_{r+1} (padding is no neighbour:
a word at either edge has one), and the kept words are fixed boundary values. That is one sparse
linear system over all removed positions at once (a run of removed words is solved jointly: it
becomes the straight line between the kept words around it, or a constant copy of the one kept
word beside it at a sentence edge). Then N(0, sigma^2) noise is added to each imputed coordinate.
The ids are unchanged, so the model's window mask (the sentence's length) is too; the imputed
embeddings go through the rest of the model with ``TextCNN.logits_from_embeddings``, as the
perturbation and integrated-gradients code do. A multichannel model has two embedding tables:
the system is linear per coordinate, so solving the concatenated rows imputes each channel, and
each channel gets its own sigma.

Noise: sigma = ``noise`` (default 0.01) x the standard deviation of that channel's embedding
table entries (every row but PAD). The reference adds N(0, 0.01^2) to images normalised to unit
variance per colour channel, so 0.01 of the table's spread is the same relative size. Each
(sentence, order, fraction) draws from ``np.random.default_rng([seed, sentence, order, fraction])``:
two methods that remove the same words get the same input, whatever the batching (common random
numbers, which keeps the paired comparisons tight).

Per method and order, at each fraction: accuracy against the gold labels and the mean
probability of the originally predicted class; per sentence an AOPC-style area,
``aopc = mean_k (p(x) - p(x with the k-removal imputed))``: high for MoRF and low for LeRF is a
faithful ranking; ``gap = aopc_morf - aopc_lerf = mean_k (p_lerf - p_morf)`` combines the two.
Each method is compared with ``random`` and ``deconv`` sentence by sentence (``paired``).
"""
from __future__ import annotations

import time

import numpy as np

from textdeconv.errors import InputError
from textdeconv.evaluation.faithfulness import ranking
from textdeconv.evaluation.roar import FRACTIONS, n_remove

NOISE = 0.01
ORDERS = ("morf", "lerf")
AREAS = ("aopc_morf", "aopc_lerf", "gap")
COMPARE_WITH = ("random", "deconv")


def impute(emb, removed, noise=None) -> np.ndarray:
    """Noisy linear imputation of one sentence's removed rows.

    Args:
        emb: (n, D) embeddings of the sentence's words (no padding).
        removed: (n,) bool, True = removed; at least one word must stay.
        noise: None, or (n, D) values added to the removed rows (the kept rows never change).
    Returns:
        (n, D) float64: kept rows as given, each removed row the solution of
        ``deg(r) e_r - sum(removed neighbours) = sum(kept neighbours)``, deg(r) = 1 or 2 the
        number of in-sentence neighbours, plus its noise.
    """
    emb = np.asarray(emb, np.float64)
    removed = np.asarray(removed, bool)
    if emb.ndim != 2 or removed.shape != (len(emb),):
        raise InputError(f"emb must be (n, D) and removed (n,), got {emb.shape} and {removed.shape}")
    out = emb.copy()
    rows = np.flatnonzero(removed)
    if rows.size == 0:
        return out
    if rows.size == len(emb):
        raise InputError("cannot impute every word of a sentence: no kept word to impute from")
    var = np.full(len(emb), -1)
    var[rows] = np.arange(rows.size)
    a = np.zeros((rows.size, rows.size))
    b = np.zeros((rows.size, emb.shape[1]))
    for i, t in enumerate(rows):
        for j in (t - 1, t + 1):
            if 0 <= j < len(emb):
                a[i, i] += 1
                if removed[j]:
                    a[i, var[j]] -= 1
                else:
                    b[i] += emb[j]
    # every run of removed words touches a kept word, so a is non-singular (diagonally dominant,
    # strictly in the row next to the kept word, and irreducible within the run)
    out[rows] = np.linalg.solve(a, b)
    if noise is not None:
        out[rows] += np.asarray(noise, np.float64)[rows]
    return out


def noise_sigma(net, noise: float = NOISE) -> np.ndarray:
    """(E,) sigma per embedding coordinate: ``noise`` x the standard deviation of the entries of
    the coordinate's table (PAD row left out), one value per channel."""
    if not noise >= 0:
        raise InputError(f"noise must be at least 0, got {noise}")
    parts = []
    for table in net.tables:
        w = np.asarray(table.embeddings)[1:]  # row 0 is PAD, kept at zero
        parts.append(np.full(w.shape[1], noise * float(w.std())))
    return np.concatenate(parts)


def removal_masks(scores, count: int) -> dict:
    """{"morf": the ``count`` top words of ``ranking(scores)``, "lerf": its ``count`` last}, (n,) bool each."""
    order = ranking(scores)
    morf, lerf = np.zeros(len(order), bool), np.zeros(len(order), bool)
    morf[order[:count]] = True
    lerf[order[len(order) - count:]] = True
    return {"morf": morf, "lerf": lerf}


class Imputer:
    """Probabilities of a ``TextCNN`` for sentences whose removed words are imputed (``impute``).

    Args:
        net: the model; sigma: (E,) noise scale per coordinate (``noise_sigma``); seed: noise seed.
    """

    def __init__(self, net, sigma, seed: int = 0, batch_size: int = 256):
        import tensorflow as tf

        self.net, self.seed, self.batch_size = net, int(seed), batch_size
        self.sigma = np.asarray(sigma, np.float64)
        self._logits = tf.function(net.logits_from_embeddings, reduce_retracing=True)
        self._embed = tf.function(net.embed, reduce_retracing=True)

    def noise(self, key, n: int) -> np.ndarray:
        """(n, E) noise of the perturbation ``key`` (a tuple of non-negative ints)."""
        rng = np.random.default_rng([self.seed, *key])
        return rng.standard_normal((n, len(self.sigma))) * self.sigma

    def probs(self, ids_list, drops, keys) -> np.ndarray:
        """(R, classes) softmax for each row: ids ``ids_list[r]`` (n,), words ``drops[r]`` (n,) bool
        imputed with noise ``self.noise(keys[r], n)``."""
        import tensorflow as tf

        from textdeconv.attribution.perturb import softmax
        from textdeconv.data.vocab import length_batches, pad_batch

        pad = self.net.pad
        out = np.zeros((len(ids_list), self.net.num_classes))
        for batch in length_batches([len(x) for x in ids_list], self.batch_size):
            ids = pad_batch([ids_list[r] for r in batch], pad, min_len=max(self.net.widths))
            emb = self._embed(tf.constant(ids)).numpy()
            for j, r in enumerate(batch):
                n = len(ids_list[r])
                if drops[r].any():
                    noise = self.noise(keys[r], n) if self.sigma.any() else None
                    emb[j, pad:pad + n] = impute(emb[j, pad:pad + n], drops[r], noise)
            logits = self._logits(tf.constant(emb, tf.float32), tf.constant(ids)).numpy()
            out[batch] = softmax(logits.astype(np.float64))
        return out


def road_curves(imputer, expls, labels, fractions=FRACTIONS) -> dict:
    """MoRF and LeRF for one method's explanations, sentence by sentence.

    Args:
        imputer: an ``Imputer``; expls: N Explanations (``token_ids``, ``scores``, ``target`` =
            the class the model predicts on the whole sentence); labels: N gold classes.
    Returns:
        dict: ``p_full`` (N,), ``p`` {order: (N, F) probability of the target class},
        ``correct`` {order: (N, F) bool, the argmax equals the gold label}, ``removed``
        {order: (N, F) int}, and the areas ``aopc_morf``, ``aopc_lerf``, ``gap`` (N,).
    """
    fractions = check_fractions(fractions)
    ids_list, drops, keys = [], [], []
    counts = np.zeros((len(expls), len(fractions)), int)
    for i, e in enumerate(expls):
        if np.shape(e.scores) != (len(e.token_ids),):
            raise InputError(f"explanation {i}: {np.size(e.scores)} scores for {len(e.token_ids)} tokens")
        ids_list.append(np.asarray(e.token_ids))
        drops.append(np.zeros(len(e.token_ids), bool))
        keys.append((i, 0, 0))
        for j, f in enumerate(fractions):
            counts[i, j] = n_remove(f, len(e.token_ids))
            for o, mask in enumerate(removal_masks(e.scores, counts[i, j]).values()):
                ids_list.append(ids_list[-1])
                drops.append(mask)
                keys.append((i, o + 1, j))
    probs = imputer.probs(ids_list, drops, keys).reshape(len(expls), 1 + 2 * len(fractions), -1)
    targets = np.array([e.target for e in expls])
    labels = np.asarray(labels)
    p = probs[np.arange(len(expls)), :, targets]  # (N, 1 + 2F)
    pred = probs.argmax(axis=-1)
    out = {"p_full": p[:, 0], "p": {}, "correct": {}, "removed": {}}
    for o, order in enumerate(ORDERS):
        cols = 1 + 2 * np.arange(len(fractions)) + o
        out["p"][order] = p[:, cols]
        out["correct"][order] = pred[:, cols] == labels[:, None]
        out["removed"][order] = counts
    out["aopc_morf"] = (p[:, :1] - out["p"]["morf"]).mean(axis=1)
    out["aopc_lerf"] = (p[:, :1] - out["p"]["lerf"]).mean(axis=1)
    out["gap"] = out["aopc_morf"] - out["aopc_lerf"]
    return out


def check_fractions(fractions) -> list[float]:
    fractions = [float(f) for f in fractions]
    if not fractions or any(not 0 < f < 1 for f in fractions) or fractions != sorted(set(fractions)):
        raise InputError(f"fractions must be increasing values in (0, 1), got {fractions}")
    return fractions


def summarise(curves: dict, fractions) -> dict:
    """The figures a results file keeps from ``road_curves``: per order and fraction the accuracy
    and mean probability, and the mean of each area."""
    pct = [f"{round(100 * f):d}" for f in fractions]
    out = {order: {p: {"accuracy": float(curves["correct"][order][:, j].mean()),
                       "mean_prob": float(curves["p"][order][:, j].mean())} for j, p in enumerate(pct)}
           for order in ORDERS}
    out.update({area: float(curves[area].mean()) for area in AREAS})
    return out


def road_study(net, vocab, class_names, sentences, labels, methods, *, fractions=FRACTIONS, seed: int = 0,
               noise: float = NOISE, method_options=None, log=None) -> dict:
    """ROAD for every method on the same sentences, with paired tests against ``random`` and ``deconv``.

    Args:
        net, vocab, class_names: the model (``textdeconv.api.Run``'s).
        sentences: N token lists; labels: N gold classes.
        methods: registry names.
        fractions: increasing values in (0, 1).
        seed: the imputation noise's and the bootstrap's seed.
        noise: sigma relative to each embedding table's standard deviation.
    Returns:
        dict: ``n_sentences``, ``sigma`` (per channel), ``full`` {accuracy, mean_prob} of the
        whole sentences, ``methods`` {method: ``summarise`` + ``seconds``}, ``significance``
        {against: {area: {method: ``paired.compare_all`` row}}} for each of ``random`` and
        ``deconv`` that is among the methods.
    """
    from textdeconv.attribution import get_method, make_explainer
    from textdeconv.evaluation.paired import compare_all

    fractions = check_fractions(fractions)
    for m in methods:
        get_method(m)  # an unknown name, before any work
    if len(sentences) != len(labels):
        raise InputError(f"{len(labels)} labels for {len(sentences)} sentences")
    if not sentences:
        raise InputError("no sentences to evaluate")
    method_options = method_options or {}
    sigma = noise_sigma(net, noise)
    imputer = Imputer(net, sigma, seed)
    results, per_sentence = {}, {}
    for m in methods:
        t0 = time.perf_counter()
        expls = make_explainer(m, net, vocab, class_names, **method_options.get(m, {})).explain(sentences)
        t1 = time.perf_counter()
        curves = road_curves(imputer, expls, labels, fractions)
        if "full" not in results:
            results["full"] = {"accuracy": float(np.mean(np.array([e.predicted for e in expls]) == np.asarray(labels))),
                               "mean_prob": float(curves["p_full"].mean())}
        results.setdefault("methods", {})[m] = {**summarise(curves, fractions),
                                                "seconds": {"explain": round(t1 - t0, 2),
                                                            "road": round(time.perf_counter() - t1, 2)}}
        per_sentence[m] = curves
        if log:
            s = results["methods"][m]
            log(f"{m}: AOPC MoRF {s['aopc_morf']:.4f}, LeRF {s['aopc_lerf']:.4f} "
                f"({t1 - t0:.0f} s explaining, {time.perf_counter() - t1:.0f} s imputing)")
    significance = {}
    for against in COMPARE_WITH:
        if against in methods and len(methods) > 1:
            significance[against] = {area: compare_all({m: c[area] for m, c in per_sentence.items()}, against, seed)
                                     for area in AREAS}
    channels = [float(s) for s in sigma[:: len(sigma) // len(net.tables)]]
    return {"n_sentences": len(sentences), "sigma": channels, "full": results["full"],
            "methods": results["methods"], "significance": significance}
