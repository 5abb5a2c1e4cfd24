"""Search strategies behind one seam: ``search.strategy`` names an entry of :data:`STRATEGIES`.

Every entry builds an NNI one-shot strategy (``nni.nas.strategy``) whose Lightning module lists
the architecture parameters in a fixed order (NNI 3.0 returns them in ``set`` order, which
changes between processes: a resumed search would hand one alpha's Adam state to another), and
says how to read per-edge op weights out of it, so that every strategy derives its cell with the
same rule (the paper's, :meth:`Genotype.derive`).

* ``darts`` -- NNI's DARTS (first order): every op of every edge, softmax-weighted. In a space
  with macro choices, ``search.macro_draw: true`` draws each macro choice per pass by hard Gumbel
  (as GDAS does) while the cell stays DARTS' mixture: one width and one sharing per pass instead
  of every width and both (~6x cheaper a step in space C).
* ``gdas`` -- hard Gumbel sampling (GDAS, Dong & Yang 2019): one op per edge per step, drawn
  with ``gumbel_softmax(hard=True)`` and weighted straight-through, so only that op runs and
  keeps activations. NNI's own GumbelDARTS mixes every op softly (no memory saved); this is NNI's
  GumbelDARTS strategy and temperature schedule with a cell that computes the drawn op only.
* ``pcdarts`` -- partial channels (PC-DARTS, Xu et al. 2020): each edge's mixed op sees 1/K of
  the channels (``search.partial_channels``: K), the rest bypass it, channels are shuffled, and
  edge normalisation weighs each node's inputs with their own softmax (betas).
* ``proxyless`` -- NNI's ProxylessNAS: one sampled path per step, its own architecture gradient.
* ``spos`` -- single-path one-shot (NNI's RandomOneShot): uniform paths train the supernet, then a
  search over random architectures scored in it picks the cell (:mod:`nas_engine.spos`).

Add one with :func:`register_strategy`. Options of one strategy given to another are an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from nni.nas.oneshot.pytorch import DartsLightningModule, GumbelDartsLightningModule
from nni.nas.oneshot.pytorch.supermodule.differentiable import (
    DifferentiableMixedCell,
    DifferentiableMixedInput,
    DifferentiableMixedLayer,
)
from nni.nas.strategy import DARTS as NNIDarts
from nni.nas.strategy import GumbelDARTS as NNIGumbelDarts
from nni.nas.strategy import Proxyless as NNIProxyless
from torch import nn

from ..config import Config
from ..errors import UserError, unknown
from ..genotype import Genotype
from . import labels


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    build: Callable[[Config], object]  # -> an NNI strategy (mutate_model, configure_oneshot_module)
    options: tuple[str, ...] = ()  # search.* keys this strategy reads (and no other may be given)
    multi_process: bool = True  # False: some weights get no gradient in a step, which DDP here cannot reduce
    op_channels: Callable[[Config], int] = lambda cfg: cfg.model.channels  # channels the candidate ops see
    single_path: bool = False  # no architecture weights: the supernet is trained, then searched (nas_engine.spos)
    draws_path: Callable[[Config], bool] = lambda cfg: False  # a path drawn per step: steps differ in cost
    standalone: bool = False  # no supernet: candidates ranked and trained alone (nas_engine.ranked)

    def edge_weights(self, oneshot) -> dict[tuple[int, int], dict[str, float]]:
        """``{(node index, input): {op: weight}}`` of the current architecture parameters."""
        return edge_weights_from_probs(oneshot.export_probs())


STRATEGIES: dict[str, Strategy] = {}
# search.* keys of choosing among drawn candidates: SPOS' own way, and search.select=candidates' on a DARTS supernet
CANDIDATE_OPTIONS = ("candidates", "max_flops", "finetune_steps", "finetune_ladder", "halving_eta")
# search.* keys owned by one strategy, with the value that means "not given"
STRATEGY_OPTIONS = {"partial_channels": 0, "temperature": None, "candidates": 0, "max_flops": 0.0,
                    "macro_draw": False, "sandwich": False, "finetune_steps": 0, "finetune_ladder": None,
                    "halving_eta": 0, "proxy": "", "train_top": 0, "train_ladder": None}


def register_strategy(strategy: Strategy) -> Strategy:
    if strategy.name in STRATEGIES:
        raise ValueError(f"strategy {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


def check_processes(cfg: Config, world: int) -> None:
    """Strategies that run one path per step leave the other ops without gradients, which Lightning's
    DDP (``find_unused_parameters=False``) cannot reduce: one process only."""
    s = get_strategy(cfg)
    if world > 1 and cfg.search.macro_draw:
        raise UserError(f"search.macro_draw runs one candidate of each macro choice per step and cannot be spread "
                        f"over {world} processes here; use --devices 1, or leave search.macro_draw off")
    if world > 1 and not s.multi_process:
        raise UserError(f"search.strategy={s.name} runs one sampled path per step and cannot be spread over "
                        f"{world} processes here; use --devices 1, or search.strategy=darts or pcdarts")


def get_strategy(cfg: Config) -> Strategy:
    name = cfg.search.strategy
    if name not in STRATEGIES:
        raise unknown("search.strategy", name, list(STRATEGIES))
    s = STRATEGIES[name]
    for key, unset in STRATEGY_OPTIONS.items():
        if getattr(cfg.search, key) != unset and key not in s.options:
            owners = [o.name for o in STRATEGIES.values() if key in o.options]
            raise UserError(f"search.{key} is an option of search.strategy={'/'.join(owners)}, not of {name}")
    return s


edge_weights_from_probs = labels.edge_weights  # per-edge op weights of NNI's export_probs() (labels.py)


ARCH_ONLY_BACKWARD = True  # the speed lever below; benchmarks/speed.py turns it off to measure it


def _ordered(module_cls, arch_only: bool = True):
    """``module_cls`` with its architecture parameters in the order of ``self.parameters()``, and
    (``arch_only``) an architecture step whose backward pass computes the architecture parameters'
    gradients alone. NNI's step backpropagates the architecture loss into every weight too, and the
    weight step's ``zero_grad`` then throws those gradients away: skipping them changes no number
    (a test) and saves the weight-gradient kernels of every convolution (~1.2x a search step). One
    process only: DDP expects a gradient for every weight in every backward."""

    class Ordered(module_cls):
        def arch_parameters(self):
            rank = {id(p): i for i, p in enumerate(self.parameters())}
            return sorted(super().arch_parameters(), key=lambda p: rank[id(p)])

        def training_step(self, batch, batch_idx):
            warm = self.warmup_epochs and self.trainer.current_epoch < self.warmup_epochs
            self._arch_backward_next = (arch_only and ARCH_ONLY_BACKWARD and not warm
                                        and self.trainer.world_size == 1 and str(self.trainer.precision) == "32-true")
            return super().training_step(batch, batch_idx)

        def manual_backward(self, loss, *args, **kwargs):
            if getattr(self, "_arch_backward_next", False):  # the first backward of a step: the architecture's
                self._arch_backward_next = False
                loss.backward(inputs=self.arch_parameters())
                return
            super().manual_backward(loss, *args, **kwargs)

    Ordered.__name__ = Ordered.__qualname__ = f"Ordered{module_cls.__name__}"
    return Ordered


OrderedDarts = _ordered(DartsLightningModule)
OrderedGumbelDarts = _ordered(GumbelDartsLightningModule)
OrderedProxyless = _ordered(DartsLightningModule, arch_only=False)  # its architecture gradient is its own


def _darts_kwargs(s) -> dict:
    return dict(arc_learning_rate=s.arc_learning_rate, gradient_clip_val=s.gradient_clip_val,
                log_prob_every_n_step=s.log_prob_every_n_step, warmup_epochs=s.warmup_epochs, penalty=s.penalty)


WEIGHTED_SUM_CELL = True  # the speed lever below; benchmarks/speed.py turns it off to measure it, and a search
# over several processes leaves it off (nas_engine/search.py: under DDP its alphas drifted from a one-process run's)


class DARTS(NNIDarts):
    """NNI's first-order DARTS strategy; the parameter order is fixed, and (``WEIGHTED_SUM_CELL``) each
    edge's mixture is a plain weighted sum of its ops' outputs (:class:`WeightedSumCell`). ``macro_draw``:
    the macro choices drawn per pass by hard Gumbel (:class:`HardGumbelLayer`, :class:`HardGumbelInput`)."""

    def __init__(self, macro_draw: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.macro_draw = macro_draw

    def default_mutation_hooks(self):
        hooks = super().default_mutation_hooks()
        cell = WeightedSumCell if WEIGHTED_SUM_CELL else None
        if self.macro_draw:
            return _hooks_with(cell, hooks, HardGumbelLayer, HardGumbelInput)
        return _hooks_with(cell, hooks) if cell else hooks

    def configure_oneshot_module(self, training_module):
        return OrderedDarts(training_module=training_module, **_darts_kwargs(self))


class Proxyless(NNIProxyless):
    def configure_oneshot_module(self, training_module):
        return OrderedProxyless(training_module=training_module, **_darts_kwargs(self))


def restrict_to_genotype(model: nn.Module, genotype: Genotype | None, keep: dict | None = None,
                         macro=None) -> dict:
    """Put all of each edge's architecture weight of a DARTS supernet on ``genotype``'s op (on the
    zero op for the edges it drops), and with ``macro`` (the supernet's :class:`Choose`) all of each
    macro choice's weight on the genotype's choice: the supernet then computes the fixed network of
    that genotype with the supernet's weights. ``genotype=None`` with ``keep``: put back alphas
    returned by an earlier call. Returns the alphas as they were. Cells sharing a label share their alphas."""
    if not labels.cells(model):
        raise UserError("no DARTS cell in this supernet (search.strategy=darts)")
    names, alphas = labels.cell_alphas(model)
    macros = labels.macro_alphas(model)
    before = {k: v.detach().clone() for k, v in alphas.items()}
    before.update({labels.macro_label(k): a.detach().clone() for k, (a, _) in macros.items()})
    chosen = {} if genotype is None else {(i + 2, e.input): e.op for i, edges in enumerate(genotype.cell)
                                          for e in edges}
    with torch.no_grad():
        for label, alpha in alphas.items():
            if genotype is None:
                alpha.copy_(keep[label])
                continue
            edge = labels.parse_edge(label)
            alpha.fill_(-1e4)
            alpha[names.index(chosen[edge]) if edge in chosen else len(names)] = 0.0  # the zero op: last
        for key, (alpha, values) in macros.items():
            if genotype is None:
                alpha.copy_(keep[labels.macro_label(key)])
                continue
            if macro is None or key not in genotype.macro_dict:
                continue  # left as searched
            value = genotype.macro_dict[key]
            index = macro.choices[key].index(value) if key in macro.inputs else values.index(str(value))
            alpha.fill_(-1e4)
            alpha[index] = 0.0
    return before


class NodeCell(DifferentiableMixedCell):
    """NNI's differentiable cell with the node computed by :meth:`node` (the cell's inputs,
    preprocessing, and output concatenation stay NNI's); exported op weights are the plain softmax
    of each edge's alphas times :meth:`edge_weight`."""

    def node(self, i: int, ops, states: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def edge_weight(self, i: int, j: int) -> float:
        return 1.0

    def alpha(self, i: int, j: int) -> torch.Tensor:
        return labels.own_alphas(self)[labels.edge_label(i, j)]

    def export_probs(self, memo):
        out = {}
        with torch.no_grad():  # the distribution itself (no Gumbel noise, unlike NNI's GumbelDARTS export)
            for name, p in labels.own_alphas(self).items():
                if name not in memo:
                    i, j = labels.parse_edge(name)
                    w = self.edge_weight(i, j)
                    out[name] = {op: q * w for op, q in zip(self.op_names, F.softmax(p, -1).tolist())}
        return out

    def forward(self, *inputs):
        from nni.nas.nn.pytorch.cell import preprocess_cell_inputs

        processed = preprocess_cell_inputs(self.num_predecessors, *inputs)
        states = self.preprocessor(processed)
        for i, ops in enumerate(self.ops, start=self.num_predecessors):
            states.append(self.node(i, ops, states))
        return self.postprocessor(torch.cat(states[self.num_predecessors:], self.concat_dim), processed)


class WeightedSumCell(NodeCell):
    """DARTS' mixed edge as ``sum_k softmax(alpha)_k * op_k(x)``, accumulated op by op. NNI's cell
    stacks every op's output into one tensor, appends a tensor of zeros for its zero op, multiplies
    and sums: two copies of every edge's outputs that the sum does not need (the zero op adds
    nothing; its alpha still gets its gradient through the softmax). The same function (a test)."""

    def node(self, i, ops, states):
        out = None
        for j in range(i):
            weights = self._softmax(self.alpha(i, j))  # the last one: the zero op
            for w, op in zip(weights, ops[j].values()):
                term = w * op(states[j])
                out = term if out is None else out + term
        return out


# ---------------------------------------------------------------- GDAS: one drawn op per edge
class HardGumbelCell(NodeCell):
    """Per edge and step: draw one op from Gumbel-softmax(alpha / tau), run only that op, and
    weigh it by the straight-through one-hot weight (value 1, gradient of the soft sample)."""

    def node(self, i, ops, states):
        tau = getattr(self._softmax, "tau", 1.0)
        current = []
        for j in range(i):
            w = F.gumbel_softmax(self.alpha(i, j), tau=tau, hard=True)
            k = int(w.argmax())
            names = list(ops[j])
            # the zero op (last index) contributes nothing; its weight still carries the gradient
            out = ops[j][names[k]](states[j]) if k < len(names) else torch.zeros_like(states[j])
            current.append(w[k] * out)
        return sum(current)


def gumbel_draw(module) -> torch.Tensor:
    """The hard Gumbel-softmax sample of a macro choice for this forward pass: drawn once per label
    and pass (``Supernet.forward`` clears the draws), so that every cascade that makes the same choice
    (one width for all; the same sharing everywhere) gets the same one."""
    from .supernet import GUMBEL_DRAWS

    if module.label not in GUMBEL_DRAWS:
        tau = getattr(module._softmax, "tau", 1.0)
        GUMBEL_DRAWS[module.label] = F.gumbel_softmax(labels.choice_alpha(module), tau=tau, hard=True)
    return GUMBEL_DRAWS[module.label]


class HardGumbelLayer(DifferentiableMixedLayer):
    """GDAS for a macro ``LayerChoice`` (a width, shared weights or not): one candidate drawn per pass by
    hard Gumbel-softmax and run alone, weighted straight-through (NNI's GumbelDARTS runs every
    candidate and mixes them softly). Exported probabilities: the plain softmax (no Gumbel noise)."""

    def forward(self, *args, **kwargs):
        w = gumbel_draw(self)
        k = int(w.argmax())
        return w[k] * self[self.names[k]](*args, **kwargs)

    def export_probs(self, memo):
        if self.label in memo:
            return {}
        with torch.no_grad():
            return {self.label: dict(zip(self.names, F.softmax(labels.choice_alpha(self), -1).tolist()))}


class HardGumbelInput(DifferentiableMixedInput):
    """GDAS for a macro ``InputChoice`` (the number of cascades): one input drawn per step, weighted
    straight-through; exported probabilities: the plain softmax."""

    def forward(self, inputs):
        w = gumbel_draw(self)
        k = int(w.argmax())
        return w[k] * inputs[k]

    def export_probs(self, memo):
        if self.label in memo:
            return {}
        with torch.no_grad():
            return {self.label: dict(enumerate(F.softmax(labels.choice_alpha(self), -1).tolist()))}


def _hooks_with(cell_cls, hooks: list, layer_cls=None, input_cls=None) -> list:
    """NNI's mutation hooks with its differentiable cell replaced by ``cell_cls`` (and, when given, its
    mixed layer and mixed input by ``layer_cls`` and ``input_cls``)."""
    swap = {DifferentiableMixedCell: cell_cls, DifferentiableMixedLayer: layer_cls, DifferentiableMixedInput: input_cls}
    return [swap[h.__self__].mutate if swap.get(getattr(h, "__self__", None)) is not None else h for h in hooks]


class GDAS(NNIGumbelDarts):
    def default_mutation_hooks(self):
        return _hooks_with(HardGumbelCell, super().default_mutation_hooks(), HardGumbelLayer, HardGumbelInput)

    def configure_oneshot_module(self, training_module):
        from nni.nas.oneshot.pytorch.differentiable import LinearTemperatureScheduler

        return OrderedGumbelDarts(training_module=training_module,
                                  temperature_scheduler=LinearTemperatureScheduler(*self.temperature),
                                  **_darts_kwargs(self))


# ---------------------------------------------------------------- PC-DARTS: partial channels
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class PartialChannelCell(NodeCell):
    """Each edge's mixed op runs on the first 1/K of the channels (the ops are built that narrow),
    the rest bypass it; then the channels are shuffled. A node sums its edges weighted by the
    softmax of its own betas (edge normalisation); exported weights are op softmax x edge softmax."""

    _arch_parameter_names = ["_arch_alpha", "_arch_beta"]
    partial: int = 4

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        memo = args[7] if len(args) > 7 else kwargs["memo"]
        self._arch_beta = nn.ParameterDict()
        for i in range(self.num_predecessors, self.num_nodes + self.num_predecessors):
            key = f"{self.label}/beta_{i}"
            if key not in memo:
                memo[key] = nn.Parameter(torch.randn(i) * 1e-3)
            self._arch_beta[key] = memo[key]

    def beta(self, i: int) -> torch.Tensor:
        return F.softmax(self._arch_beta[f"{self.label}/beta_{i}"], -1)

    def edge_weight(self, i: int, j: int) -> float:
        return float(self.beta(i)[j])

    def node(self, i, ops, states):
        k, beta = self.partial, self.beta(i)
        current = []
        for j in range(i):
            x = states[j]
            part, rest = x[:, : x.shape[1] // k], x[:, x.shape[1] // k:]
            weights = F.softmax(self.alpha(i, j), -1)
            mixed = sum(w * op(part) for w, op in zip(weights, ops[j].values()))  # zero op: adds 0
            current.append(beta[j] * channel_shuffle(torch.cat([mixed, rest], 1), k))
        return sum(current)


class PCDARTS(NNIDarts):
    def __init__(self, partial: int, **kwargs):
        super().__init__(**kwargs)
        self.partial = partial

    def default_mutation_hooks(self):
        cell = type("PartialChannelCellK", (PartialChannelCell,), {"partial": self.partial})
        return _hooks_with(cell, super().default_mutation_hooks())

    def configure_oneshot_module(self, training_module):
        return OrderedDarts(training_module=training_module, **_darts_kwargs(self))


def _common(cfg: Config) -> dict:
    s = cfg.search
    return dict(arc_learning_rate=s.arc_lr, gradient_clip_val=s.grad_clip, warmup_epochs=s.warmup_epochs)


def _partial(cfg: Config) -> int:
    k = cfg.search.partial_channels or 4
    if k < 1 or cfg.model.channels % k:
        raise UserError(f"search.partial_channels={k} must divide model.channels={cfg.model.channels}")
    return k


register_strategy(Strategy("darts", "DARTS (first order): all ops of all edges, softmax-weighted "
                           "(search.macro_draw: the macro choices drawn per step by hard Gumbel)",
                           lambda cfg: DARTS(macro_draw=cfg.search.macro_draw, **_common(cfg)),
                           options=("macro_draw",) + CANDIDATE_OPTIONS, draws_path=lambda cfg: cfg.search.macro_draw))
register_strategy(Strategy("gdas", "GDAS: one op per edge per step, hard Gumbel sample, straight-through "
                           "(search.temperature: [start, end], default [10, 0.1])",
                           lambda cfg: GDAS(temperature=tuple(cfg.search.temperature or (10.0, 0.1)), **_common(cfg)),
                           options=("temperature",) + CANDIDATE_OPTIONS, multi_process=False,
                           draws_path=lambda cfg: True))
register_strategy(Strategy("pcdarts", "PC-DARTS: mixed ops on 1/K of the channels, edge normalisation "
                           "(search.partial_channels: K, default 4)",
                           lambda cfg: PCDARTS(_partial(cfg), **_common(cfg)),
                           options=("partial_channels",) + CANDIDATE_OPTIONS,
                           op_channels=lambda cfg: cfg.model.channels // _partial(cfg)))
register_strategy(Strategy("spos", "SPOS: one uniformly sampled path per step (NNI RandomOneShot), then the best of "
                           "search.candidates random architectures by their loss in the supernet "
                           "(search.candidates, default 100; search.eval_batches, default 8), optionally under a FLOPs limit "
                           "(search.max_flops), each after a short fine-tune of its path (search.finetune_steps)",
                           lambda cfg: None, options=("sandwich",) + CANDIDATE_OPTIONS, multi_process=False,
                           single_path=True))
register_strategy(Strategy("ranked", "no supernet: search.candidates random architectures (default 100) ordered by a "
                           "zero-cost proxy at initialisation (search.proxy, default synflow), the best search.train_top "
                           "(default 9) trained by successive halving over search.train_ladder epochs (default [1, 3], "
                           "search.halving_eta 3), the best by validation PSNR (nas_engine/ranked.py)",
                           lambda cfg: None, options=("candidates", "max_flops", "proxy", "train_top", "train_ladder",
                                                     "halving_eta"), multi_process=False, standalone=True))
register_strategy(Strategy("proxyless", "ProxylessNAS (NNI): one sampled path per step",
                           lambda cfg: Proxyless(**_common(cfg)), multi_process=False, draws_path=lambda cfg: True))
