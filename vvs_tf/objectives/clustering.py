"""faiss on memory banks (GPU indexes when faiss-gpu sees a GPU): k-means, shared by LA and
DeepCluster, exact inner-product search (LLP's label propagation), and the callback that
re-clusters LA's bank at the start of every epoch."""
import concurrent.futures
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
        # Below 39 points per centroid faiss only prints a warning, each clustering of each epoch
        # on the embedded world's small banks; they are clustered all the same.
        min_points_per_centroid=1,
    )
    km.train(data)
    _, labels = km.index.search(data, 1)
    return labels[:, 0].astype(np.int64), km.centroids


def inner_product_search(base: np.ndarray, queries: np.ndarray, k: int):
    """The k rows of `base` with the largest inner product with each query, exactly (faiss'
    IndexFlatIP): (scores [Q, k], row ids [Q, k]), best first."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if not 1 <= k <= len(base):
        raise ValueError(f"cannot take the {k} best of {len(base)} rows")
    index = faiss.IndexFlatIP(base.shape[1])
    if faiss_gpu_available():
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(base)
    return index.search(queries, k)


def nearest_other_rows(data: np.ndarray, rows, k: int):
    """(similarities [Q, k], row ids [Q, k]) of the k rows of `data` with the largest inner
    product with each of `data[rows]`, the row itself left out (where a duplicate row pushed it
    out of the k + 1 searched, the last one is dropped instead), best first."""
    rows = np.asarray(rows, np.int64)
    if not 1 <= k < len(data):
        raise ValueError(f"k must be in [1, {len(data) - 1}] for {len(data)} rows, got {k}")
    similarities, ids = inner_product_search(data, np.asarray(data)[rows], k + 1)
    is_self = ids == rows[:, None]
    drop = np.where(is_self.any(1), is_self.argmax(1), k)
    keep = np.ones(ids.shape, bool)
    keep[np.arange(len(rows)), drop] = False
    return similarities[keep].reshape(len(rows), k), ids[keep].reshape(len(rows), k)


def multi_kmeans(data: np.ndarray, num_clusterings: int, num_clusters: int, seed: int,
                 iterations: int = 20) -> np.ndarray:
    """H clusterings with different seeds: [H, N] labels (LA's close-neighbour definition)."""
    return np.stack([kmeans(data, num_clusters, seed + h, iterations)[0]
                     for h in range(num_clusterings)])


class ReclusterCallback(keras.callbacks.Callback):
    """Re-clusters the memory bank at the start of each epoch (so also before the first step).

    With ``overlap_steps`` > 0 the clustering of the bank as it stood at the epoch boundary runs in
    a background thread while training continues with the previous labels; the new labels are
    installed before step ``overlap_steps`` of the epoch (waiting there if the clustering is not
    done, which is the only stall). The step is fixed, so a run stays deterministic and a resumed
    run replays it. Epoch 0 has no previous labels and always clusters before its first step.
    The trainer calls on_epoch_begin / on_train_batch_begin / on_epoch_end (see Trainer.run).
    """

    def __init__(self, objective, seed: int, iterations: int = 20, writer=None,
                 overlap_steps: int = 0):
        super().__init__()
        if overlap_steps < 0:
            raise ValueError(f"objective.recluster_overlap_steps must be >= 0, got {overlap_steps}")
        self.objective = objective
        self.seed = seed
        self.iterations = iterations
        self.writer = writer
        self.overlap_steps = int(overlap_steps)
        self.last_stats = {}
        self._pending = None  # (future, epoch) of a clustering running in the background
        self._executor = None

    def _cluster(self, bank: np.ndarray, epoch: int):
        start = time.perf_counter()
        labels = multi_kmeans(bank, self.objective.num_clusterings, self.objective.num_clusters,
                              self.seed + 1000 * epoch, self.iterations)
        return labels, time.perf_counter() - start

    def _install(self, epoch: int, labels: np.ndarray, seconds: float, stall: float):
        self.objective.cluster_labels.assign(labels)
        nonempty = np.mean([len(np.unique(row)) for row in labels])
        self.last_stats = {"clusters/nonempty": float(nonempty), "clusters/seconds": seconds,
                           "clusters/stall_seconds": stall}
        logging.info("epoch %d: clustered bank into %dx%d clusters (%.0f non-empty) in %.1fs, "
                     "training waited %.1fs", epoch, labels.shape[0], self.objective.num_clusters,
                     nonempty, seconds, stall)
        if self.writer is not None:
            self.writer.scalars(self.last_stats, step=global_step(self.objective.optimizer))

    def on_epoch_begin(self, epoch, logs=None):
        self._finish()  # a clustering left over from an epoch shorter than overlap_steps
        bank = self.objective.memory_bank.numpy()  # the bank at the epoch boundary
        if self.overlap_steps == 0 or epoch == 0:
            start = time.perf_counter()
            labels, seconds = self._cluster(bank, epoch)
            self._install(epoch, labels, seconds, time.perf_counter() - start)
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "recluster")
        self._pending = (self._executor.submit(self._cluster, bank, epoch), epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self._pending is not None and batch >= self.overlap_steps:
            self._finish()

    def on_epoch_end(self, epoch, logs=None):
        self._finish()

    def _finish(self):
        if self._pending is None:
            return
        (future, epoch), self._pending = self._pending, None
        start = time.perf_counter()
        labels, seconds = future.result()
        self._install(epoch, labels, seconds, time.perf_counter() - start)
