"""HvM-style stimulus metadata: which object, at which position, pose and size.

Variation levels follow Majaj et al. (2015): level 0 is centred, in canonical pose, at the
reference size; level 3 varies position by up to +-0.3 image half-widths, each rotation by up to
+-45 degrees and size by a factor of up to 1.3 either way; level 6 doubles the ranges (+-0.6,
+-90 degrees, factor 1.6). Position ty is horizontal (+ right), tz vertical (+ up), in image
half-widths from the centre; rxy, rxz, ryz are rotations in those planes of the object frame
(x = depth, so ryz turns the object in the image plane); s multiplies the reference size.
"""
from __future__ import annotations

import numpy as np

from vvs_tf.data.world import checks
from vvs_tf.data.world.shapes import OBJECT_CATEGORY, OBJECTS, object_indices

METADATA_KEYS = ("stimulus_id", "object_name", "category_name", "variation", "ty", "tz", "rxy", "rxz", "ryz", "s")
POSE_KEYS = ("ty", "tz", "rxy", "rxz", "ryz", "s")
# level: (max |ty|, |tz|), (max |rotation| in degrees), (max size factor)
VARIATION_RANGES = {0: (0.0, 0.0, 1.0), 3: (0.3, 45.0, 1.3), 6: (0.6, 90.0, 1.6)}


def stimulus_ids(seed: int, num_images: int) -> np.ndarray:
    return np.array([f"simworld{seed}_{i:06d}" for i in range(num_images)])


def sample_metadata(num_images: int, variations=(0, 3, 6), seed: int = 0, categories=None) -> dict:
    """Metadata of num_images stimuli, (object, level) pairs balanced, order shuffled by the seed.

    Returns {key: np.ndarray [num_images]} for METADATA_KEYS.
    """
    checks.count("num_images", num_images)
    variations = checks.variations(variations)
    wanted = checks.categories(categories)
    objects = np.array([o for o in OBJECTS if OBJECT_CATEGORY[o] in wanted])
    rng = np.random.default_rng([seed, 2])
    i = rng.permutation(num_images)
    # Object i mod O at level (i + i div O) mod L: every block of O x L stimuli holds each
    # (object, level) pair once, and even a few stimuli span objects and levels.
    object_name = objects[i % len(objects)]
    variation = np.array(variations)[(i + i // len(objects)) % len(variations)]
    position, rotation, scale = (np.array([VARIATION_RANGES[v][k] for v in variation]) for k in range(3))
    u = rng.uniform(-1.0, 1.0, (6, num_images))
    return {
        "stimulus_id": stimulus_ids(seed, num_images),
        "object_name": object_name,
        "category_name": np.array([OBJECT_CATEGORY[o] for o in object_name]),
        "variation": variation.astype(np.int64),
        "ty": u[0] * position + 0.0,  # + 0.0 turns -0.0 into 0.0
        "tz": u[1] * position + 0.0,
        "rxy": u[2] * rotation + 0.0,
        "rxz": u[3] * rotation + 0.0,
        "ryz": u[4] * rotation + 0.0,
        "s": np.exp(u[5] * np.log(scale)),
    }


def check_metadata(metadata: dict) -> int:
    """The number of stimuli, once every key is present with one value per stimulus."""
    missing = [k for k in METADATA_KEYS if k not in metadata]
    if missing:
        raise ValueError(f"metadata lacks keys {missing}")
    lengths = {k: len(metadata[k]) for k in METADATA_KEYS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"metadata columns differ in length: {lengths}")
    object_indices(metadata["object_name"])
    return lengths["stimulus_id"]


def subset(metadata: dict, rows) -> dict:
    return {k: np.asarray(v)[rows] for k, v in metadata.items()}
