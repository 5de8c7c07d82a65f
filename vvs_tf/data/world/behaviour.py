"""Simulated 2-alternative forced-choice behaviour in the layout of Brain-Score's objectome trials.

Rajalingham et al. (2018) showed an image for 100 ms, then the true object and a distractor; the
i2n metric compares per-image, per-distractor performance. Simulated observers here are signal-
detection observers: on image i with distractor j, d' = D_MAX * ease_i * separation(o_i, o_j) *
sensitivity_worker, and P(correct) = (1 - lapse) Phi(d' / sqrt 2) + lapse / 2. Ease falls with
pose change and eccentricity, rises with size, and has an image-specific part (so that images of
one object differ reliably, the structure i2n measures). Separation grows with the distance
between the objects' shape/appearance descriptors, so objects of one category, which share a
template, are confused more often.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import ndtr

from vvs_tf.data.world import checks, metadata as metadata_lib
from vvs_tf.data.world.randomness import keyed_uniforms
from vvs_tf.data.world.shapes import OBJECTS, object_indices, object_library

D_MAX = 4.0
IMAGE_EASE_SD = 0.4


def object_separation() -> np.ndarray:
    """Separation in (0, 1) of every pair of objects [O, O] (0 on the diagonal)."""
    descriptor = object_library().descriptor
    distance = np.linalg.norm(descriptor[:, None] - descriptor[None], axis=-1)
    scale = np.median(distance[~np.eye(len(OBJECTS), dtype=bool)])
    return 1.0 - np.exp(-distance / scale)


def image_ease(metadata: dict, seed: int) -> np.ndarray:
    """Ease of each image [N]: harder when turned, off-centre or small; image-specific jitter."""
    rotation = np.sqrt(sum(np.asarray(metadata[k], np.float64) ** 2 for k in ("rxy", "rxz", "ryz"))) / 90.0
    eccentricity = np.hypot(np.asarray(metadata["ty"], np.float64), np.asarray(metadata["tz"], np.float64))
    u = keyed_uniforms(metadata["stimulus_id"], seed, 2)
    jitter = np.sqrt(-2 * np.log(1 - u[:, 0])) * np.cos(2 * np.pi * u[:, 1])  # Box-Muller
    return np.exp(IMAGE_EASE_SD * jitter - 0.5 * rotation - 0.8 * eccentricity) * np.asarray(metadata["s"]) ** 0.8


def simulate_behaviour(metadata: dict, seed: int = 0, trials_per_image: int = 20, num_workers: int = 20,
                       lapse_rate: float = 0.05) -> xr.DataArray:
    """Objectome-style trials: a DataArray (presentation,) of chosen object names.

    Coordinates: stimulus_id, sample_obj (= truth), dist_obj, choice, truth, worker_id, correct,
    and p_correct (the simulated observer's true probability, for checking metrics).
    """
    n = metadata_lib.check_metadata(metadata)
    checks.count("trials_per_image", trials_per_image)
    checks.count("num_workers", num_workers)
    checks.count("seed", seed, minimum=0)
    if not 0.0 <= lapse_rate < 1.0:
        raise ValueError(f"lapse_rate must be in [0, 1), got {lapse_rate!r}")
    sample = object_indices(metadata["object_name"])
    present = np.unique(sample)
    if len(present) < 2:
        raise ValueError("2AFC behaviour needs images of at least two objects")
    rng = np.random.default_rng([seed, 21])
    image = np.repeat(np.arange(n), trials_per_image)
    # Distractor: uniform over the other objects present.
    slot = rng.integers(0, len(present) - 1, image.size)
    own_slot = np.searchsorted(present, sample[image])
    distractor = present[slot + (slot >= own_slot)]
    worker = rng.integers(0, num_workers, image.size)
    sensitivity = np.exp(rng.normal(0.0, 0.2, num_workers))
    separation = object_separation()[sample[image], distractor]
    d_prime = D_MAX * image_ease(metadata, seed)[image] * separation * sensitivity[worker]
    p_correct = (1 - lapse_rate) * ndtr(d_prime / np.sqrt(2)) + lapse_rate / 2
    correct = rng.uniform(size=image.size) < p_correct
    names = np.array(OBJECTS)
    choice = np.where(correct, names[sample[image]], names[distractor])
    coords = {
        "stimulus_id": np.asarray(metadata["stimulus_id"])[image],
        "sample_obj": names[sample[image]],
        "dist_obj": names[distractor],
        "choice": choice,
        "truth": names[sample[image]],
        "worker_id": np.array([f"sim_worker_{w:03d}" for w in range(num_workers)])[worker],
        "correct": correct.astype(np.int8),
        "p_correct": p_correct,
    }
    attrs = {"simulated": 1, "task": "2AFC object discrimination (objectome layout)", "seed": seed,
             "lapse_rate": lapse_rate, "trials_per_image": trials_per_image}
    return xr.DataArray(choice, dims=("presentation",), coords={k: ("presentation", v) for k, v in coords.items()},
                        name="simulated_world_objectome", attrs=attrs)
