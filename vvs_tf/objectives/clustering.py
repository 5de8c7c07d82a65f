"""k-means of memory banks with faiss (GPU index when faiss-gpu sees a GPU), shared by LA and
DeepCluster, and the callback that re-clusters LA's bank at the start of every epoch."""
import time

import vvs_tf  # noqa: F401

import faiss
import keras
import numpy as np
from absl import logging

from vvs_tf.monitor import global_step


def faiss_gpu_available() -> bool:
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def kmeans(data: np.ndarray, num_clusters: int, seed: int, iterations: int = 20,
           spherical: bool = False):
    """Cluster rows of `data`; returns (labels int64 [N], centroids [K, D])."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    if not 1 <= num_clusters <= len(data):
        raise ValueError(f"cannot make {num_clusters} clusters of {len(data)} points")
    km = faiss.Kmeans(
        data.shape[1], num_clusters, niter=iterations, seed=int(seed), spherical=spherical,
        gpu=faiss_gpu_available(), verbose=False,
        # faiss subsamples to 256 points per centroid by default; keep every point as the LA code.
        max_points_per_centroid=max(256, -(-len(data) // num_clusters)),
    )
    km.train(data)
    _, labels = km.index.search(data, 1)
    return labels[:, 0].astype(np.int64), km.centroids


def multi_kmeans(data: np.ndarray, num_clusterings: int, num_clusters: int, seed: int,
                 iterations: int = 20) -> np.ndarray:
    """H clusterings with different seeds: [H, N] labels (LA's close-neighbour definition)."""
    return np.stack([kmeans(data, num_clusters, seed + h, iterations)[0]
                     for h in range(num_clusterings)])


class ReclusterCallback(keras.callbacks.Callback):
    """Re-clusters the memory bank before each epoch (so also before the first step)."""

    def __init__(self, objective, seed: int, iterations: int = 20, writer=None):
        super().__init__()
        self.objective = objective
        self.seed = seed
        self.iterations = iterations
        self.writer = writer
        self.last_stats = {}

    def on_epoch_begin(self, epoch, logs=None):
        start = time.perf_counter()
        bank = self.objective.memory_bank.numpy()
        labels = multi_kmeans(bank, self.objective.num_clusterings, self.objective.num_clusters,
                              self.seed + 1000 * epoch, self.iterations)
        self.objective.cluster_labels.assign(labels)
        nonempty = np.mean([len(np.unique(row)) for row in labels])
        self.last_stats = {"clusters/nonempty": float(nonempty),
                           "clusters/seconds": time.perf_counter() - start}
        logging.info("epoch %d: clustered bank into %dx%d clusters (%.0f non-empty) in %.1fs",
                     epoch, labels.shape[0], self.objective.num_clusters, nonempty,
                     self.last_stats["clusters/seconds"])
        if self.writer is not None:
            self.writer.scalars(self.last_stats, step=global_step(self.objective.optimizer))
