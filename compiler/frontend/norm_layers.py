"""Batch-normalization layers: `fc.layers.batch_normalization`, the class
`fc.layers.BatchNormalization` and `fc.contrib.layers.batch_norm`, with TF1's variables,
moving averages and quirks.

A layer creates (through `variable_scope` and `get_variable`, so reuse works as for
`fc.layers.dense`) `NAME/gamma` (if `scale`), `NAME/beta` (if `center`), and the
non-trainable `NAME/moving_mean` and `NAME/moving_variance` (in GLOBAL_VARIABLES, not in
TRAINABLE_VARIABLES). In training it normalizes with the batch statistics and creates two
update ops, `moving -= (moving - batch_stat) * (1 - momentum)` (named `AssignMovingAvg`,
`AssignMovingAvg_1`), which go to `GraphKeys.UPDATE_OPS`: the user runs them through
`with fc.control_dependencies(fc.get_collection(fc.GraphKeys.UPDATE_OPS)): train_op = ...`.
In inference it normalizes with the moving averages and creates no update.

TF1 picks one of two kernels, and the choice shows in the numbers: the *fused* kernel
(4-D input, channel axis 1 or 3, float16/float32, `fused` None or True) hands the layer
the Bessel-corrected batch variance `n / (n - 1) * var`, which updates `moving_variance`
(while the output is normalized with the biased one); the *non-fused* path (any other
input, or `fused=False`) updates it with the biased variance. Both are reproduced, down
to the decay constant: the fused path computes `1 - momentum` in float32, the non-fused
one in Python floats.

`training` is a Python bool or a bool tensor (a placeholder). For a tensor both sets of
statistics are built and `where` picks one, so the update ops leave the moving averages
unchanged (the delta is exactly 0) when it is false, as TF1's `smart_cond` does.
Not supported (NotImplementedError): renorm, virtual_batch_size, adjustment, constraints,
and contrib's batch_weights and zero_debias_moving_mean.
"""

from __future__ import annotations

from ..ir import dtypes as T
from .control_flow import control_dependencies, identity, name_scope
from .core import constant, convert_to_tensor, known_shape, make, normalize_axis
from .init_ops import ones_initializer, zeros_initializer
from .manip_ops import reshape, where_v2
from .math_ops import cast
from .normalization import batch_normalization as nn_batch_normalization
from .normalization import batch_stats, fused_batch_norm, moments
from .variable_scope import get_variable, variable_scope
from .variables import GraphKeys, Variable, add_to_collection

_FUSED_DTYPES = (T.float16, T.float32)


class BatchNormalization:
    """TF1's `tf.layers.BatchNormalization` layer object: variables are created on the
    first call and shared by later calls; `updates` lists its update ops."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer=None, gamma_initializer=None,
                 moving_mean_initializer=None, moving_variance_initializer=None,
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, fused=None, trainable=True, virtual_batch_size=None,
                 adjustment=None, name=None, _reuse=None, _scope=None, **kwargs):
        _unsupported("BatchNormalization", renorm=renorm, virtual_batch_size=virtual_batch_size,
                     adjustment=adjustment, beta_constraint=beta_constraint,
                     gamma_constraint=gamma_constraint)
        self.axis = [axis] if isinstance(axis, int) else [int(a) for a in axis]
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale, self.fused, self.trainable = center, scale, fused, trainable
        self.initializers = dict(beta=beta_initializer or zeros_initializer(),
                                 gamma=gamma_initializer or ones_initializer(),
                                 moving_mean=moving_mean_initializer or zeros_initializer(),
                                 moving_variance=moving_variance_initializer
                                 or ones_initializer())
        self.regularizers = dict(beta=beta_regularizer, gamma=gamma_regularizer)
        self.name, self._reuse, self._scope = name, _reuse, _scope
        self.built = False
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self.updates = []

    # -- TF1 surface --------------------------------------------------------------------
    @property
    def variables(self):
        return [v for v in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
                if v is not None]

    weights = variables

    @property
    def trainable_variables(self):
        return [v for v in (self.gamma, self.beta) if v is not None] if self.trainable else []

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self):
        return [v for v in self.variables if v not in self.trainable_variables]

    non_trainable_weights = non_trainable_variables

    def __call__(self, inputs, training=False):
        x = convert_to_tensor(inputs)
        with self._enter_scope():
            layout = _Layout.of(x, self.axis, "BatchNormalization")
            _static_bool(training)  # a bad flag fails before any variable is made
            if not self.built:
                self._build(x, layout)
            fused = self._use_fused(x, layout)
            y, stats, momentum = self._normalize(x, layout, training, fused)
            if stats is not None:
                updates = [_assign_moving_average(self.moving_mean, stats[0], momentum),
                           _assign_moving_average(self.moving_variance, stats[1], momentum)]
                self.updates.extend(updates)
                for u in updates:
                    add_to_collection(GraphKeys.UPDATE_OPS, u)
        return y

    apply = __call__

    # -- internals ----------------------------------------------------------------------
    def _enter_scope(self):
        if self.built:
            return variable_scope(self._scope, reuse=True)
        if self._scope is not None:
            return variable_scope(self._scope, auxiliary_name_scope=False)
        return variable_scope(self.name, default_name="batch_normalization", reuse=self._reuse)

    def _build(self, x, layout):
        from .variable_scope import get_variable_scope
        self._scope = get_variable_scope()
        dtype = _param_dtype(x)
        shape = layout.param_shape

        def var(name, trainable, regularizer=None):
            return get_variable(name, shape, dtype=dtype, initializer=self.initializers[name],
                                regularizer=regularizer, trainable=trainable)
        if self.scale:
            self.gamma = var("gamma", self.trainable, self.regularizers["gamma"])
        if self.center:
            self.beta = var("beta", self.trainable, self.regularizers["beta"])
        self.moving_mean = var("moving_mean", False)
        self.moving_variance = var("moving_variance", False)
        self.built = True

    def _use_fused(self, x, layout):
        """TF1 (v1 layers): `fused` None or True means "fused where it can be"."""
        return (self.fused is not False and layout.rank == 4 and len(layout.axes) == 1
                and layout.axes[0] in (1, 3) and x.dtype in _FUSED_DTYPES)

    def _normalize(self, x, layout, training, fused):
        """(output, (mean, variance) to update the moving averages with or None,
        momentum: a Python float or a float32 tensor)."""
        static = _static_bool(training)
        gamma, beta = self.gamma, self.beta
        if fused:
            fmt = "NCHW" if layout.axes[0] == 1 else "NHWC"
            return _fused(x, gamma, beta, self.moving_mean, self.moving_variance,
                          self.epsilon, fmt, training, static, self.momentum)
        xc = cast(x, T.float32) if x.dtype is T.float16 else x
        if static is False:
            mean, var, stats = self.moving_mean.value(), self.moving_variance.value(), None
        else:
            mean, var = moments(xc, layout.reduce_axes, keep_dims=len(layout.axes) > 1)
            if static is None:
                flag = convert_to_tensor(training)
                mean = where_v2(flag, mean, self.moving_mean.value())
                var = where_v2(flag, var, self.moving_variance.value())
            stats = (mean, var)
        y = nn_batch_normalization(xc, layout.broadcast(mean), layout.broadcast(var),
                                layout.broadcast(beta), layout.broadcast(gamma), self.epsilon)
        return (cast(y, x.dtype) if y.dtype is not x.dtype else y), stats, self.momentum


def _fused(x, gamma, beta, moving_mean, moving_var, eps, fmt, training, static, momentum):
    """The fused kernel's path: (output, (mean, Bessel-corrected variance) or None,
    momentum as a float32 tensor) — TF1 converts the momentum to a tensor here, so its
    decay `1 - momentum` is computed in float32."""
    channels = moving_mean.shape[0]
    ones = gamma if gamma is not None else constant(1.0, T.float32, shape=[channels])
    zeros = beta if beta is not None else constant(0.0, T.float32, shape=[channels])
    if static is False:
        y, _, _ = fused_batch_norm(x, ones, zeros, moving_mean.value(), moving_var.value(),
                                   eps, fmt, is_training=False)
        return y, None, None
    if static is True:
        y, mean, var = fused_batch_norm(x, ones, zeros, epsilon=eps, data_format=fmt)
        return y, (mean, var), constant(momentum, T.float32)
    flag = convert_to_tensor(training)
    axis = 1 if fmt == "NCHW" else 3
    xs = cast(x, T.float32) if x.dtype is T.float16 else x  # float16: float32 statistics
    batch_mean, biased, bessel = batch_stats(xs, tuple(a for a in range(4) if a != axis))
    mean = where_v2(flag, batch_mean, moving_mean.value())
    y, _, _ = fused_batch_norm(x, ones, zeros, mean, where_v2(flag, biased, moving_var.value()),
                               eps, fmt, is_training=False)
    var = where_v2(flag, bessel, moving_var.value())
    mom = where_v2(flag, constant(momentum, T.float32), constant(1.0, T.float32))
    return y, (mean, var), mom


def _assign_moving_average(variable, value, momentum):
    """`variable -= (variable - value) * (1 - momentum)` (TF1's op, named
    `AssignMovingAvg`); a Python momentum's decay is computed in Python, a tensor's in its
    dtype, as TF1 does."""
    with name_scope(None, "AssignMovingAvg") as scope:
        if isinstance(momentum, (int, float)):
            decay = constant(1.0 - momentum, variable.dtype, name="decay")
        else:
            decay = make("sub", [constant(1.0, momentum.dtype), momentum], name="decay")
            decay = decay if decay.dtype is variable.dtype else cast(decay, variable.dtype)
        value = value if value.dtype is variable.dtype else cast(value, variable.dtype)
        delta = make("mul", [make("sub", [variable.value(), value]), decay])
        return variable.assign_sub(delta, name=scope)


class _Layout:
    """Where the normalized axes sit: rank, axes, the axes reduced over, the shape of the
    parameters and how to broadcast them against the input."""

    def __init__(self, rank, axes, dims):
        self.rank, self.axes = rank, axes
        self.reduce_axes = [i for i in range(rank) if i not in axes]
        if len(axes) == 1:
            self.param_shape = [dims[axes[0]]]
        else:
            self.param_shape = [dims[i] if i in axes else 1 for i in range(rank)]
        self.broadcast_shape = [dims[i] if i in axes else 1 for i in range(rank)]

    @classmethod
    def of(cls, x, axis, opname):
        dims = known_shape(x, opname)
        if not x.dtype.is_float:
            raise TypeError(f"{opname}: input {x.name!r} must be a float tensor, got "
                            f"{x.dtype.name}")
        axes = sorted({normalize_axis(a, len(dims), opname) for a in axis})
        for a in axes:
            if not isinstance(dims[a], int):
                raise ValueError(f"{opname}: axis {a} of input {x.name!r} (shape "
                                 f"{list(dims)}) must have a static size")
        return cls(len(dims), axes, dims)

    def broadcast(self, v):
        """A [C] parameter (or statistic) shaped to broadcast against the input."""
        if v is None:
            return None
        v = v.value() if isinstance(v, Variable) else convert_to_tensor(v)
        if v.shape.ndims == self.rank or self.axes == [self.rank - 1]:
            return v
        return reshape(v, self.broadcast_shape)


def _param_dtype(x):
    return T.float32 if x.dtype is T.float16 else x.dtype


def _static_bool(training):
    """True/False for a Python (or numpy) bool, None for a bool scalar tensor."""
    if isinstance(training, bool) or type(training).__name__ == "bool_":
        return bool(training)
    if training is None:
        return False
    flag = convert_to_tensor(training)
    if flag.dtype is not T.bool_ or flag.shape.ndims not in (0, None):
        raise TypeError(f"batch normalization: training must be a Python bool or a bool "
                        f"scalar tensor, got {flag.name!r} of type {flag.dtype.name}"
                        f"{list(flag.shape) if flag.shape.known_rank else ''}")
    return None


def _unsupported(opname, **options):
    for key, value in options.items():
        if value not in (None, False):
            raise NotImplementedError(f"{opname}: {key} is not supported (got {value!r})")


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True,
                        scale=True, beta_initializer=None, gamma_initializer=None,
                        moving_mean_initializer=None, moving_variance_initializer=None,
                        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                        gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                        fused=None, virtual_batch_size=None, adjustment=None):
    """TF1's `tf.layers.batch_normalization`: a `BatchNormalization` layer applied once
    (see the module docstring for variables, updates and the fused kernel's quirk)."""
    layer = BatchNormalization(
        axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
        beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
        moving_mean_initializer=moving_mean_initializer,
        moving_variance_initializer=moving_variance_initializer,
        beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
        beta_constraint=beta_constraint, gamma_constraint=gamma_constraint, renorm=renorm,
        fused=fused, trainable=trainable, virtual_batch_size=virtual_batch_size,
        adjustment=adjustment, name=name, _reuse=reuse)
    return layer.apply(inputs, training=training)


def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001,
               activation_fn=None, param_initializers=None, param_regularizers=None,
               updates_collections=GraphKeys.UPDATE_OPS, is_training=True, reuse=None,
               variables_collections=None, outputs_collections=None, trainable=True,
               batch_weights=None, fused=None, data_format="NHWC",
               zero_debias_moving_mean=False, scope=None, renorm=False, renorm_clipping=None,
               renorm_decay=0.99, adjustment=None):
    """TF1's `tf.contrib.layers.batch_norm` (variables `BatchNorm/beta`, `gamma` when
    `scale`, `moving_mean`, `moving_variance`). As in TF1: with the default
    `updates_collections` (UPDATE_OPS) and an input that is not 2-D, it is the
    `BatchNormalization` layer (fused for 4-D unless `fused=False`); with another
    collection, or a 2-D input, contrib's own fused kernel runs (2-D and 4-D; its moving
    variance takes the Bessel-corrected batch variance), else the plain path (biased).
    `updates_collections=None` updates in place: the output depends on the updates."""
    _unsupported("batch_norm", batch_weights=batch_weights, renorm=renorm,
                 adjustment=adjustment, zero_debias_moving_mean=zero_debias_moving_mean)
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"batch_norm: data_format must be 'NHWC' or 'NCHW', got "
                         f"{data_format!r}")
    x = convert_to_tensor(inputs)
    rank = len(known_shape(x, "batch_norm"))
    _static_bool(is_training)  # a bad flag fails before any variable is made
    fused = True if fused is None else fused
    inits = dict(param_initializers or {})
    regs = dict(param_regularizers or {})
    layer = BatchNormalization(
        axis=1 if data_format == "NCHW" else -1, momentum=decay, epsilon=epsilon,
        center=center, scale=scale, beta_initializer=inits.get("beta"),
        gamma_initializer=inits.get("gamma"),
        moving_mean_initializer=inits.get("moving_mean"),
        moving_variance_initializer=inits.get("moving_variance"),
        beta_regularizer=regs.get("beta"), gamma_regularizer=regs.get("gamma"),
        fused=fused, trainable=trainable, _reuse=reuse)
    with variable_scope(scope, default_name="BatchNorm", values=[x], reuse=reuse) as sc:
        layer._scope = sc
        if updates_collections == GraphKeys.UPDATE_OPS and not (fused and rank == 2):
            y = layer.apply(x, training=is_training)
        else:
            y = _contrib_apply(layer, x, rank, is_training, fused, data_format,
                               updates_collections)
        _add_to_collections(variables_collections, layer)
        if activation_fn is not None:
            y = activation_fn(y)
    for key in _keys(outputs_collections):
        add_to_collection(key, y)
    return y


def _contrib_apply(layer, x, rank, is_training, fused, data_format, updates_collections):
    """contrib's own kernels: fused on a 2-D (seen as [N, 1, 1, C]) or 4-D input, with the
    updates put in `updates_collections` or, when it is None, run before the output."""
    with layer._enter_scope():
        layout = _Layout.of(x, layer.axis, "batch_norm")
        layer._build(x, layout)
        if fused and rank in (2, 4) and x.dtype in _FUSED_DTYPES:
            as4 = x if rank == 4 else reshape(x, [-1, 1, 1, layout.param_shape[0]]
                                              if data_format == "NHWC"
                                              else [-1, layout.param_shape[0], 1, 1])
            fmt = "NCHW" if data_format == "NCHW" else "NHWC"
            layout4 = _Layout.of(as4, [1 if fmt == "NCHW" else 3], "batch_norm")
            y, stats, _ = layer._normalize(as4, layout4, is_training, True)
            y = y if rank == 4 else reshape(y, [-1, layout.param_shape[0]])
        else:
            y, stats, _ = layer._normalize(x, layout, is_training, False)
        if stats is None:
            return y
        updates = [_assign_moving_average(layer.moving_mean, stats[0], layer.momentum),
                   _assign_moving_average(layer.moving_variance, stats[1], layer.momentum)]
        layer.updates.extend(updates)
        if updates_collections is None:
            with control_dependencies(updates):
                return identity(y)
        for key in _keys(updates_collections):
            for u in updates:
                add_to_collection(key, u)
        return y


def _keys(collections):
    if collections is None:
        return []
    return [collections] if isinstance(collections, str) else list(collections)


def _add_to_collections(variables_collections, layer):
    """contrib's `variables_collections`: a list for every variable, or a dict by
    variable name (`beta`, `gamma`, `moving_mean`, `moving_variance`)."""
    if not variables_collections:
        return
    named = dict(beta=layer.beta, gamma=layer.gamma, moving_mean=layer.moving_mean,
                 moving_variance=layer.moving_variance)
    for key, var in named.items():
        if var is None:
            continue
        keys = (variables_collections.get(key) if isinstance(variables_collections, dict)
                else variables_collections)
        for k in _keys(keys):
            add_to_collection(k, var)


__all__ = ["BatchNormalization", "batch_normalization", "batch_norm"]
