"""Median wall time of a traced TensorFlow function, shared by the micro-benchmarks (run as
`python benchmarks/<name>.py`, which puts this directory on the import path)."""
import time

import numpy as np
import tensorflow as tf


def median_ms(fn, *args, repeats):
    """Median ms of tf.function(fn)(*args) until every output is in NumPy, after 2 untimed calls."""
    fn = tf.function(fn)
    for _ in range(2):
        fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        [t.numpy() for t in tf.nest.flatten(fn(*args))]
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))
