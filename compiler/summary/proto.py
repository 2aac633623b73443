"""The protobuf wire format of the TensorFlow messages flowc writes and reads.

flowc writes `Event`, `Summary` (scalar and histogram values), `HistogramProto`,
`GraphDef`, `NodeDef`, `AttrValue` and `TensorShapeProto` by hand: each message is a
function returning its serialized `bytes`, built from the field encoders below. That is
the whole wire format (varints, 64/32-bit fixed, length-delimited fields, packed repeated
numbers) and it keeps `protobuf` out of flowc's dependencies. The field numbers are
TensorFlow's (tensorflow/core/framework/*.proto, util/event.proto); the tests read the
output back with TensorBoard's own parsers. Checkpoints (compiler/train/bundle.py) and
meta graphs (compiler/train/meta_graph.py) build their messages from the same encoders.

Reading is `fields(data)`: a message's fields as {number: [values]} (varints and fixed
numbers as ints, length-delimited fields as bytes), for untrusted input: anything that is
not well-formed protobuf raises `DecodeError` (a ValueError).
"""

from __future__ import annotations

import struct

# DataType enum values (tensorflow/core/framework/types.proto)
DATA_TYPES = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6,
              "string": 7, "complex64": 8, "int64": 9, "bool": 10, "bfloat16": 14,
              "uint16": 17, "complex128": 18, "float16": 19, "uint32": 22, "uint64": 23}


# ---- field encoders -----------------------------------------------------------------------
def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64s are ten-byte two's complement varints
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def int_field(field: int, n: int) -> bytes:
    return _key(field, 0) + varint(int(n))


def double_field(field: int, x: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", x)


def fixed32_field(field: int, n: int) -> bytes:
    return _key(field, 5) + struct.pack("<I", n)


def float_field(field: int, x: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", x)


def bytes_field(field: int, data) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _key(field, 2) + varint(len(data)) + data


def packed_doubles(field: int, xs) -> bytes:
    return bytes_field(field, struct.pack(f"<{len(xs)}d", *xs))


def packed_varints(field: int, ns) -> bytes:
    return bytes_field(field, b"".join(varint(int(n)) for n in ns))


# ---- messages -------------------------------------------------------------------------------
def tensor_shape(dims) -> bytes:
    """TensorShapeProto: `dims` a sequence of ints (-1 for an unknown dim) or None
    (unknown rank)."""
    if dims is None:
        return int_field(3, 1)
    return b"".join(bytes_field(2, int_field(1, d) if d else b"") for d in dims)


def attr_type(dtype_name: str) -> bytes:
    return int_field(6, DATA_TYPES.get(dtype_name, 0))


def attr_shapes(shapes) -> bytes:
    """AttrValue holding a list of shapes (`_output_shapes`). ListValue.shape is field 7."""
    return bytes_field(1, b"".join(bytes_field(7, tensor_shape(s)) for s in shapes))


def attr_string(s) -> bytes:
    return bytes_field(2, s)


def attr_int(n: int) -> bytes:
    return int_field(3, n)


def attr_float(x: float) -> bytes:
    return float_field(4, x)


def attr_bool(b: bool) -> bytes:
    return int_field(5, int(bool(b)))


def attr_ints(ns) -> bytes:
    return bytes_field(1, packed_varints(3, ns))


def attr_strings(items) -> bytes:
    """AttrValue {list = 1: ListValue {s = 2 repeated bytes}} (TF1's `_class` attr)."""
    return bytes_field(1, b"".join(bytes_field(2, s) for s in items))


def node_def(name: str, op: str, inputs=(), device: str = "", attrs=None) -> bytes:
    """NodeDef; `attrs` maps attr names to serialized AttrValues (the `attr_*` functions);
    control inputs are written `^name`."""
    out = [bytes_field(1, name), bytes_field(2, op)]
    out += [bytes_field(3, i) for i in inputs]
    if device:
        out.append(bytes_field(4, device))
    for key in sorted(attrs or {}):
        out.append(bytes_field(5, bytes_field(1, key) + bytes_field(2, attrs[key])))
    return b"".join(out)


def graph_def(nodes, producer: int = 22) -> bytes:
    """GraphDef of serialized NodeDefs, with VersionDef(producer) as field 4."""
    return b"".join(bytes_field(1, n) for n in nodes) + bytes_field(4, int_field(1, producer))


def histogram(lo, hi, num, total, sum_squares, limits, counts) -> bytes:
    return (double_field(1, lo) + double_field(2, hi) + double_field(3, num)
            + double_field(4, total) + double_field(5, sum_squares)
            + packed_doubles(6, limits) + packed_doubles(7, counts))


def summary_scalar(tag: str, value: float) -> bytes:
    """A Summary with one `simple_value`. Summaries concatenate: Summary is `repeated
    Value value = 1`, so the bytes of several Summaries joined are their merge."""
    return bytes_field(1, bytes_field(1, tag) + float_field(2, value))


def summary_histogram(tag: str, histo: bytes) -> bytes:
    return bytes_field(1, bytes_field(1, tag) + bytes_field(5, histo))


def summary_image(tag: str, height: int, width: int, channels: int, png: bytes) -> bytes:
    """A Summary with one Image value (field 4): height, width, colorspace (the channel
    count) and the encoded PNG."""
    image = (int_field(1, height) + int_field(2, width) + int_field(3, channels)
             + bytes_field(4, png))
    return bytes_field(1, bytes_field(1, tag) + bytes_field(4, image))


def string_tensor(values, shape) -> bytes:
    """TensorProto of dtype DT_STRING (field 1), its shape (2) and string_val (8)."""
    return (int_field(1, DATA_TYPES["string"]) + bytes_field(2, tensor_shape(shape))
            + b"".join(bytes_field(8, v) for v in values))


def summary_text(tag: str, tensor: bytes) -> bytes:
    """A Summary value holding a string tensor (field 8) with SummaryMetadata (field 9)
    naming TensorBoard's "text" plugin (PluginData.plugin_name), as tf.summary.text."""
    metadata = bytes_field(1, bytes_field(1, "text"))
    return bytes_field(1, bytes_field(1, tag) + bytes_field(8, tensor) + bytes_field(9, metadata))


def node_exec_stats(node_name: str, start_ns: int, end_ns: int, label: str,
                    thread_id: int = 0) -> bytes:
    """NodeExecStats: node_name (1), all_start_micros (2), op_start_rel_micros (3),
    op_end_rel_micros (4), all_end_rel_micros (5), timeline_label (8), thread_id (10),
    all_start_nanos (13), op_start_rel_nanos (14), op_end_rel_nanos (15),
    all_end_rel_nanos (16)."""
    dur_ns = max(end_ns - start_ns, 0)
    return (bytes_field(1, node_name) + int_field(2, start_ns // 1000) + int_field(3, 0)
            + int_field(4, dur_ns // 1000) + int_field(5, dur_ns // 1000)
            + bytes_field(8, label) + int_field(10, thread_id) + int_field(13, start_ns)
            + int_field(14, 0) + int_field(15, dur_ns) + int_field(16, dur_ns))


def step_stats(devices) -> bytes:
    """StepStats: dev_stats (1) = DeviceStepStats {device (1), node_stats (2)};
    `devices` is [(device name, [serialized NodeExecStats])]."""
    return b"".join(bytes_field(1, bytes_field(1, dev) + b"".join(bytes_field(2, n)
                                                                   for n in nodes))
                    for dev, nodes in devices)


def run_metadata(step_stats_bytes: bytes) -> bytes:
    """RunMetadata with its step_stats (1)."""
    return bytes_field(1, step_stats_bytes)


def event(wall_time: float, step: int = 0, file_version: str = None, graph: bytes = None,
          summary: bytes = None, tagged_run_metadata=None) -> bytes:
    """Event: wall_time (1), step (2) and one of file_version (3), graph_def (4),
    summary (5) or tagged_run_metadata (8: TaggedRunMetadata {tag (1), run_metadata (2):
    a serialized RunMetadata}, given as (tag, bytes))."""
    out = double_field(1, wall_time)
    if step:
        out += int_field(2, step)
    if file_version is not None:
        out += bytes_field(3, file_version)
    if graph is not None:
        out += bytes_field(4, graph)
    if summary is not None:
        out += bytes_field(5, summary)
    if tagged_run_metadata is not None:
        tag, data = tagged_run_metadata
        out += bytes_field(8, bytes_field(1, tag) + bytes_field(2, data))
    return out


# ---- reading --------------------------------------------------------------------------------
class DecodeError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(data, pos: int) -> tuple[int, int]:
    """(value, next position) of the varint at `pos` (at most ten bytes)."""
    value = shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError("truncated varint")
        if shift >= 70:
            raise DecodeError("varint longer than ten bytes")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value & ((1 << 64) - 1), pos


def as_int64(n: int) -> int:
    """The signed value of a varint that holds an int64/int32 (two's complement)."""
    return n - (1 << 64) if n >= 1 << 63 else n


def fields(data) -> dict:
    """{field number: [values in order]} of one serialized message."""
    out = {}
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise DecodeError("field number 0")
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise DecodeError("truncated 64-bit field")
            value = struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        elif wire == 5:
            if pos + 4 > end:
                raise DecodeError("truncated 32-bit field")
            value = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        elif wire == 2:
            size, pos = read_varint(data, pos)
            if size > end - pos:
                raise DecodeError(f"length-delimited field {field} runs past the end")
            value = bytes(data[pos:pos + size])
            pos += size
        else:
            raise DecodeError(f"unsupported wire type {wire} (field {field})")
        out.setdefault(field, []).append(value)
    return out


def unpack_varints(data) -> list:
    """The values of a packed repeated varint field."""
    out, pos = [], 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        out.append(value)
    return out
