"""LevelDB's immutable sorted table (SSTable), the container of a TF1 V2 checkpoint's
`.index` file: `build_table(items)` writes one, `read_table(data)` reads and checks one.

The layout (byte by byte in docs/checkpoints.md):

    data block 0 | trailer | data block 1 | trailer | ... | metaindex block | trailer |
    index block | trailer | footer (48 bytes)

- A block is its entries, then the restart array (uint32 LE offsets of the entries whose
  key is stored whole), then the number of restarts (uint32 LE). An entry is three
  varints — bytes shared with the previous key, bytes not shared, value length — then the
  unshared key bytes and the value. Every `RESTART_INTERVAL`-th entry is a restart point
  (shares nothing).
- A trailer is one compression-type byte (0 none, 1 Snappy) and the masked CRC32C
  (compiler/summary/records.py) of the block's bytes and that type byte, uint32 LE.
- The index block has one entry per data block: a key >= the block's last key (flowc
  writes the last key itself) and the block's handle (varint64 offset, varint64 size,
  the size without the trailer). The metaindex block is empty (no filters).
- The footer is the metaindex handle and the index handle, zero-padded to 40 bytes, and
  the magic number 0xdb4775248b80fb57 as uint64 LE.

flowc writes uncompressed blocks. TensorFlow compresses a block with Snappy when that
saves an eighth, so the reader decompresses Snappy blocks (`snappy_decompress`, written
from the format description). The reader trusts nothing: every offset is checked against
the file size, every block's CRC is verified, keys must be strictly increasing across the
whole table, and any problem raises `TableError` (a ValueError) saying what is wrong.
"""

from __future__ import annotations

import struct

from ..summary.proto import DecodeError, read_varint, varint
from ..summary.records import masked_crc32c

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_SIZE = 4096
RESTART_INTERVAL = 16
NO_COMPRESSION, SNAPPY = 0, 1

__all__ = ["TableError", "build_table", "read_table", "snappy_decompress", "MAGIC"]


class TableError(ValueError):
    """An SSTable that cannot be read (says what is wrong)."""


# ---- writing ------------------------------------------------------------------------------
def _block(entries, restart_interval) -> bytes:
    out, restarts, prev = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            limit = min(len(prev), len(key))
            while shared < limit and prev[shared] == key[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        prev = key
    if not restarts:
        restarts.append(0)
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def _with_trailer(block: bytes) -> bytes:
    kind = bytes([NO_COMPRESSION])
    return block + kind + struct.pack("<I", masked_crc32c(block + kind))


def _handle(offset: int, size: int) -> bytes:
    return varint(offset) + varint(size)


def build_table(items, block_size: int = BLOCK_SIZE,
                restart_interval: int = RESTART_INTERVAL) -> bytes:
    """The table holding `items` ((key bytes, value bytes) in strictly increasing key
    order)."""
    items = list(items)
    for (a, _), (b, _) in zip(items, items[1:]):
        if not a < b:
            raise ValueError(f"SSTable keys must be strictly increasing: {a!r} then {b!r}")
    out, index, pending, size = bytearray(), [], [], 0

    def flush():
        nonlocal size
        block = _block(pending, restart_interval)
        index.append((pending[-1][0], _handle(len(out), len(block))))
        out.extend(_with_trailer(block))
        pending.clear()
        size = 0

    for key, value in items:
        pending.append((key, value))
        size += len(key) + len(value) + 8
        if size >= block_size:
            flush()
    if pending:
        flush()
    meta_handle = _handle(len(out), len(_block([], 1)))
    out += _with_trailer(_block([], 1))
    index_block = _block(index, 1)
    index_handle = _handle(len(out), len(index_block))
    out += _with_trailer(index_block)
    handles = meta_handle + index_handle
    out += handles + bytes(40 - len(handles)) + struct.pack("<Q", MAGIC)
    return bytes(out)


# ---- reading ------------------------------------------------------------------------------
def read_table(data) -> list:
    """[(key, value)] of every entry, in order, after checking the whole table."""
    data = memoryview(data)
    if len(data) < FOOTER_SIZE:
        raise TableError(f"the file has {len(data)} bytes, fewer than the 48-byte footer")
    footer = data[len(data) - FOOTER_SIZE:]
    magic = struct.unpack_from("<Q", footer, 40)[0]
    if magic != MAGIC:
        raise TableError(f"bad magic number {magic:#018x} (an SSTable ends in {MAGIC:#018x})")
    try:
        meta_off, pos = read_varint(footer, 0)
        meta_size, pos = read_varint(footer, pos)
        index_off, pos = read_varint(footer, pos)
        index_size, pos = read_varint(footer, pos)
    except DecodeError as e:
        raise TableError(f"the footer is damaged ({e})") from None
    if pos > 40:
        raise TableError("the footer's block handles run into the magic number")
    end = len(data) - FOOTER_SIZE
    _block_bytes(data, meta_off, meta_size, end, "metaindex block")
    index = _entries(_block_bytes(data, index_off, index_size, end, "index block"),
                     "index block")
    out, prev, last_end = [], None, 0
    for n, (sep, handle) in enumerate(index):
        try:
            off, p = read_varint(handle, 0)
            size, p = read_varint(handle, p)
        except DecodeError as e:
            raise TableError(f"index entry {n}: bad block handle ({e})") from None
        if off < last_end:
            raise TableError(f"data block {n} at offset {off} overlaps the one before it")
        last_end = off + size + 5
        entries = _entries(_block_bytes(data, off, size, min(end, meta_off), f"data block {n}"),
                           f"data block {n}")
        for key, value in entries:
            if prev is not None and not prev < key:
                raise TableError(f"keys out of order: {prev!r} then {key!r}")
            if key > sep:
                raise TableError(f"data block {n}: key {key!r} is past its index key {sep!r}")
            prev = key
            out.append((key, value))
    return out


def _block_bytes(data, offset, size, end, what):
    """The (decompressed) contents of the block at `offset`, its CRC checked."""
    if offset + size + 5 > end:
        raise TableError(f"the {what} (offset {offset}, {size} bytes) runs past the end of "
                         "its region")
    raw = bytes(data[offset:offset + size + 1])
    kind = raw[-1]
    crc = struct.unpack_from("<I", data, offset + size + 1)[0]
    if masked_crc32c(raw) != crc:
        raise TableError(f"the {what} at offset {offset} is damaged (CRC mismatch)")
    if kind == NO_COMPRESSION:
        return raw[:-1]
    if kind == SNAPPY:
        try:
            return snappy_decompress(raw[:-1])
        except ValueError as e:
            raise TableError(f"the {what} at offset {offset}: bad Snappy data ({e})") from None
    raise TableError(f"the {what} at offset {offset} has unknown compression type {kind}")


def _entries(block: bytes, what: str) -> list:
    if len(block) < 4:
        raise TableError(f"the {what} is shorter than its restart count")
    count = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * count
    if count == 0 or limit < 0:
        raise TableError(f"the {what} has a bad restart count {count}")
    restarts = struct.unpack_from(f"<{count}I", block, limit)
    out, key, pos, starts = [], b"", 0, set()
    try:
        while pos < limit:
            start = pos
            starts.add(start)
            shared, pos = read_varint(block, pos)
            unshared, pos = read_varint(block, pos)
            size, pos = read_varint(block, pos)
            if shared > len(key) or pos + unshared + size > limit:
                raise TableError(f"the {what} has a malformed entry at byte {start}")
            key = key[:shared] + block[pos:pos + unshared]
            pos += unshared
            out.append((key, block[pos:pos + size]))
            pos += size
    except DecodeError as e:
        raise TableError(f"the {what} has a malformed entry ({e})") from None
    if out and not starts.issuperset(restarts):
        raise TableError(f"the {what} has a restart point that is not an entry")
    return out


def snappy_decompress(data: bytes) -> bytes:
    """Snappy's raw format: a varint of the uncompressed length, then elements, each a tag
    byte whose low two bits say literal (0) or copy with a 1-, 2- or 4-byte offset."""
    try:
        length, pos = read_varint(data, 0)
    except DecodeError as e:
        raise ValueError(f"bad length preamble ({e})") from None
    out = bytearray()
    n = len(data)
    while pos < n:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                if pos + extra > n:
                    raise ValueError("truncated literal length")
                size = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            size += 1
            if pos + size > n:
                raise ValueError("literal runs past the end")
            out += data[pos:pos + size]
            pos += size
            continue
        if kind == 1:
            if pos + 1 > n:
                raise ValueError("truncated copy")
            size = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:
            width = 2 if kind == 2 else 4
            if pos + width > n:
                raise ValueError("truncated copy")
            size = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise ValueError(f"copy offset {offset} outside the {len(out)} bytes so far")
        if len(out) + size > length:
            raise ValueError("output longer than its stated length")
        start = len(out) - offset
        if offset >= size:
            out += out[start:start + size]
        else:
            for i in range(size):
                out.append(out[start + i])
        if len(out) > length:
            raise ValueError("output longer than its stated length")
    if len(out) != length:
        raise ValueError(f"{len(out)} bytes decompressed, {length} stated")
    return bytes(out)
