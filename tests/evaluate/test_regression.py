import vvs_tf  # noqa: F401
import tracemalloc

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import Ridge as SkRidge
from sklearn.linear_model import RidgeCV

from vvs_tf.evaluate.ceiling import split_half_consistency
from vvs_tf.evaluate.regression import PLS, Features, MaskRegression, Ridge, make_regression
from vvs_tf.evaluate.stats import pearson_columns


def _linear_data(n=120, shape=(4, 5, 15), m=6, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n,) + shape) + 0.5).astype(np.float32)
    flat = x.reshape(n, -1)
    y = flat[:, : m * 3].reshape(n, m, 3).sum(-1) + rng.standard_normal((n, m))
    return x, flat.astype(np.float64), y


@pytest.mark.parametrize("scale", [False, True])
def test_pls_agrees_with_sklearn(scale):
    x, flat, y = _linear_data()
    train, test = np.arange(90), np.arange(90, 120)
    ours = PLS(n_components=10, scale=scale).fit(x, y, train)
    # sklearn's NIPALS stops at tol=1e-6; run it to convergence to compare to the exact solution
    tight = PLSRegression(n_components=10, scale=scale, tol=1e-14, max_iter=5000)
    tight.fit(flat[train], y[train])
    assert np.allclose(ours.predict(x, test), tight.predict(flat[test]), atol=1e-4)
    default = PLSRegression(n_components=10, scale=scale).fit(flat[train], y[train])
    assert np.allclose(ours.predict(x, test), default.predict(flat[test]), atol=2e-2)
    assert np.allclose(ours.readout.weights, tight.coef_.T, atol=1e-4)


def test_pls_with_25_components_and_more_features_than_images():
    x, flat, y = _linear_data(n=80, shape=(6, 6, 10), m=3, seed=4)
    train, test = np.arange(60), np.arange(60, 80)
    ours = PLS(n_components=25).fit(x, y, train)
    ref = PLSRegression(n_components=25, scale=False, tol=1e-14, max_iter=5000)
    ref.fit(flat[train], y[train])
    assert ours.components_used == 25
    assert np.allclose(ours.predict(x, test), ref.predict(flat[test]), atol=1e-3)


@pytest.mark.parametrize("alpha", [0.1, 10.0, 1000.0])
def test_ridge_agrees_with_sklearn(alpha):
    x, flat, y = _linear_data()
    train, test = np.arange(90), np.arange(90, 120)
    ours = Ridge(alphas=[alpha]).fit(x, y, train)
    ref = SkRidge(alpha=alpha).fit(flat[train], y[train])
    assert np.allclose(ours.predict(x, test), ref.predict(flat[test]), atol=1e-4)
    assert np.allclose(ours.readout.weights, ref.coef_.T, atol=1e-5)
    assert np.allclose(ours.readout.bias, ref.intercept_, atol=1e-4)


def test_ridge_leave_one_out_choice_agrees_with_ridgecv():
    x, flat, y = _linear_data(seed=1)
    train = np.arange(100)
    alphas = np.logspace(-1, 4, 11)
    ours = Ridge(alphas=alphas).fit(x, y, train)
    ref = RidgeCV(alphas=alphas, alpha_per_target=True).fit(flat[train], y[train])
    assert np.allclose(ours.chosen_alpha, ref.alpha_)
    assert np.allclose(ours.predict(x, np.arange(100, 120)), ref.predict(flat[100:]), atol=1e-4)


def test_ridge_chooses_alpha_on_selection_rows():
    x, flat, y = _linear_data(seed=2)
    train, select = np.arange(80), np.arange(80, 120)
    alphas = np.array([1e-2, 1.0, 1e2, 1e4, 1e6])
    ours = Ridge(alphas=alphas).fit(x, y, train, select)
    for n in range(y.shape[1]):
        r = [np.corrcoef(SkRidge(alpha=a).fit(flat[train], y[train, n]).predict(flat[select]),
                         y[select, n])[0, 1] for a in alphas]
        assert ours.chosen_alpha[n] == alphas[int(np.argmax(r))]


@pytest.mark.parametrize("method", ["ridge", "pls"])
def test_nan_neurons_are_masked_not_spread(method):
    x, flat, y = _linear_data(seed=3)
    train, test = np.arange(90), np.arange(90, 120)
    holey = y.copy()
    holey[5:25, 2] = np.nan                      # neuron 2 missed 20 training images
    kwargs = {"alphas": [10.0]} if method == "ridge" else {"n_components": 5}
    masked = make_regression(method, **kwargs).fit(x, holey, train).predict(x, test)
    assert np.all(np.isfinite(masked))
    # the complete neurons are fitted exactly as if neuron 2 did not exist ...
    others = [0, 1, 3, 4, 5]
    without = make_regression(method, **kwargs).fit(x, y[:, others], train).predict(x, test)
    assert np.allclose(masked[:, others], without, atol=1e-6)
    # ... and neuron 2 on its own finite rows only
    rows = train[np.isfinite(holey[train, 2])]
    alone = make_regression(method, **kwargs).fit(x, y[:, [2]], rows).predict(x, test)
    assert np.allclose(masked[:, 2], alone[:, 0], atol=1e-6)


def test_regressions_stream_without_copying_the_activations(tmp_path):
    rng = np.random.default_rng(5)
    n, d = 400, 50_000
    path = tmp_path / "layer.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 10, 10, d // 100))
    x[:] = rng.standard_normal(x.shape, dtype=np.float32)
    x.flush()
    x = np.load(path, mmap_mode="r")
    y = np.asarray(x[:, 0, 0, :4], np.float64) + rng.standard_normal((n, 4))
    features = Features(x, block_bytes=4 * 2**20)
    tracemalloc.start()
    Ridge(alphas=[1.0, 100.0]).fit(features, y, np.arange(300), np.arange(300, 350)).predict(
        features, np.arange(350, 400))
    PLS(n_components=5).fit(features, y, np.arange(300)).predict(features, np.arange(350, 400))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.25 * x.nbytes, (peak, x.nbytes)


def test_mask_regression_recovers_planted_factorised_map():
    rng = np.random.default_rng(0)
    n, h, w, c, m, n_reps, noise = 400, 6, 6, 12, 5, 4, 1.0
    x = np.maximum(rng.standard_normal((n, h, w, c)), 0).astype(np.float32)
    spatial = np.zeros((m, h, w))
    for k in range(m):
        i, j = rng.integers(1, h - 1, 2)
        spatial[k, i - 1:i + 2, j - 1:j + 2] = rng.random((3, 3)) + 0.5
    channel = rng.standard_normal((m, c))
    signal = np.einsum("bhwc,nhw,nc->bn", x, spatial, channel)
    signal = (signal - signal.mean(0)) / signal.std(0)
    reps = signal[None] + noise * rng.standard_normal((n_reps, n, m))
    y = reps.mean(0)
    ceiling = split_half_consistency(reps, n_splits=20)
    order = rng.permutation(n)
    train, select, test = order[:280], order[280:340], order[340:]
    reg = MaskRegression(weight_decays=(0.1, 0.01, 0.001), epochs=40, learning_rate=0.03)
    reg.fit(x, y, train, select)
    r = pearson_columns(reg.predict(x, test), y[test])
    corrected = r / np.sqrt(ceiling)
    assert np.median(corrected) > 0.93, corrected
    assert np.all(pearson_columns(reg.predict(x, test), signal[test]) > 0.9)
    assert set(reg.chosen_weight_decay) <= {0.1, 0.01, 0.001}
    with pytest.raises(ValueError, match="needs selection rows"):
        MaskRegression(epochs=1).fit(x, y, train)


def test_mask_regression_masks_nan_targets_and_supports_pearson_loss():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 4, 4, 6)).astype(np.float32)
    y = x[:, 1, 2, :3].astype(np.float64) + 0.1 * rng.standard_normal((200, 3))
    y[:50, 1] = np.nan
    reg = MaskRegression(weight_decays=(0.01,), epochs=30, learning_rate=0.03, pearson_loss=True)
    pred = reg.fit(x, y, np.arange(150)).predict(x, np.arange(150, 200))
    assert np.all(np.isfinite(pred))
    assert np.all(pearson_columns(pred, y[150:]) > 0.9)
