"""Multi-coil reconstruction networks: any image module (a searched cell, a hand-made CNN) unrolled
with SENSE data consistency, and coil sensitivities learned from the auto-calibration lines.

The image modules see one coil-combined complex image ``[B, 2, H, W]``, as in the single-coil
cascade, so a cell searched on single-coil data plugs in unchanged (and a search on multi-coil data
uses the same supernet). Per cascade ``x <- DC(x + module(x))``, starting from ``x = A^H y``, with
``A = M F S`` (:mod:`.coils`) and DC either

- ``grad``: one gradient step on ``||A x - y||^2`` with a learned step size ``eta`` (initialised at 1:
  with normalised sensitivities and one coil this is exactly the single-coil "replace the sampled
  lines" DC), ``x <- x - eta A^H (A x - y)``, as E2E-VarNet's DC term (there in k-space per coil); or
- ``cg``: MoDL's ``argmin ||A x - y||^2 + lam ||x - z||^2`` by conjugate gradient (``cg_iters``
  iterations, ``lam`` learned).

Sensitivities: E2E-VarNet's recipe in small -- the coil images of the fully sampled centre lines
(the ACS), refined by a small CNN shared across coils (zero-initialised residual, so it starts as the
classical low-resolution estimate) and normalised to a unit root-sum-of-squares.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .coils import acs_lines, rss, sense_adjoint, sense_cg_dc, sense_forward
from .transforms import chan_to_complex, complex_to_chan, ifft2c

DC_KINDS = ("grad", "cg")


def acs_mask(mask: torch.Tensor) -> torch.Tensor:
    """The fully sampled centre of column masks ``[B, ..., W]`` (BART's rule: the widest run of sampled
    columns ``[W//2 - n//2, W//2 - n//2 + n)``), as 0/1 masks of the same shape."""
    m = mask.reshape(mask.shape[0], -1, mask.shape[-1])[:, 0] > 0  # [B, W]
    w = m.shape[-1]
    out = torch.zeros_like(m)
    for b in range(m.shape[0]):
        n = acs_lines(m[b].cpu().numpy())
        out[b, w // 2 - n // 2: w // 2 - n // 2 + n] = True
    return out.to(mask.dtype).reshape(mask.shape)


class SensitivityModel(nn.Module):
    """Coil sensitivities ``[B, C, H, W]`` (complex, unit RSS) from measured coil k-space."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.refine = nn.Sequential(nn.Conv2d(2, width, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(width, 2, 3, padding=1))
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``kspace`` complex ``[B, C, H, W]``, ``mask`` ``[B, 1, 1, W]``."""
        b, c, h, w = kspace.shape
        low = ifft2c(kspace * acs_mask(mask).to(kspace.real.dtype))  # [B, C, H, W]
        x = complex_to_chan(low.reshape(b * c, h, w))
        scale = x.abs().amax((-3, -2, -1), keepdim=True).clamp_min(1e-12)  # the CNN sees unit-peak inputs
        x = x + self.refine(x / scale) * scale
        maps = chan_to_complex(x).reshape(b, c, h, w)
        return maps / rss(maps, 1).unsqueeze(1).clamp_min(1e-12)


class SenseDC(nn.Module):
    """SENSE data consistency on ``[B, 2, H, W]`` images: ``grad`` (learned step) or ``cg`` (MoDL)."""

    def __init__(self, kind: str = "grad", lam: float = 0.05, cg_iters: int = 10) -> None:
        super().__init__()
        if kind not in DC_KINDS:
            raise ValueError(f"data.dc must be one of {', '.join(DC_KINDS)}, got {kind!r}")
        self.kind, self.cg_iters = kind, cg_iters
        self.weight = nn.Parameter(torch.tensor(1.0 if kind == "grad" else float(lam)))

    def forward(self, x: torch.Tensor, kspace: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = chan_to_complex(x)
        if self.kind == "grad":
            z = z - self.weight * sense_adjoint(sense_forward(z, sens, mask) - kspace, sens, mask)
        else:
            z = sense_cg_dc(z, kspace, sens, mask, self.weight.abs(), self.cg_iters)
        return complex_to_chan(z)


class MultiCoilCascade(nn.Module):
    """``cascades`` x (image module with global residual -> SENSE DC) on the coil-combined image; or,
    ``plain``, one module on ``A^H y`` with no DC (the U-Net baseline); or, ``kspace``, E2E-VarNet's
    cascades on the coil k-space (soft DC with a learned weight minus the module's refinement, expanded
    to the coils), whose output is the coil-combined image ``S^H F^-1 k`` (fastMRI's VarNet outputs the
    RSS, the same magnitude where the sensitivities are exact). Inputs: measured coil k-space
    ``[B, C, 2, H, W]`` and the mask ``[B, 1, 1, W]``; output ``[B, 2, H, W]``."""

    multicoil = True

    def __init__(self, make_module: Callable[[], nn.Module], cascades: int, share_weights: bool = False,
                 dc: str = "grad", lam: float = 0.05, cg_iters: int = 10, plain: bool = False,
                 kspace: bool = False, learn_sens: bool = True) -> None:
        super().__init__()
        self.plain, self.kspace = plain, kspace
        n = 1 if plain else cascades
        if share_weights and not plain:
            shared = make_module()
            self.blocks = nn.ModuleList([shared] * n)
        else:
            self.blocks = nn.ModuleList(make_module() for _ in range(n))
        self.dc = nn.ModuleList([] if plain else [SenseDC(dc, lam, cg_iters) for _ in range(n)])
        self.sens = SensitivityModel() if learn_sens else None  # None: given (ESPIRiT, data.sens=espirit)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None) -> torch.Tensor:
        """``sens``: given sensitivities ``[B, C, 2, H, W]`` (networks built with ``learn_sens=False``)."""
        k = chan_to_complex(kspace)  # [B, C, H, W]
        if (sens is None) == (self.sens is None):
            raise ValueError("give sensitivities exactly when the network does not learn them")
        sens = self.sens(k, mask) if sens is None else chan_to_complex(sens)
        x = complex_to_chan(sense_adjoint(k, sens, mask))
        if self.plain:
            return self.blocks[0](x)
        if self.kspace:  # E2E-VarNet: k <- k - eta M (k - y) - F S module(S^H F^-1 k), per cascade
            kk = k
            for block, dc in zip(self.blocks, self.dc):
                refined = sense_forward(chan_to_complex(block(complex_to_chan(sense_adjoint(kk, sens)))), sens)
                kk = kk - dc.weight * (kk - k) * mask.to(kk.real.dtype) - refined
            return complex_to_chan(sense_adjoint(kk, sens))
        for block, dc in zip(self.blocks, self.dc):
            x = dc(x + block(x), k, sens, mask)
        return x


def fft_macs(pixels: int) -> int:
    """Multiply-accumulates of one complex 2-D FFT of ``pixels`` points: the Cooley-Tukey count of
    5 N log2 N real operations, halved to ptflops' MAC units."""
    import math

    return int(2.5 * pixels * math.log2(max(pixels, 2)))


def sense_macs(net: MultiCoilCascade, coils: int, size: int) -> int:
    """The FFT and complex-arithmetic cost ptflops cannot see, in MACs, for one ``size x size`` slice
    with ``coils`` coils: the sensitivity estimate (one IFFT per coil, the normalisation), ``A^H y``,
    and per cascade its data consistency -- ``grad``: A and A^H (2 FFTs per coil); ``cg``: A^H y plus
    ``cg_iters`` applications of the normal operator (2 FFTs per coil each); E2E-VarNet's cascade:
    expand and reduce (2 FFTs per coil). A complex multiply counts 4 MACs, a complex add 1."""
    n = size * size
    fft = fft_macs(n)
    per_coil_op = fft + 4 * n  # an FFT and a complex multiply by the sensitivities, per coil
    total = coils * (fft + 3 * n)  # sensitivities: IFFT of the ACS, |s|^2 and the normalisation
    total += coils * per_coil_op  # A^H y
    if net.plain:
        return total
    for dc in net.dc:
        if net.kspace or dc.kind == "grad":
            total += 2 * coils * per_coil_op + 3 * coils * n  # A, A^H, the residual / soft-DC arithmetic
        else:
            total += coils * per_coil_op + dc.cg_iters * (2 * coils * per_coil_op + 12 * n)
    return total
