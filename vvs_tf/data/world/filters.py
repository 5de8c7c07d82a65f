"""Gabor filters in image coordinates, shared by the simulated V1 and V4 areas.

Sizes and frequencies are in image half-widths (the image spans [-1, 1]), so a simulated neuron
sees the same part of an image at any resolution. Integrals over the image are approximated by
sums over pixels times the pixel area, which keeps responses resolution-independent too.
"""
from __future__ import annotations

import numpy as np

from vvs_tf.data.world.renderer import pixel_centres

SPECTRUM_SIZE = 32  # the V4 energy maps live on this grid (frequencies up to 16 cycles/image)


def greyscale(images: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Luminance in [0, 1], float32 [N, S, S], of uint8 or [0, 1]-float RGB images.

    Converted in chunks so that a large uint8 stimulus set never exists as float32 RGB at once.
    """
    x = np.asarray(images)
    weights = np.array([0.299, 0.587, 0.114], np.float32) * np.float32(1.0 / 255.0 if x.dtype == np.uint8 else 1.0)
    out = np.empty(x.shape[:3], np.float32)
    for start in range(0, len(x), chunk):
        out[start : start + chunk] = x[start : start + chunk].astype(np.float32) @ weights
    return out


def gabor_pairs(image_size, centre_y, centre_z, sigma, frequency, orientation):
    """Even and odd (cosine/sine phase) Gabor filters, float32 [2, K, S, S], zero-mean, times pixel area.

    frequency in cycles per half-width; orientation in radians (0 = vertical stripes).
    """
    ys, zs = pixel_centres(image_size)
    centre_y, centre_z, sigma, frequency, orientation = (
        np.asarray(a, np.float32) for a in (centre_y, centre_z, sigma, frequency, orientation))
    dy = ys[None, None, :] - centre_y[:, None, None]
    dz = zs[None, :, None] - centre_z[:, None, None]
    envelope = np.exp(-(dy**2 + dz**2) / (2 * sigma[:, None, None] ** 2))
    along = dy * np.cos(orientation)[:, None, None] + dz * np.sin(orientation)[:, None, None]
    phase = 2 * np.pi * frequency[:, None, None] * along
    even, odd = envelope * np.cos(phase), envelope * np.sin(phase)
    even -= envelope * (even.sum((1, 2)) / envelope.sum((1, 2)))[:, None, None]  # remove the DC response
    area = np.float32((2.0 / image_size) ** 2)
    return np.stack([even * area, odd * area])


def energy_maps(grey: np.ndarray, frequencies, orientations, bandwidth: float = 0.45) -> np.ndarray:
    """Gabor energy |complex response| on a SPECTRUM_SIZE^2 grid, float32 [N, C, 32, 32].

    Computed in the frequency domain: the image spectrum's low-frequency block is multiplied by
    one-sided Gaussian pass-bands (so the inverse transform is the analytic, quadrature-pair
    response) and inverted on the small grid, which is exact because the pass-bands lie below
    its Nyquist frequency. Channels are frequencies x orientations, frequency-major.
    """
    size = grey.shape[1]
    m = SPECTRUM_SIZE
    # The low-frequency block of the full spectrum, from the half spectrum of the real image:
    # F(r, -k) = conj(F(-r, k)) gives the negative column frequencies.
    half = np.fft.rfft2(grey - grey.mean((1, 2), keepdims=True))
    rows = np.r_[0 : m // 2, size - m // 2 : size]
    positive = half[:, rows, : m // 2]
    negative = np.conj(half[:, (-rows) % size, m // 2 : 0 : -1])
    block = np.concatenate([positive, negative], 2) * np.float32(m * m / (size * size))
    k = np.fft.fftfreq(m, 1.0 / m) / 2.0  # cycles per half-width
    kz, ky = np.meshgrid(-k, k, indexing="ij")  # rows run top to bottom (z decreasing)
    f = np.repeat(np.asarray(frequencies, np.float64), len(orientations))
    theta = np.tile(np.asarray(orientations, np.float64), len(frequencies))
    centre_y, centre_z = f * np.cos(theta), f * np.sin(theta)
    passband = np.exp(-((ky[None] - centre_y[:, None, None]) ** 2 + (kz[None] - centre_z[:, None, None]) ** 2)
                      / (2 * (bandwidth * f[:, None, None]) ** 2)).astype(np.float32)
    return np.abs(np.fft.ifft2(block[:, None] * passband[None])).astype(np.float32)
