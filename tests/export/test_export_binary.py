"""vvs-export writes the untrained control reproducibly from its seed, and a training workdir's
restored backbone (not a fresh one)."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import app, flags

from export import export as export_binary
from vvs_tf.exporting import read_readouts, weights_fingerprint
from vvs_tf.models.resnet import build_resnet


def _run(argv):
    flag_values = flags.FlagValues()
    export_binary.define_flags(flag_values)
    flag_values(["vvs-export", *argv])
    return export_binary.export_from_flags(flag_values)


@pytest.mark.slow
def test_untrained_export_is_the_seeded_network(tmp_path, rng):
    path = _run(["--untrained", "--depth=18", "--width=8", "--input_size=32", "--seed=3",
                 f"--output={tmp_path}/untrained"])
    assert path == f"{tmp_path}/untrained/1"
    keras.utils.set_random_seed(3)
    same_seed = build_resnet(18, width=8, input_size=32)
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    served = tf.saved_model.load(path).signatures["layer_layer4_1"](images=tf.constant(images))
    served = served["layer4_1"].numpy()
    np.testing.assert_allclose(served, same_seed(images)["layer4.1"].numpy(), atol=1e-5)
    info = read_readouts(path)
    assert info["config"] == {"method": "untrained", "model": {"depth": 18, "width": 8},
                              "input_size": 32, "seed": 3}


def test_untrained_backbones_differ_between_seeds():
    """--seed matters: the negative control's three seeds are three different networks."""
    first, _ = export_binary.untrained_backbone(18, 8, 32, seed=3)
    second, _ = export_binary.untrained_backbone(18, 8, 32, seed=4)
    kernel = "conv1.conv/kernel"
    weights = [{w.path: w.numpy() for w in net.weights}[kernel] for net in (first, second)]
    assert np.abs(weights[0] - weights[1]).max() > 1e-3
    assert weights_fingerprint(first) != weights_fingerprint(second)
    again, _ = export_binary.untrained_backbone(18, 8, 32, seed=3)
    assert weights_fingerprint(again) == weights_fingerprint(first)


@pytest.mark.slow
def test_workdir_export_restores_the_trained_backbone(tmp_path, rng):
    from vvs_tf.checkpointing import TrainingState, write_run_description
    from vvs_tf.config import base_config, tiny
    from vvs_tf.objectives import DataInfo, create_objective

    config = tiny(base_config("ir"))
    config.model.width = 8
    info = DataInfo(64, 4, 32)
    keras.utils.set_random_seed(0)
    objective = create_objective(config, info)
    objective.compile(optimizer=keras.optimizers.SGD(0.1))
    for variable in objective.backbone.trainable_variables:  # "training": move every weight
        variable.assign(variable + rng.normal(0, 0.05, variable.shape).astype(np.float32))
    workdir = tmp_path / "run"
    write_run_description(str(workdir), config, info)
    TrainingState(objective, str(workdir), keep=1).save(1)

    path = _run([f"--workdir={workdir}", f"--output={tmp_path}/ir", "--version=4"])
    assert path.endswith("/ir/4")
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    served = tf.saved_model.load(path).signatures["activations"](images=tf.constant(images))
    live = objective.backbone(images, training=False)
    for name, key in read_readouts(path)["signature_keys"].items():
        # perturbed weights give activations up to ~20: float32 rounding is relative
        np.testing.assert_allclose(served[key].numpy(), live[name].numpy(), atol=1e-5,
                                   rtol=1e-5, err_msg=name)
    assert read_readouts(path)["config"]["workdir"] == str(workdir)


def test_binary_rejects_ambiguous_or_missing_sources(tmp_path):
    with pytest.raises(app.UsageError, match="exactly one"):
        _run([f"--output={tmp_path}/m"])
    with pytest.raises(app.UsageError, match="exactly one"):
        _run(["--untrained", f"--workdir={tmp_path}", f"--output={tmp_path}/m"])
    with pytest.raises(FileNotFoundError, match="config.json"):
        _run([f"--workdir={tmp_path}/nowhere", f"--output={tmp_path}/m"])
