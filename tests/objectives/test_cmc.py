"""CMC: both NCE directions against NumPy, both bank updates, the L network alone embeds, and
training lowers the loss."""
import vvs_tf  # noqa: F401

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.config import base_config, tiny, validate
from vvs_tf.data.color import lab_to_rgb, rgb_to_lab
from vvs_tf.objectives import DataInfo, create_objective

NUM_EXAMPLES, BATCH, SIZE, NOISE = 40, 8, 32, 16


def _cmc():
    c = tiny(base_config("cmc"))
    c.model.width = 8
    c.train.batch_size = BATCH
    c.objective.nce_k = NOISE
    keras.utils.set_random_seed(0)
    cmc = create_objective(c, DataInfo(NUM_EXAMPLES, 3, SIZE))
    cmc.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return cmc


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return {"image": tf.constant(rng.random((BATCH, SIZE, SIZE, 3), dtype=np.float32)),
            "index": tf.constant(rng.choice(NUM_EXAMPLES, BATCH, replace=False)),
            "label": tf.constant(rng.integers(0, 3, BATCH).astype(np.int32))}


def _ir_nce_numpy(anchors, bank, index, noise_rows, z, tau, n):
    """REFERENCE.md's IR loss with P = exp(v.m/tau) / Z and noise 1/N, here across views."""
    k = len(noise_rows)
    p_data = np.exp(np.sum(anchors * bank[index], 1) / tau) / z
    p_noise = np.exp(anchors @ bank[noise_rows].T / tau) / z
    ln_data = np.log(p_data / (p_data + k / n))
    ln_noise = np.log((k / n) / (p_noise + k / n))
    return -(ln_data.sum() + ln_noise.sum()) / len(anchors)


def test_loss_is_nce_of_each_view_against_the_other_views_bank():
    cmc = _cmc()
    assert cmc.backbone.input_shape[-1] == 1 and cmc.ab_backbone.input_shape[-1] == 2
    z_l, z_ab = 123.0, 321.0
    cmc.nce_log_z.assign(np.log(z_l))
    cmc.ab_nce_log_z.assign(np.log(z_ab))
    batch = _batch()
    loss, terms, (v_l, v_ab) = cmc.compute_loss(batch, training=False)
    noise_rows = tf.random.stateless_uniform([NOISE], cmc.step_seed(1), 0, NUM_EXAMPLES,
                                             tf.int64).numpy()
    v_l, v_ab = v_l.numpy().astype(np.float64), v_ab.numpy().astype(np.float64)
    bank_l, bank_ab, index = cmc.memory_bank.numpy(), cmc.ab_bank.numpy(), batch["index"].numpy()
    expected_l = _ir_nce_numpy(v_l, bank_ab, index, noise_rows, z_l, 0.07, NUM_EXAMPLES)
    expected_ab = _ir_nce_numpy(v_ab, bank_l, index, noise_rows, z_ab, 0.07, NUM_EXAMPLES)
    np.testing.assert_allclose(terms["loss_l"].numpy(), expected_l, rtol=1e-4)
    np.testing.assert_allclose(terms["loss_ab"].numpy(), expected_ab, rtol=1e-4)
    np.testing.assert_allclose(loss.numpy(), expected_l + expected_ab, rtol=1e-4)


def test_partition_constants_are_estimated_once():
    cmc = _cmc()
    batch = _batch()
    cmc.compute_loss(batch, training=True)
    first = (float(cmc.nce_log_z.numpy()), float(cmc.ab_nce_log_z.numpy()))
    v_l, v_ab = [v.numpy() for v in cmc.embed_views(batch["image"], training=True)]
    assert first[0] != 0.0 and first[1] != 0.0
    cmc.compute_loss(_batch(1), training=True)
    assert (float(cmc.nce_log_z.numpy()), float(cmc.ab_nce_log_z.numpy())) == first
    # The first estimate is N * mean(exp(logit)) over the noise logits (here: the first batch).
    noise_rows = tf.random.stateless_uniform([NOISE], cmc.step_seed(1), 0, NUM_EXAMPLES,
                                             tf.int64).numpy()
    banks = cmc.memory_bank.numpy(), cmc.ab_bank.numpy()
    estimate_l = np.log(NUM_EXAMPLES * np.mean(np.exp(v_l @ banks[1][noise_rows].T / 0.07)))
    assert first[0] == pytest.approx(estimate_l, rel=1e-3)


def test_both_banks_follow_the_update_formula():
    cmc = _cmc()
    batch = _batch()
    index = batch["index"].numpy()
    banks0 = cmc.memory_bank.numpy(), cmc.ab_bank.numpy()
    _, _, (v_l, v_ab) = cmc.compute_loss(batch, training=True)
    cmc.update_state(batch, (v_l, v_ab))
    for bank, bank0, v in ((cmc.memory_bank, banks0[0], v_l), (cmc.ab_bank, banks0[1], v_ab)):
        expected = bank0.copy()
        mixed = 0.5 * bank0[index] + 0.5 * v.numpy()
        expected[index] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
        np.testing.assert_allclose(bank.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cmc.bank_labels.numpy()[index], batch["label"].numpy())


def test_embedding_sees_lightness_only():
    """Recolouring an image while keeping L leaves the embedding unchanged; the ab network does
    see the change."""
    cmc = _cmc()
    rgb = _batch()["image"]
    lab = rgb_to_lab(rgb).numpy()
    greyed = lab_to_rgb(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], -1))
    np.testing.assert_allclose(cmc.embed(greyed).numpy(), cmc.embed(rgb).numpy(), atol=2e-3)
    _, ab_colour = cmc.embed_views(rgb, training=False)
    _, ab_grey = cmc.embed_views(greyed, training=False)
    assert np.abs(ab_colour.numpy() - ab_grey.numpy()).max() > 1e-2


def test_trains_without_nan_and_lowers_the_loss_on_a_fixed_batch():
    cmc = _cmc()
    batch = _batch(2)
    losses = cmc.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=8, steps_per_epoch=1,
                     verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < losses[0] - 0.1, losses


@pytest.mark.parametrize("family", ["tiny", "imagenet"])
def test_configs_are_valid(family):
    c = importlib.import_module(f"configs.{family}.cmc").get_config()
    validate(c)
    assert c.method == "cmc" and c.objective.tau == pytest.approx(0.07)
    assert c.objective.bank_momentum == pytest.approx(0.5)
