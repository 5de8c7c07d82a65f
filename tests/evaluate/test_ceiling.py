import vvs_tf  # noqa: F401
import numpy as np
import pytest

from vvs_tf.evaluate.ceiling import expected_consistency, split_half_consistency


def test_split_half_ceiling_matches_closed_form():
    rng = np.random.default_rng(0)
    n_reps, n_stimuli = 8, 1500
    signal_sd = np.array([1.0, 1.0, 0.5, 2.0])
    noise_sd = np.array([1.0, 3.0, 1.5, 1.0])
    signal = rng.standard_normal((n_stimuli, 4)) * signal_sd
    reps = signal[None] + rng.standard_normal((n_reps, n_stimuli, 4)) * noise_sd
    ceiling = split_half_consistency(reps, n_splits=40, seed=1)
    expected = expected_consistency(signal_sd ** 2, noise_sd ** 2, n_reps)
    assert np.allclose(ceiling, expected, atol=0.03), (ceiling, expected)


def test_missing_repetitions_are_masked_per_neuron():
    rng = np.random.default_rng(1)
    signal = rng.standard_normal((800, 3))
    reps = signal[None] + rng.standard_normal((6, 800, 3))
    clean = split_half_consistency(reps, n_splits=30, seed=2)
    holey = reps.copy()
    holey[0, :100, 1] = np.nan        # neuron 1 missed a repetition on 100 stimuli
    holey[:, 700:, 2] = np.nan        # neuron 2 was not recorded on 100 stimuli
    result = split_half_consistency(holey, n_splits=30, seed=2)
    assert np.all(np.isfinite(result))
    assert result[0] == clean[0]      # other neurons untouched
    assert result[1] == pytest.approx(expected_consistency(1.0, 1.0, 6), abs=0.05)
    assert result[2] == pytest.approx(expected_consistency(1.0, 1.0, 6), abs=0.05)


def test_needs_two_repetitions():
    with pytest.raises(ValueError, match="at least 2 repetitions"):
        split_half_consistency(np.zeros((1, 10, 2)))
