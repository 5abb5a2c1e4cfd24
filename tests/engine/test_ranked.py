"""search.strategy=ranked: candidates ordered by a zero-cost proxy, the best few trained by successive halving."""

import json

import pytest
from scipy.stats import kendalltau

from nas_engine.genotype import Genotype


@pytest.mark.long(8)
def test_ranked_search_orders_by_the_proxy_and_halves_short_trainings(cli, tmp_path):
    out = tmp_path / "ranked"
    args = ["search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=ranked",
            "--set", "search.candidates=6", "--set", "search.train_top=4", "--set", "search.train_ladder=[1,2]",
            "--set", "search.halving_eta=2", "--out", out, "--no-progress"]
    rc, stdout, err = cli(*args)
    assert rc == 0, err
    scores = json.loads((out / "scores.json").read_text())
    assert scores["key"]["proxy"] == "synflow" and len(scores["scores"]) == 6
    cands = json.loads((out / "candidates.json").read_text())
    assert len(cands) == 6
    trained = [c for c in cands if c["val_psnr"]]
    # the four best by the proxy trained one epoch; the best two of those went on to the second
    by_proxy = sorted(cands, key=lambda c: -c["synflow"])
    assert {json.dumps(c["genotype"]) for c in trained} == {json.dumps(c["genotype"]) for c in by_proxy[:4]}
    assert [len(c["val_psnr"]) for c in cands] == [2, 2, 1, 1, 0, 0]
    firsts = sorted((c["val_psnr"]["1"] for c in trained), reverse=True)
    assert sorted(c["val_psnr"]["1"] for c in cands[:2]) == sorted(firsts[:2])  # the two best after one epoch
    assert cands[0]["val_psnr"]["2"] >= cands[1]["val_psnr"]["2"]  # the pick: the best after the last rung
    assert Genotype.load(out / "genotype.json").to_dict() == cands[0]["genotype"]
    # each candidate's own run folder: a second rung continued the first's training (one history, two epochs)
    hist = json.loads((out / cands[0]["run"] / "train_history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2] and hist[-1]["val_psnr"] == cands[0]["val_psnr"]["2"]
    halving = json.loads((out / "halving.json").read_text())
    assert [(r["epochs"], r["candidates"], r["kept"]) for r in halving["rungs"]] == [(1, 4, 2), (2, 2, 1)]
    tau = kendalltau([c["synflow"] for c in trained], [c["val_psnr"]["1"] for c in trained]).statistic
    assert halving["proxy_vs_first_rung_tau"] == pytest.approx(tau)
    assert "ranking check: Kendall tau" in (out / "log.txt").read_text()
    # a resumed finished search trains nothing again and picks the same
    rc, stdout, err = cli(*args, "--resume")
    assert rc == 0, err
    assert json.loads((out / "candidates.json").read_text()) == cands
    for bad, msg in (("search.proxy=naswot", "search.proxy must be one of grad_norm, snip, synflow, zico"),
                     ("search.train_ladder=[1,5]", "more than the retraining's train.epochs=2"),
                     ("search.train_ladder=[2,1]", "increasing epoch counts")):
        rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set",
                         "search.strategy=ranked", "--set", bad, "--out", tmp_path / "bad")
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.proxy=snip",
                     "--out", tmp_path / "bad2")
    assert rc == 2 and "search.proxy is an option of search.strategy=ranked" in err
