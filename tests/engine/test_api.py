"""The library API (nas_engine.api): search, retrain and evaluate in this process, as the CLI does."""

import json

import numpy as np
import pytest

from nas_engine.errors import UserError
from nas_engine.genotype import Genotype


@pytest.mark.long(10)
def test_the_library_api_searches_retrains_and_evaluates_as_the_command_line_does(cli, tmp_path):
    from nas_engine import api

    cfg = api.config("tiny")
    g = api.search(cfg, space="A", out=tmp_path / "s")
    assert isinstance(g, Genotype) and Genotype.load(tmp_path / "s" / "genotype.json") == g
    rc, _, err = cli("search", "--config", "tiny", "--space", "A", "--out", tmp_path / "s_cli", "--no-progress")
    assert rc == 0, err
    assert Genotype.load(tmp_path / "s_cli" / "genotype.json") == g  # the same seed, the same search
    run = api.retrain(cfg, g, out=tmp_path / "r")
    assert (run / "model.pt").is_file() and (run / "config.yaml").is_file()
    mine = api.evaluate(run)
    rc, _, err = cli("evaluate", "--checkpoint", run, "--out", tmp_path / "e.json", "--no-progress")
    assert rc == 0, err
    theirs = json.loads((tmp_path / "e.json").read_text())
    assert mine["overall"]["psnr"]["mean"] == pytest.approx(theirs["overall"]["psnr"]["mean"], abs=1e-9)
    zf = api.evaluate_method(cfg, "zero-filled")
    assert np.isfinite(zf["overall"]["psnr"]["mean"])
    # a resumed finished search returns the same genotype; the run folder is not overwritten otherwise
    assert api.search(cfg, space="A", out=tmp_path / "s", resume=True) == g
    with pytest.raises(UserError, match="already exists; pass --force to move it aside"):
        api.search(cfg, space="A", out=tmp_path / "s")
    with pytest.raises(UserError, match="unknown config key 'search.epoch' \\(did you mean 'epochs'"):
        api.config("tiny", sets=["search.epoch=3"])
    with pytest.raises(UserError, match="exactly one of genotype= .* or method="):
        api.retrain(cfg, out=tmp_path / "x")
