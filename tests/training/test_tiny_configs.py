"""Every configs/tiny/*.py builds through vvs-train's Trainer and takes two finite steps."""
import glob
import importlib
import os

import vvs_tf  # noqa: F401

import numpy as np
import pytest

from vvs_tf.data import pipeline
from vvs_tf.train import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = sorted(os.path.basename(p)[:-3] for p in glob.glob(f"{REPO}/configs/tiny/*.py")
                 if not p.endswith("__init__.py"))


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_tiny_config_trains_two_finite_steps_through_the_trainer(name, tmp_path):
    config = importlib.import_module(f"configs.tiny.{name}").get_config()
    config.data.num_images = 640
    config.model.width = 8
    config.train.epochs = min(config.train.epochs, 1)
    config.train.steps_per_epoch = 2
    trainer = Trainer(config, str(tmp_path))
    assert trainer.objective.view in pipeline.VIEWS
    summary = trainer.run()
    if trainer.objective.trains:
        assert int(trainer.objective.optimizer.iterations.numpy()) == 2
        assert np.isfinite(summary["loss"])
    assert 0.0 <= summary["knn_top1"] <= 1.0
