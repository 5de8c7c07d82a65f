"""vvs-main: the whole job on the embedded default world, on a fresh machine, with no download.

Trains the untrained control, IR, and LA warm-started from IR (configs/tiny/*), exports each as an
activation SavedModel, scores every layer on the embedded world's simulated V1/V4/IT recordings,
and prints a table per area (best layer, noise-corrected score with its bootstrap error) beside
each network's kNN accuracy.
"""
import importlib
import json
import os

import vvs_tf  # noqa: F401

from absl import app, flags, logging

from vvs_tf.checkpointing import restore_backbone
from vvs_tf.evaluate.registry import evaluate
from vvs_tf.exporting import export_activation_model
from vvs_tf.train import train

FLAGS = flags.FLAGS
NETWORKS = (("untrained", "untrained", ""), ("ir", "ir", ""), ("la", "la", "ir"))
AREAS = ("World.V1-sim", "World.V4-sim", "World.IT-sim")


def define_flags():
    flags.DEFINE_string("workdir", "runs/main", "Where runs, exports and results go.")
    flags.DEFINE_integer("epochs", 6, "Epochs of IR and of LA each.")
    flags.DEFINE_integer("num_images", 2048, "Embedded-world training images.")
    flags.DEFINE_integer("world_images", 1280, "Images of the evaluation world (simulated recordings).")
    flags.DEFINE_string("regression", "ridge", "Neural read-out: mask (the paper's; slow on CPU), "
                        "pls or ridge.")


def tiny_config(method: str, epochs: int, num_images: int):
    """configs/tiny/<method>.py with the main job's epochs and data size."""
    config = importlib.import_module(f"configs.tiny.{method}").get_config()
    config.data.num_images = num_images
    config.train.epochs = 0 if method == "untrained" else epochs
    return config


def area_benchmarks(regression: str):
    return [a if regression == "mask" else f"{a}-{regression}" for a in AREAS]


def run_main_job(workdir: str, epochs: int, num_images: int, world_images: int,
                 regression: str) -> dict:
    """Trains, exports and scores each network; returns {network: {"knn_top1", benchmarks...}}."""
    summary = {}
    for name, method, warm in NETWORKS:
        config = tiny_config(method, epochs, num_images)
        if warm:
            config.train.warm_start = os.path.join(workdir, warm)
        logging.info("training %s", name)
        run_dir = os.path.join(workdir, name)
        trained = train(config, run_dir)
        network, config_dict = restore_backbone(run_dir)
        export = export_activation_model(network, os.path.join(workdir, "models", name),
                                         config=config_dict)
        logging.info("scoring %s (%s)", name, export)
        results = evaluate(export, area_benchmarks(regression),
                           world=dict(num_images=world_images, image_size=config.data.image_size),
                           cache_dir=os.path.join(workdir, "activation_cache"))
        with open(os.path.join(workdir, f"results_{name}.json"), "w") as f:
            json.dump(results, f, indent=1)
        summary[name] = {"knn_top1": trained["knn_top1"], "epochs": trained["epochs"],
                         **results["benchmarks"]}
    return summary


def format_tables(summary: dict, regression: str) -> str:
    """One table per area: each network's best layer and noise-corrected score +- s.e."""
    lines = []
    for area, benchmark in zip(AREAS, area_benchmarks(regression)):
        result = next(iter(summary.values()))[benchmark]
        lines += [f"{area} ({regression} read-out; {result.get('formula')}; simulated data)",
                  f"  {'network':<12}{'best layer':>12}{'score':>9}{'s.e.':>8}"]
        for name, entry in summary.items():
            r = entry[benchmark]
            lines.append(f"  {name:<12}{r['best_layer']:>12}{r['score']:>9.3f}{r['error']:>8.3f}")
        lines.append("")
    rule = next(iter(summary.values()))[area_benchmarks(regression)[0]].get("protocol", {})
    if "best_layer_rule" in rule:
        lines += [f"best layer: {rule['best_layer_rule']}", ""]
    lines.append(f"{'network':<12}{'epochs':>8}{'kNN top-1':>12}")
    lines += [f"{n:<12}{e['epochs']:>8}{e['knn_top1']:>12.3f}" for n, e in summary.items()]
    return "\n".join(lines)


def main(argv):
    del argv
    summary = run_main_job(FLAGS.workdir, FLAGS.epochs, FLAGS.num_images, FLAGS.world_images,
                           FLAGS.regression)
    print(format_tables(summary, FLAGS.regression))


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
