"""Distribution helpers shared by tests (a plain module: several test folders have a conftest)."""
import vvs_tf  # noqa: F401

import tensorflow as tf


def fresh_mirrored_strategy(devices):
    """A MirroredStrategy that can coexist with earlier ones in this process: collective
    parameters cached by an earlier strategy otherwise make a later one fail with "Shape mismatch
    in the collective instance" (TensorFlow's own tests bump this class attribute the same way)."""
    tf.distribute.MirroredStrategy._collective_key_base += 100000
    return tf.distribute.MirroredStrategy(devices)
