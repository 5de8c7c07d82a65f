"""One picture of many small images (filters, optimal stimuli, neighbour rows)."""
import numpy as np


def image_grid(images, columns: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Images [N, H, W, C] laid out `columns` to a row, `pad` pixels of `fill` between them:
    [rows * (H + pad) - pad, columns * (W + pad) - pad, C]."""
    images = np.asarray(images)
    count, h, w, c = images.shape
    rows = -(-count // columns)
    grid = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, c), fill, images.dtype)
    for k, image in enumerate(images):
        r, col = divmod(k, columns)
        grid[r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = image
    return grid
