"""One tiny exported ResNet-18 (width 8, 32 px) and a vvs-serve instance on free loopback ports,
shared by the serving tests; helpers to speak raw HTTP to it."""
import vvs_tf  # noqa: F401

import http.client
import json
import os
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.exporting import export_activation_model
from vvs_tf.models.resnet import build_resnet
from vvs_tf.serving.repository import ModelConfig
from vvs_tf.serving.server import LocalServer

MAX_REQUEST_BYTES = 2 << 20


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    keras.utils.set_random_seed(21)
    backbone = build_resnet(18, width=8, input_size=32)
    base = tmp_path_factory.mktemp("models")
    path = export_activation_model(backbone, str(base), "tiny")
    return SimpleNamespace(model_dir=os.path.join(str(base), "tiny"), path=path,
                           signatures=tf.saved_model.load(path).signatures)


@pytest.fixture(scope="session")
def server(tiny_model):
    with LocalServer([ModelConfig("tiny", tiny_model.model_dir)], rest_port=0, grpc_port=0,
                     poll_seconds=0.2, max_request_bytes=MAX_REQUEST_BYTES) as running:
        yield running


class Http:
    """Raw HTTP to the server, returning (status, parsed JSON body)."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)


@pytest.fixture(scope="session")
def rest(server):
    return Http(server.rest_port)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def direct(tiny_model):
    """call(signature name, **inputs): the exported signature called in-process, as NumPy."""

    def call(name, **inputs):
        outputs = tiny_model.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in outputs.items()}

    return call
