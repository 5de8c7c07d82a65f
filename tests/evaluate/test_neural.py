import vvs_tf  # noqa: F401
import numpy as np
import pytest
import xarray as xr
from scipy import stats as scipy_stats

from vvs_tf.evaluate import neural
from vvs_tf.evaluate.ceiling import expected_consistency


def test_splits_are_disjoint_and_stratified_by_object():
    labels = np.repeat(np.arange(8), 30)
    splits = neural.make_splits(240, n_splits=5, test_fraction=0.2, select_fraction=0.2,
                                labels=labels, seed=3)
    tests, choice_rows, test_rows = [], set(), set()
    for s in splits:
        parts = np.concatenate([s.train, s.select, s.choice, s.test])
        assert len(parts) == 240 and len(np.unique(parts)) == 240
        # 20% of each object held out, half of it for the layer choice, half for the score
        assert np.all(np.bincount(labels[s.test], minlength=8) == 3)
        assert np.all(np.bincount(labels[s.choice], minlength=8) == 3)
        assert np.all(np.bincount(labels[s.select], minlength=8) == 6)
        tests.append(tuple(s.test))
        choice_rows.update(s.choice)
        test_rows.update(s.test)
    assert len(set(tests)) == 5                                       # fresh draws
    assert not choice_rows & test_rows    # one fixed choice/report partition across splits
    again = neural.make_splits(240, n_splits=5, test_fraction=0.2, select_fraction=0.2,
                               labels=labels, seed=3)
    assert all(np.array_equal(a.test, b.test) and np.array_equal(a.choice, b.choice)
               for a, b in zip(splits, again))


def test_variation_splits_select_on_low_choose_and_test_on_high():
    variation = np.tile([0, 3, 6], 40)
    splits = neural.variation_splits(variation, n_splits=3, seed=0)
    for s in splits:
        assert set(variation[s.test]) == {6} and set(variation[s.choice]) == {6}
        assert set(variation[s.select]) <= {0, 3}
        assert len(s.test) == len(s.choice) == 10   # half of the 40 held out, half of that each
    assert not set(np.concatenate([s.choice for s in splits])) & set(
        np.concatenate([s.test for s in splits]))
    with pytest.raises(ValueError, match="fraction must lie in"):
        neural.variation_splits(variation, choice_fraction=0.0)


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
    for part in ("test", "choice"):
        mean_r = (getattr(results[0].layers["good"], f"{part}_r")
                  + getattr(results[1].layers["good"], f"{part}_r")) / 2
        assert np.allclose(getattr(averaged.layers["good"], f"{part}_r"), mean_r)
    assert averaged.layers["good"].choice_median == pytest.approx(
        np.median(averaged.layers["good"].choice_r / np.sqrt(target.ceiling)))
    assert averaged.protocol["seeds_averaged"] == 2
    test = neural.compare(results[0], results[1])
    ref = scipy_stats.ttest_rel(results[0].best.test_score, results[1].best.test_score)
    assert test["p"] == pytest.approx(ref.pvalue) and test["layer_a"] == "good"
    assert neural.layer_area_map({"IT": results[0]}) == {"IT": "good"}


def test_best_layer_is_chosen_on_high_variation_choice_rows_not_on_select_rows():
    """A layer that codes the neurons' drive only on low-variation images (as early layers do)
    wins on the select rows, which also tuned its regulariser; the layer choice must ignore them
    and pick the layer that predicts the held-out high-variation images."""
    rng = np.random.default_rng(5)
    n_objects, per_object, n_neurons = 6, 60, 10
    n = n_objects * per_object
    variation = np.tile([0, 3, 6], n // 3)
    latent = rng.standard_normal((n, 8))
    signal = latent @ rng.standard_normal((8, n_neurons))
    signal /= signal.std(axis=0)
    low = variation != 6
    early = np.where(low[:, None], latent, rng.standard_normal((n, 8)))
    late = latent + 1.5 * rng.standard_normal((n, 8))
    as_conv = lambda x: np.tile(x[:, None, None, :], (1, 2, 2, 1)).astype(np.float32)  # noqa: E731
    target = neural.NeuralTarget(np.arange(n).astype(str), signal + 0.3 * rng.standard_normal(
        (n, n_neurons)), np.full(n_neurons, 0.9), np.arange(n_neurons).astype(str), "IT",
        {"object_name": np.repeat(np.arange(n_objects), per_object)})
    splits = neural.variation_splits(variation, target.labels, n_splits=3, seed=1)
    result = neural.score_layers({"early": as_conv(early), "late": as_conv(late)}, target, splits,
                                 regression="ridge", n_bootstrap=50)
    e, l_ = result.layers["early"], result.layers["late"]
    assert e.select_median > l_.select_median + 0.3      # the old rule would have picked early
    assert l_.choice_median > e.choice_median + 0.3
    assert result.best_layer == "late"
    # the reported number is the report rows' median, not the choice rows'
    assert result.best.median == pytest.approx(np.median(l_.test_r / np.sqrt(0.9)))
    assert result.best.median != pytest.approx(l_.choice_median)
    report = result.to_dict()
    assert report["best_layer"] == "late" and report["score"] == l_.median
    assert report["layers"]["late"]["choice_score"] == l_.choice_median
    assert "layer-choice rows" in report["protocol"]["best_layer_rule"]
    assert all(len(sizes) == 4 and sum(sizes) == n for sizes in report["protocol"]["split_sizes"])
