"""The derived architecture: a frozen dataclass with JSON, text, NNI label dicts and a drawing.

Cell inputs follow the DARTS convention: 0 = C_{l-2}, 1 = C_{l-1}, k + 2 = node k.
NNI's label format is :mod:`nas_engine.oneshot.labels`' alone (no NNI import: the fixed network
needs none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from search_spaces import MACROS, NONE_OP, SPACES  # NONE_OP: the zero op, one name, defined by the op registry

from .errors import UserError
from .oneshot import labels

INPUT_NAMES = ("C_{l-2}", "C_{l-1}")


@dataclass(frozen=True)
class Edge:
    input: int
    op: str


@dataclass(frozen=True)
class Genotype:
    """One normal cell shared by all ``cells`` cells: ``nodes`` nodes of two edges each; ``macro``:
    the space's macro choices as chosen (``(("width", 16), ("cascades", 3), ...)``; empty for a space
    without them), which override the config's width and the task's options they name."""

    space: str
    ops: tuple[str, ...]
    cells: int
    nodes: int
    cell: tuple[tuple[Edge, Edge], ...]
    macro: tuple[tuple[str, object], ...] = ()

    @property
    def macro_dict(self) -> dict:
        return dict(self.macro)

    def __post_init__(self) -> None:
        if self.cells < 1 or self.nodes < 1:
            raise ValueError(f"cells and nodes must be >= 1, got cells={self.cells}, nodes={self.nodes}")
        builtin = SPACES.get(self.space)
        if builtin is not None and tuple(self.ops) != tuple(builtin):
            raise ValueError(f"space {self.space!r} is built in with ops {list(builtin)}, but this genotype lists "
                             f"{list(self.ops)} (a space of your own needs a name other than "
                             f"{', '.join(sorted(SPACES))})")
        choices = MACROS.get(self.space) if builtin is not None else None
        for key, value in self.macro:
            if choices is not None and (key not in choices or not any(type(value) is type(c) and value == c
                                                                       for c in choices[key])):
                allowed = ", ".join(f"{k} in {list(v)}" for k, v in choices.items()) or "none"
                raise ValueError(f"macro {key}={value!r} is not a choice of space {self.space} ({allowed})")
        if len(dict(self.macro)) != len(self.macro):
            raise ValueError(f"macro keys repeat: {[k for k, _ in self.macro]}")
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
        d = {
            "space": self.space,
            "ops": list(self.ops),
            "cells": self.cells,
            "nodes": self.nodes,
            "cell": [[{"input": e.input, "op": e.op} for e in edges] for edges in self.cell],
        }
        if self.macro:  # only then: genotypes of spaces without macro choices keep their JSON
            d["macro"] = dict(self.macro)
        return d

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "genotype") -> "Genotype":
        try:
            if not isinstance(d, Mapping):
                raise ValueError("expected a JSON object")
            missing = {"space", "ops", "cells", "nodes", "cell"} - set(d)
            if missing:
                raise ValueError(f"missing key(s) {sorted(missing)}")
            extra = set(d) - {"space", "ops", "cells", "nodes", "cell", "macro"}
            if extra:
                raise ValueError(f"unknown key(s) {sorted(extra)}")
            cell = tuple(
                tuple(Edge(int(e["input"]), str(e["op"])) for e in edges) for edges in d["cell"]
            )
            macro = d.get("macro") or {}
            if not isinstance(macro, Mapping):
                raise ValueError("macro must be a JSON object of choices, e.g. {\"width\": 16}")
            return cls(str(d["space"]), tuple(str(o) for o in d["ops"]), int(d["cells"]), int(d["nodes"]), cell,
                       tuple((str(k), v) for k, v in macro.items()))
        except (ValueError, TypeError, KeyError) as e:
            raise UserError(f"{source}: malformed genotype: {e}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> "Genotype":
        path = Path(path)
        if path.is_dir():
            path = path / "genotype.json"
        from .files import read_data_file

        return cls.from_dict(read_data_file(path, "genotype file"), str(path))

    # ------------------------------------------------------------------ NNI
    def to_nni(self) -> dict:
        """NNI's label dict of the cell for ``ModelSpace.freeze`` / ``resample``."""
        return labels.cell_arch(self.cell)

    @classmethod
    def from_nni(cls, arch: Mapping, space: str, ops: Sequence[str], cells: int, nodes: int) -> "Genotype":
        cell = tuple(tuple(Edge(j, op) for j, op in slots) for slots in labels.cell_from_arch(arch, nodes))
        return cls(space, tuple(ops), cells, nodes, cell)

    @staticmethod
    def edge_weights_from_nni(probs: Mapping[str, Mapping[str, float]]) -> dict[tuple[int, int], dict[str, float]]:
        """NNI ``export_probs()`` -> ``{(node_idx, input): {op: p}}``; the implicit zero op is ``none``."""
        return labels.edge_weights(probs)

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

    @staticmethod
    def random_choices(space: str, ops: Sequence[str], only: Sequence[str] | None = None) -> list[str]:
        """The ops :meth:`random` draws from: the space's ops but ``none``, or ``only`` (checked)."""
        choices = [op for op in ops if op != NONE_OP]
        if only is not None:
            bad = [op for op in only if op not in choices]
            if bad or not only:
                raise ValueError(f"ops {bad or list(only)} are not ops of space {space} other than 'none' "
                                 f"(choose from {', '.join(choices)})")
            choices = list(dict.fromkeys(only))
        if not choices:
            raise ValueError("the space has no op besides 'none'")
        return choices

    @classmethod
    def random(cls, space: str, ops: Sequence[str], cells: int, nodes: int, rng,
               only: Sequence[str] | None = None, macro: Mapping[str, Sequence] | None = None) -> "Genotype":
        """A cell drawn uniformly from what :meth:`derive` can return: per node two distinct inputs
        among its predecessors, each with a non-``none`` op. ``rng``: a ``random.Random``. ``only``:
        draw the ops from these alone (a sub-space of ``ops``; the genotype keeps the whole op list).
        ``macro``: ``{key: choices}``, each drawn uniformly after the cell."""
        choices = cls.random_choices(space, ops, only)
        cell = []
        for i in range(nodes):
            inputs = sorted(rng.sample(range(i + 2), 2))
            cell.append(tuple(Edge(j, rng.choice(choices)) for j in inputs))
        chosen = tuple((k, rng.choice(list(v))) for k, v in (macro or {}).items())
        return cls(space, tuple(ops), cells, nodes, tuple(cell), chosen)

    @classmethod
    def random_distinct(cls, space: str, ops: Sequence[str], cells: int, nodes: int, n: int, rng,
                        only: Sequence[str] | None = None, macro: Mapping[str, Sequence] | None = None,
                        tries: int | None = None, accept=None) -> list["Genotype"]:
        """Up to ``n`` distinct architectures by :meth:`random`, in the order drawn (one drawn again is
        redrawn; drawing more keeps the first ``n``); ``tries``: give up after that many draws;
        ``accept(genotype)``: keep only those it accepts (asked once per distinct architecture)."""
        out, seen, drawn = [], set(), 0
        while len(out) < n and (tries is None or drawn < tries):
            g = cls.random(space, ops, cells, nodes, rng, only=only, macro=macro)
            drawn += 1
            if g.signature() not in seen:
                seen.add(g.signature())
                if accept is None or accept(g):
                    out.append(g)
        return out

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
        if self.macro:
            lines.append("  macro: " + self.macro_text())
        return "\n".join(lines)

    def macro_text(self) -> str:
        """``width 16, cascades 3, share no`` (empty without macro choices)."""
        def fmt(v):
            return ("yes" if v else "no") if isinstance(v, bool) else str(v)

        return ", ".join(f"{k} {fmt(v)}" for k, v in self.macro)

    def signature(self) -> tuple:
        """What must not change for early stopping: the edges of the cell and the macro choices."""
        return tuple((e.input, e.op) for edges in self.cell for e in edges) + tuple(self.macro)
