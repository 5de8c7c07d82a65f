"""Simulated objectome-style 2AFC behaviour: layout and the planted structure of difficulty."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest

from vvs_tf.data import world


@pytest.fixture(scope="module")
def trials():
    meta = world.sample_metadata(64 * 3 * 2, seed=8)
    return meta, world.simulate_behaviour(meta, seed=8, trials_per_image=40)


def test_trials_have_the_objectome_layout(trials):
    meta, data = trials
    assert data.dims == ("presentation",) and data.sizes["presentation"] == len(meta["stimulus_id"]) * 40
    for key in ("stimulus_id", "sample_obj", "dist_obj", "choice", "truth", "worker_id"):
        assert data[key].dims == ("presentation",)
    sample, dist, choice = (data[k].values for k in ("sample_obj", "dist_obj", "choice"))
    assert np.array_equal(data.values, choice) and np.array_equal(data["truth"].values, sample)
    assert np.all(sample != dist) and np.all((choice == sample) | (choice == dist))
    assert set(dist) <= set(world.OBJECTS)
    by_id = dict(zip(meta["stimulus_id"], meta["object_name"]))
    assert all(by_id[s] == o for s, o in zip(data["stimulus_id"].values[::97], sample[::97]))
    assert data.attrs["simulated"] == 1


def test_accuracy_matches_the_observer_model_and_its_planted_structure(trials):
    meta, data = trials
    correct = data["correct"].values.astype(bool)
    p = data["p_correct"].values
    assert np.array_equal(correct, data["choice"].values == data["sample_obj"].values)
    # observed accuracy agrees with the model's probabilities (binomial standard error)
    assert abs(correct.mean() - p.mean()) < 4 * np.sqrt(p.mean() * (1 - p.mean()) / len(p))
    # same-category distractors are harder; high variation is harder than none
    same = np.array([world.OBJECT_CATEGORY[a] == world.OBJECT_CATEGORY[b]
                     for a, b in zip(data["sample_obj"].values, data["dist_obj"].values)])
    assert correct[same].mean() < correct[~same].mean() - 0.05
    level = dict(zip(meta["stimulus_id"], meta["variation"]))
    trial_level = np.array([level[s] for s in data["stimulus_id"].values])
    assert correct[trial_level == 6].mean() < correct[trial_level == 0].mean() - 0.05


def test_behaviour_is_deterministic_and_validates_arguments(trials):
    meta, data = trials
    again = world.simulate_behaviour(meta, seed=8, trials_per_image=40)
    assert np.array_equal(again.values, data.values)
    with pytest.raises(ValueError, match="lapse_rate"):
        world.simulate_behaviour(meta, lapse_rate=1.5)
    with pytest.raises(ValueError, match="trials_per_image"):
        world.simulate_behaviour(meta, trials_per_image=0)
