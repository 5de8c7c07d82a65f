"""Serving throughput and latency: direct SavedModel call vs vvs-serve over gRPC and REST.

  python benchmarks/serving.py [--model=resnet18] [--size=64] [--requests=30]
                               [--signatures=activations,serving_default] [--batches=1,32]

Exports an untrained network to a temporary directory, serves it on 127.0.0.1 (free ports) and
times sequential requests of each batch size: requests/s, p50 and p99 latency. The direct call
includes turning the outputs into NumPy, as a client must. The gRPC target is at most +20% over
the direct call at batch 32.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from vvs_tf.exporting import export_activation_model
from vvs_tf.models.resnet import build_resnet
from vvs_tf.serving.client import connect
from vvs_tf.serving.repository import ModelConfig
from vvs_tf.serving.server import LocalServer

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "resnet18", ["resnet18", "tiny"], "resnet18: width 64; tiny: width 8.")
flags.DEFINE_integer("size", 64, "Input size in pixels.")
flags.DEFINE_integer("requests", 30, "Timed requests per (path, batch size).")
flags.DEFINE_integer("warmup", 3, "Untimed requests first.")
flags.DEFINE_list("batches", ["1", "32"], "Batch sizes.")
flags.DEFINE_list("signatures", ["activations", "serving_default"], "Signatures to time.")


def time_interleaved(paths: dict, inputs, requests: int, warmup: int) -> dict:
    """Seconds per request of each path, taking turns request by request, so that a busy
    machine slows every path alike."""
    for _ in range(warmup):
        for call in paths.values():
            call(inputs)
    seconds = {name: np.empty(requests) for name in paths}
    for i in range(requests):
        for name, call in paths.items():
            start = time.perf_counter()
            call(inputs)
            seconds[name][i] = time.perf_counter() - start
    return seconds


def summary(seconds: np.ndarray) -> dict:
    return {"rps": len(seconds) / seconds.sum(), "p50": 1e3 * np.percentile(seconds, 50),
            "p99": 1e3 * np.percentile(seconds, 99), "mean": 1e3 * seconds.mean()}


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    width = 64 if FLAGS.model == "resnet18" else 8
    backbone = build_resnet(18, width=width, input_size=FLAGS.size)
    with tempfile.TemporaryDirectory() as base:
        path = export_activation_model(backbone, base, "bench")
        signatures = tf.saved_model.load(path).signatures
        config = ModelConfig("bench", f"{base}/bench")
        with LocalServer([config], rest_port=0, grpc_port=0, poll_seconds=60) as server:
            clients = {"gRPC": connect(server.grpc_url("bench"), timeout=300),
                       "REST": connect(server.rest_url("bench"), timeout=300)}
            rows = []
            for signature in FLAGS.signatures:
                function = signatures[signature]

                def direct(images, function=function):
                    return {k: v.numpy() for k, v in function(images=tf.constant(images)).items()}

                paths = {"direct": direct}
                for name, client in clients.items():
                    paths[name] = (lambda images, client=client, signature=signature:
                                   client.predict({"images": images}, signature))
                for batch in (int(b) for b in FLAGS.batches):
                    images = np.random.default_rng(batch).random(
                        (batch, FLAGS.size, FLAGS.size, 3), dtype=np.float32)
                    out_mb = sum(v.nbytes for v in direct(images).values()) / 2**20
                    seconds = time_interleaved(paths, images, FLAGS.requests, FLAGS.warmup)
                    base = summary(seconds["direct"])
                    for name, times in seconds.items():
                        stats = summary(times)
                        overhead = 100 * (stats["p50"] / base["p50"] - 1)
                        rows.append((signature, batch, out_mb, name, stats, overhead))
            for client in clients.values():
                client.close()

    print(f"\nResNet-18 width {width} at {FLAGS.size} px, {FLAGS.requests} sequential requests "
          f"each, loopback, server in-process; CPU threads: {tf.config.threading.get_intra_op_parallelism_threads() or 'all'}")
    print(f"{'signature':<16}{'batch':>6}{'out MB':>8}  {'path':<7}{'req/s':>9}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'p50 vs direct':>15}")
    for signature, batch, out_mb, name, s, overhead in rows:
        versus = "" if name == "direct" else f"{overhead:+.1f}%"
        print(f"{signature:<16}{batch:>6}{out_mb:>8.2f}  {name:<7}{s['rps']:>9.1f}{s['p50']:>9.2f}"
              f"{s['p99']:>9.2f}{versus:>15}")


if __name__ == "__main__":
    app.run(main)
