"""Neural predictivity: cross-validated, noise-corrected read-out scores per layer and area.

Protocol (Zhuang et al. 2021, REFERENCE.md section 3): for each split a read-out is fitted on the
train rows, its hyperparameter chosen on the select rows and its Pearson r per neuron measured on
the held-out rows; r is averaged over splits, divided by the neuron's noise ceiling, and
summarised by the median over the area's neurons with a bootstrap standard error over neurons.

The held-out rows are drawn from the test pool (variation 6 in the paper's protocol), which is
partitioned once, stratified by object, into a layer-choice part and a report part
(selection.holdout); every split holds out the same fraction of each. The best layer is the one
with the highest median score on its choice rows, and the score reported for it comes from its
report rows only: no number is both chosen and reported on the same stimuli, and the select rows
(which tuned the regulariser, to the benefit of early layers) play no part in the layer choice.
A registry entry is `NeuralTarget.from_assembly(...)` + `score_layers`.
"""
import dataclasses

import numpy as np

from vvs_tf.evaluate import brainio
from vvs_tf.evaluate.ceiling import split_half_consistency
from vvs_tf.evaluate.regression import Features, make_regression
from vvs_tf.evaluate.selection import best_layer, holdout, stratified_quantiles
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
    """Row indices of one cross-validation split: the read-out is fitted on `train`, its
    hyperparameter chosen on `select`, the best layer chosen on `choice` and scored on `test`."""
    train: np.ndarray
    select: np.ndarray
    choice: np.ndarray
    test: np.ndarray


def make_splits(n, n_splits=10, test_fraction=0.1, select_fraction=0.1, labels=None, seed=0,
                test_pool=None, select_pool=None, choice_fraction=0.5):
    """Random train/select/choice/test splits, stratified by `labels` (e.g. object_name).

    The rows of `test_pool` (default all rows) are partitioned once, within each label group,
    into a layer-choice part (a `choice_fraction` of them) and a report part. Each split holds out
    a `test_fraction` of every (label, part) group: the held-out choice-part rows are its `choice`
    rows, the held-out report-part rows its `test` rows. A `select_fraction` of the rows of
    `select_pool` (less any held out) goes to select; the rest is train. Group sizes that do not
    divide evenly are rounded at random.
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
    pool_rows = np.flatnonzero(test_pool)
    choice_pool = np.zeros(n, bool)
    choice_pool[holdout(pool_rows, choice_fraction,
                        None if labels is None else labels[pool_rows], rng)[0]] = True
    # Stratify held-out rows by (label, part), so choice and test both get test_fraction of each.
    groups = np.unique(labels, return_inverse=True)[1] if labels is not None else np.zeros(n, int)
    groups = 2 * groups + choice_pool
    splits = []
    for _ in range(n_splits):
        q_test = np.full(n, np.inf)
        q_test[test_pool] = stratified_quantiles(rng, groups[test_pool], test_pool.sum())
        held = q_test < test_fraction
        choice, test = np.flatnonzero(held & choice_pool), np.flatnonzero(held & ~choice_pool)
        if np.array_equal(test_pool, select_pool):  # one draw: disjoint quantile intervals
            select = (q_test >= test_fraction) & (q_test < test_fraction + select_fraction)
        else:
            q_sel = np.full(n, np.inf)
            q_sel[select_pool] = stratified_quantiles(
                rng, None if labels is None else labels[select_pool], select_pool.sum())
            select = (q_sel < select_fraction) & ~held
        train, select = np.flatnonzero(~held & ~select), np.flatnonzero(select)
        if min(len(train), len(choice), len(test)) == 0 or (select_fraction > 0
                                                            and len(select) == 0):
            raise ValueError(f"split of {n} stimuli left an empty part (train {len(train)}, "
                             f"select {len(select)}, choice {len(choice)}, test {len(test)})")
        splits.append(Split(train, select, choice, test))
    return splits


def variation_splits(variation, labels=None, n_splits=10, test_fraction=0.5, select_fraction=0.2,
                     select_variations=(0, 3), test_variations=(6,), seed=0, choice_fraction=0.5):
    """Splits for the paper's protocol: hyperparameters chosen on low/medium variation images
    (`select_variations`); the best layer chosen on one part of the high variation images
    (`test_variations`) and scored on the other."""
    variation = np.asarray(variation)
    return make_splits(len(variation), n_splits, test_fraction, select_fraction, labels, seed,
                       test_pool=np.isin(variation, test_variations),
                       select_pool=np.isin(variation, select_variations),
                       choice_fraction=choice_fraction)


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


BEST_LAYER_RULE = ("the layer with the highest median noise-corrected r on its layer-choice rows "
                   "(a fixed, object-stratified part of the test pool, disjoint from the report "
                   "rows); its reported score is the median on the report rows only")


def _median(values):
    """Median of the finite values; NaN (without a warning) where there are none."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")


@dataclasses.dataclass
class LayerScore:
    """Scores of one layer: per-neuron raw and noise-corrected r on the report (test), layer-choice
    and select rows; `median` and `sem` summarise the report rows' noise-corrected scores."""
    layer: str
    test_r: np.ndarray
    choice_r: np.ndarray
    select_r: np.ndarray
    test_score: np.ndarray
    median: float
    sem: float
    choice_median: float
    select_median: float
    hyperparameters: list

    def to_dict(self, per_neuron=False):
        out = {"layer": self.layer, "score": self.median, "error": self.sem,
               "choice_score": self.choice_median, "select_score": self.select_median,
               "raw_median_r": _median(self.test_r), "hyperparameters": self.hyperparameters}
        if per_neuron:
            out["per_neuron_score"] = self.test_score.tolist()
            out["per_neuron_r"] = self.test_r.tolist()
        return out


@dataclasses.dataclass
class NeuralResult:
    """Scores of every layer for one area, the best layer (chosen on the layer-choice rows) and
    metadata."""
    layers: dict
    formula: str
    region: str
    neuroid_ids: np.ndarray
    ceiling: np.ndarray
    protocol: dict

    @property
    def best_layer(self):
        return best_layer({k: v.choice_median for k, v in self.layers.items()})

    @property
    def best(self):
        return self.layers[self.best_layer]

    def to_dict(self, per_neuron=False):
        return {"region": self.region, "formula": self.formula,
                "formula_description": FORMULAS[self.formula],
                "aggregation": "median over neurons of the report rows' scores; error = bootstrap "
                               "s.e. over neurons; best layer: " + BEST_LAYER_RULE,
                "best_layer": self.best_layer, "score": self.best.median, "error": self.best.sem,
                "median_ceiling": float(np.nanmedian(self.ceiling)),
                "n_neurons": int(len(self.neuroid_ids)),
                "layers": {k: v.to_dict(per_neuron) for k, v in self.layers.items()},
                "protocol": dict(self.protocol, best_layer_rule=BEST_LAYER_RULE)}


def _nanmean0(values):
    """Mean over axis 0 ignoring NaNs; NaN (without a warning) where all are NaN."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _layer_score(layer, r, ceiling, formula, hyper, n_bootstrap, seed):
    """Summarise per-neuron r ({"test", "choice", "select"}: [N]) of one layer."""
    scores = {part: noise_corrected(r[part], ceiling, formula) for part in r}
    test_score = scores["test"]
    finite = np.isfinite(test_score)
    sem = bootstrap_se(test_score[finite], n_resamples=n_bootstrap, seed=seed) if finite.sum() > 1 \
        else float("nan")
    return LayerScore(layer, r["test"], r["choice"], r["select"], test_score, _median(test_score),
                      sem, _median(scores["choice"]), _median(scores["select"]), hyper)


PARTS = ("test", "choice", "select")


def cross_validated_r(features, responses, splits, regression_factory):
    """Pearson r per neuron on each split's rows: ({part: [splits, N]} for PARTS, hyperparameters).

    A split without select rows gives NaN select r (the regression then uses its default)."""
    r, hyper = {part: [] for part in PARTS}, []
    for split in splits:
        regression = regression_factory()
        regression.fit(features, responses, split.train, split.select if len(split.select) else None)
        rows = {part: getattr(split, part) for part in PARTS}
        predicted = regression.predict(features, np.concatenate(list(rows.values())))
        start = 0
        for part, part_rows in rows.items():
            stop = start + len(part_rows)
            r[part].append(pearson_columns(predicted[start:stop], responses[part_rows])
                           if len(part_rows) else np.full(responses.shape[1], np.nan))
            start = stop
        hyper.append(regression.hyperparameters())
    return {part: np.stack(v) for part, v in r.items()}, hyper


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
        r, hyper = cross_validated_r(Features(x), responses, splits, factory)
        layers[layer] = _layer_score(layer, {part: _nanmean0(v) for part, v in r.items()},
                                     target.ceiling, formula, hyper, n_bootstrap, seed)
    protocol = {"regression": name, "regression_kwargs": dict(regression_kwargs or {}),
                "n_splits": len(splits),
                "split_parts": "train (fit), select (hyperparameter), choice (best layer), "
                               "test (reported score)",
                "split_sizes": [[len(s.train), len(s.select), len(s.choice), len(s.test)]
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
        r = {part: _nanmean0([getattr(res.layers[layer], f"{part}_r") for res in results])
             for part in PARTS}
        hyper = [h for res in results for h in res.layers[layer].hyperparameters]
        layers[layer] = _layer_score(layer, r, first.ceiling, first.formula, hyper, n_bootstrap,
                                     seed)
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
