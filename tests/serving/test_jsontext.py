"""Vectorised JSON text of float arrays reads back bit for bit, and is the JSON json.dumps means."""
import vvs_tf  # noqa: F401

import json

import numpy as np
import pytest

from vvs_tf.serving import jsontext


def _read_back(text, dtype):
    """What a JSON reader gets: Python floats (doubles), rounded to the array's dtype."""
    return np.asarray(json.loads(text), np.float64).astype(dtype)


def test_every_kind_of_float32_reads_back_bit_for_bit(rng):
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]  # every exponent, subnormals, both signs
    powers = np.array([10.0**k for k in range(-45, 39)], np.float32)  # where log10 is borderline
    edges = np.array([0.0, -0.0, 1e-45, np.finfo(np.float32).tiny, np.finfo(np.float32).max,
                      -np.finfo(np.float32).max, 9.9999999e8, 0.1], np.float32)
    values = np.concatenate([values, powers, np.nextafter(powers, np.float32(0)),
                             np.nextafter(powers, np.float32(np.inf)), -powers, edges])
    back = _read_back(jsontext.float_array_text(values), np.float32)
    np.testing.assert_array_equal(back.view(np.uint32), values.view(np.uint32))


def test_every_finite_float16_reads_back_bit_for_bit():
    values = np.arange(2**16, dtype=np.uint16).view(np.float16)
    values = values[np.isfinite(values)]
    back = _read_back(jsontext.float_array_text(values), np.float16)
    np.testing.assert_array_equal(back.view(np.uint16), values.view(np.uint16))


def test_numbers_are_nine_correctly_rounded_digits():
    values = np.array([0.1, -2.0, 1e-45, 123456.789, 3e38], np.float32)
    tokens = jsontext.float_array_text(values).decode()[1:-1].split(",")
    assert tokens == [" 1.00000001e-01", "-2.00000000e+00", " 1.40129846e-45",
                      " 1.23456789e+05", " 3.00000001e+38"]
    assert tokens == [f"{v: .8e}" for v in values.astype(np.float64)]  # Python's own rounding
    zeros = jsontext.float_array_text(np.array([0.0, -0.0], np.float32)).decode()
    assert zeros == "[ 0             ,-0.00000000e+00]"  # blanks around a number are JSON


@pytest.mark.parametrize("shape", [(), (1,), (3, 1), (2, 3, 4), (1, 2, 1, 5)])
def test_nested_lists_have_the_array_shape(shape, rng):
    array = rng.standard_normal(shape).astype(np.float32)
    read = json.loads(jsontext.float_array_text(array))
    assert np.shape(read) == shape
    np.testing.assert_array_equal(np.asarray(read, np.float64).astype(np.float32), array)


def test_payloads_mean_what_json_dumps_means(rng):
    scores = rng.standard_normal((2, 3)).astype(np.float32)
    payload = {"outputs": {"scores": scores, "rows": [scores[0], {"n": 1}], "label": "a\"b"},
               "ids": np.arange(3), "flags": np.array([True, False]), "none": None,
               "wide": np.array([0.1, 1e300]), "nan": np.array([np.nan, 1.0], np.float32),
               "empty": np.zeros((0, 2), np.float32), "tuple": (1, 2.5)}
    plain = json.loads(json.dumps({
        "outputs": {"scores": scores.tolist(), "rows": [scores[0].tolist(), {"n": 1}],
                    "label": "a\"b"},
        "ids": [0, 1, 2], "flags": [True, False], "none": None, "wide": [0.1, 1e300],
        "nan": [float("nan"), 1.0], "empty": [], "tuple": [1, 2.5]}))
    read = json.loads(jsontext.dumps(payload))
    for key in ("ids", "flags", "none", "wide", "empty", "tuple"):  # json.dumps's own text
        assert read[key] == plain[key], key
    assert read["outputs"]["label"] == "a\"b" and read["outputs"]["rows"][1] == {"n": 1}
    np.testing.assert_array_equal(np.float32(read["outputs"]["scores"]), scores)
    np.testing.assert_array_equal(np.float32(read["outputs"]["rows"][0]), scores[0])
    assert np.isnan(read["nan"][0]) and read["nan"][1] == 1.0
    assert jsontext.dumps({"a": [1, "x"], "b": {}}) == b'{"a":[1,"x"],"b":{}}'
    with pytest.raises(TypeError, match="keys must be strings"):
        jsontext.dumps({1: np.zeros(2, np.float32)})


def test_float_array_text_refuses_what_it_cannot_write():
    for bad in (np.zeros(3, np.float64), np.zeros(0, np.float32),
                np.array([np.inf], np.float32), np.arange(3)):
        with pytest.raises(ValueError, match="non-empty finite float16/float32"):
            jsontext.float_array_text(bad)
