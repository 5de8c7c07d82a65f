"""ResNet backbones (18/34/50) in Keras 3 whose outputs are the named read-out points.

A backbone maps float images in [0, 1] to a dict ``{read-out name: activation}``; it normalises its
own input so exports, servers and evaluators all feed the same [0, 1] pixels. The classifier and the
final pooling are left to the heads of each objective, as in the paper.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import keras
from keras import layers

from vvs_tf.models.batchnorm import BatchNormalization
from vvs_tf.models.conv import Conv2D
from vvs_tf.models.readouts import BLOCKS_PER_STAGE, readout_layers

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BN = dict(momentum=0.9, epsilon=1e-5)


class LayerMaker:
    """Builds the convolutions and BatchNorms of one network with its options; `dims=3` makes the
    video network's (kernel k and stride s mean k x k x k and s x s x s unless given per axis)."""

    def __init__(self, sync_bn: bool, patch_kernel_grad: bool, dims: int = 2):
        self.sync_bn = sync_bn
        self.patch_kernel_grad = patch_kernel_grad
        self.dims = dims

    def bn(self, name):
        return BatchNormalization(**_BN, synchronized=self.sync_bn, name=name)

    def conv(self, filters, kernel, stride, name):
        options = dict(
            strides=stride, padding="same", use_bias=False,
            # A fresh initializer per layer: its seed is drawn after keras.utils.set_random_seed,
            # so the same config seed gives the same weights in any process.
            kernel_initializer=keras.initializers.VarianceScaling(
                2.0, mode="fan_out", distribution="untruncated_normal"),
            name=name)
        if self.dims == 3:
            return layers.Conv3D(filters, kernel, **options)
        return Conv2D(filters, kernel, patch_kernel_grad=self.patch_kernel_grad, **options)

    def max_pool(self, name):
        pool = layers.MaxPooling3D if self.dims == 3 else layers.MaxPooling2D
        return pool(3, 2, padding="same", name=name)


def basic_block(x, filters, stride, name, make: LayerMaker):
    shortcut = x
    y = make.conv(filters, 3, stride, f"{name}.conv1")(x)
    y = make.bn(f"{name}.bn1")(y)
    y = layers.ReLU(name=f"{name}.relu1")(y)
    y = make.conv(filters, 3, 1, f"{name}.conv2")(y)
    y = make.bn(f"{name}.bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = make.conv(filters, 1, stride, f"{name}.downsample")(x)
        shortcut = make.bn(f"{name}.downsample_bn")(shortcut)
    return layers.ReLU(name=name)(layers.Add(name=f"{name}.add")([y, shortcut]))


def bottleneck_block(x, filters, stride, name, make: LayerMaker):
    shortcut = x
    y = make.conv(filters, 1, 1, f"{name}.conv1")(x)
    y = make.bn(f"{name}.bn1")(y)
    y = layers.ReLU(name=f"{name}.relu1")(y)
    y = make.conv(filters, 3, stride, f"{name}.conv2")(y)
    y = make.bn(f"{name}.bn2")(y)
    y = layers.ReLU(name=f"{name}.relu2")(y)
    y = make.conv(4 * filters, 1, 1, f"{name}.conv3")(y)
    y = make.bn(f"{name}.bn3")(y)
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = make.conv(4 * filters, 1, stride, f"{name}.downsample")(x)
        shortcut = make.bn(f"{name}.downsample_bn")(shortcut)
    return layers.ReLU(name=name)(layers.Add(name=f"{name}.add")([y, shortcut]))


def build_resnet(
    depth: int = 18,
    width: int = 64,
    input_size=None,
    channels: int = 3,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    name: str = None,
    sync_bn: bool = False,
    patch_kernel_grad: bool = False,
    frames: int = None,
) -> keras.Model:
    """A ResNet whose call returns the dict of its read-out activations.

    Args:
      depth: 18, 34 (basic blocks) or 50 (bottleneck blocks).
      width: channels of the stem; stages have width, 2x, 4x, 8x (x4 for bottlenecks). The paper's
        networks use 64; tiny test configs use 8-16.
      input_size: fixed square input size, or None for any size.
      channels: input channels (3 for RGB, 1 for the L channel of CMC/colorization, 2 for ab).
      mean, std: per-channel normalisation applied to the [0, 1] input.
      sync_bn: BatchNorm statistics over the global batch of all replicas (as one device would
        compute them) instead of per replica.
      patch_kernel_grad: kernel gradients of convolutions with many weights per output position
        as one matmul of input patches (faster than oneDNN's on CPU; see models/conv.py).
      frames: clip length of the video network (REFERENCE.md: 3-D convolutions throughout, a
        7x7x7 stem with temporal stride 1, a 3x3x3/2 max pool, blocks striding time as space);
        its read-outs are 5-D [B, T', H', W', C]. None: the image network.
    """
    if width < 1:
        raise ValueError(f"ResNet width must be positive, got {width}")
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std need {channels} values, got {len(mean)} and {len(std)}")
    names = readout_layers(depth)
    block_fn = bottleneck_block if depth >= 50 else basic_block
    if frames is not None and frames < 1:
        raise ValueError(f"a video ResNet needs frames >= 1, got {frames}")
    video = frames is not None
    spatial = (input_size, input_size, channels)
    inputs = keras.Input((frames, *spatial) if video else spatial, name="clips" if video else "images")
    x = layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="normalize")(inputs)
    make = LayerMaker(sync_bn, patch_kernel_grad, dims=3 if video else 2)
    x = make.conv(width, 7, (1, 2, 2) if video else 2, "conv1.conv")(x)
    x = make.bn("conv1.bn")(x)
    outputs = {"conv1": layers.ReLU(name="conv1")(x)}
    x = outputs["pool1"] = make.max_pool("pool1")(outputs["conv1"])
    for stage, count in enumerate(BLOCKS_PER_STAGE[depth]):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            block_name = f"layer{stage + 1}.{block}"
            x = outputs[block_name] = block_fn(x, width * 2**stage, stride, block_name, make)
    assert tuple(outputs) == names
    model = keras.Model(inputs, outputs, name=name or f"resnet{depth}{'_3d' if video else ''}")
    model.readout_names = names  # in network order (Keras sorts dict outputs by key)
    return model


def feature_channels(backbone: keras.Model) -> int:
    """Channels of the last read-out, the feature that objective heads pool and project."""
    return int(backbone.output[backbone.readout_names[-1]].shape[-1])
