"""PredictRequest / PredictResponse bytes written and read around NumPy buffers.

Activation responses are large (a batch of 32 ResNet-18 read-outs at 64 px is 17.5 MB). Going
through protobuf objects copies each tensor four to six times (bytes(), the message, the
serialiser's growing buffer, the field access); here a message is the protobuf wire format
assembled in one join around the arrays' own memory, and read back as NumPy views into the
received bytes. The bytes are exactly TF Serving's messages (map entries of TensorProtos with
`tensor_content`), so either end can be TF Serving or a protobuf-built client.
"""
import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from vvs_tf.serving import codec
from vvs_tf.serving.errors import invalid

# Channel arguments for multi-megabyte messages on both ends: big HTTP/2 frames, a deep stream
# window and large socket reads (on loopback they take a 17.5 MB response from ~45 to ~20 ms).
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.http2.max_frame_size", (1 << 24) - 1),
    ("grpc.http2.lookahead_bytes", 64 << 20),
    ("grpc.experimental.tcp_read_chunk_size", 4 << 20),
    ("grpc.experimental.tcp_min_read_chunk_size", 1 << 20),
    ("grpc.experimental.tcp_max_read_chunk_size", 16 << 20),
]

_LEN, _VARINT, _I64, _I32 = 2, 0, 1, 5
_TENSOR = tensor_pb2.TensorProto.DESCRIPTOR.fields_by_name
_DTYPE, _SHAPE = _TENSOR["dtype"].number, _TENSOR["tensor_shape"].number
_VERSION, _CONTENT = _TENSOR["version_number"].number, _TENSOR["tensor_content"].number
_FIELD = {cls: {f.name: f.number for f in cls.DESCRIPTOR.fields}
          for cls in (predict_pb2.PredictRequest, predict_pb2.PredictResponse)}
_MAP_FIELD = {predict_pb2.PredictRequest: "inputs", predict_pb2.PredictResponse: "outputs"}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _read_varint(buffer, pos: int):
    if pos < len(buffer) and buffer[pos] < 0x80:  # most keys and lengths fit in one byte
        return buffer[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= len(buffer):
            raise invalid("truncated protobuf message")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise invalid("malformed protobuf varint")


def _fields(buffer, start: int = 0, end: int = None):
    """(field number, wire type, field start, value start, value end) of each field in
    buffer[start:end]; the field starts at its key."""
    pos, end = start, len(buffer) if end is None else end
    while pos < end:
        field_start = pos
        key, pos = _read_varint(buffer, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            _, after = _read_varint(buffer, pos)
        elif wire_type == _LEN:
            length, pos = _read_varint(buffer, pos)
            after = pos + length
        elif wire_type == _I64:
            after = pos + 8
        elif wire_type == _I32:
            after = pos + 4
        else:
            raise invalid(f"unsupported protobuf wire type {wire_type}")
        if after > end:
            raise invalid("truncated protobuf message")
        yield field, wire_type, field_start, pos, after
        pos = after


# ----------------------------------------------------------------------------- encoding


def _tensor_pieces(array: np.ndarray) -> list:
    """Wire pieces of a TensorProto; numbers as one tensor_content view of the array."""
    if array.dtype.kind in "OSU":
        return [codec.to_tensor_proto(array).SerializeToString()]
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape]
    ).SerializeToString()
    content = memoryview(array.reshape(-1)).cast("B")
    return [_key(_DTYPE, _VARINT) + _varint(codec.dtype_enum_of(array)),
            _key(_SHAPE, _LEN) + _varint(len(shape)) + shape,
            _key(_CONTENT, _LEN) + _varint(content.nbytes), content]


def _map_entry_pieces(field: int, key: str, array: np.ndarray) -> list:
    tensor = _tensor_pieces(array)
    tensor_size = sum(len(p) if isinstance(p, bytes) else p.nbytes for p in tensor)
    name = key.encode("utf-8")
    head = _key(1, _LEN) + _varint(len(name)) + name + _key(2, _LEN) + _varint(tensor_size)
    return [_key(field, _LEN) + _varint(len(head) + tensor_size) + head, *tensor]


def encode(cls, arrays: dict, **fields) -> bytes:
    """Wire bytes of a PredictRequest (`inputs`) or PredictResponse (`outputs`) whose tensor map
    is `arrays`; `fields` are its other fields (model_spec, output_filter), as protobuf sets them.
    """
    map_field = _FIELD[cls][_MAP_FIELD[cls]]
    pieces = [cls(**fields).SerializeToString()]
    for key, array in arrays.items():
        pieces += _map_entry_pieces(map_field, key, np.asarray(array))
    return b"".join(pieces)


# ----------------------------------------------------------------------------- decoding


def _tensor(buffer, start: int, end: int) -> np.ndarray:
    """A TensorProto in buffer[start:end] -> array (a view into buffer for tensor_content)."""
    dtype, shape, content = types_pb2.DT_INVALID, None, None
    for field, _, _, value_start, value_end in _fields(buffer, start, end):
        if field == _DTYPE:
            dtype, _ = _read_varint(buffer, value_start)
        elif field == _SHAPE:
            shape = tensor_shape_pb2.TensorShapeProto.FromString(buffer[value_start:value_end])
        elif field == _CONTENT:
            content = (value_start, value_end)
        elif field != _VERSION:  # values as typed lists (strings, or a client's float_val)
            return codec.from_tensor_proto(tensor_pb2.TensorProto.FromString(buffer[start:end]))
    dims = tuple(int(d.size) for d in shape.dim) if shape is not None else ()
    if shape is not None and shape.unknown_rank or any(d < 0 for d in dims):
        raise invalid("tensor proto needs a fully known shape")
    item = np.dtype(codec.numpy_dtype(dtype)).newbyteorder("<")
    size = math.prod(dims)
    if content is None:
        if size:
            raise invalid(f"tensor of shape {list(dims)} has no values")
        return np.zeros(dims, item)
    if content[1] - content[0] != size * item.itemsize:
        raise invalid(f"tensor_content has {content[1] - content[0]} bytes, shape {list(dims)} "
                      f"of {codec.dtype_name(dtype)} needs {size * item.itemsize}")
    return np.frombuffer(buffer[content[0]:content[1]], item).reshape(dims)


def decode(cls, data: bytes):
    """(message without its tensor map, {key: array}) from PredictRequest/Response wire bytes.
    Numeric arrays are read-only views into `data`."""
    buffer = memoryview(data)
    map_field = _FIELD[cls][_MAP_FIELD[cls]]
    arrays, message = {}, cls()
    for field, wire_type, field_start, start, end in _fields(buffer):
        if field != map_field or wire_type != _LEN:  # model_spec, output_filter, ...: protobuf
            message.MergeFromString(bytes(buffer[field_start:end]))
            continue
        key, value = "", None
        for entry_field, _, _, entry_start, entry_end in _fields(buffer, start, end):
            if entry_field == 1:
                key = bytes(buffer[entry_start:entry_end]).decode("utf-8")
            elif entry_field == 2:
                value = (entry_start, entry_end)
        if value is None:
            raise invalid(f"tensor map entry '{key}' has no tensor")
        arrays[key] = _tensor(buffer, *value)
    return message, arrays
