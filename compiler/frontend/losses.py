"""`fc.losses` (TF1's `tf.losses`): loss functions with `weights`, a `reduction` and the
losses collection, as composites of primitives.

Every loss computes its per-element losses, multiplies them by `weights` (a scalar or a
tensor broadcastable to the losses), reduces them as `reduction` says and adds the result
to `loss_collection` (default `GraphKeys.LOSSES`; None adds nothing), as TF1's
`compute_weighted_loss` does:

| `Reduction` | result |
| --- | --- |
| `NONE` | the weighted losses, shaped like the losses |
| `SUM` | `sum(w * l)` |
| `MEAN` | `sum(w * l) / sum(w broadcast to l)` (0 when that is 0) |
| `SUM_OVER_BATCH_SIZE` | `sum(w * l) / size(l)` |
| `SUM_BY_NONZERO_WEIGHTS` (default) | `sum(w * l) / count(w != 0, broadcast to l)` (0 when 0) |

Where TF1 casts predictions and labels to float32 (mean_squared_error,
absolute_difference, log_loss, huber_loss, cosine_distance) so does flowc; the
reduction itself runs in the losses' dtype (TF1 rounds it through float32).
`get_losses`, `get_regularization_losses`, `get_regularization_loss` and
`get_total_loss` read the collections.
"""

from __future__ import annotations

from ..ir import dtypes as T
from .core import _is_tensor_like, constant, convert_to_tensor, identity, make, op_scope
from .variables import GraphKeys, add_to_collection, get_collection


class Reduction:
    """How a loss is reduced (TF1 `tf.losses.Reduction`)."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"

    @classmethod
    def all(cls):
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE,
                cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key!r}; use one of {cls.all()}")


def _as(x, dtype):
    x = convert_to_tensor(x) if _is_tensor_like(x) else convert_to_tensor(x, dtype)
    return x if x.dtype is dtype else make("cast", [x], dtype=dtype)


def _float32(x):
    return _as(x, T.float32)


def _div_no_nan(num, den):
    dt = num.dtype
    zero = make("equal", [den, constant(0, dt)])
    safe = make("select", [zero, constant(1, dt), den])
    return make("select", [zero, constant(0, dt), make("div", [num, safe])])


def _sum_all(x):
    return make("reduce_sum", [x], axes=None, keepdims=False)


def _ones_like(x):
    return make("add", [make("mul", [x, constant(0, x.dtype)]), constant(1, x.dtype)])


def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`losses * weights` reduced as `reduction` says (see the module docstring), added
    to `loss_collection`."""
    Reduction.validate(reduction)
    losses = convert_to_tensor(losses)
    if not losses.dtype.is_float:
        raise TypeError(f"compute_weighted_loss: losses must be float, got "
                        f"{losses.dtype.name} ({losses.name!r})")
    with op_scope(scope, "weighted_loss", [losses]) as name:
        w = _as(weights, losses.dtype)
        weighted = make("mul", [losses, w])
        if reduction == Reduction.NONE:
            loss = identity(weighted, name=name)
        else:
            total = _sum_all(weighted)
            if reduction == Reduction.SUM:
                loss = identity(total, name=name)
            else:
                ones = _ones_like(losses)
                if reduction == Reduction.MEAN:
                    den = _sum_all(make("mul", [ones, w]))
                elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
                    den = _sum_all(ones)
                else:
                    nonzero = make("cast", [make("not_equal", [w, constant(0, w.dtype)])],
                                   dtype=losses.dtype)
                    den = _sum_all(make("mul", [ones, nonzero]))
                loss = identity(_div_no_nan(total, den), name=name)
    add_loss(loss, loss_collection)
    return loss


def add_loss(loss, loss_collection=GraphKeys.LOSSES):
    """Add `loss` to `loss_collection` (nothing when it is None)."""
    if loss_collection:
        add_to_collection(loss_collection, loss)


def get_losses(scope=None, loss_collection=GraphKeys.LOSSES):
    """The losses in `loss_collection` (names starting with `scope` when given)."""
    return get_collection(loss_collection, scope)


def get_regularization_losses(scope=None):
    """The tensors in `GraphKeys.REGULARIZATION_LOSSES` (e.g. from a variable's
    `regularizer`)."""
    return get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss"):
    """The sum of the regularization losses, or 0.0 when there are none."""
    from .math_ops import add_n
    losses = get_regularization_losses(scope)
    if losses:
        return add_n(losses, name=name)
    return constant(0.0, T.float32, name=name)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None):
    """The sum of `get_losses(scope)` and (by default) the regularization losses; a
    ValueError when both are empty, as TF1's `add_n` of nothing."""
    from .math_ops import add_n
    losses = get_losses(scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope)
    if not losses:
        raise ValueError("get_total_loss: there are no losses in the collections "
                         f"{GraphKeys.LOSSES!r}/{GraphKeys.REGULARIZATION_LOSSES!r}")
    return add_n(losses, name=name)


def _pair(labels, predictions, opname, cast32=True):
    if labels is None or predictions is None:
        raise ValueError(f"{opname}: labels and predictions (or logits) must be given")
    p = convert_to_tensor(predictions)
    p = _float32(p) if cast32 else p
    y = _as(labels, p.dtype)
    if not _compatible(p.shape, y.shape):
        raise ValueError(f"{opname}: the shapes of labels {list(y.shape)} and predictions "
                         f"{list(p.shape)} are incompatible")
    return y, p


def _compatible(a, b):
    """TF1's `assert_is_compatible_with`: equal ranks and equal static dims."""
    if not (a.known_rank and b.known_rank):
        return True
    return len(a) == len(b) and all(
        not (isinstance(x, int) and isinstance(y, int)) or x == y for x, y in zip(a, b))


def _loss(opname, scope, weights, loss_collection, reduction, build, tensors):
    with op_scope(scope, opname, tensors) as s:
        return compute_weighted_loss(build(), weights, s, loss_collection, reduction)


def mean_squared_error(labels, predictions, weights=1.0, scope=None,
                       loss_collection=GraphKeys.LOSSES,
                       reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`(predictions - labels) ** 2`, weighted and reduced."""
    y, p = _pair(labels, predictions, "mean_squared_error")

    def build():
        d = make("sub", [p, y])
        return make("mul", [d, d])
    return _loss("mean_squared_error", scope, weights, loss_collection, reduction, build, [p, y])


def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=GraphKeys.LOSSES,
                        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`|predictions - labels|`, weighted and reduced."""
    y, p = _pair(labels, predictions, "absolute_difference")
    return _loss("absolute_difference", scope, weights, loss_collection, reduction,
                 lambda: make("abs", [make("sub", [p, y])]), [p, y])


def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None,
             loss_collection=GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`-y log(p + eps) - (1 - y) log(1 - p + eps)`, weighted and reduced."""
    y, p = _pair(labels, predictions, "log_loss")

    def build():
        eps, one = constant(epsilon, p.dtype), constant(1, p.dtype)
        pos = make("mul", [y, make("log", [make("add", [p, eps])])])
        neg = make("mul", [make("sub", [one, y]),
                           make("log", [make("add", [make("sub", [one, p]), eps])])])
        return make("sub", [make("neg", [pos]), neg])
    return _loss("log_loss", scope, weights, loss_collection, reduction, build, [p, y])


def hinge_loss(labels, logits, weights=1.0, scope=None, loss_collection=GraphKeys.LOSSES,
               reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`max(0, 1 - (2 y - 1) * logits)` for labels y in {0, 1}, weighted and reduced."""
    y, x = _pair(labels, logits, "hinge_loss", cast32=False)

    def build():
        one = constant(1, x.dtype)
        signs = make("sub", [make("mul", [constant(2, x.dtype), y]), one])
        margin = make("sub", [one, make("mul", [signs, x])])
        return make("maximum", [margin, constant(0, x.dtype)])
    return _loss("hinge_loss", scope, weights, loss_collection, reduction, build, [x, y])


def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None,
               loss_collection=GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`0.5 * q ** 2 + delta * (|e| - q)` with `e = predictions - labels` and
    `q = min(|e|, delta)`, weighted and reduced."""
    y, p = _pair(labels, predictions, "huber_loss")

    def build():
        err = make("abs", [make("sub", [p, y])])
        quad = make("minimum", [err, constant(delta, p.dtype)])
        lin = make("sub", [err, quad])
        half_sq = make("mul", [constant(0.5, p.dtype), make("mul", [quad, quad])])
        return make("add", [half_sq, make("mul", [constant(delta, p.dtype), lin])])
    return _loss("huber_loss", scope, weights, loss_collection, reduction, build, [p, y])


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0,
                          scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`sigmoid_cross_entropy_with_logits`, with labels smoothed towards 1/2
    (`y * (1 - s) + s / 2`) when `label_smoothing` s > 0; weighted and reduced."""
    from .nn import sigmoid_cross_entropy_with_logits
    y, x = _pair(multi_class_labels, logits, "sigmoid_cross_entropy", cast32=False)

    def build():
        z = _smooth(y, label_smoothing, 0.5)
        return sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    return _loss("sigmoid_cross_entropy_loss", scope, weights, loss_collection, reduction,
                 build, [x, y])


def _smooth(y, s, towards):
    if not _is_tensor_like(s) and s == 0:
        return y
    s = _as(s, y.dtype)
    keep = make("mul", [y, make("sub", [constant(1, y.dtype), s])])
    return make("add", [keep, make("mul", [s, _as(towards, y.dtype)])])


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Softmax cross-entropy of each row (the labels are not differentiated), with labels
    smoothed as `y * (1 - s) + s / classes` when `label_smoothing` s > 0; weights
    broadcast to the per-row losses."""
    from .nn import softmax_cross_entropy_with_logits_v2
    y, x = _pair(onehot_labels, logits, "softmax_cross_entropy", cast32=False)
    classes = x.shape[-1] if x.shape.known_rank and x.shape.ndims else None
    if label_smoothing and not isinstance(classes, int):
        raise ValueError("softmax_cross_entropy: label_smoothing needs a static number of "
                         f"classes (the last dimension of logits {x.name!r})")

    def build():
        z = _smooth(y, label_smoothing, 1.0 / classes if classes else 0.0)
        z = make("stop_gradient", [z])
        return softmax_cross_entropy_with_logits_v2(labels=z, logits=x)
    return _loss("softmax_cross_entropy_loss", scope, weights, loss_collection, reduction,
                 build, [x, y])


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=GraphKeys.LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """`sparse_softmax_cross_entropy_with_logits` (integer class labels), weighted and
    reduced."""
    from .nn import sparse_softmax_cross_entropy_with_logits
    if labels is None or logits is None:
        raise ValueError("sparse_softmax_cross_entropy: labels and logits must be given")
    x, idx = convert_to_tensor(logits), convert_to_tensor(labels)
    return _loss("sparse_softmax_cross_entropy_loss", scope, weights, loss_collection,
                 reduction,
                 lambda: sparse_softmax_cross_entropy_with_logits(labels=idx, logits=x),
                 [x, idx])


def cosine_distance(labels, predictions, axis=None, weights=1.0, scope=None,
                    loss_collection=GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                    dim=None):
    """`1 - sum(labels * predictions, axis, keepdims=True)` for unit-normalized inputs,
    weighted and reduced. `dim` is TF1's deprecated name of `axis`; one is required."""
    from .reduce_ops import _axes
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError("cosine_distance: you must specify 'axis'")
    y, p = _pair(labels, predictions, "cosine_distance")

    def build():
        prod = make("mul", [p, y])
        dots = make("reduce_sum", [prod], axes=_axes(prod, axis, "cosine_distance"),
                    keepdims=True)
        return make("sub", [constant(1, p.dtype), dots])
    return _loss("cosine_distance_loss", scope, weights, loss_collection, reduction, build,
                 [p, y])


__all__ = ["Reduction", "compute_weighted_loss", "add_loss", "get_losses",
           "get_regularization_losses", "get_regularization_loss", "get_total_loss",
           "mean_squared_error", "absolute_difference", "log_loss", "hinge_loss", "huber_loss",
           "sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
           "cosine_distance"]
