"""TF1's deprecated spellings that TF 0.x/1.x-era programs still use, each bound to the
current function (one home, so `fc.NAME` lists them in one block):

    mul, sub, neg           -> multiply, subtract, negative
    select                  -> where (TF1's select: condition, x, y of one shape)
    pack, unpack            -> stack, unstack
    concat_v2(values, axis) -> concat(values, axis)
    all_variables           -> global_variables
    scalar_summary, histogram_summary, merge_summary, merge_all_summaries
                            -> summary.scalar, histogram, merge, merge_all
    train.SummaryWriter     -> summary.FileWriter (bound in compiler/__init__.py)

Nothing here builds ops of its own.
"""

from __future__ import annotations

from ..summary import ops as _summary
from . import math_ops as _m
from .manip_ops import concat, stack, unstack, where
from .variables import GraphKeys, global_variables


def mul(x, y, name=None):
    """TF 0.x `tf.mul`: `tf.multiply`."""
    return _m.multiply(x, y, name=name)


def sub(x, y, name=None):
    """TF 0.x `tf.sub`: `tf.subtract`."""
    return _m.subtract(x, y, name=name)


def neg(x, name=None):
    """TF 0.x `tf.neg`: `tf.negative`."""
    return _m.negative(x, name=name)


def select(condition, t, e, name=None):
    """TF 0.x `tf.select(condition, t, e)`: `tf.where(condition, t, e)`."""
    return where(condition, t, e, name=name)


def pack(values, axis=0, name="pack"):
    """TF 0.x `tf.pack`: `tf.stack`."""
    return stack(values, axis=axis, name=name)


def unpack(value, num=None, axis=0, name="unpack"):
    """TF 0.x `tf.unpack`: `tf.unstack`."""
    return unstack(value, num=num, axis=axis, name=name)


def concat_v2(values, axis, name="concat_v2"):
    """TF 0.12 `tf.concat_v2(values, axis)`: `tf.concat`."""
    return concat(values, axis, name=name)


def all_variables():
    """TF 0.x `tf.all_variables()`: `tf.global_variables()`."""
    return global_variables()


def scalar_summary(tags, values, collections=None, name=None):
    """TF 0.x `tf.scalar_summary(tag, value)`: `tf.summary.scalar`."""
    return _summary.scalar(name or tags, values, collections=collections)


def histogram_summary(tag, values, collections=None, name=None):
    """TF 0.x `tf.histogram_summary(tag, values)`: `tf.summary.histogram`."""
    return _summary.histogram(name or tag, values, collections=collections)


def merge_summary(inputs, collections=None, name=None):
    """TF 0.x `tf.merge_summary`: `tf.summary.merge`."""
    return _summary.merge(inputs, collections=collections, name=name)


def merge_all_summaries(key=GraphKeys.SUMMARIES):
    """TF 0.x `tf.merge_all_summaries`: `tf.summary.merge_all`."""
    return _summary.merge_all(key=key)


__all__ = ["all_variables", "concat_v2", "histogram_summary", "merge_all_summaries",
           "merge_summary", "mul", "neg", "pack", "scalar_summary", "select", "sub",
           "unpack"]
