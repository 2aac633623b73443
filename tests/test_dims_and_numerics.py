"""Symbolic dims (expressions, unification, the runtime's JSON form) and the numerics
contract (casts, integer division, Philox known answers), on both execution paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import Compiled, prim

from compiler.ir import dims as D
from compiler.ir import dtypes as T
from compiler.ops import numerics, philox
from runtime.signature import eval_dim


def _syms(n):
    table = D.SymbolTable()
    return table, [D.DimExpr.atom(table.new_symbol()) for _ in range(n)]


def test_expressions_are_canonical():
    _, (a, b) = _syms(2)
    assert D.add(D.mul(a, 2), b) == D.add(b, D.add(a, a))
    assert D.sub(D.add(a, 3), a) == 3
    assert D.divide_exact(D.mul(a, 6), 3) == D.mul(a, 2)
    assert D.divide_exact(D.mul(a, b), b) == a
    assert D.divide_exact(D.add(a, 1), 2) is None
    assert D.product([a, 2, b]) == D.mul(D.mul(b, a), 2)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(1, 7), st.integers(-5, 5))
def test_json_form_evaluates_like_the_expression(x, y, k, c):
    _, (a, b) = _syms(2)
    e = D.add(D.floordiv(D.add(D.mul(a, b), c * c), k), D.mul(a, c))
    env = {"N0": x, "N1": y}
    assert eval_dim(D.to_json(e), env) == (x * y + c * c) // k + x * c == e.evaluate(env)


def test_unification_merges_symbols_and_binds_constants():
    table, (a, b) = _syms(2)
    table.unify(a, b, "add 'x'")
    assert table.resolve(a) == table.resolve(b)
    assert table.merge_reason(b.as_atom()) == "add 'x'" or table.merge_reason(a.as_atom())
    table.unify(b, 4, "matmul 'y'")
    assert table.resolve(a) == 4
    with pytest.raises(D.ShapeError):
        table.unify(a, 5, "z")


def test_non_atomic_equalities_become_run_time_checks():
    table, (a, b) = _syms(2)
    table.unify(D.mul(a, 2), D.add(b, 1), "reshape 'r'")
    assert table.checks == [(D.mul(a, 2), D.add(b, 1), "reshape 'r'")]


def test_philox_known_answers():
    """Random123's published Philox-4x32-10 test vectors."""
    cases = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2,
              (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, key, want in cases:
        got = philox.philox4x32(*[[c] for c in ctr], *key)
        assert tuple(int(w[0]) for w in got) == want


def test_cast_rules_are_exact_on_both_paths():
    c = Compiled(lambda g, x: [prim(g, "cast", [x], dtype=T.int32),
                               prim(g, "cast", [x], dtype=T.int64),
                               prim(g, "cast", [x], dtype=T.bool_)], [("float64", (None,))])
    x = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.7, -2.7, -0.0, 2**63, 0.5])
    ref, got = c.run_both([x])
    i32 = np.iinfo(np.int32)
    want32 = [0, i32.max, i32.min, i32.max, i32.min, 2, -2, 0, i32.max, 0]
    np.testing.assert_array_equal(ref[0], want32)
    np.testing.assert_array_equal(got[0], want32)
    i64 = np.iinfo(np.int64)
    assert got[1][1] == i64.max and got[1][2] == i64.min and got[1][8] == i64.max
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[2], [True, True, True, True, True, True, True, False,
                                           True, True])


def test_integer_division_rules():
    a = np.array([7, -7, 7, -7, np.iinfo(np.int32).min, 5, 0], np.int32)
    b = np.array([2, 2, -2, -2, -1, 0, 0], np.int32)
    c = Compiled(lambda g, x, y: [prim(g, "div", [x, y]), prim(g, "mod", [x, y])],
                 [("int32", (None,)), ("int32", (None,))])
    ref, got = c.run_both([a, b])
    want_div = [3, -4, -4, 3, np.iinfo(np.int32).min, 0, 0]
    want_mod = [1, 1, -1, -1, 0, 0, 0]
    for r in (ref, got):
        np.testing.assert_array_equal(r[0], want_div)
        np.testing.assert_array_equal(r[1], want_mod)
    np.testing.assert_array_equal(numerics.int_floordiv(a[:4], b[:4]), a[:4] // b[:4])


def test_pad_value_follows_the_cast_rule_and_rank0_pad():
    c = Compiled(lambda g, x: prim(g, "pad", [x], pads=((1, 1),), value=float("nan")),
                 [("int32", (None,))])
    ref, got = c.run_both([np.array([5, 6], np.int32)])
    np.testing.assert_array_equal(ref[0], [0, 5, 6, 0])
    np.testing.assert_array_equal(got[0], [0, 5, 6, 0])
    c = Compiled(lambda g, x: prim(g, "pad", [x], pads=(), value=0.0), [("float32", ())])
    ref, got = c.run_both([np.array(2.0, np.float32)])
    assert ref[0] == got[0] == 2.0
