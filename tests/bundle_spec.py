"""An independent reader and writer of TF1's V2 checkpoint format, written for the tests
from the specs (LevelDB's table format, Snappy's raw format, tensor_bundle.proto's field
numbers): it shares no code with compiler/ (docs/checkpoints.md describes the format).
Used by tests/test_checkpoint_v2.py and tests/test_checkpoint_damage.py."""

from __future__ import annotations

import struct

import numpy as np

MAGIC = 0xDB4775248B80FB57
DT = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_, 19: np.float16}
DT_CODE = {np.dtype(v): k for k, v in DT.items()}


def _crc_of_byte(b):
    for _ in range(8):
        b = (b >> 1) ^ (0x82F63B78 if b & 1 else 0)
    return b


_CRC_TABLE = [_crc_of_byte(b) for b in range(256)]


def crc32c(data) -> int:
    """CRC32C (Castagnoli), one byte at a time."""
    crc = 0xFFFFFFFF
    for b in bytes(data):
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def unmask(m):
    rot = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def uvarint(data, pos):
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def pb(data) -> dict:
    """{field: [values]} of a protobuf message (varint, fixed64, bytes, fixed32)."""
    out, pos = {}, 0
    while pos < len(data):
        key, pos = uvarint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = uvarint(data, pos)
        elif wire == 1:
            v, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        elif wire == 2:
            n, pos = uvarint(data, pos)
            v, pos = bytes(data[pos:pos + n]), pos + n
        elif wire == 5:
            v, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        else:
            raise AssertionError(f"wire type {wire}")
        out.setdefault(field, []).append(v)
    return out


def field(fields, n, default=0):
    return fields.get(n, [default])[-1]


def _block(data, offset, size):
    contents = data[offset:offset + size]
    kind = data[offset + size]
    crc = struct.unpack_from("<I", data, offset + size + 1)[0]
    assert unmask(crc) == crc32c(contents + bytes([kind])), "block CRC"
    assert kind == 0, "flowc writes uncompressed blocks"
    return contents


def _entries(block, stats=None):
    (count,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * count
    restarts = set(struct.unpack_from(f"<{count}I", block, limit))
    out, key, pos = [], b"", 0
    while pos < limit:
        start = pos
        shared, pos = uvarint(block, pos)
        unshared, pos = uvarint(block, pos)
        n, pos = uvarint(block, pos)
        assert (start in restarts) == (shared == 0) or shared == 0
        if stats is not None:
            stats["shared"] = stats.get("shared", 0) + shared
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + n]))
        pos += n
    return out


def read_sstable(data, stats=None):
    assert struct.unpack_from("<Q", data, len(data) - 8)[0] == MAGIC
    footer = data[len(data) - 48:]
    meta_off, p = uvarint(footer, 0)
    meta_size, p = uvarint(footer, p)
    index_off, p = uvarint(footer, p)
    index_size, p = uvarint(footer, p)
    assert _entries(_block(data, meta_off, meta_size)) == []
    items = []
    index = _entries(_block(data, index_off, index_size))
    for sep, handle in index:
        off, q = uvarint(handle, 0)
        size, _ = uvarint(handle, q)
        block = _entries(_block(data, off, size), stats)
        assert block and block[-1][0] <= sep
        items += block
    if stats is not None:
        stats["blocks"] = len(index)
    keys = [k for k, _ in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    return items


def read_bundle(prefix) -> tuple:
    """(header fields, {key: ndarray}) of a V2 checkpoint, every CRC checked."""
    with open(prefix + ".index", "rb") as f:
        items = read_sstable(f.read())
    with open(prefix + ".data-00000-of-00001", "rb") as f:
        data = f.read()
    assert items[0][0] == b""
    header = pb(items[0][1])
    tensors = {}
    for key, value in items[1:]:
        e = pb(value)
        dims = [field(pb(d), 1) for d in pb(field(e, 2, b"")).get(2, [])]
        off, size = field(e, 4), field(e, 5)
        assert field(e, 3) == 0 and 7 not in e
        raw = data[off:off + size]
        assert unmask(field(e, 6)) == crc32c(raw), key
        dtype = np.dtype(DT[field(e, 1)]).newbyteorder("<")
        tensors[key.decode()] = np.frombuffer(raw, dtype).reshape(dims)
    return header, tensors


def snappy_compress(data: bytes) -> bytes:
    """Snappy raw format: literals and 2-byte-offset copies (greedy 4-byte matches)."""
    out = bytearray(varint(len(data)))

    def literal(a, b):
        while a < b:
            n = min(60, b - a)
            out.append((n - 1) << 2)
            out.extend(data[a:a + n])
            a += n

    i = lit = 0
    seen = {}
    while i + 4 <= len(data):
        j = seen.get(data[i:i + 4])
        seen[data[i:i + 4]] = i
        if j is not None and i - j < 65536:
            literal(lit, i)
            m = 4
            while i + m < len(data) and m < 64 and data[j + m] == data[i + m]:
                m += 1
            out.append(((m - 1) << 2) | 2)
            out += struct.pack("<H", i - j)
            i += m
            lit = i
        else:
            i += 1
    literal(lit, len(data))
    return bytes(out)


def write_sstable(items, block_size=64, restart=3, snappy=False, short_separators=True):
    """A table the way TensorFlow's writer may make one."""
    out = bytearray()

    def block(entries, interval):
        b, restarts, prev = bytearray(), [], b""
        for i, (k, v) in enumerate(entries):
            shared = 0
            if i % interval == 0:
                restarts.append(len(b))
            else:
                while shared < min(len(k), len(prev)) and k[shared] == prev[shared]:
                    shared += 1
            b += varint(shared) + varint(len(k) - shared) + varint(len(v))
            b += k[shared:] + v
            prev = k
        restarts = restarts or [0]
        return bytes(b) + struct.pack(f"<{len(restarts)}I", *restarts) + \
            struct.pack("<I", len(restarts))

    def emit(contents, compress):
        kind = 0
        if compress:
            contents, kind = snappy_compress(contents), 1
        handle = varint(len(out)) + varint(len(contents))
        out.extend(contents + bytes([kind]))
        out.extend(struct.pack("<I", mask(crc32c(contents + bytes([kind])))))
        return handle

    index, pending = [], []
    for n, (k, v) in enumerate(items):
        pending.append((k, v))
        if sum(len(a) + len(b) for a, b in pending) >= block_size or n == len(items) - 1:
            handle = emit(block(pending, restart), snappy)
            nxt = items[n + 1][0] if n + 1 < len(items) else None
            sep = k
            if short_separators and nxt is not None:  # a shortest key in [k, next)
                p = 0
                while p < min(len(k), len(nxt)) and k[p] == nxt[p]:
                    p += 1
                if p < len(k) and k[p] < 0xFF and k[p] + 1 < nxt[p]:
                    sep = k[:p] + bytes([k[p] + 1])
            index.append((sep, handle))
            pending = []
    meta = emit(block([], 1), False)
    idx = emit(block(index, 1), snappy)
    footer = meta + idx
    out += footer + bytes(40 - len(footer)) + struct.pack("<Q", MAGIC)
    return bytes(out)


def write_tf_checkpoint(prefix, tensors, shards=1, **table_options):
    """A V2 checkpoint written from the spec the way TensorFlow does it; with `shards` > 1
    the tensors go round-robin to the data files `PREFIX.data-0000S-of-0000N`."""
    data, entries = [bytearray() for _ in range(shards)], []
    for n, key in enumerate(sorted(tensors, key=str.encode)):
        shard = n % shards
        arr = np.array(tensors[key], order="C")
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        shape = b"".join(b"\x12" + varint(len(varint(d)) + 1) + b"\x08" + varint(d)
                         for d in arr.shape)
        entry = (b"\x08" + varint(DT_CODE[arr.dtype]) + b"\x12" + varint(len(shape)) + shape
                 + (b"\x18" + varint(shard) if shard else b"")
                 + b"\x20" + varint(len(data[shard])) + b"\x28" + varint(len(raw))
                 + b"\x35" + struct.pack("<I", mask(crc32c(raw))))
        entries.append((key.encode(), entry))
        data[shard] += raw
    header = b"\x08" + varint(shards) + b"\x1a\x02\x08\x01"  # num_shards, {producer 1}
    for shard in range(shards):
        with open(f"{prefix}.data-{shard:05d}-of-{shards:05d}", "wb") as f:
            f.write(data[shard])
    with open(prefix + ".index", "wb") as f:
        f.write(write_sstable([(b"", header)] + entries, **table_options))
