"""Reference numerics shared by the op rows: the rules of DESIGN.md's numerics contract.

- float16 is stored as float16 and computed in float32 (`in_compute_dtype`).
- Integer floor division and modulo by zero give 0; INT_MIN // -1 wraps to INT_MIN.
- Float -> int casts: NaN gives 0, values beyond the target range saturate to its
  min/max, everything else truncates toward zero (LLVM's `fptosi.sat`).
- Any -> bool: nonzero is True (NaN is True, as in numpy).
- Signed zeros are part of the result, bit for bit: float `maximum`/`minimum` are IEEE
  754-2019's (NaN propagates, -0.0 orders below +0.0, so both are commutative; numpy's
  loops return their second operand on a tie), `sign(±0.0)` is +0.0 (numpy, TF), and a
  zero float `mod` takes the divisor's sign (numpy, Python).
The generated code implements the same rules; tests compare against these.
"""

from __future__ import annotations

import numpy as np


def in_compute_dtype(fn):
    """Wrap an elementwise numpy function so float16 inputs compute in float32."""

    def wrapped(*arrays, **attrs):
        dtypes = [a.dtype for a in arrays]
        if any(d == np.float16 for d in dtypes):
            arrays = [a.astype(np.float32) if a.dtype == np.float16 else a for a in arrays]
            out = np.asarray(fn(*arrays, **attrs))
            with np.errstate(over="ignore"):  # rounding to float16 may overflow to inf
                return out.astype(np.float16) if out.dtype == np.float32 else out
        return np.asarray(fn(*arrays, **attrs))

    wrapped.__name__ = getattr(fn, "__name__", "ref")
    return wrapped


def int_floordiv(a, b):
    with np.errstate(all="ignore"):
        safe = np.where(b == 0, 1, b).astype(b.dtype)
        q = np.floor_divide(a, safe)
        return np.where(b == 0, 0, q).astype(a.dtype)


def int_mod(a, b):
    with np.errstate(all="ignore"):
        safe = np.where(b == 0, 1, b).astype(b.dtype)
        r = np.remainder(a, safe)
        return np.where(b == 0, 0, r).astype(a.dtype)


def cast(x, dtype):
    """Cast following the contract's rules; `dtype` is a numpy dtype."""
    x = np.asarray(x)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return x != 0
    if dtype.kind in "iu" and x.dtype.kind == "f":
        info = np.iinfo(dtype)
        xf = x.astype(np.float64)
        out = np.zeros(x.shape, dtype)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(xf) & (xf > info.min - 1.0) & (xf < info.max + 1.0)
            out[ok] = np.trunc(xf[ok]).astype(dtype)
            out[(xf >= info.max + 1.0)] = info.max
            out[(xf <= info.min - 1.0)] = info.min
        return out
    if dtype == np.float16 and x.dtype.kind in "iub":
        with np.errstate(over="ignore"):
            return x.astype(np.float32).astype(np.float16)
    with np.errstate(all="ignore"):
        return x.astype(dtype)


def float_maximum(a, b):
    """IEEE 754-2019 maximum: NaN propagates and max(-0.0, +0.0) is +0.0 either way round."""
    with np.errstate(all="ignore"):
        out = np.maximum(a, b)
        both_zero = (a == 0) & (b == 0)
        if np.any(both_zero):  # +0 unless both are -0: exactly what a + b gives
            out = np.where(both_zero, a + b, out)
    return out


def float_minimum(a, b):
    """IEEE 754-2019 minimum: NaN propagates and min(-0.0, +0.0) is -0.0 either way round."""
    with np.errstate(all="ignore"):
        out = np.minimum(a, b)
        both_zero = (a == 0) & (b == 0)
        if np.any(both_zero):  # -0 unless both are +0
            out = np.where(both_zero, -((-a) + (-b)), out)
    return out


def float_sign(x):
    """numpy's sign, with sign(-0.0) = +0.0 stated rather than left to numpy's version."""
    out = np.sign(x)
    return out + np.zeros((), out.dtype) if out.dtype.kind == "f" else out
