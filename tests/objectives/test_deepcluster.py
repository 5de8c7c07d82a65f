"""DeepCluster: Sobel input, PCA whitening, balanced weighted cross-entropy against NumPy/SciPy/
scikit-learn, a round that recovers planted clusters and re-initialises the head, and training."""
import vvs_tf  # noqa: F401

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from vvs_tf.config import base_config, tiny, validate
from vvs_tf.objectives import DataInfo, create_objective
from vvs_tf.objectives.deepcluster import (
    DeepClusterRound, balanced_weights, pca_whiten, sobel_input)

NUM, SIZE, GROUPS = 32, 32, 4


def _deepcluster(num_clusters=GROUPS, pca_dim=3):
    c = tiny(base_config("deepcluster"))
    c.model.width = 8
    c.train.batch_size = 8
    c.objective.num_clusters = num_clusters
    c.objective.pca_dim = pca_dim
    keras.utils.set_random_seed(0)
    objective = create_objective(c, DataInfo(NUM, 1, SIZE))
    objective.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return objective


def _planted_images():
    """4 kinds of pattern (horizontal, vertical, diagonal stripes, checks), 8 noisy copies each."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:SIZE, :SIZE] / 4.0
    patterns = [np.sin(y * np.pi), np.sin(x * np.pi), np.sin((x + y) * np.pi / 2),
                np.sign(np.sin(x * np.pi)) * np.sign(np.sin(y * np.pi))]
    groups = np.repeat(np.arange(GROUPS), NUM // GROUPS)
    grey = np.stack([patterns[g] for g in groups]) * 0.4 + 0.5
    grey = grey + rng.normal(0, 0.03, grey.shape)
    images = np.repeat(np.clip(grey, 0, 1)[..., None], 3, -1).astype(np.float32)
    return images, groups


def _dataset(images, order, batch=8):
    data = {"image": images[order], "index": order.astype(np.int64),
            "label": np.zeros(len(order), np.int32)}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch)


def test_sobel_input_matches_scipy():
    rng = np.random.default_rng(1)
    images = rng.random((2, 9, 11, 3)).astype(np.float32)
    grey = images.mean(-1).astype(np.float64)
    # TF's REFLECT padding is SciPy's "mirror" (the edge pixel is not repeated).
    dy = np.stack([ndimage.sobel(g, axis=0, mode="mirror") for g in grey])
    dx = np.stack([ndimage.sobel(g, axis=1, mode="mirror") for g in grey])
    got = sobel_input(images).numpy()
    np.testing.assert_allclose(got, np.stack([dy, dx], -1) / 8 + 0.5, atol=1e-5)
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_pca_whitening_matches_scikit_learn():
    rng = np.random.default_rng(2)
    features = rng.standard_normal((50, 6)) @ rng.standard_normal((6, 6)) + 3.0
    ours = pca_whiten(features, 4)
    theirs = PCA(4, whiten=True).fit_transform(features)
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    # Components are defined up to sign: compare the sign-free Gram matrices.
    np.testing.assert_allclose(ours @ ours.T, theirs @ theirs.T, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="PCA to 7"):
        pca_whiten(features, 7)


def test_balanced_weights_equalise_clusters():
    ids = np.array([0, 0, 0, 1, 2, 2])
    weights = balanced_weights(ids, 4)
    np.testing.assert_allclose(weights, [6 / 9, 2.0, 1.0, 0.0], rtol=1e-6)  # N / (K' n_c)
    np.testing.assert_allclose(np.bincount(ids, weights[ids], 4)[:3], 2.0)  # equal mass


def test_loss_is_balanced_cross_entropy_on_the_batch_cluster_ids():
    objective = _deepcluster()
    ids = np.array([0, 1, 1, 2, 2, 2, 3, 3] * 4)
    objective.start_round(ids, seed=5)
    images, _ = _planted_images()
    index = np.array([3, 0, 9, 31, 17, 6, 12, 25])
    batch = {"image": tf.constant(images[index]), "index": tf.constant(index)}
    loss, extras, _ = objective.compute_loss(batch, training=False)
    logits = objective.classifier(objective.features(batch["image"])).numpy().astype(np.float64)
    labels = ids[index]
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    weights = balanced_weights(ids, GROUPS)[labels]
    expected = np.mean(-weights * log_softmax[np.arange(8), labels])
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    assert extras["accuracy"].numpy() == pytest.approx(np.mean(logits.argmax(1) == labels))


def test_round_recovers_planted_clusters_and_resets_the_head():
    objective = _deepcluster()
    images, groups = _planted_images()
    order = np.random.default_rng(3).permutation(NUM)  # any order: ids are stored by index
    objective.train_step({"image": tf.constant(images[:8]), "index": tf.range(8)})
    dense = objective.classifier.get_layer("fc")
    slots = [v for v in objective.optimizer.variables if v.name.startswith("fc_")]
    assert sorted(v.name for v in slots) == ["fc_bias_momentum", "fc_kernel_momentum"]
    assert all(np.abs(v.numpy()).max() > 0 for v in slots)
    others = [v for v in objective.optimizer.variables if v.name.endswith("_momentum")
              and not v.name.startswith("fc_") and np.abs(v.numpy()).max() > 0]
    old_kernel = dense.kernel.numpy()

    (callback,) = objective.epoch_callbacks(_dataset(images, order))
    assert isinstance(callback, DeepClusterRound)
    callback.on_epoch_begin(0)

    ids = objective.cluster_ids.numpy()
    assert adjusted_rand_score(groups, ids) == pytest.approx(1.0)
    np.testing.assert_allclose(objective.cluster_weights.numpy(), balanced_weights(ids, GROUPS))
    kernel = dense.kernel.numpy()
    assert not np.allclose(kernel, old_kernel) and 0.005 < kernel.std() < 0.02
    np.testing.assert_array_equal(dense.bias.numpy(), 0.0)
    assert all(np.abs(v.numpy()).max() == 0 for v in slots)
    assert all(np.abs(v.numpy()).max() > 0 for v in others)  # the backbone keeps its momentum
    callback.on_epoch_begin(1)
    assert callback.last_stats["clusters/nmi_previous"] == pytest.approx(1.0)


def test_round_needs_every_training_example():
    objective = _deepcluster()
    images, _ = _planted_images()
    (callback,) = objective.epoch_callbacks(_dataset(images, np.arange(NUM - 8)))
    with pytest.raises(ValueError, match="every training example once"):
        callback.on_epoch_begin(0)


def test_trains_without_nan_and_lowers_the_loss_on_a_fixed_batch():
    objective = _deepcluster()
    images, groups = _planted_images()
    objective.start_round(groups, seed=1)
    index = np.array([0, 1, 8, 9, 16, 17, 24, 25])  # two of each cluster
    batch = {"image": tf.constant(images[index]), "index": tf.constant(index)}
    losses = objective.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=8,
                           steps_per_epoch=1, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < losses[0] - 0.1, losses


def test_configs_that_cannot_work_fail_before_training():
    with pytest.raises(ValueError, match="num_clusters=64"):
        _deepcluster(num_clusters=64)
    with pytest.raises(ValueError, match="pca_dim=65"):
        _deepcluster(pca_dim=65)  # the width-8 ResNet-18 has 64 feature channels


@pytest.mark.parametrize("family", ["tiny", "imagenet"])
def test_configs_are_valid(family):
    c = importlib.import_module(f"configs.{family}.deepcluster").get_config()
    validate(c)
    assert c.objective.pca_dim <= 8 * c.model.width  # ResNet-18's last block has 8x width
    assert c.objective.num_clusters <= c.data.num_images or family == "imagenet"
