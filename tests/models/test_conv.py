"""The patch kernel gradient equals TensorFlow's convolution gradient, the Conv2D that uses it
computes Keras's Conv2D's outputs and gradients, and it is used exactly where the kernel has at
least MIN_WEIGHTS_PER_POSITION (16384) weights per output position, or is a strided 1x1 kernel
with fewer input channels than oneDNN's channel block."""
import ml_collections
import numpy as np
import pytest
import tensorflow as tf
import keras

from vvs_tf import config as config_lib
from vvs_tf.models import build_backbone
from vvs_tf.models.conv import Conv2D, kernel_gradient_by_patches
from vvs_tf.models.resnet import build_resnet


@pytest.mark.parametrize("size,kernel,stride,padding", [
    (2, 3, 1, "SAME"), (1, 3, 1, "SAME"), (4, 3, 2, "SAME"), (5, 3, 2, "SAME"), (4, 1, 2, "SAME"),
    (9, 7, 2, "SAME"), (3, 3, 1, "SAME"), (4, 3, 1, "VALID"), (7, 3, 2, "VALID")])
def test_patch_kernel_gradient_equals_tensorflows(size, kernel, stride, padding):
    rng = np.random.default_rng(size * 10 + kernel)
    x = tf.constant(rng.normal(size=(3, size, size, 5)).astype(np.float32))
    out = -(-size // stride) if padding == "SAME" else (size - kernel) // stride + 1
    upstream = tf.constant(rng.normal(size=(3, out, out, 4)).astype(np.float32))
    want = tf.compat.v1.nn.conv2d_backprop_filter(
        x, [kernel, kernel, 5, 4], upstream, [1, stride, stride, 1], padding)
    got = kernel_gradient_by_patches(x, upstream, (kernel, kernel, 5, 4), (stride, stride), padding)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


CIN, COUT = 64, 128  # 3x3: 73728 kernel weights, patches for maps of up to 4 positions


def _conv_pair(stride, dtype="float32"):
    rng = np.random.default_rng(stride)
    pair = [keras.layers.Conv2D(COUT, 3, strides=stride, padding="same", use_bias=False,
                                dtype=dtype),
            Conv2D(COUT, 3, strides=stride, padding="same", use_bias=False, dtype=dtype,
                   patch_kernel_grad=True)]
    weights = rng.normal(0, 0.05, size=(3, 3, CIN, COUT)).astype(np.float32)
    for layer in pair:
        layer.build((None, None, None, CIN))
        layer.kernel.assign(weights)
    return pair


def _outputs_and_gradients(layer, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    return [y, *tape.gradient(loss, [x, layer.kernel])]


@pytest.mark.parametrize("size,stride,patched", [(2, 1, True), (4, 2, True), (3, 1, False)])
def test_layer_matches_keras_conv_and_patches_only_large_kernels_per_position(
        size, stride, patched):
    keras_conv, conv = _conv_pair(stride)
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(8, size, size, CIN)).astype(np.float32))
    out = -(-size // stride)
    upstream = tf.constant(rng.normal(size=(8, out, out, COUT)).astype(np.float32))
    assert conv.uses_patch_gradient(x.shape) == patched
    want = _outputs_and_gradients(keras_conv, x, upstream)
    got = _outputs_and_gradients(conv, x, upstream)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_unknown_map_size_and_switch_off_use_tensorflows_gradient():
    conv = Conv2D(6, 3, padding="same", patch_kernel_grad=True)
    assert not conv.uses_patch_gradient((8, None, None, 4))
    assert Conv2D(COUT, 3, padding="same", patch_kernel_grad=True).uses_patch_gradient((8, 2, 2, CIN))
    assert not Conv2D(COUT, 3, padding="same").uses_patch_gradient((8, 2, 2, CIN))


@pytest.mark.parametrize("cin", [3, 4, 12])
def test_strided_1x1_kernel_gradient_is_right_where_onednns_is_wrong(cin):
    """oneDNN issue #6035: with fewer input channels than its channel block, TF's own gradient for
    this layer came back with relative errors of 0.6-1.0 on AVX2 at this size (see models/conv.py);
    the layer takes the sliced-input product even with the switch off, and matches NumPy."""
    rng = np.random.default_rng(cin)
    x = tf.constant(rng.normal(size=(32, 32, 32, cin)).astype(np.float32))
    upstream = rng.normal(size=(32, 16, 16, 8)).astype(np.float32)
    conv = Conv2D(8, 1, strides=2, padding="same", use_bias=False)
    assert conv.uses_patch_gradient(x.shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(conv(x) * upstream)
    got = tape.gradient(loss, conv.kernel).numpy()[0, 0]
    want = np.einsum("bhwc,bhwo->co", x.numpy()[:, ::2, ::2].astype(np.float64), upstream)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    assert not Conv2D(8, 1, strides=2).uses_patch_gradient((32, 32, 32, 16))
    assert not Conv2D(8, 1, strides=1).uses_patch_gradient((32, 32, 32, 4))


def test_mixed_precision_gradient_reaches_the_float32_kernel():
    keras_conv, conv = _conv_pair(1, dtype="mixed_float16")
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(8, 2, 2, CIN)).astype(np.float16))
    upstream = tf.constant(rng.normal(size=(8, 2, 2, COUT)).astype(np.float32))
    want = _outputs_and_gradients(keras_conv, x, upstream)
    got = _outputs_and_gradients(conv, x, upstream)
    assert got[0].dtype == tf.float16 and got[2].dtype == tf.float32
    for w, g in zip(want, got):
        np.testing.assert_allclose(np.float32(g), np.float32(w), rtol=2e-2, atol=2e-2)


def _native_and_patched(build, inputs, seed, select=lambda output: output):
    """For patch_kernel_grad False, then True: (network, selected output, gradients of its sum of
    squares), built from the same seed; and the names of the patched network's patch layers."""
    results = []
    for patched in (False, True):
        keras.utils.set_random_seed(seed)
        net = build(patched)
        with tf.GradientTape() as tape:
            output = select(net(inputs, training=True))
            loss = tf.reduce_sum(tf.square(output))
        results.append((net, output, tape.gradient(loss, net.trainable_variables)))
    patched_layers = {layer.name for layer in results[1][0].layers
                      if isinstance(layer, Conv2D) and layer.uses_patch_gradient(layer.input.shape)}
    return results, patched_layers


def _assert_same_outputs_and_gradients(results):
    (native, want, native_grads), (_, got, patched_grads) = results
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for variable, w, g in zip(native.trainable_variables, native_grads, patched_grads):
        scale = float(tf.reduce_max(tf.abs(w))) + 1e-12
        np.testing.assert_allclose(g / scale, w / scale, atol=1e-4, err_msg=variable.path)


def test_resnet_with_patch_gradients_trains_like_the_native_one():
    """Same weights, same output, same gradients; at 32 px and width 8 the 3x3 convolutions of
    layer4 (1x1 maps, 18432-36864 weights per position) take patches, layer3's (2x2, 2304-9216)
    do not; of the 1x1 shortcuts only layer2's, with 8 input channels (the strided-1x1 rule)."""
    x = tf.constant(np.random.default_rng(3).random((4, 32, 32, 3), dtype=np.float32))

    results, patched_layers = _native_and_patched(
        lambda patched: build_resnet(18, width=8, input_size=32, patch_kernel_grad=patched),
        x, seed=0, select=lambda outputs: outputs["layer4.1"])
    assert patched_layers == {"layer2.0.downsample",
                              *(f"layer4.{b}.conv{c}" for b in (0, 1) for c in (1, 2))}
    _assert_same_outputs_and_gradients(results)


def test_config_switch_reaches_the_backbone_and_bad_values_fail():
    config = config_lib.base_config("supervised")
    config.model.input_size = 32
    config.model.width = 4
    for choice, expected in (("patches", True), ("native", False), ("auto", True)):  # no GPU here
        config.model.kernel_grad = choice
        net = build_backbone(config.model)
        assert net.get_layer("layer4.1.conv2").patch_kernel_grad is expected
    legacy = ml_collections.ConfigDict({k: v for k, v in config.model.items() if k != "kernel_grad"})
    assert build_backbone(legacy).get_layer("layer4.1.conv2").patch_kernel_grad  # older workdirs
    config.model.kernel_grad = "fast"
    with pytest.raises(ValueError, match="model.kernel_grad 'fast'"):
        config_lib.validate(config)


def test_mirrored_decoder_with_patch_gradients_matches_the_native_one():
    """The autoencoder's decoder mirrors layer4 on 1x1 maps at 32 px: same output and gradients."""
    from vvs_tf.models.decoders import mirrored_resnet_decoder

    code = tf.constant(np.random.default_rng(5).normal(size=(4, 16)).astype(np.float32))
    results, patched_layers = _native_and_patched(
        lambda patched: mirrored_resnet_decoder(16, 32, width=8, patch_kernel_grad=patched),
        code, seed=1)
    assert patched_layers == {"mirror.layer4.1.conv1", "mirror.layer4.1.conv2"}
    _assert_same_outputs_and_gradients(results)
