"""Selecting the architecture from a trained DARTS supernet by perturbation, after DARTS-PT (Wang
et al., "Rethinking Architecture Selection in Differentiable NAS", ICLR 2021), instead of the
largest alpha (``search.select: perturbation``).

An op's strength is how much the supernet's loss on the architecture split rises when that op
alone is taken off its edge (its alpha set to -inf), not its alpha. Edges are decided one after
another (progressive discretisation): the op whose removal hurts most is kept and the edge is made
one-hot before the next edge is measured. Then each node keeps the two inputs whose removal (the
whole edge set to the zero op) hurts most, and each macro choice the value whose removal hurts
most. DARTS-PT fine-tunes the supernet between edges; this does not (one loss evaluation per op,
on ``search.eval_batches`` batches), and says so in ``selection.json``.

A supernet that draws its macro choices per pass (``search.macro_draw``) is random: each evaluation
would draw its own widths and depths, and the loss difference of two evaluations would be mostly the
draws' (a one-cascade draw against a five-cascade one), not the op taken off. Every evaluation
therefore starts from the same random state (common random numbers, seed ``cfg.seed``): the same
draws per batch wherever the macro weights are the same, so an op's removal is measured on the
paths the supernet would draw.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from ..genotype import Edge, Genotype

SELECTIONS = ("argmax", "perturbation", "candidates")
ARCH_WEIGHT_STRATEGIES = ("darts", "gdas", "pcdarts")
NEG = -1e4  # softmax weight exp(-1e4) is 0 in float32


def check_selection(cfg) -> None:
    s = cfg.search
    if s.select not in SELECTIONS:
        raise UserError(f"search.select must be one of {', '.join(SELECTIONS)}, got {s.select!r}")
    if s.max_flops < 0:
        raise UserError(f"search.max_flops must be >= 0 (0: no limit), got {s.max_flops:g}")
    ladder = s.finetune_ladder
    if ladder is not None:
        if (not isinstance(ladder, list) or not ladder or any(isinstance(k, bool) or not isinstance(k, int) or k < 0
                                                               for k in ladder)
                or any(b <= a for a, b in zip(ladder, ladder[1:]))):
            raise UserError(f"search.finetune_ladder must be a non-empty list of increasing step counts >= 0, e.g. "
                            f"[10, 40, 160]; got {ladder!r}")
        if s.finetune_steps:
            raise UserError("search.finetune_ladder sets the fine-tune steps of every rung; leave search.finetune_steps "
                            "unset (0) with it")
    if s.halving_eta == 1 or s.halving_eta < 0:
        raise UserError(f"search.halving_eta must be 2 or more (keep the best 1/eta of each rung), got {s.halving_eta}")
    if s.halving_eta and ladder is None and s.strategy != "ranked":
        raise UserError("search.halving_eta applies to the rungs of search.finetune_ladder; set that too")
    if s.select == "candidates" and s.strategy not in ARCH_WEIGHT_STRATEGIES:
        raise UserError(f"search.select=candidates scores drawn architectures in a supernet with architecture weights "
                        f"({', '.join(ARCH_WEIGHT_STRATEGIES)}); search.strategy={s.strategy}"
                        + (" chooses among drawn candidates already" if s.strategy == "spos" else " has none"))
    if s.strategy in ARCH_WEIGHT_STRATEGIES and s.select != "candidates":
        from .strategies import CANDIDATE_OPTIONS, STRATEGY_OPTIONS

        given = [k for k in CANDIDATE_OPTIONS if getattr(s, k) != STRATEGY_OPTIONS[k]]
        if given:
            raise UserError(f"search.{given[0]} applies to the candidates a search scores in its supernet; with "
                            f"search.strategy={s.strategy} set search.select=candidates too")
    if s.select == "perturbation" and s.strategy != "darts":
        raise UserError(f"search.select=perturbation measures ops in a DARTS supernet (every op on every edge); "
                        f"use it with search.strategy=darts, not {s.strategy}")


def removal_deltas(alpha, values: list, loss) -> tuple[dict, object]:
    """How much ``loss()`` rises when each entry of ``alpha`` alone is switched off (weight -inf), and
    the value whose removal hurts most (ties: the earlier one); ``alpha`` is left as it was."""
    base = loss()
    deltas = {}
    for k, v in enumerate(values):
        old = alpha[k].item()
        alpha[k] = NEG
        deltas[v] = loss() - base
        alpha[k] = old
    return deltas, max(deltas, key=lambda v: (deltas[v], -values.index(v)))


def perturbation_select(oneshot, task, space, cfg, batches, log=print) -> tuple[Genotype, dict]:
    """The genotype chosen by perturbation (see the module's doc) and the measured loss increases.
    The supernet's alphas are left as they were."""
    from . import labels
    from .spos import _score

    model = oneshot.training_module.model
    choose = oneshot.training_module.choose
    if not labels.cells(model):
        raise UserError("search.select=perturbation needs a DARTS cell in the supernet")
    names, alphas = labels.cell_alphas(model)  # NNI's zero op is the last entry of each alpha
    macros = {labels.macro_label(k): a for k, (a, _) in labels.macro_alphas(model).items()}
    saved = {k: v.detach().clone() for k, v in {**alphas, **macros}.items()}

    def loss() -> float:
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)  # common random numbers: every evaluation draws the same paths
            return _score(task, model, batches)

    def one_hot(a: torch.Tensor, k: int) -> None:
        a.fill_(NEG)
        a[k] = 0.0

    record: dict = {"edges": {}, "inputs": {}, "macro": {}, "eval_batches": len(batches), "fine_tuning": "none",
                    "random_state": f"the same for every evaluation (seed {cfg.seed})"}
    ops: dict[tuple[int, int], str] = {}
    with torch.no_grad():
        edge_labels = sorted(alphas, key=labels.parse_edge)
        for label in edge_labels:  # progressive: each edge decided, then made one-hot
            a = alphas[label]
            deltas, best = removal_deltas(a, names, loss)
            i, j = labels.parse_edge(label)
            ops[(i, j)] = best
            record["edges"][label] = {"chosen": best, "loss_increase": deltas}
            one_hot(a, names.index(best))
        base = loss()
        importance: dict[int, dict[int, float]] = {}
        for (i, j) in sorted(ops):
            a = alphas[labels.edge_label(i, j)]
            kept = a.detach().clone()
            one_hot(a, len(names))  # the whole edge off: the zero op
            importance.setdefault(i, {})[j] = loss() - base
            a.copy_(kept)
        cell = []
        for i in sorted(importance):
            top = sorted(importance[i], key=lambda j: (-importance[i][j], j))[:2]
            cell.append(tuple(Edge(j, ops[(i, j)]) for j in sorted(top)))
            record["inputs"][f"node {i}"] = {str(j): v for j, v in importance[i].items()}
        macro = []
        for key in space.macro_choices:
            label = labels.macro_label(key)
            if choose is None or label not in macros:
                continue
            a, values = macros[label], choose.choices[key]
            deltas, best = removal_deltas(a, list(values), loss)
            macro.append((key, best))
            record["macro"][key] = {"chosen": best, "loss_increase": {str(v): d for v, d in deltas.items()}}
            one_hot(a, values.index(best))
        for k, v in saved.items():
            ({**alphas, **macros})[k].copy_(v)
    m = cfg.model
    geno = Genotype(space.name, tuple(space.ops), m.cells, m.nodes, tuple(cell), tuple(macro))
    log(f"perturbation selection: {len(ops)} edges and {len(macro)} macro choices measured on {len(batches)} "
        f"batches; cell [{', '.join(f'{e.op}({e.input})' for edges in geno.cell for e in edges)}]"
        + (f", {geno.macro_text()}" if macro else ""))
    return geno, record
