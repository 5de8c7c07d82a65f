"""Choosing a best layer on data disjoint from the score reported for it.

Picking the maximum of several noisy per-layer scores and reporting that same maximum is biased
upwards, and more so for layers whose score is noisier; scoring the layers on the rows that also
tuned the read-out's regulariser is biased for layers that overfit those rows. The evaluators
therefore hold out a *layer-choice* part of the evaluation stimuli: the best layer is the one
with the highest score there, and the number reported for it comes from the other (*report*)
part. `holdout` draws that partition (stratified by label when labels are given); `best_layer`
applies the rule to per-layer choice scores.
"""
import numpy as np


def stratified_quantiles(rng, labels, n):
    """A random number in [0, 1) per row, uniform within each label group (stratification):
    the rows with a value below f are a random f of every group, rounded at random."""
    groups = np.zeros(n, np.int64) if labels is None else np.unique(labels, return_inverse=True)[1]
    key = rng.random(n)
    order = np.lexsort((key, groups))
    counts = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n)
    rank[order] = np.arange(n) - starts[groups[order]]
    return (rank + rng.random(n)) / counts[groups]


def holdout(rows, fraction=0.5, labels=None, seed=0):
    """Split `rows` (indices) into (choice, report), sorted: a random `fraction` of the rows of each
    label group (labels aligned with `rows`) goes to choice, the rest to report.

    `seed` is an int or a numpy Generator (to continue a caller's stream of draws).
    """
    rows = np.asarray(rows)
    if not 0 < fraction < 1:
        raise ValueError(f"the layer-choice fraction must lie in (0, 1), got {fraction}")
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f"labels has {len(labels)} entries for {len(rows)} rows")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    chosen = stratified_quantiles(rng, labels, len(rows)) < fraction
    choice, report = np.sort(rows[chosen]), np.sort(rows[~chosen])
    if len(choice) == 0 or len(report) == 0:
        raise ValueError(f"holding out a {fraction} layer-choice part of {len(rows)} rows left "
                         f"{len(choice)} choice and {len(report)} report rows")
    return choice, report


def best_layer(choice_scores):
    """The layer with the highest finite choice score ({layer: score}); ValueError if none."""
    finite = {k: float(v) for k, v in choice_scores.items() if v is not None and np.isfinite(v)}
    if not finite:
        raise ValueError(f"no layer has a finite layer-choice score ({sorted(choice_scores)})")
    return max(finite, key=finite.get)
