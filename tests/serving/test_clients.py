"""ServingActivationModel gives the SavedModel's activations over REST and gRPC, in batches, and
the clients retry only what a retry can fix."""
import vvs_tf  # noqa: F401

import socket
import threading
import time

import grpc
import numpy as np
import pytest

from vvs_tf.evaluate.activations import SavedModelActivationModel
from vvs_tf.exporting import read_readouts
from vvs_tf.models.readouts import READOUT_LAYERS
from vvs_tf.serving.client import RestClient, ServingActivationModel, connect, parse_model_url
from vvs_tf.serving.errors import ServingError
from vvs_tf.serving.repository import ModelConfig
from vvs_tf.serving.server import LocalServer


@pytest.fixture(scope="module", params=["rest", "grpc"])
def endpoint(request, server):
    url = server.rest_url("tiny") if request.param == "rest" else server.grpc_url("tiny")
    model = ServingActivationModel(url, batch_size=3)
    yield model
    model.close()


@pytest.fixture(scope="module")
def local(tiny_model):
    return SavedModelActivationModel(tiny_model.path)


def test_endpoint_matches_savedmodel_activation_model(endpoint, local, tiny_model, rng):
    assert endpoint.layers == local.layers == READOUT_LAYERS
    assert endpoint.input_shape == tuple(local.input_shape) == (32, 32, 3)
    fingerprint = read_readouts(tiny_model.path)["model"]["weights_sha256"]
    assert endpoint.identifier == f"serving:tiny:{fingerprint[:16]}"
    images = rng.random((7, 32, 32, 3), dtype=np.float32)  # batches of 3, 3 and 1
    served, expected = endpoint(images), local(images)
    for name in READOUT_LAYERS:
        assert served[name].dtype == np.float32 and served[name].shape == expected[name].shape
        np.testing.assert_allclose(served[name], expected[name], atol=1e-5, rtol=1e-5,
                                   err_msg=name)
    subset = endpoint(images[:2], layers=["layer3.1"])
    assert list(subset) == ["layer3.1"]
    np.testing.assert_allclose(subset["layer3.1"], expected["layer3.1"][:2], atol=1e-5, rtol=1e-5)


def test_rest_and_grpc_answers_are_the_savedmodels_bit_for_bit(server, direct, rng):
    images = rng.random((5, 32, 32, 3), dtype=np.float32)
    expected = direct("activations", images=images)
    for url in (server.rest_url("tiny"), server.grpc_url("tiny")):
        with connect(url) as client:
            served = client.predict({"images": images}, "activations")
        assert sorted(served) == sorted(expected)
        for key, array in expected.items():
            assert served[key].dtype == np.float32
            np.testing.assert_array_equal(served[key], array, err_msg=f"{url} {key}")


def test_endpoint_keeps_max_in_flight_requests_open_and_answers_in_order(endpoint, local, rng):
    fetch, lock, state = endpoint._fetch, threading.Lock(), {"open": 0, "most": 0, "firsts": []}

    def slow_fetch(batch, keys):
        with lock:
            state["open"] += 1
            state["most"] = max(state["most"], state["open"])
            state["firsts"].append(float(batch[0, 0, 0, 0]))
        time.sleep(0.2)  # long enough that a second request opens before the first returns
        try:
            return fetch(batch, keys)
        finally:
            with lock:
                state["open"] -= 1

    images = rng.random((10, 32, 32, 3), dtype=np.float32)  # batches of 3, 3, 3 and 1
    endpoint._fetch = slow_fetch
    try:
        served = endpoint(images, layers=["layer4.1"])
    finally:
        del endpoint._fetch
    assert state["most"] == endpoint.max_in_flight == 2
    assert sorted(state["firsts"]) == sorted(images[::3, 0, 0, 0].tolist())
    np.testing.assert_allclose(served["layer4.1"], local(images)["layer4.1"], atol=1e-5, rtol=1e-5)


def test_extract_through_the_endpoint_from_two_threads_equals_the_savedmodel(endpoint, local,
                                                                            rng, tmp_path):
    from vvs_tf.evaluate.activations import extract

    images = rng.random((20, 32, 32, 3), dtype=np.float32)  # extract batches of 6 -> requests of 3
    served = extract(endpoint, images, ["layer2.1", "layer4.1"], batch_size=6, in_flight=2,
                     cache_dir=str(tmp_path), model_id="endpoint")
    expected = local(images, ["layer2.1", "layer4.1"])
    for name, array in expected.items():
        np.testing.assert_allclose(served[name], array, atol=1e-5, rtol=1e-5, err_msg=name)


def test_rest_close_closes_every_threads_connection(server, rng):
    model = ServingActivationModel(server.rest_url("tiny"), batch_size=2, max_in_flight=3)
    model(rng.random((6, 32, 32, 3), dtype=np.float32), layers=["pool1"])
    connections = set(model.client._open)
    assert len(connections) >= 2  # the calling thread's (metadata) and the fetch threads'
    assert all(c.sock is not None for c in connections)
    model.close()
    assert all(c.sock is None for c in connections) and not model.client._open


def test_endpoint_rejects_bad_images_and_layers(endpoint):
    with pytest.raises(ValueError, match=r"do not fit the model's input \[B, 32, 32, 3\]"):
        endpoint(np.zeros((1, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="unknown layers"):
        endpoint(np.zeros((1, 32, 32, 3), np.float32), layers=["layer9.9"])


def test_model_urls():
    assert parse_model_url("http://127.0.0.1:8501/v1/models/la/versions/3") == (
        "http", "127.0.0.1:8501", "la", 3)
    assert parse_model_url("grpc://127.0.0.1:8500/la") == ("grpc", "127.0.0.1:8500", "la", None)
    for bad in ("http://127.0.0.1/v1/models/la", "grpc://127.0.0.1:8500/", "ftp://h:1/la",
                "http://127.0.0.1:8501/v2/la"):
        with pytest.raises(ValueError, match="must look like"):
            parse_model_url(bad)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_client_retries_until_a_late_server_answers(scheme, tmp_path):
    port = _free_port()
    if scheme == "http":
        url, ports = f"http://127.0.0.1:{port}/v1/models/empty", dict(rest_port=port, grpc_port=None)
    else:
        url, ports = f"grpc://127.0.0.1:{port}/empty", dict(rest_port=None, grpc_port=port)
    server = LocalServer([ModelConfig("empty", str(tmp_path))], poll_seconds=60, **ports)
    starter = threading.Timer(0.5, server.start)
    starter.start()
    try:
        client = connect(url, timeout=5, retries=8, backoff_seconds=0.1)
        assert client.status() == {}  # an answer (no versions yet) after retrying the connection
        client.close()
    finally:
        starter.join()
        server.stop()


def test_client_fails_fast_on_bad_requests_and_gives_up_on_dead_servers(server):
    client = connect(server.rest_url("tiny"), retries=3, backoff_seconds=1.0)
    start = time.perf_counter()
    with pytest.raises(ServingError) as error:
        client.predict({"images": np.zeros((1, 8, 8, 3), np.float32)}, "activations")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "shape" in str(error.value)
    assert time.perf_counter() - start < 0.9  # no back-off sleeps for a 400
    client.close()
    dead = RestClient(f"127.0.0.1:{_free_port()}", "tiny", retries=2, backoff_seconds=0.05)
    start = time.perf_counter()
    with pytest.raises(ServingError) as error:
        dead.status()
    assert error.value.code == grpc.StatusCode.UNAVAILABLE
    assert time.perf_counter() - start >= 0.05 + 0.1  # two back-offs, then it gave up
