"""Filter dictionary: what each convolution filter of a TextCNN responds to.

For filter j of width w:  z[t,j] = sum_{k<w} emb[t+k] . K_w[k,:,j] + b_j,  p_j = max_t ReLU(z)[t,j].

1. Top n-grams. Over a split's sentences, the window at each sentence's switch t* = argmax_t h[t,j]
   (the first one on exact ties) with its activation p_j; the k highest, counting each distinct
   window once (distinct as the model sees it: the same token ids, so ``Good`` and ``good`` are
   one n-gram under a lower-casing vocabulary, and so are two unknown words). Sentences where the
   filter is dead (p_j = 0) have no switch and are left out.
2. Nearest words. The deconvnet reconstruction of the filter (deconv.py, step 3) with a unit
   signal at one switch s: U = e_{s,j}, R = conv1d_transpose(U, K_w), so R[s+k] = K_w[k,:,j] for
   k < w and R is zero elsewhere — the transposed convolution of a unit signal lays the kernel's
   rows onto the window, exactly. Position k of the filter is therefore the vector K_w[k,:,j]
   (``filter_reconstruction``); its nearest vocabulary words are those whose embeddings have the
   largest cosine with it (the words that, alone at position k, raise z[t,j] most per unit norm).
   Multichannel: the kernel's input axis is [static dim | trained dim], in the order the model
   concatenates its tables, so each half is compared with its own table (``channel`` column).
   PAD (always the zero vector) and UNK (no word) are never reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from textdeconv.data.vocab import PAD_ID, UNK_ID, length_batches, pad_batch
from textdeconv.errors import InputError

NGRAM_COLUMNS = ("width", "filter", "rank", "ngram", "activation", "sentence_id", "sentences")
WORD_COLUMNS = ("width", "filter", "position", "channel", "rank", "word", "cosine")


def max_activations(net, vocab, sentences, batch_size: int = 256, progress=None):
    """Max-over-time activation and switch of every filter for every sentence, batched by length.

    Args:
        sentences: token lists; progress: optional ``f(done, total)`` called after each batch.
    Returns:
        pooled (n, F_total) float32 p_j; switch (n, F_total) int32, the token index where the
        winning window starts (negative = in the left padding; the first window on exact ties).
        Columns are the widths in ``net.widths`` order, filters 0..F-1 within each.
    """
    ids = [vocab.encode(vocab.prepare(s)) for s in sentences]
    for i, x in enumerate(ids):
        if not x:
            raise InputError(f"sentence {i} is empty")

    # one trace for every batch shape (reduce_retracing traced three times: 0.6 s each under load),
    # no autograph (the body has no tensor-dependent Python control flow to convert)
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False)
    def pool(batch):
        h = net.conv_outputs(net.embed(batch), batch)  # the model's own seam: ReLU + window mask
        return (tf.concat([tf.reduce_max(x, axis=1) for x in h], axis=-1),
                tf.concat([tf.argmax(x, axis=1, output_type=tf.int32) for x in h], axis=-1))

    total = sum(int(c.filters) for c in net.convs)
    pooled, switch = np.zeros((len(ids), total), np.float32), np.zeros((len(ids), total), np.int32)
    done = 0
    for batch in length_batches([len(x) for x in ids], batch_size):
        p, s = pool(tf.constant(pad_batch([ids[i] for i in batch], net.pad)))
        pooled[batch], switch[batch] = p.numpy(), s.numpy() - net.pad
        done += len(batch)
        if progress:
            progress(done, len(ids))
    return pooled, switch


def filter_columns(net):
    """(width, filter index) of every pooled column, in ``max_activations`` order."""
    return [(w, j) for w, conv in zip(net.widths, net.convs) for j in range(int(conv.filters))]


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_index=True, return_counts=True)[1:]`` of an (m, w) integer
    array, by one ``lexsort`` (np.unique's row comparisons cost seconds over a split's filters):
    ``first`` the index of each distinct row's first occurrence, ``counts`` how often it occurs,
    distinct rows in lexicographic order."""
    m = len(rows)
    if not m:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort(rows.T[::-1])  # by column 0, then 1, ...; stable: equal rows keep index order
    ranked = rows[order]
    new = np.ones(m, dtype=bool)
    new[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    return order[starts], np.diff(np.append(starts, m))


def top_ngrams(net, vocab, sentences, sentence_ids=None, top_k: int = 10, batch_size: int = 256,
               progress=None, activations=None) -> pd.DataFrame:
    """The ``top_k`` distinct n-grams of every filter by max-over-time activation (module docstring).

    Args:
        activations: ``max_activations``' result, if already computed.
    Returns:
        one row per filter x rank, columns ``NGRAM_COLUMNS``: the n-gram (``<pad>`` for padding),
        its activation, the sentence it was taken from (the first of equal ones) and ``sentences``,
        how many sentences have their switch on this same window. Filters dead on every sentence
        have no rows.
    """
    if top_k < 1:
        raise InputError(f"top_k must be at least 1, got {top_k}")
    sentences = [vocab.prepare(s) for s in sentences]  # the run's vocab.clean: the tokens the model read
    sentence_ids = list(range(1, len(sentences) + 1)) if sentence_ids is None else list(sentence_ids)
    if len(sentence_ids) != len(sentences):
        raise InputError(f"got {len(sentence_ids)} sentence ids for {len(sentences)} sentences")
    pooled, switch = activations if activations is not None else max_activations(
        net, vocab, sentences, batch_size, progress)
    pad = net.pad
    # every sentence laid out as the model reads it alone (pad PAD, ids, pad PAD), end to end: a
    # window starting at padded position s of sentence i is flat[offset[i] + s : ... + w]
    lengths = np.array([len(s) + 2 * pad for s in sentences])
    offset = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.zeros(int(lengths.sum()), np.int64)
    for o, s in zip(offset, sentences):
        flat[o + pad:o + pad + len(s)] = vocab.encode(s)
    rows = []
    for col, (w, j) in enumerate(filter_columns(net)):
        alive = np.flatnonzero(pooled[:, col] > 0)
        if not len(alive):
            continue
        act = pooled[alive, col]
        order = np.lexsort((alive, -act))  # strongest first, then split order
        starts = offset[alive[order]] + switch[alive[order], col] + pad
        windows = flat[starts[:, None] + np.arange(w)]  # (m, w) ids
        first, counts = unique_rows(windows)
        best = np.argsort(first)[:top_k]  # first occurrence in strength order = the n-gram's best
        for rank, u in enumerate(best, 1):
            i = alive[order[first[u]]]
            tokens = sentences[i]
            start = int(switch[i, col])
            ngram = " ".join(tokens[t] if 0 <= t < len(tokens) else "<pad>" for t in range(start, start + w))
            rows.append((w, j, rank, ngram, pooled[i, col], sentence_ids[i], int(counts[u])))
    frame = pd.DataFrame(rows, columns=list(NGRAM_COLUMNS))
    frame["activation"] = frame["activation"].astype(np.float32)
    return frame


def filter_reconstruction(net, width: int, j: int) -> np.ndarray:
    """(w, E) deconvnet reconstruction of filter j of ``width`` from a unit signal at its switch:
    row k is what conv1d_transpose puts on the window's k-th word, i.e. the kernel slice K_w[k,:,j]."""
    conv = net.convs[net.widths.index(width)]
    return np.asarray(conv.kernel.numpy()[:, :, j], np.float32)


def channel_names(net) -> list[str]:
    """One name per embedding channel, in the kernel's input order."""
    return ["static", "non-static"] if net.channels == 2 else [net.tables[0].name]


def top_columns(scores: np.ndarray, n: int) -> np.ndarray:
    """(rows, n) column indices of each row's ``n`` largest scores, largest first, equal scores by
    column index: ``np.argsort(-scores, axis=1, kind="stable")[:, :n]``, without sorting whole rows
    (only the columns reaching each row's n-th largest score, ties included, are sorted)."""
    if n >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")[:, :n]
    kth = -np.partition(-scores, n - 1, axis=1)[:, n - 1:n]  # (rows, 1): each row's n-th largest
    out = np.empty((scores.shape[0], n), np.int64)
    for r, (row, t) in enumerate(zip(scores, kth[:, 0])):
        cand = np.flatnonzero(row >= t)  # in column order
        out[r] = cand[np.argsort(-row[cand], kind="stable")[:n]]
    return out


def nearest_words(net, vocab, neighbours: int = 5) -> pd.DataFrame:
    """For every filter, position and channel: the ``neighbours`` vocabulary words (PAD and UNK
    excluded) whose embeddings have the largest cosine with ``filter_reconstruction``'s row.

    Returns:
        columns ``WORD_COLUMNS``; ``position`` 0..w-1; ``channel`` the table's name (``embedding``),
        or ``static`` / ``non-static`` for multichannel; ties broken by vocabulary id. A zero kernel
        row has cosine 0 with every word.
    """
    if neighbours < 1:
        raise InputError(f"neighbours must be at least 1, got {neighbours}")
    rows = []
    words = np.array(vocab.itos, dtype=object)
    for c, (table, name) in enumerate(zip(net.tables, channel_names(net))):
        emb = np.asarray(table.embeddings.numpy(), np.float64)
        unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        keep = np.setdiff1d(np.arange(len(emb)), [PAD_ID, UNK_ID])
        n = min(neighbours, len(keep))
        for w, conv in zip(net.widths, net.convs):
            kernel = np.asarray(conv.kernel.numpy(), np.float64)[:, c * net.dim:(c + 1) * net.dim, :]  # (w, dim, F)
            f = kernel.shape[2]
            vecs = kernel.transpose(2, 0, 1).reshape(f * w, net.dim)  # row = (filter, position)
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            cos = (vecs @ unit[keep].T)  # (F*w, V-2)
            top = top_columns(cos, n)
            for r, (j, k) in enumerate((j, k) for j in range(f) for k in range(w)):
                for rank, v in enumerate(top[r], 1):
                    rows.append((w, j, k, name, rank, words[keep[v]], float(cos[r, v])))
    return pd.DataFrame(rows, columns=list(WORD_COLUMNS))


@dataclass
class FilterDictionary:
    """``ngrams`` (``top_ngrams``), ``words`` (``nearest_words``) and ``summary``: one row per
    filter with ``fires`` (fraction of sentences where p_j > 0), ``mean_activation`` and ``bias``."""

    ngrams: pd.DataFrame
    words: pd.DataFrame
    summary: pd.DataFrame


def filter_dictionary(net, vocab, sentences, sentence_ids=None, top_k: int = 10, neighbours: int = 5,
                      batch_size: int = 256, progress=None, activations=None) -> FilterDictionary:
    """Top n-grams and nearest words of every filter, from one batched pass over ``sentences``
    (``activations``: ``max_activations``' result, if already computed)."""
    if top_k < 1 or neighbours < 1:
        raise InputError(f"top_k and neighbours must be at least 1, got {top_k} and {neighbours}")
    if not sentences:
        raise InputError("no sentences to scan")
    acts = activations if activations is not None else max_activations(net, vocab, sentences, batch_size, progress)
    ngrams = top_ngrams(net, vocab, sentences, sentence_ids, top_k, activations=acts)
    cols = filter_columns(net)
    bias = np.concatenate([conv.bias.numpy() for conv in net.convs])
    summary = pd.DataFrame({"width": [w for w, _ in cols], "filter": [j for _, j in cols],
                            "fires": (acts[0] > 0).mean(axis=0), "mean_activation": acts[0].mean(axis=0),
                            "bias": bias})
    return FilterDictionary(ngrams, nearest_words(net, vocab, neighbours), summary)
