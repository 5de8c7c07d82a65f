"""Data sources: where examples come from, as decoded uint8 images that each carry a stable index.

A :class:`Source` turns data in memory or on disk into a ``tf.data.Dataset`` of dicts
``{"image": uint8 [H, W, 3], "label": int32, "index": int64}`` (clip sources: ``"clip"``
[T, H, W, 3]). The index numbers the examples of one split 0..N-1 in an order that does not depend on
shuffling, so a memory bank can keep one row per example.

``open_source(spec, split, **options)`` understands

- ``embedded``            the embedded world (``vvs_tf.data.world.load_embedded``), in memory;
- ``tfds:<name>``         a prepared TensorFlow Datasets dataset (``data_dir=``; never downloads
                          unless ``download=True``);
- ``folder:<path>``       a class-per-folder image tree;
- ``tfrecord:<glob>``     shards of ``tf.train.Example`` with JPEG bytes, label and index
                          (:func:`write_tfrecords` writes them);
- ``frames:<metafile>``   folders of video frames (:mod:`vvs_tf.data.video`);
- ``embedded_video``      the embedded world's video stream, rendered once into the cache;
- ``depth_pairs:<root>``  RGB + depth pairs, ``<root>/rgb`` and ``<root>/depth`` (:mod:`vvs_tf.data.depth_pairs`).

In ``folder``, ``tfrecord``, ``frames`` and ``depth_pairs`` paths the text ``{split}`` is replaced by the split name.

Unreadable images. tf.data's ``ignore_errors`` drops a failing element without saying which file it
was, and validating every file with PIL when a source opens reads ImageNet twice and still misses
what only TensorFlow's decoder rejects. So each element is decoded inside its own one-element
dataset with ``ignore_errors``, followed by a failure marker that carries the element's path; the
first of the two wins (:func:`_guarded_decode`). The check is exact (an element is skipped iff
TensorFlow cannot decode it) and runs in parallel; it adds about 0.2-0.3 ms of CPU per image
(measured on 2 busy cores: 64-px JPEGs took ~0.4 ms per image bare and ~0.65 ms guarded; grouping
elements 16 or 64 to a guard did not help), small next to the 3-5 ms a full-size ImageNet JPEG takes
to decode. In-memory sources need no guard. Skipped examples are counted in
``Source.skipped`` and logged once each with their path; ``strict=True`` raises instead, naming the
file. Grayscale, palette, RGBA and 16-bit images are converted to 3-channel uint8 by the decoder;
``min_size`` rejects images whose shorter side is smaller (skipped, or an error in strict mode).
"""
from __future__ import annotations

import dataclasses
import glob as globlib
import logging
import os
import threading
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
_OK, _UNREADABLE, _TOO_SMALL = 0, 1, 2
_log = logging.getLogger(__name__)


def derive_seed(seed: int, salt: int) -> int:
    """A seed for one random stream of a pipeline, distinct for each salt (keeps streams independent)."""
    return (int(seed) * 1_000_003 + salt * 7_919) % (2**31 - 1)


class SkipLog:
    """Counts and names the examples a source skipped; tf.data calls it from its own threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.entries: dict[str, str] = {}  # what was skipped (a path) -> why

    @property
    def count(self) -> int:
        return len(self.entries)

    def record(self, where: str, reason: str) -> None:
        with self._lock:
            first = where not in self.entries
            self.entries[where] = reason
        if first:
            _log.warning("skipped %s: %s", where, reason)

    def __repr__(self):
        return f"SkipLog(count={self.count})"


@dataclasses.dataclass(eq=False)
class Source:
    """One split of a dataset: its size, its classes and a way to read it as tf.data.

    ``records(shuffle_files, seed, training, shard)`` gives cheap undecoded elements (paths or
    encoded bytes plus ``label``, ``index`` and ``where``, the text that names the element in
    messages); ``decode(element)`` turns one into a uint8 image (or clip) and may fail, which the
    guard turns into a logged skip. Sources whose records are already decoded have ``decode=None``.
    """

    name: str
    num_examples: int
    num_classes: int
    records: Callable[..., tf.data.Dataset]
    decode: Callable[[dict], tf.Tensor] | None = None
    element: str = "image"  # "image" or "clip"
    shard_policy: tf.data.experimental.AutoShardPolicy = tf.data.experimental.AutoShardPolicy.DATA
    strict: bool = False
    min_size: int = 0
    skipped: SkipLog = dataclasses.field(default_factory=SkipLog)

    def dataset(self, shuffle_files: bool = False, seed: int = 0, *, training: bool = False,
                shuffle_buffer: int = 0, shard: tuple[int, int] | None = None) -> tf.data.Dataset:
        """Decoded examples, one pass.

        shuffle_files: shuffle the order (in-memory and folder sources: a fresh permutation of all
            examples each pass; sharded files: the shard order, interleaved); deterministic given
            ``seed``. The index does not change with the order.
        training: clip sources draw a random temporal window (centre window otherwise).
        shuffle_buffer: additionally shuffle this many undecoded elements (cheap: paths or bytes).
        shard: (num_shards, shard_index) to read only this worker's part, split as early as possible.
        """
        ds = self.records(shuffle_files=shuffle_files, seed=seed, training=training, shard=shard)
        if shuffle_buffer > 1:
            ds = ds.shuffle(shuffle_buffer, seed=derive_seed(seed, 1), reshuffle_each_iteration=True)
        if self.decode is None:
            return ds
        return _guarded_decode(ds, self)


def _check_shard(shard: tuple[int, int] | None, count: int, what: str) -> tuple[int, int]:
    if shard is None:
        return 1, 0
    num, index = int(shard[0]), int(shard[1])
    if num < 1 or not 0 <= index < num:
        raise ValueError(f"shard={shard!r}: expected (num_shards >= 1, 0 <= shard_index < num_shards)")
    if num > count:
        raise ValueError(f"cannot split {count} {what} into {num} shards")
    return num, index


def positions(n: int, shuffle: bool, seed: int, shard: tuple[int, int] | None = None) -> tf.data.Dataset:
    """Positions 0..n-1 (this shard's part), freshly permuted on every pass when ``shuffle``.

    A stateless permutation keyed by a per-pass random number costs O(n) integers, where a shuffle
    buffer over n elements would hold n tensors (~250 MB and seconds to fill for ImageNet).
    """
    num, index = _check_shard(shard, n, "examples")
    mine = tf.range(index, n, num, dtype=tf.int64)
    if not shuffle:
        return tf.data.Dataset.from_tensor_slices(mine)
    key = tf.constant(derive_seed(seed, 0), tf.int64)
    per_pass = tf.data.Dataset.random(seed=derive_seed(seed, 0), rerandomize_each_iteration=True).take(1)
    return per_pass.flat_map(lambda r: tf.data.Dataset.from_tensor_slices(
        tf.random.experimental.stateless_shuffle(mine, seed=tf.stack([key, r]))))


def decode_bytes(encoded: tf.Tensor) -> tf.Tensor:
    """JPEG/PNG/GIF/BMP/WebP bytes -> uint8 [H, W, 3] (grayscale, palette, RGBA, 16-bit converted)."""
    image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def decode_file(element: dict) -> tf.Tensor:
    return decode_bytes(tf.io.read_file(element["where"]))


def decode_encoded(element: dict) -> tf.Tensor:
    return decode_bytes(element["encoded"])


def _guarded_decode(records: tf.data.Dataset, source: Source) -> tf.data.Dataset:
    """Decode each element; an undecodable or too small one is logged with its path and skipped."""
    key, min_size = source.element, source.min_size
    rank = 4 if key == "clip" else 3

    def attempt(element):
        kept = {k: element[k] for k in ("label", "index", "where")}

        def decoded(e):
            x = source.decode(e)
            size = tf.shape(x)[rank - 3:rank - 1]
            status = tf.where(tf.reduce_min(size) < min_size, _TOO_SMALL, _OK)
            return {key: x, "status": status, "size": size, **{k: e[k] for k in kept}}

        good = tf.data.Dataset.from_tensors(element).map(decoded).ignore_errors()
        failed = tf.data.Dataset.from_tensors({
            key: tf.zeros([0] * (rank - 1) + [3], tf.uint8), "status": tf.constant(_UNREADABLE),
            "size": tf.zeros([2], tf.int32), **kept})
        return good.concatenate(failed).take(1)

    def describe(e):
        where = tf.strings.reduce_join(e["where"], separator=", ")
        size = tf.strings.reduce_join(tf.strings.as_string(e["size"]), separator="x")
        reason = tf.where(e["status"] == _UNREADABLE, tf.constant("could not be read or decoded"),
                          tf.strings.join([size, " pixels, smaller than min_size=", str(min_size)]))
        return where, reason

    def keep(e):
        ok = tf.equal(e["status"], _OK)
        if source.strict:
            where, reason = describe(e)
            check = tf.debugging.Assert(ok, [tf.strings.join([source.name, ": ", where, ": ", reason])])
            with tf.control_dependencies([check]):
                return tf.identity(ok)

        def skip():
            _, reason = describe(e)
            skipped = tf.py_function(lambda w, r: _record_skip(source.skipped, _strings(w), r),
                                     [e["where"], reason], Tout=tf.bool)
            return tf.reshape(skipped, [])

        return tf.cond(ok, lambda: tf.constant(True), skip)

    ds = records.interleave(attempt, cycle_length=AUTOTUNE, num_parallel_calls=AUTOTUNE)
    return ds.filter(keep).map(lambda e: {k: e[k] for k in (key, "label", "index")})


def _strings(tensor: tf.Tensor) -> list[str]:
    return [v.decode("utf-8", "replace") for v in np.atleast_1d(tensor.numpy())]


def _record_skip(log: SkipLog, where: list[str], reason: tf.Tensor) -> bool:
    """Log a skipped element; for a clip, name the frames that PIL cannot read either (if any)."""
    reason = reason.numpy().decode()
    if len(where) > 1:
        culprits = [p for p in where if not _readable(p)]
        where = culprits or where
    log.record(", ".join(where), reason)
    return False


def _readable(path: str) -> bool:
    from PIL import Image  # only on the failure path

    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:  # any failure means the file is one of the culprits
        return False


# ----------------------------------------------------------------------------------------- arrays

def _as_rgb(images: np.ndarray) -> np.ndarray:
    """[N,H,W] / [N,H,W,1] grey -> repeated, [N,H,W,4] RGBA -> alpha dropped, [N,H,W,3] as is."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"images must be [N, H, W] or [N, H, W, 1|3|4], got shape {images.shape}")
    if images.shape[-1] == 1:
        return np.repeat(images, 3, axis=-1)
    return images[..., :3]


def from_arrays(images: np.ndarray, labels: np.ndarray, index: np.ndarray | None = None,
                name: str = "arrays", extra: Mapping[str, np.ndarray] | None = None,
                num_classes: int | None = None) -> Source:
    """An in-memory source. extra: per-example arrays (e.g. depth maps) passed along under their key."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"{name}: images must be uint8, got {images.dtype}")
    images = _as_rgb(images)
    n = len(images)
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name}: labels must be {n} integers, got shape {labels.shape} {labels.dtype}")
    index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, np.int64)
    if index.shape != (n,) or not np.array_equal(np.sort(index), np.arange(n)):
        raise ValueError(f"{name}: index must be a permutation of 0..{n - 1}")
    extra = {k: np.asarray(v) for k, v in (extra or {}).items()}
    for key, value in extra.items():
        if len(value) != n:
            raise ValueError(f"{name}: extra {key!r} has {len(value)} rows for {n} images")
        if key in ("image", "label", "index"):
            raise ValueError(f"{name}: extra key {key!r} clashes with a standard key")
    num_classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    tensors = {"image": tf.constant(images), "label": tf.constant(labels, tf.int32),
               "index": tf.constant(index), **{k: tf.constant(v) for k, v in extra.items()}}

    def records(shuffle_files, seed, training, shard):
        del training
        return positions(n, shuffle_files, seed, shard).map(
            lambda i: {k: tf.gather(t, i) for k, t in tensors.items()})

    return Source(name=name, num_examples=n, num_classes=num_classes, records=records)


def open_embedded(split: str = "train", **options) -> Source:
    """The embedded world's split through :func:`from_arrays` (depth maps, if rendered, as "depth")."""
    from vvs_tf.data import world

    data = world.load_embedded(split=split, **options)
    extra = {"depth": data.depth} if data.depth is not None else None
    return from_arrays(data.images, data.labels, data.index, name=f"embedded/{split}", extra=extra,
                       num_classes=data.num_classes)


# ----------------------------------------------------------------------------------------- folders

def list_folder(root: str) -> tuple[list[str], np.ndarray, list[str]]:
    """Image paths sorted by (class folder, file name), their labels, and the sorted class names."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"folder source: {root} does not exist or is not a directory")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        raise ValueError(f"folder source: {root} has no class sub-folders (expected <root>/<class>/<image>)")
    paths, labels = [], []
    for label, cls in enumerate(classes):
        names = sorted(e.name for e in os.scandir(os.path.join(root, cls))
                       if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        paths.extend(os.path.join(root, cls, f) for f in names)
        labels.extend([label] * len(names))
    if not paths:
        raise ValueError(f"folder source: no images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders "
                         f"of {root}")
    return paths, np.asarray(labels, np.int32), classes


def open_folder(root: str, strict: bool = False, min_size: int = 0) -> Source:
    paths, labels, classes = list_folder(root)
    table = {"where": tf.constant(paths), "label": tf.constant(labels)}

    def records(shuffle_files, seed, training, shard):
        del training
        return positions(len(paths), shuffle_files, seed, shard).map(
            lambda i: {"where": tf.gather(table["where"], i), "label": tf.gather(table["label"], i),
                       "index": i})

    return Source(name=f"folder:{root}", num_examples=len(paths), num_classes=len(classes),
                  records=records, decode=decode_file, strict=strict, min_size=min_size)


def folder_examples(root: str) -> Iterator[dict]:
    """The files of a class-per-folder tree as raw bytes, for :func:`write_tfrecords` (no re-encoding)."""
    paths, labels, _ = list_folder(root)
    for index, (path, label) in enumerate(zip(paths, labels)):
        with open(path, "rb") as f:
            yield {"image": f.read(), "label": int(label), "index": index,
                   "filename": os.path.relpath(path, root)}


# --------------------------------------------------------------------------------- sharded records

def shard_records(files: list[str], offsets: np.ndarray, skips: np.ndarray, takes: np.ndarray,
                  parse: Callable[[tf.Tensor], dict], shuffle_files: bool, seed: int,
                  shard: tuple[int, int] | None) -> tf.data.Dataset:
    """Records of sharded files, interleaved; a record's default index is its file's offset + position.

    The file list goes range -> shuffle -> interleave(TFRecordDataset) so that tf.distribute's FILE
    auto-sharding can still split it by file.
    """
    num, index = _check_shard(shard, len(files), "files")
    table = [tf.constant(files), tf.constant(offsets, tf.int64), tf.constant(skips, tf.int64),
             tf.constant(takes, tf.int64)]
    order = tf.data.Dataset.range(len(files))
    if num > 1:
        order = order.shard(num, index)
    if shuffle_files:
        order = order.shuffle(len(files), seed=derive_seed(seed, 0), reshuffle_each_iteration=True)

    def read(i):
        path, offset, skip, take = (tf.gather(t, i) for t in table)

        def one(k, record):
            element = parse(record)
            element.setdefault("index", offset + k)
            element["where"] = tf.strings.join([path, "[record ", tf.strings.as_string(skip + k), "]"])
            return element

        return tf.data.TFRecordDataset(path).skip(skip).take(take).enumerate().map(one)

    return order.interleave(read, cycle_length=min(len(files), 16), num_parallel_calls=AUTOTUNE)


# -------------------------------------------------------------------------------------- tfrecords

IMAGE_KEYS = ("image/encoded", "image", "images")
LABEL_KEYS = ("image/class/label", "label", "labels")
INDEX_KEYS = ("index", "image/index")


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def write_tfrecords(examples: Iterable[dict], path_pattern: str, num_shards: int) -> list[str]:
    """Write examples round-robin into ``num_shards`` shards of tf.train.Example.

    examples: dicts with "image" (encoded bytes, written as they are, or a uint8 [H, W, 3] array,
    JPEG-encoded at quality 95), "label", "index" and optionally "filename" (see
    :func:`folder_examples` to convert a folder tree). path_pattern: contains ``{shard}`` and may
    contain ``{num_shards}``, e.g. ``/data/train-{shard:05d}-of-{num_shards:05d}.tfrecord``.
    Returns the shard paths.
    """
    if "{shard" not in path_pattern:
        raise ValueError(f"path_pattern {path_pattern!r} must contain '{{shard}}' (e.g. train-{{shard:05d}})")
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    paths = [path_pattern.format(shard=s, num_shards=num_shards) for s in range(num_shards)]
    for path in paths:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for k, example in enumerate(examples):
            image = example["image"]
            if not isinstance(image, bytes):
                image = tf.io.encode_jpeg(np.asarray(image, np.uint8), quality=95).numpy()
            features = {"image/encoded": _bytes_feature(image), "image/class/label": _int_feature(example["label"]),
                        "index": _int_feature(example["index"])}
            if "filename" in example:
                features["image/filename"] = _bytes_feature(example["filename"].encode())
            writers[k % num_shards].write(
                tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    finally:
        for w in writers:
            w.close()
    return paths


def _pick_key(present: Iterable[str], candidates: tuple[str, ...], given: str | None, what: str,
              path: str) -> str | None:
    present = set(present)
    if given is not None:
        if given not in present:
            raise ValueError(f"tfrecord source: {path} has no feature {given!r} (features: {sorted(present)})")
        return given
    found = [k for k in candidates if k in present]
    if not found and what != "index":
        raise ValueError(f"tfrecord source: {path} has no {what} feature; looked for {candidates}, "
                         f"found {sorted(present)} (pass {what}_key=...)")
    return found[0] if found else None


def open_tfrecord(pattern: str, strict: bool = False, min_size: int = 0, num_examples: int | None = None,
                  num_classes: int | None = None, label_offset: int = 0, image_key: str | None = None,
                  label_key: str | None = None, index_key: str | None = None) -> Source:
    """Shards of tf.train.Example (JPEG/PNG bytes, integer label, optional integer index).

    Without an index feature, an example's index is its position in the sorted shards, which needs a
    count of every shard (one read of the data); with one, passing ``num_examples`` and
    ``num_classes`` avoids any scan. label_offset is added to every label (-1 for the 1-based labels
    of the classic ImageNet TFRecord scripts).
    """
    files = sorted(globlib.glob(pattern))
    if not files:
        raise FileNotFoundError(f"tfrecord source: no files match {pattern}")
    first = next(iter(tf.data.TFRecordDataset(files[0]).take(1)), None)
    if first is None:
        raise ValueError(f"tfrecord source: {files[0]} holds no records")
    present = tf.train.Example.FromString(first.numpy()).features.feature.keys()
    image_key = _pick_key(present, IMAGE_KEYS, image_key, "image", files[0])
    label_key = _pick_key(present, LABEL_KEYS, label_key, "label", files[0])
    index_key = _pick_key(present, INDEX_KEYS, index_key, "index", files[0])
    spec = {image_key: tf.io.FixedLenFeature([], tf.string), label_key: tf.io.FixedLenFeature([], tf.int64)}
    if index_key:
        spec[index_key] = tf.io.FixedLenFeature([], tf.int64)

    def parse(record):
        f = tf.io.parse_single_example(record, spec)
        element = {"encoded": f[image_key], "label": tf.cast(f[label_key] + label_offset, tf.int32)}
        if index_key:
            element["index"] = f[index_key]
        return element

    counts = np.zeros(len(files), np.int64)
    if index_key is None or num_examples is None or num_classes is None:
        _log.info("tfrecord source: counting the records of %d files (pass num_examples/num_classes and "
                  "store an index feature to skip this)", len(files))
        labels_only = {label_key: tf.io.FixedLenFeature([], tf.int64)}
        max_label = -1
        for k, path in enumerate(files):
            stats = tf.data.TFRecordDataset(path).map(
                lambda r: tf.io.parse_single_example(r, labels_only)[label_key],
                num_parallel_calls=AUTOTUNE).reduce(
                tf.constant([0, -1], tf.int64), lambda acc, y: tf.stack([acc[0] + 1, tf.maximum(acc[1], y)]))
            counts[k], label = stats.numpy()
            max_label = max(max_label, int(label))
        num_examples = int(counts.sum()) if num_examples is None else num_examples
        num_classes = max_label + 1 + label_offset if num_classes is None else num_classes
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])

    def records(shuffle_files, seed, training, shard):
        del training
        return shard_records(files, offsets, np.zeros(len(files)), np.full(len(files), -1), parse,
                             shuffle_files, seed, shard)

    return Source(name=f"tfrecord:{pattern}", num_examples=int(num_examples), num_classes=int(num_classes),
                  records=records, decode=decode_encoded,
                  shard_policy=tf.data.experimental.AutoShardPolicy.FILE, strict=strict, min_size=min_size)


# ------------------------------------------------------------------------------------------- tfds

def open_tfds(name: str, split: str = "train", data_dir: str | None = None, download: bool = False,
              strict: bool = False, min_size: int = 0, image_key: str = "image",
              label_key: str = "label") -> Source:
    """A prepared TFDS dataset, read shard by shard so that file shuffling keeps the index stable.

    The index is the example's position in the split's files in TFDS's own (deterministic) order,
    or the dataset's ``index`` feature where it has one.
    """
    import tensorflow_datasets as tfds

    root = os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR)
    builder = tfds.builder(name, data_dir=root)
    if not builder.is_prepared():
        if not download:
            raise FileNotFoundError(_tfds_missing_message(builder, name, root))
        builder.download_and_prepare()
    info = builder.info
    if str(info.file_format.value) != "tfrecord":
        raise ValueError(f"tfds:{name} is stored as {info.file_format.value}; vvs_tf reads tfrecord-format "
                         f"TFDS data (re-prepare with `tfds build {name} --file_format=tfrecord`)")
    features = info.features
    for key in (image_key, label_key):
        if key not in features:
            raise ValueError(f"tfds:{name} has no feature {key!r} (features: {sorted(features.keys())})")
    instructions = info.splits[split].file_instructions
    takes = np.asarray([fi.take if fi.take >= 0 else fi.examples_in_shard - fi.skip for fi in instructions])
    offsets = np.concatenate([[0], np.cumsum(takes)[:-1]])
    decoders = {image_key: tfds.decode.SkipDecoding()}

    def parse(record):
        f = features.deserialize_example(record, decoders=decoders)
        element = {"encoded": f[image_key], "label": tf.cast(f[label_key], tf.int32)}
        if "index" in features:
            element["index"] = tf.cast(f["index"], tf.int64)
        return element

    def records(shuffle_files, seed, training, shard):
        del training
        return shard_records([fi.filename for fi in instructions], offsets,
                             np.asarray([fi.skip for fi in instructions]), takes, parse, shuffle_files, seed,
                             shard)

    return Source(name=f"tfds:{name}/{split}", num_examples=int(takes.sum()),
                  num_classes=int(features[label_key].num_classes), records=records, decode=decode_encoded,
                  shard_policy=tf.data.experimental.AutoShardPolicy.FILE, strict=strict, min_size=min_size)


def _tfds_missing_message(builder, name: str, root: str) -> str:
    text = (f"tfds:{name}: no prepared data in {builder.data_dir} (data_dir={root}); vvs_tf does not download "
            "at run time unless you pass download=True. ")
    if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
        manual = os.path.join(root, "downloads", "manual")
        return text + (f"{name} needs a manual download: put its files into {manual} "
                       f"({' '.join(builder.MANUAL_DOWNLOAD_INSTRUCTIONS.split())}) and then run "
                       f"`tfds build {name} --data_dir={root} --manual_dir={manual}`.")
    return text + f"On a machine with network access run `tfds build {name} --data_dir={root}`."


# ------------------------------------------------------------------------------------------ spec

def open_source(spec: str, split: str = "train", **options) -> Source:
    """Open a data source by spec (see the module docstring); options go to the source's opener."""
    kind, _, arg = spec.partition(":")
    arg = arg.replace("{split}", split)
    if kind == "embedded" and not arg:
        return open_embedded(split, **options)
    if kind == "tfds" and arg:
        return open_tfds(arg, split, **options)
    if kind == "folder" and arg:
        return open_folder(arg, **options)
    if kind == "tfrecord" and arg:
        return open_tfrecord(arg, **options)
    if kind == "frames" and arg:
        from vvs_tf.data.video import open_frames

        return open_frames(arg, **options)
    if kind == "embedded_video" and not arg:
        from vvs_tf.data.video import open_embedded_video

        return open_embedded_video(split, **options)
    if kind == "depth_pairs" and arg:
        from vvs_tf.data.depth_pairs import open_depth_pairs

        return open_depth_pairs(arg, **options)
    raise ValueError(f"unknown data source {spec!r}: expected embedded, embedded_video, tfds:<name>, "
                     "folder:<path>, tfrecord:<glob>, frames:<metafile> or depth_pairs:<root>")


def restrict(source: Source, indices: np.ndarray, name: str | None = None) -> Source:
    """The examples of ``source`` whose index is in ``indices`` (e.g. the labelled few percent).

    Filtering happens on the undecoded records, so the dropped examples cost no decoding; the kept
    examples keep their original index, so state indexed by example (banks) stays aligned.
    """
    indices = np.unique(np.asarray(indices, dtype=np.int64))
    if indices.size == 0 or indices[0] < 0 or indices[-1] >= source.num_examples:
        raise ValueError(f"restrict needs indices in [0, {source.num_examples}) of {source.name}, "
                         f"got {indices.size} indices spanning "
                         f"[{indices.min(initial=0)}, {indices.max(initial=0)}]")
    keep = np.zeros(source.num_examples, bool)
    keep[indices] = True
    keep = tf.constant(keep)

    def records(**kwargs):
        return source.records(**kwargs).filter(lambda e: tf.gather(keep, e["index"]))

    return dataclasses.replace(source, name=name or f"{source.name}[{indices.size}]",
                               num_examples=int(indices.size), records=records,
                               skipped=source.skipped)
