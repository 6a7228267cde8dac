#!/usr/bin/env bash
# The GPU check (issues 15 and 16): on a machine with one NVIDIA GPU, in under 5 minutes,
#   1. the CUDA-marked tests (pytest -m cuda),
#   2. ShakespeareLM for 2 x 30 s (bf16, fused loss), torch.compile off and on,
#   3. a StoryLM-size model (BPE 4096, on the built-in Shakespeare corpus) for 30 s:
#      tokens/s and MFU against the GPU's bf16 peak (table below; dense, no sparsity),
#   4. --nproc 1, torchrun with one NCCL process, and --fsdp with one process, which g2c
#      refuses (FSDP shards across >= 2 processes, each with its own GPU),
# then prints one summary table (also written to OUT/summary.md).
#
#     bash benchmarks/gpu_check.sh [OUT]        # OUT defaults to artifacts/gpu_check
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-artifacts/gpu_check}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi is missing or finds no GPU); run this on a" \
         "machine with one NVIDIA GPU and its driver" >&2
    exit 1
fi
if ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check: $("$PY" -c 'import torch; print("torch", torch.__version__)') sees no CUDA" \
         "GPU; install a CUDA build of torch into the venv (see constraints.txt)" >&2
    exit 1
fi
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
# bf16 tensor-core peak in TFLOPS, dense (NVIDIA datasheets); most specific names first.
case "$GPU" in
    *H100*PCIe*) PEAK=756 ;;   *H100*NVL*) PEAK=835 ;;   *H100*|*H200*) PEAK=989 ;;
    *A100*) PEAK=312 ;;        *L40S*) PEAK=362 ;;       *L4) PEAK=121 ;;
    *A10) PEAK=125 ;;          *"RTX 4090"*) PEAK=165 ;; *"RTX 3090"*) PEAK=71 ;;
    *"RTX A6000"*) PEAK=155 ;; *) PEAK="" ;;  # unknown (or no native bf16: V100, T4): no MFU
esac
mkdir -p "$OUT"
ROWS="$OUT/rows.tsv"
: > "$ROWS"
FAILED=0
START=$SECONDS

row() {  # row CHECK RESULT [TOKENS/S] [VAL LOSS] [NOTES]: one line of the summary
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${3:-}" "${4:-}" "${5:-}" >> "$ROWS"
}

verdict() {  # verdict EXIT_CODE: "ok", or "FAILED (exit N)" and the run fails
    if [ "$1" -eq 0 ]; then echo ok; else echo "FAILED (exit $1)"; fi
}

pretrain() {  # pretrain NAME ARGS...: one g2c run on the GPU; its row has speed, loss and MFU
    local name=$1 code
    shift
    timeout 240 "$PY" -m g2c pretrain --out "$OUT/$name" --data-dir "$OUT/data" --overwrite \
        --quiet --device cuda "$@" > "$OUT/$name.log" 2>&1
    code=$?
    if [ "$code" -ne 0 ]; then
        FAILED=1
        row "$name" "$(verdict "$code")" "" "" "see $OUT/$name.log"
        return
    fi
    "$PY" - "$OUT/$name" "$PEAK" >> "$ROWS" <<'PYTHON'
import json, sys
from pathlib import Path
run, peak = Path(sys.argv[1]), sys.argv[2]
manifest = json.loads((run / "manifest.json").read_text())
model = json.loads((run / "config.json").read_text())
rate = manifest["tokens_seen"] / manifest["timing"]["compute"]  # training steps only
# Flops per token: 6 per parameter (forward + backward) plus attention, 12 · layers · C · T.
flops = 6 * manifest["parameters"] + 12 * model["num_layers"] * model["embedding_dim"] * \
    manifest["training"]["context_length"]
mfu = f"MFU {100 * rate * flops / (float(peak) * 1e12):.1f}%" if peak else "MFU n/a (no peak)"
notes = f"{manifest['precision']}, {manifest['parameters']:,} params, {mfu}"
print(run.name, "ok", f"{rate:,.0f}", f"{manifest['final_val_loss']:.3f}", notes, sep="\t")
PYTHON
}

echo "gpu_check: $GPU (bf16 peak ${PEAK:-unknown} TFLOPS); logs in $OUT" >&2
timeout 150 "$PY" -m pytest -q -m cuda tests > "$OUT/cuda_tests.log" 2>&1
code=$?
[ "$code" -eq 0 ] || FAILED=1
row "CUDA tests" "$(verdict "$code")" "" "" "$(tail -n 1 "$OUT/cuda_tests.log")"

SHAKESPEARE=(--track ShakespeareLM --precision bf16 --fused-loss --max-time 30 --max-steps none)
pretrain shakespeare-eager "${SHAKESPEARE[@]}" --no-compile
pretrain shakespeare-compiled "${SHAKESPEARE[@]}" --compile
pretrain storylm-size --track StoryLM --corpus shakespeare --precision bf16 --max-time 30 \
    --max-steps none --eval-interval 100000 --val-tokens 65536

SHORT=(--track ShakespeareLM --max-steps 20 --max-time none --eval-interval 100000)
pretrain nproc-1 "${SHORT[@]}" --nproc 1
timeout 120 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m g2c pretrain \
    --out "$OUT/torchrun-1" --data-dir "$OUT/data" --overwrite --quiet --device cuda \
    "${SHORT[@]}" > "$OUT/torchrun-1.log" 2>&1
code=$?
[ "$code" -eq 0 ] || FAILED=1
row "torchrun-1" "$(verdict "$code")" "" "" "one NCCL rank on cuda:0 ($OUT/torchrun-1.log)"
"$PY" -m g2c pretrain --out "$OUT/fsdp-1" --data-dir "$OUT/data" --device cuda "${SHORT[@]}" \
    --nproc 1 --fsdp > "$OUT/fsdp-1.log" 2>&1
code=$?
if [ "$code" -eq 2 ] && grep -q "world size is 1" "$OUT/fsdp-1.log"; then
    row "fsdp-1" "refused, as designed" "" "" "FSDP needs --nproc 2+, a GPU each (CPU tests cover it)"
else
    FAILED=1
    row "fsdp-1" "UNEXPECTED (exit $code)" "" "" "see $OUT/fsdp-1.log"
fi

{
    echo "GPU check on $GPU, $(date -u +%Y-%m-%d), $((SECONDS - START)) s"
    echo
    echo "| check | result | tokens/s | final val loss | notes |"
    echo "|---|---|---|---|---|"
    sed 's/\t/ | /g; s/^/| /; s/$/ |/' "$ROWS"
} | tee "$OUT/summary.md"
exit "$FAILED"
