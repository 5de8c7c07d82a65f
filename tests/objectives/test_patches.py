"""Patch grids against NumPy slicing, and configs whose grid does not fit failing before training."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.objectives.patches import check_grid, extract_grid


def _numbered_images(batch, size, channels=2):
    return np.arange(batch * size * size * channels, dtype=np.float32).reshape(batch, size, size, channels)


@pytest.mark.parametrize("size,grid,patch,gap", [(21, 3, 5, 2), (32, 7, 8, -4), (17, 2, 8, 1)])
def test_grid_equals_numpy_slices(size, grid, patch, gap):
    images = _numbered_images(3, size)
    got = extract_grid(tf.constant(images), grid, patch, gap).numpy()
    extent = grid * patch + (grid - 1) * gap
    offset = (size - extent) // 2
    assert got.shape == (3, grid, grid, patch, patch, 2)
    for i in range(grid):
        for j in range(grid):
            y, x = offset + i * (patch + gap), offset + j * (patch + gap)
            np.testing.assert_array_equal(got[:, i, j], images[:, y:y + patch, x:x + patch])


def test_cpc_grid_at_full_scale_tiles_the_image():
    """7 patches of 64 px every 32 px cover a 256-px image exactly (first at 0, last ending at 256)."""
    images = _numbered_images(1, 256, 1)
    got = extract_grid(tf.constant(images), 7, 64, -32).numpy()
    np.testing.assert_array_equal(got[0, 0, 0], images[0, :64, :64])
    np.testing.assert_array_equal(got[0, 6, 6], images[0, 192:, 192:])


def test_jittered_patches_are_slices_within_the_jitter():
    size, grid, patch, gap, jitter = 30, 3, 6, 3, 2
    images = _numbered_images(4, size, 1)
    got = extract_grid(tf.constant(images), grid, patch, gap, jitter, seed=tf.constant([3, 7])).numpy()
    offset = (size - (grid * patch + (grid - 1) * gap)) // 2
    shifts = set()
    for b in range(4):
        for i in range(grid):
            for j in range(grid):
                # Pixel values are unique, so the top-left value tells where the patch was cut.
                y, x = divmod(int(got[b, i, j, 0, 0, 0]) - b * size * size, size)
                dy, dx = y - offset - i * (patch + gap), x - offset - j * (patch + gap)
                assert abs(dy) <= jitter and abs(dx) <= jitter
                np.testing.assert_array_equal(got[b, i, j], images[b, y:y + patch, x:x + patch])
                shifts.add((dy, dx))
    assert len(shifts) > 5  # the shifts vary between cells and images


def test_grid_larger_than_image_fails_with_the_numbers():
    with pytest.raises(ValueError, match=r"spans 34 px, more than the 32-px image"):
        check_grid(32, 3, 10, 2, 0)
    with pytest.raises(ValueError, match="spans"):
        extract_grid(tf.zeros([1, 20, 20, 3]), 3, 7, 0)
    with pytest.raises(ValueError, match="seed"):
        extract_grid(tf.zeros([1, 20, 20, 3]), 2, 5, 0, jitter=1)
    with pytest.raises(ValueError, match="gap"):
        check_grid(64, 3, 8, -8)
