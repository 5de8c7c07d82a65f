"""Developmental trajectories (REFERENCE.md, analyses): measures of one training run's network at
each checkpoint it kept (train with a large `train.keep_checkpoints` to keep every epoch), e.g.
orientation selectivity of early units, IT predictivity of the best layer, categorization and
object position performance.

A measure is any function of the evaluated network (an objective's activation_network()) that
returns a number; `benchmark_measure` wraps a vvs-eval benchmark, `orientation_measure` the
circular variance of a layer.
"""
import vvs_tf  # noqa: F401

import numpy as np

from vvs_tf import checkpointing
from vvs_tf.analysis.orientation import orientation_selectivity
from vvs_tf.evaluate.activations import KerasActivationModel


def trajectory(workdir: str, measures: dict) -> list:
    """[{"epoch": finished epochs, measure name: value, ...}] over the run's checkpoints."""
    rows = []
    for epoch, path in checkpointing.saved_checkpoints(workdir):
        objective, _ = checkpointing.restore_objective(workdir, path)
        network = objective.activation_network()
        rows.append({"epoch": epoch, **{name: float(measure(network))
                                        for name, measure in measures.items()}})
    return rows


def orientation_measure(layer: str = "conv1", size: int = None, **tuning):
    """Median circular variance of `layer` on gratings (size: the network's input size)."""
    def measure(network):
        model = KerasActivationModel(network)
        return orientation_selectivity(model, layer, size or model.input_shape[-2], **tuning)

    return measure


def benchmark_measure(benchmark: str, **settings):
    """The headline score (best layer, on its report data) of a vvs-eval benchmark; `settings`
    go to vvs_tf.evaluate.registry.evaluate (data_dir, world_dir, cache_dir, ...)."""
    from vvs_tf.evaluate import registry

    def measure(network):
        result = registry.evaluate(network, [benchmark], **settings)["benchmarks"][benchmark]
        return np.nan if result.get("score") is None else result["score"]

    return measure
