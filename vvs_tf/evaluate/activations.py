"""Activation models and streamed, disk-cached extraction of their layer activations.

An activation model (docs/CONTRACTS.md) has `.layers`, `.input_shape` ((H, W, C), H or W may be
None; (T, H, W, C) for a video model, which `extract` shows each image repeated T times),
`.identifier` (a string that changes when the weights change) and
`__call__(images float32 [B, H, W, 3] in [0, 1], layers=None) -> {layer: float32 array}`.
Three kinds exist: a live Keras model whose outputs are a dict of layers, a SavedModel with an
`activations` signature (written by vvs-export), and a TF Serving endpoint (vvs_tf.serving.client).

`extract` streams stimuli through a model in batches and writes each layer to an on-disk .npy
(float32 memmap) keyed by model, stimuli and preprocessing, so that a second call with the same
key reads the cache, and no more than `in_flight` + 1 batches of activations (`in_flight` being
computed, one being written) are held in memory.
"""
import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import importlib
import os

import numpy as np

import vvs_tf  # noqa: F401  (switches on oneDNN before TensorFlow loads)
import tensorflow as tf

from vvs_tf.cache import cache_root
from vvs_tf.evaluate.reduction import PCA, spatial_mean

log = logging.getLogger(__name__)


def _as_images(images, frames: bool = False):
    """float32 images [B, H, W, 3] (clips [B, T, H, W, 3] with `frames`), or a clear error."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 + frames or images.shape[-1] != 3:
        expected = "[B, T, H, W, 3]" if frames else "[B, H, W, 3]"
        raise ValueError(f"images must be float32 {expected} in [0, 1], got shape {images.shape}")
    return images


def _select_layers(available, requested):
    if requested is None:
        return tuple(available)
    requested = (requested,) if isinstance(requested, str) else tuple(requested)
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise ValueError(f"unknown layer(s) {', '.join(unknown)}; the model has "
                         f"{', '.join(available)}")
    return requested


def _hash_files(paths):
    digest = hashlib.sha256()
    for path in paths:
        if os.path.isfile(path):
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


class KerasActivationModel:
    """A keras.Model whose outputs are a dict {layer name: tensor}; inputs float [0, 1] images."""

    def __init__(self, model, layers=None):
        try:
            outputs = model.output  # functional models: the dict of named layer tensors
        except (AttributeError, ValueError):
            outputs = None  # subclassed models: called whole, outputs selected afterwards
        self._output_dict = outputs if isinstance(outputs, dict) else None
        self.model = model
        names = tuple(self._output_dict) if self._output_dict is not None else None
        if names is None and layers is None:
            raise ValueError("the Keras model's outputs are not a dict of named layers; pass layers=")
        self.layers = _select_layers(names, layers) if names is not None else tuple(layers)
        self.input_shape = tuple(model.input_shape[1:])
        self._submodels = {}
        self._identifier = None

    @property
    def identifier(self):
        """Model name plus a hash of its weights (trained and untrained models differ)."""
        if self._identifier is None:
            digest = hashlib.sha256()
            for weight in self.model.weights:
                digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
            self._identifier = f"keras:{self.model.name}:{digest.hexdigest()[:16]}"
        return self._identifier

    def _submodel(self, layers):
        if self._output_dict is None:
            return None
        if layers not in self._submodels:
            import keras

            self._submodels[layers] = keras.Model(self.model.input,
                                                  {k: self._output_dict[k] for k in layers})
        return self._submodels[layers]

    def __call__(self, images, layers=None):
        layers = _select_layers(self.layers, layers)
        images = _as_images(images, frames=len(self.input_shape) == 4)
        submodel = self._submodel(layers)
        outputs = (submodel or self.model)(tf.constant(images), training=False)
        missing = [k for k in layers if k not in outputs]
        if missing:
            raise ValueError(f"the Keras model returned no output for {', '.join(missing)}")
        return {k: np.asarray(outputs[k], dtype=np.float32) for k in layers}


class SavedModelActivationModel:
    """A SavedModel whose `activations` signature maps `images` to one output per layer.

    The layer list comes from assets/readouts.json when present (vvs-export's dict with "layers"
    and "signature_keys", or a plain list of names), else from the signature's output keys; an
    output is named like its layer, by its signature key, or with '.' replaced by '_'. Without
    readouts.json the layers are the output keys in sorted order (a signature keeps no order).
    A model directory holding integer version subdirectories (TF Serving's layout) opens the
    latest version.
    """

    def __init__(self, path):
        path = _latest_version(path)
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"no SavedModel at {path} (saved_model.pb missing)")
        self.path = path
        self._loaded = tf.saved_model.load(path)
        signatures = self._loaded.signatures
        if "activations" not in signatures:
            raise ValueError(f"SavedModel {path} has no 'activations' signature; it has "
                             f"{', '.join(signatures) or 'none'}")
        self._signature = signatures["activations"]
        _, inputs = self._signature.structured_input_signature
        if list(inputs) != ["images"]:
            raise ValueError(f"the 'activations' signature of {path} must take one input named "
                             f"'images', takes {list(inputs)}")
        self.input_shape = tuple(inputs["images"].shape[1:])
        outputs = tuple(sorted(self._signature.structured_outputs))  # no order without readouts
        names, keys = self._readouts()
        names = names or outputs
        self._keys = {}
        for name in names:
            key = keys.get(name, name if name in outputs else name.replace(".", "_"))
            if key not in outputs:
                raise ValueError(f"SavedModel {path} lists layer {name!r} but its signature has no "
                                 f"output {key!r}")
            self._keys[name] = key
        self.layers = tuple(names)
        self.identifier = "savedmodel:" + _hash_files(
            [os.path.join(path, "saved_model.pb"),
             os.path.join(path, "variables", "variables.index")])

    def _readouts(self):
        path = os.path.join(self.path, "assets", "readouts.json")
        if not os.path.isfile(path):
            return None, {}
        with open(path) as f:
            content = json.load(f)
        keys = {}
        if isinstance(content, dict):
            keys = content.get("signature_keys") or {}
            content = content.get("layers", content.get("readouts"))
        if not isinstance(content, list) or not all(isinstance(c, str) for c in content):
            raise ValueError(f"{path} must hold a list of layer names (or a dict with 'layers')")
        return tuple(content), keys

    def __call__(self, images, layers=None):
        layers = _select_layers(self.layers, layers)
        outputs = self._signature(
            images=tf.constant(_as_images(images, frames=len(self.input_shape) == 4)))
        return {k: np.asarray(outputs[self._keys[k]], dtype=np.float32) for k in layers}


def _latest_version(path):
    if os.path.isfile(os.path.join(path, "saved_model.pb")) or not os.path.isdir(path):
        return path
    versions = [int(e) for e in os.listdir(path)
                if e.isdigit() and os.path.isfile(os.path.join(path, e, "saved_model.pb"))]
    return os.path.join(path, str(max(versions))) if versions else path


def open_activation_model(spec, layers=None):
    """An activation model from a path, URL or object.

    - an object with `layers` and `__call__` is returned as is; a keras.Model is wrapped;
    - 'http://', 'grpc://' URLs go to vvs_tf.serving.client.ServingActivationModel(spec);
    - a directory with saved_model.pb is a SavedModel; a '.keras' file is loaded with Keras.
    """
    if hasattr(spec, "layers") and callable(spec) and hasattr(spec, "input_shape") \
            and not _is_keras_model(spec):
        return spec
    if _is_keras_model(spec):
        return KerasActivationModel(spec, layers)
    spec = os.fspath(spec)
    if spec.startswith(("http://", "grpc://")):
        try:
            client = importlib.import_module("vvs_tf.serving.client")
        except ImportError as error:
            raise ImportError(f"cannot open {spec}: the TF Serving client (vvs_tf.serving.client) "
                              "is not installed") from error
        return client.ServingActivationModel(spec)
    if os.path.isdir(spec):
        return SavedModelActivationModel(spec)
    if spec.endswith(".keras") and os.path.isfile(spec):
        import keras

        return KerasActivationModel(keras.models.load_model(spec), layers)
    raise FileNotFoundError(f"no activation model at {spec!r}: expected a SavedModel directory, a "
                            ".keras file or an http://, grpc:// URL")


def _is_keras_model(obj):
    try:
        import keras
    except ImportError:
        return False
    return isinstance(obj, keras.Model)


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """Per-benchmark stimulus preprocessing, applied in this order:

    1. visual degrees: a stimulus spanning `image_degrees` shown to a model whose input spans
       `model_degrees` is shrunk and padded with grey (smaller) or centre-cropped (larger), at
       unchanged pixel size, as Brain-Score places stimuli on a model's "screen";
    2. `resize` (int or (H, W)); 3. centre `crop` (int or (H, W)); 4. final `size` (int or (H, W)).
    Cadena et al.'s V1 stimuli: Preprocess(resize=70, crop=40).
    """
    image_degrees: float = None
    model_degrees: float = None
    resize: object = None
    crop: object = None
    size: object = None

    def key(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def _hw(value):
        return (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)

    def _place(self, images):
        ratio = float(self.image_degrees) / float(self.model_degrees)
        h, w = images.shape[1:3]
        if ratio < 1:
            small = (max(1, round(h * ratio)), max(1, round(w * ratio)))
            shrunk = tf.image.resize(images, small, method="bilinear", antialias=True)
            top, left = (h - small[0]) // 2, (w - small[1]) // 2
            return tf.pad(shrunk - 0.5, [[0, 0], [top, h - small[0] - top],
                                         [left, w - small[1] - left], [0, 0]]) + 0.5
        if ratio > 1:
            crop = (max(1, round(h / ratio)), max(1, round(w / ratio)))
            return tf.image.resize(self._centre_crop(images, crop), (h, w), method="bilinear")
        return images

    @staticmethod
    def _centre_crop(images, hw):
        h, w = images.shape[1:3]
        if hw[0] > h or hw[1] > w:
            raise ValueError(f"cannot centre-crop {h}x{w} images to {hw[0]}x{hw[1]}")
        top, left = (h - hw[0]) // 2, (w - hw[1]) // 2
        return images[:, top:top + hw[0], left:left + hw[1]]

    def __call__(self, images):
        images = tf.constant(_as_images(images))
        if (self.image_degrees is None) != (self.model_degrees is None):
            raise ValueError("give both image_degrees and model_degrees, or neither")
        if self.image_degrees is not None:
            images = self._place(images)
        if self.resize is not None:
            images = tf.image.resize(images, self._hw(self.resize), method="bilinear",
                                     antialias=True)
        if self.crop is not None:
            images = self._centre_crop(images, self._hw(self.crop))
        if self.size is not None and tuple(images.shape[1:3]) != self._hw(self.size):
            images = tf.image.resize(images, self._hw(self.size), method="bilinear", antialias=True)
        return np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)


def default_cache_dir():
    """$VVS_TF_CACHE/activations, default ~/.cache/vvs_tf/activations."""
    return os.path.join(cache_root(), "activations")


def _image_batches(images, batch_size):
    """(positions, float32 batch) pairs from an array, a stimulus set or an iterable of batches."""
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), batch_size):
            yield np.arange(start, min(start + batch_size, len(images))), images[start:start + batch_size]
    elif hasattr(images, "load") and hasattr(images, "__len__"):
        for start in range(0, len(images), batch_size):
            pos = np.arange(start, min(start + batch_size, len(images)))
            yield pos, images.load(pos)
    else:
        start = 0
        for batch in images:
            batch = np.asarray(batch)
            yield np.arange(start, start + len(batch)), batch
            start += len(batch)


def _stimuli_key(images, stimulus_ids):
    if stimulus_ids is not None:
        return hashlib.sha256("\n".join(map(str, stimulus_ids)).encode()).hexdigest()[:16]
    if isinstance(images, np.ndarray):
        return "pixels:" + hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
    if hasattr(images, "ids"):
        return _stimuli_key(None, images.ids)
    raise ValueError("streamed image batches need stimulus_ids (to size and key the cache)")


def _count(images, stimulus_ids):
    if stimulus_ids is not None:
        return len(stimulus_ids)
    if not hasattr(images, "__len__"):
        raise ValueError("streamed image batches need stimulus_ids (to size and key the cache)")
    return len(images)


def _safe(layer):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in layer)


def _reduce_spec(reduce, layer):
    spec = reduce.get(layer) if isinstance(reduce, dict) else reduce
    if spec not in (None, "spatial_mean", "pca"):
        raise ValueError(f"unknown reduction {spec!r} for {layer}; use None, 'spatial_mean' or 'pca'")
    return spec


def as_model_input(model, images):
    """Images [B, H, W, C] as the model takes them: a video model (input (T, H, W, C)) sees each
    image repeated T times, as the paper shows static stimuli to its video networks."""
    shape = tuple(getattr(model, "input_shape", ()))
    if len(shape) != 4:
        return images
    if shape[0] is None:
        raise ValueError(f"a video model needs a fixed clip length to show images, got {shape}")
    return np.repeat(np.asarray(images)[:, None], shape[0], axis=1)


def _check_input(model, batch):
    expected = tuple(getattr(model, "input_shape", (None, None, 3)))
    got = batch.shape[1:]
    if any(e is not None and e != g for e, g in zip(expected, got)) or len(expected) != len(got):
        raise ValueError(f"the benchmark's stimuli are {'x'.join(map(str, got))} after "
                         f"preprocessing but the model takes {expected}; set Preprocess(size=...)")


def _write_json(path, content):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(content, f, indent=1)
    os.replace(tmp, path)


def model_identifier(model):
    """The cache identity of an activation model: `.identifier`, else its URL (with a warning)."""
    identifier = getattr(model, "identifier", None)
    if identifier:
        return str(identifier)
    url = getattr(model, "url", None)
    if url:
        log.warning("activation model %s has no identifier: its cached activations are keyed by "
                    "the URL only, so clear the cache if the served weights change", url)
        return f"url:{url}"
    raise ValueError(f"activation model {type(model).__name__} has no identifier; pass model_id=")


def extract(model, images, layers=None, batch_size=64, preprocess=None, stimulus_ids=None,
            cache_dir=None, reduce=None, n_components=1000, max_layer_bytes=None, progress=None,
            model_id=None, in_flight=2):
    """Activations of `layers` for all stimuli, as read-only float32 memmaps {layer: [N, ...]}.

    images: float32 array [N, H, W, 3], a brainio.StimulusSet (or anything with `load(positions)`
    and `__len__`), or an iterable of batches (then `stimulus_ids` gives N and the cache key).
    The cache key hashes the model's identifier, the stimulus ids (or pixels) and the
    preprocessing; layers already cached under the key are read, not recomputed.
    reduce: None, 'spatial_mean', 'pca' or {layer: one of those}; layers whose full size exceeds
    `max_layer_bytes` are PCA-reduced to `n_components` (with a logged message).
    progress(done, total) is called after each batch. model_id overrides the model's identity.
    in_flight: batches computed at once (see _outputs_in_order); 1 computes one after another.
    """
    if in_flight < 1:
        raise ValueError(f"in_flight must be >= 1, got {in_flight}")
    model = open_activation_model(model)
    layers = _select_layers(model.layers, layers)
    model_id = model_id or model_identifier(model)
    preprocess = preprocess or Preprocess()
    if stimulus_ids is None and hasattr(images, "ids"):
        stimulus_ids = list(images.ids)
    n = _count(images, stimulus_ids)
    key_fields = {"model": model_id, "stimuli": _stimuli_key(images, stimulus_ids),
                  "n": n, "preprocess": preprocess.key()}
    key = hashlib.sha256(json.dumps(key_fields, sort_keys=True).encode()).hexdigest()[:24]
    directory = os.path.join(cache_dir or default_cache_dir(), key)
    os.makedirs(directory, exist_ok=True)
    meta_path = os.path.join(directory, "meta.json")
    meta = dict(key_fields, layers={})
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)

    def wanted(layer):
        spec = _reduce_spec(reduce, layer)
        if spec == "pca":
            return f"{_safe(layer)}.pca{n_components}"
        if spec is None and max_layer_bytes is not None:
            return f"{_safe(layer)}.full-or-pca{n_components}-above{int(max_layer_bytes)}"
        return f"{_safe(layer)}.{spec or 'full'}"

    todo = [layer for layer in layers if wanted(layer) not in meta["layers"]]
    if todo:
        batches = _outputs_in_order(model, images, todo, batch_size, preprocess, in_flight)
        written = _write(batches, todo, n, directory, reduce, progress)
        for layer, path in written.items():
            final = _finish(layer, path, reduce, n_components, max_layer_bytes)
            meta["layers"][wanted(layer)] = os.path.basename(final)
        _write_json(meta_path, meta)
    else:
        log.info("activations of %s read from cache %s", ", ".join(layers), directory)
    return {layer: np.load(os.path.join(directory, meta["layers"][wanted(layer)]), mmap_mode="r")
            for layer in layers}


def _outputs_in_order(model, images, layers, batch_size, preprocess, in_flight):
    """(positions, {layer: activations}) of every batch, in order.

    The first batch runs alone: it checks the input and builds whatever the model caches per
    layer set. After it, up to `in_flight` model calls run at once while this thread loads,
    preprocesses and the caller writes: two concurrent calls of a ResNet-18 at batch 64 ran
    ~1.3x faster than one after another on 2 CPU cores (TensorFlow's kernels leave cores idle
    between small ops), and on an accelerator the host-side work overlaps the device's.
    """
    batches = iter(_image_batches(images, batch_size))
    first = next(batches, None)
    if first is None:
        return
    positions, batch = first
    batch = as_model_input(model, preprocess(batch))
    _check_input(model, batch)
    yield positions, model(batch, layers=layers)
    with concurrent.futures.ThreadPoolExecutor(in_flight, thread_name_prefix="vvs-extract") as pool:
        pending = collections.deque()
        for positions, batch in batches:
            pending.append((positions, pool.submit(
                model, as_model_input(model, preprocess(batch)), layers=layers)))
            if len(pending) == in_flight:
                positions, outputs = pending.popleft()
                yield positions, outputs.result()
        while pending:
            positions, outputs = pending.popleft()
            yield positions, outputs.result()


def _write(batches, layers, n, directory, reduce, progress):
    """Write each layer of the (positions, outputs) batches into a .partial memmap."""
    arrays, done = {}, 0
    for pos, outputs in batches:
        for layer in layers:
            out = outputs[layer]
            if _reduce_spec(reduce, layer) == "spatial_mean":
                out = spatial_mean(out)
            if layer not in arrays:
                path = os.path.join(directory, f"{_safe(layer)}.npy.partial")
                arrays[layer] = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                                          shape=(n,) + out.shape[1:])
            arrays[layer][pos] = out
        done += len(pos)
        if progress is not None:
            progress(done, n)
    if done != n:
        raise ValueError(f"got {done} images but expected {n} (length of stimulus_ids)")
    paths = {}
    for layer, array in arrays.items():
        array.flush()
        paths[layer] = array.filename
        del array
    return paths


def _finish(layer, partial, reduce, n_components, max_layer_bytes):
    """Rename a finished layer file, PCA-reducing it first if asked or if it is too large."""
    full = np.load(partial, mmap_mode="r")
    spec = _reduce_spec(reduce, layer)
    too_large = max_layer_bytes is not None and full.nbytes > max_layer_bytes
    stem = partial[: -len(".npy.partial")]
    if spec == "pca" or (spec is None and too_large):
        if spec is None:
            log.warning("layer %s is %.2f GB (> %.2f GB): reducing it to %d principal components",
                        layer, full.nbytes / 1e9, max_layer_bytes / 1e9, n_components)
        reduced = PCA(n_components).fit(full).transform(full)
        del full
        final = f"{stem}.pca{reduced.shape[1]}.npy"
        np.save(final, reduced)
        os.remove(partial)
        return final
    del full
    final = f"{stem}.{spec or 'full'}.npy"
    os.replace(partial, final)
    return final
