"""TFRecord framing of event files, with TensorFlow's masked CRC32C.

A record is: length (u64, little-endian), masked CRC32C of those 8 bytes, the payload,
masked CRC32C of the payload. The mask is `((crc >> 15) | (crc << 17)) + 0xA282EAD8`
(mod 2^32). CRC32C (Castagnoli, reflected polynomial 0x82F63B78) is computed with a
256-entry table in pure Python: fast enough for event files (a few MB/s), and no
dependency.
"""

from __future__ import annotations

import struct


def _table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(payload: bytes) -> bytes:
    """One TFRecord holding `payload`."""
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", masked_crc32c(header)) + payload
            + struct.pack("<I", masked_crc32c(payload)))
