"""Local Label Propagation (Zhuang et al. 2019): IR's embedding and memory bank, trained to
aggregate each example with the bank rows that share its pseudo-label (against all other rows) and
to predict that label with a category head, both terms weighted by the label's confidence.

Pseudo-labels come from the labelled fraction once per epoch (vvs_tf.objectives.label_propagation);
labelled examples keep their own label with confidence 1. The labelled examples are
labelled_subset(N, fraction, seed), the same ones the few-label control and Mean Teacher use; the
labels of the others reach the step (the pipeline reads them) but only the kNN monitor sees them.
"""
import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

from vvs_tf.models.heads import classifier_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives import memory_bank
from vvs_tf.objectives.instance_recognition import InstanceRecognition
from vvs_tf.objectives.label_propagation import LabelPropagationRound
from vvs_tf.objectives.registry import register
from vvs_tf.objectives.supervised import labelled_subset

_MASKED = -1e9  # a finite "minus infinity": a row without a pseudo-label has weight 0 anyway


def aggregation_loss(logits, bank_pseudo_labels, own_labels, weights):
    """mean_i c_i * -log(sum_{j: label_j = label_i} exp(l_ij) / sum_j exp(l_ij)) over logits
    [B, N] = v_i . m_j / tau; rows without a pseudo-label (-1) contribute 0."""
    has_label = own_labels >= 0
    same = tf.logical_and(tf.equal(bank_pseudo_labels[None, :], own_labels[:, None]),
                          has_label[:, None])
    log_same = tf.reduce_logsumexp(tf.where(same, logits, _MASKED), axis=-1)
    per_example = tf.reduce_logsumexp(logits, axis=-1) - log_same
    return tf.reduce_mean(tf.where(has_label, weights * per_example, 0.0))


def category_loss(logits, own_labels, weights):
    """mean_i c_i * cross-entropy(category logits_i, pseudo-label_i); unlabelled rows give 0."""
    has_label = own_labels >= 0
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.maximum(own_labels, 0), logits=tf.cast(logits, tf.float32))
    return tf.reduce_mean(tf.where(has_label, weights * cross_entropy, 0.0))


@register("llp")
class LocalLabelPropagation(InstanceRecognition):
    """IR's backbone, head and bank (warm-started from IR) plus a linear category head."""

    uses_labels = True
    # The paper's kNN propagation: 10 labelled neighbours, density over 50 bank neighbours.
    defaults = dict(InstanceRecognition.defaults, label_fraction=0.03, labelled_neighbours=10,
                    density_neighbours=50, category_weight=1.0)
    scalar_names = ("aggregation", "category")

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.labelled_neighbours = int(cfg.labelled_neighbours)
        self.density_neighbours = int(cfg.density_neighbours)
        self.category_weight = float(cfg.category_weight)
        if self.labelled_neighbours < 1:
            raise ValueError(f"objective.labelled_neighbours must be >= 1, got "
                             f"{cfg.labelled_neighbours}")
        if not 1 <= self.density_neighbours < data_info.num_examples:
            raise ValueError(f"objective.density_neighbours={cfg.density_neighbours} must be in "
                             f"[1, {data_info.num_examples - 1}] (training examples - 1)")
        if self.category_weight < 0.0:
            raise ValueError(f"objective.category_weight must be >= 0, got {cfg.category_weight}")
        self.labelled_rows = labelled_subset(data_info.num_examples, float(cfg.label_fraction),
                                             config.seed)
        self.classifier = classifier_head(feature_channels(backbone), data_info.num_classes)
        self.pseudo_labels = memory_bank.make_state(
            np.full(data_info.num_examples, -1, np.int32), "pseudo_labels")
        self.confidence = memory_bank.make_state(
            np.zeros(data_info.num_examples, np.float32), "pseudo_label_confidence")

    def epoch_callbacks(self, train_eval_dataset):
        """The propagation round before each epoch (it reads the bank, not the images)."""
        del train_eval_dataset
        return [LabelPropagationRound(self)]

    def compute_loss(self, batch, training=True):
        features = self.last_readout(batch[self.input_key], training=training)
        embeddings = self.head(features, training=training)
        logits = tf.matmul(embeddings / self.tau, self.memory_bank, transpose_b=True)
        index = tf.cast(batch["index"], tf.int64)
        own_labels = tf.gather(self.pseudo_labels, index)
        weights = tf.gather(self.confidence, index)
        aggregation = aggregation_loss(logits, self.pseudo_labels, own_labels, weights)
        category = category_loss(self.classifier(features, training=training), own_labels, weights)
        loss = aggregation + self.category_weight * category
        return loss, {"aggregation": aggregation, "category": category}, embeddings
