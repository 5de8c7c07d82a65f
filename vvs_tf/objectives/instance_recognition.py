"""Instance Recognition (Wu et al., CVPR 2018): each image is its own class, scored by a
non-parametric softmax over a memory bank and trained with noise-contrastive estimation."""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.models.heads import embedding_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives import memory_bank
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.registry import register


def nce_loss(positive_logits, noise_logits, log_z, num_examples):
    """NCE loss of IR from logits v.m/tau: -(sum ln_data + sum ln_noise) / batch.

    With P = exp(logit) / Z and noise distribution 1/N over the bank:
    ln_data = log(P_d / (P_d + k/N)), ln_noise = log((k/N) / (P_n + k/N)). Both are written as
    softplus of log-ratios so no exp() can overflow.
    """
    k = tf.cast(tf.shape(noise_logits)[-1], tf.float32)
    log_kn = tf.math.log(k / float(num_examples))
    data_term = tf.nn.softplus(log_kn - (positive_logits - log_z))
    noise_term = tf.reduce_sum(tf.nn.softplus(noise_logits - log_z - log_kn), axis=-1)
    return tf.reduce_mean(data_term + noise_term)


def log_partition_estimate(noise_logits, num_examples: int):
    """log Z with Z = N * mean(exp(logit)) over the global batch's noise logits (no gradient)."""
    noise = tf.stop_gradient(memory_bank.gather_global_batch(noise_logits))
    return (tf.reduce_logsumexp(noise) - tf.math.log(tf.cast(tf.size(noise), tf.float32))
            + tf.math.log(float(num_examples)))


def fixed_log_partition(variable: tf.Variable, estimate, training: bool):
    """log Z estimated once (the first training step) and then kept, as in the original IR/CMC.

    Returns the value as a tensor rather than re-reading the variable: under MirroredStrategy a
    replica may read the variable before the first replica's assignment lands.
    """
    value = tf.where(tf.equal(variable, 0.0), estimate, variable)
    if training:
        variable.assign(value)
    return value


def positive_logits(embeddings, bank, index, tau):
    """v_i . m_i / tau of each example with its own bank row."""
    return tf.reduce_sum(embeddings * tf.gather(bank, index), -1) / tau


def exact_softmax_loss(embeddings, bank, index, tau):
    """-log P(i|v_i) with the exact normaliser over the whole bank (what NCE approximates).

    The positive logit comes from its bank row, not out of the [B, N] logits: the gradient of that
    gather is an UnsortedSegmentSum over all B x N positions, which made the loss and its gradient
    take 148 instead of 79 ms at B=128, N=10^5 on 2 CPU cores.
    """
    logits = tf.matmul(embeddings, bank, transpose_b=True) / tau
    return tf.reduce_mean(tf.reduce_logsumexp(logits, -1)
                          - positive_logits(embeddings, bank, index, tau))


@register("ir")
class InstanceRecognition(Objective):
    """Backbone -> 128-d unit embedding, NCE against 4096 uniform bank rows, bank momentum 0.5.

    ``nce_k=0`` replaces NCE by the exact non-parametric softmax over the bank, affordable for small
    banks. NCE's normaliser Z is fixed after the first batch; on small banks that are refreshed
    every few steps, SGD with momentum can then drive all embeddings to a common direction, which
    the exact normaliser prevents (seen on the embedded world; see configs/tiny/ir.py).
    """

    defaults = dict(dim=128, tau=0.07, bank_momentum=0.5, nce_k=4096)

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.tau = float(cfg.tau)
        self.bank_momentum = float(cfg.bank_momentum)
        self.head = embedding_head(feature_channels(backbone), int(cfg.dim))
        self.memory_bank = memory_bank.make_bank(data_info.num_examples, int(cfg.dim), config.seed)
        # Labels of bank rows, filled as examples are seen: only the kNN monitor reads them.
        self.bank_labels = memory_bank.make_state(
            [-1] * data_info.num_examples, "bank_labels", tf.int32)
        # log Z of the non-parametric softmax; 0 until estimated once on the first batch.
        self.nce_log_z = tf.Variable(
            0.0, trainable=False, name="nce_log_z",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.noise_samples = int(cfg.nce_k)

    def embed(self, images, training=False):
        return self.head(self.last_readout(images, training=training), training=training)

    def bank_logits(self, embeddings, rows):
        return tf.matmul(embeddings, tf.gather(self.memory_bank, rows), transpose_b=True) / self.tau

    def compute_loss(self, batch, training=True):
        embeddings = self.embed(batch[self.input_key], training=training)
        index = tf.cast(batch["index"], tf.int64)
        if self.noise_samples == 0:
            return exact_softmax_loss(embeddings, self.memory_bank, index, self.tau), {}, embeddings
        positive = positive_logits(embeddings, self.memory_bank, index, self.tau)
        noise_rows = tf.random.stateless_uniform(
            [self.noise_samples], self.step_seed(1), 0, self.data_info.num_examples, tf.int64)
        noise = self.bank_logits(embeddings, noise_rows)
        log_z = fixed_log_partition(
            self.nce_log_z, log_partition_estimate(noise, self.data_info.num_examples), training)
        loss = nce_loss(positive, noise, log_z, self.data_info.num_examples)
        return loss, {}, embeddings

    def banks_and_vectors(self, embeddings):
        """(bank, this step's vectors for it) pairs that update_state blends; CMC has two."""
        return ((self.memory_bank, embeddings),)

    def update_state(self, batch, embeddings):
        for bank, vectors in self.banks_and_vectors(embeddings):
            memory_bank.update_rows(bank, batch["index"], vectors, self.bank_momentum,
                                    zero_copy_reads=not self.uses_xla)
        memory_bank.scatter_values(self.bank_labels, batch["index"], batch["label"])
