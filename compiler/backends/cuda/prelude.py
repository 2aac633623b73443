"""CUDA support code printed once ahead of a module's kernels: Philox-4x32-10 and the
uniform/normal transforms (the contract of compiler/ops/philox.py, word for word), the
block-wide reduction used by row-mapped kernels, the vector type of 128-bit accesses
(`VEC_STRUCT`) and the matmul kernels' helpers (`MMA_HELPER`: the tensor-core step,
ldmatrix, cp.async).
Kernel-independent: op rules live in scalar_ops, loop mapping in emit."""

from __future__ import annotations

from ...ops import philox as P

#: the matmul kernels' device helpers (compiler/backends/cuda/matmul*.py), one string that
#: tests/cuda_emulator.py swaps for its CPU version (MMA_EMU) by exact text:
#: - one warp-wide tensor-core step: d (16x8, float32) += a (16x16, float16, row-major
#:   fragment) * b (16x8, float16, column fragment), PTX `mma.sync.m16n8k16` (sm_80+);
#: - `ldmatrix` x4 (four 8x8 b16 matrices, each lane names one row; `_t`: transposed);
#: - `cp.async` of 16 bytes global -> shared (`bytes` < 16 fills the rest with zeros),
#:   its commit and wait (sm_80+).
MMA_HELPER = """\
__device__ __forceinline__ void fc_mma_16816(float* d, const unsigned int* a,
                                             const unsigned int* b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ unsigned int fc_pack_h2(fc_half lo, fc_half hi) {
  return (unsigned int)lo | ((unsigned int)hi << 16);
}
__device__ __forceinline__ unsigned int fc_smem_u32(const void* p) {
  unsigned int a;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
  return a;
}
__device__ __forceinline__ void fc_ldsm_x4(unsigned int* r, const fc_half* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(fc_smem_u32(p))
               : "memory");
}
__device__ __forceinline__ void fc_ldsm_x4_t(unsigned int* r, const fc_half* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(fc_smem_u32(p))
               : "memory");
}
__device__ __forceinline__ void fc_cp_async16(fc_half* dst, const fc_half* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;"
               :: "r"(fc_smem_u32(dst)), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void fc_cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
__device__ __forceinline__ void fc_cp_async_wait0() {
  asm volatile("cp.async.wait_group 0;" ::: "memory");
}
"""

#: G consecutive elements moved by one wide load or store (`fc_vec<float, 4>`: 128 bits),
#: for pointwise kernels' global accesses and the f32 matmul tile's shared-memory loads
VEC_STRUCT = """\
template <typename T, int N> struct alignas(sizeof(T) * N) fc_vec { T v[N]; };
"""

PRELUDE = f"""\
/* Philox-4x32-10: counter (e lo, e hi, run lo, run hi), key (op seed, graph seed) */
struct fc_words {{ unsigned int w0, w1, w2, w3; }};
__device__ __forceinline__ fc_words fc_philox(long long e, long long run, unsigned int k0,
                                              unsigned int k1) {{
  unsigned int c0 = (unsigned int)e, c1 = (unsigned int)((unsigned long long)e >> 32);
  unsigned int c2 = (unsigned int)run, c3 = (unsigned int)((unsigned long long)run >> 32);
  for (int r = 0; r < {P.ROUNDS}; ++r) {{
    unsigned int hi0 = __umulhi({P.M0:#x}u, c0), lo0 = {P.M0:#x}u * c0;
    unsigned int hi1 = __umulhi({P.M1:#x}u, c2), lo1 = {P.M1:#x}u * c2;
    unsigned int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 += {P.W0:#x}u; k1 += {P.W1:#x}u;
  }}
  fc_words w = {{c0, c1, c2, c3}};
  return w;
}}
__device__ __forceinline__ float fc_u01_f32(unsigned int w) {{
  return (float)(w >> 8) * 5.9604644775390625e-08f;  /* 2^-24 */
}}
__device__ __forceinline__ double fc_u01_f64(unsigned int hi, unsigned int lo) {{
  return ((double)(hi >> 5) * 67108864.0 + (double)(lo >> 6)) * 1.1102230246251565e-16;
}}
__device__ __forceinline__ float fc_random_uniform_f32(long long e, long long run,
                                                       unsigned int k0, unsigned int k1) {{
  return fc_u01_f32(fc_philox(e, run, k0, k1).w0);
}}
__device__ __forceinline__ double fc_random_uniform_f64(long long e, long long run,
                                                        unsigned int k0, unsigned int k1) {{
  fc_words w = fc_philox(e, run, k0, k1);
  return fc_u01_f64(w.w0, w.w1);
}}
/* Box-Muller: sqrt(-2 log(1 - u0)) * cos(2 pi u1) */
__device__ __forceinline__ float fc_random_normal_f32(long long e, long long run,
                                                      unsigned int k0, unsigned int k1) {{
  fc_words w = fc_philox(e, run, k0, k1);
  float u0 = fc_u01_f32(w.w0), u1 = fc_u01_f32(w.w1);
  return sqrtf(-2.0f * logf(1.0f - u0)) * cosf(6.28318548202514648f * u1);
}}
__device__ __forceinline__ double fc_random_normal_f64(long long e, long long run,
                                                       unsigned int k0, unsigned int k1) {{
  fc_words w = fc_philox(e, run, k0, k1);
  double u0 = fc_u01_f64(w.w0, w.w1), u1 = fc_u01_f64(w.w2, w.w3);
  return sqrt(-2.0 * log(1.0 - u0)) * cos(6.283185307179586 * u1);
}}

/* Block-wide reduction (blockDim.x a multiple of 32): warp shuffles, then one partial
   per warp in shared memory, combined by every thread in the same order, so every
   thread returns the same value. */
template <typename T, typename F>
__device__ __forceinline__ T fc_block_reduce(T v, F op) {{
  __shared__ T fc_part[32];
  const unsigned int lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();  /* fc_part may still be read by the previous reduction */
  if (lane == 0) fc_part[warp] = v;
  __syncthreads();
  v = fc_part[0];
  for (unsigned int w = 1; w < (blockDim.x + 31u) / 32u; ++w) v = op(v, fc_part[w]);
  return v;
}}
""" + VEC_STRUCT + MMA_HELPER
