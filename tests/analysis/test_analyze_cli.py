"""vvs-analyze on a tiny IR run: every analysis writes what the library computes for that run,
and a run without what an analysis needs fails with the reason."""
import vvs_tf  # noqa: F401

import json
import os

import numpy as np
import pytest
from absl import flags

from vvs_tf import checkpointing
from vvs_tf.analysis import cli, filters
from vvs_tf.config import base_config, tiny


@pytest.fixture(scope="module")
def ir_run(tmp_path_factory):
    from vvs_tf.train import Trainer

    config = tiny(base_config("ir"))
    config.model.width = 4
    config.data.num_images = 320
    config.objective.nce_k = 0
    config.train.epochs = 2
    config.train.keep_checkpoints = 5
    path = str(tmp_path_factory.mktemp("ir"))
    Trainer(config, path).run()
    return path


def _run(*args):
    flag_values = flags.FlagValues()
    cli.define_flags(flag_values)
    cli.main(flag_values(["vvs-analyze", *args]), flag_values)


def _read(out, analysis):
    with open(os.path.join(out, f"{analysis}.json")) as f:
        return json.load(f)


def test_filters_embedding_orientation_and_trajectory(ir_run, tmp_path):
    out = str(tmp_path)
    _run(f"--workdir={ir_run}", "--analysis=filters", f"--output={out}")
    objective, _ = checkpointing.restore_objective(ir_run)
    kernel = objective.backbone.get_layer("conv1.conv").kernel.numpy()
    np.testing.assert_allclose(_read(out, "filters")["colour_opponency"],
                               filters.colour_opponency(kernel), atol=1e-6)
    assert os.path.getsize(os.path.join(out, "filters.png")) > 0

    _run(f"--workdir={ir_run}", "--analysis=embedding", "--queries=50", "--depth=40",
         f"--output={out}")
    result = _read(out, "embedding")
    assert result["rows"] == objective.memory_bank.shape[0] and len(result["ranked_similarity"]) == 40
    assert np.all(np.diff(result["ranked_similarity"]) <= 1e-6)  # falls with rank
    assert 0.0 <= result["neighbour_quality"] <= 1.0

    _run(f"--workdir={ir_run}", "--analysis=trajectory", "--measures=orientation:conv1",
         f"--output={out}")
    rows = _read(out, "trajectory")["rows"]
    assert [row["epoch"] for row in rows] == [1, 2]


def test_optimal_stimuli_png_and_responses(ir_run, tmp_path):
    out = str(tmp_path)
    _run(f"--workdir={ir_run}", "--analysis=optimal_stimuli", "--layer=layer1.0",
         "--channels=0,1", "--steps=5", f"--output={out}")
    result = _read(out, "optimal_stimuli")
    assert result["layer"] == "layer1.0" and len(result["responses"]) == 2
    assert os.path.getsize(os.path.join(out, "optimal_stimuli.png")) > 0


def test_embedding_of_a_run_without_a_bank_fails_with_the_reason(tmp_path):
    from vvs_tf.train import Trainer

    config = tiny(base_config("untrained"))
    config.model.width = 4
    config.data.num_images = 320
    Trainer(config, str(tmp_path / "run")).run()
    with pytest.raises(SystemExit, match="keeps no memory bank"):
        _run(f"--workdir={tmp_path / 'run'}", "--analysis=embedding", f"--output={tmp_path}")
    with pytest.raises(SystemExit, match="is not a vvs-train workdir"):
        _run(f"--workdir={tmp_path / 'nothing'}", "--analysis=filters", f"--output={tmp_path}")
