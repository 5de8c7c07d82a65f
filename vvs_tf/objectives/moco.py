"""MoCo v2 (He et al. 2020; Chen et al. 2020): a query encoder trained by InfoNCE against the key of
the same image from a momentum (EMA) key encoder and K older keys kept in a queue."""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.models import build_backbone
from vvs_tf.objectives import ema, memory_bank
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.contrastive import info_nce_loss, queue_logits, replica_offset, two_views
from vvs_tf.objectives.registry import register
from vvs_tf.objectives.simclr import positive_temperature, projection_head


def check_queue(queue_size: int, global_batch: int):
    """The queue must hold whole global batches, so enqueueing never splits one."""
    if global_batch <= 0 or queue_size < global_batch or queue_size % global_batch:
        raise ValueError(f"objective.queue_size={queue_size} must be a positive multiple of the "
                         f"global batch train.batch_size={global_batch}")


def enqueue(queue: tf.Variable, pointer: tf.Variable, keys):
    """Writes `keys` over the oldest rows (from `pointer`, wrapping) and advances the pointer."""
    size = tf.cast(tf.shape(queue)[0], tf.int64)
    count = tf.cast(tf.shape(keys)[0], tf.int64)
    rows = (pointer + tf.range(count)) % size
    queue.scatter_update(tf.IndexedSlices(tf.cast(keys, queue.dtype), rows))
    pointer.assign((pointer + count) % size)


@register("moco")
class MoCo(Objective):
    """Query = view a through backbone + MLP head; key = view b through the EMA copy (no gradient).

    Shuffle BN (`shuffle_bn`, MoCo's remedy for BN leaking batch identity): on several replicas the
    key images of the global batch are permuted before the key encoder splits them over replicas,
    so a key's BN statistics come from other images than its query's. With `model.sync_batchnorm`
    statistics are global and shuffling changes nothing.
    """

    view = "simclr"
    num_views = 2
    defaults = dict(dim=128, temperature=0.2, queue_size=65536, key_momentum=0.999,
                    shuffle_bn=True)
    scalar_names = ("contrast_accuracy",)  # fraction of queries whose own key has the top logit

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        check_queue(int(cfg.queue_size), int(config.train.batch_size))
        if not 0.0 <= float(cfg.key_momentum) < 1.0:
            raise ValueError(f"objective.key_momentum must be in [0, 1), got {cfg.key_momentum}")
        self.temperature = positive_temperature(config)
        self.key_momentum = float(cfg.key_momentum)
        self.shuffle_bn = bool(cfg.shuffle_bn)
        self.head = projection_head(backbone, config, "query_head")
        self.key_backbone = build_backbone(config.model, channels=self.backbone_channels,
                                           name="key_backbone")
        self.key_head = projection_head(self.key_backbone, config, "key_head")
        ema.start_copy(*self._encoders())
        self.queue = memory_bank.make_bank(int(cfg.queue_size), int(cfg.dim), config.seed + 1,
                                           name="key_queue")
        self.queue_pointer = memory_bank.make_state(0, "queue_pointer", tf.int64)

    def _encoders(self):
        """(key encoder, query encoder), each as [backbone, head]."""
        return [self.key_backbone, self.key_head], [self.backbone, self.head]

    def _ema_pairs(self):
        """(key weight, query weight) for the parameters (vvs_tf.objectives.ema)."""
        return ema.ema_pairs(*self._encoders())

    def on_warm_start(self):
        ema.start_copy(*self._encoders())

    def project(self, backbone, head, images, training):
        return head(backbone(images, training=training)[backbone.readout_names[-1]],
                    training=training)

    def encode_keys(self, images, training):
        """Keys of this replica's images and of the whole global batch (in global order)."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if not (self.shuffle_bn and replicas > 1):
            keys = self.project(self.key_backbone, self.key_head, images, training)
            return keys, memory_bank.gather_global_batch(keys)
        everything = memory_bank.gather_global_batch(images)
        total, local = tf.shape(everything)[0], tf.shape(images)[0]
        order = tf.argsort(tf.random.stateless_uniform([total], self.step_seed(2)))
        start = replica_offset(local)
        mine = tf.gather(everything, order[start:start + local])
        shuffled_keys = memory_bank.gather_global_batch(
            self.project(self.key_backbone, self.key_head, mine, training))
        all_keys = tf.gather(shuffled_keys, tf.argsort(order))  # undo the permutation
        return all_keys[start:start + local], all_keys

    def compute_loss(self, batch, training=True):
        query_images, key_images = two_views(batch)
        queries = self.project(self.backbone, self.head, query_images, training)
        keys, all_keys = self.encode_keys(key_images, training)
        logits = queue_logits(queries, tf.stop_gradient(keys), self.queue, self.temperature)
        loss, accuracy = info_nce_loss(logits, tf.zeros([tf.shape(logits)[0]], tf.int32))
        return loss, {"contrast_accuracy": accuracy}, tf.stop_gradient(all_keys)

    def update_state(self, batch, all_keys):
        ema.momentum_update(self._ema_pairs(), self.key_momentum)
        enqueue(self.queue, self.queue_pointer, all_keys)
