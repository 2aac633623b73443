"""TF1's `tf.bitwise`: and, or, xor and not of the bits of int tensors (the `bitwise_*`
and `invert` primitives), and shifts composed from int arithmetic: `left_shift` is
a multiplication by `2**y` (wrapping, as every int op), `right_shift` a floor division by
`2**y` (an arithmetic shift for signed ints). A shift below 0 or at least the width of
the type gives numpy's result: 0, or -1 for a negative value shifted right (TF1 leaves
it implementation-defined)."""

from __future__ import annotations

from ..ir import dtypes as T
from .core import binary_operands, convert_to_tensor, make, op_scope

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift"]


def _int_operands(x, y, op):
    a, b = binary_operands(x, y, op)
    if not a.dtype.is_int:
        raise TypeError(f"{op} does not accept {a.dtype.name} (accepts: int dtypes)")
    return a, b


def _binary(prim, tf_name, doc):
    def fn(x, y, name=None):
        a, b = _int_operands(x, y, tf_name)
        return make(prim, [a, b], name=name or tf_name)
    fn.__name__ = prim
    fn.__doc__ = doc
    return fn


bitwise_and = _binary("bitwise_and", "BitwiseAnd", "`x & y` elementwise (ints).")
bitwise_or = _binary("bitwise_or", "BitwiseOr", "`x | y` elementwise (ints).")
bitwise_xor = _binary("bitwise_xor", "BitwiseXor", "`x ^ y` elementwise (ints).")


def invert(x, name=None):
    """`~x` elementwise: every bit flipped (ints)."""
    x = convert_to_tensor(x)
    return make("invert", [x], name=name or "Invert")


def _shift(x, y, name, op, left):
    a, s = _int_operands(x, y, op)
    width = 8 * a.dtype.itemsize
    with op_scope(name, op, [a, s]) as scope:
        zero = convert_to_tensor(0, a.dtype)
        # in range: 0 <= s < width; a right shift of a signed int also needs s < width - 1,
        # as 2**(width - 1) is no positive value of the type (s = width - 1 then gives
        # what a shift out of range gives: 0 or -1)
        top = width - 1 if not left and not a.dtype.is_unsigned else width
        ok = make("less", [s, convert_to_tensor(top, a.dtype)])
        if not a.dtype.is_unsigned:
            ok = make("logical_and", [ok, make("greater_equal", [s, zero])])
        safe = make("select", [ok, s, zero])
        # 2**s is exact in float64 (s < 64); through the unsigned type of the width, so
        # that 2**(width - 1) wraps to the minimum of a signed type for left shifts
        power = make("pow", [convert_to_tensor(2.0, T.float64),
                             make("cast", [safe], dtype=T.float64)])
        power = make("cast", [power], dtype=getattr(T, f"uint{width}"))
        if power.dtype is not a.dtype:
            power = make("cast", [power], dtype=a.dtype)
        if left:
            return make("select", [ok, make("mul", [a, power]), zero], name=scope)
        if a.dtype.is_unsigned:
            out_of_range = zero
        else:
            out_of_range = make("select", [make("less", [a, zero]),
                                           convert_to_tensor(-1, a.dtype), zero])
        return make("select", [ok, make("div", [a, power]), out_of_range], name=scope)


def left_shift(x, y, name=None):
    """`x << y` elementwise (ints): bits shifted past the top are lost; 0 where `y` is
    negative or at least the width of the type."""
    return _shift(x, y, name, "LeftShift", left=True)


def right_shift(x, y, name=None):
    """`x >> y` elementwise (ints): arithmetic for signed ints (the sign fills the top
    bits); 0 (-1 for negative `x`) where `y` is negative or at least the width."""
    return _shift(x, y, name, "RightShift", left=False)
