"""Kernels carry what the fusion plan knew (compiler/lower/kir.py): their kind and their
accumulations (`Accumulator` at the combine op's identity, `Accumulate` steps). The
dump prints them, the LLVM emitter turns them into exactly the code of the equivalent
let/set, and the CUDA emitter chooses its mapping from them rather than from kernel
names or the shapes of statements."""

from __future__ import annotations

import dataclasses
import math

import compiler as fc
from compiler.backends.cuda import emit as cuda_emit
from compiler.backends.cuda.nests import CUDA_SCHEDULE
from compiler.backends.llvm import emit as llvm_emit
from compiler.backends.llvm.target import cpu_schedule
from compiler.convert import convert
from compiler.lower import format_kernel, lower_program
from compiler.lower import kir as K
from passes.fusion import plan_kernels
from passes.manager import run_pipeline


def _lowered(schedule):
    """A dense layer with a softmax over its rows, a column sum and a row maximum."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 64], name="x")
        w = fc.placeholder(fc.float32, [64, 96], name="w")
        y = fc.nn.softmax(fc.nn.relu(fc.matmul(x, w)))
        outs = [y, fc.reduce_sum(x, axis=0), fc.reduce_max(x, axis=1)]
    program, _ = run_pipeline(convert(g, outs, [x, w]), fc.CompileOptions())
    plan = plan_kernels(program)
    return plan, lower_program(program, plan, schedule)


def _walk(stmts):
    for s in stmts:
        yield s
        for child in (getattr(s, "body", ()), getattr(s, "then", ()), getattr(s, "else_", ())):
            yield from _walk(child)


def _as_let_and_set(stmts, dtypes):
    """The statements with every Accumulator a plain Let and every Accumulate a Set."""
    out = []
    for s in stmts:
        if isinstance(s, K.Accumulator):
            dtypes[s.var] = s.dtype
            s = K.Let(s.var, s.identity)
        elif isinstance(s, K.Accumulate):
            s = K.Set(s.var, s.update(dtypes[s.var]))
        elif isinstance(s, K.Loop):
            s = dataclasses.replace(s, body=tuple(_as_let_and_set(s.body, dtypes)))
        elif isinstance(s, K.If):
            s = dataclasses.replace(s, then=tuple(_as_let_and_set(s.then, dtypes)),
                                    else_=tuple(_as_let_and_set(s.else_, dtypes)))
        out.append(s)
    return out


def _without_facts(kernel):
    return dataclasses.replace(kernel, body=tuple(_as_let_and_set(kernel.body, {})))


def test_kernels_carry_the_kind_of_their_fusion_group():
    plan, lowered = _lowered(cpu_schedule("host"))
    kinds = [k.kind for k in lowered.kernels]
    # one kernel per group, in plan order; the packed matmul has its packing kernel first
    assert [k for k in kinds if k != "pack"] == [g.kind for g in plan.groups]
    assert {"matmul", "row", "reduce"} <= set(kinds)
    assert all(k.name.split("_")[1] == k.kind for k in lowered.kernels)


def test_reductions_are_accumulators_with_their_combine_op_and_identity():
    _, lowered = _lowered(cpu_schedule("host"))
    decls = [s for k in lowered.kernels for s in _walk(k.body)
             if isinstance(s, K.Accumulator)]
    steps = [s for k in lowered.kernels for s in _walk(k.body) if isinstance(s, K.Accumulate)]
    assert {(d.op, d.identity.value) for d in decls} >= {("add", 0), ("maximum", -math.inf)}
    declared = {d.var: d.op for d in decls}
    assert steps and all(declared[s.var] == s.op for s in steps)
    text = "\n".join(format_kernel(k) for k in lowered.kernels)
    assert "accumulates maximum" in text and " maximum= " in text and " add= " in text


def test_llvm_emits_an_accumulation_exactly_as_the_equivalent_let_and_set():
    _, lowered = _lowered(cpu_schedule("host"))
    plain = dataclasses.replace(lowered, kernels=[_without_facts(k) for k in lowered.kernels])
    assert plain.kernels != lowered.kernels
    assert str(llvm_emit.emit_module(lowered)) == str(llvm_emit.emit_module(plain))


def test_cuda_maps_a_matmul_by_its_kind_not_its_name():
    _, lowered = _lowered(CUDA_SCHEDULE)
    mm = next(k for k in lowered.kernels if k.kind == "matmul")
    assert cuda_emit.plan_mapping(mm)[0] == "tiled"
    renamed = dataclasses.replace(mm, name="k0_some_kernel")
    assert cuda_emit.plan_mapping(renamed)[0] == "tiled"
    assert cuda_emit.plan_mapping(dataclasses.replace(mm, kind="loop"))[0] != "tiled"


def test_cuda_splits_a_row_over_a_block_only_for_declared_accumulators():
    _, lowered = _lowered(CUDA_SCHEDULE)
    rows = [k for k in lowered.kernels if k.kind == "row"]
    assert rows and all(cuda_emit.plan_mapping(k)[0] == "rows" for k in rows)
    # the same loops with plain lets and sets state no accumulation: one thread per row
    assert all(cuda_emit.plan_mapping(_without_facts(k))[0] == "grid" for k in rows)
    source = cuda_emit.emit_module(lowered).source
    assert "fc_block_reduce" in source and "fmaf(" in source
