"""RGB + depth pairs from a folder, as a :class:`vvs_tf.data.sources.Source` with a "depth" extra.

Layout (the PBRNet renders of the paper's depth task, or any RGB-D set converted to it)::

    <root>/rgb/<stem>.png|jpg|jpeg
    <root>/depth/<stem>.png|npy      16-bit (or 8-bit) single-channel PNG, or a float [H, W] .npy

Pairs are matched by file stem and numbered in sorted stem order (the stable ``index``); every
label is 0. Depth values are read as float32 in the file's own unit; 0 and non-finite values mean
"no depth" to the depth objective. The input pipeline crops and flips a depth map together with its
image only when both have a static size, so all pairs must share one size: either they already do
(it is read from the first image), or ``size=(h, w)`` resizes every pair on loading (bilinear for the
image, nearest for the depth so holes stay holes). A pair whose two files disagree in size, or whose
size differs from the others, stops the pipeline with an error that names the file.
"""
from __future__ import annotations

import logging
import os

import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

from vvs_tf.data.sources import AUTOTUNE, Source, decode_bytes, positions

RGB_EXTENSIONS = (".png", ".jpg", ".jpeg")
DEPTH_EXTENSIONS = (".png", ".npy")
_log = logging.getLogger(__name__)


def _by_stem(folder: str, extensions: tuple[str, ...]) -> dict[str, str]:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"depth pairs: {folder} does not exist or is not a directory")
    found = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        stem, ext = os.path.splitext(entry.name)
        if entry.is_file() and ext.lower() in extensions:
            if stem in found:
                raise ValueError(f"depth pairs: two files with stem {stem!r} in {folder}: "
                                 f"{os.path.basename(found[stem])} and {entry.name}")
            found[stem] = entry.path
    return found


def list_pairs(root: str) -> tuple[list[str], list[str]]:
    """(rgb paths, depth paths) matched by stem, sorted by stem; errors name what is missing."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"depth pairs: {root} does not exist or is not a directory")
    rgb = _by_stem(os.path.join(root, "rgb"), RGB_EXTENSIONS)
    depth = _by_stem(os.path.join(root, "depth"), DEPTH_EXTENSIONS)
    if not rgb:
        raise ValueError(f"depth pairs: no images ({', '.join(RGB_EXTENSIONS)}) in {root}/rgb")
    missing = sorted(set(rgb) - set(depth))
    if missing:
        raise ValueError(f"depth pairs: {len(missing)} images in {root}/rgb have no depth map "
                         f"({', '.join(DEPTH_EXTENSIONS)}) in {root}/depth, e.g. {missing[:5]}")
    unused = len(set(depth) - set(rgb))
    if unused:
        _log.warning("depth pairs: %d depth maps in %s/depth have no image and are ignored", unused, root)
    stems = sorted(rgb)
    return [rgb[s] for s in stems], [depth[s] for s in stems]


def _load_npy(path) -> np.ndarray:
    name = path.decode() if isinstance(path, bytes) else str(path)
    array = np.load(name)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"depth pairs: {name} holds an array of shape {array.shape}, expected [H, W]")
    return array.astype(np.float32)


def read_depth(path: tf.Tensor) -> tf.Tensor:
    """A depth file -> float32 [H, W] (PNG: the stored integers; .npy: the stored floats)."""
    def png():
        return tf.cast(tf.io.decode_png(tf.io.read_file(path), channels=1, dtype=tf.uint16)[..., 0],
                       tf.float32)

    def npy():
        return tf.ensure_shape(tf.numpy_function(_load_npy, [path], tf.float32), [None, None])

    is_npy = tf.strings.regex_full_match(tf.strings.lower(path), r".*\.npy")
    depth = tf.cond(is_npy, npy, png)
    depth.set_shape([None, None])
    return depth


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.height, image.width


def open_depth_pairs(root: str, size=None) -> Source:
    """A Source of {"image": uint8 [H, W, 3], "depth": float32 [H, W], "label": 0, "index"}.

    size: None (all pairs must have the first image's size) or an int / (h, w) to resize every pair to.
    """
    rgb_paths, depth_paths = list_pairs(root)
    if size is None:
        height, width = _image_size(rgb_paths[0])
        resize = False
    else:
        height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if height < 1 or width < 1:
            raise ValueError(f"depth pairs: size must be positive, got {size}")
        resize = True
    table = {"rgb": tf.constant(rgb_paths), "depth": tf.constant(depth_paths)}

    def load(i):
        rgb_path, depth_path = tf.gather(table["rgb"], i), tf.gather(table["depth"], i)
        image = decode_bytes(tf.io.read_file(rgb_path))
        depth = read_depth(depth_path)
        same = tf.reduce_all(tf.equal(tf.shape(image)[:2], tf.shape(depth)))
        checks = [tf.debugging.Assert(same, [
            "depth pairs: image and depth differ in size:", rgb_path, tf.shape(image)[:2], depth_path,
            tf.shape(depth)])]
        if not resize:
            checks.append(tf.debugging.Assert(tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width])), [
                f"depth pairs: every pair must be {height}x{width} (the first image's size; pass size= to "
                "resize):", rgb_path, tf.shape(image)[:2]]))
        with tf.control_dependencies(checks):
            image, depth = tf.identity(image), tf.identity(depth)
        if resize:
            image = tf.cast(tf.clip_by_value(tf.round(tf.image.resize(
                tf.cast(image, tf.float32), [height, width], antialias=True)), 0, 255), tf.uint8)
            depth = tf.image.resize(depth[..., None], [height, width], method="nearest")[..., 0]
        image = tf.ensure_shape(image, [height, width, 3])
        depth = tf.ensure_shape(depth, [height, width])
        return {"image": image, "depth": depth, "label": tf.constant(0, tf.int32), "index": i}

    def records(shuffle_files, seed, training, shard):
        del training
        return positions(len(rgb_paths), shuffle_files, seed, shard).map(load, num_parallel_calls=AUTOTUNE)

    return Source(name=f"depth_pairs:{root}", num_examples=len(rgb_paths), num_classes=1, records=records)
