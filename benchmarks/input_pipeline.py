"""Images per second of the input pipeline (make_dataset) at 64 px, batch 128.

Sources: the embedded world in memory (falls back to real-photo crops through from_arrays when the
world module is missing) and the same images written as a folder of JPEGs. Rows: decoding alone,
then the IR/LA recipe (one view) and the SimCLR recipe (two views). Not a test; prints a table.

    python benchmarks/input_pipeline.py [--num_images 2048] [--batches 30]
"""
import vvs_tf  # noqa: F401  (before tensorflow: oneDNN)

import argparse
import os
import resource
import tempfile
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from vvs_tf.data import pipeline, sources


def in_memory_source(num_images: int, image_size: int) -> sources.Source:
    try:
        return sources.open_source("embedded", num_images=num_images, image_size=image_size, seed=0,
                                   validation_fraction=1 / num_images)
    except ImportError:
        import skimage.data
        import skimage.transform

        photo = skimage.data.astronaut()
        rng = np.random.default_rng(0)
        corners = rng.integers(0, photo.shape[0] - 2 * image_size, (num_images, 2))
        images = np.stack([photo[y:y + 2 * image_size:2, x:x + 2 * image_size:2] for y, x in corners])
        return sources.from_arrays(images, np.arange(num_images) % 10, name="photo crops")


def write_folder(source: sources.Source, root: str) -> None:
    for example in source.dataset().as_numpy_iterator():
        directory = os.path.join(root, f"class_{int(example['label']):03d}")
        os.makedirs(directory, exist_ok=True)
        Image.fromarray(example["image"]).save(os.path.join(directory, f"{int(example['index']):06d}.jpg"),
                                               quality=90)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(ds: tf.data.Dataset, batches: int) -> tuple[float, float]:
    """(images/s, CPU ms per image) over ``batches`` batches after a warm-up (tracing, thread pools).

    CPU time per image is the steadier number on a shared machine: it is what the pipeline takes
    away from the training step running beside it.
    """
    it = iter(ds.repeat())
    for _ in range(3):
        next(it)
    start, cpu = time.perf_counter(), cpu_seconds()
    count = sum(len(next(it)["label"]) for _ in range(batches))
    return count / (time.perf_counter() - start), (cpu_seconds() - cpu) / count * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_images", type=int, default=2048)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()

    memory = in_memory_source(args.num_images, args.image_size)
    with tempfile.TemporaryDirectory() as root:
        write_folder(memory, root)
        folder = sources.open_source(f"folder:{root}")
        print(f"input pipeline, {args.image_size} px, batch {args.batch_size}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} (two-view rows count images, each giving 2 views)")
        print(f"{'source':20s} {'recipe':18s} {'images/s':>10s} {'CPU ms/image':>13s}")
        for label, source in ((memory.name, memory), ("folder of JPEGs", folder)):
            rows = [("decode only", source.dataset(shuffle_files=True, seed=0).batch(args.batch_size))]
            for view, num_views in (("ir_la", 1), ("simclr", 2)):
                rows.append((f"{view} x{num_views} view{'s' if num_views > 1 else ''}",
                             pipeline.make_dataset(source, args.batch_size, view, training=True, seed=0,
                                                   image_size=args.image_size, num_views=num_views)))
            for recipe, ds in rows:
                images_per_s, cpu_ms = measure(ds, args.batches)
                print(f"{label:20s} {recipe:18s} {images_per_s:10.0f} {cpu_ms:13.2f}", flush=True)


if __name__ == "__main__":
    main()
