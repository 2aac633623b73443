#!/usr/bin/env bash
# flowc GPU check, in one go, for a machine with an NVIDIA H100/H200 (sm_90), no network
# and the image's python3 (no venv, nothing installed): under 8 minutes in all (each step
# under `timeout`, the limits sum to 455 s, and a step never runs past 470 s from the start).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]     everything goes under $OUT when it is set
#                                              (a device machine's output folder), else
#                                              OUT_DIR (default ./gpu_check_out)
#   PYTHON=python3.12 GPU_CHECK_QUICK=1 ...    the interpreter; tiny sizes and a test
#                                              subset (a smoke run)
#
# Steps: environment (Python packages against pyproject's requirements, llvmlite first;
# NVRTC, cuobjdump; the GPU), tests_gpu (tests/test_cuda_gpu.py), tests_static (the
# emulated, SASS and runtime tests: no GPU needed), bench (benchmarks/gpu_bench.py G1 G5 G2
# G2-f16 with cupy / jax-jit / torch), ncu (one Nsight Compute pass, SpeedOfLight +
# MemoryWorkloadAnalysis, on G1's flowc kernel only) and a summary. Each step's output is
# in <dir>/<step>.log (its tail is printed); a failing or timed-out step is reported and
# the script goes on. Without a GPU every GPU step fails at once saying "no GPU".
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
DEST=${OUT:-${1:-gpu_check_out}}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
QUICK=${GPU_CHECK_QUICK:+--quick}
export FLOWC_CACHE_DIR="${TMPDIR:-/tmp}/flowc-gpu-check-cache-$$"   # never the user's
export XLA_PYTHON_CLIENT_PREALLOCATE=false    # jax must not take the GPU's memory
export CUPY_TF32=0 NVIDIA_TF32_OVERRIDE=0     # TF32 off for every peer (DESIGN.md)
export HYPOTHESIS_PROFILE=ci                  # derandomized, 8 examples
T0=$(date +%s)
BUDGET=470                                     # seconds; the whole check stays under 8 min

step() {  # step NAME SECONDS [gpu] COMMAND...
    local name=$1 limit=$2 start rc left
    shift 2
    start=$(date +%s)
    left=$((BUDGET - (start - T0)))
    [ "$limit" -gt "$left" ] && limit=$left
    if [ "$1" = gpu ]; then
        shift
        if [ ! -e "$DEST/.gpu" ]; then
            echo "=== $name: FAILED: no GPU (see environment.log)" | tee "$DEST/$name.log"
            return 0
        fi
    fi
    if [ "$limit" -lt 5 ]; then
        echo "=== $name: NOT RUN: the ${BUDGET}s budget is spent" | tee "$DEST/$name.log"
        return 0
    fi
    echo "=== $name (limit ${limit}s, at +$((start - T0))s)"
    timeout -k 3 "$limit" "$@" > "$DEST/$name.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "=== $name: ok in $(($(date +%s) - start))s"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "=== $name: TIMED OUT after ${limit}s"
    else
        echo "=== $name: FAILED (exit $rc) in $(($(date +%s) - start))s"
    fi
    tail -n 25 "$DEST/$name.log"
    return 0
}

rm -f "$DEST/.gpu"
{ command -v nvidia-smi > /dev/null && nvidia-smi -L; } 2>&1 | tee "$DEST/nvidia-smi.log"
step environment 30 "$PY" - "$DEST/.gpu" << 'EOF'
import importlib, importlib.metadata as md, re, sys
print("python", sys.version.split()[0], sys.executable)
missing = []
def version(dist):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None
def numeric(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])
# pyproject's requirements, llvmlite first (the image's own may be older than flowc needs)
deps = re.search(r"^dependencies = \[(.*?)\]", open("pyproject.toml").read(), re.S | re.M)
for req in re.findall(r'"([^"]+)"', deps.group(1)):
    name, _, low = re.split(r"(>=)", req) if ">=" in req else (req, "", "")
    have = version(name)
    ok = have is not None and (not low or numeric(have) >= numeric(low))
    print(f"{'ok     ' if ok else 'MISSING'} {name} {have or 'not installed'}"
          f" (flowc needs {req})")
    if not ok:
        missing.append(req)
for name, what in (("cuda.bindings", "cuda-bindings (the driver API)"),
                   ("pytest", "pytest"), ("hypothesis", "hypothesis")):
    try:
        importlib.import_module(name)
        print(f"ok      {what}")
    except Exception as e:
        print(f"MISSING {what} ({type(e).__name__}: {e})")
        missing.append(what)
try:
    from compiler.backends.cuda import nvrtc
    print("ok      NVRTC", ".".join(map(str, nvrtc.version())))
except Exception as e:
    print(f"MISSING NVRTC (nvidia-cuda-nvrtc) ({type(e).__name__}: {e})")
    missing.append("nvidia-cuda-nvrtc")
try:
    from compiler.backends.cuda import sass
    print(f"ok      {sass.tool('cuobjdump')} (the SASS tests)")
except Exception as e:
    print(f"MISSING cuobjdump/nvdisasm: the SASS tests fail ({e})")
for peer in ("cupy", "torch", "jax"):
    have = [v for v in map(version, (peer, f"{peer}-cuda12x", f"{peer}-cuda13x")) if v]
    print(f"peer    {peer} {have[0] if have else 'not installed'}")
try:
    from runtime import cuda_driver as C
    d = C.device()
    print("gpu:", d.name, d.arch, d.sm_count, "SMs")
    open(sys.argv[1], "w").write(d.arch)
except Exception as e:
    print(f"no GPU: {type(e).__name__}: {e}")
if missing:
    print("MISSING (flowc cannot run without these):", ", ".join(missing))
sys.exit(1 if missing or not __import__("os").path.exists(sys.argv[1]) else 0)
EOF
if [ -n "$QUICK" ]; then   # smoke: the tensor-core matmul, the error flag, device variables
    step tests_gpu 120 gpu "$PY" -m pytest -q -p no:cacheprovider -o addopts=-ra \
        tests/test_cuda_gpu.py -k "float16 or out_of_range or stay_on_the_device or in_place"
else
    step tests_gpu 150 gpu "$PY" -m pytest -q -p no:cacheprovider -o addopts=-ra \
        tests/test_cuda_gpu.py
fi
step tests_static 60 "$PY" -m pytest -q -p no:cacheprovider -o addopts=-ra \
    tests/test_cuda_runtime.py tests/test_cuda_sass*.py tests/test_cuda_emulated.py
step bench 160 gpu "$PY" benchmarks/gpu_bench.py G1 G5 G2 G2-f16 $QUICK
grep '^{' "$DEST/bench.log" > "$DEST/bench.jsonl" 2> /dev/null
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2> /dev/null \
      | tail -n 1)
if [ -n "$NCU" ]; then   # flowc's kernels are named k<n>_...; G1 has one
    step ncu 45 gpu "$NCU" --target-processes all --kernel-name 'regex:^k[0-9]+_' \
        --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
        "$PY" benchmarks/gpu_bench.py G1 --flowc-only $QUICK
else
    echo "=== ncu: MISSING: Nsight Compute (ncu) is not on PATH nor in /usr/local/cuda/bin" \
        | tee "$DEST/ncu.log"
fi
step summary 10 "$PY" - "$DEST/bench.jsonl" << 'EOF'
import json, sys
try:
    recs = [json.loads(line) for line in open(sys.argv[1])]
except OSError:
    recs = []
if not recs:
    sys.exit("no benchmark results (no GPU, or the bench step failed: see bench.log)")
by = {(r["workload"], r["system"]): r for r in recs}
for r in recs:
    rate = r.get("gbps") or r.get("gflops")
    unit = "GFLOP/s" if r["workload"].startswith("G2") else "GB/s"
    print(f"{r['workload']:6} {r['system']:8} {r.get('median_ms', '-'):>10} ms "
          f"{rate if rate is not None else '-':>9} {unit}  {r['check'][:60]}")
f, c = by.get(("G1", "flowc"), {}), by.get(("G1", "copy"), {})
if f.get("gbps") and c.get("gbps"):
    share = f["gbps"] / c["gbps"]
    print(f"G1: flowc at {100 * share:.1f} % of the copy bandwidth (target >= 85 %):",
          "MET" if share >= 0.85 else "NOT MET")
for w in ("G2", "G2-f16"):
    f, peers = by.get((w, "flowc"), {}), [by.get((w, s), {}) for s in ("cupy", "torch")]
    best = max((p.get("gflops") or 0 for p in peers), default=0)
    if f.get("gflops") and best:
        print(f"{w}: flowc at {100 * f['gflops'] / best:.1f} % of cuBLAS (best of cupy, torch)")
EOF
rm -rf "$FLOWC_CACHE_DIR"
echo "=== done in $(($(date +%s) - T0))s; logs in $DEST"
