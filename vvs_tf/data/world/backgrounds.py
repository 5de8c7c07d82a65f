"""Natural-photo backgrounds: random crops of the photos that scikit-image ships.

HvM placed its objects on natural backgrounds, which matters for models (clutter, 1/f spectra).
The photos are read straight from scikit-image's package data directory (never downloaded). When
they are absent, seeded procedural 1/f textures take their place through the same code path.
Each photo is kept as a mip pyramid so that a crop of any size is sampled bilinearly from the
level closest to the output resolution, without aliasing and without a loop over images.
"""
from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
from PIL import Image

PHOTOS = (
    "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg", "coins.png",
    "moon.png", "grass.png", "gravel.png", "brick.png", "hubble_deep_field.jpg", "motorcycle_left.png",
)  # fmt: skip
BANK_SIZE = 512
LEVELS = 5  # 512, 256, 128, 64, 32 px
MIN_CROP = 0.35  # smallest crop side, as a fraction of the photo side
PROCEDURAL_SEED = 7


@dataclasses.dataclass(frozen=True)
class Bank:
    """Square backgrounds as a mip pyramid: levels[l] is uint8 RGBA [n, 512 / 2^l, 512 / 2^l, 4]."""

    levels: tuple
    source: str  # "skimage" or "procedural"

    @property
    def size(self) -> int:
        return len(self.levels[0])


def _square(image: Image.Image) -> Image.Image:
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side)).convert("RGB").resize((BANK_SIZE, BANK_SIZE), Image.LANCZOS)


def photo_directory() -> str | None:
    """scikit-image's data directory, or None without scikit-image."""
    try:
        import skimage.data
    except ImportError:
        return None
    return skimage.data.data_dir


def load_photos(directory: str | None) -> np.ndarray | None:
    """The shipped photos as uint8 [n, 512, 512, 3], or None if any is missing."""
    if directory is None:
        return None
    paths = [os.path.join(directory, name) for name in PHOTOS]
    if not all(os.path.isfile(path) for path in paths):
        return None
    return np.stack([np.asarray(_square(Image.open(path))) for path in paths])


def procedural_textures(count: int = len(PHOTOS), seed: int = PROCEDURAL_SEED) -> np.ndarray:
    """Seeded colour textures with a natural-image-like 1/f^1.5 spectrum, uint8 [count, 512, 512, 3]."""
    rng = np.random.default_rng(seed)
    radius = np.hypot(np.fft.fftfreq(BANK_SIZE)[:, None], np.fft.rfftfreq(BANK_SIZE)[None, :])
    amplitude = (np.maximum(radius, 1.0 / BANK_SIZE) ** -1.5).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (count, 3) + radius.shape).astype(np.float32)
    fields = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(BANK_SIZE, BANK_SIZE))  # [count, 3, H, W]
    mixing = 0.35 * rng.normal(size=(count, 3, 3)) + 0.5 * np.eye(3) + 0.5  # mostly luminance
    colour = np.einsum("nij,njhw->nhwi", mixing, fields)
    lo, hi = np.percentile(colour, [1, 99], axis=(1, 2, 3), keepdims=True)
    return (np.clip((colour - lo) / (hi - lo), 0, 1) * 255 + 0.5).astype(np.uint8)


def _packed(table: np.ndarray) -> np.ndarray:
    """An RGBA pyramid level viewed as one uint32 per texel (gathers one word per sample)."""
    return table.reshape(-1, 4).view(np.uint32)[:, 0]


def _pyramid(images: np.ndarray) -> tuple:
    """Mip levels of RGB images, stored RGBA (alpha unused) so a texel is one 32-bit word."""
    images = np.concatenate([images, np.full(images.shape[:-1] + (1,), 255, np.uint8)], -1)
    levels = [images]
    for _ in range(LEVELS - 1):
        x = levels[-1].astype(np.float32)
        x = (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2]) / 4.0
        levels.append((x + 0.5).astype(np.uint8))
    return tuple(levels)


def make_bank(directory: str | None) -> Bank:
    photos = load_photos(directory)
    if photos is None:
        return Bank(_pyramid(procedural_textures()), "procedural")
    return Bank(_pyramid(photos), "skimage")


@functools.cache
def default_bank() -> Bank:
    """The photo bank (built once per process)."""
    return make_bank(photo_directory())


@dataclasses.dataclass(frozen=True)
class Crops:
    """Square crops: photo index, top-left corner and side as fractions of the photo, mirror flag."""

    photo: np.ndarray  # int [N]
    top: np.ndarray  # float [N]
    left: np.ndarray  # float [N]
    side: np.ndarray  # float [N]
    flip: np.ndarray  # bool [N]

    def subset(self, rows) -> "Crops":
        return Crops(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))


def crops_from_uniforms(u: np.ndarray, bank_size: int) -> Crops:
    """Random crops from uniforms u [N, 5]: any photo, side in [MIN_CROP, 1], any position."""
    side = MIN_CROP + (1.0 - MIN_CROP) * u[:, 1]
    return Crops(
        photo=np.minimum((u[:, 0] * bank_size).astype(np.int64), bank_size - 1),
        top=u[:, 2] * (1.0 - side),
        left=u[:, 3] * (1.0 - side),
        side=side,
        flip=u[:, 4] < 0.5,
    )


def sample(bank: Bank, crops: Crops, image_size: int) -> np.ndarray:
    """Bilinear samples of the crops at image_size, float32 [N, S, S, 3] in [0, 1]."""
    n = len(crops.photo)
    out = np.empty((n, image_size, image_size, 3), np.float32)
    side_px = crops.side * BANK_SIZE
    level = np.clip(np.floor(np.log2(side_px / image_size)), 0, LEVELS - 1).astype(np.int64)
    grid = (np.arange(image_size) + 0.5) / image_size
    for lv in np.unique(level):  # a handful of pyramid levels, not images
        rows = np.flatnonzero(level == lv)
        table = bank.levels[lv]
        scale = BANK_SIZE / 2**lv
        col_grid = np.where(crops.flip[rows, None], 1.0 - grid, grid)
        r = (crops.top[rows, None] + grid[None] * crops.side[rows, None]) * scale - 0.5
        c = (crops.left[rows, None] + col_grid * crops.side[rows, None]) * scale - 0.5
        r = np.clip(r, 0, table.shape[1] - 1)
        c = np.clip(c, 0, table.shape[2] - 1)
        r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
        r1, c1 = np.minimum(r0 + 1, table.shape[1] - 1), np.minimum(c0 + 1, table.shape[2] - 1)
        fr = (r - r0).astype(np.float32)[:, :, None, None]
        fc = (c - c0).astype(np.float32)[:, None, :, None]
        base = crops.photo[rows, None] * table.shape[1]
        row0, row1 = ((base + r0) * table.shape[2])[:, :, None], ((base + r1) * table.shape[2])[:, :, None]
        col0, col1 = c0[:, None, :], c1[:, None, :]
        texel = lambda i: _packed(table)[i][..., None].view(np.uint8)[..., :3].astype(np.float32)  # noqa: E731
        top, top_right = texel(row0 + col0), texel(row0 + col1)
        top += (top_right - top) * fc
        bottom, bottom_right = texel(row1 + col0), texel(row1 + col1)
        bottom += (bottom_right - bottom) * fc
        top += (bottom - top) * fr
        out[rows] = top * np.float32(1 / 255)
    return out
