"""Time and peak memory of the neural read-out fits (mask, PLS, ridge) on a synthetic layer.

    python benchmarks/neural_fit.py [--images 2560 --size 28 --channels 128 --neurons 168]

The layer (images x size x size x channels, float32) is written to an on-disk .npy and opened as a
read-only memmap, as vvs_tf.evaluate.activations.extract returns it. Targets come from a planted
factorised (spatial x channel) map plus noise. Each fit runs in a fresh process so that its peak
memory is its own: `heap` is tracemalloc's peak of Python/NumPy allocations during the fit,
`RSS` is the growth of the process's peak resident set over its size just before the fit (it
includes the memmap's pages as they are read, and TensorFlow's own allocations). Targets: RSS at
most 2x the layer array. The mask fit trains all neurons x all weight decays in one TF graph; on
a CPU run it for a few epochs (--mask_epochs) and read the per-epoch time. `test r` is a sanity
check only: on isotropic random activations ridge and PLS cannot find a neuron's few hundred
relevant features among 100k, and the mask needs its full epochs to exploit the factorisation.
"""
import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import tracemalloc

import numpy as np


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_layer(path, n, size, channels, neurons, seed=0, noise=0.5):
    """Write relu(N(0,1)) activations to `path` (.npy) and return targets [n, neurons]."""
    rng = np.random.default_rng(seed)
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                  shape=(n, size, size, channels))
    spatial = np.zeros((neurons, size, size), np.float32)
    centres = rng.integers(2, size - 2, (neurons, 2))
    for k, (i, j) in enumerate(centres):
        spatial[k, i - 2:i + 3, j - 2:j + 3] = rng.random((5, 5))
    channel = rng.standard_normal((neurons, channels)).astype(np.float32)
    signal = np.empty((n, neurons))
    for start in range(0, n, 128):
        block = np.maximum(rng.standard_normal((min(128, n - start), size, size, channels),
                                               dtype=np.float32), 0)
        x[start:start + len(block)] = block
        per_position = block.reshape(len(block), size * size, channels) @ channel.T
        signal[start:start + len(block)] = np.einsum("bpn,np->bn", per_position,
                                                     spatial.reshape(neurons, -1))
    x.flush()
    del x
    signal = (signal - signal.mean(0)) / signal.std(0)
    return signal + noise * rng.standard_normal(signal.shape)


def _fit(method, path, y, mask_epochs, queue):
    import vvs_tf  # noqa: F401
    from vvs_tf.evaluate.regression import Features, make_regression
    from vvs_tf.evaluate.stats import pearson_columns

    kwargs = {"mask": {"epochs": mask_epochs}, "pls": {"n_components": 25}, "ridge": {}}[method]
    if method == "mask":
        import tensorflow as tf  # load TF (and its allocator) before the baseline
        tf.constant(0.0)
    x = np.load(path, mmap_mode="r")
    n = len(x)
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    train, select, test = (np.sort(order[: int(0.8 * n)]), np.sort(order[int(0.8 * n): int(0.9 * n)]),
                           np.sort(order[int(0.9 * n):]))
    regression = make_regression(method, **kwargs)
    features = Features(x)
    baseline = _rss_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    regression.fit(features, y, train, select)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    prediction = regression.predict(features, test)
    predict_seconds = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put({"method": method, "fit_s": fit_seconds, "predict_s": predict_seconds,
               "heap": heap_peak, "rss": peak_rss - baseline,
               "r": float(np.nanmedian(pearson_columns(prediction, y[test]))),
               "epoch_seconds": getattr(regression, "epoch_seconds", None)})


def run(args):
    workdir = args.workdir or tempfile.mkdtemp(prefix="vvs_neural_fit_")
    path = os.path.join(workdir, "layer.npy")
    start = time.perf_counter()
    y = make_layer(path, args.images, args.size, args.channels, args.neurons)
    layer_bytes = args.images * args.size ** 2 * args.channels * 4
    print(f"layer {args.images} x {args.size}x{args.size}x{args.channels} float32 = "
          f"{layer_bytes / 2**30:.2f} GiB on disk ({time.perf_counter() - start:.0f} s to write); "
          f"{args.neurons} neurons; 80/10/10 train/select/test", flush=True)
    context = multiprocessing.get_context("spawn")
    rows = []
    for method in args.methods.split(","):
        queue = context.Queue()
        process = context.Process(target=_fit, args=(method, path, y, args.mask_epochs, queue))
        process.start()
        result = queue.get()
        process.join()
        rows.append(result)
        print(f"  {method} done in {result['fit_s']:.1f} s", file=sys.stderr, flush=True)
    print(f"{'method':<8}{'fit s':>9}{'predict s':>11}{'heap MiB':>10}{'RSS MiB':>9}"
          f"{'RSS/layer':>11}{'test r':>8}  note")
    for row in rows:
        note = ""
        if row["method"] == "mask":
            epochs = row["epoch_seconds"]
            steady = np.median(epochs[1:]) if len(epochs) > 1 else epochs[0]
            note = (f"{len(epochs)} epoch(s) of 7 weight decays x {args.neurons} neurons in one "
                    f"graph; first epoch {epochs[0]:.1f} s (with tracing), then {steady:.1f} s/epoch")
        print(f"{row['method']:<8}{row['fit_s']:>9.1f}{row['predict_s']:>11.2f}"
              f"{row['heap'] / 2**20:>10.0f}{row['rss'] / 2**20:>9.0f}"
              f"{row['rss'] / layer_bytes:>11.2f}{row['r']:>8.3f}  {note}")
    if not args.workdir:
        os.remove(path)
        os.rmdir(workdir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--neurons", type=int, default=168)
    parser.add_argument("--methods", default="ridge,pls,mask")
    parser.add_argument("--mask_epochs", type=int, default=1)
    parser.add_argument("--workdir", default=None, help="keep the layer file here")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
