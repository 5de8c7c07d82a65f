"""Embedding geometry against brute-force NumPy and closed forms."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest

from vvs_tf.analysis.embedding import (
    classical_mds, local_and_background_density, neighbour_grid, neighbour_quality,
    ranked_similarity_curve)


def _unit(n, d=6, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _sorted_others(x):
    similarities = x @ x.T
    np.fill_diagonal(similarities, -np.inf)
    return -np.sort(-similarities, axis=1)[:, :-1]


def test_ranked_curve_is_the_mean_of_each_rows_sorted_similarities():
    x = _unit(60)
    np.testing.assert_allclose(ranked_similarity_curve(x), _sorted_others(x).mean(0), atol=1e-5)
    sample = ranked_similarity_curve(x, depth=10, queries=20, seed=3)
    rows = np.sort(np.random.default_rng(3).choice(60, 20, replace=False))
    np.testing.assert_allclose(sample, _sorted_others(x)[rows, :10].mean(0), atol=1e-5)


def test_neighbour_quality_and_densities_follow_their_definitions():
    centres = _unit(4, seed=1)
    labels = np.repeat(np.arange(4), 25)
    x = centres[labels] + 0.05 * np.random.default_rng(2).standard_normal((100, 6))
    assert neighbour_quality(x, labels, k=10) == 1.0  # tight, well separated classes
    shuffled = np.random.default_rng(4).permutation(labels)
    assert neighbour_quality(x, shuffled, k=10) < 0.5
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    ranked = _sorted_others(unit)
    local, background = local_and_background_density(x, local=5, background=(30, 60))
    np.testing.assert_allclose(local, ranked[:, :5].mean(), atol=1e-5)
    np.testing.assert_allclose(background, ranked[:, 29:60].mean(), atol=1e-5)
    assert local > background


def test_classical_mds_recovers_planar_distances():
    points = np.random.default_rng(5).standard_normal((12, 2))
    embedded = np.hstack([points, np.zeros((12, 3))]) @ np.linalg.qr(
        np.random.default_rng(6).standard_normal((5, 5)))[0]  # rotated into 5-D
    coords = classical_mds(embedded, dims=2)
    distances = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(distances(coords), distances(points), atol=1e-8)


def test_neighbour_grid_places_each_query_then_its_neighbours():
    x = _unit(10, seed=7)
    images = np.zeros((10, 2, 2, 3))
    images[:, :, :, 0] = np.arange(10)[:, None, None]  # each image's red value is its row
    grid = neighbour_grid(images, x, query_rows=[4, 7], k=3, pad=1)
    order = np.argsort(-(x @ x.T), axis=1)
    for r, query in enumerate([4, 7]):
        expected = [query, *[j for j in order[query] if j != query][:3]]
        shown = [grid[r * 3, c * 3, 0] for c in range(4)]
        assert shown == expected


def test_bad_embeddings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="all-zero rows"):
        ranked_similarity_curve(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="finite"):
        ranked_similarity_curve(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="4 labels for 10"):
        neighbour_quality(_unit(10), np.zeros(4))
