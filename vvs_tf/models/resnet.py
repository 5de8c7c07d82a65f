"""ResNet backbones (18/34/50) in Keras 3 whose outputs are the named read-out points.

A backbone maps float images in [0, 1] to a dict ``{read-out name: activation}``; it normalises its
own input so exports, servers and evaluators all feed the same [0, 1] pixels. The classifier and the
final pooling are left to the heads of each objective, as in the paper.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import keras
from keras import layers

from vvs_tf.models.batchnorm import BatchNormalization
from vvs_tf.models.readouts import BLOCKS_PER_STAGE, readout_layers

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BN = dict(momentum=0.9, epsilon=1e-5)


def batch_norm(name, synchronized):
    return BatchNormalization(**_BN, synchronized=synchronized, name=name)


def conv(filters, kernel, stride, name):
    return layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False,
        # A fresh initializer per layer: its seed is drawn after keras.utils.set_random_seed, so
        # the same config seed gives the same weights in any process.
        kernel_initializer=keras.initializers.VarianceScaling(
            2.0, mode="fan_out", distribution="untruncated_normal"),
        name=name,
    )


def basic_block(x, filters, stride, name, sync_bn):
    shortcut = x
    y = conv(filters, 3, stride, f"{name}.conv1")(x)
    y = batch_norm(f"{name}.bn1", sync_bn)(y)
    y = layers.ReLU(name=f"{name}.relu1")(y)
    y = conv(filters, 3, 1, f"{name}.conv2")(y)
    y = batch_norm(f"{name}.bn2", sync_bn)(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv(filters, 1, stride, f"{name}.downsample")(x)
        shortcut = batch_norm(f"{name}.downsample_bn", sync_bn)(shortcut)
    return layers.ReLU(name=name)(layers.Add(name=f"{name}.add")([y, shortcut]))


def bottleneck_block(x, filters, stride, name, sync_bn):
    shortcut = x
    y = conv(filters, 1, 1, f"{name}.conv1")(x)
    y = batch_norm(f"{name}.bn1", sync_bn)(y)
    y = layers.ReLU(name=f"{name}.relu1")(y)
    y = conv(filters, 3, stride, f"{name}.conv2")(y)
    y = batch_norm(f"{name}.bn2", sync_bn)(y)
    y = layers.ReLU(name=f"{name}.relu2")(y)
    y = conv(4 * filters, 1, 1, f"{name}.conv3")(y)
    y = batch_norm(f"{name}.bn3", sync_bn)(y)
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = conv(4 * filters, 1, stride, f"{name}.downsample")(x)
        shortcut = batch_norm(f"{name}.downsample_bn", sync_bn)(shortcut)
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
    """
    if width < 1:
        raise ValueError(f"ResNet width must be positive, got {width}")
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std need {channels} values, got {len(mean)} and {len(std)}")
    names = readout_layers(depth)
    block_fn = bottleneck_block if depth >= 50 else basic_block
    inputs = keras.Input((input_size, input_size, channels), name="images")
    x = layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="normalize")(inputs)
    x = conv(width, 7, 2, "conv1.conv")(x)
    x = batch_norm("conv1.bn", sync_bn)(x)
    outputs = {"conv1": layers.ReLU(name="conv1")(x)}
    x = outputs["pool1"] = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(outputs["conv1"])
    for stage, count in enumerate(BLOCKS_PER_STAGE[depth]):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            block_name = f"layer{stage + 1}.{block}"
            x = outputs[block_name] = block_fn(x, width * 2**stage, stride, block_name, sync_bn)
    assert tuple(outputs) == names
    model = keras.Model(inputs, outputs, name=name or f"resnet{depth}")
    model.readout_names = names  # in network order (Keras sorts dict outputs by key)
    return model


def feature_channels(backbone: keras.Model) -> int:
    """Channels of the last read-out, the feature that objective heads pool and project."""
    return int(backbone.output[backbone.readout_names[-1]].shape[-1])
