"""Named benchmarks: stimuli + recordings (or trials) + metric + ceiling under a stable name.

A benchmark is data (a stimulus set and the recordings or trials that go with it), a metric from
the evaluator modules and its ceiling. Every entry of `BENCHMARKS` is a few lines; the metrics
themselves live in neural.py, rsa.py, behaviour.py and transfer.py. `evaluate(model, names)` runs
named benchmarks on one model and returns a JSON-able dict with, per benchmark, the scores of
every layer with error bars, the chosen hyperparameters, the splits and seeds, the normalisation
formula and the best layer with the rule that chose it (protocol.best_layer_rule: for the neural,
RSA and property benchmarks, stimuli disjoint from those its score is reported on);
`compare_results` adds paired two-tailed t-tests between two models.

World.* benchmarks read an embedded world directory (docs/CONTRACTS.md), by default
~/.cache/vvs_tf/world-<num_images>-<image_size>-<seed>, generated locally with `write_world` when
absent (no download). The default world seed is 1, so its stimuli differ from the default
training world (seed 0).

The real benchmarks read a local BrainIO directory (default Brain-Score's cache, $BRAINIO_HOME or
~/.brainio; each file either at the top level or in BrainIO's <dir>/<stem>/<file> layout) with
the file names of brain-score/vision's lookup of its legacy files:
  MajajHong2015.{V4,IT}-{mask,pls,ridge}  assy_dicarlo_MajajHong2015_public.nc (presentation x
      neuroid x time_bin; the 70-170 ms bin) with image_dicarlo_hvm-public.csv / .zip
  HvM.{position,pose,size}                image_dicarlo_hvm-public.csv / .zip (its ty, tz, rxy, rxz,
      s and variation columns)
  Cadena2017.V1-{mask,pls,ridge}          assy_tolias_Cadena2017.nc (the 40-100 ms bin) with
      image_tolias_Cadena2017.csv / .zip; stimuli resized to 70 px and centre-cropped to 40 px
  Rajalingham2018-i2n                     assy_dicarlo_Rajalingham2018_public.nc (objectome 2AFC
      trials: image_id/stimulus_id, sample_obj, dist_obj, choice) with
      image_dicarlo_objectome_public.csv / .zip (object label in `object_name` or `obj`)
Assumed, not checked against the real files here: the time bins above (REFERENCE.md section 3),
that the public MajajHong2015 assembly has variation 0, 3 and 6 images (else use `split=random`),
and that the stimulus CSVs name objects in `object_name`. Only public data is read: the
Rajalingham2018 classifier is therefore fitted with out-of-fold predictions on the public images
(see BehaviourBenchmark) rather than on public images and tested on the private ones.
"""
import dataclasses
import json
import logging
import os
import platform
import sys

import numpy as np

import vvs_tf  # noqa: F401  (switches on oneDNN before TensorFlow loads)
from vvs_tf.cache import cache_root
from vvs_tf.evaluate import activations as act
from vvs_tf.evaluate import brainio
from vvs_tf.evaluate.behaviour import behavioural_consistency, classifier_probabilities
from vvs_tf.evaluate.neural import FORMULAS, NeuralTarget, make_splits, score_layers, \
    variation_splits
from vvs_tf.evaluate.reduction import PCA, spatial_mean
from vvs_tf.evaluate.regression import MASK_WEIGHT_DECAYS
from vvs_tf.evaluate.rsa import rdm, rsa_score
from vvs_tf.evaluate.selection import best_layer, holdout
from vvs_tf.evaluate.stats import paired_ttest
from vvs_tf.evaluate.transfer import PROPERTY_TARGETS, probe_layers, property_regression, \
    property_targets

log = logging.getLogger(__name__)

# The embedded world a World.* benchmark reads when no --world_dir is given.
WORLD_DEFAULTS = {"num_images": 2560, "image_size": 64, "seed": 1, "num_repetitions": 10,
                  "trials_per_image": 20}
# V1 read-outs search smaller weight decays (Zhuang et al.'s {.05 ... 5e-5}, z-scored targets).
V1_WEIGHT_DECAYS = (0.05, 0.01, 0.005, 0.001, 5e-4, 1e-4, 5e-5)


# --- where the data lives ---------------------------------------------------------------------

def default_world_dir(num_images, image_size, seed, **extra):
    """~/.cache/vvs_tf/world-<num_images>-<image_size>-<seed> ($VVS_TF_CACHE replaces the root);
    non-default repetitions or trials add a suffix so differently made worlds never collide."""
    root = cache_root()
    name = f"world-{num_images}-{image_size}-{seed}"
    for key, tag in (("num_repetitions", "r"), ("trials_per_image", "t")):
        if key in extra and extra[key] != WORLD_DEFAULTS[key]:
            name += f"-{tag}{extra[key]}"
    return os.path.join(root, name)


def ensure_world(world_dir=None, **requested):
    """The directory of an embedded world, written with `write_world` if absent.

    `requested` are write_world arguments (num_images, image_size, seed, num_repetitions,
    trials_per_image) overriding WORLD_DEFAULTS; an existing directory whose manifest disagrees
    with an explicitly requested value is an error (it would silently score other stimuli).
    """
    unknown = set(requested) - set(WORLD_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown world setting(s) {sorted(unknown)}; known: "
                         f"{sorted(WORLD_DEFAULTS)}")
    params = dict(WORLD_DEFAULTS, **requested)
    checked = requested if world_dir else params
    world_dir = os.path.abspath(os.path.expanduser(world_dir or default_world_dir(**params)))
    manifest_path = os.path.join(world_dir, "manifest.json")
    if not os.path.exists(world_dir):
        from vvs_tf.data.world import write_world

        log.warning("generating the embedded world (%s) in %s", ", ".join(
            f"{k}={v}" for k, v in params.items()), world_dir)
        os.makedirs(os.path.dirname(world_dir), exist_ok=True)
        try:
            write_world(world_dir, **params)
        except FileExistsError:  # another process finished it first
            pass
    if not os.path.isfile(manifest_path):
        raise FileNotFoundError(f"{world_dir} exists but is not a finished world directory "
                                f"(no {manifest_path}); remove it or pass another --world_dir")
    with open(manifest_path) as f:
        manifest = json.load(f)
    wrong = {k: (manifest.get(k), v) for k, v in checked.items() if manifest.get(k) != v}
    if wrong:
        raise ValueError(f"world directory {world_dir} was written with " + ", ".join(
            f"{k}={have} (requested {want})" for k, (have, want) in wrong.items()))
    return world_dir


@dataclasses.dataclass(frozen=True)
class Files:
    """The files of a benchmark: a stimulus set (`stimuli` + .csv/.zip) and an optional recordings
    or trials netCDF, in the embedded world directory or in the BrainIO data directory."""
    where: str  # "world" | "brainio"
    stimuli: str
    recordings: str = None

    def directory(self, ctx):
        return ctx.world_directory() if self.where == "world" else ctx.brainio_directory()

    def names(self):
        return [self.stimuli + ".csv", self.stimuli + ".zip"] + (
            [self.recordings] if self.recordings else [])

    def missing(self, ctx):
        """{file name: paths looked for} of the files that are not there."""
        directory = self.directory(ctx)
        out = {}
        for name in self.names():
            try:
                brainio.locate(directory, name)
            except FileNotFoundError:
                if name.endswith(".zip") and _image_folder(directory, self.stimuli):
                    continue  # BrainIO unpacks the zip next to the CSV
                out[name] = [os.path.join(directory, name),
                             os.path.join(directory, os.path.splitext(name)[0], name)]
        return out

    def check(self, ctx, benchmark):
        missing = self.missing(ctx)
        if missing:
            raise FileNotFoundError(f"benchmark {benchmark} needs {', '.join(missing)} in "
                                    f"{self.directory(ctx)} (looked for " + "; ".join(
                                        " and ".join(p) for p in missing.values()) + ")")

    def stimulus_set(self, ctx):
        directory = self.directory(ctx)
        csv_path = brainio.locate(directory, self.stimuli + ".csv")
        try:
            images = brainio.locate(directory, self.stimuli + ".zip")
        except FileNotFoundError:
            images = _image_folder(directory, self.stimuli)
            if images is None:
                raise
        return brainio.StimulusSet(csv_path, images)

    def recordings_path(self, ctx):
        return brainio.locate(self.directory(ctx), self.recordings)


def _image_folder(directory, stem):
    """The folder of unpacked images next to a stimulus CSV, if there is one."""
    for path in (os.path.join(directory, stem), os.path.join(directory, stem, stem)):
        if os.path.isdir(path) and any(not n.endswith(".csv") for n in os.listdir(path)):
            return path
    return None


# --- one evaluation run's settings -------------------------------------------------------------

@dataclasses.dataclass
class Context:
    """Settings shared by the benchmarks of one `evaluate` call.

    options: overrides of benchmark options, keyed by benchmark kind ("neural", "rsa",
    "behaviour", "properties", "categorization") or by benchmark name (name wins), e.g.
    {"neural": {"n_splits": 3}, "World.IT-sim": {"regression_kwargs": {"epochs": 10}}}.
    progress(benchmark, stage, done, total, label) is called as images and layers finish.
    """
    data_dir: str = None
    world_dir: str = None
    world: dict = dataclasses.field(default_factory=dict)
    cache_dir: str = None
    layers: tuple = None
    batch_size: int = 64
    in_flight: int = 2
    seed: int = 0
    options: dict = dataclasses.field(default_factory=dict)
    progress: object = None
    max_layer_bytes: int = None
    _world_dir: str = dataclasses.field(default=None, init=False, repr=False)

    def brainio_directory(self):
        return os.path.expanduser(self.data_dir or brainio.default_data_dir())

    def world_directory(self):
        if self._world_dir is None:
            self._world_dir = ensure_world(self.world_dir, **self.world)
        return self._world_dir

    def options_for(self, benchmark):
        given = dict(self.options.get(benchmark.kind, {}), **self.options.get(benchmark.name, {}))
        defaults = dict(benchmark.defaults, **benchmark.overrides)
        unknown = set(given) - set(defaults)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} for {benchmark.name}; its "
                             f"options are {sorted(defaults)}")
        merged = dict(defaults, **given)
        if "regression_kwargs" in given:  # merge, so an override keeps the benchmark's grid
            merged["regression_kwargs"] = dict(defaults.get("regression_kwargs", {}),
                                               **given["regression_kwargs"])
        return merged

    def report(self, benchmark, stage, done, total, label=""):
        if self.progress is not None:
            self.progress(benchmark, stage, done, total, label)

    def describe(self):
        return {"data_dir": self.brainio_directory(), "world_dir": self.world_dir,
                "world": dict(WORLD_DEFAULTS, **self.world),
                "cache_dir": self.cache_dir or act.default_cache_dir(),
                "layers": list(self.layers) if self.layers else None,
                "batch_size": self.batch_size, "seed": self.seed, "options": self.options,
                "max_layer_bytes": self.max_layer_bytes}


def _model_size(model):
    """(H, W) the model takes, or None when it takes any size."""
    shape = tuple(getattr(model, "input_shape", (None, None, 3)))
    return None if shape[0] is None or shape[1] is None else (int(shape[0]), int(shape[1]))


def _activations(benchmark, model, ctx, stimuli, layers=None, reduce=None, preprocess=None):
    """Extract (or read cached) activations of `stimuli` for the context's layers."""
    layers = layers or ctx.layers
    spec = dict(preprocess or {}, size=_model_size(model))
    pre = act.Preprocess(**spec)
    out = act.extract(model, stimuli, layers, batch_size=ctx.batch_size, in_flight=ctx.in_flight,
                      preprocess=pre, cache_dir=ctx.cache_dir, reduce=reduce,
                      max_layer_bytes=ctx.max_layer_bytes,
                      progress=lambda done, total: ctx.report(benchmark, "activations", done,
                                                              total, f"{len(stimuli)} images"))
    return out, dict(spec, size=list(spec["size"]) if spec["size"] else None)


def _mean_se(values):
    """Mean and standard error of a vector's finite values; NaN where there are too few."""
    values = np.asarray(values, np.float64).ravel()
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if len(values) else float("nan")
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return mean, se


def _stratified_partition(labels, fraction, seed):
    """Boolean mask picking a random `fraction` of each label's rows (at least one, not all)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        take = min(len(rows) - 1, max(1, int(round(fraction * len(rows)))))
        mask[rng.choice(rows, take, replace=False)] = True
    return mask


def _label_column(metadata, options, path):
    for name in options:
        if name in metadata:
            return np.asarray(metadata[name]).astype(str)
    raise ValueError(f"{path} has no {' or '.join(options)} column")


# --- benchmark kinds ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Benchmark:
    """Base of the benchmark kinds: a name, its files and option overrides."""
    name: str
    files: Files
    description: str = ""
    overrides: dict = dataclasses.field(default_factory=dict)
    kind = ""
    defaults = {}

    def check(self, ctx):
        self.files.check(ctx, self.name)

    def _result(self, options, data, **fields):
        return dict(benchmark=self.name, kind=self.kind, description=self.description,
                    options=options, data=data, **fields)


@dataclasses.dataclass(frozen=True)
class NeuralBenchmark(Benchmark):
    """Cross-validated, noise-corrected predictivity of one area, per layer (neural.py).

    split "variation": hyperparameters chosen on variation 0/3 images, the best layer on one
    part of the variation 6 images and its score on the other (the paper's protocol for V4/IT);
    "random": object-stratified random splits (V1), each holding out 10% of the stimuli for the
    layer choice and 10% for the reported score. `choice_fraction` is the part of the test pool
    reserved for choosing the layer (neural.make_splits).
    """
    region: str = ""
    regression: str = "mask"
    time_bins: tuple = None
    split: str = "variation"
    preprocess: dict = dataclasses.field(default_factory=dict)
    kind = "neural"
    defaults = {"n_splits": 10, "test_fraction": None, "select_fraction": None,
                "choice_fraction": 0.5, "regression_kwargs": {}, "formula": "r/sqrt(ceiling)",
                "n_bootstrap": 200, "ceiling_splits": 100, "split": None}

    def _splits(self, n, metadata, options, seed):
        split = options["split"] or self.split
        labels = metadata.get("object_name")
        fractions = {k: options[k] for k in ("test_fraction", "select_fraction", "choice_fraction")
                     if options[k] is not None}
        if split == "variation":
            if "variation" not in metadata:
                raise ValueError(f"{self.name}: the stimuli have no variation column for "
                                 "variation splits; set the option split='random'")
            return variation_splits(metadata["variation"], labels, options["n_splits"],
                                    seed=seed, **fractions), split
        if split == "random":
            fractions = dict({"test_fraction": 0.2, "select_fraction": 0.1}, **fractions)
            return make_splits(n, options["n_splits"], labels=labels, seed=seed, **fractions), split
        raise ValueError(f"unknown split {split!r}; use 'variation' or 'random'")

    def run(self, model, ctx):
        options = ctx.options_for(self)
        path = self.files.recordings_path(ctx)
        assembly = brainio.load_assembly(path, time_bins=self.time_bins, region=self.region)
        target = NeuralTarget.from_assembly(assembly, options["ceiling_splits"], seed=ctx.seed)
        stimuli = self.files.stimulus_set(ctx).subset(target.stimulus_ids)
        metadata = dict(target.metadata, **stimuli.metadata)
        splits, split_kind = self._splits(len(target), metadata, options, ctx.seed)
        acts, preprocess = _activations(self.name, model, ctx, stimuli,
                                        preprocess=self.preprocess)
        result = score_layers(
            acts, target, splits, regression=self.regression,
            regression_kwargs=options["regression_kwargs"], formula=options["formula"],
            n_bootstrap=options["n_bootstrap"], seed=ctx.seed,
            progress=lambda layer, i, total: ctx.report(self.name, "layers", i, total, layer))
        ctx.report(self.name, "layers", len(acts), len(acts), "done")
        out = result.to_dict(per_neuron=True)
        best = out["layers"][out["best_layer"]]
        data = {"stimulus_set": stimuli.parent.csv_path, "recordings": path,
                "region": self.region, "time_bins": self.time_bins,
                "n_stimuli": len(target), "n_presentations": int(assembly.sizes["presentation"]),
                "preprocess": preprocess, "stimulus_ids": target.stimulus_ids.tolist(),
                "neuroid_ids": target.neuroid_ids.tolist(),
                "ceiling": target.ceiling.tolist()}
        out["protocol"].update(split=split_kind, split_seed=ctx.seed, splits=[
            {"select": s.select.tolist(), "choice": s.choice.tolist(), "test": s.test.tolist()}
            for s in splits])
        return self._result(options, data, **out, paired={
            "unit": "neuron", "ids": data["neuroid_ids"], "values": best["per_neuron_score"]})


@dataclasses.dataclass(frozen=True)
class RSABenchmark(Benchmark):
    """Spearman correlation of each layer's RDM with the recordings' RDMs (rsa.py).

    Each repetition of the recordings is one "subject" (an independent noisy measurement), so
    the leave-one-out ceiling comes from their spread. The stimuli are halved at random: the best
    layer is chosen on one half and reported on the other.
    """
    region: str = ""
    kind = "rsa"
    defaults = {"choice_fraction": 0.5}

    def run(self, model, ctx):
        options = ctx.options_for(self)
        path = self.files.recordings_path(ctx)
        assembly = brainio.load_assembly(path, region=self.region)
        reps, ids = brainio.repetition_tensor(assembly)
        stimuli = self.files.stimulus_set(ctx).subset(ids)
        acts, preprocess = _activations(self.name, model, ctx, stimuli)
        choice, report = holdout(np.arange(len(ids)), options["choice_fraction"],
                                 seed=ctx.seed)
        halves = {"choice": choice, "report": report}
        subjects = np.stack([rdm(r) for r in reps])
        layers = {}
        for i, (layer, x) in enumerate(acts.items()):
            ctx.report(self.name, "layers", i, len(acts), layer)
            model_rdm = rdm(x)
            parts = {k: rsa_score(model_rdm[np.ix_(rows, rows)], subjects[:, rows][:, :, rows])
                     for k, rows in halves.items()}
            report = parts["report"]
            per_subject = np.asarray(report["per_subject"]) / report.get("ceiling", 1.0)
            layers[layer] = {"layer": layer, "score": report.get("normalised_score",
                                                                 report["score"]),
                             "error": _mean_se(per_subject)[1],
                             "raw": report["score"], "ceiling": report.get("ceiling"),
                             "choice_score": parts["choice"].get("normalised_score",
                                                                 parts["choice"]["score"]),
                             "per_subject": per_subject.tolist()}
        ctx.report(self.name, "layers", len(acts), len(acts), "done")
        best = best_layer({k: v["choice_score"] for k, v in layers.items()})
        data = {"stimulus_set": stimuli.parent.csv_path, "recordings": path,
                "region": self.region, "n_stimuli": len(ids), "n_subjects": len(reps),
                "preprocess": preprocess}
        protocol = {"halves": {k: v.tolist() for k, v in halves.items()}, "seed": ctx.seed,
                    "subjects": "repetitions of the recordings",
                    "best_layer_rule": "highest score on the choice half of the stimuli"}
        return self._result(
            options, data, best_layer=best, score=layers[best]["score"],
            error=layers[best]["error"], layers=layers, protocol=protocol,
            formula="mean over subjects of Spearman r(model RDM, subject RDM) / "
                    "leave-one-subject-out ceiling (RDM = 1 - Pearson r)",
            paired={"unit": "subject", "ids": list(range(len(reps))),
                    "values": layers[best]["per_subject"]})


@dataclasses.dataclass(frozen=True)
class BehaviourBenchmark(Benchmark):
    """Image-level consistency with human 2AFC behaviour (behaviour.py, Brain-Score's i2n).

    A logistic-regression classifier on the penultimate layer (the last read-out, or the option
    `layer`) predicts object probabilities for every image out of fold: the images are split into
    `n_folds` folds stratified by object, each fold predicted by a classifier fitted on the
    others (10 folds: the paper's 2160 / 240 ratio). Features are reduced by spatial mean and by
    PCA (fitted on the training folds); as in the paper the better reduction is reported.
    """
    kind = "behaviour"
    defaults = {"layer": None, "n_folds": 10, "reductions": ("spatial_mean", "pca"),
                "n_components": 1000, "metric": "i2n", "n_repetitions": 10, "c": 1.0}

    def _features(self, x, reduction, train, n_components):
        if reduction == "spatial_mean":
            return spatial_mean(x)
        if reduction == "pca":
            return PCA(n_components).fit(x, train).transform(x)
        raise ValueError(f"unknown reduction {reduction!r}; use 'spatial_mean' or 'pca'")

    def run(self, model, ctx):
        options = ctx.options_for(self)
        path = self.files.recordings_path(ctx)
        trials = brainio.load_trials(path)
        full = self.files.stimulus_set(ctx)
        shown = np.isin(full.ids, trials["stimulus_id"])
        if not shown.any():
            raise ValueError(f"no image of {full.csv_path} appears in the trials of {path}")
        stimuli = full.subset(full.ids[shown])
        labels = _label_column(stimuli.metadata, ("object_name", "obj"), full.csv_path)
        layer = options["layer"] or (ctx.layers or model.layers)[-1]
        acts, preprocess = _activations(self.name, model, ctx, stimuli, layers=[layer])
        x = acts[layer]
        rng = np.random.default_rng(ctx.seed)
        fold = np.empty(len(labels), np.int64)
        for label in np.unique(labels):  # stratified folds: each object spread over all folds
            rows = rng.permutation(np.flatnonzero(labels == label))
            offset = rng.integers(options["n_folds"])
            fold[rows] = (np.arange(len(rows)) + offset) % options["n_folds"]
        reductions = {}
        for reduction in options["reductions"]:
            probabilities, objects = None, None
            for k in range(options["n_folds"]):
                ctx.report(self.name, f"classifier ({reduction})", k, options["n_folds"], layer)
                test, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
                if len(test) == 0:
                    continue
                features = self._features(x, reduction, train, options["n_components"])
                p, classes = classifier_probabilities(features, labels, train, test, c=options["c"])
                if objects is None:
                    objects, probabilities = classes, np.full((len(labels), len(classes)), np.nan)
                if not np.array_equal(classes, objects):
                    raise ValueError(f"{self.name}: an object has too few images to appear in "
                                     f"every training fold; use fewer folds")
                probabilities[test] = p
            reductions[reduction] = behavioural_consistency(
                probabilities, stimuli.ids, objects, trials, metric=options["metric"],
                n_repetitions=options["n_repetitions"], seed=ctx.seed)
        ctx.report(self.name, "classifier", 1, 1, "done")
        chosen = max(reductions, key=lambda r: np.nan_to_num(reductions[r]["score"], nan=-np.inf))
        best = dict(reductions[chosen], layer=layer, reduction=chosen, reductions=reductions)
        data = {"stimulus_set": full.csv_path, "trials": path, "n_images": len(stimuli),
                "n_objects": int(len(objects)), "n_trials": int(len(trials["stimulus_id"])),
                "preprocess": preprocess}
        protocol = {"folds": fold.tolist(), "fold_seed": ctx.seed,
                    "split_repetitions_seed": ctx.seed, "classifier":
                    "multinomial logistic regression on standardised features",
                    "reduction_rule": "the better of the reductions (as the paper reports)"}
        return self._result(
            options, data, best_layer=layer, score=best["score"], error=best["error"],
            layers={layer: best}, protocol=protocol, formula=best["formula"],
            paired={"unit": "split repetition", "ids": list(range(best["n_repetitions"])),
                    "values": best["per_repetition"]})


def _chosen_per_split(per_split, choice_key, key):
    """Per-layer mean +- s.e. over splits of `key`, and the selection rule's own score.

    In each split the layer with the best `choice_key` is chosen and that split reports the chosen
    layer's `key`, measured on data disjoint from the choice; the score is the mean +- s.e. of
    these reports, so choosing the layer never inflates it. The best layer is the one chosen in
    most splits (ties: the best mean choice score).
    """
    layers = {}
    for layer in per_split[0]:
        values = np.array([s[layer][key] for s in per_split])
        mean, se = _mean_se(values)
        choice = _mean_se([s[layer][choice_key] for s in per_split])[0]
        layers[layer] = {"layer": layer, "score": float(mean), "error": float(se),
                         "choice_score": choice, "per_split": values.tolist()}
    chosen = [best_layer({layer: s[layer][choice_key] for layer in s}) for s in per_split]
    reported = [float(s[layer][key]) for s, layer in zip(per_split, chosen)]
    votes = {layer: chosen.count(layer) for layer in set(chosen)}
    best = max(votes, key=lambda layer: (votes[layer], layers[layer]["choice_score"]))
    score, error = _mean_se(reported)
    return layers, {"best_layer": best, "score": score, "error": error,
                    "chosen_per_split": chosen, "per_split": reported}


@dataclasses.dataclass(frozen=True)
class PropertyBenchmark(Benchmark):
    """Object position / pose / size regression per layer (transfer.property_regression).

    Spatially averaged layers, ridge alpha tuned on variation 0/3 images, Pearson r (averaged over
    the task's targets) on variation 6 images; repeated over `n_splits` random partitions, each
    choosing its layer on half of those images and reporting it on the other half
    (_chosen_per_split); the error bar is the s.e. over the partitions.
    """
    task: str = ""
    kind = "properties"
    defaults = {"n_splits": 5, "select_fraction": 0.2, "alphas": None}

    def run(self, model, ctx):
        options = ctx.options_for(self)
        stimuli = self.files.stimulus_set(ctx)
        targets = property_targets(stimuli.metadata, self.task)
        if "variation" not in stimuli.metadata:
            raise ValueError(f"{stimuli.csv_path} has no variation column")
        acts, preprocess = _activations(self.name, model, ctx, stimuli, reduce="spatial_mean")
        per_split = []
        for s in range(options["n_splits"]):
            ctx.report(self.name, "splits", s, options["n_splits"], f"seed {ctx.seed + s}")
            per_split.append(property_regression(
                acts, targets, stimuli.metadata["variation"],
                select_fraction=options["select_fraction"], alphas=options["alphas"],
                seed=ctx.seed + s, labels=stimuli.metadata.get("object_name")))
        ctx.report(self.name, "splits", options["n_splits"], options["n_splits"], "done")
        layers, selected = _chosen_per_split([p["layers"] for p in per_split], "choice_r", "score")
        for layer, entry in layers.items():
            entry["per_target_r"] = [p["layers"][layer]["per_target_r"] for p in per_split]
            entry["alpha"] = [p["layers"][layer]["alpha"] for p in per_split]
        data = {"stimulus_set": stimuli.csv_path, "n_stimuli": len(stimuli),
                "targets": list(PROPERTY_TARGETS[self.task]),
                "preprocess": preprocess}
        rows = ("choice_rows", "report_rows")
        protocol = dict({k: v for k, v in per_split[0]["protocol"].items() if k not in rows},
                        seeds=[ctx.seed + s for s in range(options["n_splits"])],
                        splits=[{k[:-5]: p["protocol"][k] for k in rows} for p in per_split],
                        chosen_per_split=selected["chosen_per_split"],
                        best_layer_rule="per split, the layer with the highest r on the "
                                        "layer-choice half of the variation-6 images (a fresh "
                                        "object-stratified half per split) is chosen and scored "
                                        "on the report half; score: mean +- s.e. of those "
                                        "reports; best layer: the one chosen most often")
        return self._result(
            options, data, best_layer=selected["best_layer"], score=selected["score"],
            error=selected["error"], layers=layers, protocol=protocol,
            formula="Pearson r(prediction, truth) on held-out variation-6 images, mean over "
                    "targets; mean +- s.e. over splits",
            paired={"unit": "split", "ids": protocol["seeds"], "values": selected["per_split"]})


@dataclasses.dataclass(frozen=True)
class CategorizationBenchmark(Benchmark):
    """Linear categorization probe per layer (transfer.linear_probe) on spatially pooled layers.

    `n_splits` stratified train / validation partitions; the probe's epoch and the layer are
    chosen on half of each validation set and the top-1 reported on the other half
    (_chosen_per_split); error = s.e. over partitions. The paper's number, the best validation
    top-1, is kept per layer as `paper_top1`.
    """
    kind = "categorization"
    defaults = {"n_splits": 3, "validation_fraction": 0.2, "epochs": 30, "batch_size": 256,
                "learning_rate": 0.01, "weight_decay": 1e-4, "label": "category_name"}

    def run(self, model, ctx):
        options = ctx.options_for(self)
        stimuli = self.files.stimulus_set(ctx)
        names = _label_column(stimuli.metadata, (options["label"],), stimuli.csv_path)
        classes, labels = np.unique(names, return_inverse=True)
        acts, preprocess = _activations(self.name, model, ctx, stimuli, reduce="spatial_mean")
        per_split, partitions = [], []
        probe = {k: options[k] for k in ("epochs", "batch_size", "learning_rate", "weight_decay")}
        for s in range(options["n_splits"]):
            ctx.report(self.name, "splits", s, options["n_splits"], f"seed {ctx.seed + s}")
            val = _stratified_partition(labels, options["validation_fraction"], ctx.seed + s)
            choice, report = holdout(np.flatnonzero(val), 0.5, labels[val], seed=ctx.seed + s)
            partitions.append({"choice": choice.tolist(), "report": report.tolist()})
            per_split.append(probe_layers(acts, labels, np.flatnonzero(~val), choice,
                                          report=report, num_classes=len(classes),
                                          seed=ctx.seed + s, **probe))
        ctx.report(self.name, "splits", options["n_splits"], options["n_splits"], "done")
        layers, selected = _chosen_per_split(per_split, "top1", "report_top1")
        for layer, entry in layers.items():
            entry["best_epoch"] = [p[layer]["best_epoch"] for p in per_split]
            entry["paper_top1"] = _mean_se([p[layer]["top1"] for p in per_split])[0]
        data = {"stimulus_set": stimuli.csv_path, "n_stimuli": len(stimuli),
                "classes": classes.tolist(), "preprocess": preprocess}
        protocol = {"validation_rows": partitions, "seeds": [ctx.seed + s for s in
                                                               range(options["n_splits"])],
                    "chosen_per_split": selected["chosen_per_split"],
                    "best_layer_rule": "per split, the validation images are halved (stratified "
                                       "by class); the probe's epoch and the layer are chosen on "
                                       "the choice half (best top-1 there: the paper's number, "
                                       "kept as paper_top1) and scored on the report half; best "
                                       "layer: the one chosen most often"}
        return self._result(
            options, data, best_layer=selected["best_layer"], score=selected["score"],
            error=selected["error"], layers=layers, protocol=protocol,
            formula="top-1 of a softmax probe on the report half of the validation images, at "
                    "the epoch best on the choice half; mean +- s.e. over partitions",
            paired={"unit": "split", "ids": protocol["seeds"], "values": selected["per_split"]})


# --- the registry -------------------------------------------------------------------------------

BENCHMARKS = {}


def register(benchmark, overwrite=False):
    """Add a benchmark under its name; re-registering a name needs overwrite=True."""
    if benchmark.name in BENCHMARKS and not overwrite:
        raise ValueError(f"benchmark {benchmark.name!r} is already registered")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def get_benchmark(name):
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[name]


def list_benchmarks():
    return sorted(BENCHMARKS)


def _world_neural(area):
    files = Files("world", "stimulus_set", f"assy_world_{area}.nc")
    grid = {"weight_decays": V1_WEIGHT_DECAYS} if area == "V1" else {}
    for method, suffix in (("mask", ""), ("pls", "-pls"), ("ridge", "-ridge")):
        register(NeuralBenchmark(
            f"World.{area}-sim{suffix}", files, f"simulated {area} of the embedded world, "
            f"{method} read-out", overrides={"regression_kwargs": grid if method == "mask" else {}},
            region=area, regression=method))


for _area in ("V1", "V4", "IT"):
    _world_neural(_area)
_WORLD = Files("world", "stimulus_set")
register(BehaviourBenchmark("World.i2n-sim", Files("world", "stimulus_set",
                                                   "behaviour_world_objectome.nc"),
                            "simulated 2AFC observers of the embedded world, i2n"))
for _task in ("position", "pose", "size"):
    register(PropertyBenchmark(f"World.{_task}", _WORLD, f"object {_task} regression on the "
                               "embedded world", task=_task))
register(CategorizationBenchmark("World.categorization", _WORLD,
                                 "8-way category probe on the embedded world"))
register(RSABenchmark("World.rsa-IT-sim", Files("world", "stimulus_set", "assy_world_IT.nc"),
                      "RDM of simulated IT", region="IT"))

_HVM = Files("brainio", "image_dicarlo_hvm-public", "assy_dicarlo_MajajHong2015_public.nc")
_CADENA = Files("brainio", "image_tolias_Cadena2017", "assy_tolias_Cadena2017.nc")
for _method in ("mask", "pls", "ridge"):
    for _area in ("V4", "IT"):
        register(NeuralBenchmark(f"MajajHong2015.{_area}-{_method}", _HVM,
                                 f"Majaj et al. 2015 {_area}, {_method} read-out", region=_area,
                                 regression=_method, time_bins=(70, 170)))
    register(NeuralBenchmark(
        f"Cadena2017.V1-{_method}", _CADENA, f"Cadena et al. 2019 V1, {_method} read-out",
        overrides={"regression_kwargs": {"weight_decays": V1_WEIGHT_DECAYS}
                   if _method == "mask" else {}},
        region="V1", regression=_method, time_bins=(40, 100), split="random",
        preprocess={"resize": 70, "crop": 40}))
register(BehaviourBenchmark("Rajalingham2018-i2n", Files(
    "brainio", "image_dicarlo_objectome_public", "assy_dicarlo_Rajalingham2018_public.nc"),
    "Rajalingham et al. 2018 human objectome 2AFC, i2n"))
for _task in ("position", "pose", "size"):
    register(PropertyBenchmark(f"HvM.{_task}", Files("brainio", "image_dicarlo_hvm-public"),
                               f"object {_task} regression on HvM", task=_task))


# --- running benchmarks --------------------------------------------------------------------------

def open_model(spec, layers=None):
    """(activation model, description) for a SavedModel export (BASE/NAME or BASE/NAME/<version>),
    a training workdir (config.json + checkpoints/: its backbone), an http:// or grpc:// endpoint,
    a .keras file, a keras.Model or an activation model object."""
    description = {"spec": spec if isinstance(spec, str) else type(spec).__name__}
    if isinstance(spec, (str, os.PathLike)) and os.path.isfile(os.path.join(spec, "config.json")):
        from vvs_tf.checkpointing import restore_backbone

        backbone, config = restore_backbone(os.fspath(spec))
        model = act.KerasActivationModel(backbone, layers)
        description.update(kind="training workdir", config=config)
    else:
        model = act.open_activation_model(spec, layers)
        description["kind"] = type(model).__name__
        if getattr(model, "path", None):
            description["path"] = model.path
    description.update(identifier=act.model_identifier(model), layers=list(model.layers),
                       input_shape=[d for d in model.input_shape])
    return model, description


def _jsonable(value):
    """NaN/inf -> None, NumPy scalars/arrays -> Python, tuples -> lists (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _versions():
    import tensorflow as tf

    return {"vvs_tf": vvs_tf.__version__, "tensorflow": tf.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def evaluate(model, benchmarks, data_dir=None, world_dir=None, world=None, cache_dir=None,
             layers=None, batch_size=64, seed=0, options=None, progress=None,
             max_layer_bytes=None, in_flight=2):
    """Run named benchmarks on one model; a JSON-able dict of everything needed to reproduce.

    model: anything `open_model` takes. benchmarks: names (list or comma-separated string).
    world: write_world settings of the World.* benchmarks' world (see WORLD_DEFAULTS).
    Every benchmark's files are checked before any activation is computed.
    """
    names = [n.strip() for n in benchmarks.split(",")] if isinstance(benchmarks, str) \
        else list(benchmarks)
    selected = [get_benchmark(n) for n in names if n]
    if not selected:
        raise ValueError("no benchmark given")
    ctx = Context(data_dir=data_dir, world_dir=world_dir, world=dict(world or {}),
                  cache_dir=cache_dir, layers=tuple(layers) if layers else None,
                  batch_size=batch_size, in_flight=in_flight, seed=seed,
                  options=dict(options or {}), progress=progress, max_layer_bytes=max_layer_bytes)
    for benchmark in selected:
        ctx.options_for(benchmark)  # unknown options fail before any work
    for benchmark in selected:
        benchmark.check(ctx)
    activation_model, description = open_model(model, layers)
    if ctx.layers:
        act._select_layers(activation_model.layers, ctx.layers)
    results = {}
    for benchmark in selected:
        log.info("running %s", benchmark.name)
        results[benchmark.name] = _jsonable(benchmark.run(activation_model, ctx))
    settings = ctx.describe()
    if any(b.files.where == "world" for b in selected):
        settings["world_dir"] = ctx.world_directory()
        with open(os.path.join(settings["world_dir"], "manifest.json")) as f:
            manifest = json.load(f)
        settings["world"] = {k: manifest.get(k) for k in ("format", *WORLD_DEFAULTS,
                                                          "variations", "vvs_tf_version")}
    else:
        settings.pop("world")
    return _jsonable({"model": description, "benchmarks": results, "settings": settings,
                      "versions": _versions(), "command": list(sys.argv)})


def compare_results(a, b):
    """Paired two-tailed t-tests, per benchmark both results share, of model a vs model b.

    The pairs are each benchmark's `paired` units: neurons' noise-corrected scores at each
    model's best layer (neural), split repetitions (behaviour), subjects (RSA), splits
    (properties, categorization). t > 0 means model a scores higher.
    """
    out = {}
    for name in a["benchmarks"]:
        if name not in b["benchmarks"]:
            continue
        pa, pb = a["benchmarks"][name]["paired"], b["benchmarks"][name]["paired"]
        if pa["ids"] != pb["ids"]:
            raise ValueError(f"{name}: the two results are not paired (different {pa['unit']}s)")
        values = [np.array([np.nan if v is None else v for v in p["values"]], np.float64)
                  for p in (pa, pb)]
        try:
            test = paired_ttest(*values)
        except ValueError as error:  # fewer than 2 finite pairs
            test = {"error": str(error)}
        out[name] = _jsonable(dict(test, unit=pa["unit"], test="paired two-tailed t-test",
                                   layer_a=a["benchmarks"][name]["best_layer"],
                                   layer_b=b["benchmarks"][name]["best_layer"],
                                   score_a=a["benchmarks"][name]["score"],
                                   score_b=b["benchmarks"][name]["score"]))
    return out


__all__ = ["BENCHMARKS", "Benchmark", "BehaviourBenchmark", "CategorizationBenchmark", "Context",
           "FORMULAS", "Files", "NeuralBenchmark", "PropertyBenchmark", "RSABenchmark",
           "WORLD_DEFAULTS", "compare_results", "default_world_dir", "ensure_world", "evaluate",
           "get_benchmark", "list_benchmarks", "open_model", "register", "MASK_WEIGHT_DECAYS"]
