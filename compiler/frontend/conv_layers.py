"""The convolution layers: `fc.layers.conv1d/conv2d/conv3d/conv2d_transpose/
conv3d_transpose`, their classes `fc.layers.Conv1D/Conv2D/Conv3D/Conv2DTranspose/
Conv3DTranspose`, and `fc.contrib.layers.conv2d` (= `convolution2d`) / `conv2d_transpose`.

A layer object makes its variables at its first call, under a variable scope named
`name` or the default (`conv2d`, made unique: `conv2d_1`, ... as TF1 does, like
`fc.layers.dense`): `conv2d/kernel` [*kernel_size, C_in, filters] (glorot_uniform unless
`kernel_initializer`) and `conv2d/bias` [filters] (zeros); a transposed layer's kernel
is [*kernel_size, filters, C_in]. Later calls of the same object reuse them. The
function forms build one object and call it, so `reuse=True` with the same `name`
shares the variables through `get_variable`. Padding is "valid"/"same" in any case,
data_format "channels_last"/"channels_first". The output of a transposed layer is
Keras's: `S * stride` for "same", `S * stride + max(K - stride, 0)` for "valid".

The contrib forms follow `tf.contrib.layers`: scope `Conv` (`Conv_1`, ...) with
`Conv/weights` and `Conv/biases`, `activation_fn` relu by default, and
`normalizer_fn(outputs, **normalizer_params)` instead of the biases when given.
The convolutions themselves are compiler/frontend/conv_ops.py's. Nothing here runs a graph.
"""

from __future__ import annotations

from .conv_ops import _backprop_input, _conv, _shape
from .core import convert_to_tensor, known_shape
from .init_ops import glorot_uniform_initializer, zeros_initializer
from .nn import bias_add, relu
from .padding import FORMATS, channels_first, error
from .static import is_int_like
from .variable_scope import get_variable, variable_scope
from .variables import add_to_collection

_LAYER_FORMATS = ("channels_last", "channels_first")
MODEL_VARIABLES = "model_variables"  # TF1's GraphKeys.MODEL_VARIABLES (contrib layers)
_ZEROS = zeros_initializer()  # contrib's default biases_initializer (None: no biases)


def _tuple(value, n, what, opname):
    """An int or n ints -> a tuple of n positive ints."""
    if is_int_like(value):
        vals = [value] * n
    elif isinstance(value, (list, tuple)):
        vals = list(value)
    else:
        vals = None
    if vals is None or len(vals) != n or not all(is_int_like(v) and v >= 1 for v in vals):
        raise error(ValueError, opname, f"{what} must be a positive int or {n} of them, got "
                                        f"{value!r}")
    return tuple(int(v) for v in vals)


def _padding(padding, opname):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise error(ValueError, opname, f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.upper()


def _input(inputs, nsp, first, opname):
    """The input tensor, its rank and static channel count checked."""
    x = convert_to_tensor(inputs)
    dims = known_shape(x, opname)
    if len(dims) != nsp + 2:
        raise error(ValueError, opname, f"the input {x.name!r} must be {nsp + 2}-D, got "
                                        f"shape {_shape(x)}")
    channels = dims[1] if first else dims[-1]
    if not isinstance(channels, int):
        raise error(ValueError, opname, f"the channel dimension of the input {x.name!r} "
                                        f"{_shape(x)} must be known when the graph is built")
    return x, dims, channels


class _Conv:
    """A tf.layers convolution; subclasses set `_nsp`, `_default` and `_transpose`."""

    _nsp = 2
    _default = "conv2d"
    _transpose = False

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer=None, bias_initializer=None, kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, trainable=True, name=None, _reuse=None, **kwargs):
        opname = self._default
        if activity_regularizer is not None or kernel_constraint is not None \
                or bias_constraint is not None:
            raise NotImplementedError(f"{opname}: activity_regularizer and constraints are "
                                      f"not supported")
        self._dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"{opname}: unexpected arguments {sorted(kwargs)}")
        if data_format not in _LAYER_FORMATS:
            raise error(ValueError, opname, f"data_format must be 'channels_last' or "
                                            f"'channels_first', got {data_format!r}")
        n = self._nsp
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", opname)
        self.strides = _tuple(strides, n, "strides", opname)
        self.dilation_rate = _tuple(dilation_rate, n, "dilation_rate", opname)
        if self._transpose and self.dilation_rate != (1,) * n:
            raise error(ValueError, opname, "dilation_rate must be 1 for a transposed conv")
        self.padding = _padding(padding, opname)
        self.data_format = data_format
        self.activation, self.use_bias, self.trainable = activation, use_bias, trainable
        self._init = (kernel_initializer, bias_initializer)
        self._reg = (kernel_regularizer, bias_regularizer)
        self._name, self._reuse, self._scope = name, _reuse, None
        self.kernel = self.bias = None

    @property
    def name(self):
        return self._scope.name if self._scope is not None else self._name or self._default

    @property
    def variables(self):
        return [v for v in (self.kernel, self.bias) if v is not None]

    weights = variables

    @property
    def trainable_variables(self):
        return self.variables if self.trainable else []

    trainable_weights = trainable_variables

    def __call__(self, inputs):
        first = self.data_format == "channels_first"
        x, dims, channels = _input(inputs, self._nsp, first, self._default)
        if self._scope is not None:
            with variable_scope(self._scope, reuse=True):
                return self._call(x, dims, first)
        with variable_scope(self._name, default_name=self._default, values=[x],
                            reuse=self._reuse) as scope:
            self._scope = scope
            self._build(x, channels)
            return self._call(x, dims, first)

    apply = __call__

    def _build(self, x, channels):
        dtype = x.dtype if self._dtype is None else self._dtype
        io = (self.filters, channels) if self._transpose else (channels, self.filters)
        self.kernel = get_variable("kernel", list(self.kernel_size) + list(io), dtype=dtype,
                                   initializer=self._init[0] or glorot_uniform_initializer(),
                                   regularizer=self._reg[0], trainable=self.trainable)
        if self.use_bias:
            self.bias = get_variable("bias", [self.filters], dtype=dtype,
                                     initializer=self._init[1] or zeros_initializer(),
                                     regularizer=self._reg[1], trainable=self.trainable)

    def _call(self, x, dims, first):
        fmt = FORMATS[self._nsp][int(first)]
        opname = f"Conv{self._nsp}D"
        if self._transpose:
            spatial = dims[2:] if first else dims[1:-1]
            out = [_deconv_length(s, k, st, self.padding)
                   for s, k, st in zip(spatial, self.kernel_size, self.strides)]
            shape = [dims[0], self.filters] + out if first else [dims[0]] + out + [self.filters]
            y = _backprop_input(shape, self.kernel, x, self._nsp, self.strides, self.padding,
                                1, fmt, None, f"{opname}Transpose", "output_shape")
        else:
            y = _conv(x, self.kernel, self._nsp, self.strides, self.padding,
                      self.dilation_rate, fmt, None, opname)
        if self.bias is not None:
            y = bias_add(y, self.bias, data_format=fmt if first else None)
        return self.activation(y) if self.activation is not None else y


def _deconv_length(size, k, stride, padding):
    if padding == "SAME":
        return size * stride
    return size * stride + max(k - stride, 0)


class Conv1D(_Conv):
    _nsp, _default = 1, "conv1d"


class Conv2D(_Conv):
    _nsp, _default = 2, "conv2d"


class Conv3D(_Conv):
    _nsp, _default = 3, "conv3d"


class _ConvTranspose(_Conv):
    """TF1's transposed conv layers: the same arguments without dilation_rate."""

    _transpose = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", activation=None, use_bias=True,
                 kernel_initializer=None, bias_initializer=None, kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, trainable=True, name=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format,
                         kwargs.pop("dilation_rate", 1), activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint,
                         bias_constraint, trainable, name, **kwargs)


class Conv2DTranspose(_ConvTranspose):
    _nsp, _default = 2, "conv2d_transpose"


class Conv3DTranspose(_ConvTranspose):
    _nsp, _default = 3, "conv3d_transpose"


def _functional(cls):
    def layer(inputs, filters, kernel_size, strides=1, padding="valid",
              data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
              kernel_initializer=None, bias_initializer=None, kernel_regularizer=None,
              bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
              bias_constraint=None, trainable=True, name=None, reuse=None):
        return cls(filters, kernel_size, strides=strides, padding=padding,
                   data_format=data_format, dilation_rate=dilation_rate,
                   activation=activation, use_bias=use_bias,
                   kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                   kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                   activity_regularizer=activity_regularizer,
                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                   trainable=trainable, name=name, _reuse=reuse)(inputs)
    layer.__name__ = cls._default
    layer.__qualname__ = cls._default
    layer.__doc__ = (f"TF1's `tf.layers.{cls._default}`: `{cls.__name__}(...)(inputs)` "
                     f"(see the module docstring).")
    return layer


conv1d = _functional(Conv1D)
conv2d = _functional(Conv2D)
conv3d = _functional(Conv3D)


def _functional_transpose(cls):
    def layer(inputs, filters, kernel_size, strides=1, padding="valid",
              data_format="channels_last", activation=None, use_bias=True,
              kernel_initializer=None, bias_initializer=None, kernel_regularizer=None,
              bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
              bias_constraint=None, trainable=True, name=None, reuse=None):
        return cls(filters, kernel_size, strides, padding, data_format, activation, use_bias,
                   kernel_initializer, bias_initializer, kernel_regularizer,
                   bias_regularizer, activity_regularizer, kernel_constraint,
                   bias_constraint, trainable, name, _reuse=reuse)(inputs)
    layer.__name__ = layer.__qualname__ = cls._default
    layer.__doc__ = (f"TF1's `tf.layers.{cls._default}`: `{cls.__name__}(...)(inputs)` "
                     f"(see the module docstring).")
    return layer


conv2d_transpose = _functional_transpose(Conv2DTranspose)
conv3d_transpose = _functional_transpose(Conv3DTranspose)


# tf.contrib.layers ------------------------------------------------------------------------
def _collect(keys, value, kind):
    """TF1 contrib's `variables_collections` / `outputs_collections`: a name, a list, or
    (for variables) a dict by kind ("weights", "biases")."""
    if isinstance(keys, dict):
        keys = keys.get(kind)
    for key in [keys] if isinstance(keys, str) else keys or []:
        add_to_collection(key, value)


def _contrib_variables(channels, io_last, kernel_size, dtype, weights_initializer,
                       weights_regularizer, biases_initializer, biases_regularizer,
                       use_biases, variables_collections, trainable):
    weights = get_variable("weights", list(kernel_size) + list(io_last), dtype=dtype,
                           initializer=weights_initializer or glorot_uniform_initializer(),
                           regularizer=weights_regularizer, trainable=trainable)
    add_to_collection(MODEL_VARIABLES, weights)
    _collect(variables_collections, weights, "weights")
    biases = None
    if use_biases:
        biases = get_variable("biases", [channels], dtype=dtype,
                              initializer=biases_initializer, regularizer=biases_regularizer,
                              trainable=trainable)
        add_to_collection(MODEL_VARIABLES, biases)
        _collect(variables_collections, biases, "biases")
    return weights, biases


def _contrib_finish(y, biases, fmt, first, activation_fn, normalizer_fn, normalizer_params,
                    outputs_collections):
    if normalizer_fn is not None:
        y = normalizer_fn(y, **(normalizer_params or {}))
    elif biases is not None:
        y = bias_add(y, biases, data_format=fmt if first else None)
    if activation_fn is not None:
        y = activation_fn(y)
    _collect(outputs_collections, y, None)
    return y


def convolution2d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None,
                  rate=1, activation_fn=relu, normalizer_fn=None, normalizer_params=None,
                  weights_initializer=None, weights_regularizer=None,
                  biases_initializer=_ZEROS, biases_regularizer=None, reuse=None,
                  variables_collections=None, outputs_collections=None, trainable=True,
                  scope=None):
    """TF1's `tf.contrib.layers.conv2d` (also spelled `convolution2d`): an NHWC/NCHW conv
    with variables `Conv/weights` [KH, KW, C, num_outputs] and `Conv/biases`."""
    opname = "Conv"
    first = channels_first(data_format, 2, opname)
    with variable_scope(scope, default_name="Conv", values=[inputs], reuse=reuse):
        x, _, channels = _input(inputs, 2, first, opname)
        kernel_size = _tuple(kernel_size, 2, "kernel_size", opname)
        weights, biases = _contrib_variables(
            num_outputs, (channels, num_outputs), kernel_size, x.dtype, weights_initializer,
            weights_regularizer, biases_initializer, biases_regularizer,
            normalizer_fn is None and biases_initializer is not None, variables_collections,
            trainable)
        fmt = FORMATS[2][int(first)]
        y = _conv(x, weights, 2, _tuple(stride, 2, "stride", opname), _padding(padding, opname),
                  _tuple(rate, 2, "rate", opname), fmt, None, "Conv2D")
        return _contrib_finish(y, biases, fmt, first, activation_fn, normalizer_fn,
                               normalizer_params, outputs_collections)


def contrib_conv2d_transpose(inputs, num_outputs, kernel_size, stride=1, padding="SAME",
                             data_format="NHWC", activation_fn=relu, normalizer_fn=None,
                             normalizer_params=None, weights_initializer=None,
                             weights_regularizer=None, biases_initializer=_ZEROS,
                             biases_regularizer=None, reuse=None, variables_collections=None,
                             outputs_collections=None, trainable=True, scope=None):
    """TF1's `tf.contrib.layers.conv2d_transpose`: variables `Conv2d_transpose/weights`
    [KH, KW, num_outputs, C] and `Conv2d_transpose/biases`; Keras's output extents."""
    opname = "Conv2d_transpose"
    first = channels_first(data_format, 2, opname)
    with variable_scope(scope, default_name="Conv2d_transpose", values=[inputs], reuse=reuse):
        x, dims, channels = _input(inputs, 2, first, opname)
        kernel_size = _tuple(kernel_size, 2, "kernel_size", opname)
        strides = _tuple(stride, 2, "stride", opname)
        pad = _padding(padding, opname)
        weights, biases = _contrib_variables(
            num_outputs, (num_outputs, channels), kernel_size, x.dtype, weights_initializer,
            weights_regularizer, biases_initializer, biases_regularizer,
            normalizer_fn is None and biases_initializer is not None, variables_collections,
            trainable)
        spatial = dims[2:] if first else dims[1:-1]
        out = [_deconv_length(s, k, st, pad) for s, k, st in zip(spatial, kernel_size, strides)]
        shape = [dims[0], num_outputs] + out if first else [dims[0]] + out + [num_outputs]
        fmt = FORMATS[2][int(first)]
        y = _backprop_input(shape, weights, x, 2, strides, pad, 1, fmt, None,
                            "conv2d_transpose", "output_shape")
        return _contrib_finish(y, biases, fmt, first, activation_fn, normalizer_fn,
                               normalizer_params, outputs_collections)
