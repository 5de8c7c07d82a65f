"""vvs-eval on a tiny exported ResNet over a tiny embedded world (320 images, 32 px, 2 repetitions).

Ridge and PLS read-outs stand in for the mask regression (minutes per layer on the shared CPU).
"""
import vvs_tf  # noqa: F401
import contextlib
import io
import json
import os

import keras
import numpy as np
import pytest
from absl import flags
from scipy import stats as scipy_stats

from vvs_tf.evaluate import cli, registry
from vvs_tf.exporting import export_activation_model
from vvs_tf.models.resnet import build_resnet

LAYERS = "conv1,pool1,layer2.1,layer4.1"
WORLD = {"num_images": 320, "image_size": 32, "num_repetitions": 2}


pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from vvs_tf.data.world import write_world

    path = str(tmp_path_factory.mktemp("w") / "world")
    write_world(path, seed=1, num_videos=1, num_frames=16, **WORLD)   # the video is not scored
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """BASE/NAME of a width-8 ResNet-18 export (untrained, seeded)."""
    keras.utils.set_random_seed(7)
    base = tmp_path_factory.mktemp("exports")
    export_activation_model(build_resnet(18, width=8, input_size=32), str(base), "tiny")
    return str(base / "tiny")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A vvs-train workdir of the untrained control (another seed and width 8)."""
    from configs.tiny import untrained
    from vvs_tf.train import train

    config = untrained.get_config()
    config.data.num_images, config.model.width, config.seed = 320, 8, 3
    path = str(tmp_path_factory.mktemp("runs") / "untrained")
    train(config, path)
    return path


def run_cli(*args):
    """Parse args with a fresh FlagValues (as `run()` would) and run main; returns stdout."""
    flag_values = flags.FlagValues()
    cli.define_flags(flag_values)
    argv = flag_values(["vvs-eval", *args])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(argv, flag_values)
    return out.getvalue()


def test_importing_the_cli_defines_no_flags():
    assert "benchmarks" not in flags.FLAGS and "compare" not in flags.FLAGS


def test_in_flight_reaches_the_extraction_and_must_be_positive(monkeypatch, tmp_path, exported, world):
    seen = {}

    class Extracted(Exception):
        pass

    def extract(*args, **kwargs):
        seen.update(kwargs)
        raise Extracted

    monkeypatch.setattr(registry.act, "extract", extract)
    with pytest.raises(Extracted):
        run_cli(f"--model={exported}", "--benchmarks=World.V1-sim-ridge", f"--output={tmp_path}/r",
                f"--world_dir={world}", "--in_flight=3", "--batch_size=16", "--noprogress")
    assert (seen["in_flight"], seen["batch_size"]) == (3, 16)
    with pytest.raises(flags.IllegalFlagValueError, match="in_flight"):
        run_cli(f"--model={exported}", "--benchmarks=World.V1-sim-ridge", "--in_flight=0")


def test_cli_writes_per_layer_results_with_error_bars_and_protocol(tmp_path, exported, world):
    output = tmp_path / "results.json"
    mask = {"n_splits": 1, "regression_kwargs": {"epochs": 2}}   # a smoke-sized mask fit
    options = {"neural": {"n_splits": 3, "n_bootstrap": 50, "ceiling_splits": 20},
               "World.IT-sim": mask, "World.V1-sim": mask, "properties": {"n_splits": 2},
               "categorization": {"n_splits": 2, "epochs": 5},
               "behaviour": {"n_folds": 4, "n_repetitions": 4}}
    names = ["World.V1-sim-ridge", "World.IT-sim-pls", "World.IT-sim", "World.V1-sim",
             "World.rsa-IT-sim", "World.i2n-sim", "World.position", "World.categorization"]
    stdout = run_cli(f"--model={exported}", f"--benchmarks={','.join(names)}",
                     f"--output={output}", f"--layers={LAYERS}", f"--world_dir={world}",
                     f"--cache_dir={tmp_path / 'cache'}", f"--options={json.dumps(options)}",
                     "--noprogress")
    result = json.loads(output.read_text())
    assert list(result["benchmarks"]) == names
    assert result["model"]["kind"] == "SavedModelActivationModel"
    assert result["model"]["path"].endswith(os.path.join("tiny", "1"))
    assert result["settings"]["world_dir"] == world and result["settings"]["options"] == options
    assert (result["settings"]["world"]["num_images"], result["settings"]["world"]["seed"]) == \
        (320, 1)                                              # the world actually scored
    for name, entry in result["benchmarks"].items():
        assert list(entry["layers"]) == (LAYERS.split(",") if entry["kind"] != "behaviour"
                                         else ["layer4.1"])
        assert entry["best_layer"] in entry["layers"] and entry["formula"]
        if entry["kind"] in ("properties", "categorization"):   # the layer chosen per split
            chosen = entry["protocol"]["chosen_per_split"]
            assert entry["best_layer"] in chosen
            assert entry["score"] == pytest.approx(np.mean(
                [entry["layers"][layer]["per_split"][i] for i, layer in enumerate(chosen)]))
        else:
            assert entry["score"] == entry["layers"][entry["best_layer"]]["score"]
        assert f"best layer {entry['best_layer']}" in stdout and name in stdout

    v1 = result["benchmarks"]["World.V1-sim-ridge"]
    assert v1["n_neurons"] == 166 and v1["protocol"]["regression"] == "ridge"
    assert v1["best_layer"] == max(v1["layers"], key=lambda k: v1["layers"][k]["choice_score"])
    for layer in v1["layers"].values():
        scores = np.array(layer["per_neuron_score"], float)
        assert layer["score"] == pytest.approx(np.nanmedian(scores))
        assert 0 < layer["error"] < 0.1 and len(layer["hyperparameters"]) == 3
        assert len(layer["hyperparameters"][0]["alpha"]) == 166
    assert len(v1["protocol"]["splits"]) == 3 and v1["data"]["preprocess"]["size"] == [32, 32]
    early = max(v1["layers"]["conv1"]["score"], v1["layers"]["pool1"]["score"])
    assert early > v1["layers"]["layer4.1"]["score"]         # early layers are V1-like

    for name, grid in (("World.IT-sim", registry.MASK_WEIGHT_DECAYS),
                       ("World.V1-sim", registry.V1_WEIGHT_DECAYS)):
        chosen = result["benchmarks"][name]["layers"]["conv1"]["hyperparameters"][0]
        assert chosen["method"] == "mask" and chosen["epochs"] == 2   # option merged ...
        assert chosen["weight_decay_grid"] == list(grid)             # ... keeping the grid
        assert set(chosen["weight_decay"]) <= set(grid)
    pls = result["benchmarks"]["World.IT-sim-pls"]
    assert pls["layers"]["conv1"]["hyperparameters"][0]["n_components"] == 25

    # RSA recomputed independently: np.corrcoef RDMs, SciPy Spearman, leave-one-out ceiling.
    rsa = result["benchmarks"]["World.rsa-IT-sim"]
    report = np.array(rsa["protocol"]["halves"]["report"])
    from vvs_tf.evaluate import brainio
    assembly = brainio.load_assembly(os.path.join(world, "assy_world_IT.nc"), region="IT")
    reps, ids = brainio.repetition_tensor(assembly)
    stimuli = brainio.StimulusSet(os.path.join(world, "stimulus_set.csv"))
    images = stimuli.load(stimuli.positions(ids[report]))
    layer = rsa["best_layer"]
    x = registry.open_model(exported)[0](images, [layer])[layer].reshape(len(report), -1)
    iu = np.triu_indices(len(report), 1)
    model_rdm = (1 - np.corrcoef(x))[iu]
    subject_rdms = [(1 - np.corrcoef(r[report]))[iu] for r in reps]
    per_subject = [scipy_stats.spearmanr(model_rdm, s)[0] for s in subject_rdms]
    ceiling = scipy_stats.spearmanr(*subject_rdms)[0]        # 2 subjects: each vs the other
    assert rsa["layers"][layer]["ceiling"] == pytest.approx(ceiling, abs=1e-6)
    assert rsa["layers"][layer]["per_subject"] == pytest.approx(np.array(per_subject) / ceiling,
                                                                abs=1e-5)

    i2n = result["benchmarks"]["World.i2n-sim"]
    assert set(i2n["layers"]["layer4.1"]["reductions"]) == {"spatial_mean", "pca"}
    assert len(i2n["paired"]["values"]) == 4 and i2n["data"]["n_objects"] == 64
    assert sorted(set(i2n["protocol"]["folds"])) == [0, 1, 2, 3]
    position = result["benchmarks"]["World.position"]
    assert position["data"]["targets"] == ["ty", "tz"]
    assert all(len(v["per_split"]) == 2 for v in position["layers"].values())
    assert len(position["protocol"]["splits"]) == 2 and all(
        s["choice"] and s["report"] and not set(s["choice"]) & set(s["report"])
        for s in position["protocol"]["splits"])
    categorization = result["benchmarks"]["World.categorization"]
    assert len(categorization["data"]["classes"]) == 8
    assert all(0 <= s <= 1 for v in categorization["layers"].values() for s in v["per_split"])


def test_compare_gives_paired_t_tests_that_agree_with_scipy(tmp_path, exported, workdir, world):
    output = tmp_path / "compare.json"
    stdout = run_cli(f"--model={exported}", f"--compare={workdir}",
                     "--benchmarks=World.V1-sim-ridge,World.IT-sim-ridge", f"--output={output}",
                     f"--layers={LAYERS}", f"--world_dir={world}",
                     f"--cache_dir={tmp_path / 'cache'}", "--noprogress",
                     '--options={"neural": {"n_splits": 2, "n_bootstrap": 20}}')
    result = json.loads(output.read_text())
    assert result["compare"]["model"]["kind"] == "training workdir"
    assert result["compare"]["model"]["identifier"] != result["model"]["identifier"]
    for name, test in result["comparisons"].items():
        a, b = result["benchmarks"][name], result["compare"]["benchmarks"][name]
        sa = np.array(a["layers"][a["best_layer"]]["per_neuron_score"], float)
        sb = np.array(b["layers"][b["best_layer"]]["per_neuron_score"], float)
        keep = np.isfinite(sa) & np.isfinite(sb)
        expected = scipy_stats.ttest_rel(sa[keep], sb[keep])
        assert test["unit"] == "neuron" and test["n"] == keep.sum() and test["n"] > 150
        assert test["t"] == pytest.approx(expected.statistic, rel=1e-9)
        assert test["p"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
        assert (test["layer_a"], test["layer_b"]) == (a["best_layer"], b["best_layer"])
    assert "World.IT-sim-ridge" in stdout.split("benchmark")[-1]   # the comparison table


def test_world_is_generated_at_the_default_path_and_checked(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("VVS_TF_CACHE", str(tmp_path))
    with caplog.at_level("WARNING"):
        path = registry.ensure_world(num_images=40, image_size=32, num_repetitions=2)
    assert path == str(tmp_path / "world-40-32-1-r2") and "generating the embedded world" in \
        caplog.text
    manifest = json.loads((tmp_path / "world-40-32-1-r2" / "manifest.json").read_text())
    assert (manifest["num_images"], manifest["seed"], manifest["num_repetitions"]) == (40, 1, 2)
    mtime = os.path.getmtime(os.path.join(path, "manifest.json"))
    assert registry.ensure_world(num_images=40, image_size=32, num_repetitions=2) == path
    assert os.path.getmtime(os.path.join(path, "manifest.json")) == mtime   # reused
    with pytest.raises(ValueError, match=r"seed=1 \(requested 5\)"):
        registry.ensure_world(path, seed=5)


def test_cli_errors_name_the_problem(tmp_path, capsys):
    with pytest.raises(SystemExit, match="HvM.position needs image_dicarlo_hvm-public.csv"):
        run_cli("--model=unused", "--benchmarks=HvM.position", f"--output={tmp_path / 'r.json'}",
                f"--data_dir={tmp_path}")
    with pytest.raises(SystemExit, match="unknown benchmark 'World.V9-sim'"):
        run_cli("--model=unused", "--benchmarks=World.V9-sim", f"--output={tmp_path / 'r.json'}")
    from absl import app
    with pytest.raises(app.UsageError, match="--output required"):
        run_cli("--model=unused", "--benchmarks=HvM.size")
    listing = run_cli("--list")
    assert all(name in listing for name in ("World.IT-sim-pls", "Rajalingham2018-i2n",
                                            "Cadena2017.V1-mask"))
    assert not (tmp_path / "r.json").exists()


def test_progress_bar_fills_per_stage_and_ends_the_line():
    stream = io.StringIO()
    bar = cli.ProgressBar(stream, width=10)
    bar("World.IT-sim", "layers", 1, 4, "pool1")
    assert "World.IT-sim layers       [##........] 1/4 pool1" in stream.getvalue()
    assert not stream.getvalue().endswith("\n")
    bar("World.IT-sim", "layers", 4, 4, "done")
    assert "[##########] 4/4 done" in stream.getvalue() and stream.getvalue().endswith("\n")
