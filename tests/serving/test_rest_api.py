"""vvs-serve's REST API answers like TF Serving's and returns what the SavedModel computes."""
import vvs_tf  # noqa: F401

import base64
import http.client
import io
import json
import socket
import urllib.request

import numpy as np
from PIL import Image

from vvs_tf.models.readouts import READOUT_LAYERS

KEYS = [name.replace(".", "_") for name in READOUT_LAYERS]


def _b64_png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_status_and_metadata(rest):
    status, body = rest.get("/v1/models/tiny")
    assert status == 200
    assert body == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert rest.get("/v1/models/tiny/versions/1")[1] == body
    status, body = rest.get("/v1/models/tiny/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    activations = signatures["activations"]
    assert sorted(activations["outputs"]) == sorted(KEYS)
    dims = [int(d["size"]) for d in activations["inputs"]["images"]["tensor_shape"]["dim"]]
    assert dims == [-1, 32, 32, 3] and activations["inputs"]["images"]["dtype"] == "DT_FLOAT"
    assert signatures["activations_encoded"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert {f"layer_{k}" for k in KEYS} <= set(signatures)


def test_row_and_columnar_predictions_equal_the_savedmodel(rest, direct, rng):
    images = rng.random((3, 32, 32, 3), dtype=np.float32)
    expected = direct("activations", images=images)
    status, rows = rest.post("/v1/models/tiny:predict",
                             {"signature_name": "activations", "instances": images.tolist()})
    assert status == 200 and len(rows["predictions"]) == 3
    status, columns = rest.post("/v1/models/tiny/versions/1:predict",
                                {"signature_name": "activations", "inputs": {"images": images.tolist()}})
    assert status == 200 and sorted(columns["outputs"]) == sorted(KEYS)
    for key in KEYS:
        from_rows = np.array([row[key] for row in rows["predictions"]], np.float32)
        from_columns = np.array(columns["outputs"][key], np.float32)
        np.testing.assert_array_equal(from_rows, from_columns, err_msg=key)
        np.testing.assert_allclose(from_columns, expected[key], atol=1e-5, err_msg=key)
    # named-input rows are the same request as plain rows
    status, named = rest.post("/v1/models/tiny:predict", {
        "signature_name": "layer_layer2_0", "instances": [{"images": im} for im in images.tolist()]})
    assert status == 200
    np.testing.assert_allclose(np.array(named["predictions"], np.float32), expected["layer2_0"],
                               atol=1e-5)


def test_single_output_is_returned_without_its_name(rest, direct, rng):
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    expected = direct("serving_default", images=images)["embedding"]
    status, rows = rest.post("/v1/models/tiny:predict", {"instances": images.tolist()})
    assert status == 200
    np.testing.assert_allclose(np.array(rows["predictions"], np.float32), expected, atol=1e-5)
    status, columns = rest.post("/v1/models/tiny:predict", {"inputs": images.tolist()})
    assert status == 200 and np.shape(columns["outputs"]) == (2, 64)
    np.testing.assert_allclose(np.array(columns["outputs"], np.float32), expected, atol=1e-5)


def test_b64_images_row_and_columnar(rest, direct, rng):
    pixels = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    encoded = [_b64_png(p) for p in pixels]
    expected = direct("activations_encoded",
                      image_bytes=np.array([base64.b64decode(e) for e in encoded], dtype=object))
    status, rows = rest.post("/v1/models/tiny:predict", {
        "signature_name": "activations_encoded", "instances": [{"b64": e} for e in encoded]})
    assert status == 200
    status, columns = rest.post("/v1/models/tiny:predict", {
        "signature_name": "activations_encoded",
        "inputs": {"image_bytes": [{"b64": e} for e in encoded]}})
    assert status == 200
    for key in KEYS:
        np.testing.assert_allclose(np.array([r[key] for r in rows["predictions"]], np.float32),
                                   expected[key], atol=1e-5, err_msg=key)
        np.testing.assert_allclose(np.array(columns["outputs"][key], np.float32), expected[key],
                                   atol=1e-5, err_msg=key)


def test_readouts_signature_and_metrics(rest, server):
    status, body = rest.post("/v1/models/tiny:predict",
                             {"signature_name": "readouts", "inputs": [0.0]})
    assert status == 200
    info = json.loads(body["outputs"])
    assert info["layers"] == list(READOUT_LAYERS) and info["input_shape"] == [32, 32, 3]
    before = server.metrics.count(model="tiny", api="rest_status")
    rest.get("/v1/models/tiny")
    assert server.metrics.count(model="tiny", api="rest_status") == before + 1
    text = urllib.request.urlopen(
        f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics", timeout=10).read()
    assert b':tensorflow:serving:request_count{model_name="tiny",api="rest_status"' in text


def test_answers_leave_without_waiting_for_the_clients_ack(server, monkeypatch):
    """The server's connections have TCP_NODELAY: with Nagle's algorithm, a small body written
    after the headers waits for the client's delayed ACK (~40 ms a request)."""
    accepted = []
    accept = server._rest.get_request

    def get_request():
        connection = accept()
        accepted.append(connection[0])
        return connection

    monkeypatch.setattr(server._rest, "get_request", get_request)
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:  # kept open, so that the server's end of it can still be asked
        connection.request("GET", "/v1/models/tiny")
        assert connection.getresponse().read()
        assert len(accepted) == 1
        assert accepted[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        connection.close()
