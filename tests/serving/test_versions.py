"""vvs-serve follows the version directories: new complete versions replace old ones, temp and
incomplete directories are never loaded, a broken version leaves the old one serving."""
import vvs_tf  # noqa: F401

import os
import shutil
import time

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from vvs_tf.serving import codec
from vvs_tf.serving.client import connect
from vvs_tf.serving.repository import ModelConfig, read_model_config_file
from vvs_tf.serving.server import LocalServer

POLL = 0.1


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL)
    return False


def _served_version(stub):
    """The version that answers a predict request naming none (gRPC reports it)."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name="tiny", signature_name="readouts"),
        inputs={"images": codec.to_tensor_proto(np.zeros([1], np.float32))})
    return stub.Predict(request, timeout=30).model_spec.version.value


def test_versions_appear_temp_and_incomplete_dirs_do_not(tiny_model, tmp_path):
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    shutil.copytree(tiny_model.path, model_dir / "1")
    with LocalServer([ModelConfig("tiny", str(model_dir))], rest_port=0, grpc_port=0,
                     poll_seconds=POLL) as server:
        rest = connect(server.rest_url("tiny"))
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert rest.status() == {1: "AVAILABLE"}
        # a half-written export (hidden temp dir) and a version dir without saved_model.pb
        shutil.copytree(tiny_model.path, model_dir / ".tmp-2-0123abcd")
        (model_dir / "3" / "variables").mkdir(parents=True)
        shutil.copy(os.path.join(tiny_model.path, "variables", "variables.index"),
                    model_dir / "3" / "variables")
        time.sleep(10 * POLL)
        assert rest.status() == {1: "AVAILABLE"}
        assert _served_version(stub) == 1
        # the export's final rename makes version 2 appear; it replaces version 1
        os.rename(model_dir / ".tmp-2-0123abcd", model_dir / "2")
        assert _wait_for(lambda: rest.status() == {2: "AVAILABLE"})
        assert _served_version(stub) == 2
        images = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
        served = rest.predict({"images": images}, "layer_layer4_1")["layer4_1"]
        expected = tiny_model.signatures["layer_layer4_1"](images=images)["layer4_1"].numpy()
        np.testing.assert_allclose(served, expected, atol=1e-5)
        # a broken version 4 fails to load: reported, and version 2 keeps serving
        shutil.copytree(tiny_model.path, model_dir / "4")
        (model_dir / "4" / "saved_model.pb").write_bytes(b"not a protobuf")
        assert _wait_for(lambda: 4 in rest.status())
        assert rest.status() == {2: "AVAILABLE", 4: "END"}
        assert _served_version(stub) == 2
        rest.close()
        channel.close()


def test_model_config_file_serves_several_models(tiny_model, tmp_path):
    config = tmp_path / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{ name: "first" base_path: "{tiny_model.model_dir}" model_platform: "tensorflow" }}
  config {{
    name: "second" base_path: "{tiny_model.model_dir}" model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 }} }}
    version_labels {{ key: "stable" value: 1 }}
  }}
}}""")
    configs = read_model_config_file(str(config))
    assert [(c.name, c.policy, c.versions) for c in configs] == [
        ("first", "latest", ()), ("second", "specific", (1,))]
    with LocalServer(configs, rest_port=0, grpc_port=None, poll_seconds=60) as server:
        for name in ("first", "second"):
            assert connect(server.rest_url(name)).status() == {1: "AVAILABLE"}
        client = connect(f"http://127.0.0.1:{server.rest_port}/v1/models/second/versions/1")
        assert "activations" in client.signatures()
        servable = server.repository.servable("second", label="stable")
        assert servable.version == 1
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { name: 'x' } }")
    with pytest.raises(ValueError, match="base_path"):
        read_model_config_file(str(bad))
