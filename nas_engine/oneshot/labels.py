"""The one module that knows NNI's labels and the private attributes of its one-shot modules.

Labels (NNI 3.0):

* the cell's edges, as DARTS-like strategies label their architecture weights and probabilities:
  ``normal/{node}_{input}`` (nodes numbered from 2; inputs 0 = C_{l-2}, 1 = C_{l-1}, k + 2 = node k);
* the cell's slots, as a frozen or sampled architecture names them: ``normal/op_{node}_{k}`` (an op
  name) and ``normal/input_{node}_{k}`` (a list holding one input index), k = 0, 1;
* a macro choice: ``macro_{key}`` (a ``LayerChoice``: the candidate's name; an ``InputChoice``: the
  index of the chosen input).

Private attributes read here and nowhere else: ``_arch_alpha`` (a differentiable cell's
``ParameterDict`` of edge alphas, or a mixed layer/input's alpha vector), ``op_names`` of a cell
and ``names`` of a mixed layer. NNI appends its implicit zero op as the last entry of every edge's
alpha: that is the space's ``none``.

Nothing here imports NNI at module level: the fixed network (no NNI) uses the label helpers too.
"""

from __future__ import annotations

from typing import Mapping

from search_spaces import NONE_OP  # the space's zero op: NNI's implicit one

CELL_LABEL = "normal"
MACRO_PREFIX = "macro_"


# ---------------------------------------------------------------- label strings
def edge_label(node: int, inp: int) -> str:
    """``normal/{node}_{input}`` (``node`` numbered from 2)."""
    return f"{CELL_LABEL}/{node}_{inp}"


def parse_edge(label: str) -> tuple[int, int] | None:
    """``normal/{node}_{input}`` -> ``(node, input)``; None for any other label."""
    scope, _, rest = label.partition("/")
    if scope != CELL_LABEL or "_" not in rest or rest.startswith(("op_", "input_", "beta_")):
        return None
    node, inp = rest.split("_")
    return int(node), int(inp)


def macro_label(key: str) -> str:
    return MACRO_PREFIX + key


def macro_key(label: str) -> str | None:
    return label[len(MACRO_PREFIX):] if label.startswith(MACRO_PREFIX) else None


def cell_arch(cell) -> dict:
    """A genotype's cell (``((Edge, Edge), ...)``) as NNI's slot labels (for ``freeze`` / ``resample``)."""
    arch: dict = {}
    for i, edges in enumerate(cell):
        for k, e in enumerate(edges):
            arch[f"{CELL_LABEL}/op_{i + 2}_{k}"] = e.op
            arch[f"{CELL_LABEL}/input_{i + 2}_{k}"] = [e.input]
    return arch


def cell_from_arch(arch: Mapping, nodes: int) -> list[list[tuple[int, str]]]:
    """NNI's slot labels -> per node ``[(input, op), (input, op)]``."""
    out = []
    for i in range(nodes):
        slots = []
        for k in range(2):
            inp = arch[f"{CELL_LABEL}/input_{i + 2}_{k}"]
            slots.append((int(inp[0] if isinstance(inp, (list, tuple)) else inp), arch[f"{CELL_LABEL}/op_{i + 2}_{k}"]))
        out.append(slots)
    return out


def edge_weights(probs: Mapping[str, Mapping]) -> dict[tuple[int, int], dict[str, float]]:
    """NNI's ``export_probs()`` -> ``{(node index from 0, input): {op: p}}`` with the zero op as
    ``none`` (what the others leave). Per edge (``normal/{node}_{input}``, DARTS-like cells) or, for
    sampling cells, per slot (``normal/op_{node}_{k}``, ``normal/input_{node}_{k}``): the weight of
    (input j, op o) is the largest over the node's slots of P(input j) x P(op o)."""
    out: dict[tuple[int, int], dict[str, float]] = {}
    if any(k.partition("/")[2].startswith(("op_", "input_")) for k in probs):
        for key, dist in probs.items():
            scope, _, rest = key.partition("/")
            if scope != CELL_LABEL or not rest.startswith("op_"):
                continue
            _, node, k = rest.split("_")
            for j, pj in probs[f"{CELL_LABEL}/input_{node}_{k}"].items():
                d = out.setdefault((int(node) - 2, int(j)), {})
                for op, po in dist.items():
                    d[op] = max(d.get(op, 0.0), float(pj) * float(po))
    else:
        for key, dist in probs.items():
            edge = parse_edge(key)
            if edge is not None:
                out[(edge[0] - 2, edge[1])] = {op: float(p) for op, p in dist.items()}
    for d in out.values():
        d[NONE_OP] = max(0.0, 1.0 - sum(v for op, v in d.items() if op != NONE_OP))
    return out


def macro_probabilities(probs: Mapping[str, Mapping]) -> dict[str, dict]:
    """``{key: {NNI value: p}}`` of the macro choices in NNI's ``export_probs()``."""
    return {macro_key(label): dict(dist) for label, dist in probs.items() if macro_key(label) is not None}


# ---------------------------------------------------------------- architecture weights of a supernet
def own_alphas(cell) -> Mapping:
    """A differentiable cell's edge alphas: ``{edge label: Parameter}`` (NNI's ``_arch_alpha``)."""
    return cell._arch_alpha


def choice_alpha(module):
    """A differentiable mixed layer's or input's alpha vector (NNI's ``_arch_alpha``)."""
    return module._arch_alpha


def cells(model) -> list:
    """The differentiable (DARTS-like) cells of a mutated supernet."""
    from nni.nas.oneshot.pytorch.supermodule.differentiable import DifferentiableMixedCell

    return [m for m in model.modules() if isinstance(m, DifferentiableMixedCell)]


def cell_alphas(model) -> tuple[list[str], dict]:
    """``(op names, {edge label: alpha Parameter})`` of a supernet's differentiable cells (cells
    sharing a label share their alphas: each label once); the zero op is each alpha's last entry.
    Also takes modules that only look like one (``_arch_alpha`` and ``op_names``)."""
    found = [m for m in model.modules() if hasattr(m, "_arch_alpha") and hasattr(m, "op_names")]
    if not found:
        return [], {}
    return list(found[0].op_names), {k: p for c in found for k, p in c._arch_alpha.items()}


def macro_alphas(model) -> dict[str, tuple]:
    """``{key: (alpha Parameter, NNI value of each entry)}`` of a supernet's differentiable macro
    choices (one per key; mixed layers' values are their candidates' names, mixed inputs' the
    input indices)."""
    from nni.nas.oneshot.pytorch.supermodule.differentiable import DifferentiableMixedInput, DifferentiableMixedLayer

    out: dict[str, tuple] = {}
    for m in model.modules():
        if isinstance(m, (DifferentiableMixedLayer, DifferentiableMixedInput)) and macro_key(m.label) is not None:
            values = list(m.names) if isinstance(m, DifferentiableMixedLayer) else list(range(len(m._arch_alpha)))
            out.setdefault(macro_key(m.label), (m._arch_alpha, values))
    return out
