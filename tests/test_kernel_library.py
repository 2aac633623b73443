"""The kernel library (compiler/kernel_cache.py, compiler/backends/llvm/kernlib.py,
docs/cache.md): a kernel is compiled once per target; a second program in the process
links the first one's object (the disk cache off), a fresh process finds the kernels of
another program on disk, a damaged library entry is recompiled and never loaded, the
kernels of a compile-cache .so are hidden, and results equal the interpreter's."""

import ctypes
import glob
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import compiler as fc
from compiler import kernel_cache, memo
from compiler.backends.llvm import kernlib
from compiler.options import CompileOptions
from compiler.pipeline import build_program, optimized_program, plan_and_lower

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEED = np.linspace(-2, 2, 48, dtype=np.float32).reshape(6, 8)
OPTIONS = CompileOptions(threads=1)


def _graph(extra: bool):
    """softmax rows of tanh(x); with `extra`, also exp(x) * 3 (one more kernel)."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        fetches = [fc.nn.softmax(fc.tanh(x) * 2.0)]
        if extra:
            fetches.append(fc.exp(x) * 3.0 - 1.0)
    return g, x, fetches


def _program(extra):
    g, x, fetches = _graph(extra)
    with g.as_default():
        return optimized_program(fetches, [x], OPTIONS)[0]


def _keys(program) -> set:
    _, lowered = plan_and_lower(program, OPTIONS)
    return {kernlib.digest(kernlib.kernel_parts(k, OPTIONS)) for k in lowered.kernels}


def _check_against_interpreter(exe, extra):
    g, x, fetches = _graph(extra)
    want = fc.Session(graph=g, config=fc.ConfigProto(backend="interpret")).run(
        fetches, {x: FEED})
    got = exe.run([FEED], fc.Session()._store)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)


@pytest.fixture
def compiled_kernels():
    """Counts the kernels this process compiles through LLVM (kernlib.hooks); starts with
    no kernel and no program held in this process."""
    counted = []
    kernlib.hooks.append(counted.append)
    kernel_cache.clear_memo()
    memo.clear()
    yield counted
    kernlib.hooks.remove(counted.append)


def test_two_programs_compile_a_shared_kernel_once(monkeypatch, compiled_kernels):
    monkeypatch.setenv("FLOWC_CACHE", "0")   # the in-process memo alone
    first, second = _program(False), _program(True)
    keys1, keys2 = _keys(first), _keys(second)
    assert keys1 & keys2 and keys2 - keys1   # shared kernels, and one of its own
    exe1 = build_program(first, OPTIONS)
    assert sum(compiled_kernels) == len(keys1)
    before = dict(kernel_cache.stats)
    exe2 = build_program(second, OPTIONS)
    assert sum(compiled_kernels) == len(keys1 | keys2)   # the shared ones not again
    assert kernel_cache.stats["memo_hits"] - before["memo_hits"] == len(keys1 & keys2)
    _check_against_interpreter(exe1, False)
    _check_against_interpreter(exe2, True)
    del exe1   # the second program's code does not depend on the first's engine
    _check_against_interpreter(exe2, True)


_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import compiler as fc
    from compiler import kernel_cache, memo
    extra = sys.argv[2] == "1"
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        fetches = [fc.nn.softmax(fc.tanh(x) * 2.0)]
        if extra:
            fetches.append(fc.exp(x) * 3.0 - 1.0)
    feed = np.linspace(-2, 2, 48, dtype=np.float32).reshape(6, 8)
    cfg = fc.ConfigProto(intra_op_parallelism_threads=1)
    got = fc.Session(graph=g, config=cfg).run(fetches, {x: feed})
    want = fc.Session(graph=g, config=fc.ConfigProto(backend="interpret")).run(
        fetches, {x: feed})
    ok = all(np.allclose(a, b, rtol=2e-6, atol=1e-6) for a, b in zip(got, want))
    print(json.dumps({"ok": ok, **kernel_cache.stats}))
""")


def _child(tmp_path, extra) -> dict:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "FLOWC_CACHE": "1", "FLOWC_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(script), ROOT, "1" if extra else "0"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_fresh_process_finds_the_kernels_of_another_program(tmp_path):
    first = _child(tmp_path, extra=False)
    assert first["ok"] and first["disk_hits"] == 0 and first["compiled"] > 0
    second = _child(tmp_path, extra=True)   # a different program: no compile-cache hit
    assert second["ok"]
    assert second["disk_hits"] == first["compiled"]      # every kernel of the first
    assert second["compiled"] == len(_keys(_program(True)) - _keys(_program(False)))


def _fresh_build(tmp_path, program):
    """Build `program` with the disk cache on in `tmp_path`, with no compile-cache entry
    and nothing in the memo (so the kernels come from the library on disk or LLVM)."""
    import shutil
    shutil.rmtree(tmp_path / "cache" / "entries", ignore_errors=True)
    kernel_cache.clear_memo()
    memo.clear()
    return build_program(program, OPTIONS)


@pytest.mark.parametrize("damage", ["object", "key", "truncate"])
def test_a_damaged_library_entry_is_recompiled_not_loaded(tmp_path, monkeypatch,
                                                          compiled_kernels, damage):
    monkeypatch.setenv("FLOWC_CACHE", "1")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    program = _program(False)
    n = len(_keys(program))
    _fresh_build(tmp_path, program)
    assert sum(compiled_kernels) == n
    lib = tmp_path / "cache" / "kernels"
    (obj,) = glob.glob(str(lib / "obj" / "*.o"))
    keys = glob.glob(str(lib / "key" / "*.json"))
    if damage == "object":      # one byte of the code changed: it no longer hashes
        data = bytearray(open(obj, "rb").read())
        data[len(data) // 2] ^= 0x40
        open(obj, "wb").write(bytes(data))
    elif damage == "truncate":
        data = open(obj, "rb").read()
        open(obj, "wb").write(data[:-10])
    else:                       # a key file that claims another opt level
        record = json.load(open(keys[0]))
        record["key"]["opt_level"] = 0
        json.dump(record, open(keys[0], "w"))
    before = dict(kernel_cache.stats)
    exe = _fresh_build(tmp_path, program)
    bad = kernel_cache.stats["corrupt"] - before["corrupt"]
    assert bad == (1 if damage == "key" else n)
    assert sum(compiled_kernels) == n + bad           # recompiled, not loaded
    _check_against_interpreter(exe, False)
    before = dict(kernel_cache.stats)
    _fresh_build(tmp_path, program)                   # the rewritten entries load
    assert kernel_cache.stats["disk_hits"] - before["disk_hits"] == n
    assert kernel_cache.stats["corrupt"] == before["corrupt"]


def test_compile_cache_library_hides_the_kernels(tmp_path, monkeypatch):
    """The compile cache's .so links the same objects; it exports flowc_main, and no
    kernel symbol (hidden)."""
    monkeypatch.setenv("FLOWC_CACHE", "1")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    program = _program(True)
    _fresh_build(tmp_path, program)
    (so,) = glob.glob(str(tmp_path / "cache" / "entries" / "*" / "code.so"))
    lib = ctypes.CDLL(so)
    assert hasattr(lib, "flowc_main")
    _, lowered = plan_and_lower(program, OPTIONS)
    symbols = [kernlib.symbol(kernlib.digest(kernlib.kernel_parts(k, OPTIONS)))
               for k in lowered.kernels]
    assert symbols and not any(hasattr(lib, s) for s in symbols)
    hit = build_program(program, OPTIONS)
    _check_against_interpreter(hit, True)


def test_key_ignores_names_and_sees_code():
    """Kernels equal up to names share a key; a changed constant or thread count of a
    parallel kernel does not."""
    _, low1 = plan_and_lower(_program(False), OPTIONS)
    _, low2 = plan_and_lower(_program(True), OPTIONS)
    texts1 = {kernlib.canonical_text(k) for k in low1.kernels}
    assert texts1 <= {kernlib.canonical_text(k) for k in low2.kernels}
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        other = optimized_program([fc.nn.softmax(fc.tanh(x) * 2.5)], [x], OPTIONS)[0]
    _, low3 = plan_and_lower(other, OPTIONS)
    assert not texts1 & {kernlib.canonical_text(k) for k in low3.kernels}


def test_cli_info_explain_clear_cover_the_library(tmp_path, monkeypatch, capsys):
    from compiler.cli import main
    monkeypatch.setenv("FLOWC_CACHE", "1")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "model.py"
    model.write_text("import compiler as fc\n\ndef build():\n"
                     "    x = fc.placeholder(fc.float32, [None, 8], name='x')\n"
                     "    return [fc.nn.softmax(fc.tanh(x) * 2.0), fc.exp(x) * 3.0 - 1.0], [x]\n")
    n = len(_keys(_program(False)))
    _fresh_build(tmp_path, _program(False))
    kernel_cache.clear_memo()
    assert main(["cache", "info"]) == 0
    assert f"kernel library: {n} kernels in 1 objects" in capsys.readouterr().out
    assert main(["cache", "explain", f"{model}:build", "--threads", "1"]) == 0
    total = len(_keys(_program(True)))
    assert f"kernel library: {n} of its {total} kernels" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert f"and {n} library kernels" in capsys.readouterr().out
    assert kernel_cache.info()["kernels"] == 0 and kernel_cache.info()["memo_kernels"] == 0


def test_the_memo_is_bounded(monkeypatch, compiled_kernels):
    """Beyond MEMO_BYTES the least recently used objects go (with every key naming
    them): their kernels are compiled again."""
    monkeypatch.setenv("FLOWC_CACHE", "0")
    program = _program(False)
    n = len(_keys(program))
    build_program(program, OPTIONS)
    size = kernel_cache.info()["memo_bytes"]
    assert 0 < size and kernel_cache.info()["memo_kernels"] == n
    monkeypatch.setattr(kernel_cache, "MEMO_BYTES", size)   # room for this one alone
    before = dict(kernel_cache.stats)
    exe = build_program(_program(True), OPTIONS)   # its own kernel pushes the first out
    assert kernel_cache.stats["evictions"] > before["evictions"]
    assert kernel_cache.info()["memo_bytes"] <= size
    compiled = sum(compiled_kernels)
    memo.clear()   # (the program memo would skip the kernels altogether)
    build_program(_program(False), OPTIONS)
    assert sum(compiled_kernels) > compiled       # compiled again, not found
    _check_against_interpreter(exe, True)


def test_the_entry_calls_its_kernels_through_the_plt():
    # MCJIT may load a kernel's object more than 2 GiB away from the entry's (it did with
    # TensorFlow loaded in the process: bench.py C3 W8 aborted in RuntimeDyld); a PLT call
    # gets a stub within reach, a direct PC-relative call (`declare hidden`) cannot be
    # resolved. The static linker binds the same PLT call to the hidden definition.
    from compiler.backends.llvm import emit, target
    _, lowered = plan_and_lower(_program(True), OPTIONS)
    symbols = {k.name: kernlib.symbol(kernlib.digest(kernlib.kernel_parts(k, OPTIONS)))
               for k in lowered.kernels}
    module = emit.emit_entry_module(lowered, symbols)
    ref = target.optimize_entry(str(module))
    asm = target.target_machine("host", 0, pic=True).emit_assembly(ref)
    calls = [line.split()[-1] for line in asm.splitlines()
             if line.strip().startswith("call") and "fk_" in line]
    assert len(calls) >= len(set(symbols.values())) >= 2
    assert all(c.endswith("@PLT") for c in calls), calls


def test_a_serial_kernel_found_by_another_thread_count_calls_no_pool(compiled_kernels):
    """A 2-thread program compiles a parallel and a serial kernel; the 1-thread program
    of the same graph (no pool linked) finds the serial kernel in the library. Their
    objects must be apart: an object holding both called `flowc_pool_run` from the
    1-thread program (MCJIT resolved it to address 0: a segfault)."""
    g = fc.Graph()
    with g.as_default():
        big = fc.placeholder(fc.float32, [2048, 256], name="big")
        small = fc.placeholder(fc.float32, [6, 8], name="small")
        fetches = [fc.exp(big) * 3.0, fc.reduce_sum(small * 2.0 + 3.0)]
        feeds = [np.full((2048, 256), 0.5, np.float32), FEED]
        two, one = CompileOptions(threads=2), CompileOptions(threads=1)
        program = optimized_program(fetches, [big, small], two)[0]
    kernels = plan_and_lower(program, two)[1].kernels
    assert {kernlib.threads_of(k, 2) for k in kernels} == {1, 2}  # one of each kind
    want = [np.exp(feeds[0]) * 3.0, (2 * FEED + 3).sum()]
    for options in (two, one):
        memo.clear()  # a new program build; the kernel library stays
        got = build_program(program, options).run(feeds, fc.Session()._store)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)
