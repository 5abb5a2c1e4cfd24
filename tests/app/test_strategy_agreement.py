"""benchmarks/strategy_agreement.py's report from kept searches: what each strategy's cell shares with
darts' of the same seed, darts with itself across seeds, and the op counts."""

import json

from nas_engine.app.agreement_report import write_agreement_report
from nas_engine.genotype import Edge, Genotype

OPS = ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")
STRATEGIES = ("darts", "gdas", "pcdarts", "proxyless")


def cell(*nodes):
    return Genotype("A", OPS, 2, 3, tuple(tuple(Edge(j, op) for j, op in n) for n in nodes))


def test_report_counts_shared_edges_wiring_and_ops(tmp_path):
    sep, dil, skip = "sep_conv_3x3", "dil_2_conv_3x3", "skip_connect"
    kept = {("darts", 0): cell(((0, sep), (1, sep)), ((0, sep), (2, skip)), ((1, sep), (3, sep))),
            # same wiring, one op different (node 2's input 1): 5 edges, 6 wirings, 5 op counts shared
            ("gdas", 0): cell(((0, sep), (1, dil)), ((0, sep), (2, skip)), ((1, sep), (3, sep))),
            # node 3 ops swapped, node 4 wired otherwise, the same ops: 2 edges, 4 wirings, 6 op counts
            ("pcdarts", 0): cell(((0, sep), (1, sep)), ((0, skip), (2, sep)), ((0, sep), (2, sep))),
            ("darts", 1): cell(((0, sep), (1, sep)), ((0, sep), (2, sep)), ((1, sep), (3, skip)))}
    for (st, s), g in kept.items():
        d = tmp_path / st / f"seed{s}"
        d.mkdir(parents=True)
        (d / "genotype.json").write_text(g.to_json())
        (d / "seconds.json").write_text(json.dumps({"seconds": 120.0}))
    write_agreement_report(tmp_path, "demo", [0, 1], STRATEGIES, draws=50)
    text = (tmp_path / "report.md").read_text()
    assert "| gdas | 0 | 5 | 6 | 5 | 2.0 min |" in text
    assert "| pcdarts | 0 | 2 | 4 | 6 | 2.0 min |" in text
    assert "| darts | 0 | - | - | - |" in text
    assert "| gdas vs darts, same seed | 1 | 5.0/6.0/5.0 |" in text
    # darts seed 0 vs 1: the second edges of nodes 3 and 4 differ in their op: 4 edges, 6 wirings, 6 ops
    assert "| darts vs darts, two seeds | 1 | 4.0/6.0/6.0 |" in text
    assert "| darts | 2 | 10 | 0 | 0 | 2 | 2.0 min |" in text  # op counts over both darts cells
    data = json.loads((tmp_path / "agreement.json").read_text())
    assert data["vs_darts"]["pcdarts"] == [[2, 4, 6]] and len(data["chance_mean"]) == 3
