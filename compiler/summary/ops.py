"""Summary ops: `fc.summary.scalar`, `histogram`, `image`, `text`, `merge`, `merge_all`.

As in TF1, a summary is an op of the user graph whose output is a string tensor: the
serialized `Summary` protobuf. Summary ops (`ScalarSummary`, `HistogramSummary`,
`MergeSummary`) never enter the compiler IR and generated code never handles strings:
`Session.run` calls `run_with_summaries`, which replaces every fetched summary by the
numeric tensors it summarizes (through MergeSummary, transitively), runs the compiled
program for those, and builds the Summary bytes on the host from the values it returned.
A fetched summary's value is a Python `bytes` object, as TF1 returns.

`image` follows TF1's ImageSummary: at most `max_outputs` images of the batch, tagged
`name/image` (max_outputs 1) or `name/image/i`; uint8 pixels are used as they are, float
images are rescaled per image (ignoring pixels with a non-finite channel): all >= 0 ->
`x * 255 / max`, any < 0 -> `x * 127 / max|x| + 128` (scale 0 when that max is below
1e-6), truncated to uint8; a non-finite pixel becomes red (`[255, 0, 0, 255][:channels]`).
Each image is a PNG (png.py). `text` wraps a string tensor (compiler/frontend/core.py's
host string constants) for TensorBoard's text plugin.
"""

from __future__ import annotations

import numpy as np

from ..frontend.core import convert_to_tensor, create_op
from ..frontend.graph import Tensor, get_default_graph
from ..frontend.variables import GraphKeys
from ..ir import dtypes as T
from ..ir.types import TensorType
from . import png, proto

# Host-only element type of summary outputs; never in the compiler IR, never fed.
string = T.string

SUMMARY_OP_TYPES = frozenset({"ScalarSummary", "HistogramSummary", "ImageSummary",
                              "TextSummary", "MergeSummary"})
_IMAGE_DTYPES = ("uint8", "float16", "float32", "float64")
HISTOGRAM_BUCKETS = 30


def _summary_op(op_type, inputs, name, collections, attrs=None):
    op = create_op(op_type, inputs, attrs or {}, name, out_type=TensorType(string, ()))
    out = op.outputs[0]
    for key in (collections if collections is not None else [GraphKeys.SUMMARIES]):
        op.graph.add_to_collection(key, out)
    return out


def scalar(name, tensor, collections=None, family=None):
    """A summary of one number; its tag is the op's scoped name (`train/loss`)."""
    tensor = convert_to_tensor(tensor)
    shape = tensor.shape
    if shape.known_rank and shape.is_fully_defined() and shape.num_elements() != 1:
        raise ValueError(f"fc.summary.scalar({name!r}): the tensor {tensor.name!r} has shape "
                         f"{list(shape)}; a scalar summary needs one element")
    return _summary_op("ScalarSummary", [tensor], _tag_name(name, family), collections)


def histogram(name, values, collections=None, family=None):
    """A summary of the distribution of `values` (any shape)."""
    values = convert_to_tensor(values)
    return _summary_op("HistogramSummary", [values], _tag_name(name, family), collections)


def image(name, tensor, max_outputs=3, collections=None, family=None):
    """Images of a [batch, height, width, channels] tensor (channels 1, 3 or 4; uint8 or
    float) for TensorBoard; see the module docstring for the rescaling."""
    tensor = convert_to_tensor(tensor)
    if tensor.dtype.name not in _IMAGE_DTYPES:
        raise TypeError(f"fc.summary.image({name!r}): {tensor.name!r} has dtype "
                        f"{tensor.dtype.name}; images are {', '.join(_IMAGE_DTYPES)}")
    shape = tensor.shape
    if shape.known_rank and (shape.ndims != 4 or shape[3] not in (None, 1, 3, 4)):
        raise ValueError(f"fc.summary.image({name!r}): {tensor.name!r} has shape "
                         f"{list(shape)}; expected [batch, height, width, 1|3|4]")
    if int(max_outputs) < 1:
        raise ValueError(f"fc.summary.image({name!r}): max_outputs must be >= 1")
    return _summary_op("ImageSummary", [tensor], _tag_name(name, family), collections,
                       {"max_outputs": int(max_outputs)})


def text(name, tensor, collections=None):
    """A summary of a string tensor, shown by TensorBoard's text plugin."""
    tensor = convert_to_tensor(tensor)
    if tensor.dtype is not string:
        raise TypeError(f"fc.summary.text({name!r}): {tensor.name!r} has dtype "
                        f"{tensor.dtype.name}; it takes a string tensor")
    return _summary_op("TextSummary", [tensor], name, collections)


def merge(inputs, collections=None, name=None):
    """One summary holding all values of `inputs` (summary tensors)."""
    inputs = list(inputs)
    for t in inputs:
        if not isinstance(t, Tensor) or t.op.type not in SUMMARY_OP_TYPES:
            raise TypeError(f"fc.summary.merge takes summary tensors, got {t!r}")
    return _summary_op("MergeSummary", inputs, name or "Merge/MergeSummary",
                       collections if collections is not None else [])


def merge_all(key=GraphKeys.SUMMARIES, scope=None, name=None):
    """Merge every summary in the collection `key` (default: all of them); None if
    there is none, as in TF1."""
    found = get_default_graph().get_collection(key, scope)
    return merge(found, name=name) if found else None


def _tag_name(name, family):
    return f"{family}/{name}" if family else name


# ---- on the host, at Session.run --------------------------------------------------------------
def is_summary(element) -> bool:
    return isinstance(element, Tensor) and element.op.type in SUMMARY_OP_TYPES


def numeric_inputs(summary: Tensor) -> list:
    """The numeric tensors a summary is built from (through MergeSummary)."""
    out, stack = [], [summary]
    while stack:
        t = stack.pop()
        if t.op.type == "MergeSummary":
            stack.extend(reversed(t.op.inputs))
        elif t.op.inputs[0] not in out:
            out.append(t.op.inputs[0])
    return out


def run_with_summaries(run_flat, flat, feeds, out=None) -> list:
    """`Session._run_flat` for a fetch list with summaries in it: run the numeric
    tensors, then build each summary's bytes from their values."""
    expanded = [f for f in flat if not is_summary(f)]
    for f in flat:
        if is_summary(f):
            expanded.extend(numeric_inputs(f))
    values = dict(zip(expanded, run_flat(expanded, feeds, out)))
    return [serialize(f, values) if is_summary(f) else values[f] for f in flat]


def serialize(summary: Tensor, values: dict) -> bytes:
    """The Summary protobuf of `summary`, given the values of its numeric inputs."""
    op = summary.op
    if op.type == "MergeSummary":
        return b"".join(serialize(t, values) for t in op.inputs)
    tag = op.name
    value = np.asarray(values[op.inputs[0]])
    if op.type == "ScalarSummary":
        if value.size != 1:
            raise ValueError(f"summary {tag!r}: {op.inputs[0].name!r} has shape "
                             f"{value.shape}; a scalar summary needs one element")
        return proto.summary_scalar(tag, float(value.reshape(-1)[0]))
    if op.type == "ImageSummary":
        return image_summary(tag, value, op.attrs["max_outputs"])
    if op.type == "TextSummary":
        flat = [v if isinstance(v, bytes) else str(v).encode() for v in value.reshape(-1)]
        return proto.summary_text(tag, proto.string_tensor(flat, value.shape))
    return proto.summary_histogram(tag, histogram_proto(value))


def image_summary(tag, images, max_outputs) -> bytes:
    """The Summary of up to `max_outputs` images of the batch `images`."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] not in (1, 3, 4):
        raise ValueError(f"summary {tag!r}: images must be [batch, height, width, 1|3|4], "
                         f"got {list(images.shape)}")
    out = []
    for i in range(min(images.shape[0], max_outputs)):
        pixels = images[i] if images.dtype == np.uint8 else to_uint8(images[i])
        name = f"{tag}/image/{i}" if max_outputs > 1 else f"{tag}/image"
        out.append(proto.summary_image(name, pixels.shape[0], pixels.shape[1],
                                       pixels.shape[2], png.encode_png(pixels)))
    return b"".join(out)


def to_uint8(img):
    """TF1's NormalizeFloatImage of one [height, width, channels] float image."""
    x = np.asarray(img, dtype=np.float32)
    finite = np.all(np.isfinite(x), axis=-1)
    good = x[finite]
    lo = float(good.min()) if good.size else np.inf
    hi = float(good.max()) if good.size else -np.inf
    if lo < 0:
        biggest = max(abs(lo), abs(hi))
        scale, offset = (0.0 if biggest < 1e-6 else 127.0 / biggest), 128.0
    else:
        scale, offset = (0.0 if hi < 1e-6 else 255.0 / hi), 0.0
    with np.errstate(invalid="ignore"):
        out = (x * np.float32(scale) + np.float32(offset)).astype(np.uint8)
    out[~finite] = np.array([255, 0, 0, 255], np.uint8)[:x.shape[-1]]
    return out


def histogram_proto(value) -> bytes:
    """HistogramProto of `value`: min, max, count, sum, sum of squares and
    HISTOGRAM_BUCKETS equal-width buckets (right edges in bucket_limit)."""
    x = np.asarray(value, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return proto.histogram(0.0, 0.0, 0, 0.0, 0.0, [0.0], [0.0])
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        limits, counts = [hi], [float(x.size)]
    else:
        counts, edges = np.histogram(x, bins=HISTOGRAM_BUCKETS, range=(lo, hi))
        limits, counts = edges[1:].tolist(), counts.astype(np.float64).tolist()
    return proto.histogram(lo, hi, x.size, float(x.sum()), float(np.dot(x, x)), limits,
                           counts)
