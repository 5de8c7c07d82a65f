"""The fused BatchNormalization computes what Keras's layer computes, forward, backward and in its
moving statistics, and leaves the cases the fused kernel does not cover to Keras."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from vvs_tf.models.batchnorm import BatchNormalization


def _pair(shape, dtype="float32"):
    rng = np.random.default_rng(0)
    layers = []
    for cls in (keras.layers.BatchNormalization, BatchNormalization):
        layer = cls(momentum=0.9, epsilon=1e-5, dtype=dtype)
        layer.build(shape)
        layers.append(layer)
    gamma, beta = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    for layer in layers:
        layer.gamma.assign(gamma.astype(dtype))
        layer.beta.assign(beta.astype(dtype))
    x = tf.constant(rng.normal(2.0, 3.0, shape).astype(dtype))
    upstream = tf.constant(rng.normal(size=shape).astype(dtype))
    return layers, x, upstream


def _forward_backward(layer, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * upstream)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [y] + grads


def test_training_pass_matches_keras_outputs_gradients_and_moving_statistics():
    (reference, fused), x, upstream = _pair((8, 5, 5, 16))
    for _ in range(3):  # the moving averages compound over steps
        want = _forward_backward(reference, x, upstream)
        got = _forward_backward(fused, x, upstream)
    for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), want, got):
        scale = float(tf.reduce_max(tf.abs(a)))
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5 * scale, err_msg=name)
    # Biased batch variance in the moving average, as Keras keeps it (not the kernel's n/(n-1)).
    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused.moving_variance.numpy(), reference.moving_variance.numpy(),
                               rtol=1e-5)
    expected = 0.9**3 + (1.0 - 0.9**3) * np.var(x.numpy(), axis=(0, 1, 2))
    np.testing.assert_allclose(fused.moving_variance.numpy(), expected, rtol=1e-4)


def test_inference_uses_the_moving_statistics():
    (reference, fused), x, _ = _pair((4, 3, 3, 8))
    for layer in (reference, fused):
        layer.moving_mean.assign(np.linspace(-1, 1, 8).astype(np.float32))
        layer.moving_variance.assign(np.linspace(0.5, 2, 8).astype(np.float32))
    np.testing.assert_allclose(fused(x, training=False).numpy(), reference(x, training=False).numpy(),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape,dtype,synchronized", [((6, 8), "float32", False),
                                                      ((4, 3, 3, 8), "float64", False),
                                                      ((4, 3, 3, 8), "float32", True)])
def test_cases_outside_the_fused_kernel_take_keras_path(shape, dtype, synchronized):
    (reference, fused), x, upstream = _pair(shape, dtype)
    reference.synchronized = fused.synchronized = synchronized
    assert not fused._fused_applies(x, True, None)
    for a, b in zip(_forward_backward(reference, x, upstream), _forward_backward(fused, x, upstream)):
        np.testing.assert_array_equal(b.numpy(), a.numpy())
