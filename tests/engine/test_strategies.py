"""The search strategies behind ``search.strategy``: what each one runs per step, its architecture
parameters and gradients, and its options."""

import pytest
import torch

from nas_engine.config import build_config, resolve
from nas_engine.errors import UserError
from nas_engine.oneshot.strategies import STRATEGIES, get_strategy
from search_spaces import load_space


def config(**search):
    sets = [f"search.{k}={v}" for k, v in search.items()]
    return build_config(resolve("tiny", sets + ["model.channels=8", "model.nodes=2", "model.cells=2"], {"task": "x"}, {}))


def supernet(cfg):
    from nas_engine.oneshot.supernet import Supernet, searchable_module_factory

    s = get_strategy(cfg)
    torch.manual_seed(0)
    make = searchable_module_factory(load_space("A"), 2, 8, 2, 2, op_channels=s.op_channels(cfg))
    strategy = s.build(cfg)
    return strategy, strategy.mutate_model(Supernet(make))


@pytest.mark.parametrize("name", sorted(n for n, s in STRATEGIES.items() if not s.single_path and not s.standalone))
def test_every_strategy_trains_its_architecture_parameters(name):
    from nas_engine.training import TaskModule

    cfg = config(strategy=name)
    strategy, net = supernet(cfg)
    oneshot = strategy.configure_oneshot_module(TaskModule(None, net, lr=1e-3))
    alphas = oneshot.arch_parameters()
    order = {id(p): i for i, p in enumerate(oneshot.parameters())}
    assert [order[id(p)] for p in alphas] == sorted(order[id(p)] for p in alphas)  # fixed order
    oneshot.resample()
    (net(torch.randn(2, 2, 12, 12)) ** 2).mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in alphas)
    weights = get_strategy(cfg).edge_weights(oneshot)
    assert sorted(weights) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]  # every edge of a 2-node cell
    assert all(abs(sum(d.values()) - 1) < 1e-5 for d in weights.values())


def test_gdas_runs_one_op_per_edge():
    cfg = config(strategy="gdas")
    _, net = supernet(cfg)
    calls = []
    cell = net.net.cells[0]
    for i, edges in enumerate(cell.ops):
        for j, ops in enumerate(edges):
            for name, op in ops.items():
                op.register_forward_hook(lambda m, a, o, key=(i, j): calls.append(key))
    net(torch.randn(1, 2, 12, 12))
    per_edge = {k: calls.count(k) for k in set(calls)}
    assert per_edge and all(n == 1 for n in per_edge.values())  # the drawn op only (a drawn zero op: none)


def test_pcdarts_ops_see_a_quarter_of_the_channels_and_nodes_weigh_their_inputs():
    cfg = config(strategy="pcdarts", partial_channels=4)
    _, net = supernet(cfg)
    cell = net.net.cells[0]
    convs = [m for ops in cell.ops[0] for op in ops.values() for m in op.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.in_channels == 2 for c in convs)  # 8 channels / 4
    assert sorted(len(b) for b in cell._arch_beta.values()) == [2, 3]  # node 2: 2 inputs, node 3: 3


def test_strategy_options_belong_to_their_strategy():
    with pytest.raises(UserError, match="search.partial_channels is an option of search.strategy=pcdarts, not of darts"):
        get_strategy(config(partial_channels=4))
    with pytest.raises(UserError, match=r"unknown search.strategy 'pcdart' \(did you mean 'pcdarts'\?\)"):
        get_strategy(config(strategy="pcdart"))
    with pytest.raises(UserError, match="must divide model.channels=8"):
        STRATEGIES["pcdarts"].build(config(strategy="pcdarts", partial_channels=3))


def test_one_path_strategies_refuse_several_processes(cli, tmp_path):
    rc, _, err = cli("search", "--config", "tiny", "--set", "search.strategy=gdas", "--devices", 2,
                     "--out", tmp_path / "r", "--no-progress")
    assert rc == 2 and "cannot be spread over 2 processes here; use --devices 1" in err
    assert not (tmp_path / "r").exists()



@pytest.mark.parametrize("name", ["darts", "gdas"])
def test_the_architecture_step_computes_no_weight_gradient_and_changes_no_number(cli, tmp_path, monkeypatch, name):
    """The lever: an architecture step backpropagates into the alphas alone. The searches with and
    without it write the same alphas and weights (their weight gradients were zeroed anyway)."""
    import nas_engine.oneshot.strategies as S

    outs = {}
    for lever in (True, False):
        monkeypatch.setattr(S, "ARCH_ONLY_BACKWARD", lever)
        out = tmp_path / f"{name}-{lever}"
        rc, _, err = cli("search", "--config", "tiny", "--set", f"search.strategy={name}", "--set", "search.epochs=2",
                         "--out", out, "--no-progress")
        assert rc == 0, err
        outs[lever] = out
    a, b = (torch.load(outs[x] / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"] for x in (True, False))
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7) for k in a), \
        max(float((a[k] - b[k]).abs().max()) for k in a)
    assert (outs[True] / "genotype.json").read_text() == (outs[False] / "genotype.json").read_text()


def test_the_weighted_sum_cell_computes_nni_darts_cell(monkeypatch):
    """The lever: DARTS' mixed edges summed op by op (no stacked, zero-padded copies) give NNI's
    outputs and alpha gradients within float rounding."""
    import nas_engine.oneshot.strategies as S

    outs, grads = {}, {}
    x = torch.randn(2, 2, 12, 12)
    for lever in (False, True):
        monkeypatch.setattr(S, "WEIGHTED_SUM_CELL", lever)
        torch.manual_seed(0)
        strategy, net = supernet(config(strategy="darts"))
        cells = [m for m in net.modules() if isinstance(m, S.WeightedSumCell)]
        assert bool(cells) == lever
        oneshot = strategy.configure_oneshot_module(__import__("nas_engine.training", fromlist=["x"]).TaskModule(
            None, net, lr=1e-3))
        with torch.no_grad():
            for p in oneshot.arch_parameters():
                p.normal_(generator=torch.Generator().manual_seed(p.numel()))
        out = net(x)
        (out ** 2).mean().backward()
        outs[lever] = out.detach()
        grads[lever] = [p.grad.clone() for p in oneshot.arch_parameters()]
    assert torch.allclose(outs[True], outs[False], rtol=1e-5, atol=1e-6)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(grads[True], grads[False]))
