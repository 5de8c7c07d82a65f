"""LLP's label propagation (Zhuang et al. 2019): pseudo-labels for every memory-bank row from the
labelled rows near it in the embedding, weighted by distance and by local density.

A labelled row l scores exp(m_i . m_l / tau) * w_l for row i, where w_l = 1 / sum of
exp(m_l . m_j / tau) over l's `density_neighbours` nearest other bank rows: labelled points in
dense regions propagate less. Among i's `labelled_neighbours` best-scoring labelled rows, the class
with the highest mean score wins (REFERENCE.md; "mean" as written there), and the confidence is
that mean over the sum of the classes' means. Labelled rows keep their label with confidence 1.

The top scores are an exact maximum-inner-product search, log score = [m_i, 1] . [m_l / tau,
log w_l], so faiss finds them (on the GPU with faiss-gpu) without an N x L score matrix.
"""
import time

import vvs_tf  # noqa: F401

import keras
import numpy as np
from absl import logging

from vvs_tf.objectives.clustering import inner_product_search, nearest_other_rows

CHUNK_ROWS = 65536  # bank rows voted at once: bounds the [rows, k, k] class comparison


def _logsumexp(x, axis):
    peak = x.max(axis=axis, keepdims=True)
    return (peak + np.log(np.exp(x - peak).sum(axis=axis, keepdims=True))).squeeze(axis)


def density_log_weights(bank, rows, neighbours: int, tau: float) -> np.ndarray:
    """log w_l = -log sum_j exp(m_l . m_j / tau) over the `neighbours` nearest bank rows j != l of
    each row l in `rows` (float64)."""
    if not 1 <= neighbours < len(bank):
        raise ValueError(f"density_neighbours={neighbours} must be in [1, {len(bank) - 1}] for a "
                         f"bank of {len(bank)} rows")
    others, _ = nearest_other_rows(bank, rows, neighbours)
    return -_logsumexp(others.astype(np.float64) / tau, axis=1)


def vote(log_scores, neighbour_labels):
    """(label, confidence) per row from its neighbours' log scores and labels [n, k]: the class
    with the highest mean score, and that mean over the sum of the classes' means."""
    # Means and their ratios do not change with a per-row scale: subtract each row's best score.
    scores = np.exp(log_scores - log_scores.max(1, keepdims=True))
    same = neighbour_labels[:, :, None] == neighbour_labels[:, None, :]  # [n, k, k]
    class_size = same.sum(2)
    class_mean = (same * scores[:, None, :]).sum(2) / class_size  # of each neighbour's class
    total = (class_mean / class_size).sum(1)  # each class once
    winner = class_mean.argmax(1)  # ties: the class of the better-scoring neighbour
    rows = np.arange(len(scores))
    return neighbour_labels[rows, winner], class_mean[rows, winner] / total


def propagate_labels(bank, labelled_rows, labels, tau: float, labelled_neighbours: int = 10,
                     density_neighbours: int = 50):
    """(pseudo-labels int32 [N], confidences float32 [N]) of every row of `bank` [N, D] from the
    rows `labelled_rows` whose labels are `labels`; -1 and 0 everywhere when none is labelled."""
    bank = np.asarray(bank, np.float32)
    labelled_rows = np.asarray(labelled_rows, np.int64)
    labels = np.asarray(labels, np.int32)
    pseudo = np.full(len(bank), -1, np.int32)
    confidence = np.zeros(len(bank), np.float32)
    if len(labelled_rows) == 0:
        return pseudo, confidence
    log_w = density_log_weights(bank, labelled_rows, density_neighbours, tau)
    base = np.concatenate([bank[labelled_rows] / tau, log_w[:, None]], 1)
    k = min(labelled_neighbours, len(labelled_rows))
    for start in range(0, len(bank), CHUNK_ROWS):
        rows = bank[start:start + CHUNK_ROWS]
        log_scores, ids = inner_product_search(base, np.pad(rows, ((0, 0), (0, 1)),
                                                            constant_values=1.0), k)
        winners, shares = vote(log_scores.astype(np.float64), labels[ids])
        pseudo[start:start + len(rows)] = winners
        confidence[start:start + len(rows)] = shares
    pseudo[labelled_rows] = labels
    confidence[labelled_rows] = 1.0
    return pseudo, confidence


class LabelPropagationRound(keras.callbacks.Callback):
    """Before each epoch: pseudo-labels of every bank row from the bank at the epoch boundary and
    the labels of the labelled examples seen so far (the objective's `bank_labels`)."""

    def __init__(self, objective):
        super().__init__()
        self.objective = objective
        self.last_stats = {}

    def on_epoch_begin(self, epoch, logs=None):
        start = time.perf_counter()
        llp = self.objective
        seen = llp.bank_labels.numpy()
        labelled = llp.labelled_rows[seen[llp.labelled_rows] >= 0]
        pseudo, confidence = propagate_labels(
            llp.memory_bank.numpy(), labelled, seen[labelled], llp.tau,
            llp.labelled_neighbours, llp.density_neighbours)
        llp.pseudo_labels.assign(pseudo)
        llp.confidence.assign(confidence)
        # Monitoring only: how often the pseudo-label of an unlabelled example is its true label.
        unlabelled = np.ones(len(seen), bool)
        unlabelled[llp.labelled_rows] = False
        judged = unlabelled & (seen >= 0) & (pseudo >= 0)
        self.last_stats = {
            "llp/labelled_known": int(len(labelled)),
            "llp/mean_confidence": float(confidence[unlabelled].mean()) if unlabelled.any() else 1.0,
            "llp/pseudo_label_accuracy": (float(np.mean(pseudo[judged] == seen[judged]))
                                          if judged.any() else float("nan")),
            "llp/seconds": time.perf_counter() - start}
        logging.info("epoch %d: propagated %d labels to %d bank rows: %s", epoch, len(labelled),
                     len(seen), self.last_stats)
