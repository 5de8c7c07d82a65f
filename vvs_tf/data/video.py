"""Video frame folders as a clip source (SAYCam / Kinetics style, as used by VIE).

A metafile has one line per video, ``<frames dir> <num_frames> <label>``, the directory relative to
the metafile's folder (or absolute). Frames are ``000000.jpg, 000001.jpg, ...`` (numbering may start
at 0 or 1), or else any ``*.jpg`` files, taken in sorted order. The source yields
``{"clip": uint8 [T, H, W, 3], "label": int32, "index": int64}`` with index = the video's line
number: T = ``clip_length`` frames, ``frame_stride`` apart, from a random start in training and the
centred window otherwise; videos shorter than the window loop.
"""
from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from vvs_tf.cache import cache_root
from vvs_tf.data.sources import Source, SkipLog, decode_file, derive_seed, positions

_FIRST_FRAMES = (0, 1)  # "%06d.jpg" numbering may start at either


def read_metafile(metafile: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(absolute frame directories, frame counts, labels), one per line, with the line named on error."""
    if not os.path.isfile(metafile):
        raise FileNotFoundError(f"frames source: metafile {metafile} does not exist")
    base = os.path.dirname(os.path.abspath(metafile))
    dirs, counts, labels = [], [], []
    with open(metafile) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=2)
            try:
                path, count, label = parts[0], int(parts[1]), int(parts[2])
            except (IndexError, ValueError):
                raise ValueError(f"{metafile}:{number}: expected '<frames dir> <num_frames> <label>', "
                                 f"got {line.strip()!r}") from None
            if count < 1 or label < 0:
                raise ValueError(f"{metafile}:{number}: num_frames must be >= 1 and label >= 0, "
                                 f"got {line.strip()!r}")
            dirs.append(os.path.normpath(os.path.join(base, path)))
            counts.append(count)
            labels.append(label)
    if not dirs:
        raise ValueError(f"frames source: metafile {metafile} lists no videos")
    return dirs, np.asarray(counts, np.int64), np.asarray(labels, np.int32)


def _frame_naming(directory: str) -> tuple[int, list[str] | None]:
    """(first number, None) for "%06d.jpg" frames, else (0, sorted *.jpg names); ([]) if none."""
    for first in _FIRST_FRAMES:
        if os.path.isfile(os.path.join(directory, f"{first:06d}.jpg")):
            return first, None
    return 0, sorted(os.path.basename(p) for p in globlib.glob(os.path.join(directory, "*.jpg")))


def clip_frame_ids(num_frames: tf.Tensor, clip_length: int, frame_stride: int, start_fraction: tf.Tensor):
    """Frame numbers of a clip whose window starts at ``start_fraction`` of the possible starts.

    start_fraction in [0, 1): uniform random in training, 0.5 for the centre window. Frames past the
    end of a short video wrap around to its beginning.
    """
    span = (clip_length - 1) * frame_stride + 1
    starts = tf.maximum(num_frames - span + 1, 1)
    start = tf.minimum(tf.cast(tf.cast(starts, tf.float64) * start_fraction, tf.int64), starts - 1)
    return (start + tf.range(clip_length, dtype=tf.int64) * frame_stride) % num_frames


def open_frames(metafile: str, clip_length: int = 16, frame_stride: int = 1, num_classes: int | None = None,
                strict: bool = False, min_size: int = 0) -> Source:
    """Clips from frame folders. A video whose folder is missing or has no frames is skipped (logged),
    or is an error naming the folder when ``strict``."""
    if clip_length < 1 or frame_stride < 1:
        raise ValueError(f"clip_length and frame_stride must be >= 1, got {clip_length}, {frame_stride}")
    dirs, counts, labels = read_metafile(metafile)
    skipped = SkipLog()
    firsts = np.zeros(len(dirs), np.int64)
    listed_offsets = np.full(len(dirs), -1, np.int64)  # -1: "%06d.jpg" naming
    listed: list[str] = []
    present = np.ones(len(dirs), bool)
    for k, directory in enumerate(dirs):
        first, names = _frame_naming(directory) if os.path.isdir(directory) else (0, [])
        if names is not None and not names:
            if strict:
                raise FileNotFoundError(f"frames source: {directory} (line {k + 1} of {metafile}) is missing "
                                        "or holds no .jpg frames")
            skipped.record(directory, "missing or holds no .jpg frames")
            present[k] = False
        elif names is not None:
            listed_offsets[k] = len(listed)
            listed.extend(names)
            counts[k] = min(counts[k], len(names))
        firsts[k] = first
    keep = np.flatnonzero(present)
    table = {"dir": tf.constant([d + os.sep for d in np.asarray(dirs)[keep]]),
             "count": tf.constant(counts[keep]), "label": tf.constant(labels[keep]),
             "index": tf.constant(keep.astype(np.int64)), "first": tf.constant(firsts[keep]),
             "listed_offset": tf.constant(listed_offsets[keep])}
    listed_names = tf.constant(listed, tf.string)

    def clip_paths(video, start_fraction):
        ids = clip_frame_ids(video["count"], clip_length, frame_stride, start_fraction)
        names = tf.cond(video["listed_offset"] < 0,
                        lambda: tf.strings.as_string(video["first"] + ids, width=6, fill="0") + ".jpg",
                        lambda: tf.gather(listed_names, video["listed_offset"] + ids))
        return {"where": video["dir"] + names, "label": video["label"], "index": video["index"]}

    def records(shuffle_files, seed, training, shard):
        videos = positions(len(keep), shuffle_files, seed, shard).map(
            lambda i: {k: tf.gather(t, i) for k, t in table.items()})
        if not training:
            return videos.map(lambda v: clip_paths(v, tf.constant(0.5, tf.float64)))
        draws = tf.data.Dataset.random(seed=derive_seed(seed, 3), rerandomize_each_iteration=True)
        return tf.data.Dataset.zip((videos, draws)).map(
            lambda v, r: clip_paths(v, tf.random.stateless_uniform([], tf.stack([r, v["index"]]), dtype=tf.float64)))

    def decode(element):
        frames = tf.map_fn(lambda path: decode_file({"where": path}), element["where"],
                           fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
        frames.set_shape([clip_length, None, None, 3])
        return frames

    return Source(name=f"frames:{metafile}", num_examples=len(dirs),
                  num_classes=int(labels.max()) + 1 if num_classes is None else int(num_classes),
                  records=records, decode=decode, element="clip", strict=strict, min_size=min_size,
                  skipped=skipped)


def open_embedded_video(split: str = "train", num_videos: int = 128, num_frames: int = 24,
                        image_size: int = 40, seed: int = 0, validation_fraction: float = 0.1,
                        cache_dir: str | None = None, clip_length: int = 16,
                        frame_stride: int = 1) -> Source:
    """The embedded world's video stream as a clip source, rendered once into
    ``<cache_dir or $VVS_TF_CACHE>/embedded_video/<key>/`` (frame folders and a metafile per split,
    the layout of ``frames:<metafile>``). Every round(1 / validation_fraction)-th video is held out
    for validation; indices count videos within the split."""
    from vvs_tf.data.world import CATEGORIES
    from vvs_tf.data.world.video import write_video_stream

    if split not in ("train", "validation"):
        raise ValueError(f"embedded_video has splits 'train' and 'validation', not {split!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    key = dict(num_videos=num_videos, num_frames=num_frames, image_size=image_size, seed=seed,
               validation_fraction=validation_fraction)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    parent = os.path.join(cache_dir or cache_root(), "embedded_video")
    root = os.path.join(parent, digest)
    if not os.path.isfile(os.path.join(root, "validation.txt")):
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=parent, prefix=".partial-")
        try:
            with open(write_video_stream(tmp, num_videos, num_frames, image_size, seed)) as f:
                lines = [line for line in f if line.strip()]
            every = max(2, round(1.0 / validation_fraction))
            held_out = [v % every == every - 1 for v in range(len(lines))]
            for name, wanted in (("train.txt", False), ("validation.txt", True)):
                with open(os.path.join(tmp, name), "w") as f:
                    f.writelines(line for line, out in zip(lines, held_out) if out == wanted)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            os.replace(tmp, root)  # atomic: a reader never sees a half-written stream
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not os.path.isfile(os.path.join(root, "validation.txt")):  # not another writer's
                raise
    return open_frames(os.path.join(root, f"{split}.txt"), clip_length=clip_length,
                       frame_stride=frame_stride, num_classes=len(CATEGORIES))
