"""vvs-eval: score a model on named benchmarks; a table per benchmark and a JSON of everything.

    vvs-eval --model=exports/la --benchmarks=World.IT-sim,World.position --output=results.json
    vvs-eval --model=runs/la --compare=runs/untrained --benchmarks=World.V1-sim,World.IT-sim \
        --output=la_vs_untrained.json
    vvs-eval --list

A model is a SavedModel export (BASE/NAME or BASE/NAME/<version>), a vvs-train workdir (its
latest checkpoint's backbone), or an http:// / grpc:// TF Serving endpoint. `--compare` scores a
second model on the same benchmarks, splits and seeds and adds paired two-tailed t-tests.
"""
import json
import os
import sys
import time

from absl import app, flags

import vvs_tf  # noqa: F401  (switches on oneDNN before TensorFlow loads)
from vvs_tf.evaluate import registry

WORLD_FLAGS = {"world_num_images": "num_images", "world_image_size": "image_size",
               "world_seed": "seed", "world_repetitions": "num_repetitions",
               "world_trials_per_image": "trials_per_image"}


def define_flags(flag_values=flags.FLAGS):
    """Define the flags (called when the program runs, never on import)."""
    kw = {"flag_values": flag_values}
    flags.DEFINE_string("model", None, "SavedModel export, vvs-train workdir, or http:// / "
                        "grpc:// endpoint.", **kw)
    flags.DEFINE_list("benchmarks", None, "Comma-separated benchmark names (see --list).", **kw)
    flags.DEFINE_string("output", None, "Where to write the JSON results.", **kw)
    flags.DEFINE_string("compare", None, "A second model: adds paired t-tests per benchmark.", **kw)
    flags.DEFINE_list("layers", None, "Read-out layers to score (default: all of the model's).",
                      **kw)
    flags.DEFINE_string("data_dir", None, "Local BrainIO directory (default $BRAINIO_HOME or "
                        "~/.brainio).", **kw)
    flags.DEFINE_string("world_dir", None, "Embedded world directory (default ~/.cache/vvs_tf/"
                        "world-<num_images>-<image_size>-<seed>, generated when absent).", **kw)
    defaults = registry.WORLD_DEFAULTS
    for flag, key in WORLD_FLAGS.items():
        flags.DEFINE_integer(flag, defaults[key], f"write_world {key} of the embedded world.", **kw)
    flags.DEFINE_string("cache_dir", None, "Activation cache (default $VVS_TF_CACHE/activations "
                        "or ~/.cache/vvs_tf/activations).", **kw)
    flags.DEFINE_integer("batch_size", 64, "Images per model call.", **kw)
    flags.DEFINE_integer("in_flight", 2, "Model calls run at once (1: one at a time, the least "
                         "memory).", lower_bound=1, **kw)
    flags.DEFINE_integer("seed", 0, "Seed of splits, folds and bootstraps.", **kw)
    flags.DEFINE_string("options", None, "JSON of benchmark option overrides keyed by benchmark "
                        "kind or name, e.g. '{\"neural\": {\"n_splits\": 3}}'.", **kw)
    flags.DEFINE_boolean("list", False, "List the registered benchmarks and exit.", **kw)
    flags.DEFINE_boolean("progress", True, "Progress bars on stderr.", **kw)


class ProgressBar:
    """One text bar per (benchmark, stage): images extracted, layers scored, splits fitted."""

    def __init__(self, stream=None, width=28):
        self.stream = stream or sys.stderr
        self.width = width

    def __call__(self, benchmark, stage, done, total, label=""):
        filled = int(self.width * done / max(total, 1))
        line = (f"\r{benchmark} {stage:<12} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{done}/{total} {label}")
        self.stream.write(f"{line:<100}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _number(value, digits=3):
    return "nan" if value is None else f"{value:.{digits}f}"


def format_table(name, result):
    """Per-layer scores of one benchmark with the best layer marked: `score` on the report data,
    `choice` the score on the disjoint data the best layer is chosen on."""
    lines = [f"{name}: {result.get('formula_description') or result.get('formula')}"]
    lines.append(f"  {'layer':<12}{'score':>8}{'s.e.':>8}{'choice':>9}")
    for layer, entry in result["layers"].items():
        mark = "*" if layer == result["best_layer"] else " "
        choice = entry.get("choice_score")
        lines.append(f"{mark} {layer:<12}{_number(entry['score']):>8}{_number(entry['error']):>8}"
                     f"{_number(choice):>9}")
    lines.append(f"  best layer {result['best_layer']}: {_number(result['score'])} +- "
                 f"{_number(result['error'])}")
    return "\n".join(lines)


def format_comparison(comparisons):
    lines = [f"{'benchmark':<24}{'model (layer)':>26}{'compare (layer)':>26}{'t':>8}{'p':>9}  n"]
    for name, c in comparisons.items():
        a = f"{_number(c['score_a'])} ({c['layer_a']})"
        b = f"{_number(c['score_b'])} ({c['layer_b']})"
        if "error" in c:
            lines.append(f"{name:<24}{a:>26}{b:>26}  {c['error']}")
        else:
            lines.append(f"{name:<24}{a:>26}{b:>26}{_number(c['t'], 2):>8}"
                         f"{_number(c['p'], 4):>9}  {c['n']} {c['unit']}s")
    return "\n".join(lines)


def _write_json(path, content):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(content, f, indent=1, allow_nan=False)
    os.replace(tmp, path)


def main(argv, flag_values=flags.FLAGS):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    f = flag_values
    if f.list:
        for name in registry.list_benchmarks():
            print(f"{name:<28}{registry.get_benchmark(name).description}")
        return
    missing = [name for name in ("model", "benchmarks", "output") if not f[name].value]
    if missing:
        raise app.UsageError(f"--{', --'.join(missing)} required")
    try:
        options = json.loads(f.options) if f.options else {}
    except json.JSONDecodeError as error:
        raise app.UsageError(f"--options is not JSON: {error}") from None
    settings = dict(
        data_dir=f.data_dir, world_dir=f.world_dir, cache_dir=f.cache_dir, layers=f.layers,
        batch_size=f.batch_size, in_flight=f.in_flight, seed=f.seed, options=options,
        world={key: f[flag].value for flag, key in WORLD_FLAGS.items() if f[flag].present},
        progress=ProgressBar() if f.progress else None)
    start = time.time()
    try:
        result = registry.evaluate(f.model, f.benchmarks, **settings)
        if f.compare:
            other = registry.evaluate(f.compare, f.benchmarks, **settings)
            result["compare"] = {"model": other["model"], "benchmarks": other["benchmarks"]}
            result["comparisons"] = registry.compare_results(result, other)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"vvs-eval: error: {error}")
    result["elapsed_seconds"] = round(time.time() - start, 1)
    _write_json(f.output, result)
    for name, entry in result["benchmarks"].items():
        print(format_table(name, entry))
        if f.compare:
            print(format_table(f"{name} [compare]", result["compare"]["benchmarks"][name]))
        print()
    if f.compare:
        print(format_comparison(result["comparisons"]))
    print(f"results written to {f.output}")


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
