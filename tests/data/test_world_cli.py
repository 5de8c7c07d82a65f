"""`vvs-world`: a complete world directory in the contract's layout, and clear failures."""
import vvs_tf  # noqa: F401

import csv
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import xarray as xr
from absl import flags

from vvs_tf.data import world
from vvs_tf.data.world import cli, video, writer

SMALL = ["--num_images=24", "--image_size=32", "--num_videos=2", "--num_frames=16", "--num_repetitions=4",
         "--trials_per_image=3"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "vvs_tf.data.world.cli", *args], capture_output=True, text=True,
                          timeout=300)


def _main_error(*args):
    """cli.main's exit message for the given flags, run in-process (no interpreter start-up)."""
    flag_values = flags.FlagValues()
    cli.define_flags(flag_values)
    argv = flag_values(["vvs-world", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv, flag_values)
    return str(exit_info.value.code)


def test_cli_writes_a_complete_world_directory(tmp_path):
    out = tmp_path / "world"
    result = _run(f"--output={out}", *SMALL, "--seed=3")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["world"]  # no partial or leftover directories
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "vvs_tf.world/1" and manifest["simulated"] is True
    assert (manifest["seed"], manifest["image_size"], manifest["num_images"]) == (3, 32, 24)
    for relative in manifest["files"].values():
        assert (out / relative).is_file(), relative
    assert set(os.listdir(out)) == {"manifest.json", "stimulus_set.csv", "stimulus_set.zip", "assy_world_V1.nc",
                                    "assy_world_V4.nc", "assy_world_IT.nc", "behaviour_world_objectome.nc", "video"}

    with open(out / "stimulus_set.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["stimulus_id", "filename", "object_name", "category_name", "variation", "ty", "tz",
                             "rxy", "rxz", "ryz", "s"]
    assert len(rows) == 24
    meta = world.sample_metadata(24, seed=3)
    assert [r["stimulus_id"] for r in rows] == list(meta["stimulus_id"])
    assert np.allclose([float(r["ty"]) for r in rows], meta["ty"])
    with zipfile.ZipFile(out / "stimulus_set.zip") as archive:
        assert sorted(archive.namelist()) == sorted(r["filename"] for r in rows)

    for area in world.AREAS:
        with xr.open_dataarray(out / f"assy_world_{area}.nc") as assembly:
            assert assembly.dims == ("presentation", "neuroid") and assembly.sizes["presentation"] == 24 * 4
            assert assembly.attrs["simulated"] == 1 and assembly.attrs["area"] == area
    with xr.open_dataarray(out / "behaviour_world_objectome.nc") as trials:
        assert trials.sizes["presentation"] == 24 * 3
        assert {"stimulus_id", "sample_obj", "dist_obj", "choice", "truth", "worker_id"} <= set(trials.coords)
    lines = (out / "video" / "metafile.txt").read_text().splitlines()
    assert [line.split(" ")[1] for line in lines] == ["16", "16"]
    assert (out / "video" / lines[0].split(" ")[0] / "000015.jpg").is_file()


@pytest.mark.parametrize("flag, message", [
    ("--image_size=16", "image_size"), ("--image_size=300", "image_size"),
    ("--categories=animals,unicorns", "unicorns"), ("--num_images=0", "num_images"),
    ("--variations=0,4", "variations"), ("--num_frames=8", "num_frames"),
])
def test_cli_rejects_bad_values_naming_them(tmp_path, flag, message):
    error = _main_error(f"--output={tmp_path / 'world'}", *SMALL, flag)
    assert error.startswith("vvs-world: error:") and message in error
    assert not os.listdir(tmp_path)


def test_cli_rejects_unwritable_and_existing_outputs(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert str(blocker) in _main_error(f"--output={blocker / 'world'}", *SMALL)
    (tmp_path / "exists").mkdir()
    error = _main_error(f"--output={tmp_path / 'exists'}", *SMALL)
    assert "exists" in error and "--overwrite" in error


def test_the_console_program_exits_non_zero_with_a_message_not_a_traceback(tmp_path):
    result = _run(f"--output={tmp_path / 'world'}", *SMALL, "--image_size=512")
    assert result.returncode == 1 and "image_size" in result.stderr and "512" in result.stderr
    assert "Traceback" not in result.stderr and not os.listdir(tmp_path)


def test_a_failed_write_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(video, "write_video_stream", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        writer.write_world(str(tmp_path / "world"), num_images=8, image_size=32, num_videos=1, num_frames=16,
                           num_repetitions=2, trials_per_image=1)
    assert os.listdir(tmp_path) == []
