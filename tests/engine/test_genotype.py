import json

import pytest
import torch

from nas_engine.drawing import draw_cell
from nas_engine.errors import UserError
from nas_engine.genotype import Edge, Genotype
from nas_engine.network import fixed_module_factory

OPS_A = ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")


def _weights(table):
    """{(node, input): {op: p}} from compact rows."""
    return {k: dict(zip(OPS_A, v)) for k, v in table.items()}


def test_derive_rule_on_hand_set_alphas():
    w = _weights({
        # node 2: inputs 0, 1
        (0, 0): [0.10, 0.30, 0.10, 0.10, 0.40],  # best non-none: dil_2 0.30 (none is ignored)
        (0, 1): [0.50, 0.10, 0.10, 0.20, 0.10],  # sep 0.50
        # node 3: inputs 0, 1, 2 -> keep 2 and 0
        (1, 0): [0.05, 0.05, 0.35, 0.05, 0.50],  # dil_3 0.35
        (1, 1): [0.20, 0.20, 0.20, 0.20, 0.20],  # 0.20 (ties -> the space's first op)
        (1, 2): [0.10, 0.10, 0.10, 0.60, 0.10],  # skip 0.60
    })
    g = Genotype.derive(w, "A", OPS_A, cells=3, nodes=2)
    assert g.cell == (
        (Edge(0, "dil_2_conv_3x3"), Edge(1, "sep_conv_3x3")),
        (Edge(0, "dil_3_conv_3x3"), Edge(2, "skip_connect")),
    )


def test_derive_never_picks_none_even_when_dominant():
    w = _weights({(0, 0): [0.01, 0.02, 0.01, 0.01, 0.95], (0, 1): [0.03, 0.01, 0.01, 0.0, 0.95]})
    g = Genotype.derive(w, "A", OPS_A, cells=1, nodes=1)
    assert {e.op for e in g.cell[0]} == {"dil_2_conv_3x3", "sep_conv_3x3"}


def test_nni_probs_conversion_adds_implicit_zero_as_none():
    probs = {"normal/2_0": {"sep_conv_3x3": 0.5, "skip_connect": 0.2}, "normal/2_1": {"sep_conv_3x3": 0.1, "skip_connect": 0.1}}
    w = Genotype.edge_weights_from_nni(probs)
    assert w[(0, 0)]["none"] == pytest.approx(0.3) and w[(0, 1)]["none"] == pytest.approx(0.8)


def _geno(cells=2):
    return Genotype("A", OPS_A, cells, 3, (
        (Edge(0, "sep_conv_3x3"), Edge(1, "dil_2_conv_3x3")),
        (Edge(1, "skip_connect"), Edge(2, "dil_3_conv_3x3")),
        (Edge(2, "sep_conv_3x3"), Edge(3, "dil_2_conv_3x3")),
    ))


def test_json_round_trip_builds_the_same_network(tmp_path):
    g = _geno()
    (tmp_path / "g.json").write_text(g.to_json())
    g2 = Genotype.load(tmp_path / "g.json")
    assert g2 == g
    data = json.loads(g.to_json())
    assert set(data) == {"space", "ops", "cells", "nodes", "cell"}
    assert data["cell"][1] == [{"input": 1, "op": "skip_connect"}, {"input": 2, "op": "dil_3_conv_3x3"}]
    torch.manual_seed(0)
    a = fixed_module_factory(g, 2, 8)()
    torch.manual_seed(0)
    b = fixed_module_factory(g2, 2, 8)()
    pa, pb = sum(p.numel() for p in a.parameters()), sum(p.numel() for p in b.parameters())
    assert pa == pb > 0
    x = torch.randn(2, 2, 16, 16)
    assert torch.equal(a(x), b(x))


def test_fixed_network_matches_nni_frozen_space_parameter_count():
    from nas_engine.oneshot.supernet import Supernet, searchable_module_factory
    from search_spaces import load_space

    g = _geno()
    space = Supernet(searchable_module_factory(load_space("A"), 2, 8, g.cells, g.nodes))
    frozen = space.freeze(g.to_nni())
    fixed = fixed_module_factory(g, 2, 8)()
    assert sum(p.numel() for p in frozen.parameters()) == sum(p.numel() for p in fixed.parameters())
    # and the NNI label dict converts back to the same genotype
    assert Genotype.from_nni(g.to_nni(), "A", OPS_A, 2, 3) == g


@pytest.mark.long(2.5, group="import_steps")  # one interpreter start
def test_fixed_network_has_no_nni(import_steps):
    """A derived network (network, genotype, the spaces' ops) runs without NNI: a fresh interpreter
    that imports them has not imported NNI (``import_steps``: conftest)."""
    assert "search_spaces.ops" in import_steps["fixed network"]  # the step ran what it says
    assert not [m for m in import_steps["fixed network"] if m.split(".")[0] == "nni"]


@pytest.mark.parametrize("edit,msg", [
    (lambda d: d["cell"][0][0].update(op="conv_7x7"), "not in the space's ops"),
    (lambda d: d["cell"][0][0].update(input=5), "input index 5 out of range"),
    (lambda d: d.update(nodes=4), "lists 3 nodes but nodes=4"),
    (lambda d: d.pop("cells"), "missing key"),
    (lambda d: d.update(extra=1), "unknown key"),
])
def test_malformed_genotype(tmp_path, edit, msg):
    d = _geno().to_dict()
    edit(d)
    (tmp_path / "g.json").write_text(json.dumps(d))
    with pytest.raises(UserError, match=msg):
        Genotype.load(tmp_path / "g.json")


def test_not_json(tmp_path):
    (tmp_path / "g.json").write_text("{nope")
    with pytest.raises(UserError, match="not valid JSON"):
        Genotype.load(tmp_path / "g.json")


def test_text_and_drawing():
    g = _geno()
    text = str(g)
    assert "node 3 = skip_connect(C_{l-1}) + dil_3_conv_3x3(node 2)" in text
    fig = draw_cell(g)
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect"} <= labels


def test_graphviz_cell_names_every_edge_once(tmp_path):
    import re
    import shutil

    from nas_engine.drawing import cell_dot, save_cell

    g = _geno()
    dot = cell_dot(g)
    names = {0: "c_k2", 1: "c_k1", **{i + 2: f"n{i}" for i in range(g.nodes)}}
    edges = re.findall(r"(\w+) -> (n\d+) \[label=\"(\w+)\"", dot)
    assert sorted(edges) == sorted((names[e.input], f"n{i}", e.op) for i, es in enumerate(g.cell) for e in es)
    assert len(re.findall(r"n\d+ -> out", dot)) == g.nodes  # every node into the concatenation
    out = save_cell(g, tmp_path / "cell.png")
    assert out.read_bytes()[:4] == b"\x89PNG" and (tmp_path / "cell.dot").read_text() == dot
    if shutil.which("dot"):  # Graphviz drew it (make setup installs it): its PNGs carry no matplotlib tag
        assert b"matplotlib" not in out.read_bytes()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fixed_network_equals_the_supernet_restricted_to_the_genotype(seed):
    """Put all of each edge's architecture weight on the genotype's op (on the zero op for edges the
    genotype drops), copy the supernet's weights into the fixed network, and compare outputs: this
    catches swapped inputs, wrong dilations or op order, which parameter counts cannot see."""
    import random

    from nas_engine.oneshot.strategies import DARTS, restrict_to_genotype
    from nas_engine.oneshot.supernet import Supernet, searchable_module_factory
    from search_spaces import load_space

    space = load_space("A")
    g = Genotype.random("A", space.ops, 2, 3, random.Random(seed))
    torch.manual_seed(seed)
    supernet = DARTS().mutate_model(Supernet(searchable_module_factory(space, 2, 8, g.cells, g.nodes)))
    net = supernet.net
    searched = restrict_to_genotype(net, g)
    fixed = fixed_module_factory(g, 2, 8)()
    for name in ("stem0", "stem1", "head"):
        getattr(fixed, name).load_state_dict(getattr(net, name).state_dict())
    for fc, sc in zip(fixed.cells, net.cells):
        fc.preprocess.load_state_dict(sc.preprocessor.state_dict())
        for i, (edges, ops) in enumerate(zip(g.cell, fc.edges)):
            for e, op in zip(edges, ops):
                op.load_state_dict(sc.ops[i][e.input][e.op].state_dict())
    x = torch.randn(2, 2, 24, 24)
    with torch.no_grad():
        a, b = net(x), fixed(x)
    assert a.abs().max() > 0
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), float((a - b).abs().max())
    # and the alphas go back as they were (the one-shot ranking restricts and restores in turn)
    restrict_to_genotype(net, None, searched)
    with torch.no_grad():
        assert not torch.allclose(net(x), a)
    from nas_engine.oneshot.labels import cell_alphas

    assert all(torch.equal(p, searched[k]) for k, p in cell_alphas(net)[1].items())


def test_model_bias_gives_every_conv_a_zero_bias_in_fixed_and_supernet():
    from torch import nn

    from nas_engine.network import fixed_module_factory
    from nas_engine.oneshot.supernet import Supernet, searchable_module_factory
    from search_spaces import load_space

    g = _geno()
    torch.manual_seed(0)
    plain = fixed_module_factory(g, 2, 8)()
    torch.manual_seed(0)
    biased = fixed_module_factory(g, 2, 8, bias=True)()
    convs = [m for m in biased.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.bias is not None and not c.bias.any() for c in convs)
    n_plain = sum(p.numel() for p in plain.parameters())
    assert sum(p.numel() for p in biased.parameters()) == n_plain + sum(c.out_channels for c in convs)
    x = torch.randn(2, 2, 16, 16)
    torch.testing.assert_close(biased(x), plain(x))  # zero biases: the same function at initialisation
    supernet = Supernet(searchable_module_factory(load_space("A"), 2, 8, 2, 3, bias=True))
    assert all(m.bias is not None for m in supernet.modules() if isinstance(m, nn.Conv2d))


def test_random_cells_from_a_sub_space():
    import random

    space = ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")
    g = Genotype.random("A", space, 2, 3, random.Random(0), only=["sep_conv_3x3"])
    assert g.ops == space  # the genotype keeps the space's op list, so it builds the same way
    assert {e.op for edges in g.cell for e in edges} == {"sep_conv_3x3"}
    # the wiring is still drawn: some node takes an input other than the two cell inputs
    draws = [Genotype.random("A", space, 2, 3, random.Random(s), only=["sep_conv_3x3"]) for s in range(6)]
    assert len({d.signature() for d in draws}) > 1
    mixed = Genotype.random("A", space, 2, 3, random.Random(9), only=["skip_connect", "dil_2_conv_3x3"])
    assert {e.op for edges in mixed.cell for e in edges} <= {"skip_connect", "dil_2_conv_3x3"}
    for bad in (["none"], ["conv_7x7"], []):
        with pytest.raises(ValueError, match="not ops of space A"):
            Genotype.random("A", space, 2, 3, random.Random(0), only=bad)


def test_random_cells_are_the_kept_ones():
    """``benchmark random`` draws the same cells as the committed results were trained on: a change in
    the sampling would silently turn every kept random row into another experiment."""
    from pathlib import Path

    from nas_engine.app.tables import random_entries
    from search_spaces import load_space

    # the six cells kept in benchmarks/results/bias_free/random/random_<k>/seed0/genotype.json
    kept = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "random_cells_A_seed0.json").read_text())
    entries = random_entries(load_space("A"), 2, 3, 6, seed=0)
    for k, e in enumerate(entries, 1):
        assert e.name == f"random-{k}"
        assert json.loads(e.genotype) == kept[e.name]
    sep = random_entries(load_space("A"), 2, 3, 18, seed=0, ops=["sep_conv_3x3"])
    assert [e.name for e in sep[:2]] == ["random-sep_conv_3x3-1", "random-sep_conv_3x3-2"]
    assert sep[0].slug == "random_sep_conv_3x3_1"
    # one op, 3 nodes: 1 x 3 x 6 wirings, every one drawn once (the 3rd draw of seed 0 repeats the 2nd)
    assert len({e.genotype for e in sep}) == 18
    with pytest.raises(UserError, match="only 18 distinct cells"):
        random_entries(load_space("A"), 2, 3, 19, seed=0, ops=["sep_conv_3x3"])
    with pytest.raises(UserError, match="--ops"):
        random_entries(load_space("A"), 2, 3, 1, seed=0, ops=["sep_conv_3x3", "none"])
