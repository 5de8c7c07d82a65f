"""Statistics shared by the evaluators: NaN-aware correlations, paired t-tests and bootstraps.

Neural recordings carry NaNs for neurons that missed some images; every statistic here masks NaNs
per column (per neuron) so that one missing value never spreads to other neurons.
"""
import numpy as np
from scipy import special


def pearson_columns(a, b):
    """Pearson r between matching columns of a and b ([N, K] each), using rows finite in both.

    Returns [K]; NaN where a column has fewer than 2 shared finite rows or zero variance.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pearson_columns needs equal shapes, got {a.shape} and {b.shape}")
    squeeze = a.ndim == 1
    if squeeze:
        a, b = a[:, None], b[:, None]
    valid = np.isfinite(a) & np.isfinite(b)
    count = valid.sum(axis=0)
    a0 = np.where(valid, a, 0.0)
    b0 = np.where(valid, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a = a0.sum(axis=0) / count
        mean_b = b0.sum(axis=0) / count
        da = np.where(valid, a0 - mean_a, 0.0)
        db = np.where(valid, b0 - mean_b, 0.0)
        cov = (da * db).sum(axis=0)
        var = (da * da).sum(axis=0) * (db * db).sum(axis=0)
        r = cov / np.sqrt(var)
    r = np.where((count >= 2) & (var > 0), r, np.nan)
    return r[0] if squeeze else r


def pearson(a, b):
    """Pearson r between two vectors over entries finite in both."""
    return float(pearson_columns(np.ravel(a), np.ravel(b)))


def spearman_brown(r, factor=2.0):
    """Spearman-Brown prophecy: reliability of a measurement `factor` times as long."""
    r = np.asarray(r, dtype=np.float64)
    return factor * r / (1.0 + (factor - 1.0) * r)


def paired_ttest(a, b):
    """Two-tailed paired t-test over pairs finite in both a and b (e.g. per-neuron scores).

    Returns dict(t, p, dof, n, mean_difference); agrees with scipy.stats.ttest_rel.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_ttest needs paired samples, got {a.shape} and {b.shape}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    n = d.size
    if n < 2:
        raise ValueError(f"paired_ttest needs at least 2 finite pairs, got {n}")
    mean = d.mean()
    se = d.std(ddof=1) / np.sqrt(n)
    dof = n - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / se
    # Two-tailed p from Student's t: P(|T| > t) = I_{dof/(dof+t^2)}(dof/2, 1/2).
    p = float(special.betainc(dof / 2.0, 0.5, dof / (dof + t * t))) if np.isfinite(t) else 0.0
    if se == 0 and mean == 0:
        t, p = np.nan, np.nan
    return {"t": float(t), "p": p, "dof": int(dof), "n": int(n), "mean_difference": float(mean)}


def bootstrap(values, statistic=np.nanmedian, n_resamples=200, seed=0):
    """Statistic of `values` [N] (or [N, ...] resampled along axis 0) over bootstrap resamples.

    Returns [n_resamples, ...]; `statistic` must accept an `axis` argument.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        raise ValueError("bootstrap needs at least one value")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, values.shape[0], size=(n_resamples, values.shape[0]))
    return statistic(values[index], axis=1)


def bootstrap_se(values, statistic=np.nanmedian, n_resamples=200, seed=0):
    """Bootstrap standard error of a statistic over the first axis (neurons by default)."""
    return float(np.std(bootstrap(values, statistic, n_resamples, seed), ddof=1))
