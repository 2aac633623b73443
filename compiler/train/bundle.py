"""TF1's V2 checkpoint format (a "tensor bundle"): `write_bundle(prefix, arrays)` and
`Bundle(prefix)`, which opens and checks one for reading.

A checkpoint `PREFIX` is two files (byte by byte in docs/checkpoints.md):

- `PREFIX.data-00000-of-00001`: the tensors' bytes, little-endian, C order, one after
  the other (flowc writes them in key order, unpadded).
- `PREFIX.index`: an SSTable (sstable.py) mapping keys to serialized protobufs. The empty
  key holds a BundleHeaderProto {num_shards = 1, endianness = 2 (LITTLE = 0), version = 3
  (VersionDef: producer = 1, min_consumer = 2, bad_consumers = 3)}; every tensor's key
  (the variable's name, e.g. `layer/w`) holds a BundleEntryProto {dtype = 1 (DataType),
  shape = 2 (TensorShapeProto), shard_id = 3, offset = 4, size = 5, crc32c = 6 (fixed32,
  the *masked* CRC32C of the tensor's bytes), slices = 7}.

flowc writes one shard, producer version 1, and whole tensors; it reads every numeric
dtype TensorFlow has numpy names for, from one data file or several
(`PREFIX.data-0000S-of-0000N`, TF1's `Saver(sharded=True)` across devices). It refuses,
with a `CheckpointError` naming the file and the key, what it cannot read: partitioned
(sliced) tensors, string, bfloat16, resource and variant tensors, big-endian bundles.
Everything is validated before it is used: the SSTable (magic, block CRCs, key order),
the header, each entry (dtype, shape, shard, offset and size within its data file, size =
shape x itemsize) and each tensor's CRC32C.

The data file is written first and the index last, each through a temporary file
(files.py), so an `.index` under a checkpoint's name always has its complete data.
"""

from __future__ import annotations

import os
import stat

import numpy as np

from ..summary import proto
from ..summary.records import crc32c, mask
from .checkpoint import CheckpointError
from .files import atomic_write
from .sstable import TableError, build_table, read_table

INDEX_SUFFIX = ".index"
#: kTensorBundleVersion: the producer version flowc writes and the newest it reads
BUNDLE_VERSION = 1
#: the most data files (shards) a checkpoint may name
MAX_SHARDS = 1 << 16
#: an .index larger than this is refused unread (real ones are kilobytes)
MAX_INDEX_BYTES = 1 << 30

_ENUM_OF_NAME = proto.DATA_TYPES
_NP_OF_ENUM = {code: np.dtype(name) for name, code in _ENUM_OF_NAME.items()
               if name not in ("string", "bfloat16")}
_NAME_OF_ENUM = {code: name for name, code in _ENUM_OF_NAME.items()}
_NAME_OF_ENUM.update({20: "resource", 21: "variant"})

__all__ = ["Bundle", "Entry", "write_bundle", "data_path", "index_path", "exists"]


def data_path(prefix, shard: int = 0, num_shards: int = 1) -> str:
    return f"{os.fspath(prefix)}.data-{shard:05d}-of-{num_shards:05d}"


def index_path(prefix) -> str:
    return os.fspath(prefix) + INDEX_SUFFIX


def exists(prefix) -> bool:
    """Whether `prefix` names a V2 checkpoint (its .index is a regular file)."""
    try:
        return stat.S_ISREG(os.stat(index_path(prefix)).st_mode)
    except OSError:
        return False


# ---- writing --------------------------------------------------------------------------------
def _dtype_code(dtype: np.dtype) -> int:
    code = _ENUM_OF_NAME.get(dtype.name)
    if code is None or code not in _NP_OF_ENUM:
        raise TypeError(f"a V2 checkpoint cannot hold dtype {dtype}")
    return code


def _entry_proto(code, shape, offset, size, crc) -> bytes:
    out = proto.int_field(1, code) + proto.bytes_field(2, proto.tensor_shape(shape))
    if offset:
        out += proto.int_field(4, offset)
    if size:
        out += proto.int_field(5, size)
    return out + proto.fixed32_field(6, mask(crc))


def _header_proto() -> bytes:
    return proto.int_field(1, 1) + proto.bytes_field(3, proto.int_field(1, BUNDLE_VERSION))


def write_bundle(prefix, arrays: dict):
    """Write `arrays` ({key: numeric ndarray}) as the V2 checkpoint `prefix`."""
    prefix = os.fspath(prefix)
    order = sorted(arrays, key=lambda k: k.encode("utf-8"))
    entries, offset = [], 0
    flat = {}
    for key in order:
        if not key:
            raise ValueError("a V2 checkpoint key cannot be empty (the header's key)")
        arr = np.asarray(arrays[key])
        code = _dtype_code(arr.dtype)
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).reshape(-1)
        flat[key] = data.view(np.uint8)
        size = data.nbytes
        entries.append((key.encode("utf-8"),
                        (code, arr.shape, offset, size, crc32c(flat[key]))))
        offset += size

    def write_data(fh):
        for key in order:
            fh.write(memoryview(flat[key]))

    items = [(b"", _header_proto())]
    items += [(k, _entry_proto(*e)) for k, e in entries]
    table = build_table(items)
    atomic_write(data_path(prefix), write_data)
    atomic_write(index_path(prefix), lambda fh: fh.write(table), sweep_first=False)


# ---- reading --------------------------------------------------------------------------------
class Entry:
    """One tensor's BundleEntryProto."""

    __slots__ = ("key", "code", "shape", "shard_id", "offset", "size", "crc32c", "sliced")

    def __init__(self, key, code, shape, shard_id, offset, size, crc, sliced):
        self.key, self.code, self.shape = key, code, shape
        self.shard_id, self.offset, self.size = shard_id, offset, size
        self.crc32c, self.sliced = crc, sliced

    @property
    def dtype(self):
        """The numpy dtype, or None for a dtype flowc cannot hold."""
        return _NP_OF_ENUM.get(self.code)

    @property
    def dtype_name(self) -> str:
        return _NAME_OF_ENUM.get(self.code, f"DataType {self.code}")


def _one(msg, field, default=0):
    values = msg.get(field)
    return values[-1] if values else default


def _parse_shape(data) -> tuple:
    msg = proto.fields(data)
    if _one(msg, 3):
        raise ValueError("the shape has an unknown rank")
    dims = []
    for dim in msg.get(2, []):
        size = proto.as_int64(_one(proto.fields(dim), 1))
        if size < 0:
            raise ValueError(f"the shape has dimension {size}")
        dims.append(size)
    return tuple(dims)


def _parse_entry(key, data) -> Entry:
    msg = proto.fields(data)
    shape = _parse_shape(_one(msg, 2, b""))
    offset = proto.as_int64(_one(msg, 4))
    size = proto.as_int64(_one(msg, 5))
    if offset < 0 or size < 0:
        raise ValueError(f"negative offset {offset} or size {size}")
    return Entry(key, _one(msg, 1), shape, proto.as_int64(_one(msg, 3)), offset, size,
                 _one(msg, 6), bool(msg.get(7)))


class Bundle:
    """A V2 checkpoint opened for reading: its index read and checked (`entries`: {key:
    Entry}, in key order). Tensors are read (and CRC-checked) by `read`."""

    def __init__(self, prefix):
        self.prefix = os.fspath(prefix)
        self.index_file = index_path(self.prefix)
        data = _read_regular(self.index_file, MAX_INDEX_BYTES)
        try:
            items = read_table(data)
        except TableError as e:
            raise self._error(f"the index is damaged: {e}") from None
        if not items or items[0][0] != b"":
            raise self._error("the index has no header entry (the empty key)")
        self._check_header(items[0][1])
        self.entries = {}
        for raw_key, value in items[1:]:
            try:
                key = raw_key.decode("utf-8")
            except UnicodeDecodeError:
                raise self._error(f"the key {raw_key!r} is not UTF-8") from None
            try:
                self.entries[key] = _parse_entry(key, value)
            except ValueError as e:
                raise self._error(f"the entry of {key!r} is damaged ({e})") from None

    def _error(self, what, file=None) -> CheckpointError:
        return CheckpointError(f"cannot read the checkpoint {file or self.index_file!r}: "
                               f"{what}; no variable was changed")

    def _check_header(self, value):
        try:
            msg = proto.fields(value)
            version = proto.fields(_one(msg, 3, b""))
            bad = []
            for v in version.get(3, []):  # repeated int32, packed or not
                bad += proto.unpack_varints(v) if isinstance(v, bytes) else [v]
        except ValueError as e:
            raise self._error(f"the header is damaged ({e})") from None
        shards = proto.as_int64(_one(msg, 1))
        if _one(msg, 2) != 0:
            raise self._error("the bundle is big-endian; flowc reads little-endian bundles")
        producer = proto.as_int64(_one(version, 1))
        min_consumer = proto.as_int64(_one(version, 2))
        if min_consumer > BUNDLE_VERSION or BUNDLE_VERSION in bad or producer < 0:
            raise self._error(f"format version producer={producer} min_consumer="
                              f"{min_consumer} is newer than this reader "
                              f"({BUNDLE_VERSION})")
        if not 1 <= shards <= MAX_SHARDS:
            raise self._error(f"its header says {shards} shards")
        self.num_shards = shards

    def data_file(self, shard: int = 0) -> str:
        """The data file of `shard` (`PREFIX.data-0000S-of-0000N`)."""
        return data_path(self.prefix, shard, self.num_shards)

    def check_entry(self, entry: Entry, label: str, sizes: dict):
        """'' when `entry` can be read as a whole numeric tensor within its data file
        (`sizes`: {shard: bytes}), else what is wrong (prefixed by `label`)."""
        if entry.sliced:
            return f"{label}: the checkpoint holds it as partitioned slices (not supported)"
        if entry.dtype is None:
            return f"{label}: the checkpoint holds a {entry.dtype_name} tensor"
        if not 0 <= entry.shard_id < self.num_shards:
            return f"{label}: shard {entry.shard_id} of a {self.num_shards}-shard checkpoint"
        count = 1
        for d in entry.shape:
            count *= d
        if entry.size != count * entry.dtype.itemsize:
            return (f"{label}: the entry says {entry.size} bytes, its "
                    f"{entry.dtype_name}{list(entry.shape)} needs {count * entry.dtype.itemsize}")
        size = self.data_size(entry.shard_id, sizes)
        if entry.offset + entry.size > size:
            return (f"{label}: bytes {entry.offset}..{entry.offset + entry.size} lie past "
                    f"the end of {self.data_file(entry.shard_id)!r} ({size} bytes)")
        return ""

    def data_size(self, shard: int, sizes: dict) -> int:
        """The size of `shard`'s data file (cached in `sizes`), which must be a regular
        file."""
        if shard not in sizes:
            path = self.data_file(shard)
            try:
                st = os.stat(path)
            except OSError as e:
                raise self._error(f"its data file is unreadable ({e.strerror})", path) from None
            if not stat.S_ISREG(st.st_mode):
                raise self._error("its data file is not a regular file", path)
            sizes[shard] = st.st_size
        return sizes[shard]

    def read(self, wanted: dict) -> dict:
        """{key: array} for `wanted` ({key: (np.dtype or None, shape or None, label)};
        None accepts the stored one). Every problem is listed in one CheckpointError,
        raised before anything is returned."""
        sizes, errors, todo = {}, [], {}
        for key, (dtype, shape, label) in wanted.items():
            entry = self.entries.get(key)
            if entry is None:
                errors.append(f"{label}: key {key!r} not in the checkpoint")
                continue
            problem = self.check_entry(entry, label, sizes)
            if not problem and ((dtype is not None and entry.dtype != dtype)
                                or (shape is not None and entry.shape != tuple(shape))):
                problem = (f"{label}: the checkpoint has {entry.dtype_name}"
                           f"{list(entry.shape)}, the variable is {dtype}{list(shape)}")
            if problem:
                errors.append(problem)
            else:
                todo.setdefault(entry.shard_id, []).append((key, entry, label))
        if errors:
            raise self._error("\n  " + "\n  ".join(errors))
        out = {}
        for shard, items in sorted(todo.items()):
            path = self.data_file(shard)
            try:
                with open(path, "rb") as fh:
                    for key, entry, label in items:
                        fh.seek(entry.offset)
                        raw = fh.read(entry.size)
                        if len(raw) != entry.size:
                            errors.append(f"{label}: the data file ends early")
                        elif mask(crc32c(raw)) != entry.crc32c:
                            errors.append(f"{label}: its bytes are damaged (CRC32C mismatch)")
                        else:
                            arr = np.frombuffer(raw, dtype=entry.dtype.newbyteorder("<"))
                            out[key] = arr.astype(entry.dtype).reshape(entry.shape)
            except OSError as e:
                raise self._error(f"cannot read its data ({e})", path) from None
            if errors:
                raise self._error("\n  " + "\n  ".join(errors), path)
        return out


def _read_regular(path, limit) -> bytes:
    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"cannot read the checkpoint {path!r}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"cannot read the checkpoint {path!r}: it is not a regular "
                              "file")
    if st.st_size > limit:
        raise CheckpointError(f"cannot read the checkpoint {path!r}: {st.st_size} bytes is "
                              "too large for an index")
    with open(path, "rb") as fh:
        return fh.read(limit + 1)
