"""First-layer filters (REFERENCE.md, analyses): the stem's kernels as one picture, and how
colour-opponent each is (Gabor-like achromatic filters and colour-opponent centre-surround units
are what trained networks show)."""
import vvs_tf  # noqa: F401

import numpy as np

from vvs_tf.analysis.grids import image_grid


def _rgb_kernels(kernel) -> np.ndarray:
    """[kh, kw, 3, C] (a 3-D stem's [kt, kh, kw, 3, C]: its middle time slice) -> [C, kh, kw, 3]."""
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim == 5:
        kernel = kernel[kernel.shape[0] // 2]
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"expected RGB first-layer kernels [kh, kw, 3, C], got {kernel.shape}")
    return np.transpose(kernel, (3, 0, 1, 2))


def filter_grid(kernel, columns: int = 8, pad: int = 1) -> np.ndarray:
    """An RGB image of the filters, `columns` to a row, each scaled by its own largest absolute
    weight so that 0.5 is zero: [rows * (kh + pad) - pad, columns * (kw + pad) - pad, 3]."""
    filters = _rgb_kernels(kernel)
    peak = np.abs(filters).reshape(len(filters), -1).max(axis=1)
    scaled = 0.5 + 0.5 * filters / np.where(peak > 0, peak, 1.0)[:, None, None, None]
    return image_grid(scaled, columns, pad)


def colour_opponency(kernel) -> np.ndarray:
    """Per filter [C]: the mean Pearson correlation between the spatial profiles of its R, G and B
    weights. Near 1: achromatic (the same pattern in every channel); negative: colour-opponent."""
    filters = _rgb_kernels(kernel)
    profiles = filters.reshape(len(filters), -1, 3)
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(profiles, axis=1)  # [C, 3]
    pairs = [(0, 1), (0, 2), (1, 2)]
    correlations = [np.sum(profiles[:, :, a] * profiles[:, :, b], axis=1)
                    / np.maximum(norms[:, a] * norms[:, b], 1e-12) for a, b in pairs]
    return np.mean(correlations, axis=0)
