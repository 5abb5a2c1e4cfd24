"""Cost-aware search: the penalty by hand, its options, and a search that gets cheaper as its weight grows."""

import os

import pytest
import torch

from nas_engine.oneshot.cost import CostPenalty, op_costs


class FakeCell(torch.nn.Module):
    def __init__(self, n_edges: int) -> None:
        super().__init__()
        self.op_names = ["conv", "skip"]
        self._arch_alpha = torch.nn.ParameterDict({f"normal/{k}": torch.nn.Parameter(torch.zeros(3)) for k in range(n_edges)})


def test_expected_cost_by_hand():
    net = torch.nn.Sequential(FakeCell(10))  # 10 edges
    p = CostPenalty(net, {"conv": 2.0, "skip": 0.0}, weight=0.5)
    # uniform over (conv, skip, zero): 2/3 per edge; the dearest cell: 2 per edge
    assert abs(p.expected().item() - 1 / 3) < 1e-6
    assert abs(p().item() - 0.5 / 3) < 1e-6
    p().backward()
    g = net[0]._arch_alpha["normal/0"].grad
    assert g[0] > 0 and g[1] < 0 and g[2] < 0  # descending the penalty moves weight off the conv


def test_op_costs_follow_ptflops():
    c = op_costs(["sep_conv_3x3", "skip_connect", "dil_2_conv_3x3"], 8, "flops", size=16)
    assert c["skip_connect"] == 0 and c["sep_conv_3x3"] > 0 and c["dil_2_conv_3x3"] > 0


@pytest.mark.parametrize("sets,msg", [
    (["search.cost=flops"], "needs search.cost_weight > 0"),
    (["search.cost_weight=0.1"], "needs search.cost=flops or latency"),
    (["search.cost=params", "search.cost_weight=0.1"], "search.cost must be one of none, flops, latency"),
    (["search.cost=flops", "search.cost_weight=0.1", "search.strategy=proxyless"], "per-edge architecture weights"),
])
def test_cost_options_are_checked(cli, tmp_path, sets, msg):
    rc, _, err = cli("search", "--config", "tiny", *[x for s in sets for x in ("--set", s)], "--out", tmp_path / "r",
                     "--no-progress")
    assert rc == 2 and msg in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_larger_cost_weight_derives_a_cheaper_cell(cli, tmp_path):
    from nas_engine.complexity import count
    from nas_engine.genotype import Genotype
    from nas_engine.network import fixed_module_factory

    flops = {}
    for w in (0.0, 0.3):
        out = tmp_path / f"w{w}"
        cost = ["--set", "search.cost=flops", "--set", f"search.cost_weight={w}"] if w else []
        rc, _, err = cli("search", "--config", "tiny", *cost, "--epochs", 4, "--set", "search.patience=0",
                         "--set", "search.arc_lr=0.03", "--out", out, "--no-progress")
        assert rc == 0, err
        g = Genotype.load(out / "genotype.json")
        flops[w] = count(fixed_module_factory(g, 2, 8)(), (2, 32, 32))[0]
    assert flops[0.3] < flops[0.0], flops


def test_a_collapsed_cell_is_warned_about_once_naming_the_cost_weight():
    """The first epoch after architecture steps whose derived cell is all skip/zero gets one line that
    names the cause (the cost weight, when a cost is set); warm-up epochs and later epochs do not."""
    from nas_engine.config import build_config, resolve
    from nas_engine.search import collapse_warning

    def load_config(preset, sets):
        return build_config(resolve(preset, sets, {"task": "csmri"}, {}))

    cell = [[{"input": 0, "op": "skip_connect"}, {"input": 1, "op": "skip_connect"}]] * 3

    def rec(epoch, steps, free):
        return {"epoch": epoch, "arch_steps": steps, "param_free_ops": free, "genotype": {"cell": cell}}

    cfg = load_config("tiny", ["search.cost=flops", "search.cost_weight=0.3"])
    warm = [rec(1, 0, 6)]  # uniform alphas in warm-up: ties, not a choice
    assert collapse_warning(warm, cfg) is None
    assert collapse_warning(warm + [rec(2, 82, 5)], cfg) is None  # one conv edge left
    line = collapse_warning(warm + [rec(2, 82, 5), rec(3, 82, 6)], cfg)
    assert line.startswith("warning: epoch 3: every edge of the derived cell is parameter-free")
    assert "search.cost_weight=0.3 outweighs the reconstruction loss; lower it" in line
    assert collapse_warning(warm + [rec(2, 82, 6), rec(3, 82, 6)], cfg) is None  # said once
    plain = collapse_warning([rec(1, 10, 6)], load_config("tiny", []))
    assert "search.cost_weight" not in plain and "op_norm" in plain


def test_openmp_threads_wait_passively_unless_the_user_chose():
    """nasengine sets OMP_WAIT_POLICY=PASSIVE before PyTorch loads (two spinning runs on a small machine took
    11x one alone: benchmarks/concurrency.py), and leaves a policy the user set alone."""
    import subprocess
    import sys

    code = "import os, nas_engine, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "PASSIVE"
    got = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, capture_output=True,
                         text=True, check=True)
    assert got.stdout.strip() == "ACTIVE"
