"""Training throughput of every objective (images/s) and the cost of LA's clustering and LLP's
label propagation.

    python benchmarks/train_throughput.py [--methods=la,ir,supervised] [--image_size=64]
        [--batch_size=128] [--bank_size=100000] [--steps=8] [--xla=both]

Video objectives (vie_ir, vie_la) run only when named, and their rows count clips/s.
Each objective trains on one fixed in-memory batch (so the input pipeline is not measured) through
the same Objective.train_step that vvs-train uses; the first steps (tracing) are discarded. All
objectives are built first and then take turns step by step, and each reports its median step:
on a shared machine, timing them one after another moved single rows by +-15% between runs.
"supervised" is the bare backbone step (ResNet-18 + linear classifier) that the objectives'
overhead is measured against. Clustering: H x k faiss k-means of a random bank. Propagation:
LLP's round (density weights and 10 labelled neighbours of every row) on a random bank.
"""
import importlib
import os
import time

import vvs_tf  # noqa: F401

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from vvs_tf.config import base_config
from vvs_tf.objectives import OBJECTIVES, DataInfo, create_objective

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("methods", None, "Objectives to time (default: all that train on images; "
                      "video ones, e.g. vie_ir, on request: their rows are clips/s).")
    flags.DEFINE_integer("image_size", 64, "Input size.")
    flags.DEFINE_integer("batch_size", 128, "Global batch.")
    flags.DEFINE_integer("width", 64, "ResNet-18 width (64 = the paper's network).")
    flags.DEFINE_integer("bank_size", 100_000, "Training-set size seen by memory-bank objectives.")
    flags.DEFINE_integer("steps", 8, "Timed steps per objective (after 2 warm-up steps).")
    flags.DEFINE_enum("xla", "both", ["off", "on", "both"], "jit_compile settings to time.")
    flags.DEFINE_list("clustering", ["100000", "10", "1000"], "N, H, k of the clustering timing; "
                      "empty to skip.")
    flags.DEFINE_list("propagation", ["100000", "0.03"], "N and labelled fraction of the label "
                      "propagation timing; empty to skip.")


def method_config(method, image_size, width):
    c = base_config(method)
    c.data.image_size = image_size
    c.model.input_size = image_size
    c.model.width = width
    if "patch_size" in c.objective:  # patch methods: the full-scale grid does not fit 64 px
        for key, value in patch_geometry(method, image_size).items():
            c.objective[key] = value
        c.model.input_size = None  # the backbone sees patches in training
    return c


def patch_geometry(method, image_size) -> dict:
    """A patch method's grid at `image_size`: its tiny config's (written for that config's image
    size), scaled."""
    tiny = importlib.import_module(f"configs.tiny.{method}").get_config()
    scale = image_size / tiny.data.image_size
    return {key: int(round(tiny.objective[key] * scale))
            for key in ("patch_size", "gap", "jitter") if key in tiny.objective}


def fixed_batch(objective, batch_size, num_examples, seed=0):
    """A batch of what `objective` reads: images, views or clips of its example shape."""
    rng = np.random.default_rng(seed)
    example = objective.example_shape()
    shape = (batch_size, objective.num_views, *example)
    images = rng.random(shape, dtype=np.float32)
    batch = {"label": rng.integers(0, 8, batch_size).astype(np.int32),
             "index": rng.choice(num_examples, batch_size, replace=False).astype(np.int64),
             "depth": rng.random((batch_size, *example[-3:-1]), dtype=np.float32)}
    batch.update({objective.input_key: images[:, 0]} if objective.num_views == 1
                 else {"views": images})
    return batch


class StepTimer:
    """One objective's compiled train step (the function fit() calls) on a fixed batch, timed one
    step at a time from its call until its results are ready."""

    def __init__(self, method, jit, args):
        config = method_config(method, args["image_size"], args["width"])
        config.runtime.jit_compile = jit
        keras.utils.set_random_seed(0)
        self.objective = create_objective(
            config, DataInfo(args["bank_size"], 8, args["image_size"]))
        self.objective.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                               jit_compile=jit)
        batch = fixed_batch(self.objective, args["batch_size"], args["bank_size"])
        if hasattr(self.objective, "cluster_labels"):  # realistic neighbourhoods for LA
            self.objective.cluster_labels.assign(np.random.default_rng(0).integers(
                0, self.objective.num_clusters, self.objective.cluster_labels.shape))
        data = tf.data.Dataset.from_tensors(batch).repeat()
        self.objective.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace + warm up
        self.iterator = iter(data)
        self.batch_size = args["batch_size"]
        self.seconds = []

    def step(self):
        start = time.perf_counter()
        for value in self.objective.train_function(self.iterator).values():
            float(value)
        self.seconds.append(time.perf_counter() - start)


def time_interleaved(timers: dict, steps: int) -> dict:
    """Images/s of each timer's median step; the timers take turns step by step, so that a busy
    neighbour or a drifting clock slows every objective alike."""
    for _ in range(steps):
        for timer in timers.values():
            timer.step()
    return {key: timer.batch_size / float(np.median(timer.seconds))
            for key, timer in timers.items()}


def time_clustering(n, h, k) -> float:
    from vvs_tf.objectives.clustering import multi_kmeans
    from vvs_tf.objectives.memory_bank import random_unit_rows

    bank = random_unit_rows(n, 128, 0)
    start = time.perf_counter()
    multi_kmeans(bank, h, k, seed=0)
    return time.perf_counter() - start


def time_propagation(n, fraction) -> float:
    from vvs_tf.objectives.label_propagation import propagate_labels
    from vvs_tf.objectives.memory_bank import random_unit_rows
    from vvs_tf.objectives.supervised import labelled_subset

    bank = random_unit_rows(n, 128, 0)
    rows = labelled_subset(n, fraction, 0)
    labels = np.random.default_rng(0).integers(0, 1000, len(rows))
    start = time.perf_counter()
    propagate_labels(bank, rows, labels, tau=0.07)
    return time.perf_counter() - start


def main(argv):
    del argv
    methods = FLAGS.methods or sorted(m for m, cls in OBJECTIVES.items()
                                      if cls.trains and cls.input_key == "image")
    if "supervised" in methods:  # the baseline first
        methods = ["supervised"] + [m for m in methods if m != "supervised"]
    settings = {"off": [False], "on": [True], "both": [False, True]}[FLAGS.xla]
    args = dict(image_size=FLAGS.image_size, batch_size=FLAGS.batch_size, width=FLAGS.width,
                bank_size=FLAGS.bank_size, steps=FLAGS.steps)
    print(f"ResNet-18 width {FLAGS.width}, {FLAGS.image_size} px, batch {FLAGS.batch_size}, "
          f"bank {FLAGS.bank_size}, oneDNN={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, "
          f"devices={[d.name for d in tf.config.list_logical_devices()]}")
    print(f"{'objective':<20}" + "".join(f"{'XLA ' + ('on' if j else 'off'):>14}" for j in settings)
          + f"{'vs supervised':>15}")
    timers = {}
    for method in methods:
        for jit in settings:
            try:
                timers[method, jit] = StepTimer(method, jit, args)
            except Exception as err:  # one failing setting should not hide the others' numbers
                print(f"  {method} jit={jit}: {type(err).__name__}: {str(err)[:200]}")
    speed = time_interleaved(timers, args["steps"])
    for method in methods:
        row = [speed.get((method, jit), float("nan")) for jit in settings]
        ratio = row[0] / speed.get(("supervised", settings[0]), float("nan"))
        print(f"{method:<20}" + "".join(f"{v:>14.1f}" for v in row) + f"{ratio:>15.2f}",
              flush=True)
    if FLAGS.clustering:
        n, h, k = map(int, FLAGS.clustering)
        print(f"clustering {n} x 128 into {h} x {k} (faiss, 20 iterations): "
              f"{time_clustering(n, h, k):.1f} s")
    if FLAGS.propagation:
        n, fraction = int(FLAGS.propagation[0]), float(FLAGS.propagation[1])
        print(f"label propagation over {n} x 128 from {fraction:.0%} labelled (faiss): "
              f"{time_propagation(n, fraction):.1f} s")


if __name__ == "__main__":
    define_flags()
    app.run(main)
