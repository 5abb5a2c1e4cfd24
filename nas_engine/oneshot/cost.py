"""Cost-aware search: the expected cost of the mixed cell added to the architecture loss.

``search.cost: flops | latency`` and ``search.cost_weight: w``. Each candidate op has a cost (its
ptflops FLOPs, or its CPU latency, at the width the ops run with, on a 64x64 input; the zero op
costs nothing). An edge's expected cost is its op softmax times those costs; the penalty is
``w`` times the sum over the cell's edges, divided by the cost of the dearest possible cell, so it
lies in [0, w] whatever the space (the L1 loss of the demo is about 0.1-0.3). As ``w`` grows the
alphas move toward cheap ops (``skip_connect``, the zero op) and the derived cell gets cheaper:
the lever for "as good as the best hand-made net at a fraction of its FLOPs".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import UserError

COSTS = ("none", "flops", "latency")


def op_costs(ops, channels: int, kind: str, size: int = 64) -> dict[str, float]:
    from search_spaces import get_op

    from ..complexity import count, latency

    out = {}
    for name in ops:
        op = get_op(name)(channels).eval()
        if kind == "flops":
            out[name] = float(count(op, (channels, size, size))[0])
        else:
            x = torch.randn(1, channels, size, size)
            with torch.no_grad():
                out[name] = latency(lambda: op(x), repeats=5)
    return out


class CostPenalty:
    """``penalty()``: ``weight`` x expected cost of the cell / cost of the dearest cell (a tensor with
    gradients to the alphas)."""

    def __init__(self, supernet: torch.nn.Module, costs: dict[str, float], weight: float) -> None:
        from .labels import cell_alphas

        names, self.alphas = cell_alphas(supernet)  # shared labels: once each
        if not self.alphas:
            raise UserError("search.cost needs a strategy with per-edge architecture weights "
                            "(darts, gdas or pcdarts)")
        self.vector = torch.tensor([costs[n] for n in names] + [0.0])  # the last entry: NNI's zero op
        self.norm = len(self.alphas) * max(max(costs.values()), 1e-12)
        self.weight = weight

    def expected(self) -> torch.Tensor:
        """Expected cost of the cell as a fraction of the dearest cell's, in [0, 1]."""
        total = sum(F.softmax(a, -1) @ self.vector.to(a.device) for a in self.alphas.values())
        return total / self.norm

    def __call__(self) -> torch.Tensor:
        return self.weight * self.expected()


def make_penalty(supernet, space, op_channels: int, cfg) -> CostPenalty | None:
    s = cfg.search
    if s.cost not in COSTS:
        raise UserError(f"search.cost must be one of {', '.join(COSTS)}, got {s.cost!r}")
    if s.cost == "none":
        if s.cost_weight:
            raise UserError(f"search.cost_weight={s.cost_weight} needs search.cost=flops or latency")
        return None
    if not s.cost_weight > 0:
        raise UserError(f"search.cost={s.cost} needs search.cost_weight > 0, got {s.cost_weight}")
    return CostPenalty(supernet, op_costs(space.searchable_ops, op_channels, s.cost), s.cost_weight)
