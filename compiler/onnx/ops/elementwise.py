"""Elementwise ONNX ops: arithmetic, comparisons, logic, activations, casts."""

from __future__ import annotations

from ...frontend import math_ops as M
from ...frontend import nn as N
from ...frontend.control_flow import identity
from ..table import converter


def _binary(op_type, fn):
    @converter(op_type)
    def convert(cx):
        return [fn(cx.input(0), cx.input(1))]


for _name, _fn in {"Add": M.add, "Sub": M.subtract, "Mul": M.multiply}.items():
    _binary(_name, _fn)


@converter("Relu")
def relu(cx):
    return [N.relu(cx.input(0))]


@converter("Identity")
def identity_(cx):
    return [identity(cx.input(0))]
