"""The `embedded` training source and the video stream."""
import vvs_tf  # noqa: F401

import os

import numpy as np
import pytest
from PIL import Image

from vvs_tf.data import world
from vvs_tf.data.world import renderer


def test_splits_are_deterministic_disjoint_and_labelled():
    train = world.load_embedded(num_images=40, image_size=32, seed=1, split="train", validation_fraction=0.25)
    val = world.load_embedded(num_images=40, image_size=32, seed=1, split="validation", validation_fraction=0.25)
    again = world.load_embedded(num_images=40, image_size=32, seed=1, split="train", validation_fraction=0.25)
    assert len(train) == 30 and len(val) == 10 and train.num_classes == 8
    assert train.images.tobytes() == again.images.tobytes()
    assert not set(train.metadata["stimulus_id"]) & set(val.metadata["stimulus_id"])
    assert np.array_equal(train.index, np.arange(30)) and train.index.dtype == np.int64
    assert train.labels.dtype == np.int32 and train.object_labels.dtype == np.int32
    assert [world.CATEGORIES[i] for i in train.labels] == list(train.metadata["category_name"])
    assert [world.OBJECTS[i] for i in val.object_labels] == list(val.metadata["object_name"])
    assert train.depth is None
    # the images are exactly the world's renders of the split's metadata
    assert np.array_equal(val.images, world.render(val.metadata, 32, seed=1))
    other = world.load_embedded(num_images=40, image_size=32, seed=2, split="train", validation_fraction=0.25)
    assert not np.array_equal(other.images, train.images)


def test_cache_directory_makes_a_second_call_read_the_file(tmp_path, monkeypatch):
    first = world.load_embedded(num_images=12, image_size=32, seed=0, with_depth=True, cache_dir=str(tmp_path))
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".npz")]) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("rendered although cached")

    monkeypatch.setattr(renderer, "render", refuse)
    second = world.load_embedded(num_images=12, image_size=32, seed=0, with_depth=True, cache_dir=str(tmp_path))
    assert np.array_equal(first.images, second.images) and np.array_equal(first.depth, second.depth)
    assert first.depth.shape == first.images.shape[:3] and first.depth.dtype == np.float32
    for key in world.METADATA_KEYS:
        assert np.array_equal(first.metadata[key], second.metadata[key])
    with pytest.raises(AssertionError, match="rendered"):  # other arguments miss the cache
        world.load_embedded(num_images=12, image_size=40, seed=0, cache_dir=str(tmp_path))


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "test"}, "split"), ({"validation_fraction": 0.0}, "validation_fraction"),
    ({"image_size": 20}, "image_size"), ({"num_images": 1}, "num_images"),
])
def test_bad_source_arguments_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        world.load_embedded(**{"num_images": 10, "image_size": 32, **kwargs})


def test_video_stream_layout_and_smooth_motion(tmp_path):
    metafile = world.write_video_stream(str(tmp_path / "video"), num_videos=3, num_frames=16, image_size=32, seed=0)
    lines = open(metafile).read().splitlines()
    assert len(lines) == 3
    for line in lines:
        path, frames, label = line.split(" ")
        assert int(frames) == 16 and 0 <= int(label) < 8
        folder = os.path.join(os.path.dirname(metafile), path)
        assert sorted(os.listdir(folder)) == [f"{i:06d}.jpg" for i in range(16)]
    folder = os.path.join(os.path.dirname(metafile), lines[0].split(" ")[0])
    frames = np.stack([np.asarray(Image.open(os.path.join(folder, f"{i:06d}.jpg")), np.float32) for i in range(16)])
    assert frames.shape == (16, 32, 32, 3)
    near = np.abs(frames[1:] - frames[:-1]).mean()
    far = np.abs(frames[8:] - frames[:-8]).mean()
    assert near < 0.6 * far  # consecutive frames are closer than frames 8 apart
    with pytest.raises(ValueError, match="num_frames"):
        world.write_video_stream(str(tmp_path / "v2"), num_videos=1, num_frames=8, image_size=32, seed=0)
