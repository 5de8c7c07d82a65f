"""vvs-main: the whole job on the embedded default world, on a fresh machine, with no download.

Trains IR, then LA warm-started from it, beside the untrained control (configs/tiny/*), and prints
each network's weighted-kNN top-1 on the embedded world's validation split.
"""
import importlib
import os

import vvs_tf  # noqa: F401

from absl import app, flags, logging

from vvs_tf.train import train

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("workdir", "runs/main", "Where runs, exports and results go.")
    flags.DEFINE_integer("epochs", 6, "Epochs of IR and of LA each.")
    flags.DEFINE_integer("num_images", 2048, "Embedded-world training images.")


def tiny_config(method: str, epochs: int, num_images: int):
    """configs/tiny/<method>.py with the main job's epochs and data size."""
    config = importlib.import_module(f"configs.tiny.{method}").get_config()
    config.data.num_images = num_images
    config.train.epochs = 0 if method == "untrained" else epochs
    return config


def run_main_job(workdir: str, epochs: int, num_images: int) -> dict:
    """Trains untrained / IR / LA(<-IR) tiny networks; returns {name: summary}."""
    runs = {}
    for name, method, warm in (("untrained", "untrained", ""), ("ir", "ir", ""), ("la", "la", "ir")):
        config = tiny_config(method, epochs, num_images)
        if warm:
            config.train.warm_start = os.path.join(workdir, warm)
        logging.info("training %s", name)
        runs[name] = train(config, os.path.join(workdir, name))
    return runs


def format_table(runs: dict) -> str:
    lines = [f"{'network':<12}{'epochs':>8}{'kNN top-1':>12}"]
    lines += [f"{n:<12}{r['epochs']:>8}{r['knn_top1']:>12.3f}" for n, r in runs.items()]
    return "\n".join(lines)


def main(argv):
    del argv
    runs = run_main_job(FLAGS.workdir, FLAGS.epochs, FLAGS.num_images)
    print(format_table(runs))


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
