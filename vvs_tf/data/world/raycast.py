"""Analytic ray/primitive intersection over whole pixel grids at once (orthographic camera).

Rays run along +x through image-plane points (y, z). For a primitive k, the ray's point at depth t
in the primitive's local frame is affine in (y, z, t):

    q(t; y, z) = h_k + g1_k * y + g2_k * z + t * d_k.

So every quantity of an intersection test (slab distances, discriminants) is an affine or
quadratic function of (y, z) whose coefficients are computed once per primitive; over the grid
these cost one or two broadcast additions per pixel, which is what makes the renderer fast.
"""
from __future__ import annotations

import numpy as np

# Primitive kinds. Local unit shapes: ellipsoid = unit ball, box = [-1, 1]^3, cylinder = unit disc
# times [-1, 1] along local z. NONE pads objects with fewer parts.
NONE, ELLIPSOID, BOX, CYLINDER = 0, 1, 2, 3

_TINY = np.float32(1e-9)


def _affine(coef_y, coef_z, coef_0, ys, zs):
    """coef_y * y + coef_z * z + coef_0 over the grid: [K, H, W] from [K] coefficients."""
    row = coef_y[:, None, None] * ys[None, None, :] + coef_0[:, None, None]  # [K, 1, W]
    return row + coef_z[:, None, None] * zs[None, :, None]  # + [K, H, 1]


def _quadratic_roots(d, g1, g2, h, axes, ys, zs, yz):
    """Entry/exit (-b -+ sqrt(disc)) / a of |q_axes(t)|^2 = 1 over the grid; disc < 0 means a miss.

    With b = q0.d affine and c = |q0|^2 - 1 quadratic in (y, z), disc = b^2 - a c is itself a
    quadratic form in (y, z), evaluated with two broadcast sums and one product per pixel.
    """
    d, g1, g2, h = d[:, axes], g1[:, axes], g2[:, axes], h[:, axes]
    a = np.maximum(np.sum(d * d, 1), _TINY)
    by, bz, b0 = np.sum(g1 * d, 1), np.sum(g2 * d, 1), np.sum(h * d, 1)
    cyy, czz, cyz = np.sum(g1 * g1, 1), np.sum(g2 * g2, 1), np.sum(g1 * g2, 1)
    cy, cz, c0 = np.sum(g1 * h, 1), np.sum(g2 * h, 1), np.sum(h * h, 1) - 1.0
    qyy, qzz, qyz = by * by - a * cyy, bz * bz - a * czz, by * bz - a * cyz
    qy, qz, q0 = by * b0 - a * cy, bz * b0 - a * cz, b0 * b0 - a * c0
    part_y = (qyy[:, None] * ys + 2.0 * qy[:, None]) * ys + q0[:, None]
    part_z = (qzz[:, None] * zs + 2.0 * qz[:, None]) * zs
    disc = (part_y[:, None, :] + part_z[:, :, None]) + (2.0 * qyz)[:, None, None] * yz
    root = np.sqrt(np.maximum(disc, 0.0)) / a[:, None, None]
    mid = _affine(-by / a, -bz / a, -b0 / a, ys, zs)
    return mid - root, mid + root, disc >= 0.0


def _slabs(d, g1, g2, h, axes, ys, zs):
    """Near/far distances of the slabs |q_i| <= 1 for the given axes (ray/box test)."""
    near = far = None
    for i in axes:
        di = d[:, i]
        di = np.where(np.abs(di) < _TINY, np.where(di < 0, -_TINY, _TINY), di)
        inv = 1.0 / di
        sign = np.sign(inv)
        t_lo = _affine(-g1[:, i] * inv, -g2[:, i] * inv, (-sign - h[:, i]) * inv, ys, zs)
        t_hi = _affine(-g1[:, i] * inv, -g2[:, i] * inv, (sign - h[:, i]) * inv, ys, zs)
        near = t_lo if near is None else np.maximum(near, t_lo)
        far = t_hi if far is None else np.minimum(far, t_hi)
    return near, far


def entry_depth(kind, d, g1, g2, h, ys, zs):
    """Depth t at which each ray enters each primitive, +inf where it misses.

    kind [K] (shapes.ELLIPSOID/BOX/CYLINDER/NONE), d, g1, g2, h [K, 3] float32, ys [W], zs [H].
    Returns float32 [K, H, W].
    """
    ys, zs = ys.astype(np.float32), zs.astype(np.float32)
    out = np.full((len(kind), len(zs), len(ys)), np.inf, np.float32)
    yz = zs[:, None] * ys[None, :]
    for shape in (ELLIPSOID, BOX, CYLINDER):
        rows = np.flatnonzero(kind == shape)
        if rows.size == 0:
            continue
        coeffs = (d[rows], g1[rows], g2[rows], h[rows])
        if shape == ELLIPSOID:
            t, _, hit = _quadratic_roots(*coeffs, [0, 1, 2], ys, zs, yz)
        elif shape == BOX:
            t, far = _slabs(*coeffs, [0, 1, 2], ys, zs)
            hit = t <= far
        else:
            t_in, t_out, hit = _quadratic_roots(*coeffs, [0, 1], ys, zs, yz)
            z_near, z_far = _slabs(*coeffs, [2], ys, zs)
            t = np.maximum(t_in, z_near)
            hit &= t <= np.minimum(t_out, z_far)
        out[rows] = np.where(hit, t, np.inf)
    return out


def local_normal(kind, q):
    """Outward normal (unnormalised) of a unit primitive at surface points q [M, 3]."""
    absq = np.abs(q)
    on_box_face = absq >= absq.max(1, keepdims=True)
    box = np.where(on_box_face, np.sign(q), 0.0)
    radial = np.sqrt(q[:, 0] ** 2 + q[:, 1] ** 2)
    on_cap = absq[:, 2] > radial
    cylinder = np.where(on_cap[:, None], [0.0, 0.0, 1.0] * np.sign(q), q * [1.0, 1.0, 0.0])
    kind = kind[:, None]
    return np.where(kind == BOX, box, np.where(kind == CYLINDER, cylinder, q)).astype(np.float32)
