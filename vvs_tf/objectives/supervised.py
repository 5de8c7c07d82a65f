"""Supervised categorization (the positive control), the few-label control (the same on a seeded
fraction of labelled examples) and the untrained network (the negative control)."""
import vvs_tf  # noqa: F401

import numpy as np

from vvs_tf.models.heads import classifier_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives.base import Objective, classification_loss
from vvs_tf.objectives.registry import register


def labelled_subset(num_examples: int, fraction: float, seed: int) -> np.ndarray:
    """Indices of the labelled examples: a seeded random round(fraction * N) of 0..N-1, sorted.

    Semi-supervised methods and the few-label control share it, so they see the same labels.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    count = max(1, int(round(fraction * num_examples)))
    return np.sort(np.random.default_rng(seed).permutation(num_examples)[:count])


@register("supervised")
class Supervised(Objective):
    """Softmax cross-entropy of a linear classifier on the pooled last block.

    Augmentation is the standard supervised recipe, random resized crop and flip, without the
    instance methods' colour jitter and grayscale (with those, the tiny embedded-world network
    stays at chance on its own training images: measured for SGD 0.03/0.1 and Adam 1e-3).
    """

    view = "crop_flip"
    uses_labels = True
    defaults = dict(label_fraction=1.0)
    scalar_names = ("accuracy",)

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        self.classifier = classifier_head(feature_channels(backbone), data_info.num_classes)
        fraction = float(config.objective.label_fraction)
        # The few-label control: the trainer keeps only these examples in the input pipeline.
        self.training_subset = (None if fraction >= 1.0 else
                                labelled_subset(data_info.num_examples, fraction, config.seed))

    def compute_loss(self, batch, training=True):
        features = self.backbone(batch["image"], training=training)[self.backbone.readout_names[-1]]
        loss, accuracy = classification_loss(self.classifier(features, training=training),
                                             batch["label"])
        return loss, {"accuracy": accuracy}, None


@register("untrained")
class Untrained(Objective):
    """Seeded random initialisation and no steps: the trainer saves it and stops."""

    trains = False
