"""Feature reduction for layers too large to use whole: spatial mean and streamed PCA.

Both read the activations in blocks (they may be on-disk memmaps), so a layer that does not fit in
memory is reduced without ever being loaded whole.
"""
import numpy as np

from vvs_tf.evaluate import streaming


def spatial_mean(x, block_bytes=streaming.DEFAULT_BLOCK_BYTES):
    """Average [N, H, W, C] activations over space -> [N, C] float32; [N, C] passes through."""
    if x.ndim == 2:
        return np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"spatial_mean needs [N, H, W, C] or [N, C] activations, got {x.shape}")
    out = np.empty((x.shape[0], x.shape[-1]), np.float32)
    for pos, block in streaming.row_blocks(streaming.as_matrix(x), block_bytes=block_bytes):
        out[pos] = block.reshape(len(pos), -1, x.shape[-1]).mean(axis=1)
    return out


class PCA:
    """Principal components of activations fitted from the Gram matrix of the fit rows.

    Equivalent to sklearn's PCA (components up to sign) but reads the activations in blocks: the
    fit needs an [n_fit, n_fit] Gram matrix and a [D, k] component matrix, never [N, D] copies.
    """

    def __init__(self, n_components=1000, block_bytes=streaming.DEFAULT_BLOCK_BYTES):
        self.n_components = int(n_components)
        self.block_bytes = block_bytes
        self.components = None
        self.mean = None
        self.explained_variance = None

    def fit(self, x, rows=None):
        matrix = streaming.as_matrix(x)
        n_fit = matrix.shape[0] if rows is None else len(rows)
        k = min(self.n_components, n_fit - 1, matrix.shape[1])
        if k < 1:
            raise ValueError(f"PCA needs at least 2 rows to fit, got {n_fit}")
        gram = streaming.gram(matrix, rows, block_bytes=self.block_bytes)
        lam, u = np.linalg.eigh(gram)
        lam, u = lam[::-1][:k], u[:, ::-1][:, :k]
        keep = lam > lam[0] * 1e-10
        lam, u = lam[keep], u[:, keep]
        xtb, col_sums = streaming.transpose_times(matrix, u / np.sqrt(lam), rows, self.block_bytes)
        self.mean = col_sums / n_fit
        self.components = (xtb - np.outer(self.mean, (u / np.sqrt(lam)).sum(axis=0))).astype(
            np.float32)
        self.explained_variance = lam / (n_fit - 1)
        return self

    def transform(self, x, rows=None):
        if self.components is None:
            raise ValueError("PCA.transform called before fit")
        matrix = streaming.as_matrix(x)
        projected = streaming.times(matrix, self.components, rows, self.block_bytes)
        return (projected - self.mean @ self.components).astype(np.float32)
