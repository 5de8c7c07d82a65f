"""The `embedded` training source: rendered world images with labels, stable indices and a
held-out validation split, from memory or from a cache directory.

The stimulus set of num_images images is sampled and rendered once per argument set; the last
round(validation_fraction * num_images) stimuli (in the seed's shuffled order, so object and
variation level are spread over both splits) form the validation split. A split's ``index`` runs
0..len-1 and is what a memory bank keys on.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile

import numpy as np

from vvs_tf.data.world import checks, metadata as metadata_lib, renderer
from vvs_tf.data.world.shapes import CATEGORIES, category_indices, object_indices

SPLITS = ("train", "validation")
CACHE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class EmbeddedSplit:
    images: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int32 [N], category index into CATEGORIES
    object_labels: np.ndarray  # int32 [N], object index into OBJECTS
    index: np.ndarray  # int64 [N], 0..N-1
    metadata: dict  # {key: np.ndarray [N]}
    depth: np.ndarray | None  # float32 [N, S, S] or None

    @property
    def num_classes(self) -> int:
        return len(CATEGORIES)

    def __len__(self) -> int:
        return len(self.images)


def _render_all(num_images, image_size, seed, variations, with_depth):
    meta = metadata_lib.sample_metadata(num_images, variations=variations, seed=seed)
    out = renderer.render(meta, image_size, seed=seed, with_depth=with_depth)
    images, depth = (out[0], out[1]) if with_depth else (out, None)
    return meta, images, depth


def _cache_path(cache_dir, key: dict) -> str:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"world_embedded_{digest}.npz")


def _load_or_render(cache_dir, num_images, image_size, seed, variations, with_depth):
    if cache_dir is None:
        return _render_all(num_images, image_size, seed, variations, with_depth)
    key = {"version": CACHE_VERSION, "num_images": num_images, "image_size": image_size, "seed": seed,
           "variations": list(variations), "with_depth": with_depth}
    path = _cache_path(cache_dir, key)
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as data:
            meta = {k: data[f"meta_{k}"] for k in metadata_lib.METADATA_KEYS}
            return meta, data["images"], data["depth"] if with_depth else None
    meta, images, depth = _render_all(num_images, image_size, seed, variations, with_depth)
    os.makedirs(cache_dir, exist_ok=True)
    arrays = {"images": images, **{f"meta_{k}": v for k, v in meta.items()}}
    if with_depth:
        arrays["depth"] = depth
    handle, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz.partial")
    with os.fdopen(handle, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)  # atomic: a reader never sees a half-written cache file
    return meta, images, depth


def load_embedded(num_images: int = 2560, image_size: int = 64, seed: int = 0, split: str = "train",
                  validation_fraction: float = 0.1, variations=(0, 3, 6), with_depth: bool = False,
                  cache_dir: str | None = None) -> EmbeddedSplit:
    """One split of the embedded world; deterministic given the arguments."""
    checks.count("num_images", num_images, minimum=2)
    checks.image_size(image_size)
    checks.count("seed", seed, minimum=0)
    variations = checks.variations(variations)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    num_validation = int(round(validation_fraction * num_images)) if 0.0 <= validation_fraction < 1.0 else -1
    if not 1 <= num_validation < num_images:
        raise ValueError(f"validation_fraction={validation_fraction!r} must leave at least one image in each "
                         f"split of {num_images}")
    meta, images, depth = _load_or_render(cache_dir, num_images, image_size, seed, variations, with_depth)
    boundary = num_images - num_validation
    rows = np.arange(boundary) if split == "train" else np.arange(boundary, num_images)
    meta = metadata_lib.subset(meta, rows)
    return EmbeddedSplit(
        images=images[rows],
        labels=category_indices(meta["category_name"]).astype(np.int32),
        object_labels=object_indices(meta["object_name"]).astype(np.int32),
        index=np.arange(len(rows), dtype=np.int64),
        metadata=meta,
        depth=depth[rows] if with_depth else None,
    )
