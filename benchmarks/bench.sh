#!/usr/bin/env bash
# The benchmark of benchmarks/README.md, in the order that gives a verdict
# soonest: table1's non-learned rows and seed 0 of the rows the verdict needs, the random cells,
# seeds 1 and 2 of those rows, then the costly rows; then the cost-aware and strategy searches (pareto front,
# strategies) and the multi-coil table. Every step skips what benchmarks/results
# already keeps, so rerunning this script continues where it stopped (later, or
# from a fresh clone with the committed results).
#   bash benchmarks/bench.sh              # everything (hours on 2 CPU cores; see benchmarks/README.md)
#   COMMIT=1 bash benchmarks/bench.sh     # also commit benchmarks/results after every step
set -euo pipefail
cd "$(dirname "$0")/.."
N="${NASENGINE:-.venv/bin/nasengine} benchmark"
CORE="Zero-filled,TV,U-Net,DCCNN-3,MoDL-3,NAS A 3n,NAS A 3n wide"
commit() {
    if [ "${COMMIT:-0}" = 1 ]; then
        git add benchmarks/results && git commit -q -m "benchmark results: $1" -- benchmarks/results || true
    fi
}
if [ "${COMMIT:-0}" = 1 ]; then  # also every 5 minutes, so each finished seed lands soon
    ( while sleep 300; do commit "seeds finished so far"; done ) &
    trap 'kill $! 2>/dev/null' EXIT
fi
$N table1 --preset bench --seeds 1 --only "$CORE" --no-progress;            commit "table1 verdict rows, seed 0"
$N random --preset bench --n 6 --seeds 1 --other-seeds 1 --no-progress;   commit "random cells, seed 0"
$N table1 --preset bench --seeds 3 --only "$CORE" --no-progress;            commit "table1 verdict rows, 3 seeds"
$N random --preset bench --n 6 --seeds 3 --other-seeds 3 --no-progress;   commit "random cells over the searched cell's 3 training seeds"
$N table1 --preset bench --seeds 3 --no-progress;                           commit "table1 all rows"
$N pareto --preset bench --seeds 1 --no-progress;                         commit "pareto front, seed 0"
$N strategies --preset bench --seeds 3 --no-progress;                     commit "search strategies, 3 seeds"
$N table-mc --preset bench --seeds 1 --no-progress;                       commit "multi-coil table, seed 0"
# space C: does the architecture matter there (20 samples x 2 seeds); its searches (SPOS with the sandwich rule on
# depth over one seed; plain SPOS and SPOS with fine-tuned scoring over 3, in the same supernets) with each
# supernet's ranking of the samples, and the cost-aware front (SPOS under FLOPs limits, choosing as spos-finetune
# does); the costly hand-made rows over 3 seeds (the best hand-made row must not be a single draw); GDAS and DARTS
# with the macro choices drawn, one seed each, for their ranking
$N space --preset bench --space C --n 20 --seeds 2 --no-progress;          commit "space C samples"
$N space --preset bench --space C --n 20 --seeds 2 --search spos-sandwich --search-seeds 1 --no-progress
$N space --preset bench --space C --n 20 --seeds 2 --search spos,spos-finetune --search-seeds 3 \
   --flops-limits DCCNN-11/4 --no-progress;                                 commit "space C searches"
for s in 0 1 2; do  # each search seed's supernet, side by side in one report
  python benchmarks/probes/finetune_ranking.py runs/benchmark/bench/nas_c_spos/seed$s/search benchmarks/results/space_C
done
commit "space C: ranking by short fine-tuning against its control"
$N table1 --preset bench --seeds 3 --other-seeds 3 --only "DCCNN-11,MoDL-11,RDN-3" --no-progress; commit "hand-made rows, 3 seeds"
$N space --preset bench --space C --n 20 --seeds 2 --search gdas,darts,darts-pt --search-seeds 1 --no-progress
commit "space C: gdas, darts, darts-pt"
