"""Rendering throughput of the embedded world (images/s at 64 and 128 px).

Target (issue 2): 10,000 images at 64 px in under 60 s on 2 CPU cores.
Usage: python benchmarks/world.py [--num_images_64=10000] [--num_images_128=2000]
"""
import argparse
import os
import time

import vvs_tf  # noqa: F401  (before any TensorFlow import, by project convention)
from vvs_tf.data import world
from vvs_tf.data.world import backgrounds, shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_images_64", type=int, default=10000)
    parser.add_argument("--num_images_128", type=int, default=2000)
    args = parser.parse_args()
    start = time.perf_counter()
    shapes.object_library()
    bank = backgrounds.default_bank()
    print(f"one-time setup (object library, {bank.source} background bank): {time.perf_counter() - start:.2f} s")
    print(f"cpu cores visible: {len(os.sched_getaffinity(0))}")
    for size, count in ((64, args.num_images_64), (128, args.num_images_128)):
        meta = world.sample_metadata(count, seed=0)
        start, cpu = time.perf_counter(), time.process_time()
        world.render(meta, size, seed=0)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"{size:4d} px: {count} images in {seconds:.1f} s = {count / seconds:.0f} images/s "
              f"({cpu:.1f} s of CPU time; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
