"""Clients of TF Serving (or vvs-serve) endpoints, and an activation model on top of them.

  ServingActivationModel("http://HOST:8501/v1/models/NAME[/versions/N]")
  ServingActivationModel("grpc://HOST:8500/NAME[/versions/N]")

behave like any activation model (`.layers`, `.input_shape`, `model(images, layers=None)`), so the
evaluators can score a model that only exists behind a server. Requests are batched, time out, and
are retried with exponential back-off when the server is unreachable or overloaded; bad requests
(400/404, INVALID_ARGUMENT/NOT_FOUND) fail at once with the server's message.

REST uses the standard library (http.client, persistent connections, one per thread, no proxy);
gRPC uses the tensorflow-serving-api messages, Predict's written and read around the NumPy
buffers (vvs_tf.serving.wire). A client makes its process keep freed buffers below
allocator.CLIENT_REUSE_BYTES for reuse (glibc), so that multi-megabyte answers are not
page-faulted in anew each time (GLIBC_TUNABLES with malloc options overrides that).
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import concurrent.futures
import http.client
import json
import re
import socket
import threading
import time
import urllib.parse

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2
from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from vvs_tf.serving import allocator, codec, jsontext, wire
from vvs_tf.serving.errors import ServingError

DEFAULT_SIGNATURE = "serving_default"
ACTIVATIONS_SIGNATURE = "activations"
READOUTS_SIGNATURE = "readouts"
IMAGES_INPUT = "images"
LAYER_SIGNATURE_PREFIX = "layer_"
_STATE_NAME = get_model_status_pb2.ModelVersionStatus.State.Name

_REST_URL = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?/?$")
_GRPC_URL = re.compile(r"^/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?/?$")


def parse_model_url(url: str):
    """'http://H:P/v1/models/NAME[/versions/N]' or 'grpc://H:P/NAME[/versions/N]' ->
    (scheme, 'H:P', name, version or None)."""
    parts = urllib.parse.urlsplit(url)
    pattern = {"http": _REST_URL, "grpc": _GRPC_URL}.get(parts.scheme)
    match = pattern and parts.port and pattern.match(parts.path)
    if not match:
        raise ValueError(
            f"model URL {url!r} must look like http://HOST:PORT/v1/models/NAME[/versions/N] or "
            "grpc://HOST:PORT/NAME[/versions/N]"
        )
    version = int(match["version"]) if match["version"] else None
    return parts.scheme, f"{parts.hostname}:{parts.port}", match["name"], version


class ServingClient:
    """What REST and gRPC clients share: retries, cached signatures, the predict contract."""

    def __init__(self, address: str, model_name: str, version: int = None, timeout: float = 60.0,
                 retries: int = 3, backoff_seconds: float = 0.2):
        if retries < 0 or timeout <= 0:
            raise ValueError(f"need retries >= 0 and timeout > 0, got {retries} and {timeout}")
        self.address, self.model_name, self.version = address, model_name, version
        self.timeout, self.retries, self.backoff_seconds = timeout, retries, backoff_seconds
        self._signatures = None
        allocator.reuse_freed_memory(allocator.CLIENT_REUSE_BYTES)  # see the module docstring

    def _retrying(self, call):
        for attempt in range(self.retries + 1):
            try:
                return call()
            except ServingError as error:
                if not error.retryable or attempt == self.retries:
                    raise
                time.sleep(self.backoff_seconds * 2**attempt)

    def signatures(self) -> dict:
        """{name: codec.Signature} from the model's metadata (cached)."""
        if self._signatures is None:
            self._signatures = codec.signatures_of(self._retrying(self._signature_defs))
        return self._signatures

    def signature(self, name: str) -> codec.Signature:
        signatures = self.signatures()
        if name not in signatures:
            raise ValueError(f"model {self.model_name} at {self.address} has no signature "
                             f"'{name}' (it has {sorted(signatures)})")
        return signatures[name]

    def status(self) -> dict:
        """{version: state name} as the server reports it."""
        return self._retrying(self._status)

    def predict(self, inputs: dict, signature_name: str = DEFAULT_SIGNATURE,
                output_filter=None) -> dict:
        """{input name: array} -> {output name: array} through one signature (over gRPC the
        arrays are read-only views of the response)."""
        signature = self.signature(signature_name)
        arrays = {k: np.asarray(v) for k, v in inputs.items()}
        return self._retrying(lambda: self._predict(arrays, signature, output_filter))

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RestClient(ServingClient):
    """TF Serving's REST API; columnar JSON requests, `{"b64": ...}` for byte strings."""

    def __init__(self, address, model_name, version=None, **kwargs):
        super().__init__(address, model_name, version, **kwargs)
        host, _, port = address.rpartition(":")
        self._host, self._port = host, int(port)
        self._local = threading.local()
        self._open, self._open_lock = set(), threading.Lock()  # every thread's, for close()
        prefix = f"/v1/models/{urllib.parse.quote(model_name)}"
        self._prefix = prefix + (f"/versions/{version}" if version is not None else "")

    def _connection(self):
        if getattr(self._local, "connection", None) is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            with self._open_lock:
                self._open.add(connection)
            self._local.connection = connection
        return self._local.connection

    def _drop_connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            with self._open_lock:
                self._open.discard(connection)
        self._local.connection = None

    def request(self, method: str, path: str, body: bytes = None) -> dict:
        """One HTTP exchange -> decoded JSON; transport failures become retryable errors."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            connection = self._connection()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (socket.timeout, TimeoutError) as error:
            self._drop_connection()
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                               f"{method} {path}: no answer within {self.timeout}s ({error})") from None
        except (OSError, http.client.HTTPException) as error:
            self._drop_connection()
            raise ServingError(grpc.StatusCode.UNAVAILABLE,
                               f"{method} http://{self.address}{path}: {error!r}") from None
        if response.getheader("Connection", "").lower() == "close":
            self._drop_connection()
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = {"error": data[:200].decode("utf-8", "replace")}
        if response.status != 200:
            message = payload.get("error", "") if isinstance(payload, dict) else str(payload)
            raise ServingError.from_http(response.status, message)
        return payload

    def _signature_defs(self):
        payload = self.request("GET", self._prefix + "/metadata")
        signature_map = json_format.ParseDict(
            payload["metadata"]["signature_def"], get_model_metadata_pb2.SignatureDefMap(),
            ignore_unknown_fields=True)
        return signature_map.signature_def

    def _status(self):
        payload = self.request("GET", self._prefix)
        return {int(row["version"]): row["state"] for row in payload["model_version_status"]}

    def _predict(self, arrays, signature, output_filter):
        body = {"signature_name": signature.name,
                "inputs": {k: codec.json_ready(v, binary=v.dtype.kind in "OS")
                           for k, v in arrays.items()}}
        payload = self.request("POST", self._prefix + ":predict", jsontext.dumps(body))
        outputs = codec.parse_predict_response(payload, signature)
        return {k: outputs[k] for k in output_filter} if output_filter else outputs

    def close(self):
        with self._open_lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()
        self._local.connection = None


class GrpcClient(ServingClient):
    """TF Serving's gRPC PredictionService/ModelService with `tensor_content` tensors."""

    def __init__(self, address, model_name, version=None, **kwargs):
        super().__init__(address, model_name, version, **kwargs)
        self._channel = grpc.insecure_channel(
            address, options=[("grpc.max_receive_message_length", -1), *wire.GRPC_OPTIONS])
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._predict_bytes = self._channel.unary_unary(  # wire bytes in and out (see wire.py)
            "/tensorflow.serving.PredictionService/Predict",
            request_serializer=None, response_deserializer=None)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def _spec(self, signature_name=""):
        spec = model_pb2.ModelSpec(name=self.model_name, signature_name=signature_name)
        if self.version is not None:
            spec.version.value = self.version
        return spec

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingError(error.code(), error.details() or str(error)) from None

    def _signature_defs(self):
        response = self._call(self._predictions.GetModelMetadata,
                              get_model_metadata_pb2.GetModelMetadataRequest(
                                  model_spec=self._spec(), metadata_field=["signature_def"]))
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return signature_map.signature_def

    def _status(self):
        response = self._call(self._models.GetModelStatus,
                              get_model_status_pb2.GetModelStatusRequest(model_spec=self._spec()))
        return {row.version: _STATE_NAME(row.state) for row in response.model_version_status}

    def _predict(self, arrays, signature, output_filter):
        request = wire.encode(predict_pb2.PredictRequest, arrays, model_spec=self._spec(
            signature.name), output_filter=list(output_filter or ()))
        _, outputs = wire.decode(predict_pb2.PredictResponse,
                                 self._call(self._predict_bytes, request))
        return outputs  # numeric arrays are read-only views of the response bytes

    def close(self):
        self._channel.close()


def connect(url: str, **kwargs) -> ServingClient:
    """A REST or gRPC client for a model URL (see parse_model_url)."""
    scheme, address, name, version = parse_model_url(url)
    return (RestClient if scheme == "http" else GrpcClient)(address, name, version, **kwargs)


class ServingActivationModel:
    """An activation model whose activations come from a serving endpoint.

    Layer names, their order and the signature keys come from the export's `readouts` signature
    (the assets' JSON); a model exported elsewhere without it is read from the `activations`
    signature's outputs, whose keys then serve as names. `identifier` names the served weights
    (their fingerprint in the assets), so activation caches notice a new version.

    A call of more than one batch keeps up to `max_in_flight` requests open at once, so that
    moving one answer (17.5 MB at batch 32 for ResNet-18 at 64 px) overlaps with the server
    computing the next instead of leaving the server idle.
    """

    def __init__(self, url: str, batch_size: int = 32, timeout: float = 120.0, retries: int = 3,
                 max_in_flight: int = 2):
        if batch_size < 1 or max_in_flight < 1:
            raise ValueError(f"batch_size and max_in_flight must be positive, got {batch_size} "
                             f"and {max_in_flight}")
        self.url, self.batch_size, self.max_in_flight = url, batch_size, max_in_flight
        # made here, not on first use: extract() calls the model from several threads at once
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_in_flight, thread_name_prefix="vvs-serving-fetch") if max_in_flight > 1 else None
        self.client = connect(url, timeout=timeout, retries=retries)
        signature = self.client.signature(ACTIVATIONS_SIGNATURE)
        if set(signature.inputs) != {IMAGES_INPUT} or signature.inputs[IMAGES_INPUT].shape is None:
            raise ValueError(f"{url}: signature '{ACTIVATIONS_SIGNATURE}' must take one input "
                             f"'{IMAGES_INPUT}' of known rank, got {signature.inputs}")
        self.input_shape = tuple(
            None if d < 0 else d for d in signature.inputs[IMAGES_INPUT].shape[1:])
        self.readouts = self._read_readouts()
        if self.readouts:
            self.layers = tuple(self.readouts["layers"])
            self._keys = dict(self.readouts["signature_keys"])
        else:
            self.layers = tuple(signature.outputs)
            self._keys = {k: k for k in self.layers}
        fingerprint = (self.readouts.get("model") or {}).get("weights_sha256")
        # what the activations depend on: the served weights (else the URL; see model_identifier)
        self.identifier = (f"serving:{self.client.model_name}:{fingerprint[:16]}"
                           if fingerprint else None)
        missing = [k for k in self._keys.values() if k not in signature.outputs]
        if missing:
            raise ValueError(f"{url}: read-outs {missing} are not outputs of '{ACTIVATIONS_SIGNATURE}'")

    def _read_readouts(self) -> dict:
        if READOUTS_SIGNATURE not in self.client.signatures():
            return {}
        out = self.client.predict({IMAGES_INPUT: np.zeros([1], np.float32)}, READOUTS_SIGNATURE)
        text = next(iter(out.values())).reshape(-1)[0]
        return json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)

    def _fetch(self, batch: np.ndarray, keys: list) -> dict:
        inputs = {IMAGES_INPUT: batch}
        if isinstance(self.client, GrpcClient):
            return self.client.predict(inputs, ACTIVATIONS_SIGNATURE, output_filter=keys)
        single = LAYER_SIGNATURE_PREFIX + keys[0]
        if len(keys) == 1 and single in self.client.signatures():
            return self.client.predict(inputs, single)  # a REST body carrying one layer only
        return self.client.predict(inputs, ACTIVATIONS_SIGNATURE)

    def __call__(self, images, layers=None) -> dict:
        """Float32 images in [0, 1], [B, *input_shape] -> {layer: float32 activations}."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != len(self.input_shape) + 1 or any(
            d is not None and d != s for d, s in zip(self.input_shape, images.shape[1:])
        ):
            raise ValueError(f"images of shape {images.shape} do not fit the model's input "
                             f"[B, {', '.join(str(d) for d in self.input_shape)}]")
        if len(images) == 0:
            raise ValueError("no images to compute activations of")
        layers = self.layers if layers is None else tuple(layers)
        unknown = [name for name in layers if name not in self._keys]
        if unknown:
            raise ValueError(f"unknown layers {unknown}; {self.url} serves {list(self.layers)}")
        keys = [self._keys[name] for name in layers]
        batches = [images[i:i + self.batch_size] for i in range(0, len(images), self.batch_size)]
        if len(batches) > 1 and self._pool is not None:
            parts = list(self._pool.map(lambda batch: self._fetch(batch, keys), batches))
        else:
            parts = [self._fetch(batch, keys) for batch in batches]
        return {name: np.concatenate([p[key] for p in parts]).astype(np.float32, copy=False)
                for name, key in zip(layers, keys)}

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
        self.client.close()
