"""Named benchmarks: names resolve, missing files are named, and real Brain-Score layouts score end
to end against planted ground truth (the layer-to-area check on the embedded world is in
test_layer_area_correspondence.py).

Ridge read-outs stand in for the mask regression here: the mask fit trains a TF graph for 40
epochs per split and layer, minutes on the shared CPU; registry wiring is the same for all three.
"""
import vvs_tf  # noqa: F401
import io
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from vvs_tf.evaluate import activations as act
from vvs_tf.evaluate import registry
from vvs_tf.evaluate.ceiling import split_half_consistency

REQUIRED = [f"World.{a}-sim{s}" for a in ("V1", "V4", "IT") for s in ("", "-pls", "-ridge")] + [
    "World.i2n-sim", "World.position", "World.pose", "World.size", "World.categorization",
    "World.rsa-IT-sim", "MajajHong2015.IT-mask", "MajajHong2015.V4-mask", "MajajHong2015.IT-pls",
    "MajajHong2015.V4-pls", "Cadena2017.V1-mask", "Rajalingham2018-i2n", "HvM.position",
    "HvM.pose", "HvM.size"]


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def test_every_benchmark_name_resolves_to_its_data_and_metric():
    assert set(REQUIRED) <= set(registry.list_benchmarks())
    it = registry.get_benchmark("MajajHong2015.IT-mask")
    assert (it.kind, it.region, it.regression, it.time_bins) == ("neural", "IT", "mask", (70, 170))
    assert it.files.names() == ["image_dicarlo_hvm-public.csv", "image_dicarlo_hvm-public.zip",
                                "assy_dicarlo_MajajHong2015_public.nc"]
    assert registry.get_benchmark("World.IT-sim-pls").regression == "pls"
    assert registry.get_benchmark("World.IT-sim").regression == "mask"
    v1 = registry.get_benchmark("Cadena2017.V1-mask")
    assert v1.preprocess == {"resize": 70, "crop": 40} and v1.split == "random"
    assert v1.overrides["regression_kwargs"]["weight_decays"] == registry.V1_WEIGHT_DECAYS
    assert registry.get_benchmark("Rajalingham2018-i2n").files.names()[-1] == \
        "assy_dicarlo_Rajalingham2018_public.nc"
    assert {registry.get_benchmark(n).kind for n in REQUIRED} == {
        "neural", "behaviour", "properties", "categorization", "rsa"}
    with pytest.raises(ValueError, match="unknown benchmark 'World.V2-sim'.*World.IT-sim"):
        registry.get_benchmark("World.V2-sim")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(it)


def test_missing_brainio_files_are_named_before_the_model_is_opened(tmp_path):
    (tmp_path / "image_dicarlo_hvm-public.csv").write_text("image_id,image_file_name\n")
    (tmp_path / "image_dicarlo_hvm-public.zip").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as error:
        registry.evaluate(str(tmp_path / "no_model"), ["MajajHong2015.IT-mask"],
                          data_dir=str(tmp_path))
    message = str(error.value)
    assert "MajajHong2015.IT-mask needs assy_dicarlo_MajajHong2015_public.nc" in message
    assert str(tmp_path / "assy_dicarlo_MajajHong2015_public" /
               "assy_dicarlo_MajajHong2015_public.nc") in message
    assert "hvm-public.csv" not in message and "no_model" not in message
    with pytest.raises(FileNotFoundError, match="image_tolias_Cadena2017.csv, image_tolias_"
                                                "Cadena2017.zip, assy_tolias_Cadena2017.nc"):
        registry.evaluate("unused", "Cadena2017.V1-pls", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_splitz'\]"):
        registry.evaluate("unused", "Cadena2017.V1-pls", data_dir=str(tmp_path),
                          options={"neural": {"n_splitz": 3}})


# --- a small BrainIO directory in Brain-Score's layout ------------------------------------------

def _planted_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3), name="images")
    a = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="a")(inputs)
    b = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="b")(a)
    return act.KerasActivationModel(keras.Model(inputs, {"a": a, "b": b}, name="planted"))


def _write_stimuli(directory, stem, images, columns):
    """BrainIO cache layout: <dir>/<stem>/<stem>.csv + .zip, older column names (image_id ...)."""
    folder = directory / stem
    folder.mkdir(parents=True)
    names = [f"{i}.png" for i in columns["image_id"]]
    pd.DataFrame(dict(columns, image_file_name=names)).to_csv(folder / f"{stem}.csv", index=False)
    with zipfile.ZipFile(folder / f"{stem}.zip", "w") as archive:
        for name, image in zip(names, images):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            archive.writestr(f"images/{name}", buffer.getvalue())


def _write_assembly(directory, name, signal, regions, columns, n_reps, noise, time_bin, rng):
    """presentation x neuroid x time_bin netCDF with repetitions, as Brain-Score stores them."""
    n, k = signal.shape
    trials = signal[None] + noise * rng.standard_normal((n_reps, n, k))
    coords = {c: ("presentation", np.tile(np.asarray(v), n_reps)) for c, v in columns.items()
              if c != "image_id"}
    coords.update(image_id=("presentation", np.tile(columns["image_id"], n_reps)),
                  repetition=("presentation", np.repeat(np.arange(n_reps), n)),
                  neuroid_id=("neuroid", [f"site{i}" for i in range(k)]),
                  region=("neuroid", regions),
                  time_bin_start=("time_bin", [time_bin[0]]),
                  time_bin_end=("time_bin", [time_bin[1]]))
    data = xr.DataArray(trials.reshape(n_reps * n, k, 1), dims=("presentation", "neuroid",
                                                                 "time_bin"), coords=coords)
    (directory / name[:-3]).mkdir()
    data.to_netcdf(directory / name[:-3] / name, engine="h5netcdf")
    return trials


def _planted_signal(features, n_neurons, rng):
    flat = features.reshape(len(features), -1)
    signal = flat @ rng.standard_normal((flat.shape[1], n_neurons))
    return (signal - signal.mean(0)) / signal.std(0)


def test_majajhong_layout_scores_planted_layer_near_one(tmp_path):
    rng = np.random.default_rng(0)
    n = 240
    images = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    columns = {"image_id": np.array([f"img{i:04d}" for i in range(n)]),
               "object_name": np.repeat([f"obj{i}" for i in range(8)], 30),
               "category_name": np.repeat(["animals", "cars"], 120),
               "variation": np.tile([0, 3, 6], 80), "ty": rng.uniform(-1, 1, n),
               "tz": rng.uniform(-1, 1, n), "rxy": rng.uniform(-90, 90, n),
               "rxz": rng.uniform(-90, 90, n), "ryz": rng.uniform(-90, 90, n),
               "s": rng.uniform(0.7, 1.3, n)}
    _write_stimuli(tmp_path, "image_dicarlo_hvm-public", images, columns)
    model = _planted_model()
    b = model(images.astype(np.float32) / 255, ["b"])["b"]
    signal = _planted_signal(b, 16, rng)                     # IT: 12 sites, V4: 4 sites
    regions = ["IT"] * 12 + ["V4"] * 4
    trials = _write_assembly(tmp_path, "assy_dicarlo_MajajHong2015_public.nc", signal, regions,
                             columns, n_reps=4, noise=0.8, time_bin=(70, 170), rng=rng)
    nc = tmp_path / "assy_dicarlo_MajajHong2015_public" / "assy_dicarlo_MajajHong2015_public.nc"
    data = xr.load_dataarray(nc)
    data[np.arange(0, 40) * 4, 0, 0] = np.nan               # site0 missed some presentations
    data.to_netcdf(nc, engine="h5netcdf")

    out = registry.evaluate(model, ["MajajHong2015.IT-ridge", "MajajHong2015.V4-ridge"],
                            data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"),
                            options={"neural": {"n_splits": 4, "n_bootstrap": 50}})
    it = out["benchmarks"]["MajajHong2015.IT-ridge"]
    assert it["best_layer"] == "b" and it["formula"] == "r/sqrt(ceiling)"
    assert it["n_neurons"] == 12 and out["benchmarks"]["MajajHong2015.V4-ridge"]["n_neurons"] == 4
    assert 0.85 < it["score"] < 1.1 and it["layers"]["a"]["score"] < it["score"] - 0.05
    assert 0 < it["error"] < 0.05
    scores = np.array(it["layers"]["b"]["per_neuron_score"], dtype=float)
    assert np.isfinite(scores).all() and scores[0] > 0.8     # NaNs masked, not spread
    assert it["score"] == pytest.approx(np.median(scores))
    # The stored ceiling is the split-half consistency of the repetitions (time bin 70-170).
    reps = trials[:, :, :12].copy()
    reps[(np.arange(0, 40) * 4) // n, (np.arange(0, 40) * 4) % n, 0] = np.nan
    assert np.allclose(it["data"]["ceiling"], split_half_consistency(reps, 100, seed=0))
    variation = np.asarray(columns["variation"])
    for split in it["protocol"]["splits"]:    # tune on 0/3; choose the layer and report on 6
        assert set(variation[split["test"]]) == set(variation[split["choice"]]) == {6}
        assert set(variation[split["select"]]) <= {0, 3}
    choice = {r for split in it["protocol"]["splits"] for r in split["choice"]}
    assert choice and not choice & {r for split in it["protocol"]["splits"] for r in split["test"]}
    assert it["best_layer"] == max(it["layers"], key=lambda k: it["layers"][k]["choice_score"])
    assert "layer-choice rows" in it["protocol"]["best_layer_rule"]


def test_cadena_layout_crops_70_to_40_px_before_the_model(tmp_path):
    rng = np.random.default_rng(1)
    n = 200
    coarse = rng.integers(0, 256, (n, 7, 7, 3), dtype=np.uint8)   # smooth, so crops differ
    images = np.stack([np.asarray(Image.fromarray(c).resize((140, 140), Image.BICUBIC))
                       for c in coarse])
    columns = {"image_id": np.array([f"cad{i}" for i in range(n)])}
    _write_stimuli(tmp_path, "image_tolias_Cadena2017", images, columns)
    model = _planted_model()
    seen = act.Preprocess(resize=70, crop=40, size=16)(images.astype(np.float32) / 255)
    signal = _planted_signal(model(seen, ["b"])["b"], 10, rng)
    _write_assembly(tmp_path, "assy_tolias_Cadena2017.nc", signal, ["V1"] * 10, columns,
                    n_reps=2, noise=0.5, time_bin=(40, 100), rng=rng)
    uncropped = act.Preprocess(size=16)(images.astype(np.float32) / 255)
    assert np.corrcoef(uncropped.ravel(), seen.ravel())[0, 1] < 0.7   # the crop matters
    out = registry.evaluate(model, "Cadena2017.V1-ridge", data_dir=str(tmp_path),
                            cache_dir=str(tmp_path / "cache"),
                            options={"neural": {"n_splits": 3, "n_bootstrap": 20}})
    v1 = out["benchmarks"]["Cadena2017.V1-ridge"]
    assert v1["data"]["preprocess"] == {"resize": 70, "crop": 40, "size": [16, 16]}
    assert v1["protocol"]["split"] == "random" and v1["best_layer"] == "b"
    assert v1["score"] > 0.85
