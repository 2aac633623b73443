"""ONNX ops whose output shapes depend on the input values: NonZero, Unique and
NonMaxSuppression.

flowc fixes every shape when a graph compiles, so these ops are not built from flowc ops
at all: they are COMPUTED AT IMPORT, with numpy, from inputs whose values the model
determines (initializers, Constant nodes, and anything the importer folds from them;
`cx.static`), and become constants of the imported graph. When an input that decides the
output's shape is computed at run time (a graph input, or a value derived from one), the
converter REFUSES the node with `cx.unsupported` naming that input: there is no run-time
form. (The ONNX backend binds graph inputs that feed such positions as constants when it
runs a model, compiler/onnx/backend.py `bound_inputs`, which is how the node cases run.)

The results follow the ONNX specification:
- NonZero: the indices of the non-zero elements, [rank, count] int64, in row-major order
  (a scalar counts as a 1-element vector).
- Unique: the unique values of the flattened input (no `axis`) or the unique slices along
  `axis`, sorted ascending (`sorted=1`, the default; slices in lexicographic order) or in
  order of first occurrence (`sorted=0`); with `indices` (first occurrence of each
  unique value), `inverse_indices` (each input element's or slice's position in the
  output) and `counts`, all int64.
- NonMaxSuppression: per batch, per class, greedy selection in descending score order
  (equal scores: the lower box index first) of the boxes scoring above `score_threshold`
  (when given), dropping a box whose IoU with an already selected box of its class is
  greater than `iou_threshold`, at most `max_output_boxes_per_class` (0 or absent: none);
  boxes as corners [y1, x1, y2, x2] in either diagonal order (`center_point_box=0`) or
  [x_center, y_center, width, height] (`center_point_box=1`). The output is
  [selected, 3] int64 rows [batch, class, box], in batch, class, selection order.
"""

from __future__ import annotations

import numpy as np

from ...frontend import core
from ..table import Unsupported, converter

_WHY = "its output shape depends on the values of input {i}, so flowc computes it when " \
       "the model is imported"


def _known(cx, i, default=None):
    """Input `i`'s value (numpy) or a refusal naming the input and why it is needed."""
    try:
        return cx.static(i, default)
    except Unsupported as e:
        raise cx.unsupported(f"{_WHY.format(i=i)}: {e}") from None


def _outputs(cx, values):
    """Constants for the node's outputs (only as many as the node names)."""
    return [core.constant(np.asarray(v)) for v in values[:max(1, len(cx.node.output))]]


@converter("NonZero", since=9, static=(0,),
           note="computed at import: the input must be known then (the output's shape "
                "depends on its values)")
def non_zero(cx):
    x = np.atleast_1d(np.asarray(_known(cx, 0)))
    return _outputs(cx, [np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)])


@converter("Unique", since=11, attrs=("axis", "sorted"), static=(0,),
           note="computed at import: the input must be known then (the outputs' shapes "
                "depend on its values)")
def unique(cx):
    x = np.asarray(_known(cx, 0))
    srt = cx.attr("sorted", 1)
    if srt not in (0, 1):
        raise cx.unsupported(f"sorted={srt!r} (must be 0 or 1)")
    axis = cx.attr("axis")
    if axis is None:
        x, axis = x.reshape(-1), 0
    else:
        if not -x.ndim <= axis < x.ndim:
            raise cx.unsupported(f"axis {axis} is out of range for input 0 of rank {x.ndim}")
        axis %= x.ndim
    if x.shape[axis] == 0:
        y, first, inverse, counts = (x, np.zeros(0, np.int64), np.zeros(0, np.int64),
                                     np.zeros(0, np.int64))
    else:
        y, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                              return_counts=True, axis=axis)
        inverse = inverse.reshape(-1)
        if not srt:  # order of first occurrence
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            y, first, counts, inverse = (np.take(y, order, axis=axis), first[order],
                                         counts[order], rank[inverse])
    return _outputs(cx, [y.astype(x.dtype), first.astype(np.int64),
                         inverse.astype(np.int64), counts.astype(np.int64)])


def _corners(boxes, center):
    """(xmin, xmax, ymin, ymax) of [n, 4] boxes in the boxes' dtype."""
    if center:
        xc, yc, w, h = boxes.T
        hw, hh = w / boxes.dtype.type(2), h / boxes.dtype.type(2)
        return xc - hw, xc + hw, yc - hh, yc + hh
    y1, x1, y2, x2 = boxes.T
    return np.minimum(x1, x2), np.maximum(x1, x2), np.minimum(y1, y2), np.maximum(y1, y2)


def _select(boxes, scores, limit, iou, score_min, center):
    """Box indices of one batch and class, in selection order."""
    xmin, xmax, ymin, ymax = _corners(boxes, center)
    area = (xmax - xmin) * (ymax - ymin)
    cand = np.arange(scores.size)
    if score_min is not None:
        cand = cand[scores > score_min]
    cand = cand[np.lexsort((cand, -scores[cand].astype(np.float64)))]
    chosen = []
    for b in cand:
        if len(chosen) >= limit:
            break
        s = np.asarray(chosen, dtype=np.int64)
        iw0, iw1 = np.maximum(xmin[b], xmin[s]), np.minimum(xmax[b], xmax[s])
        ih0, ih1 = np.maximum(ymin[b], ymin[s]), np.minimum(ymax[b], ymax[s])
        inter = (iw1 - iw0) * (ih1 - ih0)
        union = area[b] + area[s] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            over = ((iw1 > iw0) & (ih1 > ih0) & (inter > 0) & (area[b] > 0) & (area[s] > 0)
                    & (union > 0) & (inter / union > iou))
        if not over.any():
            chosen.append(int(b))
    return chosen


@converter("NonMaxSuppression", since=10, attrs=("center_point_box",),
           static=(0, 1, 2, 3, 4),
           note="computed at import: boxes, scores and the thresholds must be known then "
                "(the number of selected boxes depends on their values)")
def non_max_suppression(cx):
    boxes = np.asarray(_known(cx, 0))
    scores = np.asarray(_known(cx, 1))
    center = cx.attr("center_point_box", 0)
    if center not in (0, 1):
        raise cx.unsupported(f"center_point_box={center!r} (must be 0 or 1)")
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise cx.unsupported(f"input 0 (boxes) has shape {list(boxes.shape)}, not "
                             f"[batches, boxes, 4]")
    if scores.ndim != 3 or scores.shape[0] != boxes.shape[0] or scores.shape[2] != \
            boxes.shape[1]:
        raise cx.unsupported(f"input 1 (scores) has shape {list(scores.shape)}, not "
                             f"[{boxes.shape[0]}, classes, {boxes.shape[1]}] for boxes of "
                             f"shape {list(boxes.shape)}")
    if boxes.dtype.kind != "f" or scores.dtype.kind != "f":
        raise cx.unsupported(f"boxes ({boxes.dtype}) and scores ({scores.dtype}) must be "
                             f"floating point")

    def scalar(i, kind):
        v = _known(cx, i)
        if v is None or np.asarray(v).size == 0:
            return None
        v = np.asarray(v)
        if v.size != 1:
            raise cx.unsupported(f"input {i} ({cx.node.input[i]!r}) has {v.size} values, "
                                 f"not one")
        return kind(v.reshape(-1)[0])

    limit = scalar(2, int)
    limit = 0 if limit is None else max(limit, 0)
    iou = scalar(3, lambda v: v)
    iou = boxes.dtype.type(0) if iou is None else iou
    score_min = scalar(4, lambda v: v)
    rows = [(n, c, b) for n in range(boxes.shape[0]) for c in range(scores.shape[1])
            for b in _select(boxes[n], scores[n, c], limit, iou, score_min, center)]
    return _outputs(cx, [np.array(rows, dtype=np.int64).reshape(-1, 3)])
