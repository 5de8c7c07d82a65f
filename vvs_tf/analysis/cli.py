"""vvs-analyze: the analyses of REFERENCE.md on a training workdir, written as JSON (and PNGs).

  vvs-analyze --workdir=RUN --analysis=filters --output=DIR
  vvs-analyze --workdir=RUN --analysis=optimal_stimuli --layer=layer4.1 --channels=0,1,2 --output=DIR
  vvs-analyze --workdir=RUN --analysis=orientation --layer=conv1 --output=DIR
  vvs-analyze --workdir=RUN --analysis=embedding --output=DIR          (memory-bank objectives)
  vvs-analyze --workdir=RUN --analysis=trajectory --measures=orientation:conv1,benchmark:World.categorization --output=DIR

Each writes DIR/<analysis>.json; filters and optimal stimuli also DIR/<analysis>.png. Trajectories
measure every checkpoint the run kept (train with a large train.keep_checkpoints).
"""
import vvs_tf  # noqa: F401

import json
import os
import sys

import numpy as np
from absl import app, flags

ANALYSES = ("filters", "optimal_stimuli", "orientation", "embedding", "trajectory")
FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    kw = dict(flag_values=flag_values)
    flags.DEFINE_string("workdir", None, "Training workdir (config.json and checkpoints/).", **kw)
    flags.DEFINE_enum("analysis", None, ANALYSES, "Which analysis to run.", **kw)
    flags.DEFINE_string("output", None, "Directory for <analysis>.json (and .png).", **kw)
    flags.DEFINE_string("layer", None, "Read-out layer (optimal_stimuli, orientation; default: "
                        "the last read-out, or the first for orientation).", **kw)
    flags.DEFINE_list("channels", ["0", "1", "2", "3"], "Channels of --layer (optimal_stimuli).",
                      **kw)
    flags.DEFINE_integer("steps", 512, "Optimisation steps (optimal_stimuli).", **kw)
    flags.DEFINE_integer("queries", 2000, "Query rows sampled from the bank (embedding).", **kw)
    flags.DEFINE_integer("depth", 4096, "Neighbour ranks of the ranked-similarity curve "
                         "(embedding; at most the bank's rows - 1).", **kw)
    flags.DEFINE_list("measures", ["orientation:conv1"], "trajectory measures: orientation:<layer> "
                      "or benchmark:<vvs-eval benchmark name>.", **kw)
    flags.DEFINE_string("world_dir", None, "Embedded world for World.* benchmarks (trajectory).",
                        **kw)
    flags.DEFINE_integer("seed", 0, "Seed of samples and optimisations.", **kw)


def _save_png(path, image):
    from PIL import Image

    Image.fromarray(np.uint8(np.clip(image, 0, 1) * 255 + 0.5)).save(path)


def run_analysis(f) -> dict:
    """The analysis the flags ask for, as a JSON-able dict (PNG side files written directly)."""
    from vvs_tf import checkpointing
    from vvs_tf.analysis import embedding, filters, optimal_stimuli, orientation, trajectories
    from vvs_tf.analysis.grids import image_grid
    from vvs_tf.evaluate.activations import KerasActivationModel

    if f.analysis == "trajectory":
        measures = {}
        for spec in f.measures:
            kind, _, arg = spec.partition(":")
            if kind == "orientation" and arg:
                measures[spec] = trajectories.orientation_measure(arg)
            elif kind == "benchmark" and arg:
                measures[spec] = trajectories.benchmark_measure(arg, world_dir=f.world_dir,
                                                                seed=f.seed)
            else:
                raise ValueError(f"unknown measure {spec!r}: use orientation:<layer> or "
                                 "benchmark:<name>")
        return {"rows": trajectories.trajectory(f.workdir, measures)}
    objective, _ = checkpointing.restore_objective(f.workdir)
    network = objective.activation_network()
    names = list(network.readout_names)
    if f.analysis == "filters":
        stems = [w for w in network.weights if w.path.endswith("conv1.conv/kernel")]
        if not stems:
            raise ValueError(f"{f.workdir}'s network has no ResNet stem (conv1.conv) to show")
        kernel = stems[0].numpy()
        _save_png(os.path.join(f.output, "filters.png"), filters.filter_grid(kernel))
        return {"layer": "conv1", "colour_opponency": filters.colour_opponency(kernel).tolist()}
    if f.analysis == "optimal_stimuli":
        layer = f.layer or names[-1]
        channels = [int(c) for c in f.channels]
        images, responses = optimal_stimuli.optimal_stimuli(network, layer, channels,
                                                            steps=f.steps, seed=f.seed)
        _save_png(os.path.join(f.output, "optimal_stimuli.png"),
                  image_grid(images, columns=len(images), pad=2))
        return {"layer": layer, "channels": channels, "responses": responses.tolist()}
    if f.analysis == "orientation":
        layer = f.layer or names[0]
        model = KerasActivationModel(network)
        angles, tuning = orientation.orientation_tuning(model, layer, model.input_shape[-2])
        variance = orientation.circular_variance(np.maximum(tuning, 0.0), angles)
        return {"layer": layer, "orientations": angles.tolist(),
                "circular_variance": [None if np.isnan(v) else float(v) for v in variance],
                "median_circular_variance": float(np.nanmedian(variance))}
    bank = getattr(objective, "memory_bank", None)
    if bank is None:
        raise ValueError(f"{f.workdir} trained {objective.config.method}, which keeps no memory "
                         "bank to analyse; embedding needs a memory-bank objective")
    rows, labels = bank.numpy(), objective.bank_labels.numpy()
    queries = min(f.queries, len(rows))
    known = labels >= 0
    local, background = embedding.local_and_background_density(
        rows, local=min(30, len(rows) - 1),
        background=(min(1000, len(rows) - 1), min(4096, len(rows) - 1)), queries=queries,
        seed=f.seed)
    result = {"rows": len(rows), "queries": queries,
              "ranked_similarity": embedding.ranked_similarity_curve(
                  rows, depth=min(f.depth, len(rows) - 1), queries=queries, seed=f.seed).tolist(),
              "local_density": local, "background_density": background}
    if known.sum() > 10:  # rows whose example the run has seen (their label is in bank_labels)
        result["neighbour_quality"] = embedding.neighbour_quality(
            rows[known], labels[known], queries=min(queries, int(known.sum())), seed=f.seed)
        result["neighbour_quality_rows"] = int(known.sum())
    return result


def main(argv, flag_values=flags.FLAGS):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    f = flag_values
    missing = [name for name in ("workdir", "analysis", "output") if not f[name].value]
    if missing:
        raise app.UsageError(f"--{', --'.join(missing)} required")
    os.makedirs(f.output, exist_ok=True)
    try:
        result = run_analysis(f)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"vvs-analyze: error: {error}")
    path = os.path.join(f.output, f"{f.analysis}.json")
    with open(path, "w") as handle:
        json.dump({"workdir": os.path.abspath(f.workdir), "analysis": f.analysis, **result},
                  handle, indent=1)
    print(f"{f.analysis} written to {path}")


def run():
    define_flags()
    app.run(main)
