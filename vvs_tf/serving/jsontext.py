"""JSON text of payloads holding NumPy arrays, float arrays written whole by NumPy.

`json.dumps(array.tolist())` formats one Python float at a time (about half a microsecond each),
so TF Serving's REST answer for a batch of 32 ResNet-18 read-outs at 64 px (4.6 M floats) took
seconds to write. Here float16/float32 arrays become fixed-width text in a few vectorised passes:
every number is `±d.dddddddde±dd` (nine significant digits, which identify every float32, so a
reader that parses the text to double and rounds to float32 - json + NumPy, TF Serving - gets the
array back bit for bit), the sign slot holding a space for non-negative numbers, and +0 is `0`
padded with spaces (JSON allows blanks around a number). Other arrays and the rest of the payload
go through json.dumps. Reading stays json.loads: about 0.3 us a number, now the larger share.
"""
import json

import numpy as np

SIGNIFICANT_DIGITS = 9  # enough to identify every float32 (and float16)
_WIDTH = 1 + 1 + 1 + (SIGNIFICANT_DIGITS - 1) + 1 + 1 + 2  # sign d . digits e sign exponent
_VECTORISED = (np.dtype(np.float16), np.dtype(np.float32))


def dumps(payload) -> bytes:
    """UTF-8 JSON of `payload`, as json.dumps(payload, separators=(",", ":")) writes it, except
    that ndarrays and NumPy scalars (numbers or booleans) may appear anywhere: arrays become nested
    lists."""
    pieces = []
    _write(payload, pieces)
    return b"".join(pieces)


def _write(value, pieces: list):
    if isinstance(value, np.generic):  # an element of an array (e.g. a row of a 1-D output)
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        try:
            pieces.append(float_array_text(value))
        except (ValueError, ArithmeticError):  # not finite float16/32 numbers: json.dumps
            pieces.append(_json(value.tolist()))
    elif isinstance(value, dict):
        pieces.append(b"{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            pieces += [b"," if i else b"", _json(key), b":"]
            _write(item, pieces)
        pieces.append(b"}")
    elif isinstance(value, (list, tuple)) and any(
            isinstance(item, (np.ndarray, np.generic, dict, list, tuple)) for item in value):
        pieces.append(b"[")
        for i, item in enumerate(value):
            if i:
                pieces.append(b",")
            _write(item, pieces)
        pieces.append(b"]")
    else:
        pieces.append(_json(value))


def _json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def float_array_text(array: np.ndarray) -> bytes:
    """A finite float16/float32 array (any shape, not empty) as nested JSON lists."""
    array = np.asarray(array)
    if array.dtype not in _VECTORISED or not array.size or not np.isfinite(array).all():
        raise ValueError(f"need a non-empty finite float16/float32 array, got {array.dtype} "
                         f"{array.shape}")
    return _nest(_number_cells(array.reshape(-1)), array.shape).tobytes()


def _number_cells(values: np.ndarray) -> np.ndarray:
    """[n, _WIDTH] uint8: each value as `±d.dddddddde±dd` (nine significant digits), +0 as `0`."""
    exact = values.astype(np.float64)  # float16/32 -> float64 is exact
    magnitude = np.abs(exact)
    zero = magnitude == 0
    # decimal exponent from the binary one, floor((e2 - 1) * log10 2): one short when the value
    # is at or above the next power of ten, or when rounding to nine digits carries to 10**9
    exponent = (np.frexp(magnitude)[1].astype(np.int64) - 1) * 78913 >> 18
    exponent[zero] = 0
    mantissa = _scaled(magnitude, exponent)
    low, high = 10 ** (SIGNIFICANT_DIGITS - 1), 10 ** SIGNIFICANT_DIGITS
    carry = mantissa >= high
    if carry.any():
        exponent += carry
        mantissa = _scaled(magnitude, exponent)
    if ((mantissa >= high) | ((mantissa < low) & ~zero)).any():
        raise ArithmeticError("could not normalise the mantissas to nine digits")
    decimal = mantissa * _POWERS_OF_TEN[exponent - (SIGNIFICANT_DIGITS - 1) + _POWER_OFFSET]
    if not np.array_equal(decimal.astype(values.dtype), np.abs(values)):  # what readers get back
        raise ArithmeticError("nine-digit text would not read back as the same floats")
    digits = mantissa.astype(np.uint32)
    cells = np.empty((values.size, _WIDTH), np.uint8)
    cells[:, 0] = np.where(np.signbit(exact), ord("-"), ord(" "))
    cells[:, 1] = ord("0") + digits // low
    cells[:, 2] = ord(".")
    tail = SIGNIFICANT_DIGITS + 2
    rest = digits % low  # the eight digits after the point, four at a time
    cells[:, 3:tail] = np.stack([np.take(_QUADS, rest // 10000), np.take(_QUADS, rest % 10000)],
                                axis=1).view(np.uint8)
    cells[:, tail] = ord("e")
    cells[:, tail + 1] = np.where(exponent < 0, ord("-"), ord("+"))
    cells[:, tail + 2:] = np.take(_PAIRS, np.abs(exponent))[:, None].view(np.uint8)
    plain_zero = zero & ~np.signbit(exact)  # ReLU read-outs are largely zeros: " 0" reads faster
    cells[plain_zero, 1] = ord("0")
    cells[plain_zero, 2:] = ord(" ")
    return cells


# "00".."99" and "0000".."9999" as machine integers, so that digits go in several at a time
_PAIRS = np.frombuffer("".join(f"{k:02d}" for k in range(100)).encode(), np.uint16)
_QUADS = np.frombuffer("".join(f"{k:04d}" for k in range(10000)).encode(), np.uint32)
_POWER_OFFSET = 400  # float64 spans 1e-324..1e308
_POWERS_OF_TEN = np.array([float(f"1e{k}") for k in range(-_POWER_OFFSET, _POWER_OFFSET)])


def _scaled(magnitude, exponent):
    """magnitude / 10**(exponent - 8), rounded to an integer (exact in float64 below 2**53)."""
    return np.rint(magnitude * _POWERS_OF_TEN[SIGNIFICANT_DIGITS - 1 - exponent + _POWER_OFFSET])


def _nest(cells: np.ndarray, shape: tuple) -> np.ndarray:
    """Fixed-width cells -> one row of `[...]` text per list, innermost axis first: every list of
    one level has the same width, so each level is one reshape and copy."""
    text = cells
    for size in reversed(shape):
        groups, width = text.shape[0] // size, text.shape[1]
        nested = np.empty((groups, 1 + size * (width + 1)), np.uint8)
        nested[:, 0] = ord("[")
        items = nested[:, 1:].reshape(groups, size, width + 1)
        items[:, :, :width] = text.reshape(groups, size, width)
        items[:, :, width] = ord(",")
        nested[:, -1] = ord("]")  # over the last item's comma
        text = nested
    return text
