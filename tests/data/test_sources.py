"""Data sources: stable indices, labels, decoding of real image files, skipping and strict errors."""
import vvs_tf  # noqa: F401  (before tensorflow: oneDNN)

import io
import logging
import os

import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from PIL import Image

from vvs_tf.data import sources

PHOTOS = (skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee())


def photo_crop(k: int, size: int = 32) -> np.ndarray:
    """A distinct real-photo crop for each k (shifted windows over three photos)."""
    src = PHOTOS[k % 3]
    y, x = 7 * (k // 3) % (src.shape[0] - size), 11 * (k // 3) % (src.shape[1] - size)
    return np.ascontiguousarray(src[y:y + size, x:x + size])


def write_photo_folder(root, num_classes=3, per_class=4, size=32) -> dict[str, int]:
    """Class-per-folder JPEGs (class folders named so that sorted order != creation order)."""
    names = [f"class_{c}" for c in reversed(range(num_classes))]
    labels = {}
    for c, name in enumerate(names):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            path = os.path.join(root, name, f"img_{per_class - i:02d}.jpg")
            Image.fromarray(photo_crop(c * per_class + i, size)).save(path, quality=95)
            labels[path] = sorted(names).index(name)
    return labels


def read_all(source, **kwargs):
    return list(source.dataset(**kwargs).as_numpy_iterator())


def by_index(examples):
    return {int(e["index"]): e for e in examples}


# ------------------------------------------------------------------------------------ from_arrays

def test_from_arrays_yields_every_example_with_its_index_and_extras():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    labels = np.array([2, 0, 1, 2, 0, 1])
    index = np.array([5, 4, 3, 2, 1, 0])
    depth = rng.random((6, 8, 8)).astype(np.float32)
    source = sources.from_arrays(images, labels, index, extra={"depth": depth})
    assert (source.num_examples, source.num_classes) == (6, 3)
    examples = read_all(source)
    assert [int(e["index"]) for e in examples] == list(index)
    for row, e in enumerate(examples):
        np.testing.assert_array_equal(e["image"], images[row])
        np.testing.assert_array_equal(e["depth"], depth[row])
        assert e["label"] == labels[row] and e["label"].dtype == np.int32 and e["index"].dtype == np.int64


def test_from_arrays_shuffling_keeps_the_index_and_is_seeded():
    images = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1).repeat(3, -1)
    source = sources.from_arrays(images, np.zeros(20, int))
    ds = source.dataset(shuffle_files=True, seed=3)
    first, second = [[int(e["index"]) for e in ds.as_numpy_iterator()] for _ in range(2)]
    again = [int(e["index"]) for e in source.dataset(shuffle_files=True, seed=3).as_numpy_iterator()]
    other = [int(e["index"]) for e in source.dataset(shuffle_files=True, seed=4).as_numpy_iterator()]
    assert sorted(first) == list(range(20)) and first != list(range(20))
    assert first != second  # a fresh permutation each pass
    assert again == first and other != first
    assert all(e["image"][0, 0, 0] == e["index"] for e in ds.as_numpy_iterator())


def test_from_arrays_converts_grey_and_rgba_to_rgb():
    rgba = np.random.default_rng(1).integers(0, 255, (2, 4, 4, 4), dtype=np.uint8)
    grey = rgba[..., 0]
    np.testing.assert_array_equal(read_all(sources.from_arrays(rgba, [0, 1]))[1]["image"], rgba[1, ..., :3])
    out = read_all(sources.from_arrays(grey, [0, 1]))[0]["image"]
    np.testing.assert_array_equal(out, np.repeat(grey[0][..., None], 3, -1))


@pytest.mark.parametrize("kwargs,match", [
    (dict(index=[0, 0]), "permutation"),
    (dict(labels=[0]), "labels"),
    (dict(images=np.zeros((2, 4, 4, 3), np.float32)), "uint8"),
    (dict(images=np.zeros((2, 4, 4, 2), np.uint8)), "shape"),
    (dict(extra={"depth": np.zeros((3, 4, 4))}), "depth"),
])
def test_from_arrays_rejects_bad_input(kwargs, match):
    args = {"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": [0, 1], **kwargs}
    with pytest.raises(ValueError, match=match):
        sources.from_arrays(**args)


def test_embedded_source_matches_the_world_arrays():
    from vvs_tf.data import world

    data = world.load_embedded(num_images=24, image_size=32, seed=0, split="train", with_depth=True)
    source = sources.open_source("embedded", "train", num_images=24, image_size=32, seed=0, with_depth=True)
    assert source.num_examples == len(data.images) and source.num_classes == data.num_classes
    examples = by_index(read_all(source, shuffle_files=True, seed=0))
    for row, i in enumerate(data.index):
        np.testing.assert_array_equal(examples[int(i)]["image"], data.images[row])
        np.testing.assert_array_equal(examples[int(i)]["depth"], data.depth[row])
        assert examples[int(i)]["label"] == data.labels[row]


# ----------------------------------------------------------------------------------------- folder

def test_folder_labels_index_and_pixels(tmp_path):
    labels = write_photo_folder(str(tmp_path))
    source = sources.open_source(f"folder:{tmp_path}")
    assert (source.num_examples, source.num_classes) == (12, 3)
    ordered = sorted(labels, key=lambda p: (os.path.basename(os.path.dirname(p)), os.path.basename(p)))
    examples = by_index(read_all(source, shuffle_files=True, seed=1))
    assert sorted(examples) == list(range(12))
    references = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in ordered])
    for i, path in enumerate(ordered):
        assert examples[i]["label"] == labels[path]
        # PIL and TensorFlow decode JPEG slightly differently: the nearest file, and within 3 grey levels
        distances = np.abs(examples[i]["image"].astype(np.float32) - references).mean(axis=(1, 2, 3))
        assert np.argmin(distances) == i and distances[i] < 3.0


def test_folder_converts_grey_rgba_and_palette_images(tmp_path):
    os.makedirs(tmp_path / "a")
    rgb = photo_crop(0, 16)
    Image.fromarray(rgb).convert("L").save(tmp_path / "a" / "0_grey.png")
    rgba = np.concatenate([rgb, np.full((16, 16, 1), 128, np.uint8)], -1)
    Image.fromarray(rgba).save(tmp_path / "a" / "1_rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "a" / "2_palette.png")
    grey, with_alpha, palette = [e["image"] for e in read_all(sources.open_source(f"folder:{tmp_path}"))]
    np.testing.assert_array_equal(grey, np.repeat(np.asarray(Image.fromarray(rgb).convert("L"))[..., None], 3, -1))
    np.testing.assert_array_equal(with_alpha, rgb)
    np.testing.assert_array_equal(palette, np.asarray(Image.fromarray(rgb).convert("P").convert("RGB")))


def _corrupt(tmp_path):
    write_photo_folder(str(tmp_path), num_classes=2, per_class=3)
    bad = [str(tmp_path / "class_0" / "garbage.jpg"), str(tmp_path / "class_1" / "truncated.jpg")]
    with open(bad[0], "wb") as f:
        f.write(b"<html>not an image</html>")
    buffer = io.BytesIO()
    Image.fromarray(photo_crop(5)).save(buffer, "JPEG")
    with open(bad[1], "wb") as f:
        f.write(buffer.getvalue()[:len(buffer.getvalue()) // 2])
    return bad


def test_folder_skips_and_names_unreadable_files(tmp_path, caplog):
    bad = _corrupt(tmp_path)
    source = sources.open_source(f"folder:{tmp_path}")
    assert source.num_examples == 8
    with caplog.at_level(logging.WARNING, logger="vvs_tf.data.sources"):
        examples = read_all(source)
        read_all(source)  # a second pass counts nothing new and logs nothing new
    assert len(examples) == 6
    assert source.skipped.count == 2 and sorted(source.skipped.entries) == sorted(bad)
    assert sum(p in caplog.text for p in bad) == 2 and caplog.text.count("skipped") == 2
    paths, _, _ = sources.list_folder(str(tmp_path))
    # the others keep their indices; the skipped ones leave gaps
    assert {int(e["index"]) for e in examples} == set(range(8)) - {paths.index(p) for p in bad}


def test_folder_strict_mode_raises_naming_the_file(tmp_path):
    bad = _corrupt(tmp_path)
    source = sources.open_source(f"folder:{tmp_path}", strict=True)
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        read_all(source)
    assert any(p in str(error.value) for p in bad)


def test_min_size_skips_or_fails_small_images(tmp_path):
    os.makedirs(tmp_path / "a")
    Image.fromarray(photo_crop(0, 32)).save(tmp_path / "a" / "big.png")
    Image.fromarray(photo_crop(1, 32)[:8]).save(tmp_path / "a" / "small.png")
    lenient = sources.open_source(f"folder:{tmp_path}", min_size=16)
    assert [e["image"].shape for e in read_all(lenient)] == [(32, 32, 3)]
    assert "min_size=16" in lenient.skipped.entries[str(tmp_path / "a" / "small.png")]
    with pytest.raises(tf.errors.InvalidArgumentError, match="small.png: 8x32 pixels, smaller than min_size=16"):
        read_all(sources.open_source(f"folder:{tmp_path}", min_size=16, strict=True))


def test_folder_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        sources.open_source(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match=f"{tmp_path}.*no class sub-folders"):
        sources.open_source(f"folder:{tmp_path}")
    os.makedirs(tmp_path / "a")
    (tmp_path / "a" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=f"no images.*{tmp_path}"):
        sources.open_source(f"folder:{tmp_path}")


def test_split_placeholder_and_unknown_spec(tmp_path):
    write_photo_folder(str(tmp_path / "val"), num_classes=2, per_class=1)
    assert sources.open_source(f"folder:{tmp_path}/{{split}}", split="val").num_examples == 2
    with pytest.raises(ValueError, match="unknown data source 'imagenet'"):
        sources.open_source("imagenet")


# -------------------------------------------------------------------------------------- tfrecords

def test_tfrecords_from_a_folder_read_back_identically(tmp_path):
    write_photo_folder(str(tmp_path / "tree"))
    paths = sources.write_tfrecords(sources.folder_examples(str(tmp_path / "tree")),
                                    str(tmp_path / "rec" / "train-{shard:03d}-of-{num_shards:03d}"), 3)
    assert [os.path.basename(p) for p in paths] == [f"train-{s:03d}-of-003" for s in range(3)]
    source = sources.open_source(f"tfrecord:{tmp_path}/rec/train-*")
    folder = by_index(read_all(sources.open_source(f"folder:{tmp_path / 'tree'}")))
    assert (source.num_examples, source.num_classes) == (12, 3)
    assert source.shard_policy == tf.data.experimental.AutoShardPolicy.FILE
    orders = []
    for seed in (0, 1):
        examples = read_all(source, shuffle_files=True, seed=seed)
        orders.append([int(e["index"]) for e in examples])
        for e in examples:  # the same bytes: identical pixels and labels
            np.testing.assert_array_equal(e["image"], folder[int(e["index"])]["image"])
            assert e["label"] == folder[int(e["index"])]["label"]
    assert sorted(orders[0]) == list(range(12)) and orders[0] != orders[1]


def _write_plain_records(path, values, labels):
    """Classic ImageNet-style records: no index feature, 1-based labels."""
    with tf.io.TFRecordWriter(path) as writer:
        for v, y in zip(values, labels):
            image = tf.io.encode_png(np.full((4, 4, 3), v, np.uint8)).numpy()
            feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
                       "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[y]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_tfrecords_without_index_number_records_by_shard_position(tmp_path):
    _write_plain_records(str(tmp_path / "b-1"), [30, 40, 50], [1, 2, 1])
    _write_plain_records(str(tmp_path / "b-0"), [10, 20], [3, 1])
    source = sources.open_source(f"tfrecord:{tmp_path}/b-*", label_offset=-1)
    assert (source.num_examples, source.num_classes) == (5, 3)
    examples = by_index(read_all(source, shuffle_files=True, seed=2))
    assert [examples[i]["image"][0, 0, 0] for i in range(5)] == [10, 20, 30, 40, 50]
    assert [examples[i]["label"] for i in range(5)] == [2, 0, 0, 1, 0]


def test_tfrecord_corrupt_record_is_skipped_with_its_location(tmp_path):
    _write_plain_records(str(tmp_path / "c-0"), [10, 20], [1, 1])
    with tf.io.TFRecordWriter(str(tmp_path / "c-1")) as writer:
        feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\xff\xd8junk"])),
                   "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    source = sources.open_source(f"tfrecord:{tmp_path}/c-*")
    assert len(read_all(source)) == 2
    assert list(source.skipped.entries) == [f"{tmp_path}/c-1[record 0]"]


def test_tfrecord_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no files match {tmp_path}/none-\\*"):
        sources.open_source(f"tfrecord:{tmp_path}/none-*")
    with tf.io.TFRecordWriter(str(tmp_path / "x")) as writer:
        writer.write(tf.train.Example().SerializeToString())
    with pytest.raises(ValueError, match="no image feature"):
        sources.open_source(f"tfrecord:{tmp_path}/x")
    with pytest.raises(ValueError, match="shard"):
        sources.write_tfrecords([], str(tmp_path / "plain"), 2)


def test_file_autosharding_splits_tfrecord_workers_disjointly(tmp_path):
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset

    write_photo_folder(str(tmp_path / "tree"), num_classes=2, per_class=4)
    sources.write_tfrecords(sources.folder_examples(str(tmp_path / "tree")), str(tmp_path / "r-{shard}"), 4)
    source = sources.open_source(f"tfrecord:{tmp_path}/r-*")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = source.shard_policy
    ds = source.dataset(shuffle_files=True, seed=0).with_options(options)
    workers = [{int(e["index"]) for e in _AutoShardDataset(ds, 2, w).as_numpy_iterator()} for w in range(2)]
    assert not workers[0] & workers[1] and workers[0] | workers[1] == set(range(8))
    assert len(workers[0]) == 4  # whole shards of 2 records each


# ------------------------------------------------------------------------------------------- tfds

@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
    """A real TFDS dataset (3 shards) prepared into a temporary data_dir, plus its builder class."""
    import tensorflow_datasets as tfds

    class VvsTinyPhotos(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=4)}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(12), "test": self._generate_examples(3)}

        def _generate_examples(self, n):
            for k in range(n):
                yield k, {"image": photo_crop(k, 16), "label": k % 4}

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    VvsTinyPhotos(data_dir=data_dir).download_and_prepare(
        download_config=tfds.download.DownloadConfig(num_shards=3))
    return tfds, data_dir, VvsTinyPhotos


def test_tfds_index_follows_tfds_order_whatever_the_shuffling(tiny_tfds):
    tfds, data_dir, _ = tiny_tfds
    source = sources.open_source("tfds:vvs_tiny_photos", "train", data_dir=data_dir)
    assert (source.num_examples, source.num_classes) == (12, 4)
    reference = list(tfds.load("vvs_tiny_photos", split="train", data_dir=data_dir,
                               shuffle_files=False).as_numpy_iterator())
    for shuffle in (False, True):
        examples = by_index(read_all(source, shuffle_files=shuffle, seed=5))
        assert sorted(examples) == list(range(12))
        for i, ref in enumerate(reference):
            np.testing.assert_array_equal(examples[i]["image"], ref["image"])
            assert examples[i]["label"] == ref["label"]


def test_tfds_subsplit_indexes_from_zero(tiny_tfds):
    tfds, data_dir, _ = tiny_tfds
    reference = list(tfds.load("vvs_tiny_photos", split="train", data_dir=data_dir,
                               shuffle_files=False).as_numpy_iterator())
    examples = by_index(read_all(sources.open_source("tfds:vvs_tiny_photos", "train[3:9]", data_dir=data_dir)))
    assert sorted(examples) == list(range(6))
    for i in range(6):
        np.testing.assert_array_equal(examples[i]["image"], reference[3 + i]["image"])


def test_tfds_offline_errors_say_what_to_download_and_where(tiny_tfds, tmp_path):
    _, _, _ = tiny_tfds
    with pytest.raises(FileNotFoundError) as error:
        sources.open_source("tfds:imagenet2012", data_dir=str(tmp_path))
    message = str(error.value)
    assert os.path.join(str(tmp_path), "downloads", "manual") in message
    assert os.path.join(str(tmp_path), "imagenet2012") in message and "ILSVRC2012_img_train.tar" in message
    empty = str(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="download=True"):
        sources.open_source("tfds:vvs_tiny_photos", data_dir=empty)
    prepared = sources.open_source("tfds:vvs_tiny_photos", "test", data_dir=empty, download=True)
    assert prepared.num_examples == 3 and len(read_all(prepared)) == 3


def test_tfds_index_feature_is_used_when_present(tmp_path):
    import tensorflow_datasets as tfds

    class VvsTinyIndexed(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=2),
                "index": tfds.features.Scalar(dtype=np.int64)}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for k in range(5):  # planted index: 4 - k, image value 10 * k
                yield k, {"image": np.full((4, 4, 3), 10 * k, np.uint8), "label": k % 2, "index": 4 - k}

    VvsTinyIndexed(data_dir=str(tmp_path)).download_and_prepare()
    examples = by_index(read_all(sources.open_source("tfds:vvs_tiny_indexed", data_dir=str(tmp_path))))
    assert [examples[i]["image"][0, 0, 0] for i in range(5)] == [40, 30, 20, 10, 0]
