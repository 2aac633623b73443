"""Static performance checks of pointwise GPU kernels (compiler/backends/cuda/pointwise.py),
on the SASS of their sm_90 cubins (compiler/backends/cuda/sass.py; no GPU needed): the
vector path's loop moves 128-bit words, keeps everything in registers and has no branch
in its body other than the ones the IEEE division forces; the launch covers what a
thread does per trip. Statements about the code's shape, not timings."""

from __future__ import annotations

from test_cuda_sass import gpu_cubin

import compiler as fc
from compiler.backends.cuda import sass
from compiler.convert import convert
from compiler.pipeline import build_program
from passes.manager import run_pipeline
from runtime.cuda_executable import launch_config


def _w1(x):
    """G1's chain."""
    return fc.tanh(x * 1.5 + 0.3) * fc.sigmoid(x) - 0.5 * x * x


def _kernel(build, shapes, dtype=fc.float32):
    cubin = gpu_cubin(build, shapes, dtype)
    (name, instrs), = sass.disassemble(cubin).items()
    return instrs, sass.resources(cubin)[name]


def _vector_loops(instrs):
    """The loops that load 128-bit words (the vector path; ptxas may duplicate a loop)."""
    return [sass.within(instrs, s) for s in sass.loops(instrs)
            if sass.count(sass.within(instrs, s), "LDG.E.128")]


def _inner_branches(body):
    """The control transfers of a loop body other than its closing branch."""
    return [i for i in body[:-1] if i.op in ("BRA", "BRX", "JMP", "JMX", "CALL", "RET")]


def test_g1_vector_loop_moves_128_bit_words_without_branches():
    instrs, usage = _kernel(_w1, [[None]])
    loops = _vector_loops(instrs)
    assert loops, "no loop with a 128-bit load"
    assert usage["LOCAL"] == 0 and usage["STACK"] == 0
    for body in loops:
        assert body[-1].op == "BRA"
        groups = sass.count(body, "LDG.E.128")
        # one 128-bit load of x and one 128-bit store of the result per group of 4
        assert sass.count(body, "STG.E.128") == groups
        assert sass.count(body, "LDG") == groups and sass.count(body, "STG") == groups
        assert sass.count(body, "LDL") == 0 and sass.count(body, "STL") == 0
        # The one allowed branch: sigmoid's IEEE division (--prec-div=true) checks its
        # operands (FCHK) and calls the slow path for the rare ones it cannot round with
        # the fast sequence: per element one predicated BRA around one CALL. No other
        # branch (tanhf and expf are branch-free; sigmoid has no sign branch and one
        # division, not two).
        inner = _inner_branches(body)
        elements = 4 * groups
        assert sass.count(body, "FCHK") == elements
        assert [i.op for i in inner] == ["BRA", "CALL"] * elements, \
            [(i.guard, i.opcode) for i in inner]
        assert all(i.guard for i in inner if i.op == "BRA")


def test_relu_bias_vector_loop_is_branch_free():
    """x + b (b broadcast along rows, a scalar load), then relu: maximum is selects."""
    instrs, usage = _kernel(lambda x, b: fc.nn.relu(x + b), [[None, 64], [64]])
    loops = _vector_loops(instrs)
    assert loops and usage["LOCAL"] == 0
    for body in loops:
        groups = sass.count(body, "LDG.E.128")
        assert sass.count(body, "STG.E.128") == groups
        assert _inner_branches(body) == [], [(i.guard, i.opcode) for i in _inner_branches(body)]


def test_casts_and_minimum_are_branch_free():
    for build, shapes in ((lambda x: fc.cast(x, fc.int32), [[None]]),
                          (lambda x, y: fc.minimum(x, y), [[None], [None]])):
        instrs, _ = _kernel(build, shapes)
        loops = _vector_loops(instrs)
        assert loops
        for body in loops:
            assert _inner_branches(body) == [], \
                [(i.guard, i.opcode) for i in _inner_branches(body)]


def test_float16_moves_8_halves_per_access_and_the_launch_says_so():
    options = fc.CompileOptions(device="gpu")
    with fc.Graph().as_default() as g:
        x, y = fc.placeholder(fc.float16, [None]), fc.placeholder(fc.float16, [None])
        program, _ = run_pipeline(convert(g, [x * y + x], [x, y]), options)
    exe = build_program(program, options)
    (launch,), = [[it for it in exe.schedule if "mapping" in it]]
    assert launch["ilp"] == 8  # a thread covers 8 halves (one 128-bit word) per trip
    n = 1 << 20
    assert launch["extent"] == "s0"
    blocks, threads = launch_config(launch, {"s0": n}, sm_count=132)
    assert threads == 256 and blocks == n // (256 * 8)
    for body in _vector_loops(sass.disassemble(exe.cubin)[launch["kernel"]]):
        assert sass.count(body, "STG.E.128") == sass.count(body, "LDG.E.128") // 2
