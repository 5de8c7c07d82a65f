"""The few-label control configs: supervised training restricted to a seeded 3% of the examples."""
import importlib

import vvs_tf  # noqa: F401

import numpy as np
import pytest

from tiny_steps import build
from vvs_tf.objectives.supervised import labelled_subset


@pytest.mark.parametrize("family", ["tiny", "imagenet"])
def test_few_label_configs_train_supervised_on_3_percent(family):
    config = importlib.import_module(f"configs.{family}.few_label").get_config()
    assert config.method == "supervised" and config.objective.label_fraction == 0.03


def test_tiny_few_label_objective_keeps_the_seeded_3_percent():
    config = importlib.import_module("configs.tiny.few_label").get_config()
    config.model.width = 4
    objective = build(config, num_examples=1843)
    assert len(objective.training_subset) == 55  # round(0.03 * 1843)
    np.testing.assert_array_equal(objective.training_subset, labelled_subset(1843, 0.03, config.seed))
