"""Backbones and heads; `build_backbone` turns a config's `model` block into a network."""
from vvs_tf.models.readouts import READOUT_LAYERS, readout_layers  # noqa: F401


def build_backbone(model_config, channels: int = 3, name: str = None):
    """The backbone a config asks for (`model.kind`, depth, width, input_size; `frames` for the
    video networks "resnet3d" and "prednet")."""
    from vvs_tf.models import resnet

    kind = model_config.get("kind", "resnet")
    if kind not in ("resnet", "resnet3d", "prednet"):
        raise ValueError(f"unknown backbone kind {kind!r}; known: 'resnet', 'resnet3d', 'prednet'")
    if kind == "prednet":  # `depth` counts its modules
        from vvs_tf.models.prednet import build_prednet

        return build_prednet(width=model_config.width, modules=model_config.depth,
                             frames=int(model_config.frames), input_size=model_config.input_size,
                             name=name)
    mean, std = (resnet.IMAGENET_MEAN, resnet.IMAGENET_STD) if channels == 3 else (
        (0.5,) * channels, (0.25,) * channels)
    return resnet.build_resnet(
        depth=model_config.depth, width=model_config.width, input_size=model_config.input_size,
        channels=channels, mean=mean, std=std, name=name,
        sync_bn=model_config.get("sync_batchnorm", False),
        patch_kernel_grad=uses_patch_kernel_grad(model_config),
        frames=int(model_config.frames) if kind == "resnet3d" else None,
    )


def uses_patch_kernel_grad(model_config) -> bool:
    """`model.kernel_grad`: "patches", "native", or "auto" (patches when no GPU is visible; older
    workdirs without the field count as "auto")."""
    kernel_grad = model_config.get("kernel_grad", "auto")
    if kernel_grad == "auto":
        import tensorflow as tf

        return not tf.config.list_physical_devices("GPU")
    return kernel_grad == "patches"
