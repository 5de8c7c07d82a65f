"""Kernel gradient of a 3x3 (or 1x1) convolution: TensorFlow's kernel (oneDNN on CPU) against
vvs_tf.models.conv's patches^T @ upstream, on the feature maps of ResNet-18's stages.

    python benchmarks/conv_kernel_grad.py [--batch_size=128] [--repeats=11]

Prints one row per shape with both median times, the kernel weights per output position, and
whether models.conv's Conv2D takes the patch path for it (MIN_WEIGHTS_PER_POSITION); the rule
was read off this table.
"""

import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf
from absl import app, flags

from timing import median_ms
from vvs_tf.models.conv import Conv2D, kernel_gradient_by_patches

FLAGS = flags.FLAGS

# (input map, in channels, out channels, kernel, stride): ResNet-18's stages at 32, 64 and 224 px.
SHAPES = [
    (1, 128, 128, 3, 1), (2, 128, 128, 3, 1), (2, 256, 256, 3, 1), (2, 512, 512, 3, 1),
    (4, 256, 512, 3, 2), (4, 256, 512, 1, 2), (4, 256, 256, 3, 1), (8, 128, 128, 3, 1),
    (16, 64, 64, 3, 1), (7, 512, 512, 3, 1), (14, 256, 256, 3, 1),
    (2, 64, 64, 3, 1), (4, 128, 128, 3, 1), (8, 256, 256, 3, 1), (8, 512, 512, 3, 1),
    (4, 128, 256, 3, 2), (8, 128, 256, 3, 2), (14, 512, 512, 3, 2),
]


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    batch = FLAGS.batch_size
    print(f"batch {batch}, devices={[d.name for d in tf.config.list_logical_devices()]}")
    print(f"{'map':>5} {'in':>4} {'out':>4} {'k':>2} {'s':>2} {'TF ms':>8} {'patches ms':>11} "
          f"{'speed-up':>9} {'weights/pos':>12} {'used':>5}")
    for size, cin, cout, k, s in SHAPES:
        x = tf.constant(rng.standard_normal((batch, size, size, cin), dtype=np.float32))
        out = -(-size // s)
        upstream = tf.constant(rng.standard_normal((batch, out, out, cout), dtype=np.float32))
        native = median_ms(lambda x, dy: tf.compat.v1.nn.conv2d_backprop_filter(
            x, [k, k, cin, cout], dy, [1, s, s, 1], "SAME"), x, upstream, repeats=FLAGS.repeats)
        patches = median_ms(lambda x, dy: kernel_gradient_by_patches(
            x, dy, (k, k, cin, cout), (s, s), "SAME"), x, upstream, repeats=FLAGS.repeats)
        per_position = k * k * cin * cout // (out * out)
        layer = Conv2D(cout, k, strides=s, padding="same", patch_kernel_grad=True)
        used = "yes" if layer.uses_patch_gradient((batch, size, size, cin)) else "no"
        print(f"{f'{size}x{size}':>5} {cin:>4} {cout:>4} {k:>2} {s:>2} {native:>8.1f} {patches:>11.1f} "
              f"{native / patches:>8.2f}x {per_position:>12} {used:>5}", flush=True)


if __name__ == "__main__":
    flags.DEFINE_integer("batch_size", 128, "Batch (per replica).")
    flags.DEFINE_integer("repeats", 11, "Timed calls per shape (median).")
    app.run(main)
