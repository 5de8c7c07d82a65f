"""Tensors survive the wire both ways: TensorProto bytes and TF Serving's JSON conventions."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from vvs_tf.serving import codec
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
    assert rows == {"predictions": [{"scores": [1.0, 2.0], "label_bytes": {"b64": "/w=="}},
                                    {"scores": [3.0, 4.0], "label_bytes": {"b64": "YQ=="}}]}
    columns = codec.predict_response_json({"scores": outputs["scores"]}, row_format=False)
    assert columns == {"outputs": [[1.0, 2.0], [3.0, 4.0]]}
