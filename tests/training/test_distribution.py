"""MirroredStrategy on two logical CPUs reproduces the one-device update (weights and bank).

Why the backbone runs in float64 here: the tiny ResNet (32 px input, so layer4 is 1x1) is so
sensitive to rounding that two runs differing only in summation order need not agree after a few
steps. When a ReLU input lies within the float32 rounding difference of zero, its sign can differ
between the runs (in the earlier float32, lr 0.05 version of this test: one of 2048 elements at
the end of layer2.0 at IR's step 2, 1.9e-6 on one device and -7.6e-6 on two replicas). That one
element changes the lower layers' gradients by several percent, and lr x momentum spreads it. A
1e-6 perturbation of the weights changes IR's first gradient by ~30% the same way, on one device.
float64 shrinks the rounding difference by ~1e9, so a mismatch left over is a real difference in
what the replicas compute (noise rows, log Z, loss scaling, bank gathers), not a ReLU kink. The
head and the losses stay float32 (L2Normalize casts), which keeps the weights 1e-6 apart after
three IR steps.
"""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from replicas import fresh_mirrored_strategy

from vvs_tf.config import base_config, tiny
from vvs_tf.objectives import DataInfo, create_objective

# A global batch of 8: oneDNN's convolution gradients differ from the split computation's by ~1e-3
# relative at larger batches, which BatchNorm amplifies to a few percent of a step.
NUM_EXAMPLES, BATCH, SIZE, STEPS = 64, 8, 32, 3
# lr 0.01: NCE's gradients are large (lr 0.05 moves the weights by 1.5 in three steps), and every
# step multiplies a difference between the runs by ~10-30 here, so a smaller step keeps 3 steps
# far from the tolerance (measured: IR 1.6e-6, LA 1e-7 in weights after 3 steps).
LEARNING_RATE, TOLERANCE = 0.01, 1e-4


def _config(method):
    c = tiny(base_config(method))
    c.model.width = 8
    c.model.sync_batchnorm = True  # global-batch BN statistics, as one device computes them
    c.objective.nce_k = 32  # IR trains with NCE and its fixed normaliser Z
    if method == "llp":
        c.objective.density_neighbours = 8
    if method == "la":
        c.objective.background_k = 16
        c.objective.num_clusterings = 2
        c.objective.num_clusters = 4
    return c


def _batches():
    rng = np.random.default_rng(0)
    images = rng.random((NUM_EXAMPLES, SIZE, SIZE, 3), dtype=np.float32)
    data = {"image": images, "label": rng.integers(0, 4, NUM_EXAMPLES).astype(np.int32),
            "index": rng.permutation(NUM_EXAMPLES).astype(np.int64)}
    return tf.data.Dataset.from_tensor_slices(data).batch(BATCH, drop_remainder=True)


def _train(method, strategy, steps=STEPS):
    config = _config(method)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        objective = create_objective(config, DataInfo(NUM_EXAMPLES, 4, SIZE))
        objective.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9))
    if method == "la":
        labels = np.random.default_rng(1).integers(0, 4, (2, NUM_EXAMPLES))
        objective.cluster_labels.assign(labels)
    if method == "llp":  # some examples without a pseudo-label, the others with a confidence
        pseudo = np.random.default_rng(1).integers(-1, 4, NUM_EXAMPLES)
        objective.pseudo_labels.assign(pseudo)
        objective.confidence.assign(np.where(pseudo >= 0, 0.8, 0.0))
    objective.fit(_batches(), epochs=1, steps_per_epoch=steps, verbose=0)
    return objective


@pytest.mark.parametrize("method", ["ir", "la", "llp"])
def test_two_replicas_match_one_device(method, float64_backbone):
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(cpus) >= 2, "tests/conftest.py should have split the CPU into two logical devices"
    single = _train(method, tf.distribute.OneDeviceStrategy(cpus[0]))
    mirrored = _train(method, fresh_mirrored_strategy(cpus[:2]))
    assert single.backbone.trainable_variables[0].dtype == "float64"
    for a, b in zip(single.trainable_variables, mirrored.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=TOLERANCE, err_msg=a.path)
    np.testing.assert_allclose(single.memory_bank.numpy(), mirrored.memory_bank.numpy(),
                               atol=TOLERANCE)
    # Both runs trained: the weights and the rows of seen examples left their initial values.
    initial = create_objective(_config(method), DataInfo(NUM_EXAMPLES, 4, SIZE))
    assert np.abs(single.memory_bank.numpy() - initial.memory_bank.numpy()).max() > 1e-2
    moved = max(np.abs(a.numpy() - b.numpy()).max()
                for a, b in zip(single.trainable_variables, initial.trainable_variables))
    assert moved > 100 * TOLERANCE
    if method == "ir":  # NCE's normaliser was estimated at step 1 and then kept, equal on both
        assert single.nce_log_z.numpy() != 0.0
        np.testing.assert_allclose(single.nce_log_z.numpy(), mirrored.nce_log_z.numpy(), rtol=1e-6)
