import vvs_tf  # noqa: F401
import numpy as np
from sklearn.decomposition import PCA as SkPCA

from vvs_tf.evaluate.reduction import PCA, spatial_mean


def test_streamed_pca_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((60, 4, 4, 8)) @ rng.standard_normal((8, 8))).astype(np.float32)
    ours = PCA(n_components=6, block_bytes=60 * 4 * 10).fit(x, rows=np.arange(50))
    ref = SkPCA(n_components=6).fit(x.reshape(60, -1)[:50])
    z, z_ref = ours.transform(x), ref.transform(x.reshape(60, -1))
    signs = np.sign(np.sum(z * z_ref, axis=0))
    assert np.allclose(z * signs, z_ref, atol=1e-3)
    assert np.allclose(ours.explained_variance, ref.explained_variance_, rtol=1e-4)


def test_spatial_mean():
    x = np.random.default_rng(1).standard_normal((5, 3, 2, 4)).astype(np.float32)
    assert np.allclose(spatial_mean(x), x.mean(axis=(1, 2)), atol=1e-6)
