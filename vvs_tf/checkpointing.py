"""Training checkpoints: the whole objective (weights, optimizer, bank, cluster labels, queues)
plus the epoch, kept as TF checkpoints so that non-Keras state travels with them.

A training workdir holds ``config.json`` (the resolved config), ``data_info.json`` (what the
objective was built for) and ``checkpoints/``. TF's CheckpointManager writes the new files before
it atomically rewrites its index, so a run killed mid-save leaves the last good checkpoint intact.
"""
import dataclasses
import json
import os

import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf import config as config_lib
from vvs_tf.objectives.base import DataInfo

CHECKPOINT_DIR = "checkpoints"


def write_run_description(workdir: str, config, data_info: DataInfo) -> None:
    os.makedirs(workdir, exist_ok=True)
    for name, text in (("config.json", config_lib.to_json(config)),
                       ("data_info.json", json.dumps(dataclasses.asdict(data_info)))):
        tmp = os.path.join(workdir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(workdir, name))


def read_run_description(workdir: str):
    """(config, data_info) of a training workdir, with a clear error when it is not one."""
    paths = [os.path.join(workdir, n) for n in ("config.json", "data_info.json")]
    for path in paths:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: {workdir!r} is not a vvs-train workdir")
    with open(paths[0]) as f:
        config = config_lib.from_json(f.read())
    with open(paths[1]) as f:
        data_info = DataInfo(**json.load(f))
    return config, data_info


def latest_checkpoint(workdir: str) -> str:
    path = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, CHECKPOINT_DIR)}")
    return path


class TrainingState:
    """The objective, its optimizer and the number of finished epochs, saved and restored as one."""

    def __init__(self, objective, workdir: str, keep: int):
        self.epoch = tf.Variable(0, trainable=False, dtype=tf.int64, name="epoch")
        self.checkpoint = tf.train.Checkpoint(
            model=objective, optimizer=objective.optimizer, epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(workdir, CHECKPOINT_DIR), max_to_keep=keep)

    def restore_latest(self) -> int:
        """Restores the newest checkpoint if any; returns the number of finished epochs."""
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def save(self, finished_epochs: int) -> str:
        self.epoch.assign(finished_epochs)
        return self.manager.save(checkpoint_number=finished_epochs)


def _parts(objective, names):
    return {name: getattr(objective, name) for name in names if hasattr(objective, name)}


def warm_start(objective, source_workdir: str,
               parts=("backbone", "head", "memory_bank", "bank_labels")) -> list:
    """Initialises `parts` of `objective` from another run's latest checkpoint (LA, LLP <- IR).
    The bank's labels come along, so LLP can propagate its labelled rows' labels before its
    first step.

    Fails before training, naming the mismatch, when architectures or bank sizes differ.
    """
    source_config, source_info = read_run_description(source_workdir)
    ours = objective.config.model.to_dict()
    theirs = source_config.model.to_dict()
    if ours != theirs:
        raise ValueError(f"warm-start checkpoint in {source_workdir} was trained with model "
                         f"{theirs}, this run builds {ours}")
    present = _parts(objective, parts)
    rows_differ = source_info.num_examples != objective.data_info.num_examples
    if rows_differ and {"memory_bank", "bank_labels"} & set(present):
        raise ValueError(f"warm-start memory bank in {source_workdir} has "
                         f"{source_info.num_examples} rows, this run's data has "
                         f"{objective.data_info.num_examples} examples")
    path = latest_checkpoint(source_workdir)
    try:
        status = tf.train.Checkpoint(model=tf.train.Checkpoint(**present)).restore(path)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (ValueError, AssertionError) as err:
        raise ValueError(f"warm-start checkpoint {path} does not match this objective's "
                         f"{sorted(present)}: {err}") from err
    return sorted(present)


def saved_checkpoints(workdir: str) -> list:
    """(finished epochs, path) of every checkpoint the run kept, oldest first."""
    state = tf.train.get_checkpoint_state(os.path.join(workdir, CHECKPOINT_DIR))
    paths = list(state.all_model_checkpoint_paths) if state is not None else []
    if not paths:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, CHECKPOINT_DIR)}")
    return sorted((int(path.rsplit("-", 1)[1]), path) for path in paths)


def restore_objective(workdir: str, checkpoint: str = None):
    """Rebuilds a trained objective from its workdir (the latest checkpoint, or `checkpoint`);
    returns it and the config."""
    from vvs_tf.objectives.registry import create_objective

    config, data_info = read_run_description(workdir)
    objective = create_objective(config, data_info)
    status = tf.train.Checkpoint(model=objective).restore(checkpoint or latest_checkpoint(workdir))
    status.expect_partial()
    status.assert_existing_objects_matched()
    return objective, config


def restore_backbone(workdir: str):
    """The trained network the evaluators score (RGB [0, 1] in, read-outs out) and the config."""
    objective, config = restore_objective(workdir)
    return objective.activation_network(), config.to_dict()
