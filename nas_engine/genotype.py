"""The derived architecture: a frozen dataclass with JSON, text, NNI label dicts and a drawing.

Cell inputs follow the DARTS convention: 0 = C_{l-2}, 1 = C_{l-1}, k + 2 = node k.
This module is the only place that knows NNI's label format
(``normal/op_{i}_{k}``, ``normal/input_{i}_{k}``, probabilities under ``normal/{i}_{j}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .errors import UserError

CELL_LABEL = "normal"
NONE_OP = "none"
INPUT_NAMES = ("C_{l-2}", "C_{l-1}")


@dataclass(frozen=True)
class Edge:
    input: int
    op: str


@dataclass(frozen=True)
class Genotype:
    """One normal cell shared by all ``cells`` cells: ``nodes`` nodes of two edges each."""

    space: str
    ops: tuple[str, ...]
    cells: int
    nodes: int
    cell: tuple[tuple[Edge, Edge], ...]

    def __post_init__(self) -> None:
        if self.cells < 1 or self.nodes < 1:
            raise ValueError(f"cells and nodes must be >= 1, got cells={self.cells}, nodes={self.nodes}")
        if len(self.cell) != self.nodes:
            raise ValueError(f"the cell lists {len(self.cell)} nodes but nodes={self.nodes}")
        for i, edges in enumerate(self.cell):
            if len(edges) != 2:
                raise ValueError(f"node {i + 2} must have exactly 2 edges, got {len(edges)}")
            for e in edges:
                if e.op not in self.ops:
                    raise ValueError(f"node {i + 2}: op {e.op!r} is not in the space's ops {list(self.ops)}")
                if not 0 <= e.input < i + 2:
                    raise ValueError(
                        f"node {i + 2}: input index {e.input} out of range (0..{i + 1}: "
                        "0 = C_{l-2}, 1 = C_{l-1}, k+2 = node k)"
                    )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {
            "space": self.space,
            "ops": list(self.ops),
            "cells": self.cells,
            "nodes": self.nodes,
            "cell": [[{"input": e.input, "op": e.op} for e in edges] for edges in self.cell],
        }

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "genotype") -> "Genotype":
        try:
            if not isinstance(d, Mapping):
                raise ValueError("expected a JSON object")
            missing = {"space", "ops", "cells", "nodes", "cell"} - set(d)
            if missing:
                raise ValueError(f"missing key(s) {sorted(missing)}")
            extra = set(d) - {"space", "ops", "cells", "nodes", "cell"}
            if extra:
                raise ValueError(f"unknown key(s) {sorted(extra)}")
            cell = tuple(
                tuple(Edge(int(e["input"]), str(e["op"])) for e in edges) for edges in d["cell"]
            )
            return cls(str(d["space"]), tuple(str(o) for o in d["ops"]), int(d["cells"]), int(d["nodes"]), cell)
        except (ValueError, TypeError, KeyError) as e:
            raise UserError(f"{source}: malformed genotype: {e}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> "Genotype":
        path = Path(path)
        if path.is_dir():
            path = path / "genotype.json"
        from .io import read_data_file

        return cls.from_dict(read_data_file(path, "genotype file"), str(path))

    # ------------------------------------------------------------------ NNI
    def to_nni(self) -> dict:
        """NNI's label dict for ``ModelSpace.freeze`` (nodes numbered from 2)."""
        arch: dict = {}
        for i, edges in enumerate(self.cell):
            for k, e in enumerate(edges):
                arch[f"{CELL_LABEL}/op_{i + 2}_{k}"] = e.op
                arch[f"{CELL_LABEL}/input_{i + 2}_{k}"] = [e.input]
        return arch

    @classmethod
    def from_nni(cls, arch: Mapping, space: str, ops: Sequence[str], cells: int, nodes: int) -> "Genotype":
        cell = []
        for i in range(nodes):
            edges = []
            for k in range(2):
                inp = arch[f"{CELL_LABEL}/input_{i + 2}_{k}"]
                edges.append(Edge(int(inp[0] if isinstance(inp, (list, tuple)) else inp), arch[f"{CELL_LABEL}/op_{i + 2}_{k}"]))
            cell.append(tuple(edges))
        return cls(space, tuple(ops), cells, nodes, tuple(cell))

    @staticmethod
    def edge_weights_from_nni(probs: Mapping[str, Mapping[str, float]]) -> dict[tuple[int, int], dict[str, float]]:
        """NNI ``export_probs()`` (``normal/{node}_{input}`` -> {op: p}) -> ``{(node_idx, input): {op: p}}``.

        NNI's implicit zero op is the space's ``none``; its probability is what the others leave.
        """
        out = {}
        for key, dist in probs.items():
            label, _, rest = key.partition("/")
            if label != CELL_LABEL or "_" not in rest:
                continue
            node, inp = rest.split("_")
            d = {op: float(p) for op, p in dist.items()}
            d[NONE_OP] = max(0.0, 1.0 - sum(d.values()))
            out[(int(node) - 2, int(inp))] = d
        return out

    # ------------------------------------------------------------------ derive
    @classmethod
    def derive(
        cls,
        weights: Mapping[tuple[int, int], Mapping[str, float]],
        space: str,
        ops: Sequence[str],
        cells: int,
        nodes: int,
    ) -> "Genotype":
        """The paper's (DARTS) rule: per node keep the two inputs whose best non-``none`` op is
        strongest, each with that op. ``weights[(node, input)]`` are per-edge softmax probabilities."""
        cell = []
        for i in range(nodes):
            cands = []
            for j in range(i + 2):
                dist = weights.get((i, j))
                if dist is None:
                    raise ValueError(f"no weights for node {i + 2}, input {j}")
                best = max((p, -ops.index(op), op) for op, p in dist.items() if op != NONE_OP and op in ops)
                cands.append((best[0], -j, best[2]))
            top = sorted(cands, reverse=True)[:2]
            cell.append(tuple(Edge(-negj, op) for _, negj, op in sorted(top, key=lambda t: -t[1])))
        return cls(space, tuple(ops), cells, nodes, tuple(cell))

    @classmethod
    def random(cls, space: str, ops: Sequence[str], cells: int, nodes: int, rng) -> "Genotype":
        """A cell drawn uniformly from what :meth:`derive` can return: per node two distinct inputs
        among its predecessors, each with a non-``none`` op. ``rng``: a ``random.Random``."""
        choices = [op for op in ops if op != NONE_OP]
        if not choices:
            raise ValueError("the space has no op besides 'none'")
        cell = []
        for i in range(nodes):
            inputs = sorted(rng.sample(range(i + 2), 2))
            cell.append(tuple(Edge(j, rng.choice(choices)) for j in inputs))
        return cls(space, tuple(ops), cells, nodes, tuple(cell))

    # ------------------------------------------------------------------ text
    @staticmethod
    def input_name(i: int) -> str:
        return INPUT_NAMES[i] if i < 2 else f"node {i}"

    def __str__(self) -> str:
        lines = [f"Genotype(space={self.space}, cells={self.cells}, nodes={self.nodes})"]
        for i, edges in enumerate(self.cell):
            terms = " + ".join(f"{e.op}({self.input_name(e.input)})" for e in edges)
            lines.append(f"  node {i + 2} = {terms}")
        lines.append(f"  output = concat(node 2 .. node {self.nodes + 1})")
        return "\n".join(lines)

    def signature(self) -> tuple:
        """What must not change for early stopping: the edges of the cell."""
        return tuple((e.input, e.op) for edges in self.cell for e in edges)


def draw_cell(genotype: Genotype):
    """A matplotlib figure of the cell: inputs, nodes, edges labelled with their ops, output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = genotype.nodes
    fig, ax = plt.subplots(figsize=(3.2 + 2.0 * m, 4.4))
    pos = {0: (0.0, 2.0), 1: (0.0, 0.0)}
    for i in range(m):
        pos[i + 2] = (2.2 * (i + 1), 1.0 + (0.9 if i % 2 == 0 else -0.9) * (1 if m > 1 else 0))
    out_pos = (2.2 * (m + 1), 1.0)
    palette = plt.get_cmap("tab10")
    colors = {op: palette(k % 10) for k, op in enumerate(genotype.ops)}
    for i, edges in enumerate(genotype.cell):
        for e in edges:
            (x0, y0), (x1, y1) = pos[e.input], pos[i + 2]
            rad = 0.12 if abs(x1 - x0) <= 2.3 else 0.32  # long edges bend more, away from the short ones
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops=dict(arrowstyle="-|>", color=colors[e.op], lw=1.8, shrinkA=18, shrinkB=18,
                                        connectionstyle=f"arc3,rad={rad}"))
            # label at the curve's midpoint (arc3's control point is mid + rad * (dy, -dx))
            lx, ly = (x0 + x1) / 2 + 0.5 * rad * (y1 - y0), (y0 + y1) / 2 - 0.5 * rad * (x1 - x0)
            ax.text(lx, ly, e.op, fontsize=8, ha="center", va="center", color=colors[e.op],
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for i in range(m):
        (x0, y0) = pos[i + 2]
        ax.annotate("", xy=out_pos, xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="0.6", lw=1.0, ls="--", shrinkA=18, shrinkB=22))
    for k, (x, y) in pos.items():
        label = Genotype.input_name(k).replace("node ", "") if k >= 2 else Genotype.input_name(k)
        fc = "#dbe9f6" if k < 2 else "#fde8c8"
        ax.text(x, y, f"${label}$" if k < 2 else label, ha="center", va="center", fontsize=10,
                bbox=dict(boxstyle="round,pad=0.4", fc=fc, ec="0.3"))
    ax.text(*out_pos, "concat\n$C_{l}$", ha="center", va="center", fontsize=10,
            bbox=dict(boxstyle="round,pad=0.4", fc="#d9f2d9", ec="0.3"))
    ax.set_xlim(-0.8, out_pos[0] + 0.9)
    ax.set_ylim(-1.4, 3.4)
    ax.axis("off")
    ax.set_title(f"searched cell (space {genotype.space}, {genotype.nodes} nodes, x{genotype.cells} cells)", fontsize=10)
    fig.tight_layout()
    return fig
