"""The paired comparisons benchmarks/README.md quotes that no benchmark report prints:
the searched cell (each seed against the random cells retrained at that training seed, and all
its seeds together) against the mean of the random cells of
``benchmark random`` (``benchmarks/results/random/``), against the `sep_conv_3x3`-only cells, GDAS against both, and the searched
cell against MoDL-3. Reads kept results only (seconds, no training).

    python benchmarks/probes/verdict_comparisons.py
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nas_engine.app.report import _fmt_cmp, _mean_row, at_seed, compare, kept_cell_rows, mean_by_seed  # noqa: E402

R = ROOT / "benchmarks" / "results"


def row(name: str, dirs: dict[int, Path]) -> dict:
    return {"method": name, "_per_seed": {s: json.loads((d / "results.json").read_text()) for s, d in dirs.items()}}


def kept(folder: Path) -> dict[int, Path]:
    """The seeds of one row that have results: {seed: folder}."""
    return {int(d.name[4:]): d for d in sorted(folder.glob("seed*")) if (d / "results.json").is_file()}


def main() -> None:
    nas = row("NAS A 3n", kept(R / "table1/nas_a_3n"))
    seeds = sorted(nas["_per_seed"])
    gdas = row("NAS A 3n GDAS", {0: R / "lever_gdas/nas_a_3n/seed0"})
    modl = row("MoDL-3", kept(R / "table1/modl_3"))
    rand = kept_cell_rows(R / "random")
    sep = kept_cell_rows(R / "random_sep_conv_3x3", "random_sep_conv_3x3_*")
    mean_rand = f"the mean of {len(rand)} random cells"
    mean_sep = f"the mean of {len(sep)} sep-only cells"
    for s in seeds:  # each search seed against the random cells retrained at the same training seed
        one = {"method": f"NAS A 3n seed {s}", "_per_seed": {s: nas["_per_seed"][s]}}
        same = at_seed(rand, s)
        print(_fmt_cmp(compare(one, _mean_row(same, f"the mean of {len(same)} random cells at seed {s}", [s]))))
    print(_fmt_cmp(compare(nas, _mean_row(rand, mean_rand, seeds))))
    print(_fmt_cmp(compare(nas, mean_by_seed(rand, mean_rand + " at the same training seed", seeds))))
    print(_fmt_cmp(compare(_mean_row(sep, mean_sep, [0]),
                           _mean_row(at_seed(rand, 0), mean_rand + " at seed 0", [0]))))
    print(_fmt_cmp(compare(nas, _mean_row(sep, mean_sep, seeds))))
    print(_fmt_cmp(compare(gdas, _mean_row(at_seed(rand, 0), mean_rand + " at seed 0", [0]))))
    print(_fmt_cmp(compare(gdas, _mean_row(sep, mean_sep, [0]))))
    print(_fmt_cmp(compare(gdas, _mean_row([nas], "NAS A 3n (mean of its seeds)", [0]))))
    print(_fmt_cmp(compare(nas, modl)))


if __name__ == "__main__":
    main()
