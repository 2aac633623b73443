#!/usr/bin/env bash
# flowc GPU check, in one go (about 5-7 minutes, hard cap 8): the GPU tests, then the GPU
# benchmarks G1 (W1's elementwise chain, 2^26 float32, against a device-to-device copy
# measured in the same run and cupy / jax-jit / torch), G5 (softmax 16384 x 1024) and G2
# (matmul 4096^3). Needs no network and installs nothing: run it from a copy of the repo
# on a machine with an NVIDIA GPU (sm_90: H100/H200), Python with numpy, llvmlite, jinja2,
# networkx, cuda-bindings, NVRTC and pytest/hypothesis (cupy, torch, jax optional).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (default OUT_DIR: ./gpu_check_out)
#   PYTHON=python3.12 GPU_CHECK_QUICK=1 ...       (the interpreter; tiny sizes: a smoke run)
#
# Every step's output goes to OUT_DIR/<step>.log (its tail is printed); a failing or
# timed-out step is reported and the script goes on. The benchmark's JSON lines are in
# OUT_DIR/bench.jsonl and summarized at the end (flowc's share of the copy's bandwidth).
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${1:-gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export FLOWC_CACHE_DIR="$OUT/cache"           # never the user's cache
export XLA_PYTHON_CLIENT_PREALLOCATE=false    # jax must not take the GPU's memory
export CUPY_TF32=0 NVIDIA_TF32_OVERRIDE=0     # TF32 off for every peer (DESIGN.md)
export HYPOTHESIS_PROFILE=ci                  # derandomized, 8 examples
T0=$(date +%s)

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    echo "=== $name (limit ${limit}s, at +$((start - T0))s)"
    timeout -k 5 "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "=== $name: ok in $(($(date +%s) - start))s"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "=== $name: TIMED OUT after ${limit}s"
    else
        echo "=== $name: FAILED (exit $rc) in $(($(date +%s) - start))s"
    fi
    tail -n 30 "$OUT/$name.log"
    return 0
}

command -v nvidia-smi > /dev/null && nvidia-smi -L
step environment 60 "$PY" -c "
import sys, numpy
print(sys.version.split()[0], 'numpy', numpy.__version__)
from compiler.backends.cuda import nvrtc
print('nvrtc', nvrtc.version())
from runtime import cuda_driver as C
d = C.device()
print('gpu:', d.name, d.arch, d.sm_count, 'SMs')
"
step tests_gpu 230 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda_gpu.py
step tests_codegen 60 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda_codegen.py
step bench 150 "$PY" benchmarks/gpu_bench.py G1 G5 G2 ${GPU_CHECK_QUICK:+--quick}
grep '^{' "$OUT/bench.log" > "$OUT/bench.jsonl" 2> /dev/null
step summary 20 "$PY" -c "
import json
recs = [json.loads(l) for l in open('$OUT/bench.jsonl')]
by = {(r['workload'], r['system']): r for r in recs}
for r in recs:
    rate = r.get('gbps') or r.get('gflops')
    unit = 'GFLOP/s' if r['workload'] == 'G2' else 'GB/s'
    print(f\"{r['workload']:3} {r['system']:8} {r.get('median_ms', '-'):>10} ms  \"
          f\"{rate if rate is not None else '-':>9} {unit}  {r['check'][:60]}\")
f, c = by.get(('G1', 'flowc'), {}), by.get(('G1', 'copy'), {})
if f.get('gbps') and c.get('gbps'):
    share = f['gbps'] / c['gbps']
    print(f'G1: flowc at {100 * share:.1f} % of the copy bandwidth (target >= 85 %):',
          'MET' if share >= 0.85 else 'NOT MET')
"
echo "=== done in $(($(date +%s) - T0))s; logs in $OUT"
