"""Shared test setup: vvs_tf before TensorFlow (oneDNN), two logical CPUs for distribution tests."""
import vvs_tf  # noqa: F401

import tensorflow as tf

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # already initialised by an earlier import in this process
    pass

