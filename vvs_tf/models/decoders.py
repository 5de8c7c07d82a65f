"""Decoders that turn backbone outputs back into images or maps, built from one up-sampling block.

The block is Laina et al.'s (3DV 2016) up-projection: 2x "unpooling" (each value to the top-left
corner of a 2x2 cell, zeros elsewhere), then a residual pair of branches, conv(k)-BN-ReLU-conv(3)-BN
and a projection conv(k)-BN, summed and rectified. It is the up-sampling mirror of a strided ResNet
basic block (two convolutions plus a projection shortcut), so

- ``up_projection_decoder`` (depth prediction; colorization's 1/8-resolution head) stacks
  up-projections on the last read-out, as Laina et al. do on a ResNet; and
- ``mirrored_resnet_decoder`` (the autoencoder) runs the ResNet-18 encoder backwards: each stride-1
  basic block becomes the same basic block, each stride-2 block an up-projection to the previous
  stage's width, and the max pool and the 7x7/2 stem become two 2x up-samplings, the last a 7x7
  convolution to the output channels (as the original unsup_vvs autoencoder).
"""
import vvs_tf  # noqa: F401

import keras
from keras import layers, ops

from vvs_tf.models.readouts import BLOCKS_PER_STAGE
from vvs_tf.models.resnet import LayerMaker, basic_block

_NATIVE = LayerMaker(sync_bn=False, patch_kernel_grad=False)


class Unpool2x(layers.Layer):
    """[B, H, W, C] -> [B, 2H, 2W, C] with x at (2i, 2j) and zeros at the other three positions."""

    def call(self, x):
        shape = ops.shape(x)
        b, h, w, c = shape[0], shape[1], shape[2], shape[3]
        zeros = ops.zeros_like(x)
        wide = ops.reshape(ops.stack([x, zeros], axis=3), (b, h, 2 * w, c))
        return ops.reshape(ops.stack([wide, ops.zeros_like(wide)], axis=2), (b, 2 * h, 2 * w, c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, c)


def up_projection(x, filters: int, kernel_size: int, name: str, make: LayerMaker = _NATIVE):
    """Laina et al.'s up-projection block: unpool 2x, residual conv branches, ReLU."""
    u = Unpool2x(name=f"{name}.unpool")(x)
    y = make.conv(filters, kernel_size, 1, f"{name}.conv1")(u)
    y = make.bn(f"{name}.bn1")(y)
    y = layers.ReLU(name=f"{name}.relu1")(y)
    y = make.conv(filters, 3, 1, f"{name}.conv2")(y)
    y = make.bn(f"{name}.bn2")(y)
    s = make.conv(filters, kernel_size, 1, f"{name}.projection")(u)
    s = make.bn(f"{name}.projection_bn")(s)
    return layers.ReLU(name=name)(layers.Add(name=f"{name}.add")([y, s]))


def _float32_output(x, name):
    return layers.Activation("linear", dtype="float32", name=name)(x)


def up_projection_decoder(
    in_channels: int, filters=(256, 128, 64, 32), out_channels: int = 1, kernel_size: int = 5,
    output_size=None, name: str = "up_projection_decoder",
) -> keras.Model:
    """Feature map -> 1x1 conv-BN -> one up-projection (x2) per entry of ``filters`` -> 3x3 conv.

    The result has ``out_channels`` linear channels at 2**len(filters) times the input resolution,
    bilinearly resized to ``output_size`` (int or (h, w)) when given. Laina et al. use four blocks
    (1024 -> 512, 256, 128, 64 on ResNet-50); the unsup_vvs depth network used 256, 128, 64, 32 on
    ResNet-18.
    """
    if not filters:
        raise ValueError("up_projection_decoder needs at least one up-projection (filters is empty)")
    if kernel_size < 1 or min(filters) < 1:
        raise ValueError(f"kernel_size and filters must be positive, got {kernel_size}, {filters}")
    inputs = keras.Input((None, None, in_channels), name="features")
    x = _NATIVE.conv(int(filters[0]), 1, 1, "reduce")(inputs)
    x = _NATIVE.bn("reduce_bn")(x)
    for i, f in enumerate(filters):
        x = up_projection(x, int(f), kernel_size, f"up{i + 1}")
    x = layers.Conv2D(out_channels, 3, padding="same", name="output_conv")(x)
    if output_size is not None:
        h, w = (output_size, output_size) if isinstance(output_size, int) else output_size
        x = layers.Resizing(int(h), int(w), interpolation="bilinear", name="resize")(x)
    return keras.Model(inputs, _float32_output(x, "output"), name=name)


def mirrored_resnet_decoder(
    code_dim: int, image_size: int, width: int = 64, depth: int = 18, out_channels: int = 3,
    name: str = "mirrored_resnet_decoder", patch_kernel_grad: bool = False,
) -> keras.Model:
    """A code vector -> an image [B, S, S, out_channels]: the ResNet encoder run backwards.

    dense(code -> (S/32)^2 x 8*width) -> BN-ReLU -> stages 4..1 mirrored (basic blocks, the strided
    one replaced by an up-projection to the previous width) -> up-projection (mirror of the max
    pool) -> unpool + 7x7 conv to ``out_channels`` (mirror of the stem), linear output.
    ``patch_kernel_grad`` as for the backbone (models/conv.py): the mirrored last stage has the
    same tiny maps and wide kernels.
    """
    if depth not in BLOCKS_PER_STAGE or depth >= 50:
        raise ValueError(f"mirrored_resnet_decoder mirrors basic-block ResNets (18, 34), got depth {depth}")
    if image_size % 32:
        raise ValueError(f"the mirrored ResNet decoder up-samples 32x from a (S/32)^2 map: image size "
                         f"{image_size} is not a multiple of 32")
    side = image_size // 32
    top = 8 * width
    inputs = keras.Input((code_dim,), name="code")
    x = layers.Dense(side * side * top, name="project")(inputs)
    x = layers.Reshape((side, side, top), name="unflatten")(x)
    make = LayerMaker(sync_bn=False, patch_kernel_grad=patch_kernel_grad)
    x = make.bn("project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for stage in reversed(range(4)):
        for block in reversed(range(BLOCKS_PER_STAGE[depth][stage])):
            block_name = f"mirror.layer{stage + 1}.{block}"
            if stage > 0 and block == 0:
                x = up_projection(x, width * 2 ** (stage - 1), 3, block_name, make)
            else:
                x = basic_block(x, width * 2**stage, 1, block_name, make)
    x = up_projection(x, width, 3, "mirror.pool1", make)
    x = Unpool2x(name="mirror.conv1.unpool")(x)
    x = layers.Conv2D(out_channels, 7, padding="same", name="mirror.conv1")(x)
    return keras.Model(inputs, _float32_output(x, "output"), name=name)
