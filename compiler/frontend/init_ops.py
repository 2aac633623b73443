"""Variable initializers of the TF1 API (`fc.zeros_initializer()`, ...).

An initializer is a small object holding its parameters; calling it as
`init(shape, dtype=None, partition_info=None)` adds the ops that compute an initial
value of that static shape and returns the tensor (`partition_info`: the shard of a
partitioned variable being filled, frontend/partitioned.py; variance scaling takes its
fans from its full shape, as TF1). `dtype` given to the call overrides
the one given to the constructor (float32 by default). Random initializers follow the
seed rules of `random_ops`. `get_variable` and `Variable(initial_value=callable)` call
them; nothing here creates variables.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import dtypes as T
from .array_ops import fill
from .core import constant, dims_of
from .random_ops import random_normal, random_uniform, truncated_normal


class Initializer:
    """Base class: subclasses implement `__call__(shape, dtype=None, partition_info=None)`."""

    dtype = T.float32

    def _dtype(self, dtype):
        return T.as_dtype(dtype if dtype is not None else self.dtype)

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class zeros_initializer(Initializer):  # noqa: N801  (TF1 name)
    """Zeros (False for bool)."""

    def __init__(self, dtype=T.float32):
        self.dtype = T.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return fill(dims_of(shape, "zeros_initializer"), constant(0, self._dtype(dtype)))


class ones_initializer(Initializer):  # noqa: N801  (TF1 name)
    """Ones (True for bool)."""

    def __init__(self, dtype=T.float32):
        self.dtype = T.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return fill(dims_of(shape, "ones_initializer"), constant(1, self._dtype(dtype)))


class constant_initializer(Initializer):  # noqa: N801  (TF1 name)
    """A scalar `value` everywhere, or the values of a list/array in row-major order; a
    list shorter than the shape is padded with its last element (TF1's rule)."""

    def __init__(self, value=0, dtype=T.float32, verify_shape=False):
        self.value = value
        self.dtype = T.as_dtype(dtype)
        self.verify_shape = verify_shape

    def __call__(self, shape, dtype=None, partition_info=None, verify_shape=None):
        dims = dims_of(shape, "constant_initializer")
        dtype = self._dtype(dtype)
        arr = np.asarray(self.value)
        if arr.size == 1 and not (verify_shape or self.verify_shape):
            return fill(dims, constant(arr.reshape(()), dtype))
        n = int(np.prod(dims))
        flat = arr.reshape(-1)
        if (verify_shape or self.verify_shape) and tuple(arr.shape) != tuple(dims):
            raise TypeError(f"constant_initializer: value has shape {list(arr.shape)}, "
                            f"expected {list(dims)}")
        if flat.size > n or flat.size == 0:
            raise ValueError(f"constant_initializer: {flat.size} values do not fit shape "
                             f"{list(dims)}")
        if flat.size < n:
            flat = np.concatenate([flat, np.repeat(flat[-1:], n - flat.size)])
        return constant(flat.reshape(dims), dtype=dtype)


class random_normal_initializer(Initializer):  # noqa: N801  (TF1 name)
    """Normal values with `mean` and `stddev`."""

    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=T.float32):
        self.mean, self.stddev, self.seed = mean, stddev, seed
        self.dtype = T.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_normal(shape, self.mean, self.stddev, self._dtype(dtype), seed=self.seed)


class truncated_normal_initializer(Initializer):  # noqa: N801  (TF1 name)
    """Normal values within 2 standard deviations of `mean`."""

    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=T.float32):
        self.mean, self.stddev, self.seed = mean, stddev, seed
        self.dtype = T.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return truncated_normal(shape, self.mean, self.stddev, self._dtype(dtype),
                                seed=self.seed)


class random_uniform_initializer(Initializer):  # noqa: N801  (TF1 name)
    """Uniform values in [minval, maxval) (maxval defaults to 1 for floats)."""

    def __init__(self, minval=0, maxval=None, seed=None, dtype=T.float32):
        self.minval, self.maxval, self.seed = minval, maxval, seed
        self.dtype = T.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_uniform(shape, self.minval, self.maxval, self._dtype(dtype),
                              seed=self.seed)


def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, as TF1 computes them."""
    shape = [int(d) for d in shape]
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class variance_scaling_initializer(Initializer):  # noqa: N801  (TF1 name)
    """Values with variance `scale / n`, where n is fan_in, fan_out or their average
    (`mode`), drawn from a truncated normal (stddev corrected for the truncation), an
    untruncated normal, or a uniform distribution (`distribution`)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=T.float32):
        if scale <= 0:
            raise ValueError(f"variance_scaling_initializer: scale must be positive, got "
                             f"{scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"variance_scaling_initializer: invalid mode {mode!r}")
        if distribution not in ("normal", "truncated_normal", "untruncated_normal",
                                "uniform"):
            raise ValueError(f"variance_scaling_initializer: invalid distribution "
                             f"{distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed
        self.dtype = T.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dims = dims_of(shape, "variance_scaling_initializer")
        dtype = self._dtype(dtype)
        # a shard of a partitioned variable scales by the whole variable's fans (TF1)
        fan_in, fan_out = compute_fans(dims if partition_info is None
                                       else partition_info.full_shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        scale = self.scale / max(1.0, n[self.mode])
        if self.distribution in ("normal", "truncated_normal"):
            stddev = math.sqrt(scale) / 0.87962566103423978
            return truncated_normal(dims, 0.0, stddev, dtype, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_normal(dims, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_uniform(dims, -limit, limit, dtype, seed=self.seed)


class glorot_uniform_initializer(variance_scaling_initializer):  # noqa: N801  (TF1 name)
    """Uniform in [-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)) (Xavier)."""

    def __init__(self, seed=None, dtype=T.float32):
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)


class glorot_normal_initializer(variance_scaling_initializer):  # noqa: N801  (TF1 name)
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out)) (before truncation)."""

    def __init__(self, seed=None, dtype=T.float32):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)
