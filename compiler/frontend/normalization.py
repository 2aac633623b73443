"""`fc.nn` normalization: moments, batch normalization and local response normalization,
as composites of the reduce, elementwise and movement primitives (no primitive of their
own: each is a handful of reductions and elementwise ops that fuse with their
neighbours, and their gradients come from autodiff of the composite).

- `moments(x, axes)`, `weighted_moments(x, axes, frequency_weights)`,
  `normalize_moments(counts, mean_ss, variance_ss, shift)`: TF1's statistics (variance as
  the biased mean squared deviation; the mean is held constant in the variance's
  gradient, as TF1's `stop_gradient` does, which changes nothing mathematically).
- `batch_normalization(x, mean, variance, offset, scale, variance_epsilon)`: TF1's
  formula `x * inv + (offset - mean * inv)` with `inv = rsqrt(variance + eps) * scale`.
- `fused_batch_norm(x, scale, offset, mean=None, variance=None, ...)`: TF1's fused op
  on a 4-D NHWC or NCHW input; in training it normalizes with the biased batch variance
  but returns the Bessel-corrected one (n / (n - 1)), as TF1's kernel does; epsilon is
  raised to at least 1.001e-5 (cuDNN's minimum, which TF1 applies on every device).
- `local_response_normalization` / `lrn`: `x / (bias + alpha * sqr_sum) ** beta`, the
  square sum over a window of `2 * depth_radius + 1` channels of the last axis, built
  as a sum of shifted slices of the zero-padded squares.

Nothing here creates variables (the layers live in norm_layers.py) or runs a graph.
"""

from __future__ import annotations

from ..ir import dtypes as T
from .core import constant, convert_to_tensor, identity, known_shape, make, op_scope
from .manip_ops import squeeze
from .math_ops import cast
from .reduce_ops import _axes, _element_count, reduce_mean, reduce_sum

FUSED_MIN_EPSILON = 1.001e-5


def _float_input(x, opname):
    x = convert_to_tensor(x)
    if not x.dtype.is_float:
        raise TypeError(f"{opname}: {x.name!r} must be a float tensor, got {x.dtype.name}")
    return x


def _compute_dtype(x):
    """float16 statistics are computed in float32, as TF1 does."""
    return T.float32 if x.dtype is T.float16 else x.dtype


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """`(mean, variance)` of `x` over `axes` (a list of ints; negative ones count from
    the end). `variance` is the biased mean squared deviation. With `keep_dims` /
    `keepdims` the reduced axes stay as 1s. `shift` is accepted and unused, as in TF1."""
    x = convert_to_tensor(x)
    keep = bool(keep_dims if keepdims is None else keepdims)
    with op_scope(name, "moments", [x]):
        axes = _axes(x, axes, "moments")
        y = cast(x, T.float32) if x.dtype is T.float16 else x
        if y.dtype.is_float:  # one element count for both means (symbolic dims: a kernel)
            count = _element_count(y, axes)
            mean = make("div", [reduce_sum(y, axes, keepdims=True), count], name="mean")
        else:
            mean = reduce_mean(y, axes, keepdims=True, name="mean")
        dev = make("sub", [y, make("stop_gradient", [mean])])
        sq = make("mul", [dev, dev])
        if y.dtype.is_float:
            var = make("div", [reduce_sum(sq, axes, keepdims=True), count], name="variance")
        else:
            var = reduce_mean(sq, axes, keepdims=True, name="variance")
        if not keep:
            mean, var = squeeze(mean, axes), squeeze(var, axes)
        if x.dtype is T.float16:
            mean, var = cast(mean, T.float16), cast(var, T.float16)
        return mean, var


def weighted_moments(x, axes, frequency_weights, name=None, keep_dims=None, keepdims=None):
    """`(mean, variance)` of `x` over `axes` with each element counted
    `frequency_weights` times (weights broadcast against `x`)."""
    x = _float_input(x, "weighted_moments")
    keep = bool(keep_dims if keepdims is None else keepdims)
    with op_scope(name, "weighted_moments", [x]):
        axes = _axes(x, axes, "weighted_moments")
        w = convert_to_tensor(frequency_weights, x.dtype)
        if w.dtype is not x.dtype:
            w = cast(w, x.dtype)
        total = reduce_sum(make("mul", [w, x]), axes, keepdims=True, name="weighted_input_sum")
        weights = make("add", [w, make("mul", [x, constant(0, x.dtype)])])
        weight_sum = reduce_sum(weights, axes, keepdims=True, name="sum_of_weights")
        divisor = make("div", [constant(1, x.dtype), weight_sum], name="inv_weight_sum")
        mean = make("mul", [total, divisor])
        dev = make("sub", [x, mean])
        distsq = reduce_sum(make("mul", [w, make("mul", [dev, dev])]), axes, keepdims=True,
                            name="weighted_distsq")
        var = make("mul", [distsq, divisor])
        if not keep:
            mean, var = squeeze(mean, axes), squeeze(var, axes)
        return mean, var


def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """`(mean, variance)` from sufficient statistics: `mean = mean_ss / counts (+ shift)`,
    `variance = variance_ss / counts - (mean_ss / counts) ** 2`."""
    mean_ss = convert_to_tensor(mean_ss)
    with op_scope(name, "normalize", [mean_ss]):
        dtype = mean_ss.dtype
        divisor = make("div", [constant(1, dtype), convert_to_tensor(counts, dtype)],
                       name="divisor")
        shifted = make("mul", [mean_ss, divisor], name="mean" if shift is None else None)
        mean = shifted if shift is None else make(
            "add", [shifted, convert_to_tensor(shift, dtype)], name="mean")
        var_ss = make("mul", [convert_to_tensor(variance_ss, dtype), divisor])
        var = make("sub", [var_ss, make("mul", [shifted, shifted])], name="variance")
        return mean, var


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """`scale * (x - mean) / sqrt(variance + variance_epsilon) + offset`, computed as
    TF1 does: `inv = rsqrt(variance + eps) * scale; x * inv + (offset - mean * inv)`.
    `offset` and `scale` may be None; all operands broadcast against `x`."""
    x = _float_input(x, "batchnorm")
    with op_scope(name, "batchnorm", [x]) as scope:
        mean = convert_to_tensor(mean, x.dtype)
        variance = convert_to_tensor(variance, x.dtype)
        eps = constant(variance_epsilon, variance.dtype)
        inv = make("rsqrt", [make("add", [variance, eps])])
        if scale is not None:
            inv = make("mul", [inv, convert_to_tensor(scale, x.dtype)])
        shift = make("neg", [make("mul", [mean, inv])]) if offset is None else make(
            "sub", [convert_to_tensor(offset, x.dtype), make("mul", [mean, inv])])
        return make("add", [make("mul", [x, _as_dtype(inv, x.dtype)]),
                            _as_dtype(shift, x.dtype)], name=scope)


def _as_dtype(t, dtype):
    return t if t.dtype is dtype else cast(t, dtype)


def _channel_layout(data_format, opname):
    """(channel axis, reduction axes) of a 4-D tensor in `data_format`."""
    fmt = "NHWC" if data_format is None else data_format
    if fmt == "NHWC":
        return 3, (0, 1, 2)
    if fmt == "NCHW":
        return 1, (0, 2, 3)
    raise ValueError(f"{opname}: data_format must be 'NHWC' or 'NCHW', got {data_format!r}")


def _per_channel(v, what, channels, opname, dtype):
    """`v` as a 1-D [channels] tensor of `dtype`; ValueError naming `what` otherwise."""
    t = convert_to_tensor(v, dtype)
    if t.shape.ndims != 1:
        raise ValueError(f"{opname}: {what} must be a 1-D tensor of {channels} channels, got "
                         f"shape {t.shape}")
    size = t.shape[0]
    if isinstance(size, int) and isinstance(channels, int) and size != channels:
        raise ValueError(f"{opname}: {what} has {size} elements but x has {channels} "
                         "channels")
    return _as_dtype(t, dtype)


def batch_stats(x, axes):
    """(mean, biased variance, Bessel-corrected variance `n / max(n - 1, 1) * var`) of
    `x` over `axes`, n the number of elements reduced (symbolic dims allowed)."""
    mean, var = moments(x, axes)
    n = _element_count(x, axes)
    one = constant(1, var.dtype)
    factor = make("div", [n, make("maximum", [make("sub", [n, one]), one])])
    return mean, var, make("mul", [var, factor], name="batch_variance")


def _to_channel(v, axis):
    """A [C] tensor reshaped to broadcast along `axis` of a 4-D tensor."""
    if axis == 3:
        return v
    return make("reshape", [v], shape=(v.shape[0], 1, 1))


def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001,
                     data_format="NHWC", is_training=True, name=None):
    """TF1's fused batch norm of a 4-D `x`: returns `(y, batch_mean, batch_variance)`.

    Training (`is_training=True`, `mean`/`variance` None): statistics over N, H, W; `y`
    uses the biased variance; the returned variance is Bessel-corrected
    (`n / max(n - 1, 1)`, n = N*H*W), as TF1's kernel returns it. Inference: `y` uses the
    given `mean` and `variance`, which are returned as they are."""
    x = _float_input(x, "FusedBatchNorm")
    shape = known_shape(x, "FusedBatchNorm")
    if len(shape) != 4:
        raise ValueError(f"FusedBatchNorm: x {x.name!r} must be a 4-D tensor, got shape "
                         f"{list(shape)}")
    axis, reduce_axes = _channel_layout(data_format, "FusedBatchNorm")
    if not is_training and (mean is None or variance is None):
        raise ValueError("FusedBatchNorm: both 'mean' and 'variance' must be 1-D tensors "
                         "when is_training is False")
    epsilon = max(float(epsilon), FUSED_MIN_EPSILON)
    ctype = _compute_dtype(x)
    channels = shape[axis]
    with op_scope(name, "FusedBatchNorm", [x]) as scope:
        gamma = _per_channel(scale, "scale", channels, "FusedBatchNorm", ctype)
        beta = _per_channel(offset, "offset", channels, "FusedBatchNorm", ctype)
        xc = _as_dtype(x, ctype)
        if is_training:
            mean_out, var, var_out = batch_stats(xc, reduce_axes)
        else:
            mean_out = _per_channel(mean, "mean", channels, "FusedBatchNorm", ctype)
            var = var_out = _per_channel(variance, "variance", channels, "FusedBatchNorm",
                                         ctype)
        inv = make("mul", [make("rsqrt", [make("add", [var, constant(epsilon, ctype)])]),
                           gamma])
        centered = make("sub", [xc, _to_channel(mean_out, axis)])
        y = make("add", [make("mul", [centered, _to_channel(inv, axis)]),
                         _to_channel(beta, axis)])
        y = identity(_as_dtype(y, x.dtype), name=scope)
        return y, mean_out, var_out


def local_response_normalization(input, depth_radius=5, bias=1, alpha=1, beta=0.5,  # noqa: A002
                                 name=None):
    """`input / (bias + alpha * sqr_sum) ** beta` over the last axis of a 4-D float
    `input`, where `sqr_sum[..., d]` sums `input[..., d - r : d + r + 1] ** 2`
    (`r = depth_radius`, the window clipped at the edges)."""
    x = _float_input(input, "LRN")
    shape = known_shape(x, "LRN")
    if len(shape) != 4:
        raise ValueError(f"LRN: input {x.name!r} must be 4-D, got shape {list(shape)}")
    r = int(depth_radius)
    if r < 0:
        raise ValueError(f"LRN: depth_radius must be >= 0, got {depth_radius}")
    channels = shape[3]
    if not isinstance(channels, int):
        raise ValueError(f"LRN: the channel dim of {x.name!r} must be static, got {channels}")
    with op_scope(name, "LRN", [x]) as scope:
        sq = make("mul", [x, x])
        padded = make("pad", [sq], pads=((0, 0),) * 3 + ((r, r),), value=0.0) if r else sq
        sqr_sum = None
        for k in range(2 * r + 1):
            part = _channel_slice(padded, k, channels)
            sqr_sum = part if sqr_sum is None else make("add", [sqr_sum, part])
        base = make("add", [constant(bias, x.dtype),
                            make("mul", [constant(alpha, x.dtype), sqr_sum])])
        return make("mul", [x, _inverse_power(base, float(beta))], name=scope)


def _channel_slice(t, start, size):
    """`t[..., start:start + size]` of a 4-D tensor."""
    dims = tuple(t.shape)
    return make("slice", [t], begin=(0, 0, 0, start), size=dims[:3] + (size,),
                stride=(1, 1, 1, 1))


def _inverse_power(base, beta):
    """`base ** -beta`: 1/base, rsqrt or a pow, as TF's kernel picks."""
    if beta == 1.0:
        return make("div", [constant(1, base.dtype), base])
    if beta == 0.5:
        return make("rsqrt", [base])
    return make("pow", [base, constant(-beta, base.dtype)])


lrn = local_response_normalization

__all__ = ["moments", "weighted_moments", "normalize_moments", "batch_normalization",
           "fused_batch_norm", "local_response_normalization", "lrn"]
