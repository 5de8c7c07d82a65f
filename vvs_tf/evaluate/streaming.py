"""Streamed linear algebra over large activation arrays (often on-disk memmaps).

A 2,560-image x 28x28x128 layer is 1 GB of float32. Regressions here never copy or centre it: they
read it in column blocks (all rows, a slice of features) or row blocks, in float32, and accumulate
small results (Gram matrices, column sums, X^T B) in float64. Peak extra memory is one block
(`block_bytes`, 64 MB by default) plus the small results.
"""
import numpy as np

DEFAULT_BLOCK_BYTES = 64 * 2**20


def as_matrix(x):
    """View an activation array [N, ...] as [N, D] without copying."""
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"activations need a leading image axis, got shape {x.shape}")
    matrix = x.reshape(x.shape[0], -1)
    if x.size and not np.shares_memory(matrix, x):
        raise ValueError("activation array is not contiguous; cannot stream it without a copy")
    return matrix


def _rows_arg(rows, n):
    if rows is None:
        return slice(None), n
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    return rows, len(rows)


def column_blocks(matrix, rows=None, block_bytes=DEFAULT_BLOCK_BYTES):
    """Yield (column slice, float32 block [len(rows), b]) covering all columns; blocks are copies."""
    rows, n_rows = _rows_arg(rows, matrix.shape[0])
    width = max(1, int(block_bytes // (4 * max(n_rows, 1))))
    for start in range(0, matrix.shape[1], width):
        cols = slice(start, min(start + width, matrix.shape[1]))
        if isinstance(rows, np.ndarray):  # fancy indexing already copies
            block = matrix[rows, cols].astype(np.float32, copy=False)
        else:  # a view of the source: copy so callers may modify the block in place
            block = np.array(matrix[:, cols], dtype=np.float32)
        yield cols, block


def row_blocks(matrix, rows=None, block_bytes=DEFAULT_BLOCK_BYTES):
    """Yield (positions within `rows`, float32 block [r, D]) in order; treat blocks as read-only."""
    rows, n_rows = _rows_arg(rows, matrix.shape[0])
    height = max(1, int(block_bytes // (4 * max(matrix.shape[1], 1))))
    for start in range(0, n_rows, height):
        pos = np.arange(start, min(start + height, n_rows))
        block = matrix[rows[pos]] if isinstance(rows, np.ndarray) else matrix[pos]
        yield pos, np.asarray(block, dtype=np.float32)


def column_moments(matrix, rows=None, block_bytes=DEFAULT_BLOCK_BYTES):
    """Column mean and standard deviation (ddof=1) over the given rows, float64 [D] each."""
    mean = np.empty(matrix.shape[1])
    std = np.empty(matrix.shape[1])
    for cols, block in column_blocks(matrix, rows, block_bytes):
        block = block.astype(np.float64)
        mean[cols] = block.mean(axis=0)
        std[cols] = block.std(axis=0, ddof=1) if block.shape[0] > 1 else 0.0
    return mean, std


def gram(matrix, rows=None, mean=None, scale=None, block_bytes=DEFAULT_BLOCK_BYTES):
    """(X[rows] - mean) / scale times its transpose, float64 [n, n]; mean, scale are [D] or None.

    `mean=None` centres each block by its own column mean over `rows` (exact centring, no pass
    needed beforehand); pass zeros for an uncentred Gram.
    """
    _, n_rows = _rows_arg(rows, matrix.shape[0])
    out = np.zeros((n_rows, n_rows))
    for cols, block in column_blocks(matrix, rows, block_bytes):
        block -= (block.mean(axis=0, dtype=np.float64) if mean is None else mean[cols]).astype(
            np.float32)
        if scale is not None:
            block /= scale[cols].astype(np.float32)
        out += block @ block.T
    return out


def transpose_times(matrix, weights, rows=None, block_bytes=DEFAULT_BLOCK_BYTES):
    """X[rows]^T @ weights for weights [n, K]; returns float64 [D, K] plus the column sums [D]."""
    weights = np.asarray(weights, dtype=np.float32)
    out = np.empty((matrix.shape[1], weights.shape[1]))
    col_sums = np.empty(matrix.shape[1])
    for cols, block in column_blocks(matrix, rows, block_bytes):
        out[cols] = block.T @ weights
        col_sums[cols] = block.sum(axis=0, dtype=np.float64)
    return out, col_sums


def times(matrix, weights, rows=None, block_bytes=DEFAULT_BLOCK_BYTES):
    """X[rows] @ weights for weights [D, K]; float64 [n, K]."""
    weights = np.asarray(weights, dtype=np.float32)
    _, n_rows = _rows_arg(rows, matrix.shape[0])
    out = np.empty((n_rows, weights.shape[1]))
    for pos, block in row_blocks(matrix, rows, block_bytes):
        out[pos] = block @ weights
    return out


def mean_square(matrix, rows=None, block_bytes=DEFAULT_BLOCK_BYTES):
    """Mean of x^2 over the given rows and all features (a scalar scale for the mask read-out)."""
    total, count = 0.0, 0
    for _, block in row_blocks(matrix, rows, block_bytes):
        total += float(np.einsum("ij,ij->", block, block, dtype=np.float64))
        count += block.size
    return total / max(count, 1)
