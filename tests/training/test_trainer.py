"""vvs-train end to end on the embedded world: resume after a kill, warm starts, bad input."""
import os
import signal
import subprocess
import sys
import time

import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from vvs_tf import checkpointing
from vvs_tf.config import base_config, tiny
from vvs_tf.train import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_config(method="ir", epochs=2, **overrides):
    c = tiny(base_config(method))
    c.data.num_images = 320
    c.model.width = 8
    c.train.batch_size = 32
    c.train.epochs = epochs
    c.optimizer.schedule = "cosine"
    c.monitor.knn_k = 20
    if method in ("ir", "la"):
        c.objective.nce_k = 64
    if method == "la":
        c.objective.background_k = 64
        c.objective.num_clusterings = 2
        c.objective.num_clusters = 8
    for key, value in overrides.items():
        target = c
        *parents, leaf = key.split(".")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return c


def _state(objective):
    return [v.numpy() for v in objective.trainable_variables] + [objective.memory_bank.numpy()]


def test_killed_and_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    config = tiny_config("ir", epochs=3)
    uninterrupted = Trainer(config, str(tmp_path / "full"))
    uninterrupted.run()

    workdir = tmp_path / "killed"
    overrides = ["--config.data.num_images=320", "--config.model.width=8",
                 "--config.train.batch_size=32", "--config.train.epochs=3",
                 "--config.optimizer.schedule=cosine", "--config.monitor.knn_k=20",
                 "--config.objective.nce_k=64"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vvs_tf.train", f"--config={REPO}/configs/tiny/ir.py",
         f"--workdir={workdir}", *overrides],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
            if latest and int(latest.rsplit("-", 1)[1]) >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    resumed = Trainer(config, str(workdir))
    assert 1 <= resumed.state.restore_latest() < 3
    resumed.run()
    assert int(resumed.objective.optimizer.iterations) == int(uninterrupted.objective.optimizer.iterations)
    for a, b in zip(_state(uninterrupted.objective), _state(resumed.objective)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_la_checkpoint_restores_bank_cluster_labels_and_optimizer(tmp_path):
    trainer = Trainer(tiny_config("la", epochs=1), str(tmp_path))
    trainer.run()
    saved = {"bank": trainer.objective.memory_bank.numpy(),
             "clusters": trainer.objective.cluster_labels.numpy(),
             "momentum": [v.numpy() for v in trainer.objective.optimizer.variables]}
    assert len(np.unique(saved["clusters"][0])) > 1, "the bank was clustered before training"
    restored = Trainer(tiny_config("la", epochs=1), str(tmp_path))
    assert restored.state.restore_latest() == 1
    np.testing.assert_array_equal(restored.objective.memory_bank.numpy(), saved["bank"])
    np.testing.assert_array_equal(restored.objective.cluster_labels.numpy(), saved["clusters"])
    for a, b in zip(restored.objective.optimizer.variables, saved["momentum"]):
        np.testing.assert_array_equal(a.numpy(), b)


def test_warm_start_copies_backbone_head_and_bank_and_rejects_other_architectures(tmp_path):
    ir = Trainer(tiny_config("ir", epochs=1), str(tmp_path / "ir"))
    ir.run()
    la = Trainer(tiny_config("la", epochs=1, **{"train.warm_start": str(tmp_path / "ir")}),
                 str(tmp_path / "la"))
    assert checkpointing.warm_start(la.objective, str(tmp_path / "ir")) == [
        "backbone", "bank_labels", "head", "memory_bank"]
    np.testing.assert_array_equal(la.objective.bank_labels.numpy(), ir.objective.bank_labels.numpy())
    np.testing.assert_array_equal(la.objective.memory_bank.numpy(), ir.objective.memory_bank.numpy())
    for a, b in zip(la.objective.backbone.weights, ir.objective.backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    wide = Trainer(tiny_config("la", epochs=1, **{"model.width": 16}), str(tmp_path / "wide"))
    with pytest.raises(ValueError, match="warm-start checkpoint .* was trained with model"):
        checkpointing.warm_start(wide.objective, str(tmp_path / "ir"))


def test_batch_not_divisible_by_replicas_fails_before_training(tmp_path):
    config = tiny_config("ir", **{"runtime.strategy": "mirrored", "runtime.num_devices": 2,
                                  "train.batch_size": 33})
    with pytest.raises(ValueError, match="batch_size=33 is not divisible by the 2 replicas"):
        Trainer(config, str(tmp_path))


def test_missing_dataset_path_fails_naming_it(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises((FileNotFoundError, ValueError), match="no_such_folder"):
        Trainer(tiny_config("ir", **{"data.source": f"folder:{missing}"}), str(tmp_path / "w"))


def test_unknown_config_key_fails_with_its_name(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vvs_tf.train", f"--config={REPO}/configs/tiny/ir.py",
         f"--workdir={tmp_path}", "--config.train.bogus_key=3"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "bogus_key" in result.stderr
    assert not os.path.exists(tmp_path / "config.json")


def test_few_label_control_trains_only_on_its_labelled_subset(tmp_path):
    from vvs_tf.objectives.supervised import labelled_subset

    trainer = Trainer(tiny_config("supervised", **{"objective.label_fraction": 0.25}), str(tmp_path))
    expected = labelled_subset(trainer.train_source.num_examples, 0.25, seed=0)
    assert trainer.training_examples.num_examples == len(expected) == round(
        0.25 * trainer.train_source.num_examples)
    assert trainer.steps_per_epoch == len(expected) // 32
    seen = np.concatenate([b["index"].numpy()
                           for b in trainer.epoch_dataset(0).take(trainer.steps_per_epoch)])
    assert set(seen) <= set(expected) and len(seen) == trainer.steps_per_epoch * 32
    with pytest.raises(ValueError, match="label fraction must be in"):
        Trainer(tiny_config("supervised", **{"objective.label_fraction": 0.0}), str(tmp_path / "z"))


def test_mixed_precision_trains_in_float16_with_loss_scaling_and_float32_embeddings(tmp_path):
    import keras

    try:
        trainer = Trainer(tiny_config("ir", epochs=1, **{"runtime.precision": "mixed_float16"}),
                          str(tmp_path))
        assert isinstance(trainer.objective.optimizer, keras.optimizers.LossScaleOptimizer)
        summary = trainer.run()
        images = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
        features = trainer.objective.backbone(images)["layer4.1"]
        embeddings = trainer.objective.embed(images).numpy()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert features.dtype == "float16" and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(summary["loss"])
