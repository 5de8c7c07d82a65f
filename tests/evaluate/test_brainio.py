import vvs_tf  # noqa: F401
import csv
import io
import os
import zipfile

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from vvs_tf.evaluate import brainio


def _write_stimulus_set(directory, n=6, size=12, zipped=True, skip=()):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    rows = [{"stimulus_id": f"s{i}", "filename": f"img_{i}.png", "object_name": f"obj{i % 2}",
             "variation": [0, 3, 6][i % 3], "ty": 0.1 * i} for i in range(n)]
    with open(os.path.join(directory, "stimulus_set.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if zipped:
        with zipfile.ZipFile(os.path.join(directory, "stimulus_set.zip"), "w") as z:
            for i in range(n):
                if i in skip:
                    continue
                buffer = io.BytesIO()
                Image.fromarray(pixels[i]).save(buffer, format="PNG")
                z.writestr(f"images/img_{i}.png", buffer.getvalue())
    else:
        os.makedirs(os.path.join(directory, "stimulus_set"))
        for i in range(n):
            if i not in skip:
                Image.fromarray(pixels[i]).save(os.path.join(directory, "stimulus_set",
                                                             f"img_{i}.png"))
    return pixels


def _assembly(n_stimuli=5, n_reps=3, n_neurons=4, seed=0, time_bins=None):
    rng = np.random.default_rng(seed)
    stim = np.repeat([f"s{i}" for i in range(n_stimuli)], n_reps)
    rep = np.tile(np.arange(n_reps), n_stimuli)
    values = rng.standard_normal((n_stimuli * n_reps, n_neurons))
    coords = {"stimulus_id": ("presentation", stim), "repetition": ("presentation", rep),
              "object_name": ("presentation", np.array([f"obj{int(s[1:]) % 2}" for s in stim])),
              "neuroid_id": ("neuroid", [f"n{i}" for i in range(n_neurons)]),
              "region": ("neuroid", ["IT"] * (n_neurons - 1) + ["V4"])}
    dims = ("presentation", "neuroid")
    if time_bins:
        values = np.stack([values + k for k in range(len(time_bins))], axis=-1)
        dims = dims + ("time_bin",)
        coords["time_bin_start"] = ("time_bin", [b[0] for b in time_bins])
        coords["time_bin_end"] = ("time_bin", [b[1] for b in time_bins])
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"simulated": 1})


@pytest.mark.parametrize("zipped", [True, False])
def test_stimulus_set_reads_csv_and_images(tmp_path, zipped):
    pixels = _write_stimulus_set(str(tmp_path), zipped=zipped)
    stimuli = brainio.StimulusSet(str(tmp_path / "stimulus_set.csv"))
    assert list(stimuli.ids) == [f"s{i}" for i in range(6)]
    assert stimuli.metadata["variation"].dtype.kind == "i"
    assert np.allclose(stimuli.metadata["ty"], 0.1 * np.arange(6))
    images = stimuli.load(stimuli.positions(["s4", "s1"]))
    assert images.dtype == np.float32 and images.shape == (2, 12, 12, 3)
    assert np.allclose(images, pixels[[4, 1]] / 255.0)
    assert stimuli.load([0], size=8).shape == (1, 8, 8, 3)


def test_stimulus_set_errors_name_missing_files_and_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        brainio.StimulusSet(str(tmp_path / "nothere.csv"))
    _write_stimulus_set(str(tmp_path), skip=(2,))
    with pytest.raises(FileNotFoundError, match="img_2.png"):
        brainio.StimulusSet(str(tmp_path / "stimulus_set.csv"))
    os.remove(tmp_path / "stimulus_set.zip")
    with pytest.raises(FileNotFoundError, match=r"stimulus_set\.zip"):
        brainio.StimulusSet(str(tmp_path / "stimulus_set.csv"))


def test_stimulus_set_error_names_missing_id_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,filename\na,a.png\n")
    with pytest.raises(ValueError, match="stimulus_id"):
        brainio.StimulusSet(str(path))


def test_locate_finds_brainio_cache_layout_and_names_missing_file(tmp_path):
    os.makedirs(tmp_path / "assy_x")
    (tmp_path / "assy_x" / "assy_x.nc").write_bytes(b"")
    assert brainio.locate(str(tmp_path), "assy_x.nc") == str(tmp_path / "assy_x" / "assy_x.nc")
    with pytest.raises(FileNotFoundError, match="assy_dicarlo_MajajHong2015_public.nc"):
        brainio.locate(str(tmp_path), "assy_dicarlo_MajajHong2015_public.nc")


def test_assembly_roundtrip_region_and_average(tmp_path):
    path = str(tmp_path / "assy_world_IT.nc")
    data = _assembly()
    data.to_netcdf(path, engine="h5netcdf")
    loaded = brainio.load_assembly(path, region="IT")
    assert loaded.dims == ("presentation", "neuroid") and loaded.sizes["neuroid"] == 3
    mean = brainio.load_assembly(path, average_repetitions=True)
    assert list(mean["stimulus_id"].values) == [f"s{i}" for i in range(5)]
    assert "repetition" not in mean.coords and "object_name" in mean.coords
    assert np.allclose(mean.values, data.values.reshape(5, 3, 4).mean(axis=1))


def test_time_bins_are_selected_and_averaged(tmp_path):
    path = str(tmp_path / "assy.nc")
    _assembly(time_bins=[(70, 90), (90, 110), (110, 130)]).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="3 time bins"):
        brainio.load_assembly(path)
    one = brainio.load_assembly(path, time_bins=(70, 110))
    base = _assembly().values
    assert np.allclose(one.values, base + 0.5)      # mean of bins 0 and 1 (offsets 0 and 1)
    with pytest.raises(ValueError, match="no time bin"):
        brainio.load_assembly(path, time_bins=(0, 50))


def test_assembly_errors_name_missing_file_and_coordinates(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nc"):
        brainio.load_assembly(str(tmp_path / "missing.nc"))
    path = str(tmp_path / "no_ids.nc")
    _assembly().drop_vars("stimulus_id").to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="stimulus_id"):
        brainio.load_assembly(path)
    path = str(tmp_path / "no_region.nc")
    _assembly().drop_vars("region").to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="region"):
        brainio.load_assembly(path, region="IT")


def test_nan_recordings_are_masked_per_neuron_when_averaging():
    data = _assembly()
    data.values[0, 1] = np.nan              # one repetition of s0 missing for neuron 1
    data.values[3:6, 2] = np.nan            # s1 never recorded for neuron 2
    mean = brainio.average_over_repetitions(data)
    clean = _assembly().values.reshape(5, 3, 4)
    assert mean.values[0, 1] == pytest.approx(clean[0, 1:, 1].mean())
    assert np.isnan(mean.values[1, 2])
    untouched = np.ones((5, 4), bool)
    untouched[0, 1] = untouched[1, 2] = False
    assert np.allclose(mean.values[untouched], clean.mean(axis=1)[untouched])


def test_repetition_tensor_orders_by_repetition_and_pads():
    data = _assembly().isel(presentation=[2, 1, 0, 3, 4, 5, 6])  # s2 has one repetition only
    reps, ids = brainio.repetition_tensor(data)
    assert list(ids) == ["s0", "s1", "s2"]
    assert reps.shape == (3, 3, 4)
    full = _assembly().values.reshape(5, 3, 4)
    assert np.allclose(reps[:, 0], full[0]) and np.allclose(reps[:, 1], full[1])
    assert np.allclose(reps[0, 2], full[2, 0]) and np.all(np.isnan(reps[1:, 2]))


def test_load_trials(tmp_path):
    path = str(tmp_path / "behaviour_world_objectome.nc")
    choice = np.array(["a", "b", "a"])
    xr.DataArray(choice, dims=("presentation",), coords={
        "stimulus_id": ("presentation", ["s0", "s1", "s2"]),
        "sample_obj": ("presentation", ["a", "a", "b"]),
        "dist_obj": ("presentation", ["b", "b", "a"]),
        "choice": ("presentation", choice),
        "truth": ("presentation", ["a", "a", "b"]),
        "worker_id": ("presentation", ["w0", "w1", "w0"])}).to_netcdf(path, engine="h5netcdf")
    trials = brainio.load_trials(path)
    assert list(trials["choice"]) == ["a", "b", "a"] and list(trials["worker_id"])[1] == "w1"
    path2 = str(tmp_path / "no_dist.nc")
    xr.DataArray(choice, dims=("presentation",), coords={
        "stimulus_id": ("presentation", ["s0", "s1", "s2"]),
        "sample_obj": ("presentation", ["a", "a", "b"])}).to_netcdf(path2, engine="h5netcdf")
    with pytest.raises(ValueError, match="dist_obj"):
        brainio.load_trials(path2)


def test_subset_loads_in_the_requested_order(tmp_path):
    pixels = _write_stimulus_set(str(tmp_path))
    stimuli = brainio.StimulusSet(str(tmp_path / "stimulus_set.csv"))
    view = stimuli.subset(["s5", "s0", "s3"])
    assert len(view) == 3 and list(view.ids) == ["s5", "s0", "s3"]
    assert list(view.metadata["object_name"]) == ["obj1", "obj0", "obj1"]
    assert np.allclose(view.load([0, 2]), pixels[[5, 3]] / 255.0)
    with pytest.raises(ValueError, match="s9"):
        stimuli.subset(["s9"])
