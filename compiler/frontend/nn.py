"""`fc.nn`: the neural-network ops of the TF1 API, as composites of primitives.

Activations (relu, relu6, elu, softplus, sigmoid, tanh), softmax and log_softmax
(numerically stable: the maximum is subtracted first), the cross-entropy losses
(softmax, sparse softmax, sigmoid; all stable for large logits), bias_add, l2_loss,
l2_normalize, xw_plus_b and dropout; moments, batch normalization and LRN
(normalization.py); `embedding_lookup` (embedding.py) and the
sampled losses `nce_loss` / `sampled_softmax_loss` with their samplers (sampled.py).
Each result tensor carries the `name` the user gave (intermediate ops live under that
name scope). The loss functions take their arguments by keyword, as in TF1 (`labels=`,
`logits=`).
"""

from __future__ import annotations

from .core import (
    _is_tensor_like,
    binary_operands,
    constant,
    convert_to_tensor,
    known_shape,
    make,
    op_scope,
)
from .deferred import deferred, rank_unknown
from .embedding import embedding_lookup  # noqa: F401  (fc.nn.embedding_lookup)
from .index_ops import depth_to_space, space_to_depth  # noqa: F401  (fc.nn.*, as TF1)
from .math_ops import sigmoid, tanh  # noqa: F401  (re-exported as fc.nn.sigmoid/tanh)
from .normalization import (  # noqa: F401  (fc.nn.*: issue 15's normalization)
    batch_normalization,
    fused_batch_norm,
    local_response_normalization,
    lrn,
    moments,
    normalize_moments,
    weighted_moments,
)
from .reduce_ops import _axes
from .sampled import (  # noqa: F401  (fc.nn.*: issue 14's sampled losses)
    fixed_unigram_candidate_sampler,
    log_uniform_candidate_sampler,
    nce_loss,
    sampled_softmax_loss,
    uniform_candidate_sampler,
)


def relu(features, name=None):
    """`max(features, 0)`."""
    x = convert_to_tensor(features)
    return make("maximum", [x, constant(0, x.dtype)], name=name or "Relu")


def relu6(features, name=None):
    """`min(max(features, 0), 6)`."""
    x = convert_to_tensor(features)
    with op_scope(name, "Relu6", [x]) as scope:
        low = make("maximum", [x, constant(0, x.dtype)])
        return make("minimum", [low, constant(6, x.dtype)], name=scope)


def elu(features, name=None):
    """`x` where positive, `exp(x) - 1` elsewhere."""
    x = convert_to_tensor(features)
    with op_scope(name, "Elu", [x]) as scope:
        zero = constant(0, x.dtype)
        neg = make("expm1", [make("minimum", [x, zero])])
        return make("select", [make("greater", [x, zero]), x, neg], name=scope)


def softplus(features, name=None):
    """`log(1 + exp(x))`, computed as `max(x, 0) + log1p(exp(-|x|))`."""
    x = convert_to_tensor(features)
    with op_scope(name, "Softplus", [x]) as scope:
        return make("add", [_relu(x), _log1p_exp_neg_abs(x)], name=scope)


def _relu(x):
    return make("maximum", [x, constant(0, x.dtype)])


def _log1p_exp_neg_abs(x):
    """`log1p(exp(-|x|))`: never overflows."""
    return make("log1p", [make("exp", [make("neg", [make("abs", [x])])])])


def _shifted(x, axis):
    """`x - max(x, axis)` (keepdims) and the normalized axis."""
    rank = len(known_shape(x, "softmax"))
    (ax,) = _axes(x, axis, "softmax")
    if rank == 0:
        raise ValueError("softmax: logits must have rank >= 1")
    return make("sub", [x, make("reduce_max", [x], axes=(ax,), keepdims=True)]), ax


def softmax(logits, axis=None, name=None, dim=None):
    """`exp(x) / sum(exp(x))` along `axis` (default -1), with the maximum subtracted
    first so large logits do not overflow."""
    x = convert_to_tensor(logits)
    axis = -1 if axis is None and dim is None else (dim if axis is None else axis)
    if rank_unknown(x):
        return deferred(lambda t: softmax(t, axis), [x], x.dtype, name=name or "Softmax")
    with op_scope(name, "Softmax", [x]) as scope:
        z, ax = _shifted(x, axis)
        e = make("exp", [z])
        return make("div", [e, make("reduce_sum", [e], axes=(ax,), keepdims=True)],
                    name=scope)


def log_softmax(logits, axis=None, name=None, dim=None):
    """`x - log(sum(exp(x)))` along `axis` (default -1), computed stably."""
    x = convert_to_tensor(logits)
    axis = -1 if axis is None and dim is None else (dim if axis is None else axis)
    if rank_unknown(x):
        return deferred(lambda t: log_softmax(t, axis), [x], x.dtype,
                        name=name or "LogSoftmax")
    with op_scope(name, "LogSoftmax", [x]) as scope:
        z, ax = _shifted(x, axis)
        return make("sub", [z, _log_sum_exp(z, ax)], name=scope)


def _log_sum_exp(z, ax):
    return make("log", [make("reduce_sum", [make("exp", [z])], axes=(ax,), keepdims=True)])


def _no_positional(sentinel, fn_name):
    if sentinel is not None:
        raise ValueError(f"{fn_name}: only call with named arguments (labels=..., "
                         "logits=...)")


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1,
                                      name=None, axis=None):
    """`-sum(labels * log_softmax(logits))` along `dim`/`axis` (default -1); `labels`
    are probability rows of logits' shape. Returns the per-example loss (rank R-1). As in
    TF1's first version, gradients flow into `logits` only (labels are wrapped in
    stop_gradient); `softmax_cross_entropy_with_logits_v2` lets them flow into both."""
    _no_positional(_sentinel, "softmax_cross_entropy_with_logits")
    return _softmax_xent(labels, logits, dim if axis is None else axis, name, True)


def softmax_cross_entropy_with_logits_v2(_sentinel=None, labels=None, logits=None, axis=None,
                                         name=None, dim=None):
    """`softmax_cross_entropy_with_logits` with gradients into labels too."""
    _no_positional(_sentinel, "softmax_cross_entropy_with_logits_v2")
    axis = (-1 if dim is None else dim) if axis is None else axis
    return _softmax_xent(labels, logits, axis, name, False)


def _softmax_xent(labels, logits, axis, name, stop_labels):
    x, y = binary_operands(logits, labels, "softmax_cross_entropy_with_logits")
    if rank_unknown(x):
        return deferred(lambda a, b: _softmax_xent(b, a, axis, None, stop_labels), [x, y],
                        x.dtype, name=name or "softmax_cross_entropy_with_logits")
    with op_scope(name, "softmax_cross_entropy_with_logits", [x, y]) as scope:
        if stop_labels:
            y = make("stop_gradient", [y])
        z, ax = _shifted(x, axis)
        logp = make("sub", [z, _log_sum_exp(z, ax)])
        terms = make("mul", [y, logp])
        return make("neg", [make("reduce_sum", [terms], axes=(ax,), keepdims=False)],
                    name=scope)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                             name=None):
    """Softmax cross-entropy with `labels` given as class indices (int, shape of logits
    without the last axis) instead of probability rows. The number of classes may be
    symbolic (logits of unknown rank or a `None` last dim). A label outside
    [0, classes) raises `ExecutionError` at run time naming this op, as TF does (the labels pass
    through a checked gather from `range(classes)`, so every path reports it through the same error
    flag as `gather`)."""
    _no_positional(_sentinel, "sparse_softmax_cross_entropy_with_logits")
    x = convert_to_tensor(logits)
    idx = convert_to_tensor(labels)
    if rank_unknown(x):
        return deferred(lambda a, i: sparse_softmax_cross_entropy_with_logits(
                            labels=i, logits=a), [x, idx], x.dtype, idx.shape,
                        name=name or "SparseSoftmaxCrossEntropyWithLogits")
    shape = known_shape(x, "sparse_softmax_cross_entropy_with_logits")
    classes = shape[-1] if shape else None
    if classes is None:
        raise ValueError("sparse_softmax_cross_entropy_with_logits: logits need rank >= 1, "
                         f"got shape {list(shape)}")
    if idx.shape.known_rank and idx.shape.ndims != len(shape) - 1:
        raise ValueError(f"sparse_softmax_cross_entropy_with_logits: labels of shape "
                         f"{list(idx.shape)} do not match logits of shape {list(shape)}")
    from .array_ops import one_hot
    with op_scope(name, "SparseSoftmaxCrossEntropyWithLogits", [x, idx]) as scope:
        z, ax = _shifted(x, -1)
        logp = make("sub", [z, _log_sum_exp(z, ax)])
        classes_iota = make("iota", [], shape=(classes,), axis=0, dtype=idx.dtype)
        checked = make("gather", [classes_iota, idx], axis=0, name="labels_in_range")
        picked = make("mul", [one_hot(checked, classes, dtype=x.dtype), logp])
        return make("neg", [make("reduce_sum", [picked], axes=(ax,), keepdims=False)],
                    name=scope)


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Elementwise logistic loss `max(x, 0) - x * z + log1p(exp(-|x|))` for logits `x`
    and labels `z` (stable for any x)."""
    _no_positional(_sentinel, "sigmoid_cross_entropy_with_logits")
    x, z = binary_operands(logits, labels, "logistic_loss")
    with op_scope(name, "logistic_loss", [x, z]) as scope:
        linear = make("sub", [_relu(x), make("mul", [x, z])])
        return make("add", [linear, _log1p_exp_neg_abs(x)], name=scope)


def bias_add(value, bias, data_format=None, name=None):
    """`value + bias` where `bias` is 1-D and matches the channel axis of `value`: the
    last one, or axis 1 for `data_format` "NC..." (e.g. "NCHW")."""
    x = convert_to_tensor(value)
    b = convert_to_tensor(bias) if _is_tensor_like(bias) else convert_to_tensor(bias, x.dtype)
    if rank_unknown(x):
        return deferred(lambda a, c: bias_add(a, c, data_format), [x, b], x.dtype,
                        name=name or "BiasAdd")
    shape = known_shape(x, "BiasAdd")
    if b.shape.ndims != 1 or len(shape) < 2:
        raise ValueError(f"BiasAdd: bias must be 1-D and value at least 2-D, got shapes "
                         f"{list(b.shape)} and {list(shape)}")
    channels_first = bool(data_format) and data_format.startswith("NC")
    if channels_first:
        b = make("reshape", [b], shape=tuple(b.shape) + (1,) * (len(shape) - 2))
    channel = shape[1] if channels_first else shape[-1]
    if isinstance(channel, int) and isinstance(b.shape[0], int) and channel != b.shape[0]:
        raise ValueError(f"BiasAdd: bias of size {b.shape[0]} does not match the "
                         f"{channel} channels of value {list(shape)}")
    return make("add", [x, b], name=name or "BiasAdd")


def xw_plus_b(x, weights, biases, name=None):
    """`matmul(x, weights) + biases`."""
    x = convert_to_tensor(x)
    with op_scope(name, "xw_plus_b", [x]) as scope:
        w = convert_to_tensor(weights)
        mm = make("matmul", [x, w], transpose_a=False, transpose_b=False)
        return bias_add(mm, biases, name=scope)


def l2_loss(t, name=None):
    """`sum(t ** 2) / 2` over all elements."""
    x = convert_to_tensor(t)
    with op_scope(name, "L2Loss", [x]) as scope:
        total = make("reduce_sum", [make("mul", [x, x])], axes=None, keepdims=False)
        return make("div", [total, constant(2, x.dtype)], name=scope)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """`x / sqrt(max(sum(x ** 2, axis), epsilon))`."""
    x = convert_to_tensor(x)
    axis = dim if axis is None else axis
    with op_scope(name, "l2_normalize", [x]) as scope:
        axes = _axes(x, axis, "l2_normalize")
        sq = make("reduce_sum", [make("mul", [x, x])], axes=axes, keepdims=True)
        inv = make("rsqrt", [make("maximum", [sq, constant(epsilon, x.dtype)])])
        return make("mul", [x, inv], name=scope)


__all__ = ["relu", "relu6", "elu", "softplus", "sigmoid", "tanh", "softmax", "log_softmax",
           "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
           "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits",
           "bias_add", "xw_plus_b", "l2_loss", "l2_normalize", "moments", "dropout",
           "rnn_cell", "static_rnn", "static_bidirectional_rnn", "in_top_k", "embedding_lookup",
           "nce_loss", "sampled_softmax_loss", "log_uniform_candidate_sampler",
           "uniform_candidate_sampler", "fixed_unigram_candidate_sampler",
           "weighted_moments", "normalize_moments", "batch_normalization", "fused_batch_norm",
           "local_response_normalization", "lrn"]

# fc.nn.dropout lives in random_ops.py (a floor below rnn.py's DropoutWrapper); fc.nn.rnn_cell.*
# and fc.nn.static_rnn live in rnn.py (which does not import this module).
from .clip_ops import in_top_k  # noqa: E402  (clip_ops does not import this module)
from .random_ops import dropout  # noqa: E402
from .rnn import rnn_cell, static_bidirectional_rnn, static_rnn  # noqa: E402
from .scan_ops import top_k  # noqa: E402

__all__ += ["top_k"]

# -- issue 14 / cfgrad: dynamic RNNs on while_loop (rnn_dynamic.py) --
from .rnn_dynamic import bidirectional_dynamic_rnn, dynamic_rnn  # noqa: E402

__all__ += ["dynamic_rnn", "bidirectional_dynamic_rnn"]

# -- issue 15 / pool: pooling, depthwise and separable convolutions (pooling.py, depthwise.py,
# composites of the window primitive `patches`) --
from .depthwise import depthwise_conv2d, depthwise_conv2d_native, separable_conv2d  # noqa: E402
from .pooling import (  # noqa: E402
    avg_pool,
    avg_pool1d,
    avg_pool3d,
    max_pool,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_pool_with_argmax,
    pool,
)

__all__ += ["max_pool", "avg_pool", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d",
            "avg_pool3d", "pool", "max_pool_with_argmax", "depthwise_conv2d",
            "depthwise_conv2d_native", "separable_conv2d"]
# -- end pool --

# -- issue 15 / convfe: convolutions (conv_ops.py) --
from .conv_ops import (  # noqa: E402
    atrous_conv2d,
    atrous_conv2d_transpose,
    conv1d,
    conv2d,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    conv2d_transpose,
    conv3d,
    conv3d_transpose,
    convolution,
)

__all__ += ["atrous_conv2d", "atrous_conv2d_transpose", "conv1d", "conv2d",
            "conv2d_backprop_filter", "conv2d_backprop_input", "conv2d_transpose", "conv3d",
            "conv3d_transpose", "convolution"]
# -- end convfe --
