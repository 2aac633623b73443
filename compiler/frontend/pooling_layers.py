"""`fc.layers` pooling and separable-convolution layers (TF1's `tf.layers`):

- functions `max_pooling1d/2d/3d`, `average_pooling1d/2d/3d(inputs, pool_size, strides,
  padding="valid", data_format="channels_last", name=None)` and the classes
  `MaxPooling1D/2D/3D`, `AveragePooling1D/2D/3D` (constructed with the same arguments,
  applied by calling them), built on compiler/frontend/pooling.py; the ops live under a
  name scope `max_pooling2d` (made unique: `max_pooling2d_1`, ...), as in TF1.
- `separable_conv2d(inputs, filters, kernel_size, ...)` and the class `SeparableConv2D`:
  variables `NAME/depthwise_kernel` [KH, KW, C, depth_multiplier], `NAME/pointwise_kernel`
  [1, 1, C * depth_multiplier, filters] and `NAME/bias` [filters] (default name
  `separable_conv2d`, unique per graph; reuse through `variable_scope` as `dense` does),
  computing `activation(separable_conv2d(...) + bias)` (compiler/frontend/depthwise.py).

Nothing here runs a graph.
"""

from __future__ import annotations

from .control_flow import name_scope
from .core import convert_to_tensor, known_shape
from .depthwise import separable_conv2d as nn_separable_conv2d
from .init_ops import glorot_uniform_initializer, zeros_initializer
from .nn import bias_add
from .padding import FORMATS, error
from .pooling import _pool
from .variable_scope import get_variable, variable_scope


def _format(data_format, nsp, op):
    if data_format in (None, "channels_last"):
        return FORMATS[nsp][0]
    if data_format == "channels_first":
        return FORMATS[nsp][1]
    raise error(ValueError, op, f"data_format must be 'channels_last' or 'channels_first', "
                                f"got {data_format!r}")


def _pool_layer(kind, nsp, inputs, pool_size, strides, padding, data_format, name, default):
    fmt = _format(data_format, nsp, default)
    op_name = "MaxPool" if kind == "MAX" else "AvgPool"
    with name_scope(name or default):
        return _pool(kind, inputs, nsp, pool_size, strides, padding, fmt, op_name, op_name)


class _Pooling:
    """A pooling layer object: the arguments now, the input when called."""

    _fn = None

    def __init__(self, pool_size, strides, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        self.pool_size, self.strides, self.padding = pool_size, strides, padding
        self.data_format, self.name = data_format, name

    def __call__(self, inputs):
        return type(self)._fn(inputs, self.pool_size, self.strides, self.padding,
                              self.data_format, self.name)

    apply = __call__


def _pooling(kind, nsp):
    """The function (`max_pooling2d`) and the class (`MaxPooling2D`) of TF1's
    `tf.layers` pooling of `kind` ("MAX" or "AVG") over `nsp` spatial axes."""
    default = f"{'max' if kind == 'MAX' else 'average'}_pooling{nsp}d"

    def layer(inputs, pool_size, strides, padding="valid", data_format="channels_last",
              name=None):
        return _pool_layer(kind, nsp, inputs, pool_size, strides, padding, data_format,
                           name, default)

    layer.__name__ = layer.__qualname__ = default
    layer.__doc__ = (f"TF1's `tf.layers.{default}` (pool_size, strides: an int or "
                     f"{nsp} ints).")
    cls_name = f"{'Max' if kind == 'MAX' else 'Average'}Pooling{nsp}D"
    cls = type(cls_name, (_Pooling,), {
        "_fn": staticmethod(layer), "__module__": __name__, "__qualname__": cls_name,
        "__doc__": f"`tf.layers.{cls_name}`: the arguments of `{default}` now, the input "
                   f"when called."})
    return layer, cls


max_pooling1d, MaxPooling1D = _pooling("MAX", 1)
max_pooling2d, MaxPooling2D = _pooling("MAX", 2)
max_pooling3d, MaxPooling3D = _pooling("MAX", 3)
average_pooling1d, AveragePooling1D = _pooling("AVG", 1)
average_pooling2d, AveragePooling2D = _pooling("AVG", 2)
average_pooling3d, AveragePooling3D = _pooling("AVG", 3)


def _pair(v, what):
    vals = [v, v] if isinstance(v, int) else list(v)
    if len(vals) != 2 or not all(isinstance(a, int) and a > 0 for a in vals):
        raise error(ValueError, "separable_conv2d", f"{what} must be a positive int or a "
                                                    f"pair, got {v!r}")
    return vals


def separable_conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid",
                     data_format="channels_last", dilation_rate=(1, 1), depth_multiplier=1,
                     activation=None, use_bias=True, depthwise_initializer=None,
                     pointwise_initializer=None, bias_initializer=None,
                     depthwise_regularizer=None, pointwise_regularizer=None,
                     bias_regularizer=None, activity_regularizer=None,
                     depthwise_constraint=None, pointwise_constraint=None,
                     bias_constraint=None, trainable=True, name=None, reuse=None):
    """TF1's `tf.layers.separable_conv2d` (see the module docstring)."""
    if activity_regularizer is not None or depthwise_constraint is not None or \
            pointwise_constraint is not None or bias_constraint is not None:
        raise NotImplementedError("separable_conv2d: activity_regularizer and constraints "
                                  "are not supported")
    args = dict(strides=strides, padding=padding, data_format=data_format,
                dilation_rate=dilation_rate, depth_multiplier=depth_multiplier,
                activation=activation, use_bias=use_bias,
                initializers=(depthwise_initializer, pointwise_initializer, bias_initializer),
                regularizers=(depthwise_regularizer, pointwise_regularizer, bias_regularizer),
                trainable=trainable)
    return _separable(inputs, filters, kernel_size, name, reuse, **args)[0]


def _separable(inputs, filters, kernel_size, scope, reuse, strides, padding, data_format,
               dilation_rate, depth_multiplier, activation, use_bias, initializers,
               regularizers, trainable):
    """(the layer's output, its VariableScope); `scope` is a name, None or a scope."""
    x = convert_to_tensor(inputs)
    fmt = _format(data_format, 2, "separable_conv2d")
    dims = known_shape(x, "separable_conv2d")
    channels = (dims[-1] if fmt == "NHWC" else dims[1]) if len(dims) == 4 else None
    if not isinstance(channels, int):
        raise error(ValueError, "separable_conv2d", f"the input {x.name!r} must be 4-D with "
                                                    f"a static channel axis, got {list(dims)}")
    kh, kw = _pair(kernel_size, "kernel_size")
    steps, rates = _pair(strides, "strides"), _pair(dilation_rate, "dilation_rate")
    mult, filters = int(depth_multiplier), int(filters)
    d_init, p_init, b_init = initializers
    d_reg, p_reg, b_reg = regularizers
    with variable_scope(scope, default_name="separable_conv2d", values=[x],
                        reuse=reuse) as vs:
        dw = get_variable("depthwise_kernel", [kh, kw, channels, mult], dtype=x.dtype,
                          trainable=trainable, regularizer=d_reg,
                          initializer=d_init or glorot_uniform_initializer())
        pw = get_variable("pointwise_kernel", [1, 1, channels * mult, filters],
                          dtype=x.dtype, trainable=trainable, regularizer=p_reg,
                          initializer=p_init or glorot_uniform_initializer())
        y = nn_separable_conv2d(x, dw, pw, strides=steps, padding=padding.upper(),
                                data_format=fmt, dilations=rates)
        if use_bias:
            bias = get_variable("bias", [filters], dtype=x.dtype, trainable=trainable,
                                initializer=b_init or zeros_initializer(), regularizer=b_reg)
            y = bias_add(y, bias, data_format=fmt)
        return (activation(y) if activation is not None else y), vs


class SeparableConv2D:
    """`tf.layers.SeparableConv2D`: the arguments of `separable_conv2d` now, the input
    when called; the variables are made on the first call and reused after it."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format="channels_last", dilation_rate=(1, 1), depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer=None,
                 pointwise_initializer=None, bias_initializer=None, trainable=True,
                 name=None, **kwargs):
        self.filters, self.kernel_size, self.name = filters, kernel_size, name
        self.args = dict(strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, depth_multiplier=depth_multiplier,
                         activation=activation, use_bias=use_bias,
                         initializers=(depthwise_initializer, pointwise_initializer,
                                       bias_initializer),
                         regularizers=(None, None, None), trainable=trainable)
        self._scope = None

    def __call__(self, inputs):
        scope = self._scope if self._scope is not None else self.name
        y, vs = _separable(inputs, self.filters, self.kernel_size, scope,
                           True if self._scope is not None else None, **self.args)
        self._scope = vs
        return y

    apply = __call__
