"""Word vectors from the train split's own reviews, to start the embedding layer from
(TrainConfig.embedding_init "ppmi-svd").

Learning its word vectors from the labels alone, a recurrent classifier sees most words a
handful of times and overfits within two or three epochs. How the same reviews use each word
already places words used alike close together, before any label is read: on IMDB's train split
the nearest to "awful" are "terrible", "horrible", "atrocious". The vectors are the positive
pointwise mutual information of words a few positions apart, reduced by a truncated SVD (Levy,
Goldberg and Dagan, 2015); numpy computes them in under a minute. They read only the train
split's token ids: no labels, no eval or test reviews, nothing downloaded.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from components.common import features as F

logger = logging.getLogger(__name__)

# Neighbours on each side that count as a word's context, each weighted 1/distance.
WINDOW = 5
# The most frequent ids serve as contexts: rarer contexts add noise, and memory grows with them
# (the counts are vocab_size x CONTEXT_IDS).
CONTEXT_IDS = 10_000
# Words counted per pass (see cooccurrence_counts): 160 MB of float64 with 10,000 contexts.
ROW_BLOCK = 2_000
# Context frequencies raised to this power (word2vec's), which damps PMI's bias to rare contexts.
CONTEXT_SMOOTHING = 0.75
# Randomized SVD (Halko, Martinsson and Tropp, 2011): extra directions sketched and power
# iterations, which make the top singular directions accurate for a matrix whose spectrum
# falls off slowly.
OVERSAMPLING = 32
POWER_ITERATIONS = 2
# Coordinates this close (relative) to a column's largest count as ties for its sign.
SIGN_TIE = 1e-3
# The vectors are scaled to the size of Keras' default embedding initializer (uniform in
# +-0.05), so the learning rate that suits a random start suits them too.
VECTOR_STD = 0.05


def cooccurrence_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each id (row) has each context id (column) within WINDOW positions.

    Each pair counts 1/distance; padding and out-of-vocabulary ids count for nothing.
    """
    context_ids = min(CONTEXT_IDS, vocab_size)
    counts = np.zeros((vocab_size, context_ids), dtype=np.float32)
    for distance in range(1, WINDOW + 1):
        before, after = ids[:, :-distance].ravel(), ids[:, distance:].ravel()
        for words, contexts in ((before, after), (after, before)):
            real = (words >= F.RESERVED_IDS) & (contexts >= F.RESERVED_IDS)
            real &= contexts < context_ids
            words, contexts = words[real], contexts[real]
            # np.bincount sums in float64; counting a block of rows at a time keeps that
            # temporary small (ROW_BLOCK x context_ids) beside the float32 totals.
            for first in range(0, vocab_size, ROW_BLOCK):
                rows = min(ROW_BLOCK, vocab_size - first)
                in_block = (words >= first) & (words < first + rows)
                pairs = (words[in_block] - first) * context_ids + contexts[in_block]
                weights = np.full(len(pairs), 1 / distance)
                block = np.bincount(pairs, weights=weights, minlength=rows * context_ids)
                counts[first : first + rows] += block.reshape(rows, context_ids)
    return counts


def positive_pmi(counts: np.ndarray) -> np.ndarray:
    """max(0, log P(word, context) / (P(word) P(context))), with smoothed context frequencies.

    Computed in place: `counts` becomes the result, so no second matrix of its size is needed.
    """
    total = counts.sum(dtype=np.float64)
    word_totals = counts.sum(axis=1, keepdims=True, dtype=np.float64)
    context_weights = counts.sum(axis=0, keepdims=True, dtype=np.float64) ** CONTEXT_SMOOTHING
    pmi = counts
    with np.errstate(divide="ignore", invalid="ignore"):
        context_totals = context_weights / context_weights.sum() * total
        pmi *= (total / context_totals).astype(np.float32)
        pmi /= word_totals.astype(np.float32)
        np.log(pmi, out=pmi)
    # Pairs never seen (log 0) and words never seen (0/0) carry no association.
    np.maximum(pmi, 0, out=pmi)
    return np.nan_to_num(pmi, copy=False, nan=0.0)


def truncated_svd_vectors(matrix: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """Each row's coordinates on the matrix's top `dim` singular directions, scaled by the
    square roots of the singular values (which weigh directions less unevenly than the values).

    Where the matrix has fewer than `dim` directions, the remaining coordinates are 0.
    """
    rank = min(dim + OVERSAMPLING, *matrix.shape)
    rng = np.random.default_rng(seed)
    sketch = matrix @ rng.standard_normal((matrix.shape[1], rank), dtype=np.float32)
    for _ in range(POWER_ITERATIONS):
        basis, _ = np.linalg.qr(sketch)
        sketch = matrix @ (matrix.T @ basis)
    basis, _ = np.linalg.qr(sketch)
    left, singular, _ = np.linalg.svd(basis.T @ matrix, full_matrices=False)
    # Past the matrix's rank (a small corpus has fewer words than `dim`), singular values and
    # their directions are round-off, which differs between BLAS kernels: kept, they would give
    # two machines different vectors. numpy's matrix_rank draws the line where this one does.
    tolerance = singular.max() * max(matrix.shape) * np.finfo(matrix.dtype).eps
    directions = int(np.count_nonzero(singular[:dim] > tolerance))
    vectors = (basis @ left[:, :directions]) * np.sqrt(singular[:directions])
    # A direction's sign is arbitrary, and which sign LAPACK returns can follow round-off too:
    # each column's largest coordinate is made positive (scikit-learn's svd_flip). Of
    # coordinates within round-off of the largest, the first row's decides, so round-off cannot
    # pick +a on one machine and -a on another. (Directions of equal singular values may still
    # rotate between machines: no rule of signs fixes those.)
    size = np.abs(vectors)
    largest = (size >= size.max(axis=0) * (1 - SIGN_TIE)).argmax(axis=0)
    vectors *= np.sign(vectors[largest, np.arange(directions)])
    return np.pad(vectors, [(0, 0), (0, dim - directions)])


def ppmi_svd_vectors(ids: np.ndarray, vocab_size: int, dim: int, seed: int) -> np.ndarray:
    """A (vocab_size, dim) embedding matrix from id sequences; rows of ids seen near no word
    more often than chance (padding, OOV, ids past a small corpus' vocabulary) are 0."""
    start = time.monotonic()
    matrix = positive_pmi(cooccurrence_counts(ids, vocab_size))
    associated = matrix.any(axis=1)
    if not associated.any():
        raise ValueError(
            "train: embedding_init 'ppmi-svd' found no in-vocabulary words near each other more "
            "often than chance in the reviews it read, to learn word vectors from"
        )
    vectors = truncated_svd_vectors(matrix, dim, seed)
    vectors[~associated] = 0
    logger.info(
        "train: ppmi-svd word vectors for %d ids from %d reviews, %d of %d directions, in %.1f s",
        vocab_size,
        len(ids),
        np.count_nonzero(vectors.any(axis=0)),
        dim,
        time.monotonic() - start,
    )
    # Scaled by the words that have vectors: the other rows' zeros would inflate them.
    return (vectors * (VECTOR_STD / vectors[associated].std())).astype(np.float32)
