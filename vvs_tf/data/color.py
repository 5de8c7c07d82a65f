"""sRGB <-> CIE Lab in TensorFlow (D65 white, 2 degree observer), on-device for CMC and
colorization.

The conventions are those of skimage.color.rgb2lab/lab2rgb so that numbers can be checked against
it: sRGB companding, the sRGB -> XYZ matrix for D65, white point (0.95047, 1, 1.08883),
L in [0, 100] and a, b roughly in [-128, 127].
"""
import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

# Linear sRGB -> XYZ (D65); rows are X, Y, Z.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]], np.float64)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = np.array([0.95047, 1.0, 1.08883], np.float64)

_EPSILON = 0.008856  # (6/29)^3: where the Lab curve switches from cube root to linear
_KAPPA = 7.787  # slope of the linear part, 1 / (3 (6/29)^2)
_TINY = 1e-6  # keeps pow() and its gradient away from 0 in the branch that tf.where discards


def _matmul_last(x, matrix):
    """x[..., 3] @ matrix.T, i.e. the 3x3 matrix applied to every colour."""
    return tf.tensordot(x, tf.constant(matrix.T, x.dtype), axes=[[-1], [0]])


def _srgb_to_linear(rgb):
    curved = tf.pow((tf.maximum(rgb, 0.04045) + 0.055) / 1.055, 2.4)
    return tf.where(rgb > 0.04045, curved, rgb / 12.92)


def _linear_to_srgb(linear):
    curved = 1.055 * tf.pow(tf.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055
    return tf.where(linear > 0.0031308, curved, 12.92 * linear)


def rgb_to_lab(images):
    """[..., 3] sRGB in [0, 1] -> [..., 3] Lab with L in [0, 100] (float32)."""
    rgb = tf.convert_to_tensor(images, tf.float32)
    if rgb.shape.rank is not None and rgb.shape[-1] != 3:
        raise ValueError(f"rgb_to_lab needs 3 channels in the last axis, got shape {rgb.shape}")
    xyz = _matmul_last(_srgb_to_linear(rgb), XYZ_FROM_RGB) / tf.constant(D65_WHITE, tf.float32)
    f = tf.where(xyz > _EPSILON, tf.pow(tf.maximum(xyz, _TINY), 1.0 / 3.0),
                 _KAPPA * xyz + 16.0 / 116.0)
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """[..., 3] Lab -> [..., 3] sRGB clipped to [0, 1] (float32); the inverse of rgb_to_lab."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    if lab.shape.rank is not None and lab.shape[-1] != 3:
        raise ValueError(f"lab_to_rgb needs 3 channels (L, a, b) in the last axis, got {lab.shape}")
    lightness, a, b = tf.unstack(lab, axis=-1)
    fy = (lightness + 16.0) / 116.0
    f = tf.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
    cube = tf.pow(tf.maximum(f, _TINY), 3.0)
    xyz = tf.where(cube > _EPSILON, cube, (f - 16.0 / 116.0) / _KAPPA)
    xyz = tf.maximum(xyz, 0.0) * tf.constant(D65_WHITE, tf.float32)
    return tf.clip_by_value(_linear_to_srgb(_matmul_last(xyz, RGB_FROM_XYZ)), 0.0, 1.0)


def split_lab(images):
    """RGB [..., 3] -> (L [..., 1] in [0, 100], ab [..., 2]): the two views of CMC/colorization."""
    lab = rgb_to_lab(images)
    return lab[..., :1], lab[..., 1:]
