"""LA's re-clustering: labels of the bank at the epoch boundary, installed before the first step or,
with overlap_steps, at that fixed step of the epoch while training goes on with the old labels."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest

from tiny_steps import build, tiny_config
from vvs_tf.objectives.clustering import ReclusterCallback, multi_kmeans
from vvs_tf.objectives.memory_bank import random_unit_rows


def _la(num_examples=96):
    config = tiny_config("la")
    config.objective.num_clusterings, config.objective.num_clusters = 2, 4
    config.objective.background_k = 8
    return build(config, num_examples=num_examples)


def _expected(bank, callback, epoch):
    return multi_kmeans(bank, callback.objective.num_clusterings, callback.objective.num_clusters,
                        callback.seed + 1000 * epoch, callback.iterations)


def test_first_epoch_is_clustered_before_its_first_step_even_with_overlap():
    objective = _la()
    callback = ReclusterCallback(objective, seed=3, iterations=5, overlap_steps=4)
    bank = objective.memory_bank.numpy()
    callback.on_epoch_begin(0)
    np.testing.assert_array_equal(objective.cluster_labels.numpy(), _expected(bank, callback, 0))
    assert callback.last_stats["clusters/nonempty"] == pytest.approx(4.0)


def test_overlapped_labels_come_from_the_boundary_bank_and_land_at_the_fixed_step():
    objective = _la()
    callback = ReclusterCallback(objective, seed=3, iterations=5, overlap_steps=2)
    callback.on_epoch_begin(0)
    old = objective.cluster_labels.numpy()
    boundary_bank = random_unit_rows(96, objective.memory_bank.shape[1], 7)
    objective.memory_bank.assign(boundary_bank)
    callback.on_epoch_begin(1)
    # Training moves the bank on while the clustering runs; the labels must not see that.
    objective.memory_bank.assign(random_unit_rows(96, objective.memory_bank.shape[1], 8))
    for step in range(2):
        callback.on_train_batch_begin(step)
        np.testing.assert_array_equal(objective.cluster_labels.numpy(), old)
    callback.on_train_batch_begin(2)
    np.testing.assert_array_equal(objective.cluster_labels.numpy(), _expected(boundary_bank, callback, 1))
    assert callback.last_stats["clusters/stall_seconds"] >= 0.0


def test_an_epoch_shorter_than_the_overlap_installs_its_labels_at_its_end():
    objective = _la()
    callback = ReclusterCallback(objective, seed=1, iterations=5, overlap_steps=100)
    callback.on_epoch_begin(0)
    bank = random_unit_rows(96, objective.memory_bank.shape[1], 9)
    objective.memory_bank.assign(bank)
    callback.on_epoch_begin(1)
    callback.on_train_batch_begin(0)
    callback.on_epoch_end(1)
    np.testing.assert_array_equal(objective.cluster_labels.numpy(), _expected(bank, callback, 1))


def test_negative_overlap_is_rejected():
    with pytest.raises(ValueError, match="recluster_overlap_steps"):
        ReclusterCallback(_la(), seed=0, overlap_steps=-1)


def test_small_banks_are_clustered_without_faiss_warnings(capfd):
    # 64 clusters of 1843 rows (the embedded default) is under faiss's 39 points per centroid.
    rng = np.random.default_rng(0)
    labels = multi_kmeans(rng.normal(size=(1843, 16)).astype(np.float32), 2, 64, 0)
    assert "WARNING" not in capfd.readouterr().err
    assert labels.shape == (2, 1843) and labels.min() >= 0 and labels.max() < 64
