"""Augmentation ops: bounds read back from images of known content, seeds, NumPy references."""
import vvs_tf  # noqa: F401  (before tensorflow: oneDNN)

import numpy as np
import pytest
import skimage.data
import skimage.transform
import tensorflow as tf

from vvs_tf.data import augment

SEEDS = [np.array([s, 7], np.int64) for s in range(200)]


def ramp(h, w):
    """Channel 0 = x / w, channel 1 = y / h, channel 2 = 0.5 (pixel coordinates readable from values)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([x / w, y / h, np.full_like(x, 0.5)], -1)


def photo(size=48):
    return skimage.transform.resize(skimage.data.astronaut(), (size, size), anti_aliasing=True).astype(np.float32)


def fit_line(values):
    """(slope, intercept) of values[j] = slope * j + intercept over interior j."""
    j = np.arange(len(values))
    return np.polyfit(j, values, 1)


@tf.function
def _rrc(image, seed):
    # antialias off: plain bilinear reproduces the ramp exactly, so the box reads back exactly
    return augment.random_resized_crop(image, 32, seed, area=(0.2, 1.0), ratio=(3 / 4, 4 / 3), antialias=False)


def test_random_resized_crop_box_within_bounds():
    h, w, size = 48, 64, 32
    image = tf.constant(ramp(h, w))
    areas, ratios = [], []
    for seed in SEEDS:
        out = _rrc(image, seed).numpy()
        inner = slice(4, size - 4)  # away from the crop edges, where the resize kernel is clipped
        # output pixel j samples source coordinate x0 + (j + 0.5) * cw / size - 0.5
        sx, ix = fit_line(out[16, inner, 0] * w)
        sy, iy = fit_line(out[inner, 16, 1] * h)
        cw, ch = sx * size, sy * size
        x0, y0 = ix - 4.5 * sx + 0.5, iy - 4.5 * sy + 0.5
        for v in (cw, ch, x0, y0):  # an integer pixel box
            assert v == pytest.approx(round(v), abs=0.02)
        assert -0.02 <= x0 and x0 + cw <= w + 0.02 and -0.02 <= y0 and y0 + ch <= h + 0.02
        areas.append(cw * ch / (h * w))
        ratios.append(cw / ch)
    areas, ratios = np.array(areas), np.array(ratios)
    # integer rounding of the box sides moves the bounds by at most half a pixel per side
    assert areas.min() >= 0.2 - 0.02 and areas.max() <= 1.0
    assert ratios.min() >= 0.75 - 0.03 and ratios.max() <= 4 / 3 + 0.03
    assert areas.min() < 0.3 and areas.max() > 0.85  # the whole range is drawn
    assert ratios.min() < 0.8 and ratios.max() > 1.25


def test_random_resized_crop_falls_back_to_centre_crop_at_clamped_aspect():
    # a 10 x 80 strip cannot hold any box of aspect <= 4/3 and area >= 0.9: centre 10 x 13 box
    image = tf.constant(ramp(10, 80))
    out = augment.random_resized_crop(image, 13, SEEDS[0], area=(0.9, 1.0), antialias=False).numpy()
    x0 = (80 - 13) // 2
    np.testing.assert_allclose(out[..., 0], np.tile((np.arange(13) + x0) / 80, (13, 1)), atol=1e-5)


@pytest.mark.parametrize("view", [augment.ir_la_view, augment.simclr_view])
def test_views_same_seed_same_output(view):
    image = tf.constant(photo())
    a, b = view(image, 32, SEEDS[3]), view(image, 32, SEEDS[3])
    c = view(image, 32, SEEDS[4])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.abs(a.numpy() - c.numpy()).mean() > 1e-3
    assert a.shape == (32, 32, 3) and 0.0 <= a.numpy().min() and a.numpy().max() <= 1.0


@pytest.mark.parametrize("view", [augment.ir_la_view, augment.simclr_view])
def test_clip_frames_share_one_augmentation(view):
    frame = photo()
    clip = tf.constant(np.stack([frame] * 3))
    for seed in SEEDS[:5]:
        out = view(clip, 24, seed).numpy()
        single = view(tf.constant(frame), 24, seed).numpy()
        for t in range(3):
            np.testing.assert_allclose(out[t], single, atol=1e-5)


def test_batched_on_device_matches_per_example():
    images = tf.constant(np.stack([photo(), photo()[::-1]]))
    seeds = tf.constant(np.stack(SEEDS[:2]))
    batched = tf.function(lambda x, s: tf.map_fn(lambda a: augment.ir_la_view(a[0], 24, a[1]), (x, s),
                                                 fn_output_signature=tf.float32))(images, seeds)
    for k in range(2):
        np.testing.assert_allclose(batched[k], augment.ir_la_view(images[k], 24, seeds[k]), atol=1e-5)


def test_brightness_and_contrast_factors_in_range():
    # a two-level grey image: saturation and hue do nothing; brightness b scales the mean, contrast c
    # scales the difference (b * c * 0.2) whatever the order, since neither clips here
    image = np.full((8, 8, 3), 0.4, np.float32)
    image[:, 4:] = 0.6
    jitter = tf.function(lambda s: augment.color_jitter(tf.constant(image), s, strength=0.4, hue=0.4))
    bs, cs = [], []
    for seed in SEEDS:
        out = jitter(seed).numpy()
        b = out.mean() / 0.5
        bs.append(b)
        cs.append((out[0, 7, 0] - out[0, 0, 0]) / (0.2 * b))
        np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-5)  # stays grey
    for factors in (np.array(bs), np.array(cs)):
        assert factors.min() >= 0.6 - 1e-4 and factors.max() <= 1.4 + 1e-4
        assert factors.min() < 0.7 and factors.max() > 1.3


def test_saturation_times_contrast_in_range():
    # one colour everywhere: contrast and saturation both blend towards its grey level
    rgb = np.array([0.55, 0.45, 0.5], np.float32)
    grey = rgb @ np.array(augment._LUMA, np.float32)
    image = tf.constant(np.broadcast_to(rgb, (4, 4, 3)).copy())
    jitter = tf.function(lambda s: augment.color_jitter(image, s, strength=0.4, hue=0.0))
    products = []
    for seed in SEEDS:
        out = jitter(seed).numpy()[0, 0]
        b = (out @ np.array(augment._LUMA, np.float32)) / grey
        products.append(((out / b - grey) / (rgb - grey)).mean())
    products = np.array(products)
    assert products.min() >= 0.36 - 1e-3 and products.max() <= 1.96 + 1e-3
    assert products.min() < 0.6 and products.max() > 1.6


def test_hue_shift_in_range():
    image = tf.constant(np.broadcast_to(np.array([0.8, 0.3, 0.2], np.float32), (4, 4, 3)).copy())
    hue_in = tf.image.rgb_to_hsv(image).numpy()[0, 0, 0]
    jitter = tf.function(lambda s: augment.color_jitter(image, s, strength=0.0, hue=0.4))
    shifts = []
    for seed in SEEDS:
        out = jitter(seed)
        hsv = tf.image.rgb_to_hsv(out).numpy()[0, 0]
        shifts.append((hsv[0] - hue_in + 0.5) % 1.0 - 0.5)
        np.testing.assert_allclose(hsv[1:], tf.image.rgb_to_hsv(image).numpy()[0, 0, 1:], atol=1e-4)
    shifts = np.array(shifts)
    assert shifts.min() >= -0.4 - 1e-4 and shifts.max() <= 0.4 + 1e-4
    assert shifts.min() < -0.3 and shifts.max() > 0.3


def test_grayscale_probability_and_luminance():
    image = photo(8)
    luminance = image @ np.array([0.2989, 0.5870, 0.1140], np.float32)
    gray = tf.function(lambda s: augment.random_grayscale(tf.constant(image), s, p=0.2))
    hits = 0
    for seed in SEEDS + [np.array([s, 8], np.int64) for s in range(200)]:
        out = gray(seed).numpy()
        if np.allclose(out, image):
            continue
        hits += 1
        np.testing.assert_allclose(out, np.repeat(luminance[..., None], 3, -1), atol=1e-5)
    assert abs(hits / 400 - 0.2) < 0.06  # binomial sd 0.02


def test_flip_is_a_mirror_half_the_time():
    image = photo(8)
    flips = 0
    for seed in SEEDS:
        out = augment.random_flip(tf.constant(image), seed).numpy()
        if np.array_equal(out, image[:, ::-1]):
            flips += 1
        else:
            np.testing.assert_array_equal(out, image)
    assert abs(flips / len(SEEDS) - 0.5) < 0.12


def test_gaussian_blur_of_a_delta_is_the_gaussian_kernel():
    image = np.zeros((15, 15, 4), np.float32)
    image[7, 7, :] = 1.0
    out = augment.gaussian_blur(tf.constant(image), SEEDS[0], sigma=(1.0, 1.0), kernel_size=7).numpy()
    x = np.arange(-3, 4)
    k = np.exp(-x**2 / 2.0)
    k /= k.sum()
    expected = np.zeros((15, 15))
    expected[4:11, 4:11] = np.outer(k, k)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], expected, atol=1e-6)
    np.testing.assert_array_equal(out[..., 3], image[..., 3])  # extra channels are not blurred


def test_photometric_ops_leave_extra_channels_alone():
    image = np.concatenate([photo(8), np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8, 1)], -1)
    for op in (lambda x: augment.color_jitter(x, SEEDS[1]), augment.to_grayscale):
        out = op(tf.constant(image)).numpy()
        np.testing.assert_array_equal(out[..., 3], image[..., 3])
        assert not np.allclose(out[..., :3], image[..., :3])


def test_eval_view_is_a_centre_crop_when_no_resize_is_needed():
    image = np.random.default_rng(0).random((64, 80, 3)).astype(np.float32)
    out = augment.eval_view(tf.constant(image), 56, resize_ratio=64 / 56).numpy()  # shorter side 64
    np.testing.assert_allclose(out, image[4:60, 12:68], atol=1e-6)


@pytest.mark.parametrize("antialias,tolerance_px", [(False, 1e-3), (True, 0.06)])
def test_eval_view_resize_then_centre_crop_matches_numpy(antialias, tolerance_px):
    h, w, size = 96, 128, 32
    out = augment.eval_view(tf.constant(ramp(h, w)), size, resize_ratio=2.0, antialias=antialias).numpy()
    new_h, new_w = 64, 128 * 64 // 96  # shorter side -> 64, longer floored (85)
    y0, x0 = (new_h - size) // 2, (new_w - size) // 2
    # bilinear resizing reproduces a linear ramp exactly away from the borders (the antialiasing
    # kernel of tf.image.resize, sampled on the pixel grid, to within a few hundredths of a pixel)
    xs = (x0 + np.arange(size) + 0.5) * w / new_w - 0.5
    ys = (y0 + np.arange(size) + 0.5) * h / new_h - 0.5
    np.testing.assert_allclose(out[..., 0] * w, np.tile(xs, (size, 1)), atol=tolerance_px)
    np.testing.assert_allclose(out[..., 1] * h, np.tile(ys[:, None], (1, size)), atol=tolerance_px)


def test_eval_view_rejects_a_ratio_below_one():
    with pytest.raises(ValueError, match="resize_ratio"):
        augment.eval_view(tf.zeros([8, 8, 3]), 8, resize_ratio=0.5)
