"""Tensors survive the wire both ways: TensorProto bytes and TF Serving's JSON conventions."""
import vvs_tf  # noqa: F401

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from vvs_tf.serving import codec, jsontext
from vvs_tf.serving.errors import ServingError


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_])
def test_tensor_proto_round_trip_matches_tensorflow(dtype, rng):
    array = (rng.random((2, 3, 4)) * 100).astype(dtype)
    proto = codec.to_tensor_proto(array)
    np.testing.assert_array_equal(codec.from_tensor_proto(proto), array)
    np.testing.assert_array_equal(tf.make_ndarray(proto), array)  # TF reads our bytes alike
    np.testing.assert_array_equal(codec.from_tensor_proto(tf.make_tensor_proto(array)), array)


def test_string_tensors_round_trip():
    array = np.array([[b"\x89PNG\x00", b"text"]], dtype=object)
    back = codec.from_tensor_proto(codec.to_tensor_proto(array))
    assert back.shape == (1, 2) and back.tolist() == array.tolist()


def test_json_values_follow_tf_serving_conventions():
    spec_float = codec.TensorSpec(types_pb2.DT_FLOAT, (-1, 2))
    spec_string = codec.TensorSpec(types_pb2.DT_STRING, (-1,))
    assert codec.json_to_array([[1, 2.5]], spec_float, "x").dtype == np.float32  # ints are floats
    assert codec.json_to_array([{"b64": "AAE="}, "hi"], spec_string, "x").tolist() == [
        b"\x00\x01", b"hi"]
    with pytest.raises(ServingError, match="booleans"):
        codec.json_to_array([[True, False]], spec_float, "x")
    with pytest.raises(ServingError, match="unequal lengths"):
        codec.json_to_array([["a"], ["b", "c"]], spec_string, "x")
    outputs = {"scores": np.array([[1.0, 2.0], [3.0, 4.0]], np.float32),
               "label_bytes": np.array([b"\xff", b"a"], dtype=object)}
    rows = codec.predict_response_json(outputs, row_format=True)
    assert json.loads(jsontext.dumps(rows)) == {
        "predictions": [{"scores": [1.0, 2.0], "label_bytes": {"b64": "/w=="}},
                        {"scores": [3.0, 4.0], "label_bytes": {"b64": "YQ=="}}]}
    columns = codec.predict_response_json({"scores": outputs["scores"]}, row_format=False)
    assert json.loads(jsontext.dumps(columns)) == {"outputs": [[1.0, 2.0], [3.0, 4.0]]}
    vectors = {"score": np.array([0.5, -1.5], np.float32), "id": np.array([7, 8], np.int64)}
    assert json.loads(jsontext.dumps(codec.predict_response_json(vectors, row_format=True))) == {
        "predictions": [{"score": 0.5, "id": 7}, {"score": -1.5, "id": 8}]}


def test_wire_bytes_are_tf_serving_messages_both_ways(rng):
    from tensorflow_serving.apis import model_pb2, predict_pb2

    from vvs_tf.serving import wire

    outputs = {"conv1": rng.random((2, 4, 4, 3), dtype=np.float32),
               "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
               "name_bytes": np.array([b"\x00a", b"b"], dtype=object)}
    spec = model_pb2.ModelSpec(name="m", signature_name="activations", version={"value": 3})
    data = wire.encode(predict_pb2.PredictResponse, outputs, model_spec=spec)
    protobuf_built = predict_pb2.PredictResponse(
        model_spec=spec, outputs={k: codec.to_tensor_proto(v) for k, v in outputs.items()})
    assert predict_pb2.PredictResponse.FromString(data) == protobuf_built
    # and read back, from our bytes and from protobuf's (whatever the field order)
    for payload in (data, protobuf_built.SerializeToString()):
        message, arrays = wire.decode(predict_pb2.PredictResponse, payload)
        assert message.model_spec == spec and sorted(arrays) == sorted(outputs)
        for key, array in outputs.items():
            assert arrays[key].tolist() == array.tolist()
    # a request with per-value float lists decodes to the same numbers
    request = predict_pb2.PredictRequest(model_spec=spec, output_filter=["conv1"])
    request.inputs["images"].dtype = types_pb2.DT_FLOAT
    request.inputs["images"].tensor_shape.dim.add(size=3)
    request.inputs["images"].float_val.extend([0.5, 1.5, 2.5])
    message, arrays = wire.decode(predict_pb2.PredictRequest, request.SerializeToString())
    assert list(message.output_filter) == ["conv1"] and arrays["images"].tolist() == [0.5, 1.5, 2.5]
    truncated = data[:-5]
    with pytest.raises(ServingError, match="truncated"):
        wire.decode(predict_pb2.PredictResponse, truncated)
