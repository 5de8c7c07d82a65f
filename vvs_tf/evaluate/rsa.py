"""Representational similarity analysis: RDMs per layer and their rank correlation with targets.

An RDM holds 1 - Pearson r between the responses to every pair of stimuli. A model layer's RDM is
compared with each subject's RDM by Spearman correlation of the upper triangles; the ceiling comes
from the subjects' spread: each subject against the mean of the others (leave-one-subject-out,
lower bound) and against the mean of all (upper bound) (Nili et al. 2014).
"""
import numpy as np
from scipy import stats as scipy_stats

from vvs_tf.evaluate import streaming
from vvs_tf.evaluate.stats import pearson


def rdm(features, block_bytes=streaming.DEFAULT_BLOCK_BYTES):
    """1 - Pearson r between stimuli (rows of [S, ...] activations), float64 [S, S], streamed."""
    matrix = streaming.as_matrix(features)
    n, d = matrix.shape
    if d < 2:
        raise ValueError(f"an RDM needs at least 2 features per stimulus, got {d}")
    products = np.zeros((n, n))
    sums = np.zeros(n)
    for _, block in streaming.column_blocks(matrix, block_bytes=block_bytes):
        products += block @ block.T
        sums += block.sum(axis=1, dtype=np.float64)
    cov = products - np.outer(sums, sums) / d
    norm = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.outer(norm, norm)
    out = 1.0 - r
    np.fill_diagonal(out, 0.0)
    return out


def upper_triangle(matrix):
    """Entries above the diagonal of a square matrix, as a vector."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"an RDM must be square, got shape {matrix.shape}")
    return matrix[np.triu_indices(matrix.shape[0], k=1)]


def compare_rdms(a, b):
    """Spearman rank correlation of two RDMs' upper triangles (pairs NaN in either dropped)."""
    x, y = upper_triangle(a), upper_triangle(b)
    if x.shape != y.shape:
        raise ValueError(f"RDMs of different sizes: {np.shape(a)} and {np.shape(b)}")
    keep = np.isfinite(x) & np.isfinite(y)
    return pearson(scipy_stats.rankdata(x[keep]), scipy_stats.rankdata(y[keep]))


def rsa_score(model_rdm, subject_rdms):
    """Score a model RDM against one or several subjects' RDMs [n_subjects, S, S].

    Returns score (mean over subjects of the Spearman r), per_subject, and with 2+ subjects the
    leave-one-subject-out ceiling (lower bound), the upper bound and score / lower ceiling.
    """
    subjects = np.asarray(subject_rdms, dtype=np.float64)
    if subjects.ndim == 2:
        subjects = subjects[None]
    per_subject = np.array([compare_rdms(model_rdm, s) for s in subjects])
    result = {"score": float(np.mean(per_subject)), "per_subject": per_subject.tolist(),
              "n_subjects": len(subjects)}
    if len(subjects) > 1:
        total = subjects.sum(axis=0)
        lower = np.mean([compare_rdms(s, (total - s) / (len(subjects) - 1)) for s in subjects])
        upper = np.mean([compare_rdms(s, total / len(subjects)) for s in subjects])
        result.update(ceiling=float(lower), ceiling_upper=float(upper),
                      normalised_score=float(result["score"] / lower) if lower > 0 else float("nan"))
    return result


def rdms_per_layer(activations):
    """{layer: RDM} for {layer: [S, ...] activations}."""
    return {layer: rdm(x) for layer, x in activations.items()}
