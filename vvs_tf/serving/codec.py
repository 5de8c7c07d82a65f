"""Tensors on the wire: TensorProto and TF Serving's REST JSON to and from NumPy.

Server and clients use the same functions, so both ends agree on TF Serving's conventions:
row (`instances` -> `predictions`) and columnar (`inputs` -> `outputs`) JSON, a single input or
output named implicitly, `{"b64": ...}` for binary strings (outputs whose name ends in `_bytes`),
and TensorProtos that carry numbers as raw `tensor_content` bytes rather than per-value lists.
"""
import base64
from dataclasses import dataclass

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from vvs_tf.serving.errors import invalid

_NUMPY_OF = {
    types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_HALF: np.float16, types_pb2.DT_INT8: np.int8, types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT32: np.int32, types_pb2.DT_INT64: np.int64, types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_UINT16: np.uint16, types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64, types_pb2.DT_BOOL: np.bool_, types_pb2.DT_STRING: np.object_,
}
_ENUM_OF = {np.dtype(v): k for k, v in _NUMPY_OF.items() if v is not np.object_}
# numpy kinds a JSON value may have for each TF dtype family (ints are fine for floats).
_JSON_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}


def dtype_name(dtype_enum: int) -> str:
    return types_pb2.DataType.Name(dtype_enum)


def numpy_dtype(dtype_enum: int):
    if dtype_enum not in _NUMPY_OF:
        raise invalid(f"unsupported tensor dtype {dtype_name(dtype_enum)}")
    return _NUMPY_OF[dtype_enum]


def dtype_enum_of(array: np.ndarray) -> int:
    if array.dtype.kind in "OSU":
        return types_pb2.DT_STRING
    if array.dtype not in _ENUM_OF:
        raise invalid(f"unsupported array dtype {array.dtype}")
    return _ENUM_OF[array.dtype]


# ----------------------------------------------------------------------------- TensorProto


def to_tensor_proto(array) -> tensor_pb2.TensorProto:
    """NumPy -> TensorProto; numbers travel as one `tensor_content` byte string."""
    array = np.asarray(array)
    dtype = dtype_enum_of(array)
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape]
    )
    if dtype == types_pb2.DT_STRING:
        values = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)]
        return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, string_val=values)
    content = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, tensor_content=content.tobytes())


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """TensorProto -> NumPy, from `tensor_content` bytes or the typed value lists."""
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if proto.tensor_shape.unknown_rank or any(d < 0 for d in shape):
        raise invalid("tensor proto needs a fully known shape")
    size = int(np.prod(shape))
    if proto.dtype == types_pb2.DT_STRING:
        values = list(proto.string_val)
        if len(values) == 1 and size != 1:
            values = values * size
        if len(values) != size:
            raise invalid(f"tensor proto has {len(values)} strings for shape {list(shape)}")
        return np.array(values, dtype=object).reshape(shape)
    dtype = np.dtype(numpy_dtype(proto.dtype)).newbyteorder("<")
    if proto.tensor_content:
        if len(proto.tensor_content) != size * dtype.itemsize:
            raise invalid(f"tensor_content has {len(proto.tensor_content)} bytes, shape "
                          f"{list(shape)} of {dtype_name(proto.dtype)} needs {size * dtype.itemsize}")
        return np.frombuffer(proto.tensor_content, dtype).astype(dtype.newbyteorder("="))\
            .reshape(shape)
    import tensorflow as tf  # rare path: typed value lists (e.g. from other clients)

    try:
        return tf.make_ndarray(proto)
    except (ValueError, TypeError) as error:
        raise invalid(f"cannot read tensor proto: {error}") from None


# ----------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class TensorSpec:
    """dtype (TF DataType enum) and shape (None for an unknown rank, -1 for an unknown dim)."""

    dtype: int
    shape: tuple

    @classmethod
    def from_tensor_info(cls, info) -> "TensorSpec":
        if info.tensor_shape.unknown_rank:
            return cls(info.dtype, None)
        return cls(info.dtype, tuple(int(d.size) for d in info.tensor_shape.dim))

    def describe(self) -> str:
        shape = "<any>" if self.shape is None else list(self.shape)
        return f"{dtype_name(self.dtype)} {shape}"

    def accepts_shape(self, shape) -> bool:
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            s < 0 or s == d for s, d in zip(self.shape, shape)
        )


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of one SignatureDef, by name."""

    name: str
    inputs: dict
    outputs: dict

    @classmethod
    def from_signature_def(cls, name, signature_def) -> "Signature":
        return cls(
            name,
            {k: TensorSpec.from_tensor_info(v) for k, v in signature_def.inputs.items()},
            {k: TensorSpec.from_tensor_info(v) for k, v in signature_def.outputs.items()},
        )


def signatures_of(signature_def_map) -> dict:
    """{name: Signature} for a map of SignatureDefs, without TF's internal `__...__` entries."""
    return {
        name: Signature.from_signature_def(name, sig)
        for name, sig in signature_def_map.items() if not name.startswith("__")
    }


# ----------------------------------------------------------------------------- JSON values


def _b64decode(text, where):
    if not isinstance(text, str):
        raise invalid(f"{where}: 'b64' value must be a string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as error:
        raise invalid(f"{where}: invalid base64 ({error})") from None


def _strings_of(value, where):
    """Nested JSON list of strings / {"b64": ...} objects -> nested list of bytes."""
    if isinstance(value, list):
        return [_strings_of(v, where) for v in value]
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise invalid(f"{where}: an object value must be {{\"b64\": ...}}, got keys "
                          f"{sorted(value)}")
        return _b64decode(value["b64"], where)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise invalid(f"{where}: expected strings, got {type(value).__name__}")


def is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def json_to_array(value, spec: TensorSpec, where: str) -> np.ndarray:
    """A JSON value -> array of the spec's dtype; a clear error for ragged or mistyped values."""
    if spec.dtype == types_pb2.DT_STRING:
        try:
            array = np.array(_strings_of(value, where), dtype=object)
        except ValueError:
            array = None
        if array is None or any(not isinstance(v, bytes) for v in array.reshape(-1)):
            raise invalid(f"{where}: nested lists have unequal lengths")
        return array
    try:
        array = np.asarray(value)
    except ValueError:
        raise invalid(f"{where}: nested lists have unequal lengths (not a tensor)") from None
    target = np.dtype(numpy_dtype(spec.dtype))
    if array.size and array.dtype.kind not in _JSON_KINDS.get(target.kind, ""):
        found = {"U": "strings", "O": "mixed or ragged values", "b": "booleans"}.get(
            array.dtype.kind, str(array.dtype))
        raise invalid(f"{where}: expected {dtype_name(spec.dtype)} numbers, got {found}")
    return array.astype(target, copy=False)


def array_to_json(array: np.ndarray, binary: bool = False):
    """An array -> JSON value; strings are text, or {"b64": ...} objects when `binary`."""
    if array.dtype.kind not in "OSU":
        return array.tolist()
    flat = [
        {"b64": base64.b64encode(v).decode("ascii")} if binary
        else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
        for v in array.reshape(-1)
    ]
    if array.ndim == 0:
        return flat[0]
    holder = np.empty(len(flat), dtype=object)
    holder[:] = flat
    return holder.reshape(array.shape).tolist()


def parse_predict_request(body, signature: Signature):
    """TF Serving's predict JSON -> ({input name: array}, row_format)."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise invalid("request needs exactly one of 'instances' (row format) or 'inputs' "
                      "(columnar format)")
    names = list(signature.inputs)
    if has_columns:
        value = body["inputs"]
        if isinstance(value, dict) and not is_b64(value):
            columns = value
        elif len(names) == 1:
            columns = {names[0]: value}
        else:
            raise invalid(f"signature '{signature.name}' has inputs {names}; 'inputs' must be an "
                          "object keyed by input name")
    else:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise invalid("'instances' must be a list")
        named = [isinstance(r, dict) and not is_b64(r) for r in rows]
        if rows and all(named):
            keys = set(rows[0])
            if any(set(r) != keys for r in rows):
                raise invalid("every instance must have the same named inputs")
            columns = {k: [r[k] for r in rows] for k in keys}
        elif any(named):
            raise invalid("instances mix named-input objects and plain values")
        elif len(names) == 1:
            columns = {names[0]: rows}
        else:
            raise invalid(f"signature '{signature.name}' has inputs {names}; each instance must "
                          "be an object keyed by input name")
    check_input_names(columns, signature)
    arrays = {name: json_to_array(v, signature.inputs[name], f"input '{name}'")
              for name, v in columns.items()}
    return arrays, has_rows


def check_input_names(inputs, signature: Signature):
    missing = sorted(set(signature.inputs) - set(inputs))
    extra = sorted(set(inputs) - set(signature.inputs))
    if missing or extra:
        raise invalid(f"signature '{signature.name}' takes inputs {sorted(signature.inputs)}; "
                      f"missing {missing}, unexpected {extra}")


def json_ready(array: np.ndarray, binary: bool = False):
    """An array as vvs_tf.serving.jsontext.dumps takes it: numbers stay an ndarray (written whole,
    not one Python float at a time), strings become JSON values (see array_to_json)."""
    return array_to_json(array, binary) if array.dtype.kind in "OSU" else array


def predict_response_json(outputs: dict, row_format: bool) -> dict:
    """Outputs -> {"predictions": ...} (row) or {"outputs": ...} (columnar), TF Serving style;
    numeric outputs stay ndarrays, for vvs_tf.serving.jsontext.dumps to write."""
    values = {name: json_ready(np.asarray(array), binary=name.endswith("_bytes"))
              for name, array in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = {np.shape(a)[0] if np.ndim(a) else None for a in outputs.values()}
    if len(batch) != 1 or None in batch:
        raise invalid("outputs do not share a batch dimension; use the columnar 'inputs' format")
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    names = list(values)
    return {"predictions": [dict(zip(names, row)) for row in zip(*(values[n] for n in names))]}


def parse_predict_response(body: dict, signature: Signature) -> dict:
    """A predict JSON response -> {output name: array} (both row and columnar shapes)."""
    outputs = signature.outputs
    if "outputs" in body:
        value = body["outputs"]
        columns = value if len(outputs) != 1 else {next(iter(outputs)): value}
    elif "predictions" in body:
        rows = body["predictions"]
        if len(outputs) == 1:
            columns = {next(iter(outputs)): rows}
        else:
            columns = {name: [r[name] for r in rows] for name in outputs}
    else:
        raise invalid(f"response has neither 'outputs' nor 'predictions': keys {sorted(body)}")
    if not isinstance(columns, dict):
        raise invalid("response outputs are not keyed by name")
    return {
        name: json_to_array(value, outputs.get(name, TensorSpec(types_pb2.DT_FLOAT, None)),
                            f"output '{name}'")
        for name, value in columns.items()
    }
