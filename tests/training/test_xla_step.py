"""runtime.jit_compile: an XLA-compiled training step computes what the graph step computes (LA's
compiled step takes the static-shape full top-k instead of the sampled bound)."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from tests.objectives.tiny_steps import build, smooth_images, tiny_config


def _trained_weights(method, jit, steps=2):
    config = tiny_config(method, width=4)
    config.data.image_size = config.model.input_size = 16
    config.runtime.jit_compile = jit
    if method == "la":
        config.objective.background_k = 16
        config.objective.num_clusters = 4
    objective = build(config, num_examples=64)
    if method == "la":
        labels = np.random.default_rng(0).integers(0, 4, objective.cluster_labels.shape)
        objective.cluster_labels.assign(labels.astype(np.int32))
    objective.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), jit_compile=jit)
    batch = {"image": smooth_images(8, 16), "label": np.arange(8, dtype=np.int32) % 8,
             "index": np.arange(0, 64, 8, dtype=np.int64)}
    data = tf.data.Dataset.from_tensors({k: tf.constant(v) for k, v in batch.items()}).repeat()
    losses = objective.fit(data, steps_per_epoch=steps, epochs=1, verbose=0).history["loss"]
    return objective.trainable_variables, objective.memory_bank.numpy(), losses


@pytest.mark.parametrize("method", ["ir", "la"])
def test_jit_compiled_steps_match_graph_steps(method):
    graph_weights, graph_bank, graph_losses = _trained_weights(method, jit=False)
    xla_weights, xla_bank, xla_losses = _trained_weights(method, jit=True)
    np.testing.assert_allclose(xla_losses, graph_losses, rtol=1e-4)
    for a, b in zip(graph_weights, xla_weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-3 * float(np.abs(a.numpy()).max()),
                                   err_msg=a.path)
    np.testing.assert_allclose(xla_bank, graph_bank, atol=1e-4)
