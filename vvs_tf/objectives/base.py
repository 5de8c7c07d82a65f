"""The objective interface: a keras.Model whose train_step is one method's update.

An objective owns a backbone (the network that is evaluated, always the attribute ``backbone``), the
heads and non-gradient state its loss needs (memory banks, queues, momentum encoders, cluster
labels), and declares what the input pipeline must deliver (``view`` recipe, ``num_views``, clip
or image). ``train_step`` is shared: subclasses only say how a batch becomes a loss
(``compute_loss``) and how their state changes after the gradient step (``update_state``).

Distribution: ``compute_loss`` returns the mean over the replica's examples; the shared step
divides by the replica count before the optimizer sums gradients over replicas, so the update
equals the single-device update on the global batch. Methods whose loss couples examples across
replicas (SimCLR negatives, memory-bank updates) gather the global batch themselves.
"""
import dataclasses

import vvs_tf  # noqa: F401

import keras
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What an objective needs to know about its training data before it is built."""

    num_examples: int
    num_classes: int
    image_size: int


class Objective(keras.Model):
    view = "ir_la"  # augmentation recipe of the input pipeline (vvs_tf.data.pipeline.VIEWS)
    num_views = 1
    uses_labels = False  # whether compute_loss reads batch["label"] (supervised parts)
    trains = True  # False for the untrained control: the trainer saves the init and stops
    defaults = {}  # the `objective` block of base_config(method): the method's own hyperparameters
    backbone_channels = 3  # input channels of the backbone (1 for an L-channel network)
    scalar_names = ()  # extra scalars compute_loss returns, averaged per epoch like the loss
    input_key = "image"  # the batch entry the backbone reads ("clip" for video objectives)
    model_defaults = {}  # `model` fields the method sets in base_config (VIE: the video network)
    data_defaults = {}  # `data` fields it adds there (VIE: the video stream's size)

    def __init__(self, backbone: keras.Model, config, data_info: DataInfo, **kwargs):
        super().__init__(name=kwargs.pop("name", config.method), **kwargs)
        self.backbone = backbone
        self.config = config
        self.data_info = data_info
        self.weight_decay = float(config.optimizer.weight_decay)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.extra_trackers = {name: keras.metrics.Mean(name=name) for name in self.scalar_names}

    # --- what subclasses provide -------------------------------------------------------------
    # compute_loss(batch, training) -> (mean loss over this replica's batch, dict of extra
    # scalars to track, aux passed on to update_state). Every subclass defines it.

    def update_state(self, batch, aux):
        """Updates non-gradient state after the optimizer step (default: none)."""

    def on_warm_start(self):
        """Re-derives state copied from warm-started parts (a momentum encoder; default: none)."""

    def last_readout(self, inputs, training=False):
        """The backbone's last read-out [B, H, W, C], which heads pool (video objectives average
        their backbone's over time)."""
        return self.backbone(inputs, training=training)[self.backbone.readout_names[-1]]

    def embed(self, images, training=False):
        """Unit-norm embedding used by the kNN monitor: pooled last read-out by default."""
        features = self.last_readout(images, training=training)
        return tf.math.l2_normalize(tf.reduce_mean(tf.cast(features, tf.float32), [1, 2]), -1)

    # --- shared machinery ----------------------------------------------------------------------
    def call(self, images, training=False):
        return self.embed(images, training=training)

    def backbone_input(self, images):
        """What the backbone reads, from RGB images in [0, 1] (an L channel for CMC/colorization)."""
        return images

    def activation_network(self) -> keras.Model:
        """The evaluated network: RGB images in [0, 1] -> dict of named read-outs, whatever the
        backbone itself reads; this is what export and the evaluators score."""
        if type(self).backbone_input is Objective.backbone_input:
            return self.backbone
        return InputAdapter(self.backbone, self.backbone_input)

    def example_shape(self):
        """Shape of one input of `call`/`embed`: an RGB image in [0, 1] (clips for video models)."""
        size = self.config.data.image_size
        return (size, size, 3)

    def build_objective(self):
        """Creates every variable by one call, so fit() needs no data-driven build."""
        self(keras.ops.zeros((1, *self.example_shape())))
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, *self.extra_trackers.values()]

    def _track(self, loss, extras):
        self.loss_tracker.update_state(loss)
        for name, value in extras.items():
            self.extra_trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def decayed_kernels(self):
        """Convolution and dense kernels: the weights under L2 decay (BN and biases are not)."""
        return [v for v in self.trainable_variables if v.path.endswith("kernel")]

    @property
    def uses_xla(self) -> bool:
        """Whether steps are XLA-compiled: no data-dependent shapes, no resource-mode ops."""
        return bool(self.config.runtime.jit_compile)

    def step_seed(self, salt: int):
        """A stateless seed from (config seed, salt, step): identical on every replica and repeated
        by a resumed run, for random choices inside a step (noise rows, patches, permutations)."""
        return tf.stack([tf.cast(self.config.seed * 1000 + salt, tf.int64),
                         tf.cast(self.optimizer.iterations, tf.int64)])

    def l2_penalty(self):
        if not self.weight_decay:
            return 0.0
        squares = [tf.reduce_sum(tf.square(tf.cast(v, tf.float32))) for v in self.decayed_kernels()]
        return 0.5 * self.weight_decay * tf.add_n(squares)

    def train_step(self, batch):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            loss, extras, aux = self.compute_loss(batch, training=True)
            total = (loss + self.l2_penalty()) / replicas
            scaled = self.optimizer.scale_loss(total)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        # After the backward pass, which may still hold a read of the state (LA's bank): updating
        # state that a live tensor shares costs a full copy (memory_bank.keep_reads_zero_copy).
        with tf.control_dependencies([g for g in grads if g is not None]):
            self.update_state(batch, aux)
        return self._track(loss, extras)

    def test_step(self, batch):
        loss, extras, _ = self.compute_loss(batch, training=False)
        return self._track(loss, extras)


class InputAdapter(keras.Model):
    """A backbone behind the conversion its objective applies to RGB input (e.g. RGB -> L)."""

    def __init__(self, backbone, convert, **kwargs):
        super().__init__(name=f"{backbone.name}_rgb", **kwargs)
        self.backbone, self.convert = backbone, convert
        self.readout_names = backbone.readout_names

    def call(self, images, training=False):
        return self.backbone(self.convert(images), training=training)


def classification_loss(logits, labels):
    """Mean softmax cross-entropy and top-1 accuracy (supervised, rotation, relative position...)."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
    return loss, tf.reduce_mean(tf.cast(hits, tf.float32))


def batch_images(batch):
    """The image tensor of a batch: "image" [B,H,W,C], or the views [B,V,H,W,C] flattened view-major."""
    if "image" in batch:
        return batch["image"]
    views = batch["views"]
    shape = tf.shape(views)
    return tf.reshape(tf.transpose(views, [1, 0, 2, 3, 4]), tf.concat([[-1], shape[2:]], 0))
