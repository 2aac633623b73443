"""`fc.layers`: the TF1 functional layers the seed's models use (`tf.layers.dense`).

`dense(inputs, units, ...)` creates (or, with reuse, returns) the variables
`NAME/kernel` [in, units] and `NAME/bias` [units] through `variable_scope` and
`get_variable`, and computes `activation(inputs @ kernel + bias)` over the last axis of
`inputs`, whatever its rank: an input of rank > 2 is reshaped to 2-D, multiplied and
reshaped back, keeping symbolic batch dims symbolic. The last axis must be static. The
default name is `dense`, made unique (`dense_1`, ...) as TF1 does.

`dropout(inputs, rate=0.5, training=False, ...)` is `fc.nn.dropout` switched by a Python
bool or a bool tensor; `flatten(inputs)` keeps the batch dim and flattens the rest.
`batch_normalization` and `BatchNormalization` live in norm_layers.py. Nothing here runs a
graph; the layers are plain functions (BatchNormalization is a small class), not Keras
objects.
"""

from __future__ import annotations

import math

from ..ir import dtypes as T
from .control_flow import identity
from .core import convert_to_tensor, known_shape, op_scope
from .init_ops import glorot_uniform_initializer, zeros_initializer
from .manip_ops import reshape, transpose, where
from .math_ops import matmul
from .nn import bias_add
from .nn import dropout as nn_dropout
from .norm_layers import BatchNormalization, batch_normalization  # noqa: F401  (fc.layers.*)
from .variable_scope import get_variable, variable_scope


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=None, kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
          trainable=True, name=None, reuse=None):
    """`activation(inputs @ kernel + bias)` over the last axis of `inputs` (TF1's
    `tf.layers.dense`). Kernel defaults to glorot_uniform, bias to zeros."""
    if activity_regularizer is not None or kernel_constraint is not None \
            or bias_constraint is not None:
        raise NotImplementedError("dense: activity_regularizer and constraints are not "
                                  "supported")
    x = convert_to_tensor(inputs)
    dims = known_shape(x, "dense")
    if len(dims) < 2:
        raise ValueError(f"dense: the input {x.name!r} must have rank >= 2, got {len(dims)}")
    depth = dims[-1]
    if not isinstance(depth, int):
        raise ValueError(f"dense: the last dimension of {x.name!r} must be known at build "
                         f"time, got {depth}")
    dtype = x.dtype if x.dtype.is_float else T.float32
    with variable_scope(name, default_name="dense", values=[x], reuse=reuse):
        kernel = get_variable("kernel", [depth, int(units)], dtype=dtype,
                              initializer=kernel_initializer or glorot_uniform_initializer(),
                              regularizer=kernel_regularizer, trainable=trainable)
        bias = None
        if use_bias:
            bias = get_variable("bias", [int(units)], dtype=dtype,
                                initializer=bias_initializer or zeros_initializer(),
                                regularizer=bias_regularizer, trainable=trainable)
        return _apply(x, dims, kernel, bias, activation, int(units))


def _apply(x, dims, kernel, bias, activation, units):
    """`x @ kernel (+ bias)`, activated, over the last axis of `x` (dims: x's shape)."""
    flat = x if len(dims) == 2 else reshape(x, [-1, dims[-1]])
    y = matmul(flat, kernel)
    if bias is not None:
        y = bias_add(y, bias, name="BiasAdd")
    if len(dims) > 2:
        y = reshape(y, list(dims[:-1]) + [units], name="Tensordot")
    if activation is not None:
        y = activation(y)
    return y


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """TF1's `tf.layers.dropout`: `fc.nn.dropout(inputs, rate=rate)` when `training` is
    true, `inputs` unchanged otherwise. `training` is a Python bool or a bool tensor (a
    `placeholder_with_default(False, [])`); for a tensor, the rate fed to the mask is
    `where(training, rate, 0)`, so the graph is the same in both modes."""
    x = convert_to_tensor(inputs)
    if isinstance(training, bool):
        if not training:
            return identity(x, name=name or "dropout")
        return nn_dropout(x, rate=rate, noise_shape=noise_shape, seed=seed, name=name)
    flag = convert_to_tensor(training)
    with op_scope(name, "dropout", [x]):
        zero = convert_to_tensor(0.0, x.dtype)
        applied = where(flag, convert_to_tensor(rate, x.dtype), zero)
        return nn_dropout(x, rate=applied, noise_shape=noise_shape, seed=seed)


def flatten_rest(x, dims):
    """The dims after the batch dim of `x` (`dims`: its shape), which a flatten (tf.layers'
    and contrib's) collapses into one: they must be static, and x at least a vector."""
    if len(dims) < 1:
        raise ValueError(f"flatten: inputs must have rank >= 1, got a scalar {x.name!r}")
    rest = dims[1:]
    if not all(isinstance(d, int) for d in rest):
        raise ValueError(f"flatten: the dims after the batch dim must be static, got "
                         f"{list(dims)} for {x.name!r}")
    return rest


def flatten(inputs, name=None, data_format="channels_last"):
    """TF1's `tf.layers.flatten`: [batch, ...] -> [batch, prod(...)] (the dims after the
    batch dim must be static; the batch dim may be symbolic). With
    `data_format="channels_first"` the channel axis is moved last first, as Keras does, so
    the element order matches a channels-last flatten."""
    x = convert_to_tensor(inputs)
    dims = known_shape(x, "flatten")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"flatten: data_format must be 'channels_last' or "
                         f"'channels_first', got {data_format!r}")
    rest = flatten_rest(x, dims)
    with op_scope(name, "flatten", [x]) as scope:
        if data_format == "channels_first" and len(dims) >= 3:
            x = transpose(x, [0] + list(range(2, len(dims))) + [1])
        return reshape(x, [-1, math.prod(rest)], name=scope)


__all__ = ["dense", "dropout", "flatten"]

# -- issue 15 / norm: batch normalization (norm_layers.py) --
__all__ += ["BatchNormalization", "batch_normalization"]

# -- issue 15 / pool: pooling layers and separable_conv2d (pooling_layers.py) --
from .pooling_layers import (  # noqa: E402
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    SeparableConv2D,
    average_pooling1d,
    average_pooling2d,
    average_pooling3d,
    max_pooling1d,
    max_pooling2d,
    max_pooling3d,
    separable_conv2d,
)

__all__ += ["max_pooling1d", "max_pooling2d", "max_pooling3d", "average_pooling1d",
            "average_pooling2d", "average_pooling3d", "MaxPooling1D", "MaxPooling2D",
            "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
            "separable_conv2d", "SeparableConv2D"]
# -- end pool --

# -- issue 15 / convfe: convolution layers (conv_layers.py) --
from .conv_layers import (  # noqa: E402
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    conv1d,
    conv2d,
    conv2d_transpose,
    conv3d,
    conv3d_transpose,
)

__all__ += ["Conv1D", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "conv1d",
            "conv2d", "conv2d_transpose", "conv3d", "conv3d_transpose"]
# -- end convfe --
