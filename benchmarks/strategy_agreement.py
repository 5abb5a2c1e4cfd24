"""Do the search strategies agree? Each ``search.strategy`` (darts, gdas, pcdarts, proxyless) searches
space A (3 nodes) at one preset over several seeds; the report counts, per seed, what each cell shares
with darts' cell of the same seed (edges, wiring, op counts: ``nas_engine.app.report.agreement``), next
to what a uniformly random cell shares by chance and to what darts shares with itself across seeds.

This is the search half of ``nasengine benchmark strategies`` (which also retrains every cell and pairs
them) at a preset where 12 searches fit in an hour: the demo preset, the one ``make demo`` searches.

    python benchmarks/strategy_agreement.py [--preset demo] [--seeds 3] [--out DIR]

Resumable: a search whose genotype is kept in ``--out`` is skipped, an unfinished one resumes from its
checkpoint in ``runs/strategy_agreement``. Writes ``report.md`` and ``agreement.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas_engine.app.agreement_report import write_agreement_report  # noqa: E402
from nas_engine.app.cli import main as cli  # noqa: E402
from nas_engine.app.tables import STRATEGY_ROWS  # noqa: E402
from nas_engine.files import write_json  # noqa: E402

STRATEGIES = ("darts", *(name for name, _ in STRATEGY_ROWS))  # those of `benchmark strategies`; darts first


def search(strategy: str, seed: int, preset: str, out: Path, work: Path) -> None:
    keep = out / strategy / f"seed{seed}"
    if (keep / "genotype.json").is_file():
        print(f"[{strategy} seed {seed}] kept already", flush=True)
        return
    run = work / preset / strategy / f"seed{seed}"
    print(f"[{strategy} seed {seed}] searching in {run}", flush=True)
    t0 = time.time()
    rc = cli(["search", "--space", "A", "--config", preset, "--seed", str(seed), "--set", f"search.strategy={strategy}",
              "--out", str(run), "--no-progress", *(["--resume"] if (run / "config.yaml").is_file() else [])])
    if rc != 0:
        raise SystemExit(f"[{strategy} seed {seed}] search failed ({rc})")
    keep.mkdir(parents=True, exist_ok=True)
    for f in ("search_history.json", "config.yaml"):
        if (run / f).is_file():
            shutil.copy(run / f, keep / f)
    write_json(keep / "seconds.json", {"seconds": round(time.time() - t0, 1)})
    shutil.copy(run / "genotype.json", keep / "genotype.json")  # last: its presence marks the search done


def report(out: Path, preset: str, seeds: list[int], draws: int = 2000) -> None:
    write_agreement_report(out, preset, seeds, STRATEGIES, draws)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="default benchmarks/results/strategy_agreement/PRESET")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "strategy_agreement")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the kept searches")
    args = ap.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / "strategy_agreement" / args.preset
    seeds = list(range(args.seeds))
    if not args.report_only:
        for s in seeds:  # seed by seed: each seed's comparison is complete before the next seed starts
            for st in STRATEGIES:
                search(st, s, args.preset, out, args.work)
                report(out, args.preset, seeds)
    report(out, args.preset, seeds)


if __name__ == "__main__":
    main()
