"""PNG encoding of 8-bit images for `tf.summary.image`, written by hand (zlib + CRC-32
from the standard library; no imaging package).

`encode_png(image)` takes a uint8 array [height, width, channels] with 1 (gray), 2
(gray + alpha), 3 (RGB) or 4 (RGBA) channels and returns the bytes of a PNG file: the
signature, an IHDR chunk (bit depth 8, no interlace), one IDAT chunk holding the zlib
stream of the rows (each row prefixed by filter type 0, "none") and IEND. Each chunk is
length (big-endian u32), type, data and the CRC-32 of type + data (PNG spec, ISO/IEC
15948). Anything else raises ValueError naming what was wrong.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: channels -> PNG colour type
COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(image) -> bytes:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in COLOR_TYPES:
        raise ValueError(f"encode_png takes a uint8 [height, width, 1|2|3|4] array, got "
                         f"{img.dtype}{list(img.shape)}")
    height, width, channels = img.shape
    if height == 0 or width == 0:
        raise ValueError(f"encode_png: an image needs at least one pixel, got "
                         f"{height}x{width}")
    header = struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPES[channels], 0, 0, 0)
    rows = np.concatenate([np.zeros((height, 1), np.uint8),
                           np.ascontiguousarray(img).reshape(height, width * channels)], 1)
    return (SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes()))
            + chunk(b"IEND", b""))
