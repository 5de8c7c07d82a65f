"""Argument checks shared by the world's functions and its CLI: fail at once, naming the value."""
from __future__ import annotations

import numbers
import os

from vvs_tf.data.world.shapes import CATEGORIES

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 256
VARIATION_LEVELS = (0, 3, 6)


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def image_size(value) -> int:
    if not _is_integer(value) or not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be an integer in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}], got {value!r}")
    return int(value)


def count(name: str, value, minimum: int = 1) -> int:
    if not _is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def categories(values) -> tuple:
    """The requested categories in CATEGORIES order; None means all."""
    if values is None:
        return CATEGORIES
    values = tuple(values)
    unknown = [v for v in values if v not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
    if not values:
        raise ValueError("categories must name at least one category")
    return tuple(c for c in CATEGORIES if c in values)


def variations(values) -> tuple:
    values = tuple(int(v) for v in values)
    unknown = [v for v in values if v not in VARIATION_LEVELS]
    if unknown or not values or len(set(values)) != len(values):
        raise ValueError(f"variations must be distinct levels from {VARIATION_LEVELS}, got {values!r}")
    return values


def writable_parent(path: str) -> str:
    """The absolute path, once its parent directory is known to exist and be writable."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"output directory's parent does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory's parent is not writable: {parent}")
    return path
