"""TF1's printing ops: `tf.Print(input_, data, message, first_n, summarize)` and
`tf.print(*inputs, output_stream, summarize, sep, end)`, evaluated on the host.

`Print` is a user-graph-only op (`Print`) whose output is `input_` itself (conversion
treats it as `identity`, so nothing is compiled for it); `print` adds a `PrintV2` op with
no output, to be run as a target or through `control_dependencies`. The Session finds
every print a run depends on (`prints_needed`), fetches their data tensors with the run
and, after the step has succeeded, writes each print's line in op creation order:
`Print` writes `message` then each tensor summarized as `[v1 v2 v3...]` (its first
`summarize` values, default 3) to stderr, for the first `first_n` runs only when given;
`print` writes its inputs (strings as they are, tensors summarized) joined by `sep` and
ended by `end` to `output_stream` (default sys.stderr; "stdout"/"stderr" strings are
accepted). A failed step prints nothing. String tensors (host constants) print as text.
"""

from __future__ import annotations

import sys

import numpy as np

from ..ir import dtypes as T
from .asserts import ops_needed, summarize_value
from .core import convert_to_tensor, create_op
from .graph import Operation, Tensor

PRINT, PRINT_V2 = "Print", "PrintV2"
_DEFAULT_SUMMARIZE = 3


def Print(input_, data, message=None, first_n=None, summarize=None,  # noqa: N802
          name=None) -> Tensor:
    """`input_`, printing `message` and `data`'s values whenever it is computed."""
    x = convert_to_tensor(input_)
    items = [convert_to_tensor(d) for d in (data if isinstance(data, (list, tuple))
                                            else [data])]
    op = create_op(PRINT, [x] + items, {}, name or "Print", out_type=x._type)
    op._print_spec = {"message": message or "", "first_n": first_n, "count": 0,
                      "summarize": _DEFAULT_SUMMARIZE if summarize is None
                      else int(summarize)}
    return op.outputs[0]


def print_(*inputs, output_stream=None, summarize=3, sep=" ", end="\n",
           name=None) -> Operation:
    """TF's `tf.print`: an op that prints `inputs` (tensors and Python values)."""
    items = [i if isinstance(i, str) or not _is_tensorish(i) else convert_to_tensor(i)
             for i in inputs]
    tensors = [i for i in items if isinstance(i, Tensor)]
    op = create_op(PRINT_V2, tensors, {}, name or "PrintV2", out_type=None)
    op._print_spec = {"items": items, "stream": output_stream, "sep": sep, "end": end,
                      "summarize": int(summarize) if summarize is not None else 3}
    return op


def _is_tensorish(v):
    return isinstance(v, (Tensor, np.ndarray)) or hasattr(v, "_as_graph_element")


def prints_needed(fetch_ops, fed) -> list:
    """The print ops a run of `fetch_ops` depends on, in creation order."""
    return ops_needed(fetch_ops, fed, (PRINT, PRINT_V2))


def data_of(op) -> list:
    """The tensors whose values the print `op` shows (in its input order)."""
    return list(op.inputs[1:]) if op.type == PRINT else list(op.inputs)


def _text(value, summarize) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    arr = np.asarray(value)
    if arr.dtype == object:
        flat = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in arr.reshape(-1)]
        shown = " ".join(flat[:summarize]) + ("..." if len(flat) > summarize else "")
        return shown if arr.ndim == 0 else f"[{shown}]"
    text = summarize_value(arr, summarize)
    return text if arr.ndim == 0 else f"[{text}]"


def emit(ops, values: dict):
    """Write the lines of the print `ops` given their data tensors' values."""
    for op in ops:
        spec = op._print_spec
        if op.type == PRINT:
            spec["count"] += 1
            if spec["first_n"] is not None and spec["count"] > int(spec["first_n"]):
                continue
            line = spec["message"] + "".join(
                f"[{summarize_value(values[t], spec['summarize'])}]"
                if t.dtype is not T.string else f"[{_text(values[t], spec['summarize'])}]"
                for t in data_of(op))
            print(line, file=sys.stderr, flush=True)
            continue
        parts = [_text(values[i], spec["summarize"]) if isinstance(i, Tensor) else str(i)
                 for i in spec["items"]]
        stream = spec["stream"]
        stream = {"stdout": sys.stdout, "stderr": sys.stderr, None: sys.stderr}.get(
            stream, stream) if isinstance(stream, (str, type(None))) else stream
        stream.write(spec["sep"].join(parts) + spec["end"])
        stream.flush()
