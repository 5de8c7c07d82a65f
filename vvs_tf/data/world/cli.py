"""vvs-world: write the embedded default world (stimuli, simulated recordings and behaviour, video).

Example: vvs-world --output=world --num_images=2560 --image_size=128
"""
from __future__ import annotations

import json
import sys

from absl import app, flags

from vvs_tf.data.world import checks, video
from vvs_tf.data.world.writer import write_world


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> list:
    """Define the CLI's flags and return their names (on the global FLAGS only when the program
    runs, so importing this module next to other vvs_tf programs never defines a flag twice)."""
    before = set(flag_values)
    kw = {"flag_values": flag_values}
    flags.DEFINE_string("output", None, "Directory to create (its parent must exist).", **kw)
    flags.DEFINE_integer("num_images", 2560, "Number of stimuli.", **kw)
    flags.DEFINE_integer("image_size", 128,
                         f"Image side in pixels, {checks.MIN_IMAGE_SIZE}..{checks.MAX_IMAGE_SIZE}.", **kw)
    flags.DEFINE_integer("seed", 0, "Seed of every random choice.", **kw)
    flags.DEFINE_integer("num_videos", 8, "Number of videos in the stream.", **kw)
    flags.DEFINE_integer("num_frames", 32, f"Frames per video (at least {video.MIN_FRAMES}).", **kw)
    flags.DEFINE_integer("num_repetitions", 10, "Simulated trials per stimulus and neuron (at least 2).", **kw)
    flags.DEFINE_integer("trials_per_image", 20, "Simulated 2AFC trials per image.", **kw)
    flags.DEFINE_list("categories", None, "Categories to include (default: all).", **kw)
    flags.DEFINE_list("variations", ["0", "3", "6"],
                      f"Variation levels to include, from {checks.VARIATION_LEVELS}.", **kw)
    flags.DEFINE_boolean("overwrite", False, "Replace an existing output directory.", **kw)
    flags.mark_flag_as_required("output", flag_values=flag_values)
    return sorted(set(flag_values) - before)


def main(argv, flag_values: flags.FlagValues = flags.FLAGS):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    f = flag_values
    try:
        variations = [int(v) for v in f.variations]
    except ValueError:
        sys.exit(f"vvs-world: error: --variations must be integers from {checks.VARIATION_LEVELS}, got {f.variations}")
    try:
        manifest = write_world(f.output, num_images=f.num_images, image_size=f.image_size, seed=f.seed,
                               num_videos=f.num_videos, num_frames=f.num_frames, num_repetitions=f.num_repetitions,
                               trials_per_image=f.trials_per_image, variations=variations, categories=f.categories,
                               overwrite=f.overwrite)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as error:
        sys.exit(f"vvs-world: error: {error}")
    print(json.dumps(manifest, indent=2))


def run():
    # --help lists the key flags of the program's main module (named by sys.argv[0]) under the
    # main module's docstring; the console-script wrapper has neither, so lend it this module's.
    for name in define_flags():
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    sys.modules["__main__"].__doc__ = __doc__
    app.run(main)


if __name__ == "__main__":
    run()
