"""LA's background-neighbour selection: the exact top k of each row of the [B, N] bank logits,
forward only, by each path of vvs_tf.objectives.top_k against tf.math.top_k.

    python benchmarks/top_k.py [--batch_size=128] [--bank_sizes=100000,1000000] [--k=4096]

Rows: the C++ op (vvs_tf/custom_ops/exact_top_k.cc), the stock-op sampled bound (what runs without
a compiler) and a full tf.math.top_k. Logits are those of random unit embeddings against a random
unit bank over tau = 0.07, as at the start of training.
"""
import time

import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf
from absl import app, flags

from vvs_tf.objectives import top_k
from vvs_tf.objectives.memory_bank import random_unit_rows

FLAGS = flags.FLAGS


def median_ms(fn, scores, repeats):
    fn = tf.function(fn)
    for _ in range(2):
        fn(scores)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        [t.numpy() for t in fn(scores)]
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv):
    del argv
    k = FLAGS.k
    library = top_k.custom_op()
    paths = {"tf.math.top_k (full rows)": lambda s: top_k.select_full(s, k),
             "stock-op sampled bound": lambda s: top_k.select_by_stock_ops(s, k)}
    if library is not None:
        paths["C++ op"] = lambda s: top_k.select_by_custom_op(s, k, library)
    print(f"batch {FLAGS.batch_size}, k {k}; median ms of {FLAGS.repeats} calls"
          + ("" if library else " (no C++ op: no compiler could build it)"))
    print(f"{'path':<28}" + "".join(f"{'N=' + n:>12}" for n in FLAGS.bank_sizes))
    results = {name: [] for name in paths}
    for n in map(int, FLAGS.bank_sizes):
        queries = random_unit_rows(FLAGS.batch_size, 128, 1)
        scores = tf.constant(queries @ random_unit_rows(n, 128, 0).T / 0.07)
        for name, fn in paths.items():
            results[name].append(median_ms(fn, scores, FLAGS.repeats))
    for name, row in results.items():
        print(f"{name:<28}" + "".join(f"{ms:>12.1f}" for ms in row))


if __name__ == "__main__":
    flags.DEFINE_integer("batch_size", 128, "Rows (the per-replica batch).")
    flags.DEFINE_list("bank_sizes", ["100000", "1000000"], "Bank sizes N.")
    flags.DEFINE_integer("k", 4096, "Background neighbours.")
    flags.DEFINE_integer("repeats", 11, "Timed calls per cell.")
    app.run(main)
