"""DeepCluster (Caron et al. 2018): each round (epoch), cluster the features of every training
image (PCA-whitened to `pca_dim`, L2-normalised, k-means) and train the network to classify images
into their cluster with a freshly initialised linear head. The network sees Sobel edges of the
greyscale image, as in the original, computed on-device.
"""
import time

import vvs_tf  # noqa: F401

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from vvs_tf.monitor import global_step

from vvs_tf.models.heads import classifier_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives import memory_bank
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.clustering import kmeans
from vvs_tf.objectives.registry import register


def sobel_input(images):
    """RGB [B,H,W,3] in [0,1] -> Sobel (d/dy, d/dx) of the channel-mean grey image, [B,H,W,2],
    scaled by 1/8 and centred on 0.5 so it lies in [0, 1] like every backbone input."""
    grey = tf.reduce_mean(tf.cast(images, tf.float32), axis=-1, keepdims=True)
    edges = tf.image.sobel_edges(grey)[:, :, :, 0, :]  # reflect padding at the border
    return edges / 8.0 + 0.5


def pca_whiten(features: np.ndarray, dim: int, eps: float = 1e-5) -> np.ndarray:
    """Rows projected on the top-`dim` principal axes, whitened, then L2-normalised (DeepCluster's
    preprocessing before k-means)."""
    x = np.asarray(features, np.float64)
    if not 1 <= dim <= x.shape[1]:
        raise ValueError(f"PCA to {dim} dimensions needs 1 <= dim <= {x.shape[1]} features")
    x = x - x.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(x.T @ x / max(len(x) - 1, 1))
    top = np.argsort(eigenvalues)[::-1][:dim]
    projected = x @ eigenvectors[:, top] / np.sqrt(eigenvalues[top] + eps)
    norms = np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)
    return (projected / norms).astype(np.float32)


def balanced_weights(cluster_ids: np.ndarray, num_clusters: int) -> np.ndarray:
    """Per-cluster loss weights N / (K_nonempty * n_c): each non-empty cluster contributes equally
    in expectation, which DeepCluster gets by sampling images uniformly over clusters."""
    counts = np.bincount(cluster_ids, minlength=num_clusters).astype(np.float64)
    nonempty = np.count_nonzero(counts)
    weights = np.where(counts > 0, len(cluster_ids) / (nonempty * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


@register("deepcluster")
class DeepCluster(Objective):
    """Backbone on Sobel input (2 channels) -> linear classifier over `num_clusters` pseudo-labels.

    State: `cluster_ids` [N] (the pseudo-label of every training example by index) and
    `cluster_weights` [K]; both are set by `start_round`, which `DeepClusterRound` calls before
    each epoch. Until the first round every example is in cluster 0.
    """

    backbone_channels = 2
    defaults = dict(num_clusters=10000, pca_dim=256, kmeans_iterations=20, balance_clusters=True,
                    head_init_std=0.01)
    scalar_names = ("accuracy",)  # top-1 of the head on the batch's current cluster ids

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.num_clusters = int(cfg.num_clusters)
        self.pca_dim = int(cfg.pca_dim)
        channels = feature_channels(backbone)
        if not 2 <= self.num_clusters <= data_info.num_examples:
            raise ValueError(f"objective.num_clusters={self.num_clusters} must be in [2, number of "
                             f"training examples={data_info.num_examples}]")
        if not 1 <= self.pca_dim <= channels:
            raise ValueError(f"objective.pca_dim={self.pca_dim} must be in [1, {channels}] (the "
                             "backbone's feature channels)")
        self.classifier = classifier_head(channels, self.num_clusters, name="cluster_classifier")
        self.cluster_ids = memory_bank.make_state(
            np.zeros(data_info.num_examples, np.int64), "cluster_ids")
        self.cluster_weights = memory_bank.make_state(
            np.ones(self.num_clusters, np.float32), "cluster_weights")

    # --- the network ---------------------------------------------------------------------------
    def backbone_input(self, images):
        """What the evaluated network reads: Sobel edges of RGB images in [0, 1]."""
        return sobel_input(images)

    def features(self, images, training=False):
        return self.backbone(self.backbone_input(images),
                             training=training)[self.backbone.readout_names[-1]]

    def pooled_features(self, images):
        """[B, C] spatially averaged last block (inference mode): what is clustered."""
        return tf.reduce_mean(tf.cast(self.features(images, training=False), tf.float32), [1, 2])

    def embed(self, images, training=False):
        pooled = tf.reduce_mean(tf.cast(self.features(images, training), tf.float32), [1, 2])
        return tf.math.l2_normalize(pooled, -1)

    def compute_loss(self, batch, training=True):
        logits = self.classifier(self.features(batch["image"], training), training=training)
        labels = tf.gather(self.cluster_ids, tf.cast(batch["index"], tf.int64))
        labels = tf.cast(labels, tf.int32)
        weights = tf.gather(self.cluster_weights, labels)
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
        return (tf.reduce_mean(weights * cross_entropy),
                {"accuracy": tf.reduce_mean(tf.cast(hits, tf.float32))}, None)

    # --- rounds --------------------------------------------------------------------------------
    def dataset_features(self, dataset):
        """(pooled features [M, C], example indices [M]) of a dict-batch dataset."""
        pooled = tf.function(self.pooled_features)
        features, indices = [], []
        for batch in dataset:
            features.append(pooled(batch["image"]).numpy())
            indices.append(np.asarray(batch["index"]).astype(np.int64))
        return np.concatenate(features), np.concatenate(indices)

    def assign_clusters(self, features, indices, seed: int, iterations: int):
        """k-means of PCA-whitened features -> cluster id per example index [N]."""
        num = self.data_info.num_examples
        if len(indices) != num or not np.array_equal(np.sort(indices), np.arange(num)):
            raise ValueError(
                f"a DeepCluster round needs every training example once; the dataset gave "
                f"{len(indices)} examples with {len(np.unique(indices))} distinct indices for "
                f"{num} training examples")
        labels, _ = kmeans(pca_whiten(features, self.pca_dim), self.num_clusters, seed, iterations)
        ids = np.empty(num, np.int64)
        ids[indices] = labels
        return ids

    def start_round(self, cluster_ids: np.ndarray, seed: int):
        """New pseudo-labels, a re-initialised head (weights N(0, head_init_std), bias 0) and reset
        optimizer slots of the head (Keras names them "{variable path}_{slot}"), so nothing of the
        last round's classes is kept."""
        self.cluster_ids.assign(cluster_ids)
        weights = (balanced_weights(cluster_ids, self.num_clusters)
                   if self.config.objective.balance_clusters
                   else np.ones(self.num_clusters, np.float32))
        self.cluster_weights.assign(weights)
        dense = self.classifier.get_layer("fc")
        init = keras.initializers.RandomNormal(stddev=float(self.config.objective.head_init_std),
                                               seed=int(seed))
        dense.kernel.assign(init(dense.kernel.shape, dense.kernel.dtype))
        dense.bias.assign(tf.zeros_like(dense.bias))
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None:
            prefixes = tuple(v.path.replace("/", "_") + "_" for v in (dense.kernel, dense.bias))
            for slot in optimizer.variables:
                if slot.name.startswith(prefixes):
                    slot.assign(tf.zeros_like(slot))

    def epoch_callbacks(self, train_eval_dataset):
        """Callbacks the trainer runs between epochs.

        Contract: `train_eval_dataset` is a finite tf.data.Dataset of dict batches with "image"
        [B,H,W,3] float32 in [0,1] (the deterministic "eval" view) and "index" [B], covering every
        training example exactly once (any order, any batch size). The trainer calls
        `on_epoch_begin(epoch)` of each returned callback before that epoch's first step (so the
        first round happens before any training); they also work as keras.callbacks in fit().
        """
        return [DeepClusterRound(self, train_eval_dataset, int(self.config.seed),
                                 int(self.config.objective.kmeans_iterations))]


class DeepClusterRound(keras.callbacks.Callback):
    """Before each epoch: embed every training image, k-means, new head (DeepCluster's round)."""

    def __init__(self, objective: DeepCluster, dataset, seed: int, iterations: int = 20,
                 writer=None):
        super().__init__()
        self.objective, self.dataset = objective, dataset
        self.seed, self.iterations, self.writer = seed, iterations, writer
        self.previous = None
        self.last_stats = {}

    def on_epoch_begin(self, epoch, logs=None):
        from sklearn.metrics import normalized_mutual_info_score

        start = time.perf_counter()
        features, indices = self.objective.dataset_features(self.dataset)
        round_seed = self.seed + 1000 * epoch
        ids = self.objective.assign_clusters(features, indices, round_seed, self.iterations)
        self.objective.start_round(ids, round_seed)
        self.last_stats = {"clusters/nonempty": float(len(np.unique(ids))),
                           "clusters/seconds": time.perf_counter() - start}
        if self.previous is not None:  # DeepCluster's measure of how much the clusters moved
            self.last_stats["clusters/nmi_previous"] = float(
                normalized_mutual_info_score(self.previous, ids))
        self.previous = ids
        logging.info("epoch %d: DeepCluster round, %d non-empty of %d clusters in %.1fs", epoch,
                     len(np.unique(ids)), self.objective.num_clusters,
                     self.last_stats["clusters/seconds"])
        if self.writer is not None:
            self.writer.scalars(self.last_stats, step=global_step(self.objective.optimizer))
