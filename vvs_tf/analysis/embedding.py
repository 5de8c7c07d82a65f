"""Geometry of an embedding (REFERENCE.md, analyses): how similarity falls off with neighbour
rank, how often near neighbours share a label, local against background density, and a classical
MDS picture of a few classes.

Embeddings are rows of unit vectors (a memory bank, or normalised features). Neighbour searches
are exact inner-product searches (faiss; GPU with faiss-gpu), so a 1.28M-row bank works with a
sample of queries instead of an N x N matrix.
"""
import vvs_tf  # noqa: F401

import numpy as np

from vvs_tf.analysis.grids import image_grid
from vvs_tf.objectives.clustering import nearest_other_rows


def _unit_rows(embeddings):
    x = np.asarray(embeddings, np.float32)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"embeddings must be a finite [N, D] array, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("embeddings contain all-zero rows, which have no direction")
    return x / norms


def _query_rows(n, queries, seed):
    if queries is None or queries >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, queries, replace=False))


def neighbour_similarities(embeddings, depth: int, queries: int = None, seed: int = 0,
                           rows=None):
    """(query rows, cosine similarities [Q, depth] to each query's `depth` nearest other rows,
    best first, their row ids [Q, depth]). Queries: `rows`, else a seeded sample of `queries`
    rows, else every row."""
    x = _unit_rows(embeddings)
    if not 1 <= depth < len(x):
        raise ValueError(f"depth must be in [1, {len(x) - 1}] for {len(x)} rows, got {depth}")
    rows = _query_rows(len(x), queries, seed) if rows is None else np.asarray(rows, np.int64)
    return (rows, *nearest_other_rows(x, rows, depth))


def ranked_similarity_curve(embeddings, depth: int = None, queries: int = None, seed: int = 0):
    """Mean over queries of the cosine similarity to the k-th nearest other row, k = 1..depth
    (all N-1 by default): LA's embedding is locally dense and globally sparse."""
    depth = len(embeddings) - 1 if depth is None else depth
    return neighbour_similarities(embeddings, depth, queries, seed)[1].mean(axis=0)


def neighbour_quality(embeddings, labels, k: int = 10, queries: int = None, seed: int = 0):
    """Mean fraction of each query's k nearest other rows that share its label."""
    labels = np.asarray(labels)
    if len(labels) != len(embeddings):
        raise ValueError(f"{len(labels)} labels for {len(embeddings)} embeddings")
    rows, _, ids = neighbour_similarities(embeddings, k, queries, seed)
    return float(np.mean(labels[ids] == labels[rows][:, None]))


def local_and_background_density(embeddings, local: int = 30, background=(1000, 4096),
                                 queries: int = None, seed: int = 0):
    """(mean similarity to the `local` nearest rows, mean similarity to the background-th..
    background-th nearest rows, ranks 1-based and inclusive)."""
    first, last = background
    if local < 1 or not 1 <= first <= last:
        raise ValueError(f"need local >= 1 and 1 <= background[0] <= background[1], got {local}, "
                         f"{background}")
    _, similarities, _ = neighbour_similarities(embeddings, max(local, last), queries, seed)
    return float(similarities[:, :local].mean()), float(similarities[:, first - 1:last].mean())


def classical_mds(embeddings, dims: int = 2):
    """Coordinates [N, dims] whose Euclidean distances best match the rows' (Torgerson MDS: the
    top eigenvectors of the double-centred squared-distance matrix). For a few classes' rows."""
    x = np.asarray(embeddings, np.float64)
    squared = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    n = len(x)
    centring = np.eye(n) - np.ones((n, n)) / n
    gram = -0.5 * centring @ squared @ centring
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:dims]
    return vectors[:, order] * np.sqrt(np.maximum(values[order], 0.0))


def neighbour_grid(images, embeddings, query_rows, k: int = 8, pad: int = 2):
    """An image grid (analysis.grids.image_grid) with one row per query: the query image followed
    by its k nearest neighbours' images."""
    rows, _, ids = neighbour_similarities(embeddings, k, rows=query_rows)
    order = np.concatenate([rows[:, None], ids], axis=1).reshape(-1)
    return image_grid(np.asarray(images)[order], columns=k + 1, pad=pad)
