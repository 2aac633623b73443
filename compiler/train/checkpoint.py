"""Reading a checkpoint file for `Saver.restore`: `read_checkpoint(path, wanted)`.

A checkpoint is numpy's `savez` layout (a zip of `KEY.npy` members). The file is not
trusted: whatever is wrong with it (not a regular file, truncated, not a zip, a bad CRC
in any member, a member that is not an `.npy`, an object array, a dtype or shape
other than the variable's, a missing key, a duplicated member, a bad run counter) raises
`CheckpointError` (a ValueError) naming the file and what is wrong; no other exception
type escapes for a bad file. Each member's `.npy` header is checked against the wanted
dtype and shape before its data is read, so a forged header cannot make it allocate more
than the variables' own size. Members are read by `runtime.npy` (plain numeric arrays
only: no loaded file can construct Python objects); it never writes.
"""

from __future__ import annotations

import os
import stat
import zipfile

import numpy as np

from runtime import npy

__all__ = ["CheckpointError", "read_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint file cannot be restored (names the file and what is wrong)."""


def read_checkpoint(path: str, wanted: dict, counter_key: str) -> tuple[dict, object]:
    """({key: array} for every key of `wanted` ({key: (np.dtype, shape, label)}), the
    int run counter under `counter_key` or None). All problems with the wanted keys are
    listed in one CheckpointError."""
    _check_regular_file(path)
    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            return _read_members(zf, path, wanted, counter_key)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to parse the file is a bad file
        raise CheckpointError(f"cannot restore {path!r}: the file is damaged or not a "
                              f"checkpoint ({type(e).__name__}: {e}); no variable was "
                              "changed") from None


def _check_regular_file(path):
    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"cannot restore {path!r}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise CheckpointError(f"cannot restore {path!r}: it is {kind}, not a checkpoint "
                              "file")
    if st.st_size == 0:
        raise CheckpointError(f"cannot restore {path!r}: the file is empty")


def _read_members(zf, path, wanted, counter_key):
    bad = zf.testzip()  # every member's CRC and local header, not only the ones read
    if bad is not None:
        raise CheckpointError(f"cannot restore {path!r}: the member {bad!r} is damaged "
                              "(bad CRC); no variable was changed")
    members = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key in members:
            raise CheckpointError(f"cannot restore {path!r}: the member {info.filename!r} "
                                  "occurs twice")
        members[key] = info
    errors, values = [], {}
    for key, (dtype, shape, label) in wanted.items():
        info = members.get(key)
        if info is None:
            errors.append(f"{label}: key {key!r} not in the checkpoint")
            continue
        arr = _read_array(zf, info, dtype, shape, label, errors)
        if arr is not None:
            values[key] = arr
    if errors:
        raise CheckpointError(f"cannot restore {path!r} (no variable was changed):\n  "
                              + "\n  ".join(errors))
    counter = None
    if counter_key in members:
        errors = []
        c = _read_array(zf, members[counter_key], None, (), "the run counter", errors)
        if c is None or not 0 <= int(c) < 2**63:
            why = errors[0] if errors else f"its value is {int(c)}"
            raise CheckpointError(f"cannot restore {path!r}: {counter_key!r} is not a "
                                  f"non-negative int64 scalar ({why}); no variable was "
                                  "changed")
        counter = int(c)
    return values, counter


def _read_array(zf, info, dtype, shape, label, errors):
    """The member's array, checked header first; None (an entry in `errors`) when its
    dtype or shape is not the wanted one (`dtype` None: any integer dtype)."""
    if not info.filename.endswith(".npy"):
        errors.append(f"{label}: the member {info.filename!r} is not an .npy array")
        return None
    with zf.open(info) as member:
        try:
            got_shape, fortran, got_dtype = npy.read_header(member)
        except npy.UnsupportedDtype as e:
            errors.append(f"{label}: the member {info.filename!r} is refused: {e}")
            return None
        if dtype is None and got_dtype.kind in "iu":
            dtype = got_dtype
        if (got_dtype, tuple(got_shape)) != (dtype, tuple(shape)):
            errors.append(f"{label}: the checkpoint has {got_dtype}{list(got_shape)}, the "
                          f"variable is {dtype if dtype is not None else 'int64'}{list(shape)}")
            return None
        count = int(np.prod(shape, dtype=np.int64))
        data = member.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize or member.read(1):
            raise ValueError(f"{label}: the member {info.filename!r} has "
                                  f"{len(data)} data bytes, its header promises "
                                  f"{count * dtype.itemsize}")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C").copy(order="C")
