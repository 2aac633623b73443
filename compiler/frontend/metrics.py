"""`fc.metrics` (TF1's `tf.metrics`): streaming metrics as `(value, update_op)` pairs.

Every metric keeps its running sums in *metric variables*: float32 Variables filled with
zeros, not trainable, in the LOCAL_VARIABLES and METRIC_VARIABLES collections, named as
TF1 names them (`accuracy/total`, `accuracy/count`, `auc/true_positives`, ...), so
`fc.local_variables_initializer()` resets them. `update_op` adds one batch to the sums
and evaluates to the metric over everything seen so far (including this batch);
`value` reads the metric from the sums as they were before the run (flowc's "state
within one run" rule), so the TF1 loop — `sess.run(update_op)` per batch, then
`sess.run(value)` — gives the metric over every batch. `weights` (broadcastable to the
predictions) weight each element; `metrics_collections`/`updates_collections` receive
`value`/`update_op`. The formulas are TF1 1.15's: see docs/tf1_api.md "Metrics".

`confusion_matrix` (`fc.confusion_matrix`) is a plain op, not a streaming metric.
Shapes that TF1 computes from the data (`confusion_matrix` without `num_classes`) must be
known when the graph is built here, so that case raises ValueError.
"""

from __future__ import annotations

from ..ir import dtypes as T
from .array_ops import one_hot, ones_like, zeros_like
from .core import constant, convert_to_tensor
from .manip_ops import broadcast_to, expand_dims, reshape, squeeze, where_v2
from .math_ops import (
    abs,  # noqa: A004  (TF1's name)
    add,
    cast,
    div,
    equal,
    greater,
    logical_and,
    logical_not,
    matmul,
    maximum,
    minimum,
    multiply,
    sqrt,
    squared_difference,
    subtract,
)
from .reduce_ops import reduce_mean, reduce_sum
from .variable_scope import variable_scope
from .variables import LOCAL_VARIABLES, GraphKeys, Variable, add_to_collection

METRIC_VARIABLES = GraphKeys.METRIC_VARIABLES

__all__ = [
    "accuracy", "auc", "confusion_matrix", "false_negatives", "false_negatives_at_thresholds",
    "false_positives", "false_positives_at_thresholds", "mean", "mean_absolute_error",
    "mean_iou", "mean_per_class_accuracy", "mean_squared_error", "mean_tensor",
    "metric_variable", "percentage_below", "precision", "precision_at_thresholds", "recall",
    "recall_at_thresholds", "root_mean_squared_error", "true_negatives",
    "true_negatives_at_thresholds", "true_positives", "true_positives_at_thresholds",
]


def metric_variable(shape, dtype=T.float32, validate_shape=True, name=None):
    """A zero-filled local Variable in LOCAL_VARIABLES and METRIC_VARIABLES (TF1's
    `metric_variable`)."""
    dtype = T.as_dtype(dtype)
    init = constant(0, dtype=dtype, shape=list(shape))
    return Variable(init, trainable=False, name=name, dtype=dtype,
                    collections=[LOCAL_VARIABLES, METRIC_VARIABLES])


def _collect(value, update_op, metrics_collections, updates_collections):
    for key in metrics_collections or ():
        add_to_collection(key, value)
    for key in updates_collections or ():
        add_to_collection(key, update_op)
    return value, update_op


def _safe_div(num, den, name=None):
    """`num / den`, 0 where `den` is 0 (TF1's `div_no_nan`)."""
    zero = zeros_like(den)
    is_zero = equal(den, zero)
    return where_v2(is_zero, zeros_like(num), div(num, where_v2(is_zero, ones_like(den), den)),
                    name=name)


def _float(x):
    x = convert_to_tensor(x)
    return x if x.dtype is T.float32 else cast(x, T.float32)


def _squeeze_pair(labels, predictions):
    """TF1's `remove_squeezable_dimensions`: drop a trailing 1 from whichever of the two
    has rank one more than the other; then the static shapes must be compatible."""
    lr, pr = labels.shape.ndims, predictions.shape.ndims
    if lr is not None and pr is not None:
        if pr == lr + 1 and predictions.shape[-1] == 1:
            predictions = squeeze(predictions, [-1])
        elif lr == pr + 1 and labels.shape[-1] == 1:
            labels = squeeze(labels, [-1])
    _check_compatible(labels, predictions)
    return labels, predictions


def _check_compatible(labels, predictions):
    a, b = labels.shape, predictions.shape
    if a.ndims is None or b.ndims is None:
        return
    ok = a.ndims == b.ndims and all(not (isinstance(x, int) and isinstance(y, int)) or x == y
                                   for x, y in zip(a, b))
    if not ok:
        raise ValueError(f"metrics: labels {labels.name!r} of shape {a} and predictions "
                         f"{predictions.name!r} of shape {b} are not compatible")


def _weights_for(values, weights):
    """`weights` (float32) broadcast to `values`' shape, or None."""
    if weights is None:
        return None
    w = _float(weights)
    return broadcast_to(w, _shape_of(values)) if w.shape != values.shape else w


def _shape_of(t):
    from .array_ops import shape
    return shape(t) if not t.shape.is_fully_defined() else list(t.shape)


def mean(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The (weighted) mean of every value seen: `total / count` (0 before any value)."""
    with variable_scope(name, "mean"):
        values = _float(values)
        total = metric_variable([], name="total")
        count = metric_variable([], name="count")
        w = _weights_for(values, weights)
        if w is None:
            num = cast(_size(values), T.float32)
        else:
            values = multiply(values, w)
            num = reduce_sum(w)
        update_total = total.assign_add(reduce_sum(values))
        update_count = count.assign_add(num)
        value = _safe_div(total.value(), count.value(), name="value")
        update_op = _safe_div(update_total, maximum(update_count, 0.0), name="update_op")
    return _collect(value, update_op, metrics_collections, updates_collections)


def _size(t):
    from .array_ops import size
    return size(t)


def accuracy(labels, predictions, weights=None, metrics_collections=None,
             updates_collections=None, name=None):
    """The (weighted) fraction of elements where `predictions == labels`."""
    labels, predictions = _squeeze_pair(convert_to_tensor(labels),
                                        convert_to_tensor(predictions))
    if labels.dtype is not predictions.dtype:
        predictions = cast(predictions, labels.dtype)
    is_correct = cast(equal(predictions, labels), T.float32)
    return mean(is_correct, weights, metrics_collections, updates_collections,
                name or "accuracy")


def mean_squared_error(labels, predictions, weights=None, metrics_collections=None,
                       updates_collections=None, name=None):
    """The (weighted) mean of `(predictions - labels)**2`."""
    labels, predictions = _squeeze_pair(_float(labels), _float(predictions))
    return mean(squared_difference(predictions, labels), weights, metrics_collections,
                updates_collections, name or "mean_squared_error")


def mean_absolute_error(labels, predictions, weights=None, metrics_collections=None,
                        updates_collections=None, name=None):
    """The (weighted) mean of `|predictions - labels|`."""
    labels, predictions = _squeeze_pair(_float(labels), _float(predictions))
    return mean(abs(subtract(predictions, labels)), weights, metrics_collections,
                updates_collections, name or "mean_absolute_error")


def root_mean_squared_error(labels, predictions, weights=None, metrics_collections=None,
                            updates_collections=None, name=None):
    """`sqrt` of `mean_squared_error` (value and update op)."""
    labels, predictions = _squeeze_pair(_float(labels), _float(predictions))
    mse, update_mse = mean(squared_difference(predictions, labels), weights, None, None,
                           name or "root_mean_squared_error")
    return _collect(sqrt(mse), sqrt(update_mse), metrics_collections, updates_collections)


# counts of a condition ------------------------------------------------------------------

def _bool_pair(labels, predictions):
    labels = convert_to_tensor(labels)
    predictions = convert_to_tensor(predictions)
    labels = labels if labels.dtype is T.bool_ else cast(labels, T.bool_)
    predictions = predictions if predictions.dtype is T.bool_ else cast(predictions, T.bool_)
    return _squeeze_pair(labels, predictions)


def _count_condition(values, weights, metrics_collections, updates_collections):
    """Sum of `values` (bool) times `weights` into a `count` metric variable."""
    count = metric_variable([], name="count")
    values = _float(values)
    w = _weights_for(values, weights)
    if w is not None:
        values = multiply(values, w)
    update_op = count.assign_add(reduce_sum(values))
    return _collect(count.value(), update_op, metrics_collections, updates_collections)


def _condition_metric(default_name, select):
    def metric(labels, predictions, weights=None, metrics_collections=None,
               updates_collections=None, name=None):
        with variable_scope(name, default_name):
            lab, pred = _bool_pair(labels, predictions)
            return _count_condition(select(lab, pred), weights, metrics_collections,
                                    updates_collections)
    metric.__name__ = default_name
    metric.__doc__ = (f"The (weighted) number of {default_name.replace('_', ' ')} "
                      f"(labels and predictions cast to bool).")
    return metric


true_positives = _condition_metric("true_positives", logical_and)
false_positives = _condition_metric(
    "false_positives", lambda lab, pred: logical_and(logical_not(lab), pred))
false_negatives = _condition_metric(
    "false_negatives", lambda lab, pred: logical_and(lab, logical_not(pred)))
true_negatives = _condition_metric(
    "true_negatives", lambda lab, pred: logical_and(logical_not(lab), logical_not(pred)))


def _ratio_metric(default_name, first, second):
    """`first / (first + second)` of two count metrics, 0 when both are 0 (TF1's
    precision and recall)."""
    def metric(labels, predictions, weights=None, metrics_collections=None,
               updates_collections=None, name=None):
        with variable_scope(name, default_name):
            lab, pred = _bool_pair(labels, predictions)
            a, update_a = first(lab, pred, weights)
            b, update_b = second(lab, pred, weights)
            value = _ratio(a, b, "value")
            update_op = _ratio(update_a, update_b, "update_op")
        return _collect(value, update_op, metrics_collections, updates_collections)
    metric.__name__ = default_name
    return metric


def _ratio(a, b, name):
    den = add(a, b)
    return where_v2(greater(den, 0.0), div(a, maximum(den, 1e-30)), zeros_like(a), name=name)


precision = _ratio_metric("precision", true_positives, false_positives)
precision.__doc__ = "`tp / (tp + fp)` over every batch seen (0 when there are none)."
recall = _ratio_metric("recall", true_positives, false_negatives)
recall.__doc__ = "`tp / (tp + fn)` over every batch seen (0 when there are none)."


# area under the curve -------------------------------------------------------------------

_SUMMATIONS = ("trapezoidal", "careful_interpolation", "minoring", "majoring")


def auc_thresholds(num_thresholds):
    """TF1's thresholds: `-1e-7`, `i / (num_thresholds - 1)` for i in 1..n-2, `1 + 1e-7`."""
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - 1e-7] + inner + [1.0 + 1e-7]


_ALL_COUNTS = ("true_positives", "false_negatives", "true_negatives", "false_positives")


def _confusion_at_thresholds(labels, predictions, thresholds, weights, includes=_ALL_COUNTS):
    """Metric variables (among tp, fn, tn, fp: `includes`) of shape [len(thresholds)] and
    their updates: an element counts as predicted positive at threshold t when
    `prediction > t`."""
    n = len(thresholds)
    lab, pred = _squeeze_pair(convert_to_tensor(labels), _float(predictions))
    lab = lab if lab.dtype is T.bool_ else cast(lab, T.bool_)
    pred_row = reshape(pred, [1, -1])
    label_pos = reshape(lab, [1, -1])
    thresh = constant([[t] for t in thresholds], dtype=T.float32)
    pred_pos = greater(pred_row, thresh)  # [n, N]
    w = None if weights is None else reshape(_weights_for(pred, weights), [1, -1])
    conditions = {
        "true_positives": logical_and(label_pos, pred_pos),
        "false_negatives": logical_and(label_pos, logical_not(pred_pos)),
        "true_negatives": logical_and(logical_not(label_pos), logical_not(pred_pos)),
        "false_positives": logical_and(logical_not(label_pos), pred_pos),
    }
    values, updates = {}, {}
    for key in includes:
        cond = conditions[key]
        var = metric_variable([n], name=key)
        hits = cast(cond, T.float32)
        if w is not None:
            hits = multiply(hits, w)
        values[key] = var.value()
        updates[key] = var.assign_add(reduce_sum(hits, 1))
    return values, updates


def auc(labels, predictions, weights=None, num_thresholds=200, metrics_collections=None,
        updates_collections=None, curve="ROC", name=None, summation_method="trapezoidal",
        thresholds=None):
    """The area under the ROC or PR curve from confusion counts at `num_thresholds`
    thresholds (TF1's Riemann sum; `predictions` are probabilities in [0, 1])."""
    if curve not in ("ROC", "PR"):
        raise ValueError(f"auc: curve must be 'ROC' or 'PR', got {curve!r}")
    if summation_method not in _SUMMATIONS:
        raise ValueError(f"auc: invalid summation_method {summation_method!r}; expected one "
                         f"of {_SUMMATIONS}")
    if thresholds is not None:
        thresholds = [0.0 - 1e-7] + [float(t) for t in thresholds] + [1.0 + 1e-7]
    else:
        if num_thresholds < 2:
            raise ValueError(f"auc: num_thresholds must be > 1, got {num_thresholds}")
        thresholds = auc_thresholds(num_thresholds)
    with variable_scope(name, "auc"):
        values, updates = _confusion_at_thresholds(labels, predictions, thresholds, weights)
        value = _auc_of(values, curve, summation_method, "value")
        update_op = _auc_of(updates, curve, summation_method, "update_op")
    return _collect(value, update_op, metrics_collections, updates_collections)


def _auc_of(c, curve, summation_method, name):
    tp, fn, tn, fp = (c["true_positives"], c["false_negatives"], c["true_negatives"],
                      c["false_positives"])
    if curve == "PR" and summation_method == "careful_interpolation":
        return _interpolate_pr_auc(tp, fp, fn, name)
    eps = 1.0e-6
    rec = div(add(tp, eps), add(add(tp, fn), eps))
    if curve == "ROC":
        x, y = div(fp, add(add(fp, tn), eps)), rec
    else:
        x, y = rec, div(add(tp, eps), add(add(tp, fp), eps))
    dx = subtract(x[:-1], x[1:])
    if summation_method == "minoring":
        height = minimum(y[:-1], y[1:])
    elif summation_method == "majoring":
        height = maximum(y[:-1], y[1:])
    else:
        height = multiply(add(y[:-1], y[1:]), 0.5)
    return reduce_sum(multiply(dx, height), name=name)


def _interpolate_pr_auc(tp, fp, fn, name):
    """TF1's PR-AUC with interpolation of precision between thresholds (Davis & Goadrich)."""
    dtp = subtract(tp[:-1], tp[1:])
    p = add(tp, fp)
    slope = _safe_div(dtp, maximum(subtract(p[:-1], p[1:]), 0.0))
    intercept = subtract(tp[1:], multiply(slope, p[1:]))
    both = logical_and(greater(p[:-1], 0.0), greater(p[1:], 0.0))
    ratio = where_v2(both, _safe_div(p[:-1], maximum(p[1:], 0.0)), ones_like(p[1:]))
    from .math_ops import log
    inc = _safe_div(multiply(slope, add(dtp, multiply(intercept, log(ratio)))),
                    maximum(add(tp[1:], fn[1:]), 0.0))
    return reduce_sum(inc, name=name)


# per-class ------------------------------------------------------------------------------

def mean_per_class_accuracy(labels, predictions, num_classes, weights=None,
                            metrics_collections=None, updates_collections=None, name=None):
    """The mean over classes of each class's accuracy (correct / seen, per label class).
    As in TF1, `value` is that mean and `update_op` the per-class accuracies."""
    with variable_scope(name, "mean_accuracy"):
        labels = reshape(convert_to_tensor(labels), [-1])
        predictions = reshape(convert_to_tensor(predictions), [-1])
        if not labels.dtype.is_int:
            raise TypeError(f"mean_per_class_accuracy: labels must be integers, got "
                            f"{labels.dtype.name} ({labels.name!r})")
        total = metric_variable([num_classes], name="total")
        count = metric_variable([num_classes], name="count")
        if predictions.dtype is not labels.dtype:
            predictions = cast(predictions, labels.dtype)
        is_correct = cast(equal(predictions, labels), T.float32)
        ones = ones_like(is_correct)
        if weights is not None:
            w = reshape(_float(weights), [-1])
            is_correct, ones = multiply(is_correct, w), multiply(ones, w)
        by_class = one_hot(labels, num_classes, dtype=T.float32)  # [N, C]
        update_total = total.assign_add(reduce_sum(multiply(by_class, expand_dims(ones, 1)), 0))
        update_count = count.assign_add(
            reduce_sum(multiply(by_class, expand_dims(is_correct, 1)), 0))
        per_class = _safe_div(count.value(), maximum(total.value(), 0.0))
        value = reduce_mean(per_class, name="mean_accuracy")
        update_op = _safe_div(update_count, maximum(update_total, 0.0), name="update_op")
    return _collect(value, update_op, metrics_collections, updates_collections)


def confusion_matrix(labels, predictions, num_classes=None, dtype=T.int32, name=None,
                     weights=None):
    """`[num_classes, num_classes]` counts: entry (i, j) sums the weights (1 without
    `weights`) of the elements with label i and prediction j. flowc needs `num_classes`
    (TF1 can take it from the data; a shape here is known when the graph is built)."""
    if num_classes is None:
        raise ValueError("confusion_matrix: pass num_classes — flowc needs the matrix's "
                         "shape when the graph is built (TF1 takes max(labels, predictions)+1 "
                         "from the data)")
    from .control_flow import name_scope
    with name_scope(name, "confusion_matrix"):
        labels, predictions = _squeeze_pair(convert_to_tensor(labels),
                                            convert_to_tensor(predictions))
        for what, t in (("labels", labels), ("predictions", predictions)):
            if not t.dtype.is_int:
                raise TypeError(f"confusion_matrix: {what} must be integers, got "
                                f"{t.dtype.name} ({t.name!r})")
        labels, predictions = reshape(labels, [-1]), reshape(predictions, [-1])
        # float64 sums are exact for counts below 2**53
        rows = one_hot(labels, num_classes, dtype=T.float64)  # [N, C]
        cols = one_hot(predictions, num_classes, dtype=T.float64)
        if weights is not None:
            w = cast(reshape(convert_to_tensor(weights), [-1]), T.float64)
            cols = multiply(cols, expand_dims(w, 1))
        counts = matmul(rows, cols, transpose_a=True)
        return cast(counts, T.as_dtype(dtype))


# at thresholds ---------------------------------------------------------------------------

def _at_thresholds(default_name, includes, combine, doc):
    def metric(labels, predictions, thresholds, weights=None, metrics_collections=None,
               updates_collections=None, name=None):
        with variable_scope(name, default_name):
            values, updates = _confusion_at_thresholds(
                labels, predictions, [float(t) for t in thresholds], weights, includes)
            value = combine(values, "value")
            update_op = combine(updates, "update_op")
        return _collect(value, update_op, metrics_collections, updates_collections)
    metric.__name__ = default_name
    metric.__doc__ = doc
    return metric


def _count_at(key):
    from .core import identity
    return _at_thresholds(f"{key}_at_thresholds", (key,),
                          lambda c, name: identity(c[key], name=name),
                          f"`[len(thresholds)]` (weighted) {key.replace('_', ' ')}: an "
                          f"element is predicted positive at t when `prediction > t`.")


true_positives_at_thresholds = _count_at("true_positives")
false_positives_at_thresholds = _count_at("false_positives")
true_negatives_at_thresholds = _count_at("true_negatives")
false_negatives_at_thresholds = _count_at("false_negatives")
precision_at_thresholds = _at_thresholds(
    "precision_at_thresholds", ("true_positives", "false_positives"),
    lambda c, name: div(c["true_positives"],
                        add(add(c["true_positives"], c["false_positives"]), 1e-7), name=name),
    "`tp / (tp + fp + 1e-7)` at each threshold (TF1's epsilon).")
recall_at_thresholds = _at_thresholds(
    "recall_at_thresholds", ("true_positives", "false_negatives"),
    lambda c, name: div(c["true_positives"],
                        add(add(c["true_positives"], c["false_negatives"]), 1e-7), name=name),
    "`tp / (tp + fn + 1e-7)` at each threshold (TF1's epsilon).")


# tensors and below-threshold --------------------------------------------------------------

def mean_tensor(values, weights=None, metrics_collections=None, updates_collections=None,
                name=None):
    """The elementwise (weighted) mean of `values` over the runs: `values` must have a
    static shape (the shape of the metric variables)."""
    with variable_scope(name, "mean"):
        values = _float(values)
        if not values.shape.is_fully_defined() or \
                not all(isinstance(d, int) for d in values.shape):
            raise ValueError(f"mean_tensor: values {values.name!r} must have a static shape, "
                             f"got {values.shape}")
        shape = list(values.shape)
        total = metric_variable(shape, name="total_tensor")
        count = metric_variable(shape, name="count_tensor")
        w = ones_like(values) if weights is None else _weights_for(values, weights)
        update_total = total.assign_add(multiply(values, w))
        update_count = count.assign_add(w)
        value = _safe_div(total.value(), count.value(), name="value")
        update_op = _safe_div(update_total, update_count, name="update_op")
    return _collect(value, update_op, metrics_collections, updates_collections)


def percentage_below(values, threshold, weights=None, metrics_collections=None,
                     updates_collections=None, name=None):
    """The (weighted) fraction of values `< threshold`."""
    from .math_ops import less
    below = cast(less(_float(values), float(threshold)), T.float32)
    return mean(below, weights, metrics_collections, updates_collections,
                name or "percentage_below_threshold")


def mean_iou(labels, predictions, num_classes, weights=None, metrics_collections=None,
             updates_collections=None, name=None):
    """The mean over classes of `cm[i,i] / (row_i + col_i - cm[i,i])` of the streamed
    confusion matrix (classes never seen in labels or predictions are left out; 0 when
    there are none). As in TF1, `update_op` is the accumulated float64 confusion matrix
    and the value is float32."""
    with variable_scope(name, "mean_iou"):
        total_cm = metric_variable([num_classes, num_classes], T.float64,
                                   name="total_confusion_matrix")
        batch_cm = confusion_matrix(labels, predictions, num_classes, dtype=T.float64,
                                    weights=weights)
        update_op = total_cm.assign_add(batch_cm)
        value = _mean_iou_of(total_cm.value(), num_classes)
    return _collect(value, update_op, metrics_collections, updates_collections)


def _mean_iou_of(cm, num_classes):
    import numpy as np
    cm = cast(cm, T.float32)
    rows, cols = reduce_sum(cm, 0), reduce_sum(cm, 1)
    diag = reduce_sum(multiply(cm, constant(np.eye(num_classes, dtype=np.float32))), 1)
    den = subtract(add(rows, cols), diag)
    valid = greater(den, 0.0)
    n_valid = reduce_sum(cast(valid, T.float32))
    iou = div(diag, where_v2(valid, den, ones_like(den)))
    return where_v2(greater(n_valid, 0.0), div(reduce_sum(iou), maximum(n_valid, 1.0)),
                    constant(0.0), name="mean_iou")


# tf.contrib.metrics: TF1's older streaming_* spellings (predictions before labels) ------

def _swapped(fn, old_name):
    def streaming(predictions, labels, *args, **kwargs):
        return fn(labels, predictions, *args, **kwargs)
    streaming.__name__ = old_name
    streaming.__doc__ = (f"`tf.contrib.metrics.{old_name}(predictions, labels, ...)`: "
                         f"`tf.metrics.{fn.__name__}` with the arguments in the old order.")
    return streaming


def contrib_accuracy(predictions, labels, weights=None, name=None):
    """`tf.contrib.metrics.accuracy`: the (weighted) accuracy of this batch alone (a
    tensor, not a streaming pair)."""
    from .control_flow import name_scope
    with name_scope(name, "accuracy"):
        labels, predictions = _squeeze_pair(convert_to_tensor(labels),
                                            convert_to_tensor(predictions))
        if labels.dtype is not predictions.dtype:
            predictions = cast(predictions, labels.dtype)
        correct = cast(equal(predictions, labels), T.float32)
        if weights is None:
            return reduce_mean(correct)
        w = _weights_for(correct, weights)
        return _safe_div(reduce_sum(multiply(correct, w)), reduce_sum(w))


def contrib_namespace():
    """The `tf.contrib.metrics` names: `streaming_*` and `accuracy`, `confusion_matrix`."""
    import types
    swapped = {
        "streaming_accuracy": accuracy, "streaming_precision": precision,
        "streaming_recall": recall, "streaming_auc": auc,
        "streaming_true_positives": true_positives,
        "streaming_false_positives": false_positives,
        "streaming_true_negatives": true_negatives,
        "streaming_false_negatives": false_negatives,
        "streaming_mean_absolute_error": mean_absolute_error,
        "streaming_mean_squared_error": mean_squared_error,
        "streaming_root_mean_squared_error": root_mean_squared_error,
        "streaming_mean_iou": mean_iou,
        "streaming_precision_at_thresholds": precision_at_thresholds,
        "streaming_recall_at_thresholds": recall_at_thresholds,
    }
    names = {old: _swapped(fn, old) for old, fn in swapped.items()}
    names.update(streaming_mean=mean, streaming_mean_tensor=mean_tensor,
                 streaming_percentage_less=percentage_below, accuracy=contrib_accuracy,
                 confusion_matrix=confusion_matrix)
    return types.SimpleNamespace(**names)
