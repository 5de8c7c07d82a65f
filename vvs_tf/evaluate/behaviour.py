"""Behavioural consistency with humans on 2AFC object recognition (Rajalingham et al. 2018).

A model's "behaviour" is a linear classifier on its penultimate-layer features (spatially
averaged or PCA-reduced): image-by-object probabilities. Brain-Score's i2n turns probabilities
and human trials alike into a response matrix [image, distractor] = P(choosing the distractor),
then per image and distractor d' = z(hit rate) - z(false-alarm rate), clipped to +-5, where the
hit rate is 1 - P(distractor) and the false-alarm rate is the mean P(choosing this image's object)
over images of the distractor object; d' is normalised by subtracting its mean over images of the
same (object, distractor) pair. The score is Pearson r between model and one random half of the
human trials divided by sqrt of the r between the two halves, averaged over split repetitions.
o2 is the object-level (confusion-matrix) version of the same comparison.
"""
import numpy as np
from scipy import stats as scipy_stats

from vvs_tf.evaluate.reduction import PCA, spatial_mean
from vvs_tf.evaluate.stats import pearson

D_PRIME_CAP = 5.0


def reduce_features(x, method="spatial_mean", n_components=1000, fit_rows=None):
    """Penultimate features for the classifier: 'spatial_mean' or 'pca' (<= n_components)."""
    if method == "spatial_mean":
        return spatial_mean(x)
    if method == "pca":
        return PCA(n_components).fit(x, fit_rows).transform(x)
    raise ValueError(f"unknown feature reduction {method!r}; choose 'spatial_mean' or 'pca'")


def classifier_probabilities(features, labels, train, test, c=1.0, max_iter=2000):
    """Multinomial logistic regression on standardised features: (probabilities [test, K], classes).

    Classes are the sorted unique training labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"features must be [N, D] with one label per row, got {features.shape} "
                         f"and {labels.shape}")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    model.fit(features[train], labels[train])
    return model.predict_proba(features[test]), model.classes_


def response_matrix_from_probabilities(probabilities, truth):
    """P(choosing distractor d over the true object) = p_d / (p_d + p_truth): [images, objects].

    probabilities [I, O]; truth [I] object index of each image; NaN where d is the true object.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    p_truth = p[np.arange(len(p)), truth][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = p / (p + p_truth)
    out[np.arange(len(p)), truth] = np.nan
    return out


def _index(values, vocabulary, what):
    vocabulary = np.asarray(vocabulary).astype(str)
    values = np.asarray(values).astype(str)
    order = np.argsort(vocabulary)
    pos = np.searchsorted(vocabulary, values, sorter=order)
    pos = np.clip(pos, 0, len(vocabulary) - 1)
    found = vocabulary[order[pos]] == values
    if what is not None and not found.all():
        raise ValueError(f"{what} {sorted(set(values[~found]))[:5]} not in {sorted(vocabulary)[:10]}")
    return np.where(found, order[pos], -1)


def response_matrix_from_trials(trials, stimulus_ids, objects):
    """Human P(choosing distractor d) per image from 2AFC trials: ([I, O], truth [I]).

    Trials on images not in stimulus_ids are ignored; entries without trials are NaN.
    """
    image = _index(trials["stimulus_id"], stimulus_ids, None)
    keep = image >= 0
    image = image[keep]
    sample = _index(trials["sample_obj"][keep], objects, "sample objects")
    dist = _index(trials["dist_obj"][keep], objects, "distractor objects")
    choice = _index(trials["choice"][keep], objects, "choices")
    n_i, n_o = len(stimulus_ids), len(objects)
    truth = np.full(n_i, -1)
    truth[image] = sample
    if np.any(truth[image] != sample):
        raise ValueError("trials disagree about the true object of an image")
    chosen = np.bincount(image * n_o + choice, minlength=n_i * n_o).reshape(n_i, n_o)
    offered = (np.bincount(image * n_o + sample, minlength=n_i * n_o)
               + np.bincount(image * n_o + dist, minlength=n_i * n_o)).reshape(n_i, n_o)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(offered > 0, chosen / np.maximum(offered, 1), np.nan)
    has_truth = truth >= 0
    out[np.flatnonzero(has_truth), truth[has_truth]] = np.nan
    out[~has_truth] = np.nan
    return out, truth


def _group_nanmean(values, groups, n_groups):
    """Mean of rows of `values` per group, ignoring NaNs: [n_groups, columns]."""
    onehot = np.zeros((n_groups, len(groups)))
    ok = groups >= 0
    onehot[groups[ok], np.flatnonzero(ok)] = 1.0
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (onehot @ np.where(finite, values, 0.0)) / (onehot @ finite)


def _z(p):
    with np.errstate(invalid="ignore", divide="ignore"):
        return scipy_stats.norm.ppf(p)


def i2n(response_matrix, truth, cap=D_PRIME_CAP):
    """Normalised image-level d' [images, objects] from a response matrix (see module doc)."""
    m = np.asarray(response_matrix, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    n_objects = m.shape[1]
    by_object = _group_nanmean(m, truth, n_objects)       # [truth object, choice]
    false_alarm = by_object.T[np.clip(truth, 0, None)]    # [image, d] = by_object[d, truth(image)]
    with np.errstate(invalid="ignore"):
        d = np.clip(_z(1.0 - m) - _z(false_alarm), -cap, cap)
    d[truth < 0] = np.nan
    return d - _group_nanmean(d, truth, n_objects)[np.clip(truth, 0, None)]


def o2(response_matrix, truth, cap=D_PRIME_CAP):
    """Object-level d' [object, distractor] (the confusion-matrix comparison)."""
    m = np.asarray(response_matrix, dtype=np.float64)
    false_alarm = _group_nanmean(m, np.asarray(truth, np.int64), m.shape[1])
    with np.errstate(invalid="ignore"):
        return np.clip(_z(1.0 - false_alarm.T) - _z(false_alarm), -cap, cap)


METRICS = {"i2n": i2n, "o2": o2}


def trial_halves(n_trials, n_repetitions=10, seed=0):
    """Boolean [repetitions, trials]: True marks the first random half of each repetition."""
    rng = np.random.default_rng(seed)
    halves = np.zeros((n_repetitions, n_trials), bool)
    for r in range(n_repetitions):
        halves[r, rng.permutation(n_trials)[: n_trials // 2]] = True
    return halves


def behavioural_consistency(model_probabilities, stimulus_ids, objects, trials, metric="i2n",
                            n_repetitions=10, seed=0, halves=None):
    """Model-human consistency: mean over trial splits of r(model, half 1) / sqrt(r(half 1, 2)).

    model_probabilities [I, O] for images `stimulus_ids` and classes `objects`; trials is a dict
    of arrays (brainio.load_trials). `halves` may fix the trial splits ([reps, trials] bool).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown behavioural metric {metric!r}; choose one of {', '.join(METRICS)}")
    measure = METRICS[metric]
    stimulus_ids = np.asarray(stimulus_ids).astype(str)
    trials = {k: np.asarray(v).astype(str) for k, v in trials.items()}
    n_trials = len(trials["stimulus_id"])
    if not np.isin(trials["stimulus_id"], stimulus_ids).any():
        raise ValueError("no behavioural trial shows one of the model's images")
    _, truth = response_matrix_from_trials(trials, stimulus_ids, objects)
    if np.any(truth < 0):
        raise ValueError(f"{np.sum(truth < 0)} model image(s) have no human trials")
    model = measure(response_matrix_from_probabilities(model_probabilities, truth), truth)
    halves = trial_halves(n_trials, n_repetitions, seed) if halves is None else np.asarray(halves)
    raw, ceiling = [], []
    for half in halves:
        parts = [measure(*response_matrix_from_trials({k: v[h] for k, v in trials.items()},
                                                      stimulus_ids, objects))
                 for h in (half, ~half)]
        raw.append(pearson(model, parts[0]))
        ceiling.append(pearson(parts[0], parts[1]))
    raw, ceiling = np.array(raw), np.array(ceiling)
    with np.errstate(invalid="ignore"):
        scores = raw / np.sqrt(ceiling)
    return {"metric": metric, "score": float(np.nanmean(scores)), "error": float(np.nanstd(scores)),
            "raw": float(np.nanmean(raw)), "ceiling": float(np.nanmean(ceiling)),
            "per_repetition": scores.tolist(), "n_repetitions": len(halves),
            "formula": "mean over repetitions of r(model, human half) / sqrt(r(half 1, half 2))",
            "d_prime_cap": D_PRIME_CAP}
