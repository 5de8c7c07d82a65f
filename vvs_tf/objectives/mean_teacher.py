"""Mean Teacher (Tarvainen & Valpola, NeurIPS 2017): a student classifier learns the labels of a
labelled fraction of the images and, on every image, to agree with its teacher, an exponential
moving average of the student that sees the image under another augmentation.

The loss follows the original code: the cross-entropy is summed over the batch's labelled images
and divided by the whole batch (the unlabelled ones contribute zero), and the consistency cost is
the squared difference of the two softmaxes summed over classes, divided by the class count and
averaged over the batch, every image included. Both are per-image means over the batch, so their
gradients on several replicas equal one device's on the global batch. The labelled images are
labelled_subset(N, fraction, seed), the same ones the few-label control trains on.

The teacher is the network that is evaluated (the original reports its accuracy; the student
fluctuates more).
"""
import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

from vvs_tf.config import steps_per_epoch
from vvs_tf.models import build_backbone
from vvs_tf.models.heads import classifier_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives import ema
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.contrastive import two_views
from vvs_tf.objectives.registry import register
from vvs_tf.objectives.supervised import labelled_subset


def sigmoid_rampup(progress):
    """exp(-5 (1 - t)^2) with t = progress clipped to [0, 1]: the consistency weight's ramp-up."""
    t = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    return tf.exp(-5.0 * tf.square(1.0 - t))


def consistency_cost(student_logits, teacher_logits):
    """mean_b sum_c (softmax(student) - softmax(teacher))^2 / C; no gradient reaches the teacher."""
    student = tf.nn.softmax(tf.cast(student_logits, tf.float32))
    teacher = tf.stop_gradient(tf.nn.softmax(tf.cast(teacher_logits, tf.float32)))
    return tf.reduce_mean(tf.reduce_mean(tf.square(student - teacher), axis=-1))


def labelled_cross_entropy(logits, labels, labelled):
    """Softmax cross-entropy summed over the labelled examples, divided by the batch size."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32))
    return tf.reduce_mean(tf.where(labelled, per_example, 0.0))


def teacher_decay(step, decay: float):
    """min(1 - 1/(step + 1), decay) after `step` optimizer steps: early averages weigh the recent
    students evenly instead of keeping the random initialisation."""
    step = tf.cast(step, tf.float32)
    return tf.minimum(1.0 - 1.0 / (step + 1.0), decay)


@register("mean_teacher")
class MeanTeacher(Objective):
    """Student: backbone + linear classifier on view a. Teacher: their EMA on view b."""

    view = "crop_flip"
    num_views = 2
    uses_labels = True
    # ImageNet values of the paper: EMA decay 0.9997, consistency weight 10 reached after 5 epochs.
    defaults = dict(label_fraction=0.03, ema_decay=0.9997, consistency_weight=10.0,
                    consistency_rampup_epochs=5.0)
    scalar_names = ("cross_entropy", "consistency", "consistency_weight")

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.ema_decay = float(cfg.ema_decay)
        self.consistency_weight = float(cfg.consistency_weight)
        rampup_epochs = float(cfg.consistency_rampup_epochs)
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"objective.ema_decay must be in [0, 1), got {cfg.ema_decay}")
        if self.consistency_weight < 0.0 or rampup_epochs < 0.0:
            raise ValueError("objective.consistency_weight and objective.consistency_rampup_epochs "
                             f"must be >= 0, got {cfg.consistency_weight} and "
                             f"{cfg.consistency_rampup_epochs}")
        self.rampup_steps = rampup_epochs * steps_per_epoch(config, data_info.num_examples)
        labelled = labelled_subset(data_info.num_examples, float(cfg.label_fraction), config.seed)
        self.labelled_mask = np.zeros(data_info.num_examples, bool)
        self.labelled_mask[labelled] = True
        channels = feature_channels(backbone)
        self.classifier = classifier_head(channels, data_info.num_classes)
        self.teacher_backbone = build_backbone(config.model, channels=self.backbone_channels,
                                               name="teacher_backbone")
        self.teacher_classifier = classifier_head(channels, data_info.num_classes,
                                                  name="teacher_classifier")
        ema.start_copy(*self._networks())

    def _networks(self):
        """(teacher, student), each as [backbone, classifier]."""
        return ([self.teacher_backbone, self.teacher_classifier],
                [self.backbone, self.classifier])

    def on_warm_start(self):
        ema.start_copy(*self._networks())

    def activation_network(self):
        return self.teacher_backbone

    def embed(self, images, training=False):
        features = self.teacher_backbone(images, training=training)
        pooled = tf.reduce_mean(tf.cast(features[self.backbone.readout_names[-1]], tf.float32), [1, 2])
        return tf.math.l2_normalize(pooled, -1)

    def logits(self, backbone, classifier, images, training):
        return classifier(backbone(images, training=training)[backbone.readout_names[-1]],
                          training=training)

    def consistency_weight_now(self):
        """consistency_weight * sigmoid_rampup(step / ramp-up steps); the full weight without one."""
        if self.rampup_steps <= 0:
            return tf.constant(self.consistency_weight)
        progress = tf.cast(self.optimizer.iterations, tf.float32) / self.rampup_steps
        return self.consistency_weight * sigmoid_rampup(progress)

    def compute_loss(self, batch, training=True):
        student_images, teacher_images = two_views(batch)
        student = self.logits(self.backbone, self.classifier, student_images, training)
        teacher = self.logits(self.teacher_backbone, self.teacher_classifier, teacher_images,
                              training)
        labelled = tf.gather(tf.constant(self.labelled_mask), tf.cast(batch["index"], tf.int64))
        cross_entropy = labelled_cross_entropy(student, batch["label"], labelled)
        consistency = consistency_cost(student, teacher)
        weight = self.consistency_weight_now()
        extras = {"cross_entropy": cross_entropy, "consistency": consistency,
                  "consistency_weight": weight}
        return cross_entropy + weight * consistency, extras, None

    def update_state(self, batch, aux):
        decay = teacher_decay(self.optimizer.iterations, self.ema_decay)
        ema.momentum_update(ema.ema_pairs(*self._networks()), decay)
