"""`Const`: an immutable, hashable wrapper of a numpy array, used as an attribute value.

Two Consts are equal when dtype, shape and bytes are equal (so NaN constants with the
same bits merge). The wrapped array is read-only.
"""

from __future__ import annotations

import hashlib

import numpy as np


class Const:
    __slots__ = ("array", "_key")

    def __init__(self, array):
        arr = np.array(array, copy=True, order="C")
        arr.setflags(write=False)
        self.array = arr
        digest = hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest()
        self._key = (arr.dtype.str, arr.shape, digest)

    @property
    def key(self):
        return self._key

    def __eq__(self, other):
        return isinstance(other, Const) and other._key == self._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        if self.array.size <= 8:
            return f"Const({self.array.tolist()!r})"
        return f"Const({self.array.dtype}{list(self.array.shape)})"
