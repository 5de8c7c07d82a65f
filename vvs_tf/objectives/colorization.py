"""Colorization (Zhang, Isola & Efros, ECCV 2016): predict the colours (ab) of an image from its
lightness (L), as a 313-way classification over quantised ab bins at 1/8 resolution.

Input: L of CIE Lab (D65), scaled to [0, 1] as L/100; the 1-channel backbone normalises with mean
0.5 and std 0.25, i.e. it sees (L - 50) / 25. Output: two up-projection blocks on the last block
(stride 32 -> 8) and a 313-way linear map per position. Targets: the image's ab averaged over
8x8 blocks, soft-encoded onto the 5 nearest bins with Gaussian weights (sigma 5), as the paper.
Zhang et al.'s class rebalancing needs the training set's ab histogram and is not applied.

The 313 bins. Zhang et al. keep the points of a 10-unit ab grid that are "in gamut" (their
pts_in_hull.npy). Here they are recomputed from the sRGB gamut: project every sRGB colour (the RGB
cube's surface suffices, sampled 17x17 per face) to ab with ``vvs_tf.data.color.rgb_to_lab``, take
the convex hull of that projection, and keep the grid points whose 20x20 square around them meets
the hull (Chebyshev distance <= 10). This reproduces their 313 points exactly (the test compares
the published set); the nearest excluded point lies 0.09 ab units outside, far above float error.
"""
import functools

import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

from vvs_tf.data.color import split_lab
from vvs_tf.models.decoders import up_projection_decoder
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.registry import register

GRID_STEP = 10.0  # ab bin spacing
OUTPUT_STRIDE = 8  # predictions at 1/8 of the input resolution


def rgb_cube_surface(samples: int = 17) -> np.ndarray:
    """Points on the six faces of the RGB unit cube, [6 * samples^2, 3]."""
    u, v = np.meshgrid(np.linspace(0.0, 1.0, samples), np.linspace(0.0, 1.0, samples), indexing="ij")
    u, v = u.ravel(), v.ravel()
    faces = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for value in (0.0, 1.0):
            face = np.empty((u.size, 3))
            face[:, axis], face[:, others[0]], face[:, others[1]] = value, u, v
            faces.append(face)
    return np.concatenate(faces)


@functools.lru_cache(maxsize=None)
def ab_bins(step: float = GRID_STEP, margin: float = GRID_STEP) -> np.ndarray:
    """The in-gamut ab bin centres [Q, 2] (Q = 313 for the defaults), sorted by (a, b)."""
    from scipy.spatial import ConvexHull

    ab = split_lab(tf.constant(rgb_cube_surface(), tf.float32))[1].numpy().astype(np.float64)
    corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], np.float64) * margin
    outline = ab[ConvexHull(ab).vertices]
    dilated = ConvexHull((outline[:, None, :] + corners[None]).reshape(-1, 2))
    low = np.floor(dilated.points.min(0) / step) * step
    high = np.ceil(dilated.points.max(0) / step) * step
    a, b = np.meshgrid(np.arange(low[0], high[0] + step, step), np.arange(low[1], high[1] + step, step),
                       indexing="ij")
    grid = np.stack([a.ravel(), b.ravel()], axis=-1)
    inside = np.all(grid @ dilated.equations[:, :2].T + dilated.equations[:, 2] <= 1e-6, axis=1)
    return grid[inside].astype(np.float32)


def soft_encode(ab, bins, neighbours: int = 5, sigma: float = 5.0):
    """ab [..., 2] -> (indices [..., n] of the n nearest bins, Gaussian weights [..., n] summing to 1)."""
    ab = tf.cast(ab, tf.float32)
    bins = tf.constant(bins, tf.float32) if isinstance(bins, np.ndarray) else tf.cast(bins, tf.float32)
    squared = tf.reduce_sum(tf.square(ab[..., None, :] - bins), axis=-1)  # [..., Q]
    negative, indices = tf.math.top_k(-squared, k=neighbours)
    weights = tf.nn.softmax(negative / (2.0 * sigma**2), axis=-1)  # exp(-d^2 / 2 sigma^2), normalised
    return indices, weights


def colorization_loss(logits, ab, bins, neighbours: int = 5, sigma: float = 5.0):
    """Mean over positions of the cross-entropy -sum_q Z_q log softmax(logits)_q, Z = soft_encode(ab)."""
    indices, weights = soft_encode(ab, bins, neighbours, sigma)
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    picked = tf.gather(log_probs, indices, batch_dims=len(logits.shape) - 1)
    return -tf.reduce_mean(tf.reduce_sum(weights * picked, axis=-1))


def lightness(images):
    """RGB [B, H, W, 3] in [0, 1] -> L / 100 [B, H, W, 1] in [0, 1]."""
    return split_lab(images)[0] / 100.0


def target_ab(images, stride: int = OUTPUT_STRIDE):
    """RGB [B, S, S, 3] -> ab averaged over stride x stride blocks [B, S // stride, S // stride, 2]."""
    ab = split_lab(images)[1]
    return tf.nn.avg_pool2d(ab, stride, stride, "VALID")




@register("colorization")
class Colorization(Objective):
    """L -> 1-channel backbone -> 2 up-projections -> 313 logits per position at 1/8 resolution."""

    view = "crop_flip"
    backbone_channels = 1
    defaults = dict(neighbours=5, sigma=5.0)

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.neighbours, self.sigma = int(cfg.neighbours), float(cfg.sigma)
        size = int(config.data.image_size)
        if size < OUTPUT_STRIDE:
            raise ValueError(f"colorization predicts at 1/{OUTPUT_STRIDE} resolution: data.image_size={size} "
                             f"is smaller than {OUTPUT_STRIDE}")
        self.bins = ab_bins()
        channels = feature_channels(backbone)
        self.head = up_projection_decoder(
            channels, filters=(channels // 2, channels // 4), out_channels=len(self.bins), kernel_size=3,
            output_size=size // OUTPUT_STRIDE, name="color_head")

    def backbone_input(self, images):
        return lightness(images)

    def embed(self, images, training=False):
        features = self.backbone(lightness(images), training=training)[self.backbone.readout_names[-1]]
        return tf.math.l2_normalize(tf.reduce_mean(tf.cast(features, tf.float32), [1, 2]), -1)

    def compute_loss(self, batch, training=True):
        images = batch["image"]
        features = self.backbone(lightness(images), training=training)[self.backbone.readout_names[-1]]
        logits = self.head(features, training=training)
        loss = colorization_loss(logits, target_ab(images), self.bins, self.neighbours, self.sigma)
        return loss, {}, None
