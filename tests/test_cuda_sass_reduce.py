"""Static performance checks of the CUDA reduction forms (no GPU: NVRTC, cuobjdump and
the runtime's own launch arithmetic): enough blocks to fill an H100 (132 SMs) for full
and column reductions, and several global loads in flight per trip of the loops that
stream the input (stage 1 of a reduction, softmax rows). Assertions about the code's
shape, not timings (docs/cuda.md "Reductions")."""

from __future__ import annotations

import numpy as np
import pytest
from test_cuda_sass import gpu_executable

import compiler as fc
from compiler.backends.cuda import sass
from runtime.cuda_executable import launch_config, launches

SMS = 132  # an H100 SXM

try:
    sass.tool("cuobjdump")
    sass.tool("nvdisasm")
except sass.SassUnavailable as e:  # the `cuda` extra is part of the test requirements
    raise RuntimeError(str(e)) from None


def _blocks(exe, dims):
    """{kernel: blocks of its launch} with the program symbols N0, N1, ... = dims."""
    env = {f"N{i}": d for i, d in enumerate(dims)}
    out = {}
    for call in launches(exe.schedule):
        symbols = {f"s{i}": env[s] if isinstance(s, str) else s
                   for i, s in enumerate(call["symbols"])}
        config = launch_config(call, symbols, SMS)
        out[call["kernel"]] = config[0] if config else 0
    return out


def _ldg_per_trip(exe, kernel):
    """The most global loads in one trip of an innermost loop of `kernel`'s SASS (a loop
    with no loop inside: an outer loop around several passes does not count)."""
    instrs = sass.disassemble(exe.cubin)[kernel]
    spans = sass.loops(instrs)
    inner = [s for s in spans
             if not any(t != s and s[0] <= t[0] and t[1] <= s[1] for t in spans)]
    return max((sass.count(sass.within(instrs, span), "LDG") for span in inner), default=0)


def _first(exe, part):
    return next(c["kernel"] for c in launches(exe.schedule) if part in c["kernel"])


def test_a_full_reduction_of_2_26_floats_fills_the_gpu():
    exe = gpu_executable(lambda x: fc.reduce_sum(x), [[None]])
    blocks = _blocks(exe, [1 << 26])
    assert max(blocks.values()) >= SMS, blocks
    assert _ldg_per_trip(exe, _first(exe, "_partial_")) >= 4


def test_a_column_reduction_of_2_20_by_64_fills_the_gpu():
    exe = gpu_executable(lambda x: fc.reduce_sum(x, axis=0), [[None, 64]])
    blocks = _blocks(exe, [1 << 20])
    assert max(blocks.values()) >= SMS, blocks
    assert _ldg_per_trip(exe, _first(exe, "_partial_")) >= 4


@pytest.mark.parametrize("fn", [fc.nn.softmax, fc.nn.log_softmax])
def test_softmax_rows_have_4_loads_per_trip(fn):
    exe = gpu_executable(fn, [[None, None]])
    kernel = next(c["kernel"] for c in launches(exe.schedule) if c["mapping"] == "rows")
    assert _ldg_per_trip(exe, kernel) >= 4


def test_no_reduction_kernel_spills():
    exe = gpu_executable(lambda x: [fc.reduce_sum(x), fc.reduce_max(x, axis=0),
                                    fc.nn.softmax(x)], [[None, None]])
    for name, usage in sass.resources(exe.cubin).items():
        assert usage.get("LOCAL", 0) == 0 and usage.get("STACK", 0) == 0, (name, usage)
    assert np.all([b >= 1 for b in _blocks(exe, [1 << 20, 64]).values()])


def test_a_gather_gradient_scatters_on_many_threads():
    """The gradient of a gather is a scatter_add: a grid over the 2^20 x 64 updates with
    atomic adds (float32: a compare-and-swap loop, ATOMG.E.CAS), not one thread."""
    def build(p, i):
        rows = fc.gather(p, fc.cast(i, fc.int32))
        return fc.gradients(fc.reduce_sum(rows * 3.0), [p])[0]
    exe = gpu_executable(build, [[None, 64], [None]])
    blocks = _blocks(exe, [1 << 16, 1 << 20])
    scatter = [k for k in blocks if "scatter_add" in k]
    assert scatter and all(blocks[k] >= SMS for k in scatter), blocks
    kernel = next(c["kernel"] for c in launches(exe.schedule) if c["can_fail"])
    instrs = sass.disassemble(exe.cubin)[kernel]
    assert sass.count(instrs, "ATOMG") + sass.count(instrs, "RED") >= 1
    # the hardware's float add atomics flush subnormals (RED.E.ADD.F32.FTZ): not used
    assert not [i for i in instrs if "FTZ" in i.opcode], [i.opcode for i in instrs]


def test_a_dynamic_update_writes_its_row_on_many_threads():
    def build(x, u, i):
        g = fc.get_default_graph()
        return g.create_op("dynamic_update_slice", [x, u, fc.cast(i, fc.int32)], {}).outputs[0]
    exe = gpu_executable(build, [[None, None], [None], []])
    blocks = _blocks(exe, [1 << 10, 1 << 16])
    assert all(b >= 256 for b in blocks.values()), blocks  # 2^16 elements a row
