"""The CUDA backend without a GPU: every kernel that the op suite
(tests/test_ops_differential.py) and the fusion suite (tests/test_fusion.py) generate is
rendered as CUDA C and compiled to a cubin by NVRTC, so a CUDA codegen error fails CI;
compile errors name the line and the graph node; placement, the cache and the no-GPU
error. Kernels are compiled in a few NVRTC calls (many programs' kernels per module)
to keep the suite fast."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from compiler_free import run_without_compiler
from oracle import _dims
from test_fusion import BINARY, UNARY, _random_graph
from test_ops_differential import CASES

import compiler as fc
from compiler.backends import cstyle
from compiler.backends.cuda import emit, nvrtc
from compiler.backends.cuda.build import schedule_of
from compiler.convert import convert
from compiler.frontend.graph import Graph
from compiler.ir import dtypes as T
from compiler.lower import kir as K
from compiler.ops import OPS
from compiler.pipeline import plan_and_lower
from passes.manager import run_pipeline
from runtime import cuda_driver as C
from runtime.cuda_executable import eval_index, launch_config


def _case_program(case):
    g = Graph()
    with g.as_default():
        ins = [g.create_op("placeholder", [], {"name": f"in{i}", "dtype": T.as_dtype(dt),
                                               "shape": _dims(g, shape, i)},
                           name=f"in{i}").outputs[0] for i, (dt, shape) in enumerate(case.specs)]
        outs = case.build(g, *ins)
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    return convert(g, outs, ins)


def _fusion_programs():
    """The fusion suite's graphs (every pass on), its row kernels in every float dtype and
    20 random fused graphs drawn as its hypothesis test draws them."""
    progs = []

    def add(fetches, feeds, g):
        progs.append(run_pipeline(convert(g, fetches, feeds), fc.CompileOptions())[0])

    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None], name="x")
        add([fc.tanh(x * 1.5 + 0.3) * fc.sigmoid(x) - 0.5 * x * x], [x], g)
    with fc.Graph().as_default() as g:
        z = fc.placeholder(fc.float32, [None, 10], name="z")
        labels = fc.placeholder(fc.float32, [None, 10], name="labels")
        loss = fc.reduce_mean(fc.nn.softmax_cross_entropy_with_logits(labels=labels, logits=z))
        add([fc.nn.softmax(z), fc.nn.log_softmax(z), loss], [z, labels], g)
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        w = fc.Variable(np.ones((8, 4), np.float32), name="w")
        b = fc.Variable(np.ones(4, np.float32), name="b")
        y = fc.nn.relu(fc.matmul(x, w) + b)
        add([y, fc.gradients(fc.reduce_sum(y), [w, b])[0]], [x], g)
    for dtype in ("float16", "float32", "float64"):
        with fc.Graph().as_default() as g:
            x = fc.placeholder(dtype, [None, 37], name="x")
            add([fc.nn.softmax(x * 2.0), fc.nn.log_softmax(x)], [x], g)
    rng = np.random.default_rng(0)
    kinds = UNARY + BINARY + ["rowsum", "rowmax", "colsum", "softmax", "dense"]
    for _ in range(20):
        ops = [(kinds[rng.integers(len(kinds))], int(rng.integers(31)), int(rng.integers(31)))
               for _ in range(rng.integers(1, 8))]
        with fc.Graph().as_default() as g:
            x = fc.placeholder(fc.float32, [None, 4], name="x")
            y = fc.placeholder(fc.float32, [None, 4], name="y")
            add(_random_graph(ops, x, y)[-2:], [x, y], g)
    return progs


CHUNKS = 6
GPU_OPTIONS = fc.CompileOptions(device="gpu")  # the CUDA backend's lowering


def _kernels_of(programs, tag):
    out = []
    for n, prog in enumerate(programs):
        _, low = plan_and_lower(prog, GPU_OPTIONS)
        out += [dataclasses.replace(k, name=f"{tag}{n}_{k.name}") for k in low.kernels]
    return out


@pytest.fixture(scope="module")
def all_kernels():
    kernels = _kernels_of([_case_program(c) for c in CASES], "op")
    return kernels + _kernels_of(_fusion_programs(), "fusion")


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_generated_kernel_compiles_with_nvrtc(all_kernels, chunk):
    kernels = all_kernels[chunk::CHUNKS]
    module = emit.emit_module(K.LoweredProgram([], kernels, [], [], {}), f"suite{chunk}")
    cubin = nvrtc.compile_cubin(module, "sm_90")
    assert len(cubin) > 0
    mappings = {emit.plan_mapping(k)[0] for k in all_kernels}
    assert {"grid", "rows", "block", "tiled", "mma", "serial"} <= mappings


def test_every_elementwise_op_has_a_c_rule():
    # the full completeness tests (every kernel-IR op, every dtype) are in
    # tests/test_scalar_op_tables.py; this one asks the tables the CUDA emitter uses
    from compiler.backends.cuda import scalar_ops
    for name, op in OPS.items():
        if op.fusion == "elementwise" and name not in ("cast", "select"):
            table = cstyle.UNARY if op.arity == 1 else cstyle.BINARY
            assert name in table, f"{name} has no C scalar rule"
            table = scalar_ops.OPS.unary_rules if op.arity == 1 else scalar_ops.OPS.binary_rules
            assert name in table, f"{name} has no CUDA scalar rule"


def _dense_program():
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        w = fc.Variable(np.ones((8, 4), np.float32), name="w")
        y = fc.nn.relu(fc.matmul(x, w) + 1.0, name="act")
        return run_pipeline(convert(g, [y], [x]), fc.CompileOptions())[0]


def test_a_compile_error_shows_the_line_and_the_graph_node():
    _, low = plan_and_lower(_dense_program(), GPU_OPTIONS)
    module = emit.emit_module(low, "broken")
    module.source = module.source.replace("fc_fmax(t", "fc_no_such_rule(t", 1)
    with pytest.raises(nvrtc.CudaCompileError) as info:
        nvrtc.compile_cubin(module)
    text = str(info.value)
    assert "fc_no_such_rule" in text and "identifier" in text
    assert "in kernel k0_matmul_maximum computing maximum 'act'" in text
    marked = [line for line in text.splitlines() if line.startswith(">")]
    assert marked and "fc_no_such_rule" in marked[0]


def test_the_source_is_readable_and_the_dump_has_a_cuda_stage():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = fc.tanh(x * 1.5 + 0.3) * fc.sigmoid(x) - 0.5 * x * x
        texts = fc.dump(y, options=fc.CompileOptions(device="gpu"))
    assert list(texts)[-3:] == ["fusion", "kernels", "cuda"]
    src = texts["cuda"]
    assert "grid mapping" in src and "tanhf(" in src and "fc_sigmoid(" in src
    assert "__expf" not in src and "blockIdx.x * (long long)blockDim.x" in src


def test_softmax_rows_use_block_reductions_and_matmul_uses_fma():
    with fc.Graph().as_default():
        z = fc.placeholder(fc.float32, [None, 1000], name="z")
        w = fc.constant(np.ones((1000, 10), np.float32))
        src = fc.dump([fc.nn.softmax(z), fc.matmul(z, w)],
                      options=fc.CompileOptions(device="gpu"))["cuda"]
    assert "rows mapping" in src and "fc_block_reduce(" in src and "fmaf(" in src
    assert "tiled mapping" in src and "__shared__ __align__(16) float fc_As[2][8][132];" in src


def test_placement_by_device_strings_and_options():
    from compiler.pipeline import needed_ops
    from compiler.placement import PlacementError, kind_of, place
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        with fc.device("/gpu:0"):
            y = fc.exp(x, name="on_gpu")
        assert "cuda" in fc.dump(y)
        with fc.device("/cpu:0"):
            z = fc.add(y, 1.0, name="on_cpu")
        # a graph on both devices is partitioned (issue 17): one program per partition
        texts = fc.dump(z)
        assert "p0_GPU0/cuda" in texts and "p1_CPU0/llvm" in texts
        assert "recv from p0: " in texts["partitions"]
        with pytest.raises(PlacementError, match="both the CPU and the GPU.*partition"):
            kind_of(place(needed_ops([z], []), fc.CompileOptions()), fc.CompileOptions())
        with fc.device("/cpu:0"):
            c = fc.exp(x, name="cpu_only")
        assert "llvm" in fc.dump(c + 1.0)  # unannotated ops follow the annotated ones
        # the free add follows its input on the CPU, its constant its consumer
        assert "llvm" in fc.dump(c + 1.0, options=fc.CompileOptions(device="gpu"))
    assert fc.CompileOptions(device="/device:GPU:0").device == "gpu"
    assert fc.ConfigProto(device="/gpu:0").options().device == "gpu"
    with pytest.raises(ValueError, match="unknown device"):
        fc.CompileOptions(device="/gpu:1")


def test_the_schedule_takes_program_symbols_and_int_constants():
    _, low = plan_and_lower(_dense_program(), GPU_OPTIONS)
    module = emit.emit_module(low, "m")
    kname, bufs, syms = low.calls[0]
    low.calls.append((kname, bufs, [7]))
    sched = schedule_of(low, module)
    assert sched[0]["symbols"] == syms and sched[1]["symbols"] == [7]
    assert sched[0]["mapping"] == "tiled"  # 128 x 128 output tiles
    assert eval_index(sched[0]["extent"], {"s0": 130}) == 2
    assert launch_config(sched[0], {"s0": 130}, 132) == (2, 256)
    assert launch_config(sched[0], {"s0": 0}, 132) is None
    rows = {"mapping": "rows", "extent": ["mul", "s0", 1], "work": ["mul", "s0", 4096],
            "threads": 256}
    assert launch_config(rows, {"s0": 10}, 132) == (10, 256)
    grid = {"mapping": "grid", "extent": "s0", "threads": 256, "ilp": 4}
    assert launch_config(grid, {"s0": 2 ** 26}, 132) == (132 * 32, 256)
    assert launch_config(grid, {"s0": 5000}, 132) == (5, 256)


def test_cubins_and_schedules_go_through_the_compile_cache(monkeypatch, tmp_path):
    from compiler import cache
    from compiler.pipeline import build_program
    monkeypatch.setenv("FLOWC_CACHE", "1")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path))
    options = fc.CompileOptions(device="gpu")
    prog = _dense_program()
    stores = cache.stats["stores"]
    first = build_program(prog, options)
    assert cache.stats["stores"] == stores + 1
    hits = cache.stats["hits"]
    again = build_program(prog, options)
    assert cache.stats["hits"] == hits + 1
    assert again.cubin == first.cubin and again.schedule == first.schedule
    other = build_program(prog, fc.CompileOptions(device="gpu", cuda_arch="sm_80"))
    assert other.arch == "sm_80" and other.cubin != first.cubin


def test_without_a_gpu_building_works_and_running_raises_a_named_error():
    if C.gpu_available():
        pytest.skip("this machine has a GPU (tests/test_cuda_gpu.py runs the programs)")
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        v = fc.Variable(np.ones(3, np.float32), name="v")
        with fc.Session(config=fc.ConfigProto(device="/gpu:0")) as sess:
            with pytest.raises(C.NoGpuError, match="no GPU"):
                sess.run(v.initializer)
            with pytest.raises(C.NoGpuError):
                sess.run(fc.exp(x), {x: np.ones(2, np.float32)})
            assert sess.compile_count == 2


def test_the_gpu_runtime_imports_without_the_compiler():
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1] / "runtime"
    for path in [root / "cuda_executable.py", root / "cuda_driver.py", root / "executable.py"]:
        mods = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods.add(node.module.split(".")[0])
        assert not mods & {"compiler", "passes", "llvmlite"}, path
    out = run_without_compiler("import runtime.cuda_executable, runtime.cuda_driver as c\n"
                               "print(c.gpu_available() in (True, False))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_every_driver_status_goes_through_check(monkeypatch):
    drv = C.driver()
    assert C.check((drv.CUresult.CUDA_SUCCESS, 7), "x") == 7
    assert C.check((drv.CUresult.CUDA_SUCCESS,), "x") is None
    with pytest.raises(C.CudaError, match="cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY"):
        C.check((drv.CUresult.CUDA_ERROR_OUT_OF_MEMORY, None), "cuMemAlloc")

    class NoDevice:  # a driver library that is present, on a machine without a device
        CUresult = drv.CUresult

        def cuInit(self, flags):
            return (drv.CUresult.CUDA_ERROR_NO_DEVICE,)

        def cuGetErrorString(self, status):
            return (drv.CUresult.CUDA_SUCCESS, b"no CUDA-capable device is detected")
    monkeypatch.setattr(C, "_driver", NoDevice())
    monkeypatch.setattr(C, "_device", None)
    with pytest.raises(C.NoGpuError, match="cuInit failed: CUDA_ERROR_NO_DEVICE"):
        C.device()
    assert C.gpu_available() is False


def test_a_loop_that_reads_its_accumulator_is_not_split_over_a_block():
    from compiler.ir import dtypes as DT
    acc = K.Var("acc", DT.float32)
    load = K.Load("p1", K.Var("r"), DT.float32)
    good = K.Loop("r", K.IConst(64), (K.Accumulate("acc", "add", load),))
    bad = K.Loop("r", K.IConst(64), (
        K.Accumulate("acc", "add", load),
        K.Store("p0", K.Var("r"), acc)))
    decls = {"acc": K.Accumulator("acc", "add", K.FConst(0.0, DT.float32))}
    assert emit._strided_ok(good, decls) == {"acc": "add"}
    assert emit._strided_ok(bad, decls) is None
    # a plain local that starts at 1, not an accumulator at its identity
    assert emit._strided_ok(good, {"acc": K.Let("acc", K.FConst(1.0, DT.float32))}) is None
