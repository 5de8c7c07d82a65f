"""The named read-out points of the backbones: one list used by training, export and evaluation.

The paper reads ResNet-18 at ten points, called in the original code ``encode_1.conv`` (the 7x7/2
stem convolution, after BN+ReLU), ``encode_1`` (after the 3x3/2 max pool) and ``encode_2`` ...
``encode_9`` (the outputs of the eight basic blocks). vvs_tf names them after the blocks they end.
"""

READOUT_LAYERS = (
    "conv1",
    "pool1",
    "layer1.0",
    "layer1.1",
    "layer2.0",
    "layer2.1",
    "layer3.0",
    "layer3.1",
    "layer4.0",
    "layer4.1",
)

# The same ten points in the names of the original unsup_vvs code, for reading its results.
ORIGINAL_NAMES = dict(
    zip(READOUT_LAYERS, ["encode_1.conv", "encode_1"] + [f"encode_{i}" for i in range(2, 10)])
)

BLOCKS_PER_STAGE = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}


def readout_layers(depth: int = 18) -> tuple:
    """Read-out names of a ResNet of this depth: stem, pool and every residual block's output."""
    if depth not in BLOCKS_PER_STAGE:
        raise ValueError(f"ResNet depth must be one of {sorted(BLOCKS_PER_STAGE)}, got {depth}")
    blocks = [
        f"layer{stage + 1}.{block}"
        for stage, count in enumerate(BLOCKS_PER_STAGE[depth])
        for block in range(count)
    ]
    return ("conv1", "pool1", *blocks)


def time_averaged(network):
    """A video network (clips in, read-outs [B, T', H', W', C] out) with each read-out averaged
    over time: how video models are evaluated (REFERENCE.md section 1)."""
    import keras
    import tensorflow as tf

    outputs = {name: keras.layers.Lambda(lambda x: tf.reduce_mean(x, axis=1),
                                         name=f"{name}.time_mean")(network.output[name])
               for name in network.readout_names}
    model = keras.Model(network.input, outputs, name=f"{network.name}_time_mean")
    model.readout_names = network.readout_names
    return model
