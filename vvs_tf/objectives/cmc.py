"""Contrastive Multiview Coding (Tian et al. 2019) on the L and ab views of Lab images: each view
has its own ResNet and 128-d head, and each view's embedding is scored by IR's memory-bank NCE
against the other view's bank (L -> ab bank, ab -> L bank), as in the original CMC code.

The L network is the one evaluated (the recordings' stimuli are greyscale): ``backbone`` takes the
lightness channel L/100 in [0, 1] ([B,H,W,1]); ``backbone_input`` maps RGB images to it.
"""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.data.color import split_lab
from vvs_tf.models import build_backbone
from vvs_tf.models.heads import embedding_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives import memory_bank
from vvs_tf.objectives.instance_recognition import (
    InstanceRecognition, fixed_log_partition, log_partition_estimate, nce_loss)
from vvs_tf.objectives.registry import register


def lab_inputs(images):
    """RGB [B,H,W,3] in [0,1] -> (L/100 [B,H,W,1], (ab+128)/255 [B,H,W,2]), both about [0, 1]."""
    lightness, ab = split_lab(images)
    return lightness / 100.0, (ab + 128.0) / 255.0


def cross_view_logits(anchors, other_bank, index, noise_rows, tau):
    """(positive [B], noise [B, k]) logits of one view's embeddings for IR's NCE: the positive is
    the other view's bank row of the same image, the noise the other view's rows `noise_rows`
    (shared by the batch, like IR; the original draws them per example)."""
    positive = tf.reduce_sum(anchors * tf.gather(other_bank, index), -1) / tau
    noise = tf.matmul(anchors, tf.gather(other_bank, noise_rows), transpose_b=True) / tau
    return positive, noise


@register("cmc")
class CMC(InstanceRecognition):
    """L network = `backbone` + `head` with bank `memory_bank` (read by the kNN monitor);
    ab network = `ab_backbone` + `ab_head` with bank `ab_bank`. Loss = NCE(L) + NCE(ab)."""

    backbone_channels = 1
    view = "crop_flip"
    # CMC's defaults: 16384 noise samples, tau 0.07, bank momentum 0.5, 128-d.
    defaults = dict(InstanceRecognition.defaults, nce_k=16384)
    scalar_names = ("loss_l", "loss_ab")  # NCE of the L anchors (vs ab bank) and the reverse

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        if self.noise_samples < 1:
            raise ValueError(
                f"CMC needs objective.nce_k >= 1 noise samples, got {self.noise_samples}")
        dim = int(config.objective.dim)
        self.ab_backbone = build_backbone(config.model, channels=2, name="ab_backbone")
        self.ab_head = embedding_head(feature_channels(self.ab_backbone), dim, name="ab_head")
        self.ab_bank = memory_bank.make_bank(data_info.num_examples, dim, config.seed + 1,
                                             name="ab_memory_bank")
        self.ab_nce_log_z = tf.Variable(
            0.0, trainable=False, name="ab_nce_log_z",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def backbone_input(self, images):
        """What the evaluated (L) network reads: L/100 of RGB images in [0, 1]."""
        return lab_inputs(images)[0]

    def embed(self, images, training=False):
        features = self.backbone(self.backbone_input(images), training=training)
        return self.head(features[self.backbone.readout_names[-1]], training=training)

    def embed_views(self, images, training):
        lightness, ab = lab_inputs(images)
        features_l = self.backbone(lightness, training=training)[self.backbone.readout_names[-1]]
        v_l = self.head(features_l, training=training)
        v_ab = self.ab_head(
            self.ab_backbone(ab, training=training)[self.ab_backbone.readout_names[-1]],
            training=training)
        return v_l, v_ab

    def compute_loss(self, batch, training=True):
        v_l, v_ab = self.embed_views(batch["image"], training)
        index = tf.cast(batch["index"], tf.int64)
        num = self.data_info.num_examples
        noise_rows = tf.random.stateless_uniform(
            [self.noise_samples], self.step_seed(1), 0, num, tf.int64)
        terms = {}
        for name, anchors, bank, log_z_var in (("loss_l", v_l, self.ab_bank, self.nce_log_z),
                                               ("loss_ab", v_ab, self.memory_bank,
                                                self.ab_nce_log_z)):
            positive, noise = cross_view_logits(anchors, bank, index, noise_rows, self.tau)
            log_z = fixed_log_partition(log_z_var, log_partition_estimate(noise, num), training)
            terms[name] = nce_loss(positive, noise, log_z, num)
        return terms["loss_l"] + terms["loss_ab"], terms, (v_l, v_ab)

    def banks_and_vectors(self, embeddings):
        v_l, v_ab = embeddings
        return ((self.memory_bank, v_l), (self.ab_bank, v_ab))
