"""The world's 64 objects: 8 categories x 8 seeded compositions of 3D primitives.

Each category has a structural template (a quadruped, a car, a chair, ...); its 8 objects are the
template with seeded proportions, colours and surface stripes, so objects of one category share
parts and differ in shape and appearance, as the HvM categories do. The library is fixed (its own
seed), so every world seed sees the same 64 objects.

Object frame: x points away from the camera (depth), y to the right, z up. Each object is centred
so that its canonical-view silhouette has its centroid at the origin, and scaled so that it fits
the unit ball. A primitive maps its local unit shape (ellipsoid: unit ball; box: [-1, 1]^3;
cylinder: unit disc x [-1, 1] along local z) into the object frame by ``x = matrix @ q + centre``.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from vvs_tf.data.world.raycast import BOX, CYLINDER, ELLIPSOID, NONE, entry_depth

CATEGORIES = ("animals", "boats", "cars", "chairs", "faces", "fruits", "planes", "tables")
OBJECTS_PER_CATEGORY = 8
OBJECTS = tuple(f"{category}_{i}" for category in CATEGORIES for i in range(OBJECTS_PER_CATEGORY))
OBJECT_CATEGORY = {name: name.rsplit("_", 1)[0] for name in OBJECTS}

MAX_PRIMITIVES = 6
LIBRARY_SEED = 2021

# Colour roles of a template's parts: the object's main colour, its accent colour, or dark.
MAIN, ACCENT, DARK = 0, 1, 2

# (type, centre xyz, half-extents xyz, euler degrees about x, y, z, colour role, jitter group)
_TEMPLATES = {
    "animals": [
        (ELLIPSOID, (0, 0, 0.1), (0.28, 0.6, 0.28), (0, 0, 0), MAIN, 0),
        (ELLIPSOID, (0, 0.72, 0.38), (0.2, 0.24, 0.2), (0, 0, 0), MAIN, 1),
        (CYLINDER, (-0.15, 0.4, -0.35), (0.07, 0.07, 0.3), (0, 0, 0), ACCENT, 2),
        (CYLINDER, (0.15, 0.4, -0.35), (0.07, 0.07, 0.3), (0, 0, 0), ACCENT, 2),
        (CYLINDER, (-0.15, -0.4, -0.35), (0.07, 0.07, 0.3), (0, 0, 0), ACCENT, 2),
        (CYLINDER, (0.15, -0.4, -0.35), (0.07, 0.07, 0.3), (0, 0, 0), ACCENT, 2),
    ],
    "boats": [
        (ELLIPSOID, (0, 0, -0.12), (0.28, 0.9, 0.2), (0, 0, 0), MAIN, 0),
        (BOX, (0, -0.25, 0.15), (0.16, 0.25, 0.14), (0, 0, 0), ACCENT, 1),
        (CYLINDER, (0, 0.2, 0.45), (0.03, 0.03, 0.45), (0, 0, 0), DARK, 2),
        (BOX, (0, 0.38, 0.45), (0.015, 0.16, 0.32), (0, 0, 0), ACCENT, 3),
    ],
    "cars": [
        (BOX, (0, 0, 0), (0.3, 0.75, 0.15), (0, 0, 0), MAIN, 0),
        (BOX, (0, -0.05, 0.26), (0.27, 0.4, 0.12), (0, 0, 0), ACCENT, 1),
        (CYLINDER, (-0.3, 0.45, -0.15), (0.16, 0.16, 0.05), (0, 90, 0), DARK, 2),
        (CYLINDER, (0.3, 0.45, -0.15), (0.16, 0.16, 0.05), (0, 90, 0), DARK, 2),
        (CYLINDER, (-0.3, -0.45, -0.15), (0.16, 0.16, 0.05), (0, 90, 0), DARK, 2),
        (CYLINDER, (0.3, -0.45, -0.15), (0.16, 0.16, 0.05), (0, 90, 0), DARK, 2),
    ],
    "chairs": [
        (BOX, (0, 0, 0), (0.35, 0.35, 0.05), (0, 0, 0), MAIN, 0),
        (BOX, (0.3, 0, 0.42), (0.05, 0.35, 0.4), (0, 0, 0), MAIN, 1),
        (BOX, (-0.3, 0.3, -0.35), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 2),
        (BOX, (0.3, 0.3, -0.35), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 2),
        (BOX, (-0.3, -0.3, -0.35), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 2),
        (BOX, (0.3, -0.3, -0.35), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 2),
    ],
    "faces": [
        (ELLIPSOID, (0, 0, 0), (0.5, 0.45, 0.62), (0, 0, 0), MAIN, 0),
        (ELLIPSOID, (-0.4, -0.17, 0.16), (0.08, 0.08, 0.08), (0, 0, 0), DARK, 1),
        (ELLIPSOID, (-0.4, 0.17, 0.16), (0.08, 0.08, 0.08), (0, 0, 0), DARK, 1),
        (ELLIPSOID, (-0.5, 0, -0.03), (0.12, 0.06, 0.13), (0, 0, 0), MAIN, 2),
        (BOX, (-0.42, 0, -0.28), (0.05, 0.16, 0.03), (0, 0, 0), ACCENT, 3),
        (ELLIPSOID, (0, 0, 0.5), (0.45, 0.42, 0.22), (0, 0, 0), ACCENT, 4),
    ],
    "fruits": [
        (ELLIPSOID, (0, 0, -0.1), (0.5, 0.5, 0.5), (0, 0, 0), MAIN, 0),
        (ELLIPSOID, (0, 0, 0.3), (0.33, 0.33, 0.33), (0, 0, 0), MAIN, 1),
        (CYLINDER, (0, 0, 0.68), (0.03, 0.03, 0.14), (0, 15, 0), DARK, 2),
        (ELLIPSOID, (0, 0.16, 0.7), (0.05, 0.18, 0.02), (20, 0, 0), ACCENT, 3),
    ],
    "planes": [
        (ELLIPSOID, (0, 0, 0), (0.12, 0.9, 0.12), (0, 0, 0), MAIN, 0),
        (BOX, (0, 0.05, 0), (0.8, 0.15, 0.02), (6, 0, 0), ACCENT, 1),
        (BOX, (0, -0.78, 0.2), (0.02, 0.12, 0.2), (0, 0, 0), ACCENT, 2),
        (BOX, (0, -0.8, 0.02), (0.3, 0.08, 0.02), (0, 0, 0), ACCENT, 3),
        (CYLINDER, (-0.4, 0.12, -0.08), (0.06, 0.06, 0.15), (90, 0, 0), DARK, 4),
        (CYLINDER, (0.4, 0.12, -0.08), (0.06, 0.06, 0.15), (90, 0, 0), DARK, 4),
    ],
    "tables": [
        (BOX, (0, 0, 0.3), (0.45, 0.7, 0.04), (0, 0, 0), MAIN, 0),
        (CYLINDER, (-0.38, 0.6, -0.05), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 1),
        (CYLINDER, (0.38, 0.6, -0.05), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 1),
        (CYLINDER, (-0.38, -0.6, -0.05), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 1),
        (CYLINDER, (0.38, -0.6, -0.05), (0.04, 0.04, 0.35), (0, 0, 0), ACCENT, 1),
    ],
}

# Canonical view of each category (degrees about y then z): tilted and turned so that tops, wings
# and seats show at level 0 instead of being seen edge-on.
_VIEWS = {
    "animals": (-15, 25), "boats": (-20, 20), "cars": (-20, 30), "chairs": (-15, 30),
    "faces": (0, 15), "fruits": (0, 0), "planes": (-35, 20), "tables": (-30, 25),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ObjectLibrary:
    """All objects' primitives as arrays indexed [object, primitive]."""

    kind: np.ndarray  # int8 [O, P]: NONE / ELLIPSOID / BOX / CYLINDER
    matrix: np.ndarray  # float64 [O, P, 3, 3]: local unit shape -> object frame
    centre: np.ndarray  # float64 [O, P, 3]
    colour: np.ndarray  # float64 [O, P, 3]: first stripe colour, RGB in [0, 1]
    colour2: np.ndarray  # float64 [O, P, 3]: second stripe colour
    stripe: np.ndarray  # float64 [O, P, 4]: stripe wave vector (3, in local units) and phase
    descriptor: np.ndarray  # float64 [O, D]: shape/appearance summary, for object similarity


def _indices(names, table: tuple, what: str) -> np.ndarray:
    """Positions of names in table (ValueError naming unknown names), vectorised."""
    names = np.asarray(names)
    order = np.argsort(np.array(table))
    sorted_table = np.array(table)[order]
    position = np.minimum(np.searchsorted(sorted_table, names), len(table) - 1)
    found = sorted_table[position] == names
    if not np.all(found):
        raise ValueError(f"unknown {what} {sorted(set(names[~found].tolist()))[:5]}")
    return order[position]


def object_indices(names) -> np.ndarray:
    """Indices into OBJECTS of object names."""
    return _indices(names, OBJECTS, "object names")


def category_indices(names) -> np.ndarray:
    """Indices into CATEGORIES of category names."""
    return _indices(names, CATEGORIES, "category names")


def euler_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation matrices R = Rz @ Ry @ Rx for angles (..., 3) in degrees about x, y, z."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    cx, cy, cz = np.cos(a[..., 0]), np.cos(a[..., 1]), np.cos(a[..., 2])
    sx, sy, sz = np.sin(a[..., 0]), np.sin(a[..., 1]), np.sin(a[..., 2])
    one, zero = np.ones_like(cx), np.zeros_like(cx)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(a.shape[:-1] + (3, 3))
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(a.shape[:-1] + (3, 3))
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(a.shape[:-1] + (3, 3))
    return rz @ ry @ rx


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0] * 6.0, hsv[..., 1], hsv[..., 2]
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None]) % 6.0
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _surface_samples(kind: np.ndarray) -> np.ndarray:
    """Points on each local unit shape's surface [K, 258, 3] (box corners included exactly)."""
    golden = np.pi * (3.0 - np.sqrt(5.0))
    i = np.arange(250)
    z = 1.0 - 2.0 * (i + 0.5) / 250
    sphere = np.stack([np.sqrt(1 - z * z) * np.cos(golden * i), np.sqrt(1 - z * z) * np.sin(golden * i), z], -1)
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T
    ellipsoid = np.concatenate([sphere, sphere[:8]])
    box = np.concatenate([np.clip(sphere * np.sqrt(3), -1, 1), corners])
    rim = np.concatenate([sphere[:, :2] / np.linalg.norm(sphere[:, :2], axis=1, keepdims=True), np.sign(z)[:, None]], 1)
    cylinder = np.concatenate([rim, rim[:8]])
    table = np.stack([ellipsoid, ellipsoid, box, cylinder])  # NONE rows are ignored by the caller
    return table[kind]


def _silhouette_centroid(kind, matrix, centre, resolution=160, extent=2.0):
    """(y, z) centroid [O, 2] of each object's silhouette seen along +x, by ray casting."""
    num, parts = kind.shape
    inverse = np.linalg.inv(np.where(kind[..., None, None] == NONE, np.eye(3), matrix))
    h = -np.einsum("opij,opj->opi", inverse, centre)
    flat = lambda a: a.reshape((num * parts,) + a.shape[2:]).astype(np.float32)  # noqa: E731
    axis = ((np.arange(resolution) + 0.5) / resolution * 2 - 1) * extent
    t = entry_depth(kind.reshape(-1), flat(inverse[..., 0]), flat(inverse[..., 1]), flat(inverse[..., 2]), flat(h),
                    axis, axis)
    hit = np.isfinite(t.reshape(num, parts, resolution, resolution).min(1))  # [O, z, y]
    area = hit.sum((1, 2))
    return np.stack([np.einsum("ozy,y->o", hit, axis) / area, np.einsum("ozy,z->o", hit, axis) / area], -1)


@functools.cache
def object_library() -> ObjectLibrary:
    """Build the fixed library: seeded jitter of each category template, then centring/scaling."""
    rng = np.random.default_rng(LIBRARY_SEED)
    num = len(OBJECTS)
    kind = np.zeros((num, MAX_PRIMITIVES), np.int8)
    matrix = np.tile(np.eye(3), (num, MAX_PRIMITIVES, 1, 1))
    centre = np.zeros((num, MAX_PRIMITIVES, 3))
    role = np.zeros((num, MAX_PRIMITIVES), np.int64)
    for c, category in enumerate(CATEGORIES):
        template = _TEMPLATES[category]
        t_kind = np.array([p[0] for p in template])
        t_centre = np.array([p[1] for p in template], np.float64)
        t_extent = np.array([p[2] for p in template], np.float64)
        view = euler_matrix(np.array([0.0, *_VIEWS[category]]))
        t_rotation = view @ euler_matrix(np.array([p[3] for p in template], np.float64))
        t_group = np.array([p[5] for p in template])
        n = len(template)
        rows = slice(c * OBJECTS_PER_CATEGORY, (c + 1) * OBJECTS_PER_CATEGORY)
        stretch = rng.uniform(0.8, 1.25, (OBJECTS_PER_CATEGORY, 1, 3))  # whole-object proportions
        group_jitter = rng.uniform(0.75, 1.3, (OBJECTS_PER_CATEGORY, t_group.max() + 1, 3))
        extent = t_extent[None] * group_jitter[:, t_group] * stretch
        kind[rows, :n] = t_kind
        centre[rows, :n] = (t_centre[None] * stretch) @ view.T
        matrix[rows, :n] = t_rotation[None] * extent[:, :, None, :]
        role[rows, :n] = [p[4] for p in template]

    # Centre on the canonical-view silhouette centroid (y, z) and the depth mid-range (x); scale so
    # that the object fits the unit ball.
    points = np.einsum("opij,opsj->opsi", matrix, _surface_samples(kind)) + centre[:, :, None]
    active = (kind != NONE)[:, :, None]
    x_lo = np.where(active, points[..., 0], np.inf).min((1, 2))
    x_hi = np.where(active, points[..., 0], -np.inf).max((1, 2))
    shift = np.concatenate([((x_lo + x_hi) / 2)[:, None], _silhouette_centroid(kind, matrix, centre)], 1)
    radius = np.where(active, np.linalg.norm(points - shift[:, None, None], axis=-1), 0.0).max((1, 2))
    centre = (centre - shift[:, None]) / radius[:, None, None]
    matrix = matrix / radius[:, None, None, None]

    hue = rng.uniform(0, 1, num)
    main = _hsv_to_rgb(np.stack([hue, rng.uniform(0.3, 0.8, num), rng.uniform(0.5, 0.95, num)], -1))
    accent = _hsv_to_rgb(
        np.stack([(hue + rng.uniform(0.2, 0.8, num)) % 1, rng.uniform(0.2, 0.8, num), rng.uniform(0.4, 0.9, num)], -1)
    )
    dark = np.tile([0.12, 0.12, 0.14], (num, 1))
    palette = np.stack([main, accent, dark], 1)  # [O, role, 3]
    colour = np.take_along_axis(palette, role[..., None], 1)
    contrast = rng.uniform(0.0, 0.6, (num, 1, 1))
    colour2 = colour * (1.0 - contrast)
    # Stripes are a sinusoid k.x + phase over the object frame, continuous across parts; in a
    # primitive's local frame that is (A^T k).q + (phase + k.c).
    direction = rng.normal(size=(num, 3))
    wave = direction / np.linalg.norm(direction, axis=-1, keepdims=True) * rng.uniform(4.0, 14.0, (num, 1))
    phase = rng.uniform(0, 2 * np.pi, (num, 1)) + np.einsum("oi,opi->op", wave, centre)
    stripe = np.concatenate([np.einsum("opji,oj->opi", matrix, wave), phase[..., None]], -1)
    descriptor = np.concatenate(
        [matrix.reshape(num, -1), centre.reshape(num, -1), main, contrast[:, 0]], -1
    )
    return ObjectLibrary(kind, matrix, centre, colour, colour2, stripe, descriptor)
