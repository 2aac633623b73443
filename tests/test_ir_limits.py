"""The IR text parser and the verifier on hostile input: deep nesting, huge products
and sums, huge integers, negative and larger-than-int64 dims, too many dims are a
ParseError naming line and column (or a VerifyError naming the node), found quickly and
never a RecursionError; mutated texts (truncated, characters flipped, tokens inserted,
numbers and words replaced, lines moved) give ParseError or VerifyError only."""

from __future__ import annotations

import random
import re
import time

import pytest
from test_ir_text import _Builder, all_ops_program, cast_program, mlp_program

from compiler.ir import dims as D
from compiler.ir import dtypes as T
from compiler.ir.nodes import Program
from compiler.ir.text import ParseError, parse_program, print_program
from compiler.ir.types import TensorType
from compiler.ir.verify import VerifyError, verify
from compiler.ops import OPS


def _program(dim: str) -> str:
    return ("program @main(%0: float32[" + dim + "]) symbols(N0) {\n"
            '  %0 = placeholder() {dtype=float32, name="x:0", shape=[' + dim + "]} : "
            "float32[" + dim + "]\n  return (%0)\n}\n")


def test_the_template_parses():
    parse_program(_program("N0*2+1"))


@pytest.mark.parametrize("dim, expected", [
    ("(" * 10_000 + "N0" + ")" * 10_000, "nests more than"),
    ("(" * 1_000 + "N0" + ")" * 1_000, "nests more than"),
    ("-" * 10_000 + "N0", "nests more than"),
    ("*".join(["N0"] * 100_000), "more than"),
    ("*".join(f"S{i}" for i in range(100_000)), "more than"),
    ("+".join(f"S{i}" for i in range(100_000)), "more than"),
    ("*".join(["1"] * 100_000), "more than"),
    ("*".join(["2"] * 100_000), "int64"),
    ("*".join(f"(A{i}+B{i})" for i in range(40)), "terms"),
    ("9" * 100_000, "64 bits"),
    (str(2**63), "int64"),
    (f"N0*{2**62}*4", "int64"),
    ("-3", "cannot be negative"),
    ("N0-N0-2", "cannot be negative"),
    (",".join(["1"] * 65), "at most 64 dims"),
])
def test_hostile_dims_are_parse_errors_found_quickly(dim, expected):
    start = time.perf_counter()
    with pytest.raises(ParseError) as info:
        parse_program(_program(dim))
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert expected in message
    assert re.match(r"line 1: column \d+: ", message), message


def test_the_column_points_at_the_fault():
    text = _program("N0").replace("%0 = placeholder()", "%0 = placeholder() $")
    with pytest.raises(ParseError) as info:
        parse_program(text)
    line = text.splitlines()[1]
    assert info.value.lineno == 2 and line[info.value.col - 1] == "$"


def test_huge_value_numbers_and_attribute_integers_are_parse_errors():
    with pytest.raises(ParseError, match="too long"):
        parse_program(_program("N0").replace("%0", "%" + "9" * 5000))
    text = print_program(mlp_program())
    bad = re.sub(r"transpose_a=false", "transpose_a=" + "9" * 5000, text)
    with pytest.raises(ParseError):
        parse_program(bad)


def _verify_fails(node, program, expected):
    with pytest.raises(VerifyError) as info:
        verify(program)
    assert info.value.node is node and expected in str(info.value), str(info.value)


@pytest.mark.parametrize("shape, expected", [
    ((-2, 3), "must be in [0,"),
    ((2**63, 1), "must be in [0,"),
    ((2**62, 4), "more than int64 can count"),
    ((1,) * 65, "at most 64"),
    ((D.mul(D.DimExpr.atom(D.Sym("N0")), 2**63),), "outside int64"),
])
def test_the_verifier_rejects_bad_static_dims(shape, expected):
    b = _Builder()
    x = b.make("variable", var="v", dtype=T.float64, shape=(2, 3))
    bad = b.cache.make("exp", [x], {}, TensorType(T.float64, tuple(shape)))
    _verify_fails(bad, Program([], [bad], {}, [D.Sym("N0")]), expected)


def test_the_verifier_rejects_bad_dims_in_attributes():
    b = _Builder()
    v = b.make("variable", var="v", dtype=T.float64, shape=(2**63, 1))
    _verify_fails(v, Program([], [v], {}, []), "is not a valid dims")


def test_the_verifier_rejects_attribute_integers_beyond_int64():
    b = _Builder()
    x = b.make("variable", var="v", dtype=T.float32, shape=(2, 3))
    s = b.make("reduce_sum", [x], axes=(0,), keepdims=False)
    bad = b.cache.make("reduce_sum", [x], {"axes": (2**64,), "keepdims": False}, s.type)
    _verify_fails(bad, Program([], [bad], {}, []), "not a valid axes")


# ---- mutation fuzz ------------------------------------------------------------------------
_VOCAB = ["(", ")", "-", "%99", "9" * 30, "*", ",", "[", "]", "{", "}", "=", "@", '"', "\\",
          "#", "nan", "inf", "-1", "0", "//", "N0", "N9", "float64", "[*]", "none", "token=3",
          "dense<float32[2]>[1.0, 2.0]", "(((", ")))", str(2**64), str(-2**63), "\u00e9",
          "\x00", "\n", "return (%0)", "}\n", '  effect "w" = %1\n']
_NUMBERS = ["-1", "0", "1", "9" * 25, str(2**63), str(2**63 - 1), str(2**64), "3.5", "1e400"]
_WORDS = sorted(OPS) + ["float16", "float64", "int32", "bool", "true", "false", "none", "N1",
                        "axis", "shape", "dtype"]


def _mutate(rng, text):
    kind = rng.randrange(12)
    if len(text) < 2:
        return text + rng.choice(_VOCAB)
    i = rng.randrange(len(text))
    if kind == 0:
        return text[:i]
    if kind == 1:
        return text[:i] + chr(rng.randrange(32, 127)) + text[i + 1:]
    if kind == 2:
        return text[:i] + text[i + 1:]
    if kind in (3, 4):
        return text[:i] + rng.choice(_VOCAB) + text[i:]
    if kind >= 8:
        found = list(re.finditer(r"\d+" if kind < 10 else r"[A-Za-z_]\w*", text))
        if found:
            m = rng.choice(found)
            new = rng.choice(_NUMBERS if kind < 10 else _WORDS)
            return text[:m.start()] + new + text[m.end():]
    lines = text.splitlines(True)
    j, k = rng.randrange(len(lines)), rng.randrange(len(lines))
    if kind == 5:
        lines.insert(k, lines[j])
    elif kind == 6:
        del lines[j]
    else:
        lines[j], lines[k] = lines[k], lines[j]
    return "".join(lines)


def test_mutated_texts_give_parse_or_verify_errors_only():
    rng = random.Random(2026)
    texts = [print_program(build()) for build in (mlp_program, cast_program, all_ops_program)]
    outcomes = {"ok": 0, "ParseError": 0, "VerifyError": 0}
    for _ in range(1500):
        text = rng.choice(texts)
        for _ in range(rng.choice((1, 1, 2, 4))):
            text = _mutate(rng, text)
        try:
            program = parse_program(text)
            verify(program)
            parse_program(print_program(program))
            outcomes["ok"] += 1
        except ParseError:
            outcomes["ParseError"] += 1
        except VerifyError:
            outcomes["VerifyError"] += 1
    assert outcomes["ParseError"] > 1000, outcomes


def test_type_and_arity_faults_point_at_the_op():
    base = _program("N0").replace("  return (%0)", "  %1 = exp(%0) : float32[N0,2]\n  return (%1)")
    with pytest.raises(ParseError) as info:
        parse_program(base)
    line = base.splitlines()[2]
    assert line[info.value.col - 1:].startswith("exp("), (info.value.col, line)
