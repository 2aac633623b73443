"""A CPU stand-in for the CUDA driver, for tests on machines without a GPU.

`emulated_gpu()` (a context manager) replaces the driver-facing functions of
`runtime.cuda_driver` so that `runtime.cuda_executable.CudaExecutable` runs unchanged: device memory
is host memory, and a "cubin" is the generated CUDA C of the program compiled as C++
with g++ against a small shim (block and thread indices are thread-locals, `__syncthreads`
is a barrier, warp shuffles go through a shared slot array, `__shared__` is `static`).
Each block runs as real OS threads (Python threads calling the kernel through ctypes,
which releases the GIL), blocks one after another, with few threads per block (32 or 64)
and at most a few blocks, so grid-stride loops, block-strided loops and the block
reductions all run their multi-thread paths.

What this checks: the generated kernels' indexing, mapping and numerics (with the host
libm instead of CUDA's math library, and `_Float16` for float16), and the host schedule,
variables, error flag and outputs. What it cannot: the real driver calls, the cubin,
timing, warp-synchronous behavior beyond what the shim models.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import queue
import shutil
import subprocess
import tempfile
import threading

import numpy as np

from compiler.backends.cuda.prelude import MMA_HELPER
from compiler.backends.cuda.scalar_ops import HALF_HELPERS
from runtime import cuda_driver as C

SHIM = r"""
#include <math.h>
#include <string.h>
#include <pthread.h>
struct fc_emu_dim { unsigned int x; };
thread_local fc_emu_dim threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
static pthread_barrier_t fc_emu_bar;
extern "C" void fc_emu_init(int n) {
  static int ready = 0;
  if (ready) pthread_barrier_destroy(&fc_emu_bar);
  pthread_barrier_init(&fc_emu_bar, 0, n);
  ready = 1;
}
extern "C" void fc_emu_set(unsigned bx, unsigned tx, unsigned bd, unsigned gd) {
  blockIdx.x = bx; threadIdx.x = tx; blockDim.x = bd; gridDim.x = gd;
}
inline void __syncthreads() { pthread_barrier_wait(&fc_emu_bar); }
static unsigned long long fc_emu_slots[1024];
template <typename T> T __shfl_xor_sync(unsigned mask, T v, int o) {
  unsigned t = threadIdx.x; T out;
  memcpy(&fc_emu_slots[t], &v, sizeof(T));
  __syncthreads();
  memcpy(&out, &fc_emu_slots[t ^ (unsigned)o], sizeof(T));
  __syncthreads();
  return out;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return (unsigned)(((unsigned long long)a * b) >> 32);
}
inline int atomicCAS(int* p, int cmp, int val) { return __sync_val_compare_and_swap(p, cmp, val); }
inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned val) {
  return __sync_val_compare_and_swap(p, cmp, val);
}
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
template <typename F, typename U> F fc_emu_fadd(F* p, F v) {  /* CAS loop on the bits */
  U old = __atomic_load_n((U*)p, __ATOMIC_RELAXED), nu; F f, g;
  do { memcpy(&f, &old, sizeof f); g = f + v; memcpy(&nu, &g, sizeof g); }
  while (!__atomic_compare_exchange_n((U*)p, &old, nu, false, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED));
  return f;
}
inline double atomicAdd(double* p, double v) {
  return fc_emu_fadd<double, unsigned long long>(p, v);
}
"""

HALF_EMU = r"""
typedef unsigned short fc_half;
inline float fc_h2f(fc_half h) { _Float16 f; memcpy(&f, &h, 2); return (float)f; }
inline fc_half fc_bits(_Float16 f) { fc_half h; memcpy(&h, &f, 2); return h; }
inline fc_half fc_f2h(float x) { return fc_bits((_Float16)x); }
inline fc_half fc_d2h(double x) { return fc_bits((_Float16)x); }
"""

#: MMA_HELPER on the CPU: the warp's m16n8k16
#: step from the fragment layouts of the PTX ISA (every lane posts its fragments, then
#: computes its four results from the whole warp's); ldmatrix x4 per the PTX ISA (every lane
#: posts its row address, then gathers its fragment: lane l holds row l / 4, columns
#: 2 (l % 4), +1 of each 8x8 matrix, or with .trans rows 2 (l % 4), +1 of column l / 4);
#: cp.async as a synchronous copy with the zero fill; commit and wait as no-ops. Block
#: barriers stand in for the warp's convergence (the kernels call these block-uniformly).
MMA_EMU = r"""
static unsigned fc_emu_mma_a[32][32][4], fc_emu_mma_b[32][32][2];
inline float fc_emu_h(unsigned r, unsigned hi) {
  return fc_h2f((fc_half)(hi ? r >> 16 : r & 0xffffu));
}
inline void fc_mma_16816(float* d, const unsigned* a, const unsigned* b) {
  unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  for (int r = 0; r < 4; ++r) fc_emu_mma_a[warp][lane][r] = a[r];
  for (int r = 0; r < 2; ++r) fc_emu_mma_b[warp][lane][r] = b[r];
  __syncthreads();
  unsigned g = lane >> 2, t = lane & 3u;
  for (unsigned c = 0; c < 4; ++c) {
    unsigned row = g + (c >= 2 ? 8 : 0), col = 2 * t + (c & 1u);
    float s = 0.0f;
    for (unsigned k = 0; k < 16; ++k) {
      unsigned la = (row % 8) * 4 + (k % 8) / 2, ra = (row >= 8) + 2 * (k >= 8);
      unsigned lb = col * 4 + (k % 8) / 2, rb = (k >= 8);
      s += fc_emu_h(fc_emu_mma_a[warp][la][ra], k & 1u) *
           fc_emu_h(fc_emu_mma_b[warp][lb][rb], k & 1u);
    }
    d[c] += s;
  }
  __syncthreads();
}
inline unsigned int fc_pack_h2(fc_half lo, fc_half hi) {
  return (unsigned int)lo | ((unsigned int)hi << 16);
}
static const fc_half* fc_emu_ldsm[32][32];
inline void fc_emu_ldsm_x4(unsigned* r, const fc_half* p, bool trans) {
  unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3u;
  fc_emu_ldsm[warp][lane] = p;
  __syncthreads();
  for (unsigned m = 0; m < 4; ++m) {
    const fc_half* const* rows = &fc_emu_ldsm[warp][8 * m];
    fc_half lo = trans ? rows[2 * t][g] : rows[g][2 * t];
    fc_half hi = trans ? rows[2 * t + 1][g] : rows[g][2 * t + 1];
    r[m] = fc_pack_h2(lo, hi);
  }
  __syncthreads();
}
inline void fc_ldsm_x4(unsigned* r, const fc_half* p) { fc_emu_ldsm_x4(r, p, false); }
inline void fc_ldsm_x4_t(unsigned* r, const fc_half* p) { fc_emu_ldsm_x4(r, p, true); }
inline void fc_cp_async16(fc_half* dst, const fc_half* src, int bytes) {
  memset(dst, 0, 16);
  memcpy(dst, src, bytes);
}
inline void fc_cp_async_commit() {}
inline void fc_cp_async_wait0() {}
"""

_SOURCES: dict = {}      # sha256(cubin) -> CUDA C source
_BUILD_DIR = None


def register(exe):
    """Make the CudaExecutable `exe` loadable by the emulator (its cubin -> its source)."""
    _SOURCES[hashlib.sha256(exe.cubin).hexdigest()] = exe.texts["cuda"]
    return exe


def _compile(source: str) -> str:
    global _BUILD_DIR
    if _BUILD_DIR is None:
        _BUILD_DIR = tempfile.mkdtemp(prefix="flowc-cuda-emu-")
    assert HALF_HELPERS in source and MMA_HELPER in source
    text = SHIM + source.replace(HALF_HELPERS, HALF_EMU).replace(MMA_HELPER, MMA_EMU)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    so = os.path.join(_BUILD_DIR, f"m{key}.so")
    if not os.path.exists(so):
        src = so[:-3] + ".cpp"
        with open(src, "w") as f:
            f.write(text)
        cxx = shutil.which("g++") or shutil.which("c++")
        out = subprocess.run([cxx, "-std=c++17", "-O1", "-ffp-contract=off", "-shared", "-fPIC",
                              "-w", src, "-o", so, "-lpthread"], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"emulator: g++ failed:\n{out.stderr[:4000]}")
    return so


class _Device:
    sm_count, arch, name = 2, "sm_90", "emulated GPU (g++ on the CPU)"

    def activate(self):
        pass

    def synchronize(self):
        pass


class _Buffer:
    def __init__(self, nbytes):
        self.nbytes = int(nbytes)
        self._mem = np.zeros(max(1, self.nbytes) + 64, np.uint8)
        self.ptr = self._mem.ctypes.data


class _Module:
    def __init__(self, cubin):
        source = _SOURCES[hashlib.sha256(bytes(cubin)).hexdigest()]
        self.lib = ctypes.CDLL(_compile(source))

    def function(self, name):
        return (self.lib, getattr(self.lib, name))


#: one launch at a time, as on the one (legacy default) stream the runtime uses: the shim's
#: barrier and `static` shared memory are per library, so two launches at once would mix
_STREAM = threading.Lock()


def _launch(fn, grid, block, args, name="kernel"):
    with _STREAM:
        _launch_now(fn, grid, block, args, name)


def _launch_now(fn, grid, block, args, name):
    lib, kernel = fn
    if "_matmul_" in name:  # a tiled or mma matmul needs all its threads
        grid = min(grid, 2)
    elif block > 1:
        block = 64 if block > 256 else 32
        grid = min(grid, 3)
    lib.fc_emu_init(block)
    errors = []

    def thread(bx, tx):
        try:
            lib.fc_emu_set(bx, tx, block, grid)
            kernel(*args)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    for bx in range(grid):
        _run_block([lambda bx=bx, tx=tx: thread(bx, tx) for tx in range(block)])
    if errors:
        raise errors[0]


class _Worker:
    """A daemon thread that runs the jobs put in its queue (one block thread each)."""

    def __init__(self, done):
        self.jobs = queue.SimpleQueue()
        self.done = done
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            self.jobs.get()()
            self.done.release()


_WORKERS: list = []
_DONE = threading.Semaphore(0)


def _run_block(jobs):
    """Run `jobs` at once, one per OS thread (a block's threads must all be running for
    its barriers), on threads kept between launches: starting ~100 threads per launch
    was most of the emulated tests' time."""
    while len(_WORKERS) < len(jobs):
        _WORKERS.append(_Worker(_DONE))
    for worker, job in zip(_WORKERS, jobs):
        worker.jobs.put(job)
    for _ in jobs:
        _DONE.acquire()


def _forget_workers():  # a forked child has none of the parent's threads
    global _DONE
    _WORKERS.clear()
    _DONE = threading.Semaphore(0)


os.register_at_fork(after_in_child=_forget_workers)


@contextlib.contextmanager
def emulated_gpu():
    names = ("device", "DeviceBuffer", "Module", "launch", "upload", "download",
             "copy_device", "memset32", "gpu_available")
    saved = {n: getattr(C, n) for n in names}
    dev = _Device()
    C.device = lambda: dev
    C.DeviceBuffer = _Buffer
    C.Module = _Module
    C.launch = _launch
    C.upload = lambda dst, arr: ctypes.memmove(dst, arr.ctypes.data, arr.nbytes)
    C.download = lambda arr, src: ctypes.memmove(arr.ctypes.data, src, arr.nbytes)
    C.copy_device = lambda dst, src, n: ctypes.memmove(dst, src, n)
    C.memset32 = lambda ptr, value, count: ctypes.memmove(
        ptr, np.full(count, value, np.int32).ctypes.data, 4 * count)
    C.gpu_available = lambda: True
    from runtime.cuda_executable import CudaExecutable
    init = CudaExecutable.__init__

    def registering_init(self, *args, **kwargs):  # every executable built meanwhile
        init(self, *args, **kwargs)
        if "cuda" in self.texts:
            register(self)
    CudaExecutable.__init__ = registering_init
    try:
        yield dev
    finally:
        CudaExecutable.__init__ = init
        for n, v in saved.items():
            setattr(C, n, v)
