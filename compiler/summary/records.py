"""TFRecord framing of event files, with TensorFlow's masked CRC32C.

A record is: length (u64, little-endian), masked CRC32C of those 8 bytes, the payload,
masked CRC32C of the payload. The mask is `((crc >> 15) | (crc << 17)) + 0xA282EAD8`
(mod 2^32). CRC32C (Castagnoli, reflected polynomial 0x82F63B78) is computed with a
256-entry table: byte by byte in pure Python for short inputs (event records), and for
long ones (checkpoint tensors, compiler/train/bundle.py) with numpy over many chunks at
once, the chunks' CRCs then combined. No dependency beyond numpy.

The combination rests on the CRC register being linear: running the table loop from a
register `s` over bytes `d` gives `shift(s, len(d)) ^ run(0, d)`, where `shift(s, L)` (the
loop over L zero bytes) is linear in `s` and so is four 256-entry lookups once the 32
basis vectors are known. `run(0, chunk)` is computed for every chunk in one vectorized
loop of L steps, then folded left to right.
"""

from __future__ import annotations

import functools
import struct

import numpy as np


def _table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _table()


_NP_TABLE = np.array(_TABLE, dtype=np.uint32)
#: inputs shorter than this run the pure-Python loop (the numpy path's set-up costs more)
_VECTOR_MIN = 1 << 16


def _run(crc: int, data) -> int:
    """The table loop from register `crc` over `data` (no inversions)."""
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def crc32c(data) -> int:
    """CRC32C of a bytes-like object (bytes, bytearray, memoryview, C-contiguous array)."""
    view = memoryview(data).cast("B")
    if len(view) < _VECTOR_MIN:
        return _run(0xFFFFFFFF, view) ^ 0xFFFFFFFF
    return _crc32c_chunked(view) ^ 0xFFFFFFFF


@functools.lru_cache(maxsize=8)
def _shift_tables(length: int):
    """Four 256-entry tables T such that shift(s, length) == T0[s & 255] ^ T1[s >> 8 & 255]
    ^ T2[s >> 16 & 255] ^ T3[s >> 24]."""
    zeros = bytes(length)
    basis = [_run(1 << bit, zeros) for bit in range(32)]
    tables = []
    for k in range(4):
        t = [0] * 256
        for b in range(1, 256):
            low = b & -b
            t[b] = t[b ^ low] ^ basis[8 * k + low.bit_length() - 1]
        tables.append(t)
    return tables


def _crc32c_chunked(view) -> int:
    n = len(view)
    length = 1 << max(10, (n.bit_length() - 1) // 2)   # about sqrt(n), a power of two
    head = n % length
    crc = _run(0xFFFFFFFF, view[:head])
    body = np.frombuffer(view, dtype=np.uint8, offset=head).reshape(-1, length)
    columns = np.ascontiguousarray(body.T)              # columns[j]: byte j of every chunk
    regs = np.zeros(body.shape[0], dtype=np.uint32)
    index = np.empty_like(regs)
    for column in columns:
        np.bitwise_xor(regs, column, out=index)
        np.bitwise_and(index, 0xFF, out=index)
        np.right_shift(regs, 8, out=regs)
        np.bitwise_xor(regs, _NP_TABLE[index], out=regs)
    t0, t1, t2, t3 = _shift_tables(length)
    for part in regs.tolist():
        crc = (t0[crc & 0xFF] ^ t1[crc >> 8 & 0xFF] ^ t2[crc >> 16 & 0xFF]
               ^ t3[crc >> 24]) ^ part
    return crc


def mask(crc: int) -> int:
    """TensorFlow's CRC mask (a CRC stored next to the data it covers)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def masked_crc32c(data) -> int:
    return mask(crc32c(data))


def record(payload: bytes) -> bytes:
    """One TFRecord holding `payload`."""
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", masked_crc32c(header)) + payload
            + struct.pack("<I", masked_crc32c(payload)))
