"""Argument signatures and the boundary check.

A `Signature` describes what a compiled program takes and returns, in plain data (it
round-trips through JSON for artifacts): each argument's name, dtype and shape, where
a dim is an int, a symbol name (`"N0"`) or a dim expression in JSON form:
    int | "N0" | ["+", a, b] | ["*", a, b] | ["//", a, k] | ["max", a, b] | ["min", a, b]
`bind(signature, arrays)` checks every feed's dtype, rank, static dims and the
consistency of symbols across feeds, evaluates the run-time dim checks, and returns the
symbol values. Every failure is a `FeedError` naming the argument, expected vs. got.
This module never imports the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import FeedError


def eval_dim(d, env: dict) -> int:
    if isinstance(d, int):
        return d
    if isinstance(d, str):
        return env[d]
    op, a, b = d
    if op == "+":
        return eval_dim(a, env) + eval_dim(b, env)
    if op == "*":
        return eval_dim(a, env) * eval_dim(b, env)
    if op == "//":
        return eval_dim(a, env) // eval_dim(b, env)
    if op == "max":
        return max(eval_dim(a, env), eval_dim(b, env))
    if op == "min":
        return min(eval_dim(a, env), eval_dim(b, env))
    raise ValueError(f"bad dim expression {d!r}")


def format_dim(d) -> str:
    if isinstance(d, (int, str)):
        return str(d)
    op, a, b = d
    if op in ("max", "min"):
        return f"{op}({format_dim(a)}, {format_dim(b)})"
    return f"({format_dim(a)}{op}{format_dim(b)})"


def format_shape(shape) -> str:
    return "[" + ", ".join(format_dim(d) for d in shape) + "]"


@dataclass
class ArgSpec:
    name: str
    dtype: str                 # numpy dtype name, e.g. "float32"
    shape: list                # dims in JSON form
    loc: str = ""              # file:line where the user created it
    reasons: dict = field(default_factory=dict)  # axis -> why this dim was unified

    def describe(self) -> str:
        where = f" (created at {self.loc})" if self.loc else ""
        return f"{self.name!r}{where}"


@dataclass
class Signature:
    inputs: list               # [ArgSpec]
    outputs: list              # [ArgSpec]
    symbols: list              # symbol names, in the order generated code takes them
    checks: list = field(default_factory=list)  # [(dim, dim, why)]: equal at run time
    bounds: list = field(default_factory=list)  # [(dim, dim, why)]: first <= second

    def to_json(self) -> dict:
        return {
            "inputs": [vars(a) for a in self.inputs],
            "outputs": [vars(a) for a in self.outputs],
            "symbols": list(self.symbols),
            "checks": [list(c) for c in self.checks],
            "bounds": [list(c) for c in self.bounds],
        }

    @staticmethod
    def from_json(d: dict) -> "Signature":
        def arg(a):
            return ArgSpec(a["name"], a["dtype"], a["shape"], a.get("loc", ""),
                           {int(k): v for k, v in a.get("reasons", {}).items()})
        return Signature([arg(a) for a in d["inputs"]], [arg(a) for a in d["outputs"]],
                         list(d["symbols"]), [tuple(c) for c in d.get("checks", [])],
                         [tuple(c) for c in d.get("bounds", [])])


def bind(sig: Signature, arrays) -> dict:
    """Check `arrays` (numpy, already of the right dtype) against `sig`; return symbols."""
    env: dict = {}
    seen: dict = {}  # symbol -> (arg index, axis) that bound it
    for i, (spec, arr) in enumerate(zip(sig.inputs, arrays)):
        if arr.dtype != np.dtype(spec.dtype):
            raise FeedError(f"feed for {spec.describe()}: expected dtype {spec.dtype}, "
                            f"got {arr.dtype}")
        if arr.ndim != len(spec.shape):
            raise FeedError(f"feed for {spec.describe()}: expected rank {len(spec.shape)} "
                            f"(shape {format_shape(spec.shape)}), got shape {list(arr.shape)}")
        for axis, (want, got) in enumerate(zip(spec.shape, arr.shape)):
            if isinstance(want, int):
                if want != got:
                    raise FeedError(f"feed for {spec.describe()}: expected shape "
                                    f"{format_shape(spec.shape)}, got {list(arr.shape)} "
                                    f"(axis {axis} must be {want})")
            elif isinstance(want, str):
                if want not in env:
                    env[want] = int(got)
                    seen[want] = (i, axis)
                elif env[want] != got:
                    raise FeedError(_mismatch(sig, spec, axis, got, want, env, seen))
    for a, b, why in sig.checks:
        va, vb = eval_dim(a, env), eval_dim(b, env)
        if va != vb:
            raise FeedError(f"the fed shapes violate a shape constraint of {why}: "
                            f"{format_dim(a)} = {va} but {format_dim(b)} = {vb}")
    for a, b, why in sig.bounds:
        va, vb = eval_dim(a, env), eval_dim(b, env)
        if va > vb:
            raise FeedError(f"the fed shapes violate a shape constraint of {why}: need "
                            f"{format_dim(a)} <= {format_dim(b)}, got {va} > {vb} "
                            f"({', '.join(f'{k}={v}' for k, v in env.items())})")
    return env


def _mismatch(sig, spec, axis, got, sym, env, seen) -> str:
    j, other_axis = seen[sym]
    other = sig.inputs[j]
    why = spec.reasons.get(axis) or other.reasons.get(other_axis) or ""
    msg = (f"inconsistent dimensions: feed for {spec.describe()} has {got} at axis {axis}, "
           f"but feed for {other.describe()} has {env[sym]} at axis {other_axis}; these "
           f"dimensions must be equal")
    if why:
        msg += f" because they meet in {why}"
    return msg + " (a run-time extent of 1 does not broadcast against a symbolic dim)"


INT64_MAX = (1 << 63) - 1


def check_size(shape, itemsize, what, env) -> int:
    """The byte count of a `shape` (evaluated ints) of `itemsize`-byte elements; a
    `FeedError` naming `what` and the symbols when an extent or the byte count does not fit
    int64 (the generated code computes sizes, extents and offsets in int64)."""
    nbytes = itemsize
    for d in shape:
        nbytes *= d
    if nbytes > INT64_MAX or any(d > INT64_MAX for d in shape):
        raise FeedError(f"the fed shapes make {what} too large: shape {list(shape)} of "
                        f"{itemsize}-byte elements is {nbytes if nbytes > INT64_MAX else 'an'}"
                        f"{' bytes' if nbytes > INT64_MAX else ' extent'} beyond int64 "
                        f"(max {INT64_MAX}) ({_symbols_text(env)})")
    return nbytes


def _wraps(d, env) -> bool:
    """Whether evaluating the JSON dim `d` in int64 (as generated code does) wraps at some
    step, even when the final value fits (`(N0*N1)//N2`)."""
    if isinstance(d, (int, str)):
        return False
    _, a, b = d
    return _wraps(a, env) or _wraps(b, env) or not -INT64_MAX - 1 <= eval_dim(d, env) \
        <= INT64_MAX


def checked_shape(shape, itemsize, what, env) -> tuple:
    """The evaluated `shape` (JSON dims), after `check_size` and the check that no step of
    any dim's arithmetic wraps int64; `FeedError` naming `what` otherwise."""
    values = tuple(eval_dim(d, env) for d in shape)
    check_size(values, itemsize, what, env)
    for d in shape:
        if _wraps(d, env):
            raise FeedError(f"the fed shapes make {what} too large: computing its extent "
                            f"{format_dim(d)} overflows int64 ({_symbols_text(env)})")
    return values


def _symbols_text(env) -> str:
    return ", ".join(f"{k}={v}" for k, v in env.items()) or "no symbols"


def output_shapes(sig: Signature, env: dict):
    """The output shapes for the symbols `env`, each checked to fit int64 (`check_size`)."""
    return [checked_shape(spec.shape, np.dtype(spec.dtype).itemsize,
                          f"output {spec.describe()}", env) for spec in sig.outputs]
