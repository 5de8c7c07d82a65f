"""Shared test setup: vvs_tf before TensorFlow (oneDNN), two logical CPUs for distribution tests."""
import vvs_tf  # noqa: F401

import tensorflow as tf

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # already initialised by an earlier import in this process
    pass


def fresh_mirrored_strategy(devices):
    """A MirroredStrategy that can coexist with earlier ones in this process: collective
    parameters cached by an earlier strategy otherwise make a later one fail with "Shape mismatch
    in the collective instance" (TensorFlow's own tests bump this class attribute the same way)."""
    tf.distribute.MirroredStrategy._collective_key_base += 100000
    return tf.distribute.MirroredStrategy(devices)
