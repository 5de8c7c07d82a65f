"""Simulated V1, V4 and IT recordings with known ground truth and repeated noisy trials.

Each area's noise-free response is a plausible model of the images (and, for IT, of what is in
them), so that a network's early layers should predict V1 best and its late layers IT best:

- V1 (simulated): Gabor energy model. Small receptive fields (RF) at random positions,
  orientations and frequencies; complex cells respond with the quadrature-pair energy, simple
  cells with the half-rectified even response; an expansive static nonlinearity (power 1.5).
- V4 (simulated): texture statistics over larger RFs. Gabor energy maps at 2 frequencies x 4
  orientations; each neuron pools, under a Gaussian RF, their means and pairwise products
  (Portilla-Simoncelli-like correlations), and rectifies a sparse random mixture of their logs.
- IT (simulated): rectified random linear functions of object identity, category, position,
  pose and size, plus a small image-driven part (global V4-like texture statistics).

Every neuron's noise-free response is scaled to a known standard deviation over the stimuli
(``signal_sd``); trials add Gaussian noise of standard deviation ``noise_sd``. The split-half
correlation over stimuli of a neuron's two half-means then is, in expectation,
rho = signal_sd^2 / sqrt((signal_sd^2 + noise_sd^2/R1) (signal_sd^2 + noise_sd^2/R2)) for halves of
R1 and R2 repetitions, and its Spearman-Brown correction 2 rho / (1 + rho) is stored as the
neuroid coordinate ``expected_consistency``.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from vvs_tf.data.world import checks, filters, metadata as metadata_lib
from vvs_tf.data.world.shapes import CATEGORIES, OBJECTS, category_indices, object_indices

AREAS = ("V1", "V4", "IT")
# Site counts of the recordings the paper scores against (Cadena 2019 V1; Majaj 2015 V4, IT).
NUM_NEURONS = {"V1": 166, "V4": 88, "IT": 168}
NOISE_SD = {"V1": 1.0, "V4": 1.0, "IT": 1.0}
SIGNAL_SD_RANGE = {"V1": (0.3, 1.2), "V4": (0.4, 1.5), "IT": (0.5, 2.0)}
_AREA_STREAM = {"V1": 11, "V4": 12, "IT": 13}
_V4_FREQUENCIES = (2.0, 4.0)  # cycles per half-width
_V4_ORIENTATIONS = tuple(np.arange(4) * np.pi / 4)
_POOL_GRID = 16  # V4 statistics are pooled on this grid
_CHUNK = 256  # images per chunk of energy maps


def _zscore(x: np.ndarray, axis: int = 0) -> np.ndarray:
    return (x - x.mean(axis, keepdims=True)) / np.maximum(x.std(axis, keepdims=True), 1e-8)


def _v1_responses(grey, rng, num):
    """Noise-free V1 responses [N, num] and the neurons' parameters."""
    params = {
        "rf_ty": rng.uniform(-0.5, 0.5, num),
        "rf_tz": rng.uniform(-0.5, 0.5, num),
        "orientation": rng.uniform(0.0, 180.0, num),
        "spatial_frequency": np.exp(rng.uniform(np.log(1.5), np.log(5.0), num)),  # cycles/half-width
        "cell_type": np.where(rng.uniform(size=num) < 0.25, "simple", "complex"),
    }
    params["rf_sigma"] = 0.45 / params["spatial_frequency"]  # about one octave of bandwidth
    bank = filters.gabor_pairs(grey.shape[1], params["rf_ty"], params["rf_tz"], params["rf_sigma"],
                               params["spatial_frequency"], np.deg2rad(params["orientation"]))
    flat = grey.reshape(len(grey), -1)
    even, odd = (flat @ bank[i].reshape(num, -1).T for i in range(2))
    drive = np.where(params["cell_type"] == "complex", np.sqrt(even**2 + odd**2), np.maximum(even, 0.0))
    return drive**1.5, params


def _statistic_maps(grey):
    """Gabor energy maps and their pairwise products, float32 [N, C + C(C+1)/2, G, G] on the
    pooling grid: the local texture statistics that V4 (and IT's image part) pool."""
    c = len(_V4_FREQUENCIES) * len(_V4_ORIENTATIONS)
    upper = np.triu_indices(c)
    step = filters.SPECTRUM_SIZE // _POOL_GRID
    out = np.empty((len(grey), c + len(upper[0]), _POOL_GRID, _POOL_GRID), np.float32)
    for start in range(0, len(grey), _CHUNK):
        energy = filters.energy_maps(grey[start : start + _CHUNK], _V4_FREQUENCIES, _V4_ORIENTATIONS)
        energy /= np.float32(0.05)  # typical energy of a natural background, so products stay O(1)
        stats = np.concatenate([energy, energy[:, upper[0]] * energy[:, upper[1]]], 1)
        n, f = stats.shape[:2]
        out[start : start + n] = stats.reshape(n, f, _POOL_GRID, step, _POOL_GRID, step).mean((3, 5))
    return out


def _texture_statistics(maps, windows):
    """Statistic maps [N, F, G, G] pooled under windows [K, G, G] (each summing to one): [N, K, F]."""
    return np.einsum("nfyx,kyx->nkf", maps, windows)


def _gaussian_windows(centre_y, centre_z, sigma):
    grid = (np.arange(_POOL_GRID) + 0.5) / _POOL_GRID * 2 - 1
    dy = grid[None, None, :] - centre_y[:, None, None]
    dz = -grid[None, :, None] - centre_z[:, None, None]  # rows run top to bottom
    w = np.exp(-(dy**2 + dz**2) / (2 * sigma[:, None, None] ** 2))
    return (w / w.sum((1, 2), keepdims=True)).astype(np.float32)


def _sparse_mixture(rng, num, dim, active):
    """Random weights [num, dim] with `active` non-zero Gaussian entries per row."""
    keep = np.argsort(rng.uniform(size=(num, dim)), 1)[:, :active]
    weights = np.zeros((num, dim))
    np.put_along_axis(weights, keep, rng.normal(size=(num, active)), 1)
    return weights


def _v4_responses(maps, rng, num):
    params = {
        "rf_ty": rng.uniform(-0.5, 0.5, num),
        "rf_tz": rng.uniform(-0.5, 0.5, num),
        "rf_sigma": rng.uniform(0.25, 0.5, num),
    }
    windows = _gaussian_windows(params["rf_ty"], params["rf_tz"], params["rf_sigma"])
    stats = np.log(0.05 + _texture_statistics(maps, windows))
    weights = _sparse_mixture(rng, num, stats.shape[2], active=6)
    drive = _zscore(np.einsum("nkf,kf->nk", _zscore(stats), weights))
    return np.maximum(drive - rng.uniform(-1.0, 0.5, num), 0.0), params


def _it_features(maps, metadata):
    """Blocks of IT's input: one-hot object and category, position, pose, size, image texture."""
    obj = object_indices(metadata["object_name"])
    cat = category_indices(metadata["category_name"])
    whole_image = np.ones((1, _POOL_GRID, _POOL_GRID), np.float32) / _POOL_GRID**2
    return {
        "object": np.eye(len(OBJECTS))[obj],
        "category": np.eye(len(CATEGORIES))[cat],
        "position": _zscore(np.stack([metadata["ty"], metadata["tz"]], 1).astype(np.float64)),
        "pose": _zscore(np.stack([metadata["rxy"], metadata["rxz"], metadata["ryz"]], 1).astype(np.float64)),
        "size": _zscore(np.log(np.asarray(metadata["s"], np.float64))[:, None]),
        "image": _zscore(np.log(0.05 + _texture_statistics(maps, whole_image)[:, 0])),
    }


_MODELS = {
    "V1": "simulated V1: Gabor energy (75% complex, 25% simple cells), RF sigma 0.45/f half-widths, power 1.5",
    "V4": "simulated V4: rectified sparse mixture of log texture statistics (Gabor energy means and "
    "pairwise products) pooled over Gaussian RFs of sigma 0.25-0.5 half-widths",
    "IT": "simulated IT: rectified random linear function of object, category, position, pose, size "
    "and global texture statistics",
}
CEILING_FORMULA = ("2 rho / (1 + rho), rho = signal_sd^2 / sqrt((signal_sd^2 + noise_sd^2 / R1) "
                   "(signal_sd^2 + noise_sd^2 / R2)), R1 = R // 2, R2 = R - R1")
IT_WEIGHTS = {"category": 1.0, "object": 0.8, "position": 0.35, "size": 0.3, "pose": 0.25, "image": 0.3}


def _it_responses(maps, metadata, rng, num):
    """Each feature block's random projection, z-scored and weighted by IT_WEIGHTS, then rectified."""
    features = _it_features(maps, metadata)
    drive = sum(weight * _zscore(features[name] @ rng.normal(size=(features[name].shape[1], num)))
                for name, weight in IT_WEIGHTS.items())
    return np.maximum(_zscore(drive) - rng.uniform(-1.0, 0.5, num), 0.0), {}


def expected_consistency(signal_sd, noise_sd, num_repetitions):
    """Spearman-Brown-corrected split-half correlation implied by signal and noise levels."""
    r1 = num_repetitions // 2
    r2 = num_repetitions - r1
    var = np.asarray(signal_sd, np.float64) ** 2
    rho = var / np.sqrt((var + noise_sd**2 / r1) * (var + noise_sd**2 / r2))
    return 2 * rho / (1 + rho)


def make_assembly(responses, metadata, region, neuroid_coords, attrs):
    """A BrainIO-style DataArray (presentation x neuroid) of responses [R, N, K]."""
    reps, n, k = responses.shape
    presentation = {key: ("presentation", np.tile(np.asarray(metadata[key]), reps))
                    for key in metadata_lib.METADATA_KEYS}
    presentation["repetition"] = ("presentation", np.repeat(np.arange(reps), n))
    neuroid = {"neuroid_id": ("neuroid", np.array([f"sim_{region}_{i:04d}" for i in range(k)])),
               "region": ("neuroid", np.full(k, region))}
    neuroid.update({key: ("neuroid", np.asarray(value)) for key, value in neuroid_coords.items()})
    return xr.DataArray(responses.reshape(reps * n, k).astype(np.float32), dims=("presentation", "neuroid"),
                        coords={**presentation, **neuroid}, name=f"simulated_world_{region}", attrs=attrs)


def simulate_recordings(images, metadata, seed: int = 0, num_repetitions: int = 10, areas=AREAS,
                        num_neurons: dict | None = None) -> dict:
    """Simulated recordings {area: DataArray (presentation x neuroid)} for images [N, S, S, 3].

    Presentations are (stimulus, repetition) pairs, repetition-major; the DataArray carries the
    stimulus metadata as presentation coordinates and the ground truth (RF parameters,
    signal_sd, expected_consistency) as neuroid coordinates. Deterministic given the seed.
    """
    n = metadata_lib.check_metadata(metadata)
    if len(images) != n:
        raise ValueError(f"got {len(images)} images for {n} metadata rows")
    checks.count("number of stimuli", n, minimum=2)
    checks.count("num_repetitions", num_repetitions, minimum=2)
    checks.count("seed", seed, minimum=0)
    unknown = [a for a in areas if a not in AREAS]
    if unknown:
        raise ValueError(f"unknown areas {unknown}; known: {list(AREAS)}")
    counts = {**NUM_NEURONS, **(num_neurons or {})}
    grey = filters.greyscale(images)
    maps = _statistic_maps(grey) if {"V4", "IT"} & set(areas) else None  # shared by V4 and IT
    out = {}
    for area in areas:
        rng = np.random.default_rng([seed, _AREA_STREAM[area]])
        num = checks.count(f"num_neurons[{area}]", counts[area])
        if area == "V1":
            mean, params = _v1_responses(grey, rng, num)
        elif area == "V4":
            mean, params = _v4_responses(maps, rng, num)
        else:
            mean, params = _it_responses(maps, metadata, rng, num)
        spread = mean.std(0)
        signal_sd = np.where(spread > 1e-8, rng.uniform(*SIGNAL_SD_RANGE[area], num), 0.0)  # 0: silent neuron
        mean = mean / np.maximum(spread, 1e-8) * signal_sd
        trials = mean[None] + NOISE_SD[area] * rng.normal(size=(num_repetitions,) + mean.shape)
        params["signal_sd"] = signal_sd
        params["expected_consistency"] = expected_consistency(signal_sd, NOISE_SD[area], num_repetitions)
        attrs = {"simulated": 1, "area": area, "noise_sd": NOISE_SD[area], "num_repetitions": num_repetitions,
                 "seed": seed, "model": _MODELS[area], "ceiling_formula": CEILING_FORMULA}
        out[area] = make_assembly(trials, metadata, area, params, attrs)
    return out

