import vvs_tf  # noqa: F401
import numpy as np
import pytest
import xarray as xr
from scipy import stats as scipy_stats

from vvs_tf.evaluate import neural
from vvs_tf.evaluate.ceiling import expected_consistency


def test_splits_are_disjoint_and_stratified_by_object():
    labels = np.repeat(np.arange(8), 30)
    splits = neural.make_splits(240, n_splits=5, test_fraction=0.1, select_fraction=0.2,
                                labels=labels, seed=3)
    tests = []
    for s in splits:
        parts = np.concatenate([s.train, s.select, s.test])
        assert len(parts) == 240 and len(np.unique(parts)) == 240
        assert np.all(np.bincount(labels[s.test], minlength=8) == 3)   # 10% of each object
        assert np.all(np.bincount(labels[s.select], minlength=8) == 6)
        tests.append(tuple(s.test))
    assert len(set(tests)) == 5                                       # fresh draws
    again = neural.make_splits(240, n_splits=5, test_fraction=0.1, select_fraction=0.2,
                               labels=labels, seed=3)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, again))


def test_variation_splits_select_on_low_test_on_high():
    variation = np.tile([0, 3, 6], 40)
    for s in neural.variation_splits(variation, n_splits=3, seed=0):
        assert set(variation[s.test]) == {6} and set(variation[s.select]) <= {0, 3}


def test_noise_correction_formulas():
    r, c = np.array([0.5, 0.4, 0.3]), np.array([0.81, 0.64, -0.1])
    assert np.allclose(neural.noise_corrected(r, c)[:2], [0.5 / 0.9, 0.5])
    assert np.isnan(neural.noise_corrected(r, c)[2])
    assert np.allclose(neural.noise_corrected(r, c, "(r/ceiling)^2")[:2], [(0.5 / .81) ** 2, .390625])
    assert np.allclose(neural.noise_corrected(r, c, "r^2/ceiling")[:2], [0.25 / .81, 0.25])
    with pytest.raises(ValueError, match="unknown normalisation"):
        neural.noise_corrected(r, c, "r")


def _world(n_objects=6, per_object=50, n_neurons=12, n_reps=4, noise=1.0, seed=0):
    """Stimuli, an informative layer, a useless layer and an assembly with repetitions."""
    rng = np.random.default_rng(seed)
    n = n_objects * per_object
    good = rng.standard_normal((n, 2, 2, 6)).astype(np.float32)
    bad = rng.standard_normal((n, 2, 2, 6)).astype(np.float32)
    weights = rng.standard_normal((24, n_neurons))
    signal = good.reshape(n, -1) @ weights
    signal /= signal.std(axis=0)
    reps = signal[None] + noise * rng.standard_normal((n_reps, n, n_neurons))
    stim = np.array([f"s{i}" for i in range(n)])
    data = xr.DataArray(reps.reshape(-1, n_neurons), dims=("presentation", "neuroid"), coords={
        "stimulus_id": ("presentation", np.tile(stim, n_reps)),
        "repetition": ("presentation", np.repeat(np.arange(n_reps), n)),
        "object_name": ("presentation", np.tile(np.repeat(np.arange(n_objects), per_object), n_reps)),
        "neuroid_id": ("neuroid", [f"n{i}" for i in range(n_neurons)]),
        "region": ("neuroid", ["IT"] * n_neurons)})
    return {"good": good, "bad": bad}, data, expected_consistency(1.0, noise ** 2, n_reps)


def test_score_layers_picks_informative_layer_and_corrects_for_noise():
    layers, data, ceiling = _world()
    target = neural.NeuralTarget.from_assembly(data, ceiling_splits=30)
    assert np.allclose(target.ceiling, ceiling, atol=0.08)
    splits = neural.make_splits(len(target), n_splits=3, labels=target.labels, seed=0)
    calls = []
    result = neural.score_layers(layers, target, splits, regression="ridge",
                                 progress=lambda *a: calls.append(a))
    assert calls == [("good", 0, 2), ("bad", 1, 2)]
    assert result.best_layer == "good"
    assert result.best.median == pytest.approx(1.0, abs=0.1)
    assert abs(result.layers["bad"].median) < 0.3
    # median and bootstrap s.e. follow from the per-neuron scores
    best = result.best
    assert best.median == pytest.approx(np.median(best.test_r / np.sqrt(target.ceiling)))
    assert 0 < best.sem < 0.1
    report = result.to_dict()
    assert report["formula"] == "r/sqrt(ceiling)" and report["best_layer"] == "good"
    assert report["protocol"]["n_splits"] == 3
    assert len(report["layers"]["good"]["hyperparameters"]) == 3


def test_nan_neuron_is_masked_and_others_unchanged():
    layers, data, _ = _world(seed=1)
    clean = neural.NeuralTarget.from_assembly(data, ceiling_splits=10)
    holey_data = data.copy()
    holey_data.values[holey_data["stimulus_id"].values == "s7", 3] = np.nan
    holey = neural.NeuralTarget.from_assembly(holey_data, ceiling_splits=10)
    assert np.isnan(holey.responses[7, 3]) and np.isfinite(holey.responses[7]).sum() == 11
    splits = neural.make_splits(len(clean), n_splits=2, seed=0)
    kwargs = {"alphas": [100.0]}
    a = neural.score_layers({"good": layers["good"]}, clean, splits, "ridge", kwargs)
    b = neural.score_layers({"good": layers["good"]}, holey, splits, "ridge", kwargs)
    r_a, r_b = a.layers["good"].test_r, b.layers["good"].test_r
    assert np.all(np.isfinite(r_b))
    others = np.arange(12) != 3
    assert np.allclose(r_a[others], r_b[others])


def test_seed_averaging_and_paired_t_test():
    layers, data, _ = _world(seed=2)
    target = neural.NeuralTarget.from_assembly(data, ceiling_splits=10)
    splits = neural.make_splits(len(target), n_splits=2, seed=0)
    results = [neural.score_layers(layers, target, splits, "ridge", {"alphas": [a]})
               for a in (1.0, 1000.0)]
    averaged = neural.average_seeds(results)
    mean_r = (results[0].layers["good"].test_r + results[1].layers["good"].test_r) / 2
    assert np.allclose(averaged.layers["good"].test_r, mean_r)
    assert averaged.protocol["seeds_averaged"] == 2
    test = neural.compare(results[0], results[1])
    ref = scipy_stats.ttest_rel(results[0].best.test_score, results[1].best.test_score)
    assert test["p"] == pytest.approx(ref.pvalue) and test["layer_a"] == "good"
    assert neural.layer_area_map({"IT": results[0]}) == {"IT": "good"}
