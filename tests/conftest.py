"""Shared test setup: vvs_tf before TensorFlow (oneDNN), two logical CPUs for distribution tests."""
import vvs_tf  # noqa: F401

import keras
import pytest
import tensorflow as tf

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # already initialised by an earlier import in this process
    pass


@pytest.fixture
def float64_backbone():
    """Layers built in the test compute in float64 (see tests/training/test_distribution.py for
    why replica-equality tests need it)."""
    # Both: an explicit global dtype policy (the Trainer sets one) overrides floatx for new layers.
    previous, previous_policy = keras.config.floatx(), keras.mixed_precision.global_policy()
    keras.config.set_floatx("float64")
    keras.mixed_precision.set_global_policy("float64")
    yield
    keras.config.set_floatx(previous)
    keras.mixed_precision.set_global_policy(previous_policy)
