"""TF Serving's gRPC PredictionService (Predict, GetModelMetadata) and ModelService
(GetModelStatus) over a ModelRepository.

Tensors travel as TensorProtos with raw `tensor_content`, as tensorflow_model_server answers,
written and read around the NumPy buffers (vvs_tf.serving.wire); errors abort the call with the
status code TF Serving uses (INVALID_ARGUMENT, NOT_FOUND, ...).
Classify, Regress and MultiInference stay UNIMPLEMENTED: exports carry predict signatures only.
"""
import time
from concurrent import futures

import grpc
from absl import logging
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2, model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2

from vvs_tf.serving import responses, wire
from vvs_tf.serving.errors import ServingError


def _spec_version(spec):
    return spec.version.value if spec.HasField("version") else None


class _Call:
    """Context of one RPC: ServingErrors abort it with their status code, anything else with
    INTERNAL, and every call is counted in the metrics under its model and outcome."""

    def __init__(self, metrics, api, context, model=""):
        self.metrics, self.api, self.context, self.model = metrics, api, context, model

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind, error, traceback):
        status = "OK"
        if isinstance(error, ServingError):
            status = error.code.name
        elif error is not None:
            logging.error("gRPC %s failed", self.api, exc_info=(kind, error, traceback))
            status = "INTERNAL"
        self.metrics.record(self.model, f"grpc_{self.api}", status,
                            time.perf_counter() - self.start)
        if status != "OK":
            code = error.code if isinstance(error, ServingError) else grpc.StatusCode.INTERNAL
            message = error.message if isinstance(error, ServingError) else \
                f"{type(error).__name__}: {error}"
            self.context.abort(code, message)
        return False


class PredictionService:
    """Predict takes and returns wire bytes (vvs_tf.serving.wire), without protobuf copies of the
    tensors; GetModelMetadata uses the generated messages."""

    def __init__(self, repository, metrics):
        self.repository, self.metrics = repository, metrics

    def Predict(self, data: bytes, context) -> bytes:
        with _Call(self.metrics, "predict", context) as call:
            request, inputs = wire.decode(predict_pb2.PredictRequest, data)
            spec = request.model_spec
            call.model = spec.name
            servable = self.repository.servable(spec.name, _spec_version(spec), spec.version_label)
            signature = servable.signature(spec.signature_name)
            outputs = servable.predict(signature.name, inputs, list(request.output_filter))
            return wire.encode(
                predict_pb2.PredictResponse, outputs,
                model_spec=model_pb2.ModelSpec(name=servable.name, signature_name=signature.name,
                                               version={"value": servable.version}))

    def GetModelMetadata(self, request, context):
        spec = request.model_spec
        with _Call(self.metrics, "metadata", context, spec.name):
            servable = self.repository.servable(spec.name, _spec_version(spec), spec.version_label)
            return responses.metadata_response(servable, tuple(request.metadata_field))

    def handler(self):
        """Generic handler of tensorflow.serving.PredictionService (Predict on raw bytes)."""
        def unimplemented(request, context):
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "activation exports have predict signatures only")

        raw = dict(request_deserializer=None, response_serializer=None)
        return grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {
            "Predict": grpc.unary_unary_rpc_method_handler(self.Predict, **raw),
            "GetModelMetadata": grpc.unary_unary_rpc_method_handler(
                self.GetModelMetadata,
                request_deserializer=get_model_metadata_pb2.GetModelMetadataRequest.FromString,
                response_serializer=get_model_metadata_pb2.GetModelMetadataResponse.SerializeToString),
            **{name: grpc.unary_unary_rpc_method_handler(unimplemented, **raw)
               for name in ("Classify", "Regress", "MultiInference")},
        })


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, repository, metrics):
        self.repository, self.metrics = repository, metrics

    def GetModelStatus(self, request, context):
        spec = request.model_spec
        with _Call(self.metrics, "status", context, spec.name):
            version = _spec_version(spec)
            if spec.version_label:
                version = self.repository.servable(spec.name, label=spec.version_label).version
            return responses.status_response(self.repository, spec.name, version)


def make_grpc_server(address: str, repository, metrics, max_request_bytes: int, workers: int = 8):
    """A started-not gRPC server bound to `address`; returns (server, bound port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vvs-serve-grpc"),
        options=[("grpc.max_receive_message_length", max_request_bytes), *wire.GRPC_OPTIONS],
    )
    server.add_generic_rpc_handlers((PredictionService(repository, metrics).handler(),))
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository, metrics), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind the gRPC port at {address}")
    return server, port
