"""LARS against a NumPy implementation of its update, one and two steps."""
import vvs_tf  # noqa: F401

import keras
import ml_collections
import numpy as np
import pytest

from vvs_tf.lars import LARS
from vvs_tf.optim import build_optimizer


def _lars_numpy(weights, gradient_steps, lr, momentum, eta, adapt, nesterov=False):
    w, v = weights.astype(np.float64), np.zeros_like(weights, np.float64)
    for g in gradient_steps:
        g = g.astype(np.float64)
        w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
        ratio = eta * w_norm / g_norm if adapt and w_norm > 0 and g_norm > 0 else 1.0
        v = momentum * v + lr * ratio * g
        w = w - (momentum * v + lr * ratio * g if nesterov else v)
    return w


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("steps", [1, 2])
def test_lars_matches_numpy(steps, nesterov):
    rng = np.random.default_rng(steps)
    kernel0 = rng.standard_normal((3, 4)).astype(np.float32)
    bias0 = rng.standard_normal(4).astype(np.float32)
    kernel, bias = keras.Variable(kernel0), keras.Variable(bias0)
    grads = [(rng.standard_normal((3, 4)).astype(np.float32) * 10 ** -i,
              rng.standard_normal(4).astype(np.float32)) for i in range(steps)]
    opt = LARS(0.5, momentum=0.9, trust_coefficient=0.02, nesterov=nesterov)
    for g_kernel, g_bias in grads:
        opt.apply_gradients([(g_kernel, kernel), (g_bias, bias)])
    expected_kernel = _lars_numpy(kernel0, [g for g, _ in grads], 0.5, 0.9, 0.02, True, nesterov)
    # The bias is 1-D: excluded from the trust ratio, plain momentum SGD.
    expected_bias = _lars_numpy(bias0, [g for _, g in grads], 0.5, 0.9, 0.02, False, nesterov)
    np.testing.assert_allclose(kernel.numpy(), expected_kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias.numpy(), expected_bias, rtol=1e-5, atol=1e-6)


def test_trust_ratio_falls_back_to_one_for_zero_weights():
    kernel = keras.Variable(np.zeros((2, 2), np.float32))
    opt = LARS(0.1, momentum=0.0, trust_coefficient=1e-3)
    opt.apply_gradients([(np.ones((2, 2), np.float32), kernel)])
    np.testing.assert_allclose(kernel.numpy(), -0.1 * np.ones((2, 2)), rtol=1e-6)


def test_step_size_is_relative_to_the_weight_norm():
    """The point of LARS: a kernel moves by lr * eta * ||w|| whatever the gradient's scale."""
    for scale in (1e-4, 1e4):
        w0 = np.full((4, 4), 3.0, np.float32)
        kernel = keras.Variable(w0)
        LARS(1.0, momentum=0.0, trust_coefficient=1e-2).apply_gradients(
            [(np.full((4, 4), scale, np.float32), kernel)])
        assert np.linalg.norm(kernel.numpy() - w0) == pytest.approx(1e-2 * np.linalg.norm(w0),
                                                                    rel=1e-4)


def test_bad_hyperparameters_are_rejected():
    with pytest.raises(ValueError, match="momentum"):
        LARS(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="trust_coefficient"):
        LARS(0.1, trust_coefficient=0.0)


def test_build_optimizer_makes_lars_from_a_config():
    cfg = ml_collections.ConfigDict(dict(
        name="lars", lr=0.3, momentum=0.9, nesterov=False, weight_decay=1e-6, schedule="constant",
        lr_drop_epochs=(), lr_drop_factor=0.1, warmup_epochs=0))
    opt = build_optimizer(cfg, steps_per_epoch=10, epochs=2)
    assert isinstance(opt, LARS)
    assert opt.momentum == pytest.approx(0.9) and opt.trust_coefficient == pytest.approx(1e-3)
