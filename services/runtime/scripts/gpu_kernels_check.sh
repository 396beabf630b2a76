#!/usr/bin/env bash
# One command for a GPU machine: kernel tests on real shapes, then the scan's tiles timed side by
# side and the 2.8B-shape LoRA SFT + decode benchmark with the fastest.
#
#   cd services/runtime && bash scripts/gpu_kernels_check.sh
#
# Writes every JSON record to $OUT/kernels.jsonl (default ./gpu-out), the pytest logs to
# $OUT/pytest_*.txt, the bench's stdout to $OUT/bench.stdout, and prints a summary table.
# Stops when a kernel test fails. About 3-4 minutes on one H100/H200 (most of it Triton compiles
# and building the 2.8B model twice). No secrets are read or printed.
#
# Environment: WHAT (bench measurements, default train,decode; add long, profile, profile_decode),
# SCAN_ARGS (default "--scan-tiles 3": time three tiles first and train with the fastest;
# '--scan-config {"CHUNK":4,"DI":4,"NI":4,"bwd_DI":1,"bwd_NI":4}' skips the comparison),
# BENCH_ARGS (more bench flags, e.g. "--no-grad-ckpt --batch 4").
set -euo pipefail

cd "$(dirname "$0")/.."
export PYTHONPATH=.
PY=${PYTHON:-python3}
OUT=${OUT:-./gpu-out}
mkdir -p "$OUT"
JSONL="$OUT/kernels.jsonl"
: > "$JSONL"

"$PY" - <<'PY'
import sys, torch, triton, transformers, peft
if not torch.cuda.is_available():
    sys.exit("gpu_kernels_check: no CUDA GPU visible")
print(f"[env] {torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__} "
      f"transformers {transformers.__version__} peft {peft.__version__}", flush=True)
PY

echo "[1/2] kernel tests on the GPU (real shapes), the files in parallel" >&2
# Most of this phase is Triton compiling ~50 kernel specialisations (2-3 s each, one CPU core
# per pytest process), so the three files run side by side; each stops at its first failure.
start=$SECONDS
pids=()
tests=(test_kernels test_kernels_packed test_kernels_model test_kernels_norm test_sft_packing test_lora)
for t in "${tests[@]}"; do
  timeout 200 "$PY" -m pytest -x -q -p no:cacheprovider "tests/$t.py" > "$OUT/pytest_$t.txt" 2>&1 &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
for t in "${tests[@]}"; do
  echo "--- $t" >&2
  tail -n 4 "$OUT/pytest_$t.txt" >&2
done
if [ "$failed" != 0 ]; then
  echo "[1/2] kernel tests FAILED after $((SECONDS - start)) s (logs: $OUT/pytest_*.txt); not benchmarking" >&2
  grep -h -A 30 "^___\|Error\|assert" "$OUT"/pytest_*.txt | head -n 80 >&2 || true
  exit 1
fi
echo "[1/2] tests passed in $((SECONDS - start)) s" >&2

echo "[2/2] bench: scan tiles (same process, picks the fastest), LoRA SFT seq 2048, decode batch 1/64" >&2
start=$SECONDS
bench_rc=0
# shellcheck disable=SC2086  # SCAN_ARGS is a list of flags
timeout 420 "$PY" -m mambalign_runtime bench --shape mamba-2.8b --seq 2048 --batch 8 --what "${WHAT:-train,decode}" \
  ${SCAN_ARGS:---scan-tiles 3} ${BENCH_ARGS:-} --steps 3 --warmup 1 --decode-batch 1,64 --decode-tokens 64 \
  --out "$JSONL" > "$OUT/bench.stdout" || bench_rc=$?
echo "[2/2] bench finished in $((SECONDS - start)) s (exit $bench_rc); summary of what it wrote:" >&2

"$PY" - "$JSONL" <<'PY'
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
errors = [r for r in recs if "error" in r]
for r in recs:
    if r.get("bench") == "scan_pick" and "all" in r:
        print(f"\nscan kernels, one 2.8B layer (b=8, L=2048, D=5120, N=16), {r['card']}:")
        print(f"{'tile':58} {'fwd ms':>8} {'bwd ms':>8} {'bwd+re':>8} {'fwd GB/s':>9} {'bwd GB/s':>9} {'ckpt GiB':>8}")
        for x in r["all"]:
            if "error" in x:  # one tile failing to compile is reported; the pick uses the others
                print(f"{json.dumps(x['config']):58} ERROR {x['error'][:200]}")
            else:
                print(f"{json.dumps(x['config']):58} {x['fwd_ms']:8.3f} {x['bwd_ms']:8.3f} {x['bwd_recompute_ckpt_ms']:8.3f} "
                      f"{x['fwd_gbs']:9.1f} {x['bwd_gbs']:9.1f} {x['ckpt_gib']:8.3f}")
        print(f"picked: {json.dumps(r['config'])} ({r['fwd_bwd_ms']} ms fwd+bwd); "
              f"copy rate {r['all'][0].get('measured_copy_gbs')} GB/s")
print()
for r in recs:
    if r.get("bench") in ("train", "long") and "error" not in r:
        ref = r.get("reference", {})
        print(f"{r['bench']:6} {r['card']}: seq {r['seq']} batch {r['batch']} grad ckpt {r['grad_ckpt']}, scan recompute {r['scan_kernel'].get('recompute_ckpt')}: "
              f"{r['tokens_per_s']} tok/s, step {r['step_ms']} ms, peak {r['peak_mem_gib']} GiB, MFU {r['mfu']}"
              + (f", {ref.get('speedup_vs_reference')}x the reference path" if ref else ""))
    elif r.get("bench", "").startswith("profile") and "error" not in r:
        print(f"{r['bench']} {r['card']}: {r['kernel_launches']} kernel launches, {r['device_ms_total']} ms of kernels")
        for name, ms, count in r["top_ops_self"][:15]:
            print(f"  {ms:9.2f} ms {count:6d}x  {name}")
    elif r.get("bench") == "decode" and "error" not in r:
        print(f"decode {r['card']}: batch {r['batch']}: {r['tokens_per_s']} tok/s (graph step {r['graph_step_ms']} ms, "
              f"eager {r['eager_step_ms']} ms)")
for e in errors:
    print(f"ERROR {e.get('bench')}: {e.get('error')}")
sys.exit(1 if errors else 0)
PY
exit "$bench_rc"
