"""Depth prediction: per-image normalisation and the loss against NumPy, RGB-D folders read exactly
and cropped with their images, bad input, a few training steps."""
import os

import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import vvs_tf.objectives.colorization  # noqa: F401  (registers the geometric "crop_flip" view)
from tiny_steps import assert_trains, build, smooth_images, standard_batch, tiny_config
from vvs_tf.data.depth_pairs import open_depth_pairs
from vvs_tf.data.pipeline import make_dataset
from vvs_tf.objectives.depth_prediction import depth_loss, normalize_per_image, valid_depth


def _numpy_depth_loss(pred, depth):
    losses = []
    for p, d in zip(pred, depth):
        ok = np.isfinite(d) & (d > 0)
        if not ok.any():
            continue
        target = (d[ok] - d[ok].mean()) / d[ok].std()
        losses.append(np.mean((p[ok] - target) ** 2))
    return np.mean(losses)


def test_normalised_depth_has_zero_mean_and_unit_std_per_image():
    depth = np.random.default_rng(0).uniform(1, 9, size=(3, 6, 6)).astype(np.float32)
    depth[0] *= 1000.0  # units do not matter
    normalised = normalize_per_image(tf.constant(depth), valid_depth(tf.constant(depth))).numpy()
    expected = (depth - depth.mean((1, 2), keepdims=True)) / depth.std((1, 2), keepdims=True)
    np.testing.assert_allclose(normalised, expected, rtol=1e-4, atol=1e-5)


def test_loss_matches_numpy_and_skips_missing_depth():
    rng = np.random.default_rng(1)
    pred = rng.standard_normal((3, 5, 5)).astype(np.float32)
    depth = rng.uniform(0.5, 4, size=(3, 5, 5)).astype(np.float32)
    depth[0, :2] = 0.0  # sensor holes
    depth[1, 3, 3] = np.nan
    depth[2] = 0.0  # an image without depth counts for nothing
    np.testing.assert_allclose(depth_loss(tf.constant(pred), tf.constant(depth)).numpy(),
                               _numpy_depth_loss(pred, depth), rtol=1e-5)


def _write_pairs(root, depth_format="png", count=3, size=(12, 16)):
    os.makedirs(os.path.join(root, "rgb"), exist_ok=True)
    os.makedirs(os.path.join(root, "depth"), exist_ok=True)
    rng = np.random.default_rng(2)
    images = (smooth_images(count, max(size))[:, :size[0], :size[1]] * 255).astype(np.uint8)
    depths = rng.integers(1, 60000, size=(count, *size)).astype(np.uint16)
    for n in range(count):
        Image.fromarray(images[n]).save(os.path.join(root, "rgb", f"frame{n}.png"))
        if depth_format == "png":
            Image.fromarray(depths[n]).save(os.path.join(root, "depth", f"frame{n}.png"))
        else:
            np.save(os.path.join(root, "depth", f"frame{n}.npy"), depths[n].astype(np.float32) / 1000)
    return images, depths


@pytest.mark.parametrize("depth_format,scale", [("png", 1.0), ("npy", 1e-3)])
def test_folder_pairs_read_back_exactly(tmp_path, depth_format, scale):
    images, depths = _write_pairs(str(tmp_path), depth_format)
    source = open_depth_pairs(str(tmp_path))
    assert (source.num_examples, source.num_classes) == (3, 1)
    examples = list(source.dataset())
    assert [int(e["index"]) for e in examples] == [0, 1, 2]
    for n, example in enumerate(examples):
        np.testing.assert_array_equal(example["image"].numpy(), images[n])
        np.testing.assert_allclose(example["depth"].numpy(), depths[n] * scale, rtol=1e-6)


def test_pipeline_crops_and_flips_depth_with_its_image(tmp_path):
    """Depth written as a function of the image (R * 100 + 1) must stay that function after the
    random crops and flips of the pipeline."""
    root = str(tmp_path)
    images, _ = _write_pairs(root, "npy", count=4, size=(24, 24))
    for n in range(4):
        np.save(os.path.join(root, "depth", f"frame{n}.npy"), images[n, ..., 0].astype(np.float32) * 100 + 1)
    batch = next(iter(make_dataset(open_depth_pairs(root), 4, "crop_flip", training=True, seed=3,
                                   image_size=16, shuffle_buffer=0)))
    assert batch["depth"].shape == (4, 16, 16)
    red = batch["image"].numpy()[..., 0] * 255
    np.testing.assert_allclose(batch["depth"].numpy(), red * 100 + 1, atol=1.0)


def test_folder_errors_name_the_problem(tmp_path):
    root = str(tmp_path)
    with pytest.raises(FileNotFoundError, match="rgb"):
        open_depth_pairs(root)
    _write_pairs(root, "png")
    os.remove(os.path.join(root, "depth", "frame1.png"))
    with pytest.raises(ValueError, match="no depth map.*frame1"):
        open_depth_pairs(root)
    Image.fromarray(np.ones((5, 5), np.uint16)).save(os.path.join(root, "depth", "frame1.png"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="differ in size.*frame1.png"):
        list(open_depth_pairs(root).dataset())
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(os.path.join(root, "rgb", "frame1.png"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be 12x16.*frame1.png"):
        list(open_depth_pairs(root).dataset())
    resized = list(open_depth_pairs(root, size=8).dataset())  # size= makes every pair 8x8
    assert resized[1]["depth"].shape == (8, 8) and resized[1]["image"].shape == (8, 8, 3)
    np.testing.assert_array_equal(resized[1]["depth"].numpy(), np.ones((8, 8)))


def test_batches_without_depth_are_refused():
    objective = build(tiny_config("depth"))
    with pytest.raises(ValueError, match="with_depth=True"):
        objective.compute_loss({"image": tf.zeros([2, 32, 32, 3])})


@pytest.mark.slow
def test_tiny_depth_lowers_its_loss():
    config = tiny_config("depth")
    batch = standard_batch(config)
    batch["depth"] = 1.0 + batch["image"][..., 1] * 3.0  # depth readable from the image
    assert_trains(config, batch, steps=3, optimizer=keras.optimizers.Adam(1e-3))
