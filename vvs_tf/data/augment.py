"""Image augmentations as pure TensorFlow ops, seeded per example (stateless), for tf.data or a device.

Images are float32 in [0, 1], shaped [..., H, W, C]. Every leading dimension (the frames of a clip,
say) gets the *same* random draw, so a clip is augmented consistently. Channels after the first three
(an aligned depth map, say) follow the geometric ops (crop, resize, flip) and are left alone by the
photometric ones (colour, grayscale, blur). ``seed`` is a stateless seed, an int tensor of shape [2];
the same image and seed always give the same output.

Colour jitter follows torchvision's ColorJitter (multiplicative brightness, contrast towards the mean
grey level, saturation towards the grey image, hue rotation; clamped after each step), which the
PyTorch Local Aggregation code used; the random resized crop follows torchvision's
RandomResizedCrop (10 attempts, then a centre crop at the nearest allowed aspect ratio).
"""
from __future__ import annotations

import math

import tensorflow as tf

_LUMA = (0.2989, 0.5870, 0.1140)  # ITU-R 601-2, as tf.image.rgb_to_grayscale and PIL


def split_seed(seed, num: int) -> tf.Tensor:
    """``num`` independent stateless seeds [num, 2] from one."""
    return tf.random.experimental.stateless_split(tf.convert_to_tensor(seed), num)


def _uniform(seed, shape=(), low=0.0, high=1.0) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def _on_rgb(image: tf.Tensor, fn) -> tf.Tensor:
    """Apply a photometric op to the first three channels only."""
    channels = image.shape[-1]
    if channels is None:
        raise ValueError("augment: the channel dimension of the image must be known statically")
    if channels == 3:
        return fn(image)
    return tf.concat([fn(image[..., :3]), image[..., 3:]], axis=-1)


def resize(image: tf.Tensor, height, width, antialias: bool = True) -> tf.Tensor:
    """Bilinear resize of [..., H, W, C] (any number of leading dims), antialiased when shrinking.

    The antialiasing kernel (tf.image's ScaleAndTranslate) costs ~3x plain bilinear and changes
    nothing when enlarging, so it only runs when a side shrinks.
    """
    image = tf.convert_to_tensor(image)
    shape = tf.shape(image)
    flat = tf.reshape(image, tf.concat([[-1], shape[-3:]], 0))
    size = tf.stack([height, width])
    plain = lambda: tf.image.resize(flat, size, method="bilinear")  # noqa: E731
    if antialias:
        shrinks = tf.reduce_any(shape[-3:-1] > size)
        out = tf.cond(shrinks, lambda: tf.image.resize(flat, size, method="bilinear", antialias=True), plain)
    else:
        out = plain()
    out = tf.reshape(out, tf.concat([shape[:-3], tf.shape(out)[1:]], 0))
    static = lambda v: v if isinstance(v, int) else tf.get_static_value(v)  # noqa: E731
    out.set_shape(image.shape[:-3].concatenate([static(height), static(width), image.shape[-1]]))
    return out


def random_resized_crop(image: tf.Tensor, size: int, seed, area=(0.2, 1.0), ratio=(3 / 4, 4 / 3),
                        attempts: int = 10, antialias: bool = True) -> tf.Tensor:
    """Crop a random box of ``area`` fraction of the image and aspect (w/h) in ``ratio``; resize to size.

    Like torchvision: up to ``attempts`` (area, log-uniform aspect) draws, the first that fits wins;
    if none fits, the largest centred box with the aspect clamped into ``ratio``.
    """
    image = tf.convert_to_tensor(image)
    shape = tf.shape(image)
    h_img, w_img = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
    box_seed, pos_seed = tf.unstack(split_seed(seed, 2))
    u = _uniform(box_seed, [2, attempts])
    target = (area[0] + (area[1] - area[0]) * u[0]) * h_img * w_img
    aspect = tf.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1])
    w, h = tf.round(tf.sqrt(target * aspect)), tf.round(tf.sqrt(target / aspect))
    fits = (w >= 1) & (w <= w_img) & (h >= 1) & (h <= h_img)
    first = tf.argmax(tf.cast(fits, tf.int32))
    image_aspect = w_img / h_img
    fallback_w = tf.where(image_aspect > ratio[1], tf.round(h_img * ratio[1]), w_img)
    fallback_h = tf.where(image_aspect < ratio[0], tf.round(w_img / ratio[0]), h_img)
    any_fits = tf.reduce_any(fits)
    crop_h = tf.where(any_fits, h[first], fallback_h)
    crop_w = tf.where(any_fits, w[first], fallback_w)
    u_pos = _uniform(pos_seed, [2])
    free_h, free_w = h_img - crop_h, w_img - crop_w
    y0 = tf.where(any_fits, tf.minimum(tf.floor(u_pos[0] * (free_h + 1)), free_h), tf.floor(free_h / 2))
    x0 = tf.where(any_fits, tf.minimum(tf.floor(u_pos[1] * (free_w + 1)), free_w), tf.floor(free_w / 2))
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    crop_h, crop_w = tf.cast(crop_h, tf.int32), tf.cast(crop_w, tf.int32)
    crop = image[..., y0:y0 + crop_h, x0:x0 + crop_w, :]
    return resize(crop, size, size, antialias)


def random_flip(image: tf.Tensor, seed, p: float = 0.5) -> tf.Tensor:
    """Mirror left-right with probability p."""
    return random_apply(image, seed, p, lambda x: tf.reverse(x, axis=[-2]))


def random_apply(image: tf.Tensor, seed, p: float, fn) -> tf.Tensor:
    """fn(image) with probability p, else the image (fn is only run when chosen)."""
    return tf.cond(_uniform(seed) < p, lambda: fn(image), lambda: tf.identity(image))


def _luminance(rgb: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(rgb * tf.constant(_LUMA, rgb.dtype), -1, keepdims=True)


def to_grayscale(image: tf.Tensor) -> tf.Tensor:
    """Luminance, repeated into three channels (extra channels kept)."""
    return _on_rgb(image, lambda rgb: tf.repeat(_luminance(rgb), 3, axis=-1))


def random_grayscale(image: tf.Tensor, seed, p: float = 0.2) -> tf.Tensor:
    return random_apply(image, seed, p, to_grayscale)


def _blend(image: tf.Tensor, other: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(other + factor * (image - other), 0.0, 1.0)


def color_jitter(image: tf.Tensor, seed, strength: float = 0.4, hue: float | None = None,
                 random_order: bool = True) -> tf.Tensor:
    """Brightness, contrast and saturation factors uniform in [1 - strength, 1 + strength] (>= 0) and a
    hue rotation uniform in [-hue, hue] turns (hue defaults to strength), in a random order."""
    hue = strength if hue is None else hue
    factor_seed, order_seed = tf.unstack(split_seed(seed, 2))
    u = _uniform(factor_seed, [4])
    low = max(0.0, 1.0 - strength)
    brightness, contrast, saturation = tf.unstack(low + (1.0 + strength - low) * u[:3])
    hue_delta = hue * (2.0 * u[3] - 1.0)
    steps = (
        lambda x: tf.clip_by_value(x * brightness, 0.0, 1.0),
        lambda x: _blend(x, tf.reduce_mean(_luminance(x), axis=[-3, -2, -1], keepdims=True), contrast),
        lambda x: _blend(x, _luminance(x), saturation),
        lambda x: tf.image.adjust_hue(x, hue_delta),
    )

    def jitter(rgb):
        order = tf.argsort(_uniform(order_seed, [4])) if random_order else tf.range(4)

        def step(k, x):  # one switch in a loop: a quarter of the graph of four unrolled switches
            return k + 1, tf.switch_case(order[k], [lambda f=f: f(x) for f in steps])

        return tf.while_loop(lambda k, x: k < 4, step, (tf.constant(0), rgb))[1]

    return _on_rgb(image, jitter)


def gaussian_blur(image: tf.Tensor, seed, sigma=(0.1, 2.0), kernel_size: int | None = None) -> tf.Tensor:
    """Separable Gaussian blur with sigma uniform in ``sigma``; kernel ~10% of the image side (SimCLR),
    reflect padding."""
    height = image.shape[-3]
    if kernel_size is None:
        if height is None:
            raise ValueError("gaussian_blur: pass kernel_size when the image height is not static")
        kernel_size = max(height // 10, 1)
    radius = kernel_size // 2
    s = _uniform(seed, [], sigma[0], sigma[1])
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-tf.square(x) / (2.0 * tf.square(s)))
    kernel /= tf.reduce_sum(kernel)

    def blur(rgb):
        shape = tf.shape(rgb)
        flat = tf.reshape(rgb, tf.concat([[-1], shape[-3:]], 0))
        flat = tf.pad(flat, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
        column = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, 3, 1])
        flat = tf.nn.depthwise_conv2d(flat, column, [1, 1, 1, 1], "VALID")
        flat = tf.nn.depthwise_conv2d(flat, tf.reshape(column, [1, -1, 3, 1]), [1, 1, 1, 1], "VALID")
        return tf.reshape(flat, shape)

    return _on_rgb(image, blur)


# ----------------------------------------------------------------------------------------- recipes

def ir_la_view(image: tf.Tensor, size: int, seed) -> tf.Tensor:
    """Instance Recognition / Local Aggregation: crop (area 0.2-1, aspect 3/4-4/3), grayscale p=0.2,
    colour jitter 0.4 (hue 0.4) in random order, horizontal flip (the order of the LA code)."""
    crop, gray, jitter, flip = tf.unstack(split_seed(seed, 4))
    x = random_resized_crop(image, size, crop, area=(0.2, 1.0))
    x = random_grayscale(x, gray, p=0.2)
    x = color_jitter(x, jitter, strength=0.4, hue=0.4)
    return random_flip(x, flip)


def simclr_view(image: tf.Tensor, size: int, seed, strength: float = 1.0, blur: bool = True) -> tf.Tensor:
    """SimCLR: crop (area 0.08-1), flip, colour jitter (0.8s, hue 0.2s) with p=0.8, grayscale p=0.2,
    Gaussian blur (sigma 0.1-2, kernel 10% of the side) with p=0.5."""
    crop, flip, jitter_p, jitter, gray, blur_p, blur_seed = tf.unstack(split_seed(seed, 7))
    x = random_resized_crop(image, size, crop, area=(0.08, 1.0))
    x = random_flip(x, flip)
    x = random_apply(x, jitter_p, 0.8, lambda v: color_jitter(v, jitter, 0.8 * strength, 0.2 * strength))
    x = random_grayscale(x, gray, p=0.2)
    if blur:
        x = random_apply(x, blur_p, 0.5, lambda v: gaussian_blur(v, blur_seed))
    return x


def crop_flip_view(image, size, seed):
    """Geometry only (random resized crop, area 0.2-1, and flip), for methods whose targets are the
    colours themselves (colorization, CMC's L/ab split): colour jitter would falsify them."""
    crop, flip = tf.unstack(split_seed(seed, 2))
    return random_flip(random_resized_crop(image, size, crop, area=(0.2, 1.0)), flip)


def eval_view(image: tf.Tensor, size: int, resize_ratio: float = 256 / 224, antialias: bool = True) -> tf.Tensor:
    """Resize the shorter side to round(size * resize_ratio) (the longer side scaled and floored, as
    torchvision), then take the centre size x size crop (offsets floored)."""
    target = round(size * resize_ratio)
    if target < size:
        raise ValueError(f"eval_view: resize_ratio={resize_ratio} gives a shorter side {target} < crop {size}")
    shape = tf.shape(image)
    h, w = shape[-3], shape[-2]
    short = tf.minimum(h, w)
    scaled = lambda side: tf.where(side == short, target, side * target // short)  # noqa: E731
    new_h, new_w = scaled(h), scaled(w)
    resized = resize(image, new_h, new_w, antialias)
    y0, x0 = (new_h - size) // 2, (new_w - size) // 2
    out = resized[..., y0:y0 + size, x0:x0 + size, :]
    out.set_shape(image.shape[:-3].concatenate([size, size, image.shape[-1]]))
    return out
