"""Write a complete world directory in the BrainIO-style layout of docs/CONTRACTS.md.

Everything goes into a temporary sibling directory that is renamed into place at the end, with
manifest.json written last, so a crashed or interrupted run never leaves a directory that looks
complete.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile

import numpy as np
import pandas as pd
from PIL import Image

import vvs_tf
from vvs_tf.data.world import backgrounds, behaviour, checks, metadata as metadata_lib, recordings, renderer, video

FORMAT = "vvs_tf.world/1"
STIMULUS_CSV = "stimulus_set.csv"
STIMULUS_ZIP = "stimulus_set.zip"
BEHAVIOUR_FILE = "behaviour_world_objectome.nc"
VIDEO_DIR = "video"
MANIFEST = "manifest.json"


def assembly_file(area: str) -> str:
    return f"assy_world_{area}.nc"


def write_stimulus_set(directory: str, meta: dict, images: np.ndarray) -> None:
    """stimulus_set.csv (stimulus_id, filename, metadata) and stimulus_set.zip of PNGs."""
    filenames = np.char.add(np.asarray(meta["stimulus_id"]).astype(str), ".png")
    columns = {"stimulus_id": meta["stimulus_id"], "filename": filenames}
    columns.update({k: meta[k] for k in metadata_lib.METADATA_KEYS if k != "stimulus_id"})
    pd.DataFrame(columns).to_csv(os.path.join(directory, STIMULUS_CSV), index=False)
    with zipfile.ZipFile(os.path.join(directory, STIMULUS_ZIP), "w", zipfile.ZIP_STORED) as archive:
        for name, image in zip(filenames, images):  # file writing: one PNG per image
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
            archive.writestr(str(name), buffer.getvalue())


def write_world(output_dir, num_images: int = 2560, image_size: int = 128, seed: int = 0, num_videos: int = 8,
                num_frames: int = 32, num_repetitions: int = 10, trials_per_image: int = 20,
                variations=(0, 3, 6), categories=None, overwrite: bool = False) -> dict:
    """Write stimuli, simulated V1/V4/IT assemblies, objectome behaviour and the video stream.

    Returns the manifest. Raises (before any work) on bad values, an unwritable parent directory,
    or an existing output_dir without overwrite.
    """
    checks.count("num_images", num_images, minimum=2)
    checks.image_size(image_size)
    checks.count("seed", seed, minimum=0)
    checks.count("num_videos", num_videos)
    checks.count("num_frames", num_frames, minimum=video.MIN_FRAMES)
    checks.count("num_repetitions", num_repetitions, minimum=2)
    checks.count("trials_per_image", trials_per_image)
    variations = checks.variations(variations)
    categories = checks.categories(categories)
    output_dir = checks.writable_parent(output_dir)
    if os.path.lexists(output_dir) and not overwrite:
        raise FileExistsError(f"output directory exists (pass overwrite=True / --overwrite): {output_dir}")
    if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
        raise FileExistsError(f"output path exists and is not a directory: {output_dir}")

    parent, name = os.path.split(output_dir)
    tmp = tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent)
    try:
        meta = metadata_lib.sample_metadata(num_images, variations=variations, seed=seed, categories=categories)
        images = renderer.render(meta, image_size, seed=seed)
        write_stimulus_set(tmp, meta, images)
        files = {"stimulus_set_csv": STIMULUS_CSV, "stimulus_set_zip": STIMULUS_ZIP}
        assemblies = recordings.simulate_recordings(images, meta, seed=seed, num_repetitions=num_repetitions)
        for area, assembly in assemblies.items():
            assembly.to_netcdf(os.path.join(tmp, assembly_file(area)), engine="h5netcdf")
            files[f"assembly_{area}"] = assembly_file(area)
        trials = behaviour.simulate_behaviour(meta, seed=seed, trials_per_image=trials_per_image)
        trials.to_netcdf(os.path.join(tmp, BEHAVIOUR_FILE), engine="h5netcdf")
        files["behaviour_objectome"] = BEHAVIOUR_FILE
        metafile = video.write_video_stream(os.path.join(tmp, VIDEO_DIR), num_videos, num_frames, image_size, seed)
        files["video_metafile"] = os.path.relpath(metafile, tmp)
        manifest = {
            "format": FORMAT, "seed": seed, "image_size": image_size, "num_images": num_images, "files": files,
            "simulated": True, "variations": list(variations), "categories": list(categories),
            "num_repetitions": num_repetitions, "trials_per_image": trials_per_image, "num_videos": num_videos,
            "num_frames": num_frames, "backgrounds": backgrounds.default_bank().source,
            "vvs_tf_version": vvs_tf.__version__,
        }
        with open(os.path.join(tmp, MANIFEST), "w") as handle:
            json.dump(manifest, handle, indent=2)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        _move_into_place(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _move_into_place(tmp: str, output_dir: str) -> None:
    if not os.path.lexists(output_dir):
        os.rename(tmp, output_dir)
        return
    parent, name = os.path.split(output_dir)
    old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
    os.rename(output_dir, os.path.join(old, name))
    os.rename(tmp, output_dir)
    shutil.rmtree(old, ignore_errors=True)
