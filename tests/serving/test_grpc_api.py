"""vvs-serve's gRPC PredictionService and ModelService return what the SavedModel computes, with
raw tensor_content tensors, as tensorflow_model_server does."""
import vvs_tf  # noqa: F401

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2
from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from vvs_tf.models.readouts import READOUT_LAYERS
from vvs_tf.serving import codec


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as opened:
        yield opened


def test_predict_equals_savedmodel_with_raw_tensor_content(channel, direct, rng):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    images = rng.random((3, 32, 32, 3), dtype=np.float32)
    expected = direct("activations", images=images)
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name="tiny", signature_name="activations"),
        inputs={"images": codec.to_tensor_proto(images)})
    response = stub.Predict(request, timeout=30)
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "activations"
    assert sorted(response.outputs) == sorted(expected)
    for key, proto in response.outputs.items():
        assert proto.tensor_content and not proto.float_val  # bytes, not a list of floats
        np.testing.assert_allclose(codec.from_tensor_proto(proto), expected[key], atol=1e-5,
                                   err_msg=key)
    # a client sending per-value float lists (no tensor_content) gets the same answer
    listed = request.inputs["images"]
    listed.ClearField("tensor_content")
    listed.float_val.extend(images.reshape(-1).tolist())
    request.output_filter.append("layer1_1")
    filtered = stub.Predict(request, timeout=30)
    assert list(filtered.outputs) == ["layer1_1"]
    np.testing.assert_allclose(codec.from_tensor_proto(filtered.outputs["layer1_1"]),
                               expected["layer1_1"], atol=1e-5)


def test_encoded_images_over_grpc(channel, direct, rng):
    import io

    from PIL import Image

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    buffers = []
    for pixels in rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        buffers.append(buffer.getvalue())
    encoded = np.array(buffers, dtype=object)
    response = stub.Predict(predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name="tiny", signature_name="serving_encoded"),
        inputs={"image_bytes": codec.to_tensor_proto(encoded)}), timeout=30)
    np.testing.assert_allclose(codec.from_tensor_proto(response.outputs["embedding"]),
                               direct("serving_encoded", image_bytes=encoded)["embedding"],
                               atol=1e-5)


def test_metadata_and_status(channel, tiny_model):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=model_pb2.ModelSpec(name="tiny"), metadata_field=["signature_def"]), timeout=30)
    assert response.model_spec.version.value == 1
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    signatures = codec.signatures_of(signature_map.signature_def)
    assert signatures["activations"].inputs["images"].shape == (-1, 32, 32, 3)
    assert sorted(signatures["activations"].outputs) == sorted(
        n.replace(".", "_") for n in READOUT_LAYERS)
    assert set(signatures) == set(tiny_model.signatures.keys())

    models = model_service_pb2_grpc.ModelServiceStub(channel)
    status = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec=model_pb2.ModelSpec(name="tiny")), timeout=30)
    [version] = status.model_version_status
    assert version.version == 1
    assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    with pytest.raises(grpc.RpcError) as error:
        models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
            model_spec=model_pb2.ModelSpec(name="missing")), timeout=30)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
