import vvs_tf  # noqa: F401
import numpy as np
import pytest

from vvs_tf.evaluate import selection


def test_holdout_is_a_stratified_reproducible_partition():
    rows = np.arange(100, 340)                      # 8 objects x 30 rows, rows need not start at 0
    labels = np.repeat(np.arange(8), 30)
    choice, report = selection.holdout(rows, 0.5, labels, seed=4)
    assert np.array_equal(np.sort(np.concatenate([choice, report])), rows)
    assert np.all(np.bincount(labels[choice - 100], minlength=8) == 15)
    again = selection.holdout(rows, 0.5, labels, seed=4)
    assert np.array_equal(choice, again[0]) and np.array_equal(report, again[1])
    assert not np.array_equal(choice, selection.holdout(rows, 0.5, labels, seed=5)[0])
    # a generator continues the caller's stream instead of restarting it
    rng = np.random.default_rng(4)
    assert np.array_equal(selection.holdout(rows, 0.5, labels, rng)[0], choice)
    assert not np.array_equal(selection.holdout(rows, 0.5, labels, rng)[0], choice)
    # an uneven group is rounded at random, to floor or ceiling of fraction * size
    counts = [len(selection.holdout(np.arange(7), 0.5, seed=s)[0]) for s in range(40)]
    assert set(counts) == {3, 4}


def test_holdout_and_best_layer_reject_bad_input():
    with pytest.raises(ValueError, match="fraction must lie in"):
        selection.holdout(np.arange(10), 1.0)
    with pytest.raises(ValueError, match="3 entries for 10 rows"):
        selection.holdout(np.arange(10), 0.5, labels=[0, 1, 2])
    with pytest.raises(ValueError, match=r"of 1 rows left [01] choice and [01] report"):
        selection.holdout(np.arange(1), 0.3)
    assert selection.best_layer({"a": 0.2, "b": np.nan, "c": 0.3, "d": None}) == "c"
    with pytest.raises(ValueError, match="no layer has a finite"):
        selection.best_layer({"a": np.nan})
