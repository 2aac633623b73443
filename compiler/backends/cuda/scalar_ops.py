"""The CUDA scalar-op table: the C-style table (compiler/backends/cstyle.py) with only
CUDA's entries overridden: `UNARY = {**cstyle.UNARY, **UNARY_OVERRIDES}` (and `BINARY`
likewise) for the op rules, `CudaOps` for the dialect.

- float16 is stored as `fc_half` (the 16 raw bits; converted with the PTX `cvt`
  instructions, so no CUDA header is needed) and computed in float32, as lowering asks.
- Helpers are `__device__ __forceinline__`.
- Math calls are CUDA's accurate functions (`expf`, `tanhf`, ...; never the `__expf`
  intrinsics): their ULP bounds are in the CUDA Math API documentation and docs/cuda.md.
  They have the C names, so no op rule is overridden today: the override tables are
  where a CUDA-only spelling of an op goes (a `Rule` of cstyle).
"""

from __future__ import annotations

from ...ir import dtypes as T
from .. import cstyle
from ..cstyle import MEM_TYPES, REG_TYPES, CStyleOps

__all__ = ["BINARY", "UNARY", "CudaOps", "OPS", "HALF_HELPERS", "ATOMIC_HELPERS"]

#: CUDA's op rules that differ from the C-style table (kernel-IR op -> cstyle.Rule)
UNARY_OVERRIDES: dict = {}
BINARY_OVERRIDES: dict = {}
#: kernel-IR op -> Rule; keys: exactly `kir.UNARY_OPS` / `kir.BINARY_OPS`
UNARY = {**cstyle.UNARY, **UNARY_OVERRIDES}
BINARY = {**cstyle.BINARY, **BINARY_OVERRIDES}

#: float16 <-> float32/float64 with round-to-nearest-even, as numpy's astype
HALF_HELPERS = """\
typedef unsigned short fc_half;
__device__ __forceinline__ float fc_h2f(fc_half h) {
  float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f;
}
__device__ __forceinline__ fc_half fc_f2h(float f) {
  fc_half h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h;
}
__device__ __forceinline__ fc_half fc_d2h(double d) {
  fc_half h; asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(d)); return h;
}
"""


#: float32 atomic add as a compare-and-swap loop: the hardware's `red/atom.add.f32`
#: flushes subnormal inputs and results to zero (PTX ISA), and flowc keeps them
#: (--ftz=false); float64's `atom.add.f64` keeps them, so it is used as is
ATOMIC_HELPERS = """\
__device__ __forceinline__ void fc_atomic_add_f32(float* p, float v) {
  unsigned int* q = (unsigned int*)p;
  unsigned int old = *q, seen;
  do {
    seen = old;
    old = atomicCAS(q, seen, __float_as_uint(__uint_as_float(seen) + v));
  } while (old != seen);
}
"""


class CudaOps(CStyleOps):
    reg_types = {**REG_TYPES, T.float16: "fc_half"}
    mem_types = {**MEM_TYPES, T.float16: "fc_half"}
    unary_rules = UNARY
    binary_rules = BINARY
    helper_qualifier = "__device__ __forceinline__"

    def helpers(self) -> str:
        return HALF_HELPERS + ATOMIC_HELPERS + super().helpers()

    def const(self, value, dtype) -> str:
        if dtype is T.float16:
            return f"fc_f2h({super().const(value, T.float32)})"
        return super().const(value, dtype)

    def cast(self, x, src, dst) -> str:
        if src is dst:
            return x
        if src is T.float16:
            return self.cast(f"fc_h2f({x})", T.float32, dst)
        if dst is T.float16:
            if src is T.float64:
                return f"fc_d2h({x})"
            # ints and bools round through float32, as the reference does
            return f"fc_f2h({self.cast(x, src, T.float32)})"
        return super().cast(x, src, dst)

    def atomic_add(self, ref, value, dtype) -> str:
        """The statement adding `value` to memory `ref` atomically (`kir.AtomicAdd`)."""
        if dtype is T.int64:  # two's complement: the unsigned sum has the same bits
            return f"atomicAdd((unsigned long long*)&{ref}, (unsigned long long)({value}));"
        if dtype is T.float32:
            return f"fc_atomic_add_f32(&{ref}, {value});"
        if dtype in (T.float64, T.int32):
            return f"atomicAdd(&{ref}, {value});"
        raise NotImplementedError(f"no CUDA atomic add for {dtype.name}")


OPS = CudaOps()
