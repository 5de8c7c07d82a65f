"""make_dataset: batch layout, NumPy-checked eval crops, seeded determinism, views, extras, sharding."""
import vvs_tf  # noqa: F401  (before tensorflow: oneDNN)

import numpy as np
import pytest
import tensorflow as tf

from test_sources import photo_crop, write_photo_folder
from vvs_tf.data import augment, pipeline, sources

N, SIDE = 10, 32


@pytest.fixture(scope="module")
def arrays():
    images = np.stack([photo_crop(k, SIDE) for k in range(N)])
    depth = np.random.default_rng(0).random((N, SIDE, SIDE)).astype(np.float32)
    return images, np.arange(N) % 3, depth


def collect(ds, key="image"):
    batches = list(ds.as_numpy_iterator())
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}, [len(b[key]) for b in batches]


def test_eval_batches_are_numpy_centre_crops_with_depth(arrays):
    images, labels, depth = arrays
    source = sources.from_arrays(images, labels, extra={"depth": depth})
    ds = pipeline.make_dataset(source, 4, "eval", training=False, seed=0, image_size=28)
    out, sizes = collect(ds)
    assert sizes == [4, 4, 2]  # eval keeps the last partial batch
    # 28 * 256 / 224 = 32: no resize, then the centre 28 x 28
    np.testing.assert_allclose(out["image"], images[:, 2:30, 2:30] / 255.0, atol=1e-6)
    np.testing.assert_allclose(out["depth"], depth[:, 2:30, 2:30], atol=1e-6)
    np.testing.assert_array_equal(out["label"], labels)
    np.testing.assert_array_equal(out["index"], np.arange(N))
    assert out["image"].dtype == np.float32 and out["label"].dtype == np.int32 and out["index"].dtype == np.int64
    assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA


def geometric(image, size, seed):
    """A cheap random view (crop + flip) for tests about the pipeline rather than the recipes."""
    crop, flip = tf.unstack(augment.split_seed(seed, 2))
    return augment.random_flip(augment.random_resized_crop(image, size, crop), flip)


def test_training_epochs_are_seeded_shuffled_and_fresh(arrays):
    images, labels, _ = arrays
    source = sources.from_arrays(images, labels)

    def epochs(seed, n=2):
        ds = pipeline.make_dataset(source, 4, geometric, training=True, seed=seed, image_size=16)
        return [collect(ds) for _ in range(n)]

    (a1, sizes), (a2, _) = epochs(0)
    (b1, _), _ = epochs(0)
    (c1, _), = epochs(1, 1)
    assert sizes == [4, 4]  # training drops the remainder
    assert len(set(a1["index"])) == 8 and a1["index"].tolist() != sorted(a1["index"].tolist())
    np.testing.assert_array_equal(a1["image"], b1["image"])  # same seed: same order and augmentation
    np.testing.assert_array_equal(a1["index"], b1["index"])
    assert not np.array_equal(a1["index"], a2["index"])  # a fresh order each epoch
    assert not np.array_equal(a1["index"], c1["index"])
    # same image, different epoch: a different augmentation
    first = {i: img for i, img in zip(a1["index"], a1["image"])}
    common = [i for i, img in zip(a2["index"], a2["image"]) if i in first]
    assert common and all(not np.allclose(first[i], a2["image"][list(a2["index"]).index(i)]) for i in common)


def test_two_views_differ_and_keep_labels(arrays):
    images, labels, _ = arrays
    source = sources.from_arrays(images, labels)
    ds = pipeline.make_dataset(source, 5, "simclr", training=True, seed=0, image_size=16, num_views=2)
    batch = next(iter(ds.as_numpy_iterator()))
    assert batch["views"].shape == (5, 2, 16, 16, 3) and "image" not in batch
    assert np.all(np.abs(batch["views"][:, 0] - batch["views"][:, 1]).mean(axis=(1, 2, 3)) > 1e-3)
    np.testing.assert_array_equal(batch["label"], labels[batch["index"]])


def test_aligned_depth_follows_random_crops_and_flips(arrays):
    images, labels, _ = arrays
    # depth = the image's red channel: after geometric-only views, the two must still agree
    depth = images[..., 0].astype(np.float32) / 255.0
    source = sources.from_arrays(images, labels, extra={"depth": depth})
    ds = pipeline.make_dataset(source, 5, geometric, training=True, seed=2, image_size=16, num_views=3)
    batch = next(iter(ds.as_numpy_iterator()))
    assert batch["depth"].shape == (5, 3, 16, 16)
    np.testing.assert_allclose(batch["depth"], batch["views"][..., 0], atol=1e-5)
    assert np.abs(batch["views"][:, 0] - batch["views"][:, 1]).mean() > 1e-3


def test_view_registry(arrays):
    images, labels, _ = arrays
    source = sources.from_arrays(images, labels)
    pipeline.register_view("test_invert", lambda image, size, seed: 1.0 - augment.eval_view(image, size))
    try:
        with pytest.raises(ValueError, match="already registered"):
            pipeline.register_view("test_invert", lambda image, size, seed: image)
        out, _ = collect(pipeline.make_dataset(source, 10, "test_invert", False, 0, 28))
        np.testing.assert_allclose(out["image"], 1.0 - images[:, 2:30, 2:30] / 255.0, atol=1e-6)
    finally:
        del pipeline.VIEWS["test_invert"]
    with pytest.raises(ValueError, match="unknown view 'nope'.*eval"):
        pipeline.make_dataset(source, 4, "nope", False, 0, 16)


def test_cache_keeps_every_example_and_reshuffles(arrays):
    images, labels, _ = arrays
    ds = pipeline.make_dataset(sources.from_arrays(images, labels), 5, geometric, True, 0, 16, cache=True)
    first, second = collect(ds)[0]["index"], collect(ds)[0]["index"]
    assert sorted(first) == sorted(second) == list(range(N)) and first.tolist() != second.tolist()


def test_input_context_splits_examples_between_pipelines(arrays):
    images, labels, _ = arrays
    source = sources.from_arrays(images, labels)
    seen = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline_id)
        ds = pipeline.make_dataset(source, 5, "eval", False, 0, 16, input_context=context)
        assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF
        seen.append(set(collect(ds)[0]["index"].tolist()))
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(N))


def test_folder_pipeline_skips_corrupt_files(tmp_path):
    write_photo_folder(str(tmp_path), num_classes=2, per_class=3)
    (tmp_path / "class_1" / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    source = sources.open_source(f"folder:{tmp_path}")
    out, sizes = collect(pipeline.make_dataset(source, 4, "eval", False, 0, 24))
    assert sizes == [4, 2] and out["image"].shape == (6, 24, 24, 3)
    assert source.skipped.count == 1


def test_bad_arguments(arrays):
    images, labels, _ = arrays
    source = sources.from_arrays(images, labels)
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.make_dataset(source, 0, "eval", False, 0, 16)


def test_model_autotuning_is_off_unless_asked_and_batches_do_not_change(arrays):
    """Autotuning (whose thread stalls each per-epoch iterator's teardown) is an option of the
    pipeline, not of its contents: the same seed gives the same batches either way."""
    images, labels, _ = arrays
    source = sources.from_arrays(images, labels)
    kwargs = dict(batch_size=4, view=geometric, training=True, seed=3, image_size=24)
    default = pipeline.make_dataset(source, **kwargs)
    tuned = pipeline.make_dataset(source, autotune=True, **kwargs)
    assert default.options().autotune.enabled is False and tuned.options().autotune.enabled is True
    np.testing.assert_array_equal(collect(default)[0]["image"], collect(tuned)[0]["image"])
