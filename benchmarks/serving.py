"""Serving throughput and latency: direct SavedModel call vs vvs-serve over gRPC and REST.

  python benchmarks/serving.py [--model=resnet18] [--size=64] [--requests=30] [--rounds=3]
                               [--signatures=activations,serving_default] [--batches=1,32]
                               [--paths=gRPC,REST] [--server=process|thread]

Exports an untrained network to a temporary directory, serves it with vvs-serve on 127.0.0.1
(free ports; its own process by default, as a deployed server runs) and times sequential
requests of each batch size, the paths taking turns request by request on the same inputs, after
untimed warm-up requests: requests/s, p50 and p99 latency. The direct call includes turning the
outputs into NumPy (without a copy), as a client must. On a shared machine one round's p50 moves
with the load, so the timing is repeated --rounds times and the table shows the median over
rounds of each round's p50 and of its overhead (with the rounds' range), and p99 of all requests.
Server and client processes keep freed buffers for reuse (vvs_tf.serving.allocator: the client
sets it in this process too); measured, that does not change the direct call's time. The
benchmark process also makes direct calls, which leave glibc's heuristics in a state that hides
what a client-only process paid without that setting (see the allocator's docstring).
Target: gRPC at most +20% over the direct call at batch 32.

With --echo (the default) and gRPC among the paths, an `echo` row times the same client against a
server that answers at once with the bytes vvs-serve would send (benchmarks/grpc_echo.py: same
channel options, no model, no encoding): what moving the request and the answer alone costs,
shown as a share of the direct call - the least that the gRPC path can add to it.

A second table times what an evaluator does: activations.extract of --stream_images images
(every read-out layer, batches of 64 written to a fresh cache) from the SavedModel and through
ServingActivationModel over gRPC (requests of 32), with the defaults (2 batches and 2 requests in
flight) and one at a time: images/s, gRPC against the SavedModel run the same way.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags
from tensorflow_serving.apis import model_pb2, predict_pb2

from vvs_tf.evaluate.activations import SavedModelActivationModel, extract
from vvs_tf.exporting import export_activation_model
from vvs_tf.models.resnet import build_resnet
from vvs_tf.serving import wire
from vvs_tf.serving.client import GrpcClient, ServingActivationModel, connect
from vvs_tf.serving.repository import ModelConfig
from vvs_tf.serving.server import LocalServer

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "resnet18", ["resnet18", "tiny"], "resnet18: width 64; tiny: width 8.")
flags.DEFINE_integer("size", 64, "Input size in pixels.")
flags.DEFINE_integer("requests", 30, "Timed requests per (path, batch size).")
flags.DEFINE_float("rest_max_seconds", 60.0,
                   "Time budget of REST per (signature, batch): JSON of large activations is slow.")
flags.DEFINE_integer("warmup", 3, "Untimed requests first.")
flags.DEFINE_list("batches", ["1", "32"], "Batch sizes.")
flags.DEFINE_list("signatures", ["activations", "serving_default"], "Signatures to time.")
flags.DEFINE_list("paths", ["gRPC", "REST"], "Served paths to time against the direct call.")
flags.DEFINE_integer("rounds", 3, "Repetitions of the interleaved timing; medians over rounds.")
flags.register_validator("paths", lambda paths: bool(paths) and set(paths) <= {"gRPC", "REST"},
                         message="--paths takes gRPC and/or REST")
flags.register_validator("rounds", lambda rounds: rounds >= 1, message="--rounds must be >= 1")
flags.DEFINE_integer("stream_images", 320, "Images of the evaluator-stream table (0: no table).")
flags.DEFINE_enum("server", "process", ["process", "thread"],
                  "vvs-serve in its own process, or in a thread of the benchmark's.")
flags.DEFINE_bool("echo", True, "With gRPC: also time a server that answers vvs-serve's bytes at "
                  "once (benchmarks/grpc_echo.py), the transport's share.")


def time_interleaved(paths: dict, inputs, counts: dict, warmup: dict) -> dict:
    """Seconds per request of each path, taking turns request by request (so that a busy
    machine slows every path alike) until each path has made its count of requests."""
    for name, call in paths.items():
        for _ in range(warmup[name]):
            call(inputs)
    seconds = {name: [] for name in paths}
    for i in range(max(counts.values())):
        for name, call in paths.items():
            if i < counts[name]:
                start = time.perf_counter()
                call(inputs)
                seconds[name].append(time.perf_counter() - start)
    return {name: np.array(times) for name, times in seconds.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(model_dir: str, mode: str):
    """{"gRPC": URL, "REST": URL} of vvs-serve serving model_dir, for the duration of the block."""
    name = os.path.basename(model_dir)
    if mode == "thread":
        with LocalServer([ModelConfig(name, model_dir)], rest_port=0, grpc_port=0,
                         poll_seconds=60) as server:
            yield {"gRPC": server.grpc_url(name), "REST": server.rest_url(name)}
        return
    grpc_port, rest_port = _free_port(), _free_port()
    with _process(["-m", "vvs_tf.serving.server", f"--model_base_path={model_dir}",
                   f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                   "--file_system_poll_wait_seconds=60"], lines=2) as lines:
        yield dict(line.partition("  ")[::2] for line in lines)


@contextlib.contextmanager
def _process(args: list, lines: int):
    """A Python process started with `args`; yields the first `lines` lines it prints (a server's
    addresses, once it serves), and ends it after the block."""
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        printed = []
        while len(printed) < lines:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"{args[:2]} exited with {process.wait()} before serving")
            printed.append(line.strip())
        yield printed
    finally:
        process.terminate()
        process.wait()


@contextlib.contextmanager
def echo_path(answer: dict, signature):
    """call(images) of a GrpcClient against benchmarks/grpc_echo.py answering `answer` (the
    arrays vvs-serve would send) as vvs-serve's wire bytes."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as file:
        file.write(wire.encode(predict_pb2.PredictResponse, answer, model_spec=model_pb2.ModelSpec(
            name="bench", signature_name=signature.name, version={"value": 1})))
        file.flush()
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_echo.py")
        with _process([script, f"--answer={file.name}"], lines=1) as (port,):
            client = GrpcClient(f"127.0.0.1:{port}", "bench", timeout=300, retries=5)
            try:  # the request and answer handling of client.predict, past its metadata lookup
                yield lambda images: client._predict({"images": images}, signature, None)
            finally:
                client.close()


def time_stream(model_dir: str, urls: dict) -> list:
    """(path, images/s) of vvs_tf.evaluate.activations.extract - what every evaluator calls - on
    FLAGS.stream_images images in its default batches of 64, from the SavedModel and through
    ServingActivationModel over gRPC, each with its defaults (2 batches in flight in extract, 2
    requests in flight in the client) and one at a time, the paths taking turns, median over
    FLAGS.rounds. Each call writes a fresh activation cache, as a first run does."""
    images = np.random.default_rng(0).random((FLAGS.stream_images, FLAGS.size, FLAGS.size, 3),
                                             dtype=np.float32)
    models, paths = [], {}
    for one_at_a_time in (False, True):
        in_flight = 1 if one_at_a_time else 2
        sources = {"SavedModel": SavedModelActivationModel(model_dir)}
        if "gRPC" in FLAGS.paths:  # REST's JSON would take minutes
            sources["gRPC"] = ServingActivationModel(urls["gRPC"], batch_size=32, timeout=300,
                                                     retries=5, max_in_flight=in_flight)
        for name, model in sources.items():
            models.append(model)

            def call(images, model=model, in_flight=in_flight):
                with tempfile.TemporaryDirectory() as cache_dir:
                    extract(model, images, cache_dir=cache_dir, model_id="benchmark",
                            in_flight=in_flight)

            paths[name + (", one at a time" if one_at_a_time else "")] = call
    counts = {name: FLAGS.rounds for name in paths}
    seconds = time_interleaved(paths, images, counts, {name: 1 for name in paths})
    for model in models:
        getattr(model, "close", lambda: None)()
    return [(name, len(images) / np.median(t)) for name, t in seconds.items()]


def time_paths(paths: dict, images) -> dict:
    """{path: summary} of FLAGS.rounds rounds of interleaved requests; REST makes as many requests
    as fit its time budget (JSON of large activations is slow)."""
    counts = {name: FLAGS.requests for name in paths}
    warmup = {name: FLAGS.warmup for name in paths}
    if "REST" in paths:
        start = time.perf_counter()
        paths["REST"](images)  # warms REST and sizes its share of the requests
        budget = FLAGS.rest_max_seconds / FLAGS.rounds
        rest_count = int(budget / (time.perf_counter() - start))
        counts["REST"] = max(3, min(FLAGS.requests, rest_count))
        warmup["REST"] = 0
    rounds = []
    for _ in range(FLAGS.rounds):
        rounds.append(time_interleaved(paths, images, counts, warmup))
        warmup = {name: 0 for name in paths}
    return {name: summary([r[name] for r in rounds], [r["direct"] for r in rounds])
            for name in paths}


def summary(rounds: list, reference: list) -> dict:
    """Median over rounds of each round's p50 and of its ratio to the same round's direct p50;
    requests/s and p99 over all requests."""
    pooled = np.concatenate(rounds)
    p50s = np.array([np.percentile(r, 50) for r in rounds])
    overheads = 100 * (p50s / np.array([np.percentile(r, 50) for r in reference]) - 1)
    return {"n": len(pooled), "rps": len(pooled) / pooled.sum(), "p50": 1e3 * np.median(p50s),
            "p99": 1e3 * np.percentile(pooled, 99), "overhead": np.median(overheads),
            "range": (overheads.min(), overheads.max())}


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    width = 64 if FLAGS.model == "resnet18" else 8
    backbone = build_resnet(18, width=width, input_size=FLAGS.size)
    with tempfile.TemporaryDirectory() as base:
        path = export_activation_model(backbone, base, "bench")
        signatures = tf.saved_model.load(path).signatures
        with serving(f"{base}/bench", FLAGS.server) as urls:
            clients = {name: connect(urls[name], timeout=300, retries=5) for name in FLAGS.paths}
            rows = []
            for signature in FLAGS.signatures:
                function = signatures[signature]

                def direct(images, function=function):
                    return {k: np.asarray(v)
                            for k, v in function(images=tf.constant(images)).items()}

                paths = {"direct": direct}
                for name, client in clients.items():
                    paths[name] = (lambda images, client=client, signature=signature:
                                   client.predict({"images": images}, signature))
                for batch in (int(b) for b in FLAGS.batches):
                    images = np.random.default_rng(batch).random(
                        (batch, FLAGS.size, FLAGS.size, 3), dtype=np.float32)
                    answer = direct(images)
                    out_mb = sum(v.nbytes for v in answer.values()) / 2**20
                    with contextlib.ExitStack() as stack:
                        batch_paths = dict(paths)
                        if FLAGS.echo and "gRPC" in clients:
                            batch_paths["echo"] = stack.enter_context(
                                echo_path(answer, clients["gRPC"].signature(signature)))
                        rows += [(signature, batch, out_mb, name, stats)
                                 for name, stats in time_paths(batch_paths, images).items()]
            stream = time_stream(path, urls) if FLAGS.stream_images else []
            for client in clients.values():
                client.close()

    print(f"\nResNet-18 width {width} at {FLAGS.size} px; sequential requests taking turns; "
          f"vvs-serve in a {FLAGS.server} on 127.0.0.1; {os.cpu_count()} CPUs; "
          f"medians over {FLAGS.rounds} rounds")
    print(f"{'signature':<16}{'batch':>6}{'out MB':>8}  {'path':<7}{'n':>4}{'req/s':>9}"
          f"{'p50 ms':>9}{'p99 ms':>9}{'p50 vs direct':>15}  rounds")
    for signature, batch, out_mb, name, s in rows:
        versus, spread = "", ""
        if name == "echo":  # its whole time, as a share of the direct call's
            versus = f"{100 + s['overhead']:.1f}% of it"
            spread = f"{100 + s['range'][0]:.0f}..{100 + s['range'][1]:.0f}%"
        elif name != "direct":
            versus = f"{s['overhead']:+.1f}%"
            spread = f"{s['range'][0]:+.0f}..{s['range'][1]:+.0f}%"
        print(f"{signature:<16}{batch:>6}{out_mb:>8.2f}  {name:<7}{s['n']:>4}{s['rps']:>9.1f}"
              f"{s['p50']:>9.2f}{s['p99']:>9.2f}{versus:>15}  {spread}")

    if stream:
        print(f"\nEvaluator stream: activations.extract of {FLAGS.stream_images} images, every "
              f"read-out layer, median of {FLAGS.rounds}")
        rates = dict(stream)
        print(f"{'path':<28}{'images/s':>10}{'vs SavedModel':>15}")
        for name, rate in stream:
            reference = rates[name.replace("gRPC", "SavedModel")]
            print(f"{name:<28}{rate:>10.1f}{100 * (reference / rate - 1):>+14.1f}%")


if __name__ == "__main__":
    app.run(main)
