"""The one config schema every experiment fills in (ml_collections), with validation.

Config files under configs/ start from ``base_config(method)`` and change fields; ``--config.x=y``
overrides any field and an unknown key fails with its name (ConfigDicts are locked).
"""
import json

import ml_collections

def base_config(method: str) -> ml_collections.ConfigDict:
    """Defaults shared by all methods: the ImageNet-scale ResNet-18 recipe of the paper."""
    c = ml_collections.ConfigDict()
    c.method = method
    c.seed = 0
    c.data = ml_collections.ConfigDict(dict(
        source="embedded",  # embedded | tfds:<name> | folder:<path> | tfrecord:<glob> | frames:<metafile>
        validation_source="",  # empty: the source's validation split
        train_split="train",
        validation_split="validation",
        data_dir="",  # tfds data_dir
        image_size=224,
        num_images=2560,  # embedded world only
        world_image_size=64,  # embedded world render size (crops are taken from it)
        variations=(0, 3, 6),  # embedded world HvM variation levels
        validation_fraction=0.1,  # embedded world images held out for validation
        shuffle_buffer=10000,
        cache_dir="",
        strict=False,  # fail on corrupt images instead of skipping them
        autotune=False,  # tf.data model autotuning (see data.pipeline.make_dataset: epoch-end stalls)
    ))
    from vvs_tf.objectives.registry import get_objective_class

    objective_class = get_objective_class(method)
    c.model = ml_collections.ConfigDict(dict(
        kind="resnet", depth=18, width=64, input_size=224,
        sync_batchnorm=False,  # BN statistics over the global batch across replicas
        # Kernel gradient of convolutions with many weights per output position (late stages):
        # "patches" (one matmul, up to 6x faster than oneDNN's on CPU; models/conv.py),
        # "native" (TensorFlow's), or "auto" (patches when no GPU is visible).
        kernel_grad="auto",
    ))
    c.model.update(objective_class.model_defaults)  # e.g. the video network of VIE
    c.data.update(objective_class.data_defaults)
    c.objective = ml_collections.ConfigDict(dict(objective_class.defaults))
    c.optimizer = ml_collections.ConfigDict(dict(
        name="sgd", lr=0.03, momentum=0.9, nesterov=False, weight_decay=1e-4,
        schedule="step",  # step | cosine | constant
        lr_drop_epochs=(160, 190), lr_drop_factor=0.1, warmup_epochs=0,
    ))
    c.train = ml_collections.ConfigDict(dict(
        batch_size=128, epochs=200, steps_per_epoch=0,  # 0: one pass over the data
        warm_start="",  # workdir of a run whose backbone/head/bank initialise this one (LA <- IR)
        checkpoint_every_epochs=1, keep_checkpoints=3, log_every_steps=50,
    ))
    c.runtime = ml_collections.ConfigDict(dict(
        strategy="auto",  # auto | mirrored | one_device | multi_worker
        num_devices=0,  # 0: all visible GPUs (or the CPU)
        precision="float32",  # float32 | mixed_float16 | mixed_bfloat16
        jit_compile=False,
        deterministic=False,
    ))
    c.monitor = ml_collections.ConfigDict(dict(knn_k=200, knn_tau=0.07, knn_every_epochs=1))
    return c


def tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks a config to the embedded world at 32 px with a width-16 ResNet-18 (CPU minutes)."""
    c.data.source = "embedded"
    c.data.num_images = 2048
    c.data.world_image_size = 40
    c.data.image_size = 32
    c.data.shuffle_buffer = 2048
    c.model.width = 16
    c.model.input_size = 32
    c.train.batch_size = 64
    c.train.log_every_steps = 10
    return c


def tiny_video(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """tiny() for video objectives: clips of the embedded world's video stream (116 training
    videos of 24 frames, 12 held out), 16 clips a batch."""
    c = tiny(c)
    c.data.source = "embedded_video"
    c.data.shuffle_buffer = 128
    c.train.batch_size = 16
    return c


KERNEL_GRADS = ("auto", "patches", "native")


def validate(c: ml_collections.ConfigDict) -> None:
    """Checks that do not need data or devices; raises ValueError naming the field."""
    if c.train.batch_size <= 0:
        raise ValueError(f"train.batch_size must be positive, got {c.train.batch_size}")
    if c.train.epochs < 0:
        raise ValueError(f"train.epochs must be >= 0, got {c.train.epochs}")
    if c.runtime.precision not in ("float32", "mixed_float16", "mixed_bfloat16"):
        raise ValueError(f"runtime.precision {c.runtime.precision!r} is not one of "
                         "float32, mixed_float16, mixed_bfloat16")
    if c.model.kernel_grad not in KERNEL_GRADS:
        raise ValueError(f"model.kernel_grad {c.model.kernel_grad!r} is not one of {KERNEL_GRADS}")
    if c.optimizer.schedule not in ("step", "cosine", "constant"):
        raise ValueError(f"optimizer.schedule {c.optimizer.schedule!r} is not step/cosine/constant")
    if c.data.image_size > c.data.world_image_size and c.data.source == "embedded":
        raise ValueError(f"data.image_size={c.data.image_size} exceeds the embedded world's "
                         f"render size data.world_image_size={c.data.world_image_size}")


def steps_per_epoch(c: ml_collections.ConfigDict, num_examples: int) -> int:
    """Optimizer steps in one epoch: `train.steps_per_epoch`, or one pass over the examples in
    whole batches."""
    return int(c.train.steps_per_epoch or num_examples // c.train.batch_size)


def to_json(c: ml_collections.ConfigDict) -> str:
    return json.dumps(c.to_dict(), indent=2, sort_keys=True, default=list)


def from_json(text: str) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(json.loads(text))
