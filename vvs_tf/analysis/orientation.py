"""Orientation selectivity of a layer's units (REFERENCE.md, developmental trajectories): circular
variance of each channel's responses to drifting gratings.

A drifting grating is shown as its phases; a channel's response to an orientation is its spatially
averaged activation, averaged over the phases (the F0 response), at the spatial frequency it
responds to most. Circular variance 1 - |sum_k r_k exp(2i theta_k)| / sum_k r_k is 0 for a unit
that responds to one orientation only and 1 for one that responds to all alike.
"""
import vvs_tf  # noqa: F401

import numpy as np

from vvs_tf.evaluate.activations import as_model_input


def gratings(size: int, orientations, cycles_per_image, phases) -> np.ndarray:
    """Sine gratings [len(orientations), len(cycles), len(phases), size, size, 3] in [0, 1]
    (orientations in radians: the direction across the stripes)."""
    y, x = (np.mgrid[0:size, 0:size].astype(np.float64) - (size - 1) / 2.0) / size
    theta = np.asarray(orientations, np.float64)[:, None, None, None, None]
    cycles = np.asarray(cycles_per_image, np.float64)[None, :, None, None, None]
    phase = np.asarray(phases, np.float64)[None, None, :, None, None]
    along = x * np.cos(theta) + y * np.sin(theta)
    pattern = 0.5 + 0.5 * np.sin(2 * np.pi * cycles * along + phase)
    return np.repeat(pattern[..., None], 3, axis=-1).astype(np.float32)


def circular_variance(responses, orientations) -> np.ndarray:
    """Per unit: 1 - |sum_k r_k exp(2i theta_k)| / sum_k r_k for non-negative responses
    [len(orientations), units]; NaN for a unit that never responds."""
    r = np.asarray(responses, np.float64)
    if r.min() < 0:
        raise ValueError("circular variance needs non-negative responses (rectified activations)")
    phasors = np.exp(2j * np.asarray(orientations, np.float64))[:, None]
    total = r.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 1.0 - np.abs((r * phasors).sum(axis=0)) / total, np.nan)


def orientation_tuning(model, layer: str, size: int, orientations=None,
                       cycles_per_image=(2, 4, 8), phases=8) -> tuple:
    """(orientations [K], tuning [K, channels]) of `layer` of an activation model
    (vvs_tf.evaluate.activations: images in, {layer: activations} out)."""
    orientations = np.linspace(0, np.pi, 12, endpoint=False) if orientations is None else \
        np.asarray(orientations, np.float64)
    phase_values = np.linspace(0, 2 * np.pi, phases, endpoint=False)
    stimuli = gratings(size, orientations, cycles_per_image, phase_values)
    flat = stimuli.reshape(-1, size, size, 3)
    activation = np.asarray(model(as_model_input(model, flat), layers=[layer])[layer])
    if activation.ndim > 2:
        activation = activation.mean(axis=tuple(range(1, activation.ndim - 1)))
    response = activation.reshape(len(orientations), len(cycles_per_image), phases, -1).mean(2)
    best_frequency = response.max(axis=0).argmax(axis=0)  # each channel's preferred one
    return orientations, np.take_along_axis(response, best_frequency[None, None], axis=1)[:, 0]


def orientation_selectivity(model, layer: str, size: int, **tuning) -> float:
    """Median circular variance over the responsive channels of `layer` (lower: more selective)."""
    orientations, tuning_curves = orientation_tuning(model, layer, size, **tuning)
    variance = circular_variance(np.maximum(tuning_curves, 0.0), orientations)
    if np.all(np.isnan(variance)):
        raise ValueError(f"no channel of {layer} responds to the gratings")
    return float(np.nanmedian(variance))
