"""Optimal stimuli (REFERENCE.md, analyses): the image that maximises one channel's spatially
averaged response.

The image is parameterised by its 2-D discrete Fourier transform, each frequency scaled by 1/f
(natural images' spectrum, so that plain gradient steps do not fill it with high-frequency noise),
and squashed into [0, 1] by a sigmoid. Adam (lr 0.05, 512 steps) follows the response through a
random jitter, scaling and rotation at every step, so the image cannot rely on pixel-exact
patterns. Several channels are optimised at once, one image each. Video networks (input
(T, H, W, 3)) see the image repeated over time, as the evaluators show them static stimuli.
"""
import math

import vvs_tf  # noqa: F401

import keras
import numpy as np
import tensorflow as tf


def frequency_scale(size: int) -> np.ndarray:
    """1 / max(f, 1/size) for the rfft2 frequencies of a size x size image: [size, size//2+1]."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    return (1.0 / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / size)).astype(np.float32)


def spectrum_to_images(spectrum, scale):
    """[B, 2, 3, S, S//2+1] real and imaginary parts -> images [B, S, S, 3] in (0, 1)."""
    coefficients = tf.complex(spectrum[:, 0] * scale, spectrum[:, 1] * scale)
    size = scale.shape[0]
    pixels = tf.signal.irfft2d(coefficients, fft_length=[size, size])  # [B, 3, S, S]
    # irfft2d divides by S^2; S / 4 brings unit-scale coefficients back to sigmoid inputs of O(1).
    return tf.sigmoid(tf.transpose(pixels, [0, 2, 3, 1]) * size / 4.0)


def random_transform(images, seed, jitter: int, scales, degrees: float):
    """Jitter (shift by up to `jitter` px), scale (factor in `scales`) and rotation (up to
    `degrees`), one draw per image, borders filled by reflection; same size out."""
    batch, size = tf.shape(images)[0], images.shape[1]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    angle = tf.random.stateless_uniform([batch], seeds[0], -1.0, 1.0) * degrees * math.pi / 180
    zoom = tf.random.stateless_uniform([batch], seeds[1], scales[0], scales[1])
    shift = tf.random.stateless_uniform([batch, 2], seeds[2], -1.0, 1.0) * jitter
    # The output-to-input map of each image: rotate and scale about the centre, then shift.
    centre = (size - 1) / 2.0
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    x0 = centre - cos * centre + sin * centre + shift[:, 0]
    y0 = centre - sin * centre - cos * centre + shift[:, 1]
    zeros = tf.zeros_like(cos)
    transforms = tf.stack([cos, -sin, x0, sin, cos, y0, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[size, size],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")


def optimal_stimuli(network, layer: str, channels, size: int = None, steps: int = 512,
                    learning_rate: float = 0.05, jitter: int = 8, scales=(0.9, 1.1),
                    degrees: float = 10.0, seed: int = 0):
    """(images [len(channels), S, S, 3] in [0, 1], final responses [len(channels)]) maximising
    the spatially averaged response of each of `channels` of `layer`.

    network: a Keras network returning a dict of read-outs (an objective's activation_network());
    size: the image size (the network's input size by default).
    """
    input_shape = tuple(network.input_shape[1:])
    size = size or input_shape[-2]
    if size is None:
        raise ValueError("the network takes any image size: pass size=")
    if layer not in network.output:
        raise ValueError(f"unknown layer {layer!r}; the network has {sorted(network.output)}")
    channels = np.asarray(channels, np.int32)
    available = int(network.output[layer].shape[-1])
    if channels.ndim != 1 or len(channels) == 0 or channels.min() < 0 or channels.max() >= available:
        raise ValueError(f"channels must be a non-empty list in [0, {available}), got {channels}")
    frames = input_shape[0] if len(input_shape) == 4 else None
    scale = tf.constant(frequency_scale(size))
    init = np.random.default_rng(seed).normal(0, 0.01, (len(channels), 2, 3, size, size // 2 + 1))
    spectrum = tf.Variable(init.astype(np.float32))
    optimizer = keras.optimizers.Adam(learning_rate)
    targets = tf.stack([tf.range(len(channels)), channels], axis=1)  # (image b, its channel)

    def responses(images):
        if frames is not None:
            images = tf.repeat(images[:, None], frames, axis=1)
        activation = tf.cast(network(images, training=False)[layer], tf.float32)
        pooled = tf.reduce_mean(activation, axis=list(range(1, activation.shape.rank - 1)))
        return tf.gather_nd(pooled, targets)

    @tf.function
    def step(seed):
        with tf.GradientTape() as tape:
            images = random_transform(spectrum_to_images(spectrum, scale), seed, jitter, scales,
                                      degrees)
            loss = -tf.reduce_sum(responses(images))
        optimizer.apply_gradients([(tape.gradient(loss, spectrum), spectrum)])

    for k in range(steps):
        step(tf.constant([seed, k], tf.int64))
    images = spectrum_to_images(spectrum, scale)
    return images.numpy(), responses(images).numpy()
