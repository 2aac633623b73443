"""The backends' scalar-op tables are complete: the keys of the LLVM table
(backends/llvm/scalar_ops.py), the C-style table (backends/cstyle.py) and the CUDA table
(backends/cuda/scalar_ops.py) are exactly the kernel-IR op set, which is derived from
the op table (its elementwise rows of kernel-IR form unary/binary) plus kir's index ops.
Every rule has a variant for each dtype its op accepts (asked of the op's own type rule)
and emits: LLVM rules build IR that LLVM parses, C rules return an expression. A rule
deleted from any table fails a test here."""

import llvmlite.binding as llvm
import pytest
from llvmlite import ir

from compiler.backends import cstyle
from compiler.backends.cuda import scalar_ops as cuda_ops
from compiler.backends.llvm import scalar_ops as llvm_ops
from compiler.backends.llvm import vecmath
from compiler.ir import dims as D
from compiler.ir import dtypes as T
from compiler.ir.types import TensorType
from compiler.lower import kir
from compiler.ops import OPS, InferContext

#: the dtypes a rule can see: lowering computes float16 in float32
COMPUTE_DTYPES = (T.float32, T.float64, T.int32, T.int64, T.bool_)


#: bitcast's target for each operand dtype a rule sees: the other kind of the same width
_BITCAST_TO = {T.float32: T.int32, T.float64: T.int64, T.int32: T.float32,
               T.int64: T.float64, T.bool_: T.bool_}


def _accepted(op, arity):
    """The compute dtypes the op's type rule accepts (operands all of one dtype)."""
    if op in kir.INDEX_OPS:
        return [T.int32, T.int64]
    out = []
    for dt in COMPUTE_DTYPES:
        attrs = {"dtype": _BITCAST_TO[dt]} if op == "bitcast" else {}
        try:
            OPS[op].infer([TensorType(dt, (2,))] * arity, attrs, InferContext(D.SymbolTable()))
        except TypeError:
            continue
        out.append(dt)
    assert out, f"{op} accepts no dtype"
    return out


def _cases(ops, arity):
    return [(op, dt) for op in sorted(ops) for dt in _accepted(op, arity)]


TABLES = {"llvm": (llvm_ops.UNARY, llvm_ops.BINARY),
          "cstyle": (cstyle.UNARY, cstyle.BINARY),
          "cuda": (cuda_ops.UNARY, cuda_ops.BINARY),
          "cuda dialect": (cuda_ops.OPS.unary_rules, cuda_ops.OPS.binary_rules)}


def test_kernel_ir_op_set_comes_from_the_op_table():
    unary = {n for n, op in OPS.items() if op.kir == "unary"}
    binary = {n for n, op in OPS.items() if op.kir == "binary"}
    assert kir.UNARY_OPS == unary
    assert kir.BINARY_OPS == binary | kir.INDEX_OPS


@pytest.mark.parametrize("name", TABLES)
def test_table_keys_are_the_kernel_ir_op_set(name):
    unary, binary = TABLES[name]
    assert set(unary) == kir.UNARY_OPS, (
        f"{name} unary rules: missing {sorted(kir.UNARY_OPS - set(unary))}, "
        f"extra {sorted(set(unary) - kir.UNARY_OPS)}")
    assert set(binary) == kir.BINARY_OPS, (
        f"{name} binary rules: missing {sorted(kir.BINARY_OPS - set(binary))}, "
        f"extra {sorted(set(binary) - kir.BINARY_OPS)}")


@pytest.mark.parametrize("name", TABLES)
def test_every_rule_has_a_variant_for_each_accepted_dtype(name):
    unary, binary = TABLES[name]
    for table, ops, arity in ((unary, kir.UNARY_OPS, 1), (binary, kir.BINARY_OPS, 2)):
        for op, dt in _cases(ops, arity):
            rule = table.get(op)
            variant = rule and (rule.float if dt.is_float else rule.int)
            assert variant is not None, f"{name}: no rule for {op} on {dt.name}"


def test_cuda_table_is_the_c_style_table_plus_its_overrides():
    for table, base, over in ((cuda_ops.UNARY, cstyle.UNARY, cuda_ops.UNARY_OVERRIDES),
                              (cuda_ops.BINARY, cstyle.BINARY, cuda_ops.BINARY_OVERRIDES)):
        assert set(over) <= set(base), sorted(set(over) - set(base))
        for op, rule in table.items():
            assert rule is (over[op] if op in over else base[op]), op
    assert cuda_ops.OPS.unary_rules is cuda_ops.UNARY
    assert cuda_ops.OPS.binary_rules is cuda_ops.BINARY


def test_vecmath_functions_and_fast_ops_are_kernel_ir_ops():
    assert set(vecmath.FUNCTIONS) <= kir.UNARY_OPS
    assert set(llvm_ops.FAST_OPS) <= kir.BINARY_OPS


class _Emitter:
    """The part of the LLVM function emitter that scalar rules use."""

    def __init__(self):
        self.module = ir.Module("rules")
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), []), "f")
        self.builder = ir.IRBuilder(fn.append_basic_block("entry"))

    def libm(self, name, dtype, args):
        ty = llvm_ops.reg_type(dtype)
        fn = self.module.globals.get(name) or ir.Function(
            self.module, ir.FunctionType(ty, [ty] * len(args)), name)
        return self.builder.call(fn, args)

    def intrinsic(self, name, dtype, args):
        return self.libm(f"{name}.{llvm_ops._suffix(dtype)}", dtype, args)

    def value(self, dtype):
        ty = llvm_ops.reg_type(dtype)
        slot = self.builder.alloca(ty)
        return self.builder.load(slot)


def test_every_llvm_rule_emits_valid_ir():
    em = _Emitter()
    for op, dt in _cases(kir.UNARY_OPS, 1):
        assert isinstance(llvm_ops.unary(em, op, em.value(dt), dt), ir.Value), (op, dt)
    for op, dt in _cases(kir.BINARY_OPS, 2):
        value = llvm_ops.binary(em, op, em.value(dt), em.value(dt), dt)
        assert isinstance(value, ir.Value), (op, dt)
    em.builder.ret_void()
    llvm.parse_assembly(str(em.module)).verify()


@pytest.mark.parametrize("dialect", [cstyle.CStyleOps(), cuda_ops.OPS], ids=["c", "cuda"])
def test_every_c_rule_gives_an_expression(dialect):
    for op, dt in _cases(kir.UNARY_OPS, 1):
        text = dialect.unary(op, "x", dt)
        assert isinstance(text, str) and "x" in text, (op, dt)
    for op, dt in _cases(kir.BINARY_OPS, 2):
        text = dialect.binary(op, "a", "b", dt)
        assert isinstance(text, str) and "a" in text and "b" in text, (op, dt)


@pytest.mark.parametrize("kind", ["llvm", "c"])
def test_a_missing_rule_is_reported_with_the_op_and_dtype(kind):
    if kind == "llvm":
        with pytest.raises(NotImplementedError, match="no LLVM rule for unary exp on int32"):
            llvm_ops.unary(_Emitter(), "exp", None, T.int32)
    else:
        with pytest.raises(NotImplementedError, match="no C rule for binary frob on float32"):
            cstyle.CStyleOps().binary("frob", "a", "b", T.float32)
