"""Frame-folder clip source: which frames a clip holds, naming schemes, skipping, and clip views."""
import vvs_tf  # noqa: F401  (before tensorflow: oneDNN)

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from test_sources import photo_crop
from vvs_tf.data import augment, pipeline, sources

SIZE, MARK = 32, 12  # frame side; the top-left MARK x MARK block encodes the frame number


def frame_image(video: int, number: int) -> np.ndarray:
    """A shifted crop of a real photo with the frame number painted as a flat block (JPEG-safe)."""
    image = photo_crop(video + 3 * number, SIZE).copy()
    image[:MARK, :MARK] = 8 * number
    return image


def frame_numbers(clip: np.ndarray) -> list[int]:
    return [int(round(f[2:MARK - 2, 2:MARK - 2].mean() / 8)) for f in clip]


def write_video(directory, video: int, names: list[str], numbers: list[int]):
    os.makedirs(directory, exist_ok=True)
    for name, number in zip(names, numbers):
        Image.fromarray(frame_image(video, number)).save(os.path.join(directory, name), quality=95)


@pytest.fixture()
def videos(tmp_path):
    """Three videos: %06d from 0 (20 frames), %06d from 1 (12 frames), arbitrary sorted names (5)."""
    write_video(tmp_path / "frames" / "v0", 0, [f"{i:06d}.jpg" for i in range(20)], range(20))
    write_video(tmp_path / "frames" / "v1", 1, [f"{i + 1:06d}.jpg" for i in range(12)], range(12))
    write_video(tmp_path / "elsewhere" / "v2", 2, [f"shot_{c}.jpg" for c in "abcde"], range(5))
    metafile = tmp_path / "lists" / "train.txt"
    os.makedirs(metafile.parent)
    metafile.write_text(f"../frames/v0 20 2\n../frames/v1 12 0\n{tmp_path / 'elsewhere' / 'v2'} 5 1\n")
    return tmp_path, str(metafile)


def clips(source, **kwargs):
    return {int(e["index"]): e for e in source.dataset(**kwargs).as_numpy_iterator()}


def test_eval_clips_are_the_centre_window(videos):
    _, metafile = videos
    source = sources.open_source(f"frames:{metafile}", clip_length=4, frame_stride=2)
    assert (source.num_examples, source.num_classes, source.element) == (3, 3, "clip")
    out = clips(source)
    # span (4 - 1) * 2 + 1 = 7; starts 0..n-7, the middle one; a short video (5 frames) wraps around
    assert frame_numbers(out[0]["clip"]) == [7, 9, 11, 13]  # 14 starts -> 7
    assert frame_numbers(out[1]["clip"]) == [3, 5, 7, 9]  # 6 starts -> 3
    assert frame_numbers(out[2]["clip"]) == [0, 2, 4, 1]
    assert [out[i]["label"] for i in range(3)] == [2, 0, 1]
    assert out[0]["clip"].shape == (4, SIZE, SIZE, 3) and out[0]["clip"].dtype == np.uint8
    reference = np.asarray(Image.open(os.path.join(os.path.dirname(metafile), "../frames/v0/000007.jpg")))
    assert np.abs(out[0]["clip"][0].astype(float) - reference).mean() < 3.0


def test_training_clips_start_at_random_and_stay_contiguous(videos):
    _, metafile = videos
    source = sources.open_source(f"frames:{metafile}", clip_length=3, frame_stride=3)
    ds = source.dataset(shuffle_files=True, seed=0, training=True)
    starts, passes = [], []
    for _ in range(8):
        passes.append([(int(e["index"]), frame_numbers(e["clip"])) for e in ds.as_numpy_iterator()])
        for index, numbers in passes[-1]:
            if index == 0:
                assert np.diff(numbers).tolist() == [3, 3] and 0 <= numbers[0] <= 20 - 7
                starts.append(numbers[0])
    assert len(set(starts)) >= 4  # 14 possible starts, 8 passes

    def first_pass(seed):
        reopened = sources.open_source(f"frames:{metafile}", clip_length=3, frame_stride=3)
        ds = reopened.dataset(shuffle_files=True, seed=seed, training=True)
        return [(int(e["index"]), frame_numbers(e["clip"])) for e in ds.as_numpy_iterator()]

    assert first_pass(0) == passes[0] != first_pass(1)  # seeded


def test_missing_frame_skips_the_clip_and_names_the_frame(videos):
    root, metafile = videos
    missing = str(root / "frames" / "v0" / "000009.jpg")
    os.remove(missing)
    source = sources.open_source(f"frames:{metafile}", clip_length=4, frame_stride=2)
    assert sorted(clips(source)) == [1, 2]
    assert list(source.skipped.entries) == [missing]  # the culprit, not the whole clip
    with pytest.raises(tf.errors.InvalidArgumentError, match="000009.jpg"):
        clips(sources.open_source(f"frames:{metafile}", clip_length=4, frame_stride=2, strict=True))


def test_missing_video_folder_and_bad_metafile(videos):
    root, metafile = videos
    with open(metafile, "a") as f:
        f.write("../frames/gone 10 1\n")
    source = sources.open_source(f"frames:{metafile}", clip_length=2)
    assert source.num_examples == 4 and sorted(clips(source)) == [0, 1, 2]
    assert any(p.endswith("gone") for p in source.skipped.entries)
    with pytest.raises(FileNotFoundError, match="gone.*line 4"):
        sources.open_source(f"frames:{metafile}", strict=True)
    bad = root / "bad.txt"
    bad.write_text("frames/v0 20 2\nframes/v1 twelve 0\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        sources.open_source(f"frames:{bad}")
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        sources.open_source(f"frames:{root / 'nothere.txt'}")


def test_clip_pipeline_applies_one_spatial_augmentation_per_clip(tmp_path):
    frame = photo_crop(4, SIZE)
    write_video(tmp_path / "still", 0, [f"{i:06d}.jpg" for i in range(6)], [0] * 6)
    for i in range(6):  # identical frames, without the marker
        Image.fromarray(frame).save(tmp_path / "still" / f"{i:06d}.jpg", quality=95)
    (tmp_path / "meta.txt").write_text("still 6 0\nstill 6 1\n")
    source = sources.open_source(f"frames:{tmp_path / 'meta.txt'}", clip_length=4)
    def crop_and_flip(image, size, seed):  # a cheap random view for the two-view case
        crop, flip = tf.unstack(augment.split_seed(seed, 2))
        return augment.random_flip(augment.random_resized_crop(image, size, crop), flip)

    for view, num_views in (("ir_la", 1), (crop_and_flip, 2)):
        batch = next(iter(pipeline.make_dataset(source, 2, view, True, seed=1, image_size=16,
                                                num_views=num_views)))
        key = "clip" if num_views == 1 else "views"
        clip = batch[key].numpy()
        assert clip.shape == ((2, 4, 16, 16, 3) if num_views == 1 else (2, 2, 4, 16, 16, 3))
        frames = clip.reshape(-1, 4, 16, 16, 3)
        np.testing.assert_allclose(frames, np.repeat(frames[:, :1], 4, axis=1), atol=1e-6)
        assert np.abs(frames[0] - frames[1]).mean() > 1e-3  # but clips (and views) differ
