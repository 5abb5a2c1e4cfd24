"""The random report's paired comparisons take every seed of the searched cell."""

import numpy as np

from nas_engine.app.random_report import random_verdict


def _row(name: str, per_seed: dict[int, list[float]]) -> dict:
    psnr = float(np.mean([np.mean(v) for v in per_seed.values()]))
    return {"method": name, "psnr": psnr, "seeds": len(per_seed), "params": 1.0,
            "_per_seed": {s: {"per_volume": [{"file": f"v{i}", "psnr": x} for i, x in enumerate(v)]}
                          for s, v in per_seed.items()}}


def test_searched_seeds_all_pair_with_the_random_cells():
    # random cells, base seed only: means 20.0 and 22.0 per volume -> the mean random cell is 21.0
    randoms = [_row("random-1", {0: [20.0, 20.0, 20.0]}), _row("random-2", {0: [22.0, 22.0, 22.0]})]
    # searched: seed 0 is +1 over the random mean on every volume, seed 1 is +3
    searched = _row("NAS A 3n", {0: [22.0, 21.9, 22.1], 1: [24.0, 23.9, 24.1]})
    text = "\n".join(random_verdict(randoms, searched))
    # 6 pairs (2 seeds x 3 volumes), mean +2.00 (seed 1 counts: with seed 0 alone it would be +1.00)
    assert "NAS A 3n - the mean random cell: +2.00 dB" in text and "over 6 (seed, volume) pairs (2 seeds)" in text
    assert "NAS A 3n - random-2: +1.00 dB" in text  # the best random cell, every searched seed too
    assert "above 2 of 2 random cells" in text and "yes: the searched cell is better" in text


def test_unmatched_training_seeds_are_flagged_and_compared_on_the_shared_seed():
    randoms = [_row("random-1", {0: [20.0, 20.0, 20.0]}), _row("random-2", {0: [22.0, 22.0, 22.0]})]
    searched = _row("NAS A 3n", {0: [22.0, 21.9, 22.1], 1: [24.0, 23.9, 24.1]})
    text = "\n".join(random_verdict(randoms, searched))
    assert "Caveat: the random cells were trained with seed 0 only, the searched cell with 0, 1" in text
    assert "--other-seeds 2" in text
    # seed 0 alone: +1.00 over the mean random cell, 3 pairs
    assert "NAS A 3n (seed 0) - the mean random cell: +1.00 dB" in text and "over 3 (seed, volume) pairs" in text
    # a random cell with an extra seed the others lack: the shared-seed comparison leaves that seed out
    partial = [_row("random-1", {0: [20.0] * 3, 1: [30.0] * 3}), _row("random-2", {0: [22.0] * 3})]
    assert "NAS A 3n (seed 0) - the mean random cell: +1.00 dB" in "\n".join(random_verdict(partial, searched))
    # random cells trained over the searched cell's seeds: no caveat
    matched = [_row("random-1", {0: [20.0] * 3, 1: [20.0] * 3}), _row("random-2", {0: [22.0] * 3, 1: [22.0] * 3})]
    assert "Caveat" not in "\n".join(random_verdict(matched, searched))
