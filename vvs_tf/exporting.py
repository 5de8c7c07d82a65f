"""Export a backbone as an "activation model": a SavedModel whose signatures return named read-outs.

The export is what leaves the training code: evaluators, TF Serving and other labs load it without
any vvs_tf code. Layout and signatures (``BASE/NAME/<version>/``, the directory TF Serving watches):

* ``serving_default``      images -> {"embedding": [B, D]} (pooled last read-out, or a given head)
* ``activations``          images -> {signature key: activation} for every read-out
* ``layer_<key>``          images -> {key: activation}, one read-out only
* ``activations_encoded``  image_bytes (JPEG/PNG strings) -> every read-out
* ``serving_encoded``      image_bytes -> {"embedding": ...}
* ``readouts``             anything -> {"readouts_json": the assets' JSON}; lets TF Serving clients,
                           which only see signatures, learn the dotted layer names and their order.

``images`` are float32 in [0, 1], [B, H, W, C] (video: [B, T, H, W, C]); the model normalises them
itself. Signature keys cannot contain '.', so "layer1.0" is served as "layer1_0"; the mapping, the
layer order, input shape, preprocessing and training config are in ``assets/readouts.json``.
A version is written to a hidden temporary sibling and renamed into place, so a watcher (TF Serving,
vvs-serve) never sees a half-written export.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid

import keras
import numpy as np
import tensorflow as tf

EXPORT_FORMAT = "vvs_tf.activations/1"
ASSET_NAME = "readouts.json"
IMAGES_INPUT = "images"
ENCODED_INPUT = "image_bytes"
EMBEDDING_OUTPUT = "embedding"
READOUTS_OUTPUT = "readouts_json"
LAYER_SIGNATURE_PREFIX = "layer_"
TEMP_PREFIX = ".tmp-"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def signature_key(layer: str) -> str:
    """The signature-safe key of a read-out name ("layer1.0" -> "layer1_0")."""
    key = re.sub(r"[^0-9A-Za-z_]", "_", layer)
    if not key or not key[0].isalpha():
        key = "l_" + key
    return key


def signature_keys(layers) -> dict:
    """{dotted name: key} for a list of read-outs; raises if two names collapse onto one key."""
    keys = {name: signature_key(name) for name in layers}
    if len(set(keys.values())) != len(keys):
        raise ValueError(f"read-out names collide once '.' is replaced by '_': {keys}")
    return keys


def version_dirs(model_dir: str) -> list:
    """Integer version directories under a model directory, ascending (temp dirs are skipped)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry) for entry in os.listdir(model_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry))
    )


def next_version(model_dir: str) -> int:
    """One more than the highest existing version (1 for an empty or missing directory)."""
    versions = version_dirs(model_dir)
    return versions[-1] + 1 if versions else 1


def _backbone_input_shape(backbone) -> tuple:
    try:
        shape = backbone.inputs[0].shape
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return tuple(None if d is None else int(d) for d in shape[1:])


def _resolve_input_shape(backbone, input_shape) -> tuple:
    built = _backbone_input_shape(backbone)
    if input_shape is None:
        if built is None:
            raise ValueError(
                "the backbone has no symbolic input; pass input_shape=(H, W, C) or (T, H, W, C)"
            )
        input_shape = built
    input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(input_shape) not in (3, 4):
        raise ValueError(f"input_shape must be (H, W, C) or (T, H, W, C), got {input_shape}")
    if input_shape[-1] is None:
        raise ValueError(f"input_shape needs a fixed channel count, got {input_shape}")
    if built is not None:
        if len(built) != len(input_shape) or any(
            b is not None and b != d for b, d in zip(built, input_shape)
        ):
            raise ValueError(
                f"input_shape {input_shape} does not fit the backbone's input {built}"
            )
    return input_shape


def _output_order(backbone, layers) -> tuple:
    try:
        outputs = backbone.output
    except (AttributeError, ValueError):
        outputs = None
    if not isinstance(outputs, dict):
        if layers is None:
            raise ValueError(
                "the backbone has no symbolic dict output to list read-outs from; pass layers=[...]"
            )
        return tuple(layers)
    available = tuple(outputs)
    if layers is None:
        return available
    missing = [name for name in layers if name not in available]
    if missing:
        raise ValueError(f"layers {missing} are not outputs of the backbone (it has {available})")
    return tuple(layers)


def _readout_model(backbone, names):
    """A callable images -> {name: activation} for the chosen read-outs.

    A functional backbone is cut into a sub-model sharing its layers (so exporting a subset does
    not compute the rest); any other model is called whole and its dict filtered.
    """
    try:
        sub = keras.Model(backbone.inputs, {n: backbone.output[n] for n in names})
        return lambda images: sub(images, training=False)
    except (AttributeError, ValueError, TypeError, KeyError):
        def call(images):
            out = backbone(images, training=False)
            if not isinstance(out, dict):
                raise ValueError(f"the backbone must return a dict of read-outs, got {type(out)}")
            return {n: out[n] for n in names}
        return call


def spatial_mean(activation):
    """Average every axis between batch and channels: [B, ..., C] -> [B, C]."""
    rank = activation.shape.rank
    return activation if rank == 2 else tf.reduce_mean(activation, axis=list(range(1, rank - 1)))


def decode_images(encoded, input_shape):
    """JPEG/PNG/GIF/BMP strings [B] (video [B, T]) -> float32 in [0, 1], resized to input_shape."""
    height, width, channels = input_shape[-3:]
    flat = tf.reshape(encoded, [-1])

    def decode_one(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False, dtype=tf.float32)
        if height is not None and width is not None:
            image = tf.image.resize(image, [height, width], method="bilinear", antialias=True)
            image = tf.clip_by_value(image, 0.0, 1.0)
        return image

    images = tf.map_fn(
        decode_one, flat, fn_output_signature=tf.TensorSpec([height, width, channels], tf.float32)
    )
    return tf.reshape(images, tf.concat([tf.shape(encoded), tf.shape(images)[1:]], axis=0))


def _normalisation_of(backbone) -> dict:
    """Mean/std of the backbone's own input normalisation layer, if it has one named 'normalize'."""
    try:
        layer = backbone.get_layer("normalize")
        mean = np.asarray(layer.mean, np.float64).reshape(-1)
        std = np.sqrt(np.asarray(layer.variance, np.float64).reshape(-1))
    except (AttributeError, ValueError, TypeError):
        return {}
    return {"mean": [round(float(m), 7) for m in mean], "std": [round(float(s), 7) for s in std]}


def weights_fingerprint(*models) -> str:
    """sha256 of the models' weights, in order: it names the exported network (caches of
    activations key on it, whatever server or path the export is reached through)."""
    digest = hashlib.sha256()
    for model in models:
        for weight in getattr(model, "weights", ()):
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def _jsonable(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


class _ActivationExport(tf.Module):
    """What the SavedModel's object graph holds: the backbone, an optional head and the assets."""

    def __init__(self, backbone, embedding_fn, asset_path):
        super().__init__(name="activation_model")
        self.backbone = backbone
        if isinstance(embedding_fn, (tf.Module, keras.layers.Layer)):
            self.embedding_model = embedding_fn
        self.readouts_asset = tf.saved_model.Asset(asset_path)


def _build_signatures(backbone, layers, keys, input_shape, embedding_fn):
    """Concrete functions of every signature. The backbone is traced once, into one inner
    function that all signatures call; TF's graph optimiser inlines it and prunes what a
    signature does not return, so a one-layer signature only runs the layers it needs."""
    images_spec = tf.TensorSpec([None, *input_shape], tf.float32, name=IMAGES_INPUT)
    encoded_spec = tf.TensorSpec([None] * (len(input_shape) - 2), tf.string, name=ENCODED_INPUT)
    readout = _readout_model(backbone, layers)

    @tf.function(input_signature=[images_spec])
    def activations(images):
        return {keys[n]: tf.cast(a, tf.float32) for n, a in readout(images).items()}

    def embedding(images):
        if embedding_fn is not None:
            return {EMBEDDING_OUTPUT: tf.cast(embedding_fn(images), tf.float32)}
        return {EMBEDDING_OUTPUT: spatial_mean(activations(images)[keys[layers[-1]]])}

    def on_images(fn):
        return tf.function(fn, input_signature=[images_spec]).get_concrete_function()

    def on_encoded(fn):
        return tf.function(
            lambda image_bytes: fn(decode_images(image_bytes, input_shape)),
            input_signature=[encoded_spec],
        ).get_concrete_function()

    signatures = {
        "serving_default": on_images(embedding),
        "activations": on_images(activations),
        "activations_encoded": on_encoded(activations),
        "serving_encoded": on_encoded(embedding),
    }
    for key in keys.values():
        signatures[LAYER_SIGNATURE_PREFIX + key] = on_images(
            lambda images, key=key: {key: activations(images)[key]})
    return signatures


class _QuietCaptureRenames(logging.Filter):
    """Drops TensorFlow's INFO line, one per signature, that lists every captured variable (about
    100 numeric names for a ResNet-18) as an input it renames. The signatures' only real input is
    `images`; the lines buried each export in the main job's log."""

    def filter(self, record):
        return "which will be renamed" not in str(record.msg)


def _readouts_signature(text):
    """A signature returning the assets' JSON; its input is ignored (TF Serving needs one)."""
    return tf.function(
        lambda images: {READOUTS_OUTPUT: tf.constant(text)},
        input_signature=[tf.TensorSpec(None, tf.float32, name=IMAGES_INPUT)],
    ).get_concrete_function()


def _layer_shapes(signature, keys) -> dict:
    outputs = signature.structured_outputs
    return {name: [None if d is None else int(d) for d in outputs[keys[name]].shape[1:]]
            for name in keys}


def _write_warmup(version_dir, input_shape):
    """TF Serving replays assets.extra/tf_serving_warmup_requests on load, so the first real
    request does not pay for graph optimisation; written only for a fully known input shape."""
    if any(d is None for d in input_shape):
        return
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    os.makedirs(os.path.join(version_dir, "assets.extra"))
    zeros = np.zeros((1, *input_shape), np.float32)
    with tf.io.TFRecordWriter(os.path.join(version_dir, WARMUP_FILE)) as writer:
        for signature in ("serving_default", "activations"):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name=signature),
                inputs={IMAGES_INPUT: tf.make_tensor_proto(zeros)},
            )
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())


def export_activation_model(
    backbone,
    output_base: str,
    name: str = None,
    version: int = None,
    layers=None,
    embedding_fn=None,
    input_shape=None,
    preprocessing: dict = None,
    config: dict = None,
) -> str:
    """Write `backbone` as a versioned activation SavedModel and return the version directory.

    Args:
      backbone: keras.Model mapping float images in [0, 1] to a dict {read-out name: activation}.
      output_base: the directory holding models; the export goes to output_base/name/<version>.
        With name=None, output_base is itself the model directory (as in `--output=BASE/NAME`).
      version: integer version; None takes the next free one. An existing version is an error.
      layers: read-outs to export, in order (default: every output of the backbone).
      embedding_fn: callable images -> [B, D] served by `serving_default` (e.g. a keras.Model made
        of backbone + head; keep it a keras Layer/Model or tf.Module so its weights are saved).
        Default: the last read-out averaged over space (and time).
      input_shape: (H, W, C) or (T, H, W, C); fixes sizes the backbone leaves open. Default: the
        backbone's input shape.
      preprocessing: extra facts about the expected input (e.g. the evaluation resize/crop).
      config: the training config (dict or ConfigDict), stored verbatim in the assets.
    """
    model_dir = os.path.join(output_base, name) if name else output_base
    if version is None:
        version = next_version(model_dir)
    version = int(version)
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    final_dir = os.path.join(model_dir, str(version))
    if os.path.exists(final_dir):
        raise FileExistsError(f"export version already exists: {final_dir}")

    input_shape = _resolve_input_shape(backbone, input_shape)
    layers = _output_order(backbone, layers)
    keys = signature_keys(layers)
    input_layout = "BHWC" if len(input_shape) == 3 else "BTHWC"
    readouts = {
        "format": EXPORT_FORMAT,
        "layers": list(layers),
        "signature_keys": keys,
        "input_shape": list(input_shape),
        "signatures": {
            "embedding": "serving_default",
            "activations": "activations",
            "encoded": {"activations": "activations_encoded", "embedding": "serving_encoded",
                        "input": ENCODED_INPUT},
            "per_layer": {n: LAYER_SIGNATURE_PREFIX + k for n, k in keys.items()},
        },
        "preprocessing": {
            "input": IMAGES_INPUT,
            "dtype": "float32",
            "value_range": [0.0, 1.0],
            "layout": input_layout,
            "normalisation": {"applied_by": "model", **_normalisation_of(backbone)},
            "encoded_images": "decoded to [0, 1] and resized (bilinear, antialiased) to the input"
                              " size when it is fixed",
            **(preprocessing or {}),
        },
        "model": {
            "name": backbone.name,
            "class": type(backbone).__name__,
            "num_parameters": int(backbone.count_params()),
            "weights_sha256": weights_fingerprint(backbone, embedding_fn),
            "embedding": (f"embedding_fn {getattr(embedding_fn, 'name', type(embedding_fn).__name__)}"
                          if embedding_fn is not None else f"mean of {layers[-1]} over space"),
            "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "config": json.loads(json.dumps(config or {}, default=_jsonable)),
    }

    os.makedirs(model_dir, exist_ok=True)
    temp_dir = os.path.join(model_dir, f"{TEMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    staging = tempfile.mkdtemp(prefix="vvs_export_assets_")
    try:
        signatures = _build_signatures(backbone, layers, keys, input_shape, embedding_fn)
        readouts["layer_shapes"] = _layer_shapes(signatures["activations"], keys)
        readouts["model"]["embedding_dim"] = int(
            signatures["serving_default"].structured_outputs[EMBEDDING_OUTPUT].shape[-1]
        )
        text = json.dumps(readouts, indent=1)
        signatures["readouts"] = _readouts_signature(text)
        asset_path = os.path.join(staging, ASSET_NAME)
        with open(asset_path, "w") as f:
            f.write(text)
        module = _ActivationExport(backbone, embedding_fn, asset_path)
        quiet, absl_logger = _QuietCaptureRenames(), logging.getLogger("absl")
        absl_logger.addFilter(quiet)
        try:
            tf.saved_model.save(module, temp_dir, signatures=signatures)
        finally:
            absl_logger.removeFilter(quiet)
        _write_warmup(temp_dir, input_shape)
        os.rename(temp_dir, final_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final_dir


def read_readouts(export_dir: str) -> dict:
    """The assets' readouts.json of an export version directory."""
    path = os.path.join(export_dir, "assets", ASSET_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"not an activation export (no {path})")
    with open(path) as f:
        return json.load(f)
