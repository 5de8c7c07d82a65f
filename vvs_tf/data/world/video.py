"""A head-camera-like video stream: one object per video moving and turning smoothly while the
view over the background drifts and shakes a little, written as JPEG frame folders + metafile.

The layout is the one the real video loader reads: ``<dir>/metafile.txt`` with lines
``<video_name> <num_frames> <label>`` (paths relative to the metafile) and frames
``<dir>/<video_name>/%06d.jpg`` from 000000. The label is the object's category index.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from vvs_tf.data.world import backgrounds, checks, renderer
from vvs_tf.data.world.shapes import CATEGORIES, OBJECT_CATEGORY, OBJECTS

MIN_FRAMES = 16  # clips of the video models are 16 frames long
METAFILE = "metafile.txt"


def _smooth_walk(rng, shape, num_frames, step_sd):
    """Random walks [*shape, T] smoothed by a short moving average (head-camera shake)."""
    steps = rng.normal(0.0, step_sd, shape + (num_frames + 4,))
    walk = np.cumsum(steps, -1)
    total = np.concatenate([np.zeros(shape + (1,)), np.cumsum(walk, -1)], -1)
    return (total[..., 5:] - total[..., :-5]) / 5.0


def video_scenes(num_videos: int, num_frames: int, seed: int, bank_size: int):
    """Per-frame scene parameters (flattened video-major, [V * T]) and each video's object index."""
    rng = np.random.default_rng([seed, 31])
    objects = rng.permutation(len(OBJECTS))[np.arange(num_videos) % len(OBJECTS)]
    t = np.arange(num_frames)[None, :]
    col = lambda a: np.asarray(a)[:, None]  # noqa: E731
    period = rng.uniform(2.0, 4.0, (2, num_videos)) * num_frames
    phase = rng.uniform(0, 2 * np.pi, (2, num_videos))
    ty = col(rng.uniform(0.2, 0.45, num_videos)) * np.sin(2 * np.pi * t / col(period[0]) + col(phase[0]))
    tz = col(rng.uniform(0.1, 0.3, num_videos)) * np.sin(2 * np.pi * t / col(period[1]) + col(phase[1]))
    start = rng.uniform(-60, 60, (3, num_videos))
    speed = rng.uniform(-6.0, 6.0, (3, num_videos))  # degrees per frame
    rxy, rxz, ryz = (col(start[i]) + col(speed[i]) * t for i in range(3))
    s = col(np.exp(rng.uniform(-0.2, 0.2, num_videos))) * np.exp(0.12 * np.sin(2 * np.pi * t / col(period[0])))
    side = rng.uniform(0.5, 0.8, num_videos)
    drift = rng.uniform(-0.4, 0.4, (2, num_videos)) * (1 - side) / num_frames  # crop widths per clip
    top0, left0 = (rng.uniform(0.2, 0.8, (2, num_videos)) * (1 - side))
    shake = _smooth_walk(rng, (2, num_videos), num_frames, 0.004)
    top = np.clip(col(top0) + col(drift[0]) * t + shake[0], 0, col(1 - side))
    left = np.clip(col(left0) + col(drift[1]) * t + shake[1], 0, col(1 - side))
    crops = backgrounds.Crops(
        photo=np.repeat(rng.integers(0, bank_size, num_videos), num_frames),
        top=top.ravel(), left=left.ravel(), side=np.repeat(side, num_frames),
        flip=np.repeat(rng.uniform(size=num_videos) < 0.5, num_frames),
    )
    pose = [np.broadcast_to(x, (num_videos, num_frames)).ravel() for x in (ty, tz, rxy, rxz, ryz, s)]
    return np.repeat(objects, num_frames), pose, crops, objects


def write_video_stream(output_dir, num_videos: int, num_frames: int, image_size: int, seed: int) -> str:
    """Render and write the stream into output_dir (created); returns the metafile's path."""
    checks.count("num_videos", num_videos)
    checks.count("num_frames", num_frames, minimum=MIN_FRAMES)
    checks.image_size(image_size)
    checks.count("seed", seed, minimum=0)
    output_dir = checks.writable_parent(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    bank = backgrounds.default_bank()
    object_index, pose, crops, objects = video_scenes(num_videos, num_frames, seed, bank.size)
    frames = renderer.render_scenes(object_index, *pose, crops, image_size, bank=bank)
    frames = frames.reshape(num_videos, num_frames, image_size, image_size, 3)
    lines = []
    for v in range(num_videos):  # file writing: one folder per video
        name = f"video_{v:04d}"
        os.makedirs(os.path.join(output_dir, name), exist_ok=True)
        for f in range(num_frames):
            Image.fromarray(frames[v, f]).save(os.path.join(output_dir, name, f"{f:06d}.jpg"), quality=90)
        lines.append(f"{name} {num_frames} {CATEGORIES.index(OBJECT_CATEGORY[OBJECTS[objects[v]]])}\n")
    metafile = os.path.join(output_dir, METAFILE)
    with open(metafile, "w") as handle:
        handle.writelines(lines)
    return metafile
