"""SimCLR: its loss is NT-Xent of its own projections, it trains, and its configs are usable."""
import vvs_tf  # noqa: F401

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.config import base_config, tiny, validate
from vvs_tf.lars import LARS
from vvs_tf.objectives import DataInfo, create_objective

NUM, SIZE = 8, 32


def _config(**objective):
    c = tiny(base_config("simclr"))
    c.model.width = 8
    c.train.batch_size = NUM
    for key, value in objective.items():
        c.objective[key] = value
    return c


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((NUM, SIZE, SIZE, 3), dtype=np.float32)
    second = np.clip(base[:, :, ::-1] + rng.normal(0, 0.05, base.shape), 0, 1)  # flip + noise
    return {"views": tf.constant(np.stack([base, second], 1).astype(np.float32)),
            "index": tf.range(NUM), "label": tf.zeros([NUM], tf.int32)}


def _nt_xent_numpy(z, tau):
    z = z.astype(np.float64)
    n = len(z) // 2
    sim = z @ z.T / tau
    np.fill_diagonal(sim, -np.inf)
    partner = (np.arange(2 * n) + n) % (2 * n)
    log_norm = np.log(np.exp(sim).sum(1))
    return np.mean(log_norm - sim[np.arange(2 * n), partner])


def test_loss_is_nt_xent_of_the_projections():
    objective = create_objective(_config(temperature=0.3), DataInfo(NUM, 1, SIZE))
    batch = _batch()
    loss, extras, _ = objective.compute_loss(batch, training=False)
    views = batch["views"].numpy()
    z = objective.project(np.concatenate([views[:, 0], views[:, 1]]), training=False).numpy()
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(loss.numpy(), _nt_xent_numpy(z, 0.3), rtol=1e-5)
    assert set(extras) == {"contrast_accuracy"}


def test_trains_without_nan_and_lowers_the_loss_on_a_fixed_batch():
    keras.utils.set_random_seed(1)
    objective = create_objective(_config(temperature=0.2), DataInfo(NUM, 1, SIZE))
    objective.compile(optimizer=LARS(0.5, momentum=0.9, trust_coefficient=0.02))
    batch = _batch(1)
    data = tf.data.Dataset.from_tensors(batch).repeat()
    losses = objective.fit(data, epochs=10, steps_per_epoch=1, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < losses[0] - 0.1, losses


def test_bad_settings_fail_before_training():
    with pytest.raises(ValueError, match="temperature"):
        create_objective(_config(temperature=0.0), DataInfo(NUM, 1, SIZE))
    objective = create_objective(_config(), DataInfo(NUM, 1, SIZE))
    with pytest.raises(ValueError, match="views"):
        objective.compute_loss({"image": tf.zeros([2, SIZE, SIZE, 3]), "index": tf.range(2)})


@pytest.mark.parametrize("family", ["tiny", "imagenet"])
def test_configs_follow_the_recipe(family):
    c = importlib.import_module(f"configs.{family}.simclr").get_config()
    validate(c)
    assert c.method == "simclr" and c.optimizer.name == "lars" and c.model.sync_batchnorm
    if family == "imagenet":  # SimCLR's large-batch recipe: lr = 0.3 * batch / 256
        assert c.train.batch_size == 4096
        assert c.optimizer.lr == pytest.approx(0.3 * c.train.batch_size / 256)
    else:
        assert (c.model.width, c.data.image_size, c.data.source) == (16, 32, "embedded")
