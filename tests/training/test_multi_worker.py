"""vvs-train with two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy (TF_CONFIG)."""
import json
import os
import socket
import subprocess
import sys

import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_in_lockstep_and_only_the_chief_writes_the_workdir(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    args = [f"--config={REPO}/configs/tiny/ir.py", f"--workdir={tmp_path}",
            "--config.runtime.strategy=multi_worker", "--config.data.num_images=256",
            "--config.model.width=8", "--config.train.batch_size=32", "--config.train.epochs=1",
            "--config.objective.nce_k=32", "--config.monitor.knn_k=10",
            # Global-batch BN statistics, so BN moving averages agree across workers too.
            "--config.model.sync_batchnorm=True"]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-m", "vvs_tf.train", *args], cwd=REPO,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    chief = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "checkpoints")))
    other = tf.train.load_checkpoint(tf.train.latest_checkpoint(
        str(tmp_path / ".worker-worker-1" / "checkpoints")))
    names = [n for n in chief.get_variable_to_shape_map() if "VARIABLE_VALUE" in n]
    assert any("memory_bank" in n for n in names)
    for name in names:
        np.testing.assert_allclose(chief.get_tensor(name), other.get_tensor(name), atol=1e-6,
                                   err_msg=name)
    assert int(chief.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")) == 256 * 9 // 10 // 32
    assert (tmp_path / "config.json").exists()
