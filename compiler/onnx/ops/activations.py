"""Activation ONNX ops (Relu, Elu, Selu, Gelu, ...), composed from flowc's elementwise
primitives with the ONNX attribute defaults."""

from __future__ import annotations

import math

from ...frontend import math_ops as M
from ...frontend import nn as N
from ...frontend.core import make
from ..table import converter
from .elementwise import const, where


def _activation(op_type, since=1, attrs=(), floats_only=True, note=""):
    """Register `fn(x, cx) -> tensor` as the converter of a float activation."""
    def register(fn):
        @converter(op_type, since=since, attrs=attrs, note=note)
        def convert(cx):
            x = cx.input(0)
            if floats_only and not x.dtype.is_float:
                raise cx.unsupported(f"input 0 has element type {x.dtype.name}; {op_type} "
                                     f"takes floating-point tensors")
            return [fn(x, cx)]
        return fn
    return register


def _mul(x, k):
    return make("mul", [x, const(k, x)])


def _pos(x):
    return make("greater", [x, const(0, x)])


@_activation("Relu", floats_only=False)
def relu(x, cx):
    return make("maximum", [x, const(0, x)])


@_activation("LeakyRelu", attrs=("alpha",))
def leaky_relu(x, cx):
    return where(make("less", [x, const(0, x)]), _mul(x, cx.attr("alpha", 0.01)), x)


@converter("PRelu")
def prelu(cx):
    x, slope = cx.input(0), cx.input(1)
    return [where(make("less", [x, const(0, x)]), make("mul", [x, slope]), x)]


@_activation("ThresholdedRelu", since=10, attrs=("alpha",))
def thresholded_relu(x, cx):
    return where(make("greater", [x, const(cx.attr("alpha", 1.0), x)]), x, const(0, x))


@_activation("Elu", attrs=("alpha",))
def elu(x, cx):
    neg = make("expm1", [make("minimum", [x, const(0, x)])])
    return where(_pos(x), x, _mul(neg, cx.attr("alpha", 1.0)))


@_activation("Selu", attrs=("alpha", "gamma"))
def selu(x, cx):
    alpha = cx.attr("alpha", 1.67326319217681884765625)
    gamma = cx.attr("gamma", 1.05070102214813232421875)
    neg = _mul(make("expm1", [make("minimum", [x, const(0, x)])]), alpha)
    return _mul(where(_pos(x), x, neg), gamma)


@_activation("Celu", since=12, attrs=("alpha",))
def celu(x, cx):
    alpha = cx.attr("alpha", 1.0)
    if alpha == 0:
        raise cx.unsupported("alpha=0")
    neg = _mul(make("expm1", [_mul(make("minimum", [x, const(0, x)]), 1 / alpha)]), alpha)
    return where(_pos(x), x, neg)


def _clamp01(y):
    return make("minimum", [make("maximum", [y, const(0, y)]), const(1, y)])


@_activation("HardSigmoid", attrs=("alpha", "beta"))
def hard_sigmoid(x, cx):
    y = make("add", [_mul(x, cx.attr("alpha", 0.2)), const(cx.attr("beta", 0.5), x)])
    return _clamp01(y)


@_activation("HardSwish", since=14)
def hard_swish(x, cx):
    return make("mul", [x, _clamp01(make("add", [_mul(x, 1 / 6), const(0.5, x)]))])


@_activation("Shrink", since=9, attrs=("bias", "lambd"), floats_only=False,
             note="ints: an integral bias")
def shrink(x, cx):
    """x + bias below -lambd, x - bias above lambd, 0 between. For ints the thresholds
    become the integers next to them (x > 0.5 is x > 0); the bias must be integral."""
    bias, lambd = cx.attr("bias", 0.0), cx.attr("lambd", 0.5)
    zero = const(0, x)
    if x.dtype.is_float:
        lo, hi = const(-lambd, x), const(lambd, x)
    else:
        if bias != int(bias):
            raise cx.unsupported(f"bias {bias} is not integral for {x.dtype.name} input")
        bias, hi = int(bias), const(math.floor(lambd), x)
        lo = None if x.dtype.is_unsigned and -lambd <= 0 else const(math.ceil(-lambd), x)
    b = const(bias, x)
    low = zero if lo is None else where(make("less", [x, lo]), make("add", [x, b]), zero)
    return where(make("greater", [x, hi]), make("sub", [x, b]), low)


@_activation("Softplus")
def softplus(x, cx):
    return N.softplus(x)


@_activation("Softsign")
def softsign(x, cx):
    return make("div", [x, make("add", [const(1, x), make("abs", [x])])])


@_activation("Mish", since=18)
def mish(x, cx):
    return make("mul", [x, make("tanh", [N.softplus(x)])])


@_activation("Swish", since=24, attrs=("alpha",))
def swish(x, cx):
    return make("mul", [x, make("sigmoid", [_mul(x, cx.attr("alpha", 1.0))])])


@_activation("Gelu", since=20, attrs=("approximate",), note="approximate none (erf) or tanh")
def gelu(x, cx):
    approximate = cx.attr("approximate", "none")
    if approximate == "tanh":
        inner = _mul(make("add", [x, _mul(make("mul", [x, make("mul", [x, x])]), 0.044715)]),
                     math.sqrt(2 / math.pi))
        return _mul(make("mul", [x, make("add", [const(1, x), make("tanh", [inner])])]), 0.5)
    if approximate != "none":
        raise cx.unsupported(f"approximate={approximate!r} (none or tanh)")
    erf = M.erf(_mul(x, 1 / math.sqrt(2)))
    return _mul(make("mul", [x, make("add", [const(1, x), erf])]), 0.5)
