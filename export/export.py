"""vvs-export: write a trained (or untrained) backbone as a versioned activation SavedModel.

  vvs-export --workdir=TRAIN_DIR --output=BASE/NAME [--version=N]
  vvs-export --untrained --depth=18 --width=64 --input_size=224 --seed=0 --output=BASE/NAME

The result, BASE/NAME/<version>/, is what TF Serving and vvs-serve watch and what the evaluators
load; its signatures and assets are described in vvs_tf/exporting.py.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import os

from absl import app, flags, logging


def define_flags(flag_values=flags.FLAGS):
    """The binary's flags, defined only when it runs (importing this module defines none, so
    vvs-main or tests can use the functions below next to other binaries' flags)."""
    flags.DEFINE_string("workdir", None, "Training workdir (holds config.json and checkpoints).",
                        flag_values=flag_values)
    flags.DEFINE_string("output", None, "Model directory BASE/NAME; versions go below it.",
                        flag_values=flag_values)
    flags.DEFINE_integer("version", None, "Version number (default: one above the highest).",
                         flag_values=flag_values)
    flags.DEFINE_bool("untrained", False, "Export a randomly initialised ResNet (negative control).",
                      flag_values=flag_values)
    flags.DEFINE_integer("depth", 18, "ResNet depth for --untrained.", flag_values=flag_values)
    flags.DEFINE_integer("width", 64, "ResNet stem width for --untrained.", flag_values=flag_values)
    flags.DEFINE_integer("input_size", None,
                         "Square input size fixed in the signatures (default: the backbone's; "
                         "224 for --untrained).", flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "Initialisation seed for --untrained.", flag_values=flag_values)
    flags.DEFINE_list("layers", None, "Read-outs to export (default: all of the backbone's).",
                      flag_values=flag_values)


def untrained_backbone(depth: int, width: int, input_size: int, seed: int):
    """A randomly initialised ResNet and the config that reproduces it."""
    import keras

    from vvs_tf.models.resnet import build_resnet

    keras.utils.set_random_seed(seed)
    backbone = build_resnet(depth=depth, width=width, input_size=input_size,
                            name=f"resnet{depth}_untrained")
    config = {"method": "untrained", "model": {"depth": depth, "width": width},
              "input_size": input_size, "seed": seed}
    return backbone, config


def trained_backbone(workdir: str):
    """The backbone restored from a training workdir's latest checkpoint, with its config."""
    from vvs_tf.checkpointing import restore_backbone  # needs the objectives: import on use

    return restore_backbone(workdir)


def _fixed_input_shape(backbone, input_size):
    if not input_size:
        return None
    shape = backbone.inputs[0].shape
    frames = (shape[1],) if len(shape) == 5 else ()
    return (*frames, input_size, input_size, int(shape[-1]))


def export_workdir(workdir: str, output: str, version: int = None, input_size: int = None,
                   layers=None) -> str:
    """Export the trained backbone of a training workdir to output/<version>; returns the path."""
    from vvs_tf.exporting import export_activation_model

    backbone, config = trained_backbone(workdir)
    config = {**config, "workdir": os.path.abspath(workdir)}
    image_size = (config.get("data") or {}).get("image_size")
    return export_activation_model(
        backbone, output, version=version, layers=layers,
        input_shape=_fixed_input_shape(backbone, input_size), config=config,
        preprocessing={"training_image_size": image_size} if image_size else None,
    )


def export_untrained(output: str, depth: int = 18, width: int = 64, input_size: int = 224,
                     seed: int = 0, version: int = None, layers=None) -> str:
    """Export a randomly initialised ResNet (the negative control); returns the path."""
    from vvs_tf.exporting import export_activation_model

    backbone, config = untrained_backbone(depth, width, input_size, seed)
    return export_activation_model(backbone, output, version=version, layers=layers, config=config)


def export_from_flags(flag_values=flags.FLAGS) -> str:
    fv = flag_values
    if not fv.output:
        raise app.UsageError("--output=BASE/NAME is required")
    if fv.untrained == bool(fv.workdir):
        raise app.UsageError("give exactly one of --workdir=TRAIN_DIR or --untrained")
    if fv.untrained:
        return export_untrained(fv.output, fv.depth, fv.width, fv.input_size or 224, fv.seed,
                                fv.version, fv.layers)
    return export_workdir(fv.workdir, fv.output, fv.version, fv.input_size, fv.layers)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    path = export_from_flags(flags.FLAGS)
    logging.info("exported %s", path)
    print(path, flush=True)


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
