"""Internal-consistency ceiling of neural responses: split-half over repetitions, Spearman-Brown.

A neuron recorded with noise can never be predicted perfectly; its ceiling is the reliability of
its repetition-averaged response. Repetitions are split into two random halves, each half averaged
per stimulus, the halves correlated across stimuli, and the correlation corrected to full length
with Spearman-Brown. For signal variance s2 and per-repetition noise variance n2 with R repetitions
the expected value is s2 / (s2 + n2 / R).
"""
import numpy as np

from vvs_tf.evaluate.stats import pearson_columns, spearman_brown

_MAX_CHUNK_ENTRIES = 8_000_000


def split_half_consistency(repetitions, n_splits=100, seed=0):
    """Per-neuron split-half reliability of responses [R, S, N] (NaN = missing repetition).

    Each split draws two disjoint random halves of R // 2 repetitions; the Pearson r between half
    means (over stimuli finite in both) is averaged over splits and then Spearman-Brown corrected.
    Returns [N]; NaN for a neuron with too few finite stimuli.
    """
    x = np.asarray(repetitions, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"repetitions must be [repetition, stimulus, neuron], got shape {x.shape}")
    n_reps, n_stimuli, n_neurons = x.shape
    if n_reps < 2:
        raise ValueError(f"split-half consistency needs at least 2 repetitions, got {n_reps}")
    half = n_reps // 2
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_splits, n_reps)), axis=1)
    halves = np.zeros((2, n_splits, n_reps))
    np.put_along_axis(halves[0], order[:, :half], 1.0, axis=1)
    np.put_along_axis(halves[1], order[:, half:2 * half], 1.0, axis=1)

    finite = np.isfinite(x).astype(np.float64)
    values = np.where(finite > 0, x, 0.0)
    per_split = max(1, _MAX_CHUNK_ENTRIES // max(n_stimuli * n_neurons, 1))
    r_sum = np.zeros(n_neurons)
    r_count = np.zeros(n_neurons)
    for start in range(0, n_splits, per_split):
        sel = slice(start, start + per_split)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = [np.einsum("pr,rsn->psn", h[sel], values) / np.einsum("pr,rsn->psn", h[sel], finite)
                     for h in halves]
        n_p = means[0].shape[0]
        a = means[0].transpose(1, 0, 2).reshape(n_stimuli, n_p * n_neurons)
        b = means[1].transpose(1, 0, 2).reshape(n_stimuli, n_p * n_neurons)
        r = pearson_columns(a, b).reshape(n_p, n_neurons)
        r_sum += np.nansum(r, axis=0)
        r_count += np.isfinite(r).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_r = np.where(r_count > 0, r_sum / r_count, np.nan)
    return spearman_brown(mean_r)


def expected_consistency(signal_variance, noise_variance, n_repetitions):
    """Closed-form reliability of the mean of R repetitions: s2 / (s2 + n2 / R)."""
    return signal_variance / (signal_variance + noise_variance / n_repetitions)
