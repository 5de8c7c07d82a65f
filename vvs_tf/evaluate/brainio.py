"""Readers for a local BrainIO catalogue: stimulus sets (CSV + zip/folder) and netCDF assemblies.

Brain-Score's files (e.g. `image_dicarlo_hvm-public.csv` + `.zip`,
`assy_dicarlo_MajajHong2015_public.nc`) and the embedded world written by `vvs-world` share one
layout (docs/CONTRACTS.md, "The world directory"), so the same readers serve both. Nothing is
downloaded: a missing file is an error that names the path that was looked for.
"""
import csv
import io
import os
import zipfile

import numpy as np
import xarray as xr
from PIL import Image
from scipy import sparse

ID_COLUMNS = ("stimulus_id", "image_id")
FILENAME_COLUMNS = ("filename", "image_file_name", "image_current_local_file_path")


def default_data_dir():
    """Brain-Score's local cache (BRAINIO_HOME, default ~/.brainio)."""
    return os.environ.get("BRAINIO_HOME", os.path.join(os.path.expanduser("~"), ".brainio"))


def locate(data_dir, filename):
    """Path of a catalogue file: <dir>/<file> or BrainIO's cache layout <dir>/<stem>/<file>."""
    candidates = [os.path.join(data_dir, filename),
                  os.path.join(data_dir, os.path.splitext(filename)[0], filename)]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"BrainIO file {filename!r} not found; looked for {' and '.join(candidates)}")


def _column(values):
    """A CSV column as int64, float64 (empty -> NaN) or str array."""
    for convert in (lambda v: np.array(v, dtype=np.int64),
                    lambda v: np.array([x if x != "" else "nan" for x in v], dtype=np.float64)):
        try:
            return convert(values)
        except ValueError:
            pass
    return np.array(values, dtype=str)


def read_csv_columns(path):
    """A CSV file as {column: array}, numbers converted, without pandas."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"stimulus set CSV not found: {path}")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"stimulus set CSV {path} is empty") from None
        rows = list(reader)
    if any(len(row) != len(header) for row in rows):
        bad = next(i for i, row in enumerate(rows) if len(row) != len(header))
        raise ValueError(f"{path}: row {bad + 2} has a different number of fields than the header")
    return {name: _column([row[i] for row in rows]) for i, name in enumerate(header)}


def _pick(columns, options, path, what):
    for name in options:
        if name in columns:
            return name
    raise ValueError(f"{path} has no {what} column (looked for {', '.join(options)}); "
                     f"columns are {', '.join(columns)}")


class StimulusSet:
    """A stimulus set: ids, per-image metadata arrays, and an image loader (zip or folder).

    images: the zip or folder of images (default: the CSV's stem + .zip, else the stem folder);
    size: (H, W) or int every image is resized to when loaded (needed if their sizes differ).
    """

    def __init__(self, csv_path, images=None, size=None):
        self.csv_path = csv_path
        self.size = size
        columns = read_csv_columns(csv_path)
        id_column = _pick(columns, ID_COLUMNS, csv_path, "stimulus id")
        file_column = _pick(columns, FILENAME_COLUMNS, csv_path, "image file name")
        self.ids = columns[id_column].astype(str)
        self.metadata = columns
        self.metadata["stimulus_id"] = self.ids
        self.filenames = np.array([os.path.basename(f) for f in columns[file_column].astype(str)])
        if len(np.unique(self.ids)) != len(self.ids):
            raise ValueError(f"{csv_path}: stimulus ids are not unique")
        self._position = {s: i for i, s in enumerate(self.ids)}
        self.images_path = images or self._default_images_path()
        self._zip = None
        self._members = self._index_images()

    def _default_images_path(self):
        stem = os.path.splitext(self.csv_path)[0]
        for candidate in (stem + ".zip", stem):
            if os.path.exists(candidate):
                return candidate
        raise FileNotFoundError(f"images for {self.csv_path} not found: expected {stem}.zip or "
                                f"the folder {stem}")

    def _index_images(self):
        path = self.images_path
        if os.path.isdir(path):
            names = {}
            for root, _, files in os.walk(path):
                for name in files:
                    names.setdefault(name, os.path.join(root, name))
        elif os.path.isfile(path):
            if not zipfile.is_zipfile(path):
                raise ValueError(f"image archive {path} is not a zip file")
            self._zip = zipfile.ZipFile(path)
            names = {}
            for member in self._zip.namelist():
                if not member.endswith("/"):
                    names.setdefault(os.path.basename(member), member)
        else:
            raise FileNotFoundError(f"image zip or folder not found: {path}")
        missing = [f for f in self.filenames if f not in names]
        if missing:
            raise FileNotFoundError(f"{len(missing)} image(s) listed in {self.csv_path} are missing "
                                    f"from {path}, e.g. {', '.join(missing[:5])}")
        return names

    def __len__(self):
        return len(self.ids)

    def positions(self, stimulus_ids):
        """Row positions of the given stimulus ids; error naming ids not in the set."""
        ids = np.asarray(stimulus_ids).astype(str)
        unknown = [s for s in ids if s not in self._position]
        if unknown:
            raise ValueError(f"{len(unknown)} stimulus id(s) are not in {self.csv_path}, e.g. "
                             f"{', '.join(unknown[:5])}")
        return np.array([self._position[s] for s in ids], dtype=np.int64)

    def _read(self, filename):
        member = self._members[filename]
        data = self._zip.read(member) if self._zip is not None else open(member, "rb").read()
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))

    def subset(self, stimulus_ids):
        """A view of these stimuli in the given order (e.g. an assembly's), for extraction."""
        return StimulusSubset(self, self.positions(stimulus_ids))

    def load(self, indices, size=None):
        """Images at the given row positions as float32 [B, H, W, 3] in [0, 1].

        Images of different sizes need `size` (H, W) or an int, to which each is resized.
        """
        size = self.size if size is None else size
        arrays = []
        for i in np.asarray(indices, dtype=np.int64).ravel():
            pixels = self._read(self.filenames[i])
            if size is not None:
                h, w = (size, size) if np.isscalar(size) else size
                if pixels.shape[:2] != (h, w):
                    pixels = np.asarray(Image.fromarray(pixels).resize((w, h), Image.BILINEAR))
            arrays.append(pixels)
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"images in {self.images_path} have different sizes {sorted(shapes)}; "
                             "pass size= to resize them")
        if not arrays:
            return np.zeros((0, 0, 0, 3), np.float32)
        return np.stack(arrays).astype(np.float32) / 255.0

    def close(self):
        if self._zip is not None:
            self._zip.close()
            self._zip = None


class StimulusSubset:
    """Some stimuli of a StimulusSet, in a chosen order; loads like a StimulusSet."""

    def __init__(self, parent, positions):
        self.parent = parent
        self.parent_positions = np.asarray(positions, dtype=np.int64)
        self.ids = parent.ids[self.parent_positions]
        self.metadata = {k: v[self.parent_positions] for k, v in parent.metadata.items()}

    def __len__(self):
        return len(self.ids)

    def load(self, indices, size=None):
        return self.parent.load(self.parent_positions[np.asarray(indices, dtype=np.int64)], size)


def _open_dataarray(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"assembly file not found: {path}")
    try:
        with xr.open_dataarray(path) as data:
            return data.load()
    except ValueError as error:
        raise ValueError(f"{path} is not a netCDF file holding one DataArray: {error}") from error


def _require_coords(data, coords, dim, path):
    missing = [c for c in coords if c not in data.coords]
    if missing:
        raise ValueError(f"{path} lacks coordinate(s) {', '.join(missing)} on {dim!r}; it has "
                         f"{', '.join(sorted(map(str, data.coords)))}")


def _select_time_bins(data, time_bins, path):
    if "time_bin" not in data.dims:
        if time_bins is not None:
            raise ValueError(f"{path} has no time_bin dimension but time_bins={time_bins} was given")
        return data
    if time_bins is None:
        if data.sizes["time_bin"] != 1:
            raise ValueError(f"{path} has {data.sizes['time_bin']} time bins; pass "
                             "time_bins=(start_ms, end_ms) to choose and average them")
        return data.isel(time_bin=0, drop=True)
    _require_coords(data, ("time_bin_start", "time_bin_end"), "time_bin", path)
    start, end = time_bins
    keep = (data["time_bin_start"].values >= start) & (data["time_bin_end"].values <= end)
    if not keep.any():
        bins = list(zip(data["time_bin_start"].values.tolist(), data["time_bin_end"].values.tolist()))
        raise ValueError(f"no time bin of {path} lies within {time_bins}; bins are {bins}")
    return data.isel(time_bin=np.flatnonzero(keep)).mean("time_bin", skipna=True)


def load_assembly(path, time_bins=None, region=None, average_repetitions=False):
    """A neural assembly netCDF as a DataArray (presentation, neuroid), stimulus_id as str.

    time_bins=(start_ms, end_ms) averages the bins inside that window; region keeps the neuroids
    of one area; average_repetitions returns one presentation per stimulus (NaN-aware).
    """
    data = _open_dataarray(path)
    if "presentation" not in data.dims or "neuroid" not in data.dims:
        raise ValueError(f"{path} must have dimensions presentation and neuroid, has {data.dims}")
    data = _select_time_bins(data, time_bins, path)
    extra = set(data.dims) - {"presentation", "neuroid"}
    if extra:
        raise ValueError(f"{path} has unexpected dimensions {sorted(extra)}")
    data = data.transpose("presentation", "neuroid")
    if "stimulus_id" not in data.coords and "image_id" in data.coords:
        data = data.assign_coords(stimulus_id=("presentation", data["image_id"].values))
    _require_coords(data, ("stimulus_id",), "presentation", path)
    data = data.assign_coords(stimulus_id=("presentation", data["stimulus_id"].values.astype(str)))
    if region is not None:
        _require_coords(data, ("region",), "neuroid", path)
        keep = data["region"].values.astype(str) == region
        if not keep.any():
            raise ValueError(f"{path} has no neuroids of region {region!r}; regions are "
                             f"{sorted(set(data['region'].values.astype(str)))}")
        data = data.isel(neuroid=np.flatnonzero(keep))
    data.attrs["source_path"] = str(path)
    return average_over_repetitions(data) if average_repetitions else data


def _stimulus_groups(assembly):
    """Unique stimulus ids in order of first appearance, and each presentation's group index."""
    ids = assembly["stimulus_id"].values.astype(str)
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return ids[np.sort(first)], rank[inverse], np.sort(first)


def average_over_repetitions(assembly):
    """Mean over presentations of the same stimulus, masking NaNs per neuroid.

    Keeps presentation coordinates that are constant within each stimulus.
    """
    ids, group, first = _stimulus_groups(assembly)
    values = assembly.values.astype(np.float64)
    finite = np.isfinite(values)
    indicator = sparse.csr_matrix((np.ones(len(group)), (group, np.arange(len(group)))),
                                  shape=(len(ids), len(group)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (indicator @ np.where(finite, values, 0.0)) / (indicator @ finite.astype(np.float64))
    coords = {}
    for name, coord in assembly.coords.items():
        if coord.dims == ("presentation",):
            v = coord.values
            if np.array_equal(v[first][group], v, equal_nan=v.dtype.kind == "f"):
                coords[name] = ("presentation", v[first])
        elif "presentation" not in coord.dims:
            coords[name] = coord
    return xr.DataArray(mean, dims=("presentation", "neuroid"), coords=coords,
                        attrs=dict(assembly.attrs))


def repetition_tensor(assembly):
    """Responses as [repetition, stimulus, neuroid] (NaN where a stimulus had fewer repeats).

    Stimuli are in order of first appearance (as in average_over_repetitions); repetitions are
    ordered by the `repetition` coordinate when present.
    """
    ids, group, _ = _stimulus_groups(assembly)
    key = assembly["repetition"].values if "repetition" in assembly.coords else np.arange(len(group))
    order = np.lexsort((key, group))
    counts = np.bincount(group, minlength=len(ids))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - starts[group[order]]
    out = np.full((counts.max(), len(ids), assembly.sizes["neuroid"]), np.nan)
    out[rank, group] = assembly.values
    return out, ids


TRIAL_FIELDS = ("stimulus_id", "sample_obj", "dist_obj", "choice", "truth", "worker_id")


def load_trials(path):
    """2AFC behavioural trials (objectome style) as {field: str array} for TRIAL_FIELDS.

    `choice` comes from a coordinate of that name or else the DataArray's values; `truth`
    defaults to `sample_obj`; `worker_id` is optional.
    """
    data = _open_dataarray(path)
    if "stimulus_id" not in data.coords and "image_id" in data.coords:
        data = data.assign_coords(stimulus_id=(data["image_id"].dims, data["image_id"].values))
    _require_coords(data, ("stimulus_id", "sample_obj", "dist_obj"), "presentation", path)
    trials = {name: data[name].values.astype(str).ravel()
              for name in ("stimulus_id", "sample_obj", "dist_obj")}
    trials["choice"] = (data["choice"].values if "choice" in data.coords else data.values)
    trials["choice"] = np.asarray(trials["choice"]).astype(str).ravel()
    trials["truth"] = (data["truth"].values.astype(str).ravel() if "truth" in data.coords
                       else trials["sample_obj"])
    if "worker_id" in data.coords:
        trials["worker_id"] = data["worker_id"].values.astype(str).ravel()
    return trials
