"""Every malformed request gets TF Serving's error answer, and the server keeps serving."""
import vvs_tf  # noqa: F401

import base64
import socket

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2, predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from vvs_tf.serving import codec

GOOD_IMAGE = np.zeros((1, 32, 32, 3)).tolist()
PREDICT = "/v1/models/tiny:predict"

REST_CASES = [
    # (id, method, path, body, expected status, words in the error)
    ("malformed json", "POST", PREDICT, b'{"instances": [1,', 400, "JSON Parse error"),
    ("not an object", "POST", PREDICT, [1, 2], 400, "JSON object"),
    ("both formats", "POST", PREDICT, {"instances": GOOD_IMAGE, "inputs": GOOD_IMAGE}, 400,
     "exactly one"),
    ("no inputs", "POST", PREDICT, {"signature_name": "activations"}, 400, "exactly one"),
    ("wrong shape", "POST", PREDICT, {"instances": [[[0.0, 1.0, 2.0]]]}, 400, "shape [1, 1, 3]"),
    ("wrong dtype", "POST", PREDICT, {"inputs": [["a", "b"]]}, 400, "expected DT_FLOAT"),
    ("ragged", "POST", PREDICT, {"inputs": [[0.0, 1.0], [2.0]]}, 400, "unequal lengths"),
    ("unknown signature", "POST", PREDICT, {"signature_name": "nope", "inputs": GOOD_IMAGE}, 400,
     "signature key \"nope\" not found"),
    ("unknown input", "POST", PREDICT, {"inputs": {"pixels": GOOD_IMAGE}}, 400,
     "unexpected ['pixels']"),
    ("bad base64", "POST", PREDICT, {"signature_name": "activations_encoded",
                                     "instances": [{"b64": "***"}]}, 400, "invalid base64"),
    ("not an image", "POST", PREDICT, {
        "signature_name": "activations_encoded",
        "instances": [{"b64": base64.b64encode(b"plain text").decode()}]}, 400, "image"),
    ("signature name type", "POST", PREDICT, {"signature_name": 3, "inputs": GOOD_IMAGE}, 400,
     "must be a string"),
    ("classify", "POST", "/v1/models/tiny:classify", {"examples": []}, 400, "not supported"),
    ("unknown version", "POST", "/v1/models/tiny/versions/9:predict", {"inputs": GOOD_IMAGE}, 404,
     "Specific(tiny, 9)"),
    ("unknown model", "POST", "/v1/models/other:predict", {"inputs": GOOD_IMAGE}, 404,
     "Latest(other)"),
    ("unknown version status", "GET", "/v1/models/tiny/versions/9", None, 404, "version 9"),
    ("unknown label", "GET", "/v1/models/tiny/labels/stable/metadata", None, 404, "label"),
    ("unknown path", "GET", "/v2/models/tiny", None, 404, "Malformed request"),
    ("oversized", "POST", PREDICT, b'{"inputs": [' + b"0.0," * 700_000 + b"0.0]}", 400,
     "exceeds the limit"),
]


@pytest.mark.parametrize("case", REST_CASES, ids=[c[0] for c in REST_CASES])
def test_rest_bad_request_answers_error_and_server_keeps_serving(rest, case):
    _, method, path, body, expected, words = case
    status, answer = rest.request(method, path, body)
    assert status == expected
    assert set(answer) == {"error"} and words in answer["error"], answer
    status, answer = rest.post(PREDICT, {"inputs": GOOD_IMAGE})
    assert status == 200 and np.shape(answer["outputs"]) == (1, 64)


def test_body_far_over_the_limit_is_cut_off_without_reading_it(server, rest):
    """A request announcing 1 GB is refused before its body is read; the server stays up."""
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1000000000\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 400") and "exceeds the limit" in answer
    assert "Connection: close" in answer
    assert rest.get("/v1/models/tiny")[0] == 200


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _request(name="tiny", signature="activations", version=None, images=None, **fields):
    spec = model_pb2.ModelSpec(name=name, signature_name=signature)
    if version is not None:
        spec.version.value = version
    images = np.zeros((1, 32, 32, 3), np.float32) if images is None else images
    return predict_pb2.PredictRequest(model_spec=spec,
                                      inputs={"images": codec.to_tensor_proto(images)}, **fields)


def _truncated_content():
    request = _request()
    request.inputs["images"].tensor_content = request.inputs["images"].tensor_content[:-4]
    return request


GRPC_CASES = [
    ("unknown model", lambda: _request(name="other"), grpc.StatusCode.NOT_FOUND, "Latest(other)"),
    ("unknown version", lambda: _request(version=9), grpc.StatusCode.NOT_FOUND, "Specific(tiny, 9)"),
    ("unknown signature", lambda: _request(signature="nope"), grpc.StatusCode.INVALID_ARGUMENT,
     "\"nope\" not found"),
    ("float64 input", lambda: _request(images=np.zeros((1, 32, 32, 3))),
     grpc.StatusCode.INVALID_ARGUMENT, "expects DT_FLOAT"),
    ("wrong shape", lambda: _request(images=np.zeros((1, 16, 32, 3), np.float32)),
     grpc.StatusCode.INVALID_ARGUMENT, "shape [1, 16, 32, 3]"),
    ("unknown output filter", lambda: _request(output_filter=["layer9_9"]),
     grpc.StatusCode.INVALID_ARGUMENT, "layer9_9"),
    ("truncated tensor_content", _truncated_content, grpc.StatusCode.INVALID_ARGUMENT,
     "tensor_content"),
    ("oversized message", lambda: _request(images=np.zeros((200, 32, 32, 3), np.float32)),
     grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
]


@pytest.mark.parametrize("case", GRPC_CASES, ids=[c[0] for c in GRPC_CASES])
def test_grpc_bad_request_gets_its_status_and_server_keeps_serving(stub, case):
    _, make, code, words = case
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(make(), timeout=30)
    assert error.value.code() == code and words in error.value.details()
    response = stub.Predict(_request(), timeout=30)
    assert response.model_spec.version.value == 1 and len(response.outputs) == 10


def test_grpc_metadata_needs_signature_def_field(stub):
    spec = model_pb2.ModelSpec(name="tiny")
    with pytest.raises(grpc.RpcError) as error:
        stub.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec, metadata_field=["labels"]), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
