"""serving/: models.config parses as TF Serving's ModelServerConfig, batching.config satisfies
TF Serving's start-up checks, and the launcher renders paths and the container command."""
import vvs_tf  # noqa: F401

import os
import re
import subprocess

from absl import flags

from vvs_tf.serving.repository import read_model_config_file
from vvs_tf.serving.server import configs_from_flags, define_flags

SERVING = os.path.join(os.path.dirname(__file__), "..", "..", "serving")


def test_models_config_serves_several_exports():
    configs = read_model_config_file(os.path.join(SERVING, "models.config"))
    assert len(configs) >= 3
    assert all(c.base_path == f"/models/{c.name}" for c in configs)
    policies = {c.name: c.policy for c in configs}
    assert policies["resnet18_la"] == "latest" and policies["resnet18_untrained"] == "all"


def test_batching_config_meets_tf_serving_constraints():
    text = open(os.path.join(SERVING, "batching.config")).read()
    fields = dict(re.findall(r"^(\w+) \{ value: (\d+) \}", text, re.M))
    allowed = [int(v) for v in re.findall(r"^allowed_batch_sizes: (\d+)", text, re.M)]
    # TF Serving refuses to start unless allowed sizes increase and end at max_batch_size
    assert allowed == sorted(allowed) and allowed[-1] == int(fields["max_batch_size"])
    assert int(fields["batch_timeout_micros"]) > 0 and int(fields["num_batch_threads"]) > 0


def test_launcher_dry_run_renders_local_paths_and_container_command(tmp_path):
    result = subprocess.run(
        ["bash", os.path.join(SERVING, "launch_tf_serving.sh"), str(tmp_path), "--port=9500",
         "--dry-run"], capture_output=True, text=True, timeout=60, check=True)
    local = next(line for line in result.stdout.splitlines()
                 if line.startswith("tensorflow_model_server"))
    rendered = re.search(r"--model_config_file=(\S+)", local).group(1)
    try:
        configs = read_model_config_file(rendered)
        assert all(c.base_path == os.path.join(str(tmp_path), c.name) for c in configs)
    finally:
        os.remove(rendered)
    assert "--port=9500" in local and "--enable_batching=true" in local
    docker = next(line for line in result.stdout.splitlines() if line.startswith("docker run"))
    assert f"-v {tmp_path}:/models:ro" in docker and "-p 9500:8500" in docker
    for name in ("models", "batching", "monitoring"):
        assert f"/config/{name}.config" in docker
    missing = subprocess.run(["bash", os.path.join(SERVING, "launch_tf_serving.sh"),
                              str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 1 and "not a directory" in missing.stderr


def test_vvs_serve_flags_name_the_model_after_its_directory(tmp_path):
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    flag_values(["vvs-serve", f"--model_base_path={tmp_path}/resnet18_la/"])
    [config] = configs_from_flags(flag_values)
    assert (config.name, config.base_path) == ("resnet18_la", f"{tmp_path}/resnet18_la")
