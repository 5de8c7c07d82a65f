"""Training monitors: TensorBoard scalars, throughput, and the weighted-kNN accuracy of embeddings."""
import time

import vvs_tf  # noqa: F401

import keras
import numpy as np
import tensorflow as tf


class ScalarWriter:
    """TensorBoard scalars under <workdir>/tensorboard (one writer per run)."""

    def __init__(self, logdir: str):
        self.writer = tf.summary.create_file_writer(logdir)

    def scalars(self, values: dict, step: int):
        with self.writer.as_default(step=int(step)):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))
        self.writer.flush()


def global_step(optimizer) -> int:
    """The optimizer's step count as a Python int (also for mirrored variables of any strategy)."""
    return int(optimizer.iterations.numpy())


def current_learning_rate(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(lr(global_step(optimizer)) if callable(lr) else lr)


class StepMonitor(keras.callbacks.Callback):
    """Every `every` steps: loss and tracked scalars, learning rate and images/s to TensorBoard."""

    def __init__(self, writer: ScalarWriter, global_batch: int, every: int):
        super().__init__()
        self.writer, self.global_batch, self.every = writer, global_batch, max(1, every)
        self.last_images_per_second = float("nan")

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = None, 0

    def on_train_batch_end(self, batch, logs=None):
        # Timed from the end of the epoch's first step, so tracing and pipeline warm-up don't count.
        self._steps += 1
        if self._start is None:
            self._start, self._timed_from = time.perf_counter(), self._steps
            return
        steps = self._steps - self._timed_from
        self.last_images_per_second = steps * self.global_batch / max(
            time.perf_counter() - self._start, 1e-9)
        if self._steps % self.every:
            return
        step = global_step(self.model.optimizer)
        values = {f"train/{k}": v for k, v in (logs or {}).items()}
        values["train/learning_rate"] = current_learning_rate(self.model.optimizer)
        values["train/images_per_second"] = self.last_images_per_second
        self.writer.scalars(values, step)


def embed_dataset(objective, dataset):
    """(unit embeddings, labels) of every example of an eval dataset of dict batches."""
    features, labels = [], []
    embed = getattr(objective, "_eval_embed", None)
    if embed is None:
        embed = objective._eval_embed = tf.function(
            lambda images: objective.embed(images, training=False), reduce_retracing=True)
    for batch in dataset:
        features.append(embed(batch[objective.input_key]).numpy())
        labels.append(batch["label"].numpy())
    return np.concatenate(features), np.concatenate(labels)


def reference_features(objective, train_eval_dataset):
    """The kNN reference set: the memory bank when every row's label is known, else a pass
    over the training images."""
    bank = getattr(objective, "memory_bank", None)
    if bank is not None:
        labels = objective.bank_labels.numpy()
        if labels.min() >= 0:
            return bank.numpy(), labels
    return embed_dataset(objective, train_eval_dataset)


def knn_top1(objective, train_eval_dataset, validation_dataset, k: int, tau: float,
             num_classes: int) -> float:
    """Weighted kNN top-1 of validation embeddings against the training set (REFERENCE: K=200,
    votes exp(sim/tau))."""
    from vvs_tf.evaluate.knn import knn_predict

    train_features, train_labels = reference_features(objective, train_eval_dataset)
    val_features, val_labels = embed_dataset(objective, validation_dataset)
    predicted = np.asarray(knn_predict(train_features, train_labels, val_features,
                                       k=min(k, len(train_features)), tau=tau,
                                       num_classes=num_classes))
    return float(np.mean(predicted == val_labels))
