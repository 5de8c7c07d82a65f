"""The tf.data input pipeline: a Source's decoded examples -> augmented views -> batches.

Batches are dicts: ``"image"`` float32 [B, S, S, 3] for one view (``"clip"`` [B, T, S, S, 3] for clip
sources), ``"views"`` [B, V, S, S, 3] (or [B, V, T, S, S, 3]) for V > 1, plus ``"label"`` int32,
``"index"`` int64 and the source's extra keys. An extra map that is pixel-aligned with the image (a
depth map [H, W] or [H, W, C]) goes through the same crops and flips as its image, view by view;
other extras pass through unchanged.

Randomness: each example gets a stateless seed from ``tf.data.Dataset.random(seed)`` (fresh numbers
every pass, the same for the same ``seed``) combined with its index; with ``deterministic=True`` the
whole stream, order and augmentations, is a function of ``seed``.

Views are looked up in :data:`VIEWS` (``view(image, size, seed) -> image``); methods add theirs with
:func:`register_view`.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from vvs_tf.data import augment
from vvs_tf.data.sources import AUTOTUNE, Source, derive_seed

ViewFn = Callable[[tf.Tensor, int, tf.Tensor], tf.Tensor]

VIEWS: dict[str, ViewFn] = {
    "ir_la": augment.ir_la_view,
    "simclr": augment.simclr_view,
    "crop_flip": augment.crop_flip_view,
    "eval": lambda image, size, seed: augment.eval_view(image, size),
}


def register_view(name: str, fn: ViewFn, overwrite: bool = False) -> None:
    """Make ``fn(image, size, seed) -> image`` available to make_dataset as ``view=name``."""
    if name in VIEWS and not overwrite:
        raise ValueError(f"view {name!r} is already registered (pass overwrite=True to replace it)")
    VIEWS[name] = fn


def get_view(view: str | ViewFn) -> ViewFn:
    if callable(view):
        return view
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; registered views: {sorted(VIEWS)}")
    return VIEWS[view]


def _aligned(spec: tf.TensorSpec, image_spec: tf.TensorSpec, element: str) -> bool:
    """An extra is a pixel map of its image when its first two dims equal the image's (both static)."""
    hw = image_spec.shape[-3:-1]
    return (element == "image" and spec.shape.rank in (2, 3) and hw.is_fully_defined()
            and spec.shape[:2] == hw)


def make_dataset(source: Source, batch_size: int, view: str | ViewFn, training: bool, seed: int,
                 image_size: int, num_views: int = 1, drop_remainder: bool | None = None,
                 cache: bool = False, shuffle_buffer: int = 10_000, deterministic: bool = True,
                 input_context: tf.distribute.InputContext | None = None,
                 autotune: bool = False) -> tf.data.Dataset:
    """Batches of augmented views of ``source`` (see the module docstring).

    training: shuffle (files, plus a buffer of ``shuffle_buffer`` undecoded elements), random clip
        windows, and drop the last partial batch unless ``drop_remainder`` says otherwise.
    cache: keep the decoded examples in memory after the first pass (small datasets); the order is
        then shuffled by a buffer of the whole dataset.
    input_context: from ``strategy.distribute_datasets_from_function``; the source is then split per
        input pipeline at its cheapest level and tf.data's auto-sharding is switched off. Otherwise
        the auto-shard policy is the source's (DATA for in-memory data, FILE for sharded files).
    autotune: tf.data's model-based autotuning. Off by default: its optimisation thread sleeps
        for doubling periods (10 ms up to a minute) and an iterator's teardown waits for the next
        wake-up, so every per-epoch fit() ended with a stall of up to that period (9 s after an
        11-s epoch, measured). Off, AUTOTUNE parallelism is the thread pool's size (the cores)
        and prefetch keeps its own buffer autotuner.
    """
    if batch_size < 1 or num_views < 1 or image_size < 1:
        raise ValueError(f"batch_size, num_views and image_size must be >= 1, got {batch_size}, "
                         f"{num_views}, {image_size}")
    if cache and training and source.element == "clip":
        raise ValueError("cache=True would freeze the random clip windows of a training clip source")
    view_fn = get_view(view)
    drop_remainder = training if drop_remainder is None else drop_remainder
    shard = None if input_context is None else (input_context.num_input_pipelines,
                                                input_context.input_pipeline_id)
    ds = source.dataset(shuffle_files=training and not cache, seed=seed, training=training,
                        shuffle_buffer=shuffle_buffer if training and not cache else 0, shard=shard)
    if cache:
        ds = ds.cache()
        if training:
            ds = ds.shuffle(source.num_examples, seed=derive_seed(seed, 1), reshuffle_each_iteration=True)
    augment_fn = _augmenter(ds.element_spec, source.element, view_fn, image_size, num_views)
    draws = tf.data.Dataset.random(seed=derive_seed(seed, 2), rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, draws)).map(augment_fn, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)
    ds = ds.prefetch(AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    options.autotune.enabled = autotune
    options.experimental_distribute.auto_shard_policy = (
        source.shard_policy if input_context is None else tf.data.experimental.AutoShardPolicy.OFF)
    return ds.with_options(options)


def _augmenter(spec: dict, element: str, view_fn: ViewFn, size: int, num_views: int):
    """The per-example map: uint8 -> float [0, 1], aligned extras stacked as channels, V views."""
    aligned = [k for k, s in spec.items()
               if k not in (element, "label", "index") and _aligned(s, spec[element], element)]
    channels = {k: 1 if spec[k].shape.rank == 2 else spec[k].shape[2] for k in aligned}

    def apply(example, draw):
        x = tf.image.convert_image_dtype(example[element], tf.float32)
        maps = [tf.reshape(tf.cast(example[k], tf.float32), tf.concat([tf.shape(example[k])[:2], [c]], 0))
                for k, c in channels.items()]
        stacked = tf.concat([x] + maps, axis=-1) if maps else x
        seeds = augment.split_seed(tf.stack([draw, example["index"]]), num_views)
        views = [view_fn(stacked, size, seeds[v]) for v in range(num_views)]  # faster than tf.map_fn
        out = views[0] if num_views == 1 else tf.stack(views)
        result = {k: v for k, v in example.items() if k != element and k not in channels}
        result[element if num_views == 1 else "views"] = out[..., :3]
        start = 3
        for k, c in channels.items():
            result[k] = out[..., start:start + c] if spec[k].shape.rank == 3 else out[..., start]
            start += c
        return result

    return apply
