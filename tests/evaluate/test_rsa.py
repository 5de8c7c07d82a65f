import vvs_tf  # noqa: F401
import numpy as np
import pytest
from scipy import stats as scipy_stats

from vvs_tf.evaluate import rsa


def test_rdm_is_one_minus_pearson_between_stimuli():
    x = np.random.default_rng(0).standard_normal((12, 3, 3, 5)).astype(np.float32) + 2.0
    ours = rsa.rdm(x, block_bytes=12 * 4 * 7)      # several column blocks
    assert np.allclose(ours, 1 - np.corrcoef(x.reshape(12, -1)), atol=1e-5)
    assert np.all(np.diag(ours) == 0)


def test_compare_rdms_is_spearman_of_upper_triangles():
    rng = np.random.default_rng(1)
    a, b = rsa.rdm(rng.standard_normal((10, 20))), rsa.rdm(rng.standard_normal((10, 20)))
    iu = np.triu_indices(10, k=1)
    assert rsa.compare_rdms(a, b) == pytest.approx(scipy_stats.spearmanr(a[iu], b[iu])[0])


def test_rsa_score_with_leave_one_subject_out_ceiling():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((15, 30))
    subjects = np.stack([rsa.rdm(truth + 0.8 * rng.standard_normal(truth.shape)) for _ in range(4)])
    model = rsa.rdm(truth + 0.5 * rng.standard_normal(truth.shape))
    result = rsa.rsa_score(model, subjects)
    per = [rsa.compare_rdms(model, s) for s in subjects]
    loso = np.mean([rsa.compare_rdms(subjects[i], np.delete(subjects, i, 0).mean(0))
                    for i in range(4)])
    assert result["score"] == pytest.approx(np.mean(per))
    assert result["ceiling"] == pytest.approx(loso)
    assert result["ceiling_upper"] > result["ceiling"]
    assert result["normalised_score"] == pytest.approx(np.mean(per) / loso)
    noise = rsa.rdm(rng.standard_normal((15, 30)))
    assert rsa.rsa_score(noise, subjects)["score"] < result["score"] - 0.3
    single = rsa.rsa_score(model, subjects[0])
    assert single["n_subjects"] == 1 and "ceiling" not in single
