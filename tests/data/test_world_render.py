"""The embedded world's stimuli: determinism, metadata ranges, geometry of masks and depth."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest

from vvs_tf.data import world
from vvs_tf.data.world import backgrounds, raycast, renderer
from vvs_tf.data.world.metadata import VARIATION_RANGES

SIZE = 48


def _mask_centroid(mask):
    """Centroid (ty, tz) of masks [N, S, S] in image half-widths (+ty right, +tz up)."""
    size = mask.shape[1]
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    area = mask.sum((1, 2))
    ty = (mask.sum(1) * grid).sum(1) / area
    tz = -(mask.sum(2) * grid).sum(1) / area
    return ty, tz


def _fixed_pose(num, **pose):
    """Metadata of num images of animals_0 at a given pose (defaults: level-0 pose)."""
    meta = {"stimulus_id": np.array([f"t{i}" for i in range(num)]), "object_name": np.full(num, "animals_0"),
            "category_name": np.full(num, "animals"), "variation": np.zeros(num, np.int64)}
    for key in ("ty", "tz", "rxy", "rxz", "ryz"):
        meta[key] = np.broadcast_to(np.asarray(pose.get(key, 0.0), np.float64), (num,)).copy()
    meta["s"] = np.broadcast_to(np.asarray(pose.get("s", 1.0), np.float64), (num,)).copy()
    return meta


def test_catalogue_has_8_categories_of_8_objects():
    assert len(world.CATEGORIES) == 8 and len(world.OBJECTS) == 64
    counts = {c: sum(world.OBJECT_CATEGORY[o] == c for o in world.OBJECTS) for c in world.CATEGORIES}
    assert set(counts.values()) == {8}


def test_same_seed_is_byte_identical_and_different_seeds_differ():
    a_meta, b_meta = world.sample_metadata(24, seed=3), world.sample_metadata(24, seed=3)
    for key in world.METADATA_KEYS:
        assert np.array_equal(a_meta[key], b_meta[key])
    a, b = world.render(a_meta, SIZE, seed=3), world.render(b_meta, SIZE, seed=3)
    assert a.dtype == np.uint8 and a.shape == (24, SIZE, SIZE, 3)
    assert a.tobytes() == b.tobytes()
    c_meta = world.sample_metadata(24, seed=4)
    assert not np.array_equal(a_meta["ty"], c_meta["ty"])
    assert not np.array_equal(a, world.render(c_meta, SIZE, seed=4))
    assert not np.array_equal(a, world.render(a_meta, SIZE, seed=5))  # other backgrounds


def test_an_image_does_not_depend_on_its_batch():
    meta = world.sample_metadata(30, seed=1)
    full = world.render(meta, 32, seed=1)
    rows = np.array([29, 3, 17])
    part = world.render({k: v[rows] for k, v in meta.items()}, 32, seed=1)
    assert np.array_equal(part, full[rows])


def test_metadata_ranges_follow_each_variation_level():
    meta = world.sample_metadata(64 * 3 * 6, seed=0)
    counts = np.unique(np.stack([meta["object_name"], meta["variation"].astype(str)], 1), axis=0, return_counts=True)[1]
    assert len(counts) == 64 * 3 and set(counts) == {6}  # objects x levels balanced
    assert all(world.OBJECT_CATEGORY[o] == c for o, c in zip(meta["object_name"], meta["category_name"]))
    for level, (position, rotation, scale) in VARIATION_RANGES.items():
        rows = meta["variation"] == level
        pos = np.abs(np.concatenate([meta["ty"][rows], meta["tz"][rows]]))
        rot = np.abs(np.concatenate([meta[k][rows] for k in ("rxy", "rxz", "ryz")]))
        s = meta["s"][rows]
        assert pos.max() <= position and rot.max() <= rotation
        assert s.min() >= 1 / scale - 1e-12 and s.max() <= scale + 1e-12
        if level == 0:
            assert pos.max() == 0 and rot.max() == 0 and np.all(s == 1.0)
        else:  # the samples fill the level's range
            assert pos.max() > 0.9 * position and rot.max() > 0.9 * rotation and s.max() > scale ** 0.9


def test_category_filter_and_unknown_category():
    meta = world.sample_metadata(40, categories=["cars", "faces"])
    assert set(meta["category_name"]) == {"cars", "faces"}
    with pytest.raises(ValueError, match="unicorns"):
        world.sample_metadata(10, categories=["unicorns"])


def test_level_0_objects_are_centred():
    meta = world.sample_metadata(64, variations=(0,), seed=2)
    _, _, mask = world.render(meta, 64, seed=2, with_depth=True)
    ty, tz = _mask_centroid(mask)
    assert np.abs(ty).max() < 1.5 / 32 and np.abs(tz).max() < 1.5 / 32  # within 1.5 px at 64 px


def test_mask_centroid_follows_position_and_area_grows_with_size():
    meta = world.sample_metadata(96, variations=(3,), seed=5)
    _, _, mask = world.render(meta, 64, seed=5, with_depth=True)
    ty, tz = _mask_centroid(mask)
    assert np.corrcoef(ty, meta["ty"])[0, 1] > 0.95 and np.corrcoef(tz, meta["tz"])[0, 1] > 0.95
    assert np.median(np.abs(ty - meta["ty"])) < 0.05 and np.median(np.abs(tz - meta["tz"])) < 0.05

    sizes = np.array([0.6, 0.8, 1.0, 1.3, 1.6])
    _, _, mask = world.render(_fixed_pose(5, rxy=30.0, s=sizes), 96, with_depth=True)
    area = mask.sum((1, 2)).astype(float)
    assert np.all(np.diff(area) > 0)
    assert area[-1] / area[0] == pytest.approx((sizes[-1] / sizes[0]) ** 2, rel=0.1)  # orthographic: area ~ s^2


def test_depth_is_background_outside_the_mask_and_within_the_object_ball_inside():
    meta = world.sample_metadata(16, seed=6)
    images, depth, mask = world.render(meta, 40, seed=6, with_depth=True)
    assert depth.dtype == np.float32 and mask.dtype == bool and depth.shape == mask.shape == (16, 40, 40)
    assert np.all(depth[~mask] == world.BACKGROUND_DEPTH)
    radius = (meta["s"] * renderer.OBJECT_RADIUS)[:, None, None]
    inside = np.where(mask, np.abs(depth - world.CAMERA_DISTANCE) <= radius + 1e-4, True)
    assert inside.all() and mask.any((1, 2)).all()
    assert np.array_equal(images, world.render(meta, 40, seed=6))


def test_ray_intersections_match_closed_forms():
    ys = zs = np.linspace(-0.9, 0.9, 7, dtype=np.float32)
    eye = np.eye(3, dtype=np.float32)
    zero = np.zeros((1, 3), np.float32)
    # unit primitives at the origin, rays along +x: q = (t, y, z)
    for kind, expected in (
        (raycast.ELLIPSOID, lambda y, z: np.where(y**2 + z**2 <= 1, -np.sqrt(np.maximum(1 - y**2 - z**2, 0)), np.inf)),
        (raycast.BOX, lambda y, z: np.full_like(y, -1.0)),
        (raycast.CYLINDER, lambda y, z: np.where(y**2 <= 1, -np.sqrt(np.maximum(1 - y**2, 0)), np.inf)),
    ):
        t = raycast.entry_depth(np.array([kind]), eye[None, 0], eye[None, 1], eye[None, 2], zero, ys, zs)[0]
        assert np.allclose(t, expected(ys[None, :], zs[:, None]), atol=1e-5)
    # a sphere of radius 0.5 centred at depth 2: q = (p - c) / 0.5
    t = raycast.entry_depth(np.array([raycast.ELLIPSOID]), 2 * eye[None, 0], 2 * eye[None, 1], 2 * eye[None, 2],
                            np.array([[-4.0, 0, 0]], np.float32), ys, zs)[0]
    r2 = ys[None, :] ** 2 + zs[:, None] ** 2
    assert np.allclose(t, np.where(r2 <= 0.25, 2 - np.sqrt(np.maximum(0.25 - r2, 0)), np.inf), atol=1e-5)


@pytest.mark.parametrize("size", [16, 31, 257, 64.0])
def test_bad_image_size_is_rejected(size):
    with pytest.raises(ValueError, match="image_size"):
        world.render(world.sample_metadata(2), size)


def test_procedural_backgrounds_replace_missing_photos(tmp_path):
    bank = backgrounds.make_bank(str(tmp_path))  # an empty directory: no photos
    assert bank.source == "procedural" and bank.size == len(backgrounds.PHOTOS)
    assert backgrounds.load_photos(None) is None  # no scikit-image: procedural too
    meta = world.sample_metadata(6, seed=0)
    crops = renderer.background_crops(meta["stimulus_id"], 0, bank)
    pose = [meta[k] for k in ("ty", "tz", "rxy", "rxz", "ryz", "s")]
    index = world.object_indices(meta["object_name"])
    proc, _, proc_mask = world.render_scenes(index, *pose, crops, 32, with_depth=True, bank=bank)
    photo, _, photo_mask = world.render(meta, 32, with_depth=True)
    assert np.array_equal(proc_mask, photo_mask)
    assert np.array_equal(proc[proc_mask], photo[photo_mask])  # same objects
    assert np.abs(proc[~proc_mask].astype(int) - photo[~photo_mask]).mean() > 10  # other backgrounds
    # textures have structure at several scales: a falling, 1/f-like amplitude spectrum
    spectrum = np.abs(np.fft.fft2(bank.levels[0][0, :, :, 0].astype(float) - 128))
    assert spectrum[1:4, 1:4].mean() > 20 * spectrum[100:140, 100:140].mean()
