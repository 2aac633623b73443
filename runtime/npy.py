"""The `.npy` array format, written and read here for plain arrays only.

Checkpoint members (compiler/train) and the compile cache's constants (compiler/cache.py)
are `.npy` streams: a magic string, a format version (1.0 or 2.0), a header that is a
Python dict literal {'descr', 'fortran_order', 'shape'}, then the raw data. This module
accepts only numeric and bool dtypes: a header naming an object, structured or
unknown dtype is refused with ValueError, so no loaded file can ever construct Python
objects. The header is parsed with `ast.literal_eval` (literals only). numpy's own
`np.load`/`np.save` are not used. This module never imports the compiler.
"""

from __future__ import annotations

import ast
import struct

import numpy as np

MAGIC = b"\x93NUMPY"
MAX_HEADER = 1 << 16
_KINDS = "biuf"   # bool, signed, unsigned, float


class UnsupportedDtype(ValueError):
    """An .npy header or array whose dtype is not plain numeric (e.g. an object array)."""


def _plain(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise UnsupportedDtype(f"only plain numeric arrays are stored as .npy, not {dtype} "
                         "(object arrays are refused)")
    return dtype


def write(stream, arr) -> None:
    """Write `arr` (C order) as an .npy 1.0 stream."""
    arr = np.asarray(arr, order="C")  # keeps 0-d arrays 0-d
    dtype = _plain(arr.dtype)
    header = repr({"descr": dtype.str, "fortran_order": False, "shape": tuple(arr.shape)})
    pad = -(len(MAGIC) + 4 + len(header) + 1) % 64
    text = (header + " " * pad + "\n").encode("latin1")
    stream.write(MAGIC + b"\x01\x00" + struct.pack("<H", len(text)) + text)
    stream.write(arr.tobytes())


def read_header(stream):
    """(shape, fortran_order, dtype) of an .npy stream, positioned at its data."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise ValueError("not an .npy stream (bad magic)")
    version = tuple(_exactly(stream, 2))
    if version == (1, 0):
        size = struct.unpack("<H", _exactly(stream, 2))[0]
    elif version in ((2, 0), (3, 0)):
        size = struct.unpack("<I", _exactly(stream, 4))[0]
    else:
        raise ValueError(f".npy format version {version} is not supported")
    if size > MAX_HEADER:
        raise ValueError(f".npy header of {size} bytes is too large")
    text = _exactly(stream, size)
    try:
        header = ast.literal_eval(text.decode("latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise ValueError(f"unreadable .npy header: {e}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError(f"bad .npy header {text[:80]!r}")
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)
            and isinstance(fortran, bool) and isinstance(descr, str)):
        raise ValueError(f"bad .npy header {text[:80]!r}")
    try:
        dtype = np.dtype(descr)
    except TypeError as e:
        raise ValueError(f"bad .npy dtype {descr!r}: {e}") from None
    return shape, fortran, _plain(dtype)


def _exactly(stream, n) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise ValueError(f"truncated .npy stream ({len(data)} of {n} header bytes)")
    return data


def read(stream) -> np.ndarray:
    """The array of an .npy stream (C order); ValueError when it is damaged."""
    shape, fortran, dtype = read_header(stream)
    count = 1
    for d in shape:
        count *= d
    nbytes = count * dtype.itemsize
    data = stream.read(nbytes)
    if len(data) != nbytes or stream.read(1):
        raise ValueError(f".npy data is {len(data)} bytes, its header promises {nbytes}")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C").copy(order="C")


def save(path, arr) -> None:
    with open(path, "wb") as f:
        write(f, arr)


def load(path) -> np.ndarray:
    with open(path, "rb") as f:
        return read(f)
