#!/usr/bin/env bash
# The search levers of the bench preset, each measured against the random cells of
# `bash benchmarks/bench.sh` (run that first): the searched cell with one lever changed, over
# 3 seeds, into benchmarks/results/levers/<name>/. Compare each report's PSNR with
# benchmarks/results/random/report.md. Resumable like bench.sh (kept seeds are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${NASENGINE:-.venv/bin/nasengine} benchmark"
run() {
    local name=$1; shift
    $N table1 --preset bench --seeds 3 --only "NAS A 3n" --out "benchmarks/results/levers/$name" \
        --work "runs/benchmark/levers/$name" --no-progress "$@"
    if [ "${COMMIT:-0}" = 1 ]; then
        git add benchmarks/results && git commit -q -m "lever results: $name" -- benchmarks/results || true
    fi
}
run plain-darts      --set search.warmup_epochs=0 --set search.op_norm=false --set search.min_arch_steps=0
run no-op-norm       --set search.op_norm=false
run no-warmup        --set search.warmup_epochs=0
run arc-lr-3e-4      --set search.arc_lr=3.0e-4
