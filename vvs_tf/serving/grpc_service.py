"""TF Serving's gRPC PredictionService (Predict, GetModelMetadata) and ModelService
(GetModelStatus) over a ModelRepository.

Tensors travel as TensorProtos with raw `tensor_content`, as tensorflow_model_server answers;
errors abort the call with the status code TF Serving uses (INVALID_ARGUMENT, NOT_FOUND, ...).
Classify, Regress and MultiInference stay UNIMPLEMENTED: exports carry predict signatures only.
"""
import functools
import time
from concurrent import futures

import grpc
from absl import logging
from tensorflow_serving.apis import model_pb2, model_service_pb2_grpc, predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from vvs_tf.serving import codec, responses
from vvs_tf.serving.errors import ServingError


def _spec_version(spec):
    return spec.version.value if spec.HasField("version") else None


def _rpc(api):
    """Turn ServingErrors into aborted calls and count every call in the metrics."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, context):
            start, status = time.perf_counter(), "OK"
            try:
                return method(self, request, context)
            except ServingError as error:
                status = error.code.name
                context.abort(error.code, error.message)
            except Exception as error:  # noqa: BLE001  (the server answers and keeps serving)
                logging.exception("gRPC %s failed", api)
                status = "INTERNAL"
                context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
            finally:
                self.metrics.record(request.model_spec.name, f"grpc_{api}", status,
                                    time.perf_counter() - start)
        return wrapper

    return decorate


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, repository, metrics):
        self.repository, self.metrics = repository, metrics

    @_rpc("predict")
    def Predict(self, request, context):
        spec = request.model_spec
        servable = self.repository.servable(spec.name, _spec_version(spec), spec.version_label)
        signature = servable.signature(spec.signature_name)
        inputs = {key: codec.from_tensor_proto(proto) for key, proto in request.inputs.items()}
        outputs = servable.predict(signature.name, inputs, list(request.output_filter))
        return predict_pb2.PredictResponse(
            model_spec=model_pb2.ModelSpec(name=servable.name, version={"value": servable.version},
                                           signature_name=signature.name),
            outputs={key: codec.to_tensor_proto(array) for key, array in outputs.items()},
        )

    @_rpc("metadata")
    def GetModelMetadata(self, request, context):
        spec = request.model_spec
        servable = self.repository.servable(spec.name, _spec_version(spec), spec.version_label)
        return responses.metadata_response(servable, tuple(request.metadata_field))


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, repository, metrics):
        self.repository, self.metrics = repository, metrics

    @_rpc("status")
    def GetModelStatus(self, request, context):
        spec = request.model_spec
        version = _spec_version(spec)
        if spec.version_label:
            version = self.repository.servable(spec.name, label=spec.version_label).version
        return responses.status_response(self.repository, spec.name, version)


def make_grpc_server(address: str, repository, metrics, max_request_bytes: int, workers: int = 8):
    """A started-not gRPC server bound to `address`; returns (server, bound port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vvs-serve-grpc"),
        options=[("grpc.max_receive_message_length", max_request_bytes),
                 ("grpc.max_send_message_length", -1)],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(repository, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository, metrics), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind the gRPC port at {address}")
    return server, port
