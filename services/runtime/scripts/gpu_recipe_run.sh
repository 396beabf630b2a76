#!/usr/bin/env bash
# SFT then DPO on the Mamba-2.8B shape (random weights) through `python -m mambalign_runtime`,
# the entry the trainer service runs, and a summary per stage: tokens/s, MFU, peak GPU memory.
#
#   bash services/runtime/scripts/gpu_recipe_run.sh            # one GPU
#   NPROC=2 bash services/runtime/scripts/gpu_recipe_run.sh    # data-parallel on 2 GPUs (--nproc 2)
#
# Recipe: sequences of 2048 tokens (synthetic demo-task conversations, GPT-NeoX tokenizer), LoRA
# r 16 on in_proj, x_proj, dt_proj, out_proj, bf16 autocast over fp32 master weights, gradient
# checkpointing, kernels auto (Triton on CUDA). DPO starts from the SFT adapter folded into the
# base (the Zephyr order), with its reference log-probs from a first pass.
#
# Environment: STAGES ("sft dpo"; "sft" alone for a scaling run), STEPS (50), BATCH per GPU (SFT 4 sequences; DPO BATCH/2 pairs = BATCH sequences),
# QLORA (1: the base in 4-bit NF4 through bitsandbytes, lora.loadIn4bit; default 0, bf16 base),
# GRAD_CKPT (1; 0 turns gradient checkpointing off),
# NPROC (1; the global batch is BATCH × NPROC, so tokens/s of 1 and N GPUs compare directly),
# SEQ (2048), MODEL (preset:mamba-2.8b-random; a small local model makes a CPU smoke run), WORK (a temp dir; or $OUT/work when $OUT is set), PYTHON (python3),
# MAMBALIGN_TOKENIZER_DIR (default: the repo's test/data/tokenizer/gpt-neox-20b). Events and logs go to $WORK; the summary to
# stdout and, when $OUT is set, to $OUT/summary-<NPROC>gpu.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runtime=$(cd "$here/.." && pwd)
repo=$(cd "$runtime/../.." && pwd)
PYTHON=${PYTHON:-python3}
STEPS=${STEPS:-50}
BATCH=${BATCH:-4}
NPROC=${NPROC:-1}
SEQ=${SEQ:-2048}
STAGES=${STAGES:-sft dpo}
MODEL=${MODEL:-preset:mamba-2.8b-random}
if [[ -n "${OUT:-}" ]]; then WORK=${WORK:-$OUT/work}; else WORK=${WORK:-$(mktemp -d -t mambalign-gpu-XXXXXX)}; fi
mkdir -p "$WORK"
MAMBALIGN_TOKENIZER_DIR=${MAMBALIGN_TOKENIZER_DIR:-$repo/test/data/tokenizer/gpt-neox-20b}
if [[ ! -f "$MAMBALIGN_TOKENIZER_DIR/tokenizer.json" ]]; then
  echo "gpu_recipe_run: no tokenizer.json in $MAMBALIGN_TOKENIZER_DIR: set MAMBALIGN_TOKENIZER_DIR to GPT-NeoX's tokenizer folder" >&2
  exit 2
fi
export MAMBALIGN_TOKENIZER_DIR
export PYTHONPATH="$runtime${PYTHONPATH:+:$PYTHONPATH}"
export LOG_LEVEL=${LOG_LEVEL:-INFO}

echo "gpu_recipe_run: work dir $WORK, $NPROC GPU(s), $STEPS steps per stage, batch $BATCH per GPU, seq $SEQ" >&2
"$PYTHON" -c "import torch; print('card:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', '| torch', torch.__version__)" >&2
"$PYTHON" "$here/long_demo_data.py" --tokenizer "$MAMBALIGN_TOKENIZER_DIR" --out "$WORK/data" --tokens "$SEQ" \
  --sft-rows $((STEPS * BATCH * NPROC + 8)) --dpo-rows $((STEPS * BATCH * NPROC / 2 + 8))

nproc_flag=()
if (( NPROC > 1 )); then nproc_flag=(--nproc "$NPROC"); fi

write_spec() {  # stage, spec file
  "$PYTHON" - "$1" "$2" <<EOF
import json, sys
stage, path = sys.argv[1], sys.argv[2]
lora = {"enabled": True, "r": 16, "alpha": 32, "targetModules": ["in_proj", "x_proj", "dt_proj", "out_proj"],
        "loadIn4bit": "${QLORA:-0}" == "1"}
args = {"maxSteps": $STEPS, "gradientCheckpointing": "${GRAD_CKPT:-1}" == "1", "torchDtype": "bfloat16", "maxSeqLength": $SEQ,
        "lrSchedulerType": "cosine", "warmupRatio": 0.05, "saveSteps": 100000, "loggingSteps": 1, "seed": 1,
        "lora": lora, "numTrainEpochs": 1, "perDeviceEvalBatchSize": $BATCH, "gradientAccumulationSteps": 0,
        "optim": "adamw_torch", "adamBeta1": 0.9, "adamBeta2": 0.999, "adamEpsilon": 1e-8, "maxGradNorm": 1.0}
spec = {"command": stage, "model": "$MODEL", "outputDir": "$WORK/" + stage, "kernels": "auto",
        "train": {"trainFile": "$WORK/data/" + stage + "_train.jsonl", "args": args}}
if stage == "sft":
    args.update(learningRate=2e-4, perDeviceTrainBatchSize=$BATCH, globalBatchSize=$BATCH * $NPROC)
else:
    pairs = max(1, $BATCH // 2)  # each pair is two sequences
    args.update(learningRate=5e-5, perDeviceTrainBatchSize=pairs, globalBatchSize=pairs * $NPROC)
    spec["adapter"] = "$WORK/sft/adapter"
    spec["train"]["dpo"] = {"beta": 0.1, "lossType": "sigmoid", "maxLength": $SEQ, "maxPromptLength": $SEQ // 2}
json.dump(spec, open(path, "w"), indent=1)
EOF
}

for stage in $STAGES; do
  write_spec "$stage" "$WORK/$stage.spec.json"
  echo "gpu_recipe_run: $stage ..." >&2
  start=$(date +%s)
  set +e
  "$PYTHON" -m mambalign_runtime "$stage" --spec "$WORK/$stage.spec.json" "${nproc_flag[@]}" \
    > "$WORK/$stage.events.jsonl" 2> "$WORK/$stage.log"
  code=$?
  set -e
  echo "gpu_recipe_run: $stage exited $code after $(( $(date +%s) - start )) s" >&2
  if (( code != 0 )); then
    tail -n 40 "$WORK/$stage.log" >&2
    tail -n 3 "$WORK/$stage.events.jsonl" >&2
    exit "$code"
  fi
done

"$PYTHON" - "$WORK" "$NPROC" "${OUT:-}" $STAGES <<'EOF'
import json, math, statistics, sys
from pathlib import Path
work, nproc, out, stages = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
import torch
card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
summary = {"card": card, "gpus": nproc, "stages": {}}
for stage in stages:
    events = [json.loads(l) for l in (work / f"{stage}.events.jsonl").read_text().splitlines()]
    progress = [e["progress"] for e in events if "progress" in e]
    finished = [e["finished"] for e in events if "finished" in e][-1]
    steady = progress[5:] or progress  # skip start-up and Triton compilation
    losses = [p["loss"] for p in progress]
    summary["stages"][stage] = {
        "steps": len(progress), "status": finished["status"], "wall_s": round(finished["wallS"], 1),
        "loss_first": losses[0], "loss_last": losses[-1], "losses_finite": all(math.isfinite(x) for x in losses),
        "tokens_per_s": round(statistics.median(p.get("tokensPerS", 0) for p in steady), 1),
        "mfu": round(statistics.median(p.get("mfu", 0) for p in steady), 4),
        "peak_gpu_mem_gib": round(max(p.get("gpuMemGib", 0) for p in progress), 2),
        "versions": [e["started"]["versions"] for e in events if "started" in e][0],
    }
    if stage == "dpo":
        summary["stages"][stage]["rewards_margins_last"] = progress[-1].get("extra", {}).get("rewards/margins")
print(json.dumps(summary, indent=1))
for stage, s in summary["stages"].items():
    print(f"{stage}: {s['steps']} steps, loss {s['loss_first']:.4f} -> {s['loss_last']:.4f}, "
          f"{s['tokens_per_s']:.0f} tokens/s, MFU {s['mfu']:.1%}, peak {s['peak_gpu_mem_gib']:.1f} GiB "
          f"on {nproc} x {summary['card']}")
if out:
    Path(out, f"summary-{nproc}gpu.json").write_text(json.dumps(summary, indent=1))
EOF
