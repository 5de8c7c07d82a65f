"""vvs-train: config -> strategy -> data -> objective -> epochs of fit(), resumable and monitored.

    vvs-train --config=configs/tiny/la.py --workdir=runs/la --config.train.warm_start=runs/ir

Each epoch is one ``fit`` call on a pipeline seeded by (seed, epoch), so a run killed at any point
and resumed from its last checkpoint repeats exactly the epochs an uninterrupted run would do.
Between epochs the trainer re-clusters (LA), runs the objective's own epoch hooks, measures kNN
accuracy on the validation split and checkpoints.
"""
import os
import time

import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging
from tensorflow.python.distribute import multi_worker_util
from ml_collections import config_flags

from vvs_tf import checkpointing, config as config_lib, monitor
from vvs_tf.data import pipeline, sources
from vvs_tf.objectives import DataInfo, create_objective
from vvs_tf.optim import build_optimizer

FLAGS = flags.FLAGS


def define_flags():
    """Registered when the binary runs, not on import, so other binaries can import the trainer."""
    config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and config.")


def make_strategy(runtime) -> tf.distribute.Strategy:
    """Mirrored over the visible GPUs (or `num_devices` logical CPUs), one device when there is one."""
    if runtime.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")][:max(1, runtime.num_devices)]
    if runtime.num_devices:
        if runtime.num_devices > len(devices):
            raise ValueError(f"runtime.num_devices={runtime.num_devices} but only {len(devices)} "
                             f"devices are visible: {devices}")
        devices = devices[:runtime.num_devices]
    if runtime.strategy == "one_device" or (runtime.strategy == "auto" and len(devices) == 1):
        return tf.distribute.OneDeviceStrategy(devices[0])
    if runtime.strategy in ("auto", "mirrored"):
        return tf.distribute.MirroredStrategy(devices)
    raise ValueError(f"unknown runtime.strategy {runtime.strategy!r}; known: auto, mirrored, "
                     "one_device, multi_worker")


def source_options(config, spec: str) -> dict:
    """The options of `config.data` that the source kind of `spec` takes."""
    kind = spec.partition(":")[0]
    data = config.data
    if kind == "embedded":
        return dict(num_images=data.num_images, image_size=data.world_image_size, seed=config.seed,
                    variations=tuple(data.variations), validation_fraction=data.validation_fraction,
                    cache_dir=data.cache_dir or None, with_depth=data.get("with_depth", False))
    if kind == "tfds":
        return dict(data_dir=data.data_dir or None)
    if kind in ("folder", "tfrecord"):
        return dict(strict=data.strict)
    # Clip sources: windows as long as the video network's input (16 frames when no network says).
    clips = dict(clip_length=int(config.model.get("frames", 16)),
                 frame_stride=int(data.get("frame_stride", 1)))
    if kind == "frames":
        return dict(clips, strict=data.strict)
    if kind == "embedded_video":
        return dict(clips, num_videos=data.get("num_videos", 128),
                    num_frames=data.get("video_frames", 24), image_size=data.world_image_size,
                    seed=config.seed, validation_fraction=data.validation_fraction,
                    cache_dir=data.cache_dir or None)
    return {}


def open_sources(config):
    """Training and validation sources of the config (validation: the source's validation split)."""
    train = sources.open_source(config.data.source, split=config.data.train_split,
                                **source_options(config, config.data.source))
    val_spec = config.data.validation_source or config.data.source
    validation = sources.open_source(val_spec, split=config.data.validation_split,
                                     **source_options(config, val_spec))
    return train, validation


class StepHooks(keras.callbacks.Callback):
    """Forwards fit()'s per-step event to the between-epoch hooks, which the trainer itself calls
    at epoch boundaries (LA installs labels clustered in the background at a fixed step)."""

    def __init__(self, hooks):
        super().__init__()
        self.hooks = list(hooks)

    def on_train_batch_begin(self, batch, logs=None):
        for hook in self.hooks:
            hook.on_train_batch_begin(batch)


class Trainer:
    """One training run in a workdir; `run()` trains to config.train.epochs and returns a summary."""

    def __init__(self, config, workdir: str):
        config_lib.validate(config)
        self.config, self.workdir = config, workdir
        keras.utils.set_random_seed(config.seed)
        keras.mixed_precision.set_global_policy(config.runtime.precision)
        if config.runtime.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.strategy = make_strategy(config.runtime)
        if config.runtime.jit_compile and not tf.config.list_physical_devices("GPU"):
            logging.warning("runtime.jit_compile=True without a GPU: a ResNet-18 step compiled by "
                            "XLA's CPU backend runs several times slower than TensorFlow's oneDNN "
                            "kernels (benchmarks/train_throughput.py); XLA is for GPUs.")
        replicas = self.strategy.num_replicas_in_sync
        if config.train.batch_size % replicas:
            raise ValueError(f"train.batch_size={config.train.batch_size} is not divisible by the "
                             f"{replicas} replicas of the strategy")
        self.train_source, self.validation_source = open_sources(config)
        self.data_info = DataInfo(self.train_source.num_examples, self.train_source.num_classes,
                                  config.data.image_size)
        with self.strategy.scope():
            self.objective = create_objective(config, self.data_info)
        # Objectives that train on part of the data (the few-label control) name its indices.
        subset = getattr(self.objective, "training_subset", None)
        self.training_examples = (self.train_source if subset is None
                                  else sources.restrict(self.train_source, subset))
        examples = self.training_examples.num_examples
        self.steps_per_epoch = config_lib.steps_per_epoch(config, examples)
        if self.steps_per_epoch < 1:
            raise ValueError(f"{examples} training examples make no batch of "
                             f"train.batch_size={config.train.batch_size}")
        with self.strategy.scope():
            optimizer = build_optimizer(config.optimizer, self.steps_per_epoch, config.train.epochs)
            self.objective.compile(optimizer=optimizer, jit_compile=config.runtime.jit_compile)
            self.objective.optimizer.build(self.objective.trainable_variables)
        # Under MultiWorkerMirroredStrategy every worker takes part in saving; only the chief
        # writes into the workdir, the others into a scratch directory of their own.
        resolver = getattr(self.strategy, "cluster_resolver", None)
        self.is_chief = resolver is None or multi_worker_util.is_chief(
            resolver.cluster_spec().as_dict() or None, resolver.task_type, resolver.task_id)
        state_dir = workdir if self.is_chief else os.path.join(
            workdir, f".worker-{resolver.task_type}-{resolver.task_id}")
        self.state = checkpointing.TrainingState(self.objective, state_dir, config.train.keep_checkpoints)
        self.writer = monitor.ScalarWriter(os.path.join(state_dir, "tensorboard"))

    # --- data ----------------------------------------------------------------------------------
    def epoch_dataset(self, epoch: int):
        """The training batches of one epoch, seeded by (seed, epoch); repeated so that an explicit
        train.steps_per_epoch larger than one pass still gets its steps (fit() stops it)."""
        obj = self.objective
        return pipeline.make_dataset(
            self.training_examples, batch_size=self.config.train.batch_size, view=obj.view,
            training=True, seed=self.config.seed * 100003 + epoch,
            image_size=self.config.data.image_size, num_views=obj.num_views,
            shuffle_buffer=self.config.data.shuffle_buffer,
            autotune=self.config.data.autotune).repeat()

    def eval_dataset(self, source):
        return pipeline.make_dataset(
            source, batch_size=self.config.train.batch_size, view="eval", training=False,
            seed=self.config.seed, image_size=self.config.data.image_size,
            autotune=self.config.data.autotune)

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> dict:
        if self.is_chief:
            checkpointing.write_run_description(self.workdir, self.config, self.data_info)
        start_epoch = self.state.restore_latest()
        if start_epoch:
            logging.info("resumed %s at epoch %d", self.workdir, start_epoch)
        elif self.config.train.warm_start:
            parts = checkpointing.warm_start(self.objective, self.config.train.warm_start)
            self.objective.on_warm_start()
            logging.info("warm-started %s from %s", parts, self.config.train.warm_start)
        if not self.objective.trains or self.config.train.epochs == 0:
            self.state.save(0)
            return {"epochs": 0, "knn_top1": self.knn()}
        step_monitor = monitor.StepMonitor(self.writer, self.config.train.batch_size,
                                           self.config.train.log_every_steps)
        epoch_hooks = self.epoch_hooks()
        summary = {}
        run_start = time.perf_counter()
        for epoch in range(start_epoch, self.config.train.epochs):
            for hook in epoch_hooks:
                hook.on_epoch_begin(epoch)
            logs = self.train_epoch(epoch, step_monitor, epoch_hooks)
            for hook in epoch_hooks:
                hook.on_epoch_end(epoch)
            if not np.isfinite(logs.get("loss", 0.0)):
                raise FloatingPointError(
                    f"loss is {logs['loss']} in epoch {epoch}; the last good checkpoint is kept "
                    f"at {self.state.manager.latest_checkpoint}")
            finished = epoch + 1
            if finished % self.config.monitor.knn_every_epochs == 0 or finished == self.config.train.epochs:
                logs["knn_top1"] = self.knn()
            logs["images_per_second"] = step_monitor.last_images_per_second
            self.writer.scalars({f"epoch/{k}": v for k, v in logs.items()},
                                monitor.global_step(self.objective.optimizer))
            if finished % self.config.train.checkpoint_every_epochs == 0 or finished == self.config.train.epochs:
                self.state.save(finished)
            remaining = (time.perf_counter() - run_start) / (finished - start_epoch) * (
                self.config.train.epochs - finished)
            logging.info("epoch %d/%d %s (ETA %.0fs)", finished, self.config.train.epochs,
                         " ".join(f"{k}={v:.4g}" for k, v in logs.items()), remaining)
            summary = dict(logs, epochs=finished)
        return summary

    def train_epoch(self, epoch: int, step_monitor, hooks=()) -> dict:
        """One epoch of the objective's train_step: fit(), or a distributed loop where fit() cannot
        run (Keras 3's fit() rejects MultiWorkerMirroredStrategy's per-replica batches,
        keras-team/keras#20585); both run the same train_step on the same per-epoch dataset."""
        dataset = self.epoch_dataset(epoch)
        if not isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            history = self.objective.fit(
                dataset, epochs=epoch + 1, initial_epoch=epoch,
                steps_per_epoch=self.steps_per_epoch, callbacks=[step_monitor, StepHooks(hooks)],
                verbose=2 if os.environ.get("CI") else 1)
            return {k: float(v[-1]) for k, v in history.history.items()}
        if getattr(self, "_distributed_step", None) is None:
            @tf.function
            def distributed_step(iterator):
                return self.strategy.run(self.objective.train_step, args=(next(iterator),))

            self._distributed_step = distributed_step
        for metric in self.objective.metrics:
            metric.reset_state()
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        start = time.perf_counter()
        for step in range(self.steps_per_epoch):
            for hook in hooks:
                hook.on_train_batch_begin(step)
            outputs = self._distributed_step(iterator)
        step_monitor.last_images_per_second = (
            self.steps_per_epoch * self.config.train.batch_size / (time.perf_counter() - start))
        return {k: float(self.strategy.experimental_local_results(v)[0]) for k, v in outputs.items()}

    def epoch_hooks(self):
        """Callbacks that act between epochs (re-clustering, DeepCluster rounds)."""
        hooks = []
        if hasattr(self.objective, "cluster_labels"):
            from vvs_tf.objectives.clustering import ReclusterCallback

            hooks.append(ReclusterCallback(
                self.objective, self.config.seed, self.config.objective.kmeans_iterations,
                self.writer, self.config.objective.get("recluster_overlap_steps", 0)))
        if hasattr(self.objective, "epoch_callbacks"):
            hooks.extend(self.objective.epoch_callbacks(self.eval_dataset(self.train_source)))
        return hooks

    def knn(self) -> float:
        return monitor.knn_top1(
            self.objective, self.eval_dataset(self.train_source),
            self.eval_dataset(self.validation_source), self.config.monitor.knn_k,
            self.config.monitor.knn_tau, self.data_info.num_classes)


def train(config, workdir: str) -> dict:
    return Trainer(config, workdir).run()


def main(argv):
    del argv
    if FLAGS.config is None or FLAGS.workdir is None:
        raise app.UsageError("--config and --workdir are required")
    summary = train(FLAGS.config, FLAGS.workdir)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
