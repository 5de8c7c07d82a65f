"""A Conv2D whose kernel gradient, where the kernel is large for its feature map, is one matrix
product of input patches.

oneDNN's weight-gradient kernel is slow when there are many kernel weights per output position: on
2 CPU cores at batch 128, a 3x3 512->512 convolution on 2x2 maps (ResNet-18's last stage at 64 px)
took 121-137 ms where ``patches(x)^T @ dy`` took 21-28 ms, and the three such convolutions were a
quarter of the whole 64-px training step; on 7x7 maps (224 px) the patch product is 1.6x faster.
With few weights per position (early stages) oneDNN wins. benchmarks/conv_kernel_grad.py prints
the table: every shape in it with at least ``MIN_WEIGHTS_PER_POSITION`` kernel weights per output
position was faster with patches (1.1-6.3x), those with 9216 went either way (0.8-1.2x), those
with 3009 or fewer were slower or even. The forward pass and the input gradient stay TensorFlow's.

Strided 1x1 kernels with few input channels take the patch gradient always, for correctness:
oneDNN's weight gradient for them (NHWC, stride > 1, fewer input channels than its channel block:
8 with AVX2, 16 with AVX-512) writes past its workspace and returns wrong values or hangs (oneDNN
issue #6035, open). Here, batch 32 of 32x32x4 maps into 8 channels at stride 2 came back with
relative errors of 0.6-1.0 against NumPy; 8 or more input channels were exact on AVX2. Only
width-reduced networks have such layers (a ResNet-18's narrowest downsample has 64 channels).
"""
import vvs_tf  # noqa: F401

import keras
import tensorflow as tf
from keras import layers

MIN_WEIGHTS_PER_POSITION = 16384  # kh*kw*cin*cout / (output height * width) that takes patches
ONEDNN_MAX_CHANNEL_BLOCK = 16  # strided 1x1 kernels with fewer input channels: see module doc


def kernel_gradient_by_patches(inputs, upstream, kernel_shape, strides, padding):
    """dL/dkernel of a 2-D convolution as patches(inputs)^T @ upstream.

    extract_patches flattens each window in (row, column, channel) order, the order of an HWIO
    kernel's first three axes, and pads "SAME" windows exactly as the convolution does.
    """
    kh, kw, cin, cout = kernel_shape
    if kh == kw == 1:  # no window and, with either padding, no border: a strided slice
        patches = inputs[:, ::strides[0], ::strides[1], :]
    else:
        patches = tf.image.extract_patches(
            inputs, [1, kh, kw, 1], [1, strides[0], strides[1], 1], [1, 1, 1, 1], padding)
    gradient = tf.matmul(tf.reshape(patches, [-1, kh * kw * cin]),
                         tf.reshape(upstream, [-1, cout]), transpose_a=True)
    return tf.reshape(gradient, kernel_shape)


def conv2d_with_patch_kernel_grad(inputs, kernel, strides, padding):
    """tf.nn.conv2d (NHWC, no dilation) whose kernel gradient is kernel_gradient_by_patches."""
    strides = tuple(strides)

    @tf.custom_gradient
    def convolve(x, k):
        def gradient(upstream):
            dx = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=k, out_backprop=upstream,
                strides=[1, *strides, 1], padding=padding)
            return dx, kernel_gradient_by_patches(x, upstream, k.shape, strides, padding)

        return tf.nn.conv2d(x, k, [1, *strides, 1], padding), gradient

    return convolve(inputs, kernel)


@keras.saving.register_keras_serializable(package="vvs_tf")
class Conv2D(layers.Conv2D):
    """keras.layers.Conv2D with ``patch_kernel_grad``: where the kernel is large for the (static)
    output map (see module doc), its gradient comes from kernel_gradient_by_patches. Strided 1x1
    kernels with fewer than ONEDNN_MAX_CHANNEL_BLOCK input channels take it with the switch off
    too (oneDNN computes theirs wrong). Same weights, outputs and checkpoints."""

    def __init__(self, *args, patch_kernel_grad: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.patch_kernel_grad = bool(patch_kernel_grad)

    def uses_patch_gradient(self, input_shape) -> bool:
        if self.data_format != "channels_last" or tuple(self.dilation_rate) != (1, 1):
            return False
        if (tuple(self.kernel_size) == (1, 1) and max(self.strides) > 1
                and input_shape[-1] < ONEDNN_MAX_CHANNEL_BLOCK):
            return True
        if not self.patch_kernel_grad:
            return False
        height, width = self.compute_output_shape(input_shape)[1:3]
        if height is None or width is None:
            return False
        weights = self.kernel_size[0] * self.kernel_size[1] * input_shape[-1] * self.filters
        return weights >= MIN_WEIGHTS_PER_POSITION * height * width

    def convolution_op(self, inputs, kernel):
        if not self.uses_patch_gradient(inputs.shape):
            return super().convolution_op(inputs, kernel)
        return conv2d_with_patch_kernel_grad(
            inputs, keras.ops.cast(kernel, inputs.dtype), self.strides,
            self.padding.upper())

    def get_config(self):
        return {**super().get_config(), "patch_kernel_grad": self.patch_kernel_grad}
