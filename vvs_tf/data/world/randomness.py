"""Per-stimulus random numbers keyed by stimulus id, so an image never depends on its batch.

Rendering a subset of a stimulus set must give the same pixels as rendering the whole set, and a
stimulus must look the same in every split. Hashing the id (FNV-1a over its code points, then
SplitMix64 per output) gives such numbers without a loop over stimuli.
"""
from __future__ import annotations

import numpy as np

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def keyed_uniforms(keys, seed: int, count: int) -> np.ndarray:
    """Uniform numbers in [0, 1), float64 [len(keys), count], a pure function of (key, seed)."""
    codes = np.asarray(keys, dtype=str)
    codes = codes.reshape(-1).view(np.uint32).reshape(codes.size, -1).astype(np.uint64)
    h = np.full(codes.shape[0], _FNV_OFFSET ^ _splitmix64(np.array([seed], np.uint64))[0], np.uint64)
    for column in codes.T:  # loop over character positions, vectorised over keys
        h = np.where(column != 0, (h ^ column) * _FNV_PRIME, h)
    stream = h[:, None] + np.arange(1, count + 1, dtype=np.uint64)[None, :] * _GOLDEN
    return (_splitmix64(stream) >> np.uint64(11)).astype(np.float64) * 2.0**-53
