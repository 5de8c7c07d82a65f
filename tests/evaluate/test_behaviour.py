import vvs_tf  # noqa: F401
import numpy as np
import pytest
from scipy.stats import norm

from vvs_tf.evaluate import behaviour

OBJECTS = np.array(["bear", "car", "dog", "face"])


def _simulate(n_per_object=6, n_trials=4000, seed=0):
    """Human 2AFC trials from a known per-(image, distractor) error rate, and a model."""
    rng = np.random.default_rng(seed)
    n_images = len(OBJECTS) * n_per_object
    truth = np.repeat(np.arange(len(OBJECTS)), n_per_object)
    difficulty = rng.normal(0, 1, (n_images, len(OBJECTS)))
    p_error = 1 / (1 + np.exp(-(difficulty - 1.5)))
    image = rng.integers(0, n_images, n_trials)
    dist = (truth[image] + rng.integers(1, len(OBJECTS), n_trials)) % len(OBJECTS)
    wrong = rng.random(n_trials) < p_error[image, dist]
    choice = np.where(wrong, dist, truth[image])
    ids = np.array([f"im{i}" for i in range(n_images)])
    trials = {"stimulus_id": ids[image], "sample_obj": OBJECTS[truth[image]],
              "dist_obj": OBJECTS[dist], "choice": OBJECTS[choice],
              "truth": OBJECTS[truth[image]], "worker_id": np.array(["w"] * n_trials)}
    logits = 2.0 * difficulty + 0.5 * rng.standard_normal(difficulty.shape)
    logits[np.arange(n_images), truth] = 3.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ids, truth, trials, probabilities


# ---- an independent, loop-based implementation of Brain-Score's i2n ----------------------------
def _ref_matrix_from_trials(trials, ids):
    matrix = np.full((len(ids), len(OBJECTS)), np.nan)
    truth = np.full(len(ids), -1)
    for i, image in enumerate(ids):
        on_image = [t for t in range(len(trials["stimulus_id"])) if trials["stimulus_id"][t] == image]
        if not on_image:
            continue
        truth[i] = list(OBJECTS).index(trials["sample_obj"][on_image[0]])
        for o, obj in enumerate(OBJECTS):
            if o == truth[i]:
                continue
            offered = sum(obj in (trials["sample_obj"][t], trials["dist_obj"][t]) for t in on_image)
            chosen = sum(trials["choice"][t] == obj for t in on_image)
            matrix[i, o] = chosen / offered if offered else np.nan
    return matrix, truth


def _ref_matrix_from_probabilities(p, truth):
    matrix = np.full(p.shape, np.nan)
    for i in range(p.shape[0]):
        for o in range(p.shape[1]):
            if o != truth[i]:
                matrix[i, o] = p[i, o] / (p[i, o] + p[i, truth[i]])
    return matrix


def _ref_i2n(matrix, truth):
    d = np.full(matrix.shape, np.nan)
    for i in range(matrix.shape[0]):
        if truth[i] < 0:
            continue
        for o in range(matrix.shape[1]):
            if o == truth[i]:
                continue
            images_of_o = [j for j in range(len(truth)) if truth[j] == o]
            fa = [matrix[j, truth[i]] for j in images_of_o if not np.isnan(matrix[j, truth[i]])]
            far = np.mean(fa) if fa else np.nan
            with np.errstate(invalid="ignore"):
                d[i, o] = np.clip(norm.ppf(1 - matrix[i, o]) - norm.ppf(far), -5, 5)
    out = d.copy()
    for i in range(len(truth)):
        for o in range(matrix.shape[1]):
            group = [d[j, o] for j in range(len(truth)) if truth[j] == truth[i]
                     and not np.isnan(d[j, o])]
            if group:
                out[i, o] = d[i, o] - np.mean(group)
    return out


def _ref_corr(a, b):
    keep = ~np.isnan(a) & ~np.isnan(b)
    return np.corrcoef(a[keep], b[keep])[0, 1]


def test_i2n_agrees_with_independent_numpy_implementation():
    ids, truth, trials, probabilities = _simulate()
    ours_matrix, ours_truth = behaviour.response_matrix_from_trials(trials, ids, OBJECTS)
    ref_matrix, ref_truth = _ref_matrix_from_trials(trials, ids)
    assert np.array_equal(ours_truth, ref_truth)
    assert np.allclose(ours_matrix, ref_matrix, equal_nan=True)
    assert np.allclose(behaviour.i2n(ours_matrix, ours_truth), _ref_i2n(ref_matrix, ref_truth),
                       equal_nan=True)
    model = behaviour.response_matrix_from_probabilities(probabilities, truth)
    assert np.allclose(model, _ref_matrix_from_probabilities(probabilities, truth), equal_nan=True)

    halves = behaviour.trial_halves(len(trials["stimulus_id"]), n_repetitions=3, seed=5)
    result = behaviour.behavioural_consistency(probabilities, ids, OBJECTS, trials, halves=halves)
    model_i2n = _ref_i2n(_ref_matrix_from_probabilities(probabilities, truth), truth)
    scores = []
    for half in halves:
        h1 = _ref_i2n(*_ref_matrix_from_trials({k: v[half] for k, v in trials.items()}, ids))
        h2 = _ref_i2n(*_ref_matrix_from_trials({k: v[~half] for k, v in trials.items()}, ids))
        scores.append(_ref_corr(model_i2n, h1) / np.sqrt(_ref_corr(h1, h2)))
    assert result["score"] == pytest.approx(np.mean(scores), rel=1e-9)
    assert result["n_repetitions"] == 3


def test_consistency_is_higher_for_a_model_that_shares_human_difficulty():
    ids, truth, trials, probabilities = _simulate(seed=1)
    good = behaviour.behavioural_consistency(probabilities, ids, OBJECTS, trials, n_repetitions=4)
    rng = np.random.default_rng(2)
    random_p = rng.dirichlet(np.ones(len(OBJECTS)), size=len(ids))
    random_p[np.arange(len(ids)), truth] += 1.0
    bad = behaviour.behavioural_consistency(random_p, ids, OBJECTS, trials, n_repetitions=4)
    assert good["ceiling"] > 0.3
    assert good["score"] > 0.5 and abs(bad["score"]) < 0.3
    o2 = behaviour.behavioural_consistency(probabilities, ids, OBJECTS, trials, metric="o2",
                                           n_repetitions=4)
    assert np.isfinite(o2["score"]) and o2["metric"] == "o2"


def test_o2_hit_and_false_alarm_rates_by_object():
    matrix = np.array([[np.nan, 0.2], [np.nan, 0.4], [0.1, np.nan]])
    truth = np.array([0, 0, 1])
    d = behaviour.o2(matrix, truth)
    # objects a (images 0, 1) and b (image 2): FAR(a->b) = 0.3, FAR(b->a) = 0.1
    assert d[0, 1] == pytest.approx(norm.ppf(1 - 0.1) - norm.ppf(0.3))
    assert d[1, 0] == pytest.approx(norm.ppf(1 - 0.3) - norm.ppf(0.1))


def test_classifier_probabilities_and_feature_reduction():
    rng = np.random.default_rng(0)
    labels = np.repeat(OBJECTS, 20)
    centres = rng.standard_normal((4, 16)) * 3
    x = (centres[np.repeat(np.arange(4), 20)] + rng.standard_normal((80, 16)))
    x = np.tile(x[:, None, None, :], (1, 2, 2, 1)).astype(np.float32)
    features = behaviour.reduce_features(x, "spatial_mean")
    assert np.allclose(features, x[:, 0, 0])
    train, test = np.arange(0, 80, 2), np.arange(1, 80, 2)
    p, classes = behaviour.classifier_probabilities(features, labels, train, test)
    assert list(classes) == sorted(OBJECTS) and np.allclose(p.sum(axis=1), 1)
    assert np.mean(classes[p.argmax(axis=1)] == labels[test]) > 0.9
    assert behaviour.reduce_features(x, "pca", n_components=5).shape == (80, 5)
    with pytest.raises(ValueError, match="unknown feature reduction"):
        behaviour.reduce_features(x, "max")
