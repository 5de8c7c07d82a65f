"""Render objects at a pose onto photo backgrounds, with depth and mask, whole batches at once.

Orthographic camera looking along +x; the image spans [-1, 1] in y (right) and z (up). An object
of size s has radius s * OBJECT_RADIUS; its pose maps object-frame points p to
world points T + s * OBJECT_RADIUS * R p with T = (0, ty, tz) and R = R_xy(rxy) R_xz(rxz) R_yz(ryz).
Each pixel's ray is intersected analytically with every primitive of its image (raycast.py),
the nearest hit wins (depth test), and the hit is shaded (Lambert + Blinn-Phong highlight) with
the primitive's colour and the object's stripes.
"""
from __future__ import annotations

import numpy as np

from vvs_tf.data.world import backgrounds, checks, metadata as metadata_lib, raycast
from vvs_tf.data.world.randomness import keyed_uniforms
from vvs_tf.data.world.shapes import MAX_PRIMITIVES, euler_matrix, object_indices, object_library

OBJECT_RADIUS = 0.5  # image half-widths at s = 1
CAMERA_DISTANCE = 4.0  # depth of the object centre plane from the camera
BACKGROUND_DEPTH = 8.0  # depth assigned to background pixels
_LIGHT = np.array([-1.0, -0.45, 0.65]) / np.linalg.norm([-1.0, -0.45, 0.65])  # towards the light
_HALF = (_LIGHT + [-1.0, 0.0, 0.0]) / np.linalg.norm(_LIGHT + [-1.0, 0.0, 0.0])  # Blinn half vector
_PIXEL_BUDGET = 1 << 21  # primitive-pixel tests per chunk; bounds memory, keeps arrays in cache


def pixel_centres(image_size: int):
    """(ys [W] left to right, zs [H] top to bottom) of pixel centres in image coordinates."""
    grid = (np.arange(image_size) + 0.5) / image_size * 2.0 - 1.0
    return grid.astype(np.float32), -grid.astype(np.float32)


def _ray_coefficients(object_index, ty, tz, rotation, s):
    """Per (image, primitive) ray coefficients d, g1, g2, h [N, P, 3] and G [N, P, 3, 3].

    Local point q = G (p - T) - A^-1 c with G = A^-1 R^T / (s r); on the ray p = (t, y, z).
    """
    lib = object_library()
    kind = lib.kind[object_index]
    matrix = np.where(kind[..., None, None] == raycast.NONE, np.eye(3), lib.matrix[object_index])
    inverse = np.linalg.inv(matrix)
    g = inverse @ (np.swapaxes(rotation, -1, -2) / (s * OBJECT_RADIUS)[:, None, None])[:, None]
    local_centre = np.einsum("npij,npj->npi", inverse, lib.centre[object_index])
    h = -(g[..., 1] * ty[:, None, None] + g[..., 2] * tz[:, None, None]) - local_centre
    as32 = lambda a: a.astype(np.float32)  # noqa: E731
    return kind, as32(g[..., 0]), as32(g[..., 1]), as32(g[..., 2]), as32(h), as32(g)


def pose_rotation(rxy, rxz, ryz) -> np.ndarray:
    """R = R_xy(rxy) R_xz(rxz) R_yz(ryz), i.e. about z, then y, then x (the view axis)."""
    return euler_matrix(np.stack([np.asarray(ryz), np.asarray(rxz), np.asarray(rxy)], -1))


def _shade(kind, q, g, object_index, part):
    """RGB [M, 3] of surface points q [M, 3] of primitives (object_index, part)."""
    lib = object_library()
    n_local = raycast.local_normal(kind, q)
    normal = np.einsum("mij,mi->mj", g, n_local)  # G^T n: the world-space gradient
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    normal *= np.where(normal[:, :1] > 0, -1.0, 1.0)  # face the camera
    diffuse = np.maximum(normal @ _LIGHT.astype(np.float32), 0.0)
    specular = np.maximum(normal @ _HALF.astype(np.float32), 0.0) ** 24
    stripe = lib.stripe[object_index, part]
    weight = 0.5 + 0.5 * np.sin(np.sum(stripe[:, :3] * q, 1) + stripe[:, 3])
    colour2 = lib.colour2[object_index, part]
    albedo = colour2 + (lib.colour[object_index, part] - colour2) * weight[:, None]
    return albedo * (0.3 + 0.7 * diffuse)[:, None] + 0.3 * specular[:, None]


def _render_chunk(object_index, ty, tz, rotation, s, background, image_size):
    n, p = len(object_index), MAX_PRIMITIVES
    ys, zs = pixel_centres(image_size)
    kind, d, g1, g2, h, g = _ray_coefficients(object_index, ty, tz, rotation, s)
    flat = lambda a: a.reshape((n * p,) + a.shape[2:])  # noqa: E731
    t = raycast.entry_depth(flat(kind), flat(d), flat(g1), flat(g2), flat(h), ys, zs)
    t = t.reshape(n, p, image_size, image_size)
    winner = np.argmin(t, 1)
    nearest = np.take_along_axis(t, winner[:, None], 1)[:, 0]
    mask = np.isfinite(nearest)
    img, row, col = np.nonzero(mask)
    part = winner[img, row, col]
    pair = img * p + part
    t_hit = nearest[img, row, col][:, None]
    q = flat(h)[pair] + flat(g1)[pair] * ys[col, None] + flat(g2)[pair] * zs[row, None] + flat(d)[pair] * t_hit
    colour = _shade(flat(kind)[pair], q, flat(g)[pair], object_index[img], part)
    background[img, row, col] = np.clip(colour, 0.0, 1.0)
    depth = np.where(mask, CAMERA_DISTANCE + nearest, BACKGROUND_DEPTH).astype(np.float32)
    return background, depth, mask


def render_scenes(object_index, ty, tz, rxy, rxz, ryz, s, crops: backgrounds.Crops, image_size: int,
                  with_depth: bool = False, bank: backgrounds.Bank | None = None):
    """Render N scenes given per-image object indices, poses and background crops (arrays [N]).

    Returns uint8 images [N, S, S, 3], or (images, depth float32 [N, S, S], mask bool [N, S, S]).
    """
    image_size = checks.image_size(image_size)
    bank = bank or backgrounds.default_bank()
    object_index = np.asarray(object_index, np.int64)
    ty, tz, s = (np.asarray(x, np.float64) for x in (ty, tz, s))
    rotation = pose_rotation(rxy, rxz, ryz)
    n = len(object_index)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    depth = np.empty((n, image_size, image_size), np.float32) if with_depth else None
    mask = np.empty((n, image_size, image_size), bool) if with_depth else None
    step = max(1, _PIXEL_BUDGET // (MAX_PRIMITIVES * image_size * image_size))
    for start in range(0, n, step):  # chunks of many images, sized to bound memory
        rows = slice(start, start + step)
        canvas = backgrounds.sample(bank, crops.subset(rows), image_size)
        rgb, z, m = _render_chunk(object_index[rows], ty[rows], tz[rows], rotation[rows], s[rows], canvas, image_size)
        images[rows] = (rgb * 255.0 + 0.5).astype(np.uint8)
        if with_depth:
            depth[rows], mask[rows] = z, m
    return (images, depth, mask) if with_depth else images


def background_crops(stimulus_id, seed: int, bank: backgrounds.Bank | None = None) -> backgrounds.Crops:
    """Each stimulus's background crop, a function of its id and the seed alone."""
    bank = bank or backgrounds.default_bank()
    return backgrounds.crops_from_uniforms(keyed_uniforms(stimulus_id, seed, 5), bank.size)


def render(metadata: dict, image_size: int, seed: int = 0, with_depth: bool = False):
    """Render the stimuli described by metadata (see metadata.sample_metadata).

    Returns uint8 images [N, S, S, 3], or (images, depth float32 [N, S, S], mask bool [N, S, S])
    with with_depth. Background crops depend only on (stimulus_id, seed), so any subset of a
    stimulus set renders to the same pixels as the whole set.
    """
    metadata_lib.check_metadata(metadata)
    checks.count("seed", seed, minimum=0)
    object_index = object_indices(metadata["object_name"])
    pose = [np.asarray(metadata[k], np.float64) for k in metadata_lib.POSE_KEYS]
    crops = background_crops(metadata["stimulus_id"], seed)
    return render_scenes(object_index, *pose, crops, image_size, with_depth=with_depth)
