"""Simulated V1/V4/IT recordings: image-driven models, closed-form noise ceilings, netCDF layout."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import xarray as xr
from scipy.signal import fftconvolve
from skimage.filters import gabor_kernel
from threadpoolctl import threadpool_limits

from vvs_tf.data import world

REPS = 10


@pytest.fixture(scope="module")
def stimuli():
    meta = world.sample_metadata(400, seed=11)
    return meta, world.render(meta, 32, seed=11)


@pytest.fixture(scope="module")
def assemblies(stimuli):
    meta, images = stimuli
    return world.simulate_recordings(images, meta, seed=11, num_repetitions=REPS)


def _trial_tensor(assembly, num_stimuli):
    """[repetition, stimulus, neuroid] using the repetition and stimulus_id coordinates."""
    order = np.lexsort((assembly["stimulus_id"].values, assembly["repetition"].values))
    return assembly.values[order].reshape(REPS, num_stimuli, -1), assembly["stimulus_id"].values[order][:num_stimuli]


def _split_half_consistency(trials, rng):
    """Spearman-Brown-corrected correlation of the means of random halves of the repetitions."""
    perm = rng.permutation(trials.shape[0])
    a, b = trials[perm[: trials.shape[0] // 2]].mean(0), trials[perm[trials.shape[0] // 2 :]].mean(0)
    a, b = a - a.mean(0), b - b.mean(0)
    r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
    return 2 * r / (1 + r)


def _ridge_predictions(x_train, y_train, x_test, alphas=np.logspace(-2, 5, 15)):
    """Ridge regression, its penalty chosen by leave-one-out error on the training set (via SVD)."""
    mx, my = x_train.mean(0), y_train.mean(0)
    with threadpool_limits(1):  # multi-threaded OpenBLAS SVD crawls on a busy 2-core machine
        u, s, vt = np.linalg.svd(x_train - mx, full_matrices=False)
    uty = u.T @ (y_train - my)
    best, best_error = None, np.inf
    for alpha in alphas:
        shrink = s**2 / (s**2 + alpha)
        fitted = u @ (shrink[:, None] * uty)
        leverage = (u**2) @ shrink + 1.0 / len(x_train)  # the intercept's share of the hat matrix
        error = np.mean(((y_train - my - fitted) / (1 - leverage)[:, None]) ** 2)
        if error < best_error:
            best, best_error = alpha, error
    coef = vt.T @ ((s / (s**2 + best))[:, None] * uty)
    return (x_test - mx) @ coef + my


def _cv_correlation(features, targets, folds=5):
    """Median over neurons of the Pearson r of cross-validated ridge predictions."""
    features = (features - features.mean(0)) / (features.std(0) + 1e-8)
    fold = np.arange(len(features)) % folds
    predicted = np.empty_like(targets)
    for k in range(folds):
        test = fold == k
        predicted[test] = _ridge_predictions(features[~test], targets[~test], features[test])
    p, t = predicted - predicted.mean(0), targets - targets.mean(0)
    return np.median((p * t).sum(0) / np.sqrt((p * p).sum(0) * (t * t).sum(0)))


def _gabor_energy_features(grey):
    """An independent Gabor bank (scikit-image kernels): energy maps pooled on a 8x8 grid."""
    features = []
    for frequency in (0.08, 0.14, 0.25):  # cycles per pixel
        for theta in np.arange(4) * np.pi / 4:
            kernel = gabor_kernel(frequency, theta=theta)
            energy = np.abs(fftconvolve(grey, kernel[None], mode="same", axes=(1, 2)))
            features.append(energy.reshape(len(grey), 8, 4, 8, 4).mean((2, 4)).reshape(len(grey), -1))
    return np.concatenate(features, 1)


def test_v1_is_predicted_better_by_a_gabor_bank_than_by_pixels(stimuli, assemblies):
    meta, images = stimuli
    trials, ids = _trial_tensor(assemblies["V1"], len(images))
    assert np.array_equal(ids, np.sort(meta["stimulus_id"]))
    grey = (images.astype(np.float64) / 255) @ [0.299, 0.587, 0.114]
    grey = grey[np.argsort(meta["stimulus_id"])]
    targets = trials.mean(0)
    gabor = _cv_correlation(_gabor_energy_features(grey), targets)
    pixels = _cv_correlation(grey.reshape(len(grey), -1), targets)
    assert gabor > pixels + 0.15, (gabor, pixels)


def test_it_carries_category_and_v1_much_less(stimuli, assemblies):
    meta, images = stimuli
    order = np.argsort(meta["stimulus_id"])
    labels = world.category_indices(meta["category_name"][order])

    def category_variance_fraction(area):
        mean = _trial_tensor(assemblies[area], len(images))[0].mean(0)
        centred = mean - mean.mean(0)
        between = sum((labels == c).sum() * centred[labels == c].mean(0) ** 2 for c in range(8))
        return np.median(between / (centred**2).sum(0))

    assert category_variance_fraction("IT") > 0.25
    assert category_variance_fraction("IT") > 3 * category_variance_fraction("V1")


@pytest.mark.parametrize("area", world.AREAS)
def test_split_half_ceiling_matches_the_closed_form(stimuli, assemblies, area):
    assembly = assemblies[area]
    trials, _ = _trial_tensor(assembly, len(stimuli[1]))
    measured = np.mean([_split_half_consistency(trials, np.random.default_rng(i)) for i in range(5)], 0)
    signal_sd = assembly["signal_sd"].values
    # the closed form, computed here from the stored signal and noise levels
    rho = signal_sd**2 / (signal_sd**2 + 2 * assembly.attrs["noise_sd"] ** 2 / REPS)
    expected = 2 * rho / (1 + rho)
    assert np.allclose(expected, assembly["expected_consistency"].values)
    assert abs(np.median(measured) - np.median(expected)) < 0.02
    assert np.corrcoef(measured, expected)[0, 1] > 0.9
    # and the noise level really is noise_sd: within-stimulus variance across repetitions
    assert np.sqrt(trials.var(0, ddof=1).mean()) == pytest.approx(assembly.attrs["noise_sd"], rel=0.02)


def test_recordings_are_deterministic_given_the_seed(stimuli):
    meta, images = stimuli
    rows = np.arange(40)
    sub = {k: v[rows] for k, v in meta.items()}
    a = world.simulate_recordings(images[rows], sub, seed=3, areas=("V1",))["V1"]
    b = world.simulate_recordings(images[rows], sub, seed=3, areas=("V1",))["V1"]
    c = world.simulate_recordings(images[rows], sub, seed=4, areas=("V1",))["V1"]
    assert a.values.tobytes() == b.values.tobytes()
    assert not np.array_equal(a.values, c.values)


def test_written_assemblies_reread_with_dims_and_coords(stimuli, assemblies, tmp_path):
    meta, images = stimuli
    for area, assembly in assemblies.items():
        path = tmp_path / f"assy_world_{area}.nc"
        assembly.to_netcdf(path, engine="h5netcdf")
        with xr.open_dataarray(path, engine="h5netcdf") as loaded:
            loaded = loaded.load()
        assert loaded.dims == ("presentation", "neuroid")
        assert loaded.shape == (len(images) * REPS, world.recordings.NUM_NEURONS[area])
        assert len(loaded.indexes) == 0  # plain coordinates, no MultiIndex
        for key in (*world.METADATA_KEYS, "repetition"):
            assert loaded[key].dims == ("presentation",)
        for key in ("neuroid_id", "region"):
            assert loaded[key].dims == ("neuroid",)
        assert set(loaded["region"].values.astype(str)) == {area}
        assert loaded.attrs["simulated"] == 1 and loaded.attrs["area"] == area and "noise_sd" in loaded.attrs
        np.testing.assert_array_equal(loaded.values, assembly.values)
        # each repetition carries the full stimulus metadata in stimulus order
        first = loaded.isel(presentation=loaded["repetition"].values == REPS - 1)
        for key in world.METADATA_KEYS:
            np.testing.assert_array_equal(first[key].values.astype(meta[key].dtype), meta[key])


def test_bad_recording_arguments_fail_clearly(stimuli):
    meta, images = stimuli
    with pytest.raises(ValueError, match="num_repetitions"):
        world.simulate_recordings(images, meta, num_repetitions=1)
    with pytest.raises(ValueError, match="V2"):
        world.simulate_recordings(images, meta, areas=("V2",))
    with pytest.raises(ValueError, match="399 images"):
        world.simulate_recordings(images[1:], meta)
