"""Neural predictivity: cross-validated, noise-corrected read-out scores per layer and area.

Protocol (Zhuang et al. 2021, REFERENCE.md section 3): for each split a read-out is fitted on the
train rows, its hyperparameter chosen on the select rows and its Pearson r per neuron measured on
the test rows; r is averaged over splits, divided by the neuron's noise ceiling, and summarised
by the median over the area's neurons with a bootstrap standard error over neurons. The best
layer is chosen on the select rows and reported on the test rows, so no number is chosen and
reported on the same data. A registry entry is `NeuralTarget.from_assembly(...)` + `score_layers`.
"""
import dataclasses

import numpy as np

from vvs_tf.evaluate import brainio
from vvs_tf.evaluate.ceiling import split_half_consistency
from vvs_tf.evaluate.regression import Features, make_regression
from vvs_tf.evaluate.stats import bootstrap_se, paired_ttest, pearson_columns

FORMULAS = {
    "r/sqrt(ceiling)": "Pearson r / sqrt(split-half ceiling), per neuron (Zhuang et al. 2021)",
    "(r/ceiling)^2": "(Pearson r / ceiling)^2, per neuron (Brain-Score 2020 style)",
    "r^2/ceiling": "Pearson r^2 / ceiling, per neuron (Brain-Score since 2026)",
}


def noise_corrected(r, ceiling, formula="r/sqrt(ceiling)"):
    """Noise-corrected score per neuron; NaN where the ceiling is not positive."""
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    valid = np.isfinite(ceiling) & (ceiling > 0)
    c = np.where(valid, ceiling, np.nan)
    if formula == "r/sqrt(ceiling)":
        out = r / np.sqrt(c)
    elif formula == "(r/ceiling)^2":
        out = (r / c) ** 2
    elif formula == "r^2/ceiling":
        out = r ** 2 / c
    else:
        raise ValueError(f"unknown normalisation {formula!r}; choose one of {', '.join(FORMULAS)}")
    return out


@dataclasses.dataclass(frozen=True)
class Split:
    """Row indices of one cross-validation split."""
    train: np.ndarray
    select: np.ndarray
    test: np.ndarray


def _stratified_quantiles(rng, labels, n):
    """A random number in [0, 1) per row, uniform within each label group (stratification)."""
    groups = np.zeros(n, np.int64) if labels is None else np.unique(labels, return_inverse=True)[1]
    key = rng.random(n)
    order = np.lexsort((key, groups))
    counts = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n)
    rank[order] = np.arange(n) - starts[groups[order]]
    return (rank + rng.random(n)) / counts[groups]


def make_splits(n, n_splits=10, test_fraction=0.1, select_fraction=0.1, labels=None, seed=0,
                test_pool=None, select_pool=None):
    """Random train/select/test splits, stratified by `labels` (e.g. object_name) when given.

    Within each label group a `test_fraction` of the rows of `test_pool` (default all rows) goes
    to test and a `select_fraction` of the rows of `select_pool` (less any already in test) to
    select; the rest is train. Group sizes that do not divide evenly are rounded at random.
    """
    labels = None if labels is None else np.asarray(labels)
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} stimuli")
    if not 0 < test_fraction < 1 or not 0 <= select_fraction < 1 - test_fraction:
        raise ValueError(f"fractions must lie in (0, 1), got test {test_fraction}, "
                         f"select {select_fraction}")
    all_rows = np.ones(n, bool)
    test_pool = all_rows if test_pool is None else np.asarray(test_pool, bool)
    select_pool = all_rows if select_pool is None else np.asarray(select_pool, bool)
    if not test_pool.any() or (select_fraction > 0 and not select_pool.any()):
        raise ValueError("no stimulus is eligible for the test or select part of the splits")
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(n_splits):
        q_test = np.full(n, np.inf)
        q_test[test_pool] = _stratified_quantiles(
            rng, None if labels is None else labels[test_pool], test_pool.sum())
        test = np.flatnonzero(q_test < test_fraction)
        if np.array_equal(test_pool, select_pool):  # one draw: disjoint quantile intervals
            select = np.flatnonzero((q_test >= test_fraction)
                                    & (q_test < test_fraction + select_fraction))
        else:
            q_sel = np.full(n, np.inf)
            q_sel[select_pool] = _stratified_quantiles(
                rng, None if labels is None else labels[select_pool], select_pool.sum())
            select = np.setdiff1d(np.flatnonzero(q_sel < select_fraction), test)
        train = np.setdiff1d(np.arange(n), np.concatenate([test, select]))
        if min(len(train), len(test)) == 0 or (select_fraction > 0 and len(select) == 0):
            raise ValueError(f"split of {n} stimuli left an empty part (train {len(train)}, "
                             f"select {len(select)}, test {len(test)})")
        splits.append(Split(train, select, test))
    return splits


def variation_splits(variation, labels=None, n_splits=10, test_fraction=0.5, select_fraction=0.2,
                     select_variations=(0, 3), test_variations=(6,), seed=0):
    """Splits for the paper's protocol: hyperparameters chosen on low/medium variation images
    (`select_variations`), scores reported on high variation ones (`test_variations`)."""
    variation = np.asarray(variation)
    return make_splits(len(variation), n_splits, test_fraction, select_fraction, labels, seed,
                       test_pool=np.isin(variation, test_variations),
                       select_pool=np.isin(variation, select_variations))


@dataclasses.dataclass
class NeuralTarget:
    """Repetition-averaged responses [stimuli, neurons] of one area with their noise ceiling."""
    stimulus_ids: np.ndarray
    responses: np.ndarray
    ceiling: np.ndarray
    neuroid_ids: np.ndarray
    region: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.stimulus_ids)

    @property
    def labels(self):
        """Object labels for stratified splits when the stimuli have them, else None."""
        return self.metadata.get("object_name")

    @classmethod
    def from_assembly(cls, assembly, ceiling_splits=100, seed=0):
        """From a (presentation x neuroid) assembly with repetitions, e.g. brainio.load_assembly."""
        reps, ids = brainio.repetition_tensor(assembly)
        mean = brainio.average_over_repetitions(assembly)
        if not np.array_equal(mean["stimulus_id"].values.astype(str), ids):
            raise ValueError("stimulus order of averaged responses and repetitions disagree")
        ceiling = split_half_consistency(reps, n_splits=ceiling_splits, seed=seed)
        metadata = {name: c.values for name, c in mean.coords.items()
                    if c.dims == ("presentation",) and name != "stimulus_id"}
        neuroid_ids = (assembly["neuroid_id"].values.astype(str) if "neuroid_id" in assembly.coords
                       else np.arange(assembly.sizes["neuroid"]).astype(str))
        regions = (set(assembly["region"].values.astype(str)) if "region" in assembly.coords
                   else set())
        return cls(ids, mean.values, ceiling, neuroid_ids, ",".join(sorted(regions)), metadata)


@dataclasses.dataclass
class LayerScore:
    """Scores of one layer: per-neuron raw and noise-corrected r on test and select rows."""
    layer: str
    test_r: np.ndarray
    select_r: np.ndarray
    test_score: np.ndarray
    select_score: np.ndarray
    median: float
    sem: float
    select_median: float
    hyperparameters: list

    def to_dict(self, per_neuron=False):
        out = {"layer": self.layer, "score": self.median, "error": self.sem,
               "select_score": self.select_median,
               "raw_median_r": float(np.nanmedian(self.test_r)) if np.isfinite(self.test_r).any()
               else float("nan"),
               "hyperparameters": self.hyperparameters}
        if per_neuron:
            out["per_neuron_score"] = self.test_score.tolist()
            out["per_neuron_r"] = self.test_r.tolist()
        return out


@dataclasses.dataclass
class NeuralResult:
    """Scores of every layer for one area, the best layer (chosen on select rows) and metadata."""
    layers: dict
    formula: str
    region: str
    neuroid_ids: np.ndarray
    ceiling: np.ndarray
    protocol: dict

    @property
    def best_layer(self):
        finite = {k: v.select_median for k, v in self.layers.items() if np.isfinite(v.select_median)}
        if not finite:
            raise ValueError("no layer has a finite selection score")
        return max(finite, key=finite.get)

    @property
    def best(self):
        return self.layers[self.best_layer]

    def to_dict(self, per_neuron=False):
        return {"region": self.region, "formula": self.formula,
                "formula_description": FORMULAS[self.formula],
                "aggregation": "median over neurons; error = bootstrap s.e. over neurons",
                "best_layer": self.best_layer, "score": self.best.median, "error": self.best.sem,
                "median_ceiling": float(np.nanmedian(self.ceiling)),
                "n_neurons": int(len(self.neuroid_ids)),
                "layers": {k: v.to_dict(per_neuron) for k, v in self.layers.items()},
                "protocol": self.protocol}


def _nanmean0(values):
    """Mean over axis 0 ignoring NaNs; NaN (without a warning) where all are NaN."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _layer_score(layer, test_r, select_r, ceiling, formula, hyper, n_bootstrap, seed):
    test_score = noise_corrected(test_r, ceiling, formula)
    select_score = noise_corrected(select_r, ceiling, formula)
    finite = np.isfinite(test_score)
    median = float(np.nanmedian(test_score)) if finite.any() else float("nan")
    sem = bootstrap_se(test_score[finite], n_resamples=n_bootstrap, seed=seed) if finite.sum() > 1 \
        else float("nan")
    select_median = float(np.nanmedian(select_score)) if np.isfinite(select_score).any() \
        else float("nan")
    return LayerScore(layer, test_r, select_r, test_score, select_score, median, sem, select_median,
                      hyper)


def cross_validated_r(features, responses, splits, regression_factory):
    """Pearson r per neuron on test and select rows of each split: ([splits, N], [splits, N], hp)."""
    test_r, select_r, hyper = [], [], []
    for split in splits:
        regression = regression_factory()
        regression.fit(features, responses, split.train, split.select if len(split.select) else None)
        test_r.append(pearson_columns(regression.predict(features, split.test),
                                      responses[split.test]))
        if len(split.select):
            select_r.append(pearson_columns(regression.predict(features, split.select),
                                            responses[split.select]))
        else:
            select_r.append(np.full(responses.shape[1], np.nan))
        hyper.append(regression.hyperparameters())
    return np.stack(test_r), np.stack(select_r), hyper


def score_layers(activations, target, splits, regression="mask", regression_kwargs=None,
                 formula="r/sqrt(ceiling)", n_bootstrap=200, seed=0, progress=None):
    """Score every layer of `activations` ({layer: [stimuli, ...]} in target's stimulus order).

    regression: 'mask' | 'pls' | 'ridge' or a zero-argument factory returning a regression.
    progress(layer, index, total) is called before each layer (for a progress bar).
    """
    if formula not in FORMULAS:
        raise ValueError(f"unknown normalisation {formula!r}; choose one of {', '.join(FORMULAS)}")
    if callable(regression):
        factory, name = regression, getattr(regression, "__name__", "custom")
    else:
        factory, name = (lambda: make_regression(regression, **(regression_kwargs or {}))), regression
    responses = np.asarray(target.responses, dtype=np.float64)
    layers = {}
    for i, (layer, x) in enumerate(activations.items()):
        if progress is not None:
            progress(layer, i, len(activations))
        if len(x) != len(target):
            raise ValueError(f"layer {layer} has {len(x)} rows for {len(target)} stimuli")
        test_r, select_r, hyper = cross_validated_r(Features(x), responses, splits, factory)
        layers[layer] = _layer_score(layer, _nanmean0(test_r), _nanmean0(select_r), target.ceiling,
                                     formula, hyper, n_bootstrap, seed)
    protocol = {"regression": name, "regression_kwargs": dict(regression_kwargs or {}),
                "n_splits": len(splits), "split_sizes": [[len(s.train), len(s.select), len(s.test)]
                                                        for s in splits],
                "bootstrap_resamples": n_bootstrap, "seed": seed}
    return NeuralResult(layers, formula, target.region, target.neuroid_ids, target.ceiling, protocol)


def average_seeds(results, n_bootstrap=200, seed=0):
    """Average per-neuron r over results of several training seeds, then re-summarise."""
    if not results:
        raise ValueError("average_seeds needs at least one result")
    first = results[0]
    for other in results[1:]:
        if set(other.layers) != set(first.layers) or not np.array_equal(other.neuroid_ids,
                                                                        first.neuroid_ids):
            raise ValueError("results to average must share layers and neurons")
    layers = {}
    for layer in first.layers:
        test_r = _nanmean0([r.layers[layer].test_r for r in results])
        select_r = _nanmean0([r.layers[layer].select_r for r in results])
        hyper = [h for r in results for h in r.layers[layer].hyperparameters]
        layers[layer] = _layer_score(layer, test_r, select_r, first.ceiling, first.formula, hyper,
                                     n_bootstrap, seed)
    protocol = dict(first.protocol, seeds_averaged=len(results))
    return NeuralResult(layers, first.formula, first.region, first.neuroid_ids, first.ceiling,
                        protocol)


def compare(result_a, result_b, layer_a=None, layer_b=None):
    """Paired two-tailed t-test over neurons between two models' (best-layer) scores."""
    if not np.array_equal(result_a.neuroid_ids, result_b.neuroid_ids):
        raise ValueError("compare needs results on the same neurons")
    a = result_a.layers[layer_a or result_a.best_layer]
    b = result_b.layers[layer_b or result_b.best_layer]
    return dict(paired_ttest(a.test_score, b.test_score), layer_a=a.layer, layer_b=b.layer)


def layer_area_map(results):
    """{area: best layer} from {area: NeuralResult}; a good model maps early -> V1 ... late -> IT."""
    return {area: result.best_layer for area, result in results.items()}
