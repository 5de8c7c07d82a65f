"""A grid of square patches cut from every image of a batch, on the device (relative position, CPC).

Cell (i, j) of a ``grid`` x ``grid`` layout starts at ``offset + (i, j) * (patch_size + gap)``
pixels, with the layout centred in the image; ``gap`` < 0 makes neighbouring patches overlap (CPC's
64-px patches every 32 px), ``gap`` > 0 leaves space between them (relative position, so that
low-level continuity across patch borders cannot solve the task). Each patch may move by up to
``jitter`` pixels in both directions (a stateless random shift per image and cell). The patches are
gathered with integer indices, so they equal plain NumPy slices of the images. The checks here let a
patch method's config fail before training when its grid cannot fit the image.
"""
import vvs_tf  # noqa: F401

import tensorflow as tf


def grid_extent(grid: int, patch_size: int, gap: int = 0) -> int:
    """Side in pixels of the patch layout without jitter."""
    return grid * patch_size + (grid - 1) * gap


def check_grid(image_size: int, grid: int, patch_size: int, gap: int = 0, jitter: int = 0) -> None:
    """Raises ValueError (with the numbers) unless the jittered grid fits inside the image."""
    if grid < 1 or patch_size < 1 or jitter < 0:
        raise ValueError(f"patch grid needs grid >= 1, patch_size >= 1, jitter >= 0; got grid={grid}, "
                         f"patch_size={patch_size}, jitter={jitter}")
    if patch_size + gap < 1:
        raise ValueError(f"patch grid: gap={gap} must be > -patch_size={-patch_size} (patches would not "
                         "advance)")
    needed = grid_extent(grid, patch_size, gap) + 2 * jitter
    if needed > image_size:
        raise ValueError(
            f"patch grid of {grid}x{grid} patches of {patch_size} px with gap {gap} and jitter {jitter} "
            f"spans {needed} px, more than the {image_size}-px image (lower patch_size/gap/jitter or "
            "raise data.image_size)")


def require_any_input_size(config, method: str, patch_size: int) -> None:
    """Patch methods feed patches and whole images to one backbone, so its input size must be free."""
    if config.model.get("input_size") is not None:
        raise ValueError(
            f"{method} feeds {patch_size}-px patches (training) and {config.data.image_size}-px images "
            f"(embedding) to the backbone: set model.input_size=None (got {config.model.input_size})")


def grid_origins(image_size: int, grid: int, patch_size: int, gap: int = 0) -> tf.Tensor:
    """Top-left pixel of each row (or column) of the centred layout, int32 [grid]."""
    offset = (image_size - grid_extent(grid, patch_size, gap)) // 2
    return offset + tf.range(grid, dtype=tf.int32) * (patch_size + gap)


def extract_grid(images, grid: int, patch_size: int, gap: int = 0, jitter: int = 0, seed=None):
    """[B, S, S, C] -> patches [B, grid, grid, patch_size, patch_size, C].

    jitter > 0 needs ``seed`` (a stateless seed, int [2]): each (image, cell) shifts by a uniform
    integer in [-jitter, jitter] along each axis.
    """
    images = tf.convert_to_tensor(images)
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None or height != width:
        raise ValueError(f"extract_grid needs square images of static size, got shape {images.shape}")
    check_grid(height, grid, patch_size, gap, jitter)
    batch = tf.shape(images)[0]
    origins = grid_origins(height, grid, patch_size, gap)
    rows = tf.broadcast_to(origins[None, :, None], tf.stack([batch, grid, grid]))
    cols = tf.broadcast_to(origins[None, None, :], tf.stack([batch, grid, grid]))
    if jitter:
        if seed is None:
            raise ValueError("extract_grid: jitter > 0 needs a stateless seed")
        shift = tf.random.stateless_uniform(
            tf.stack([2, batch, grid, grid]), seed, -jitter, jitter + 1, dtype=tf.int32)
        rows, cols = rows + shift[0], cols + shift[1]
    steps = tf.range(patch_size, dtype=tf.int32)
    cells = grid * grid
    row_index = tf.reshape(rows, [batch, cells, 1]) + steps  # [B, cells, P]
    col_index = tf.reshape(cols, [batch, cells, 1]) + steps
    # Rows first: [B, cells * P, S, C] -> [B, cells, P, S, C]; then columns within each cell.
    picked_rows = tf.gather(images, tf.reshape(row_index, [batch, cells * patch_size]), axis=1,
                            batch_dims=1)
    picked_rows = tf.reshape(picked_rows, tf.concat(
        [[batch, cells, patch_size], tf.shape(images)[2:]], 0))
    patches = tf.gather(picked_rows, col_index, axis=3, batch_dims=2)  # [B, cells, P, P, C]
    out = tf.reshape(patches, tf.concat(
        [[batch, grid, grid, patch_size, patch_size], tf.shape(images)[3:]], 0))
    out.set_shape([images.shape[0], grid, grid, patch_size, patch_size, images.shape[3]])
    return out
