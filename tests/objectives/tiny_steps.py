"""Helpers for the self-supervised objective tests: structured tiny images, and a few training steps
on one fixed batch with the loss measured before and after (same random draws: step 0)."""
import importlib

import vvs_tf  # noqa: F401

import keras
import numpy as np
import tensorflow as tf

from vvs_tf.objectives import DataInfo, create_objective


def smooth_images(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Images in [0, 1] made of a colour gradient plus low-frequency waves: position, orientation
    and colour are all recoverable from them, unlike white noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    freq = rng.uniform(0.5, 2.0, (count, 1, 1, 3, 2)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (count, 1, 1, 3)).astype(np.float32)
    angle = freq[..., 0] * x[None, :, :, None] + freq[..., 1] * y[None, :, :, None]
    waves = np.sin(2 * np.pi * angle + phase)
    gradient = np.stack([x, y, 1 - x], axis=-1)[None]
    return np.clip(0.5 * gradient + 0.25 * waves + 0.25, 0, 1).astype(np.float32)


def tiny_config(method_config: str, width: int = 4):
    config = importlib.import_module(f"configs.tiny.{method_config}").get_config()
    config.model.width = width
    return config


def build(config, num_examples: int = 64, num_classes: int = 8):
    keras.utils.set_random_seed(config.seed)
    return create_objective(config, DataInfo(num_examples, num_classes, config.data.image_size))


def loss_before_and_after(config, batch: dict, steps: int, optimizer, eager: bool = True):
    """(loss before, loss after `steps` optimizer steps on `batch`, [mean training loss of the steps])."""
    objective = build(config)
    objective.compile(optimizer=optimizer, run_eagerly=eager)
    optimizer.build(objective.trainable_variables)
    tensors = {k: tf.constant(v) for k, v in batch.items()}
    before = float(objective.compute_loss(tensors, training=True)[0])
    dataset = tf.data.Dataset.from_tensors(tensors).repeat()
    history = objective.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0).history["loss"]
    optimizer.iterations.assign(0)  # the same random draws (patches, neighbours) as `before`
    after = float(objective.compute_loss(tensors, training=True)[0])
    return before, after, history


def standard_batch(config, count: int = 4, seed: int = 0) -> dict:
    size = config.data.image_size
    return {"image": smooth_images(count, size, seed), "label": np.arange(count, dtype=np.int32) % 8,
            "index": np.arange(count, dtype=np.int64)}


def assert_trains(config, batch, steps, optimizer, eager=True):
    before, after, history = loss_before_and_after(config, batch, steps, optimizer, eager)
    assert np.all(np.isfinite(history)) and np.isfinite(after), history
    assert after < before, (before, after, history)
    return before, after
