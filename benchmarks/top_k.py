"""LA's background neighbours: the exact top k of each row of the [B, N] bank logits, and the
gradient through them, by each path of vvs_tf.objectives.top_k.

    python benchmarks/top_k.py [--batch_size=128] [--bank_sizes=100000,1000000] [--k=4096]

First table, the selection alone: the C++ op (vvs_tf/custom_ops/top_k_ops.cc), the stock-op
sampled bound (what runs without a compiler) and a full tf.math.top_k. Second table, what a LA step
pays: logits matmul, selection and the gradient with respect to the queries, through
top_k_inner_products with the C++ ops and with stock ops. Logits are those of random unit
embeddings against a random unit bank over tau = 0.07, as at the start of training.
"""
import functools

import vvs_tf  # noqa: F401

import tensorflow as tf
from absl import app, flags

from timing import median_ms
from vvs_tf.objectives import top_k
from vvs_tf.objectives.memory_bank import random_unit_rows

FLAGS = flags.FLAGS


def forward_and_gradient(queries, bank, k, use_custom_ops):
    with tf.GradientTape() as tape:
        tape.watch(queries)
        values, _ = top_k.top_k_inner_products(queries, bank, k, use_custom_ops=use_custom_ops)
        loss = tf.reduce_sum(tf.math.reduce_logsumexp(values, axis=1))
    return tape.gradient(loss, queries)


def print_table(title, results):
    print(f"\n{title}")
    print(f"{'path':<36}" + "".join(f"{'N=' + n:>12}" for n in FLAGS.bank_sizes))
    for name, row in results.items():
        print(f"{name:<36}" + "".join(f"{ms:>12.1f}" for ms in row))


def main(argv):
    del argv
    k = FLAGS.k
    library = top_k.custom_op()
    selections = {"tf.math.top_k (full rows)": lambda s: top_k.select_full(s, k),
                  "stock-op sampled bound": lambda s: top_k.select_by_stock_ops(s, k)}
    if library is not None:
        selections["C++ op"] = lambda s: top_k.select_by_custom_op(s, k, library)
    print(f"batch {FLAGS.batch_size}, k {k}, D 128; median ms of {FLAGS.repeats} calls"
          + ("" if library else " (no C++ ops: no compiler could build them)"))
    selection_ms = {name: [] for name in selections}
    step_ms = {"stock ops": []} | ({"C++ ops": []} if library is not None else {})
    for n in map(int, FLAGS.bank_sizes):
        queries = tf.constant(random_unit_rows(FLAGS.batch_size, 128, 1) / 0.07)
        bank = tf.constant(random_unit_rows(n, 128, 0))
        scores = tf.matmul(queries, bank, transpose_b=True)
        for name, fn in selections.items():
            selection_ms[name].append(median_ms(fn, scores, repeats=FLAGS.repeats))
        for name in step_ms:
            step = functools.partial(forward_and_gradient, k=k, use_custom_ops=name == "C++ ops")
            step_ms[name].append(median_ms(step, queries, bank, repeats=FLAGS.repeats))
    print_table("selection (forward only)", selection_ms)
    print_table("logits matmul + selection + gradient w.r.t. the queries", step_ms)


if __name__ == "__main__":
    flags.DEFINE_integer("batch_size", 128, "Rows (the per-replica batch).")
    flags.DEFINE_list("bank_sizes", ["100000", "1000000"], "Bank sizes N.")
    flags.DEFINE_integer("k", 4096, "Background neighbours.")
    flags.DEFINE_integer("repeats", 11, "Timed calls per cell.")
    app.run(main)
