"""runtime/npy.py: the .npy format without numpy's loader (plain numeric arrays only)."""

import io

import numpy as np
import pytest

from runtime import npy


@pytest.mark.parametrize("arr", [np.arange(6, dtype=np.float32).reshape(2, 3),
                                 np.array(7, np.int64), np.zeros((0, 4), np.float16),
                                 np.array([True, False]), np.arange(4.0)[::2]])
def test_round_trip_and_numpy_agree(arr):
    buf = io.BytesIO()
    npy.write(buf, arr)
    back = npy.read(io.BytesIO(buf.getvalue()))
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    np.testing.assert_array_equal(np.load(io.BytesIO(buf.getvalue())), arr)  # numpy reads it
    theirs = io.BytesIO()
    np.save(theirs, np.asfortranarray(np.atleast_2d(arr)))
    np.testing.assert_array_equal(npy.read(io.BytesIO(theirs.getvalue())), np.atleast_2d(arr))


def test_object_and_structured_arrays_are_refused():
    for bad in (np.array([object()], dtype=object), np.zeros(2, dtype=[("a", "i4")])):
        with pytest.raises(npy.UnsupportedDtype, match="object arrays are refused"):
            npy.write(io.BytesIO(), bad)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(npy.UnsupportedDtype):
        npy.read(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("cut", [0, 3, 8, 20, 60, 127])
def test_damaged_streams_raise_value_error(cut):
    buf = io.BytesIO()
    npy.write(buf, np.arange(10, dtype=np.int32))
    with pytest.raises(ValueError):
        npy.read(io.BytesIO(buf.getvalue()[:cut]))
    forged = buf.getvalue().replace(b"'shape': (10,)", b"'shape': (-1,)")
    with pytest.raises(ValueError):
        npy.read(io.BytesIO(forged))
