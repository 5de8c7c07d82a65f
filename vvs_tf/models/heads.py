"""Heads that objectives put on top of a backbone's last read-out; all are dropped for evaluation."""
import vvs_tf  # noqa: F401

import keras
from keras import layers, ops


class L2Normalize(layers.Layer):
    """Projects onto the unit sphere (in float32, so mixed precision keeps unit norms exact)."""

    def call(self, x):
        x = ops.cast(x, "float32")
        return x * ops.rsqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-12))


def embedding_head(in_channels: int, dim: int = 128, name: str = "embedding_head") -> keras.Model:
    """Global average pool -> dense(dim) -> L2 normalise: the IR / LA / LLP / VIE head."""
    inputs = keras.Input((None, None, in_channels))
    x = layers.GlobalAveragePooling2D()(inputs)
    x = layers.Dense(dim, name="fc")(x)
    return keras.Model(inputs, L2Normalize()(x), name=name)


def mlp_head(
    in_channels: int, hidden: int, dim: int, normalize: bool = True, pool: bool = True,
    name: str = "mlp_head",
) -> keras.Model:
    """(Pool ->) dense -> BN -> ReLU -> dense (-> L2): the SimCLR / MoCo v2 projection head."""
    inputs = keras.Input((None, None, in_channels) if pool else (in_channels,))
    x = layers.GlobalAveragePooling2D()(inputs) if pool else inputs
    x = layers.Dense(hidden, use_bias=False, name="fc1")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn1")(x)
    x = layers.ReLU()(x)
    x = layers.Dense(dim, name="fc2")(x)
    outputs = L2Normalize()(x) if normalize else layers.Activation("linear", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def classifier_head(in_channels: int, num_classes: int, name: str = "classifier") -> keras.Model:
    """Global average pool -> dense logits (float32 for a stable softmax under mixed precision)."""
    inputs = keras.Input((None, None, in_channels))
    x = layers.GlobalAveragePooling2D()(inputs)
    x = layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inputs, layers.Activation("linear", dtype="float32")(x), name=name)
