import vvs_tf  # noqa: F401
import numpy as np
import pytest
from scipy import stats as scipy_stats

from vvs_tf.evaluate.stats import (bootstrap, bootstrap_se, paired_ttest, pearson_columns,
                                   spearman_brown)


def test_paired_ttest_agrees_with_scipy():
    rng = np.random.default_rng(0)
    for n, shift in [(5, 0.0), (40, 0.3), (168, -0.05)]:
        a = rng.standard_normal(n)
        b = a + shift + 0.5 * rng.standard_normal(n)
        ours = paired_ttest(a, b)
        ref = scipy_stats.ttest_rel(a, b)
        assert ours["t"] == pytest.approx(ref.statistic, rel=1e-10)
        assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-8)
        assert ours["dof"] == n - 1


def test_paired_ttest_drops_nan_pairs_only():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(30), rng.standard_normal(30)
    a[3], b[7] = np.nan, np.nan
    keep = np.ones(30, bool)
    keep[[3, 7]] = False
    ref = scipy_stats.ttest_rel(a[keep], b[keep])
    ours = paired_ttest(a, b)
    assert ours["n"] == 28 and ours["p"] == pytest.approx(ref.pvalue, rel=1e-8)


def test_pearson_columns_masks_nans_per_column():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    b[:10, 1] = np.nan
    r = pearson_columns(a, b)
    assert r[0] == pytest.approx(np.corrcoef(a[:, 0], b[:, 0])[0, 1])
    assert r[1] == pytest.approx(np.corrcoef(a[10:, 1], b[10:, 1])[0, 1])
    assert r[2] == pytest.approx(np.corrcoef(a[:, 2], b[:, 2])[0, 1])


def test_bootstrap_matches_explicit_resampling():
    values = np.random.default_rng(3).standard_normal(60)
    index = np.random.default_rng(9).integers(0, 60, size=(200, 60))
    expected = np.median(values[index], axis=1)
    assert np.allclose(bootstrap(values, n_resamples=200, seed=9), expected)
    assert bootstrap_se(values, seed=9) == pytest.approx(np.std(expected, ddof=1))


def test_spearman_brown_doubles_length():
    # reliability of a half test 0.5 -> full test 2*0.5/1.5
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
