"""Hand-designed baselines of Table I as reconstruction modules (``[B, 2, H, W] -> [B, 2, H, W]``).

They plug into the same cascade with data consistency as the searched module
(U-Net excepted: fastMRI's baseline runs once, without DC). Unlike the NAS
module they have biases: Table I's FLOPs and parameter counts only come out
with them (see ``benchmark complexity``).

* ``dccnn-N``: conv 2->32, N residual blocks (conv-ReLU-conv + skip), conv 32->2.
* ``modl-N``:  ``dccnn-N`` with one module shared by all cascades.
* ``rdn-N``:   conv 2->32, one recursive block of three dilated 3x3 convs
  (rates 1, 2, 4) applied N times with the same weights (residual), conv 32->2.
* ``unet``:    fastMRI's original (2019) U-Net: 32 channels, 4 poolings,
  instance norm, bilinear up-sampling, three 1x1 convs at the end, wrapped the
  fastMRI way (:class:`NormUNet`): the input normalised by its mean/std per
  real/imaginary channel and clamped to [-6, 6], the output un-normalised, plus
  a global residual (the U-Net predicts the correction to the zero-filled image).
  Without the wrapper its instance norms make the output independent of the
  input's scale and it scored below zero-filled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nas_engine.errors import UserError

CHANNELS = 32


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DCCNN(nn.Module):
    """DC-CNN reconstruction module: conv 2->C, ReLU, ``n`` residual blocks, conv C->2."""

    def __init__(self, n: int, c: int = CHANNELS) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(2, c, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*(ResBlock(c) for _ in range(n)))
        self.tail = nn.Conv2d(c, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.blocks(self.head(x)))


class RDN(nn.Module):
    """Recursive dilated network: one block of dilated convs (1, 2, 4) applied ``n`` times, shared weights."""

    def __init__(self, n: int, c: int = CHANNELS, rates: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.n = n
        self.head = nn.Sequential(nn.Conv2d(2, c, 3, padding=1), nn.ReLU())
        layers: list[nn.Module] = []
        for r in rates:
            layers += [nn.Conv2d(c, c, 3, padding=r, dilation=r), nn.ReLU()]
        self.block = nn.Sequential(*layers)
        self.tail = nn.Conv2d(c, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        for _ in range(self.n):
            h = h + self.block(h)
        return self.tail(h)


class ConvBlock(nn.Module):
    """fastMRI (2019) U-Net block: (conv3x3 -> InstanceNorm -> ReLU -> Dropout) x 2."""

    def __init__(self, cin: int, cout: int, drop: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.InstanceNorm2d(cout), nn.ReLU(), nn.Dropout2d(drop),
            nn.Conv2d(cout, cout, 3, padding=1), nn.InstanceNorm2d(cout), nn.ReLU(), nn.Dropout2d(drop),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class UNet(nn.Module):
    """fastMRI's original U-Net (``UnetModel``, 2019): 2 -> 2 channels; H, W divisible by 2**pools."""

    def __init__(self, chans: int = CHANNELS, pools: int = 4, drop: float = 0.0) -> None:
        super().__init__()
        self.pools = pools
        self.down = nn.ModuleList([ConvBlock(2, chans, drop)])
        ch = chans
        for _ in range(pools - 1):
            self.down.append(ConvBlock(ch, ch * 2, drop))
            ch *= 2
        self.bottom = ConvBlock(ch, ch, drop)
        self.up = nn.ModuleList()
        for _ in range(pools - 1):
            self.up.append(ConvBlock(ch * 2, ch // 2, drop))
            ch //= 2
        self.up.append(ConvBlock(ch * 2, ch, drop))
        self.final = nn.Sequential(nn.Conv2d(ch, ch // 2, 1), nn.Conv2d(ch // 2, 2, 1), nn.Conv2d(2, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = 2**self.pools
        if x.shape[-1] % k or x.shape[-2] % k:
            raise ValueError(f"U-Net input {tuple(x.shape[-2:])} must be divisible by {k}")
        stack = []
        out = x
        for layer in self.down:
            out = layer(out)
            stack.append(out)
            out = F.max_pool2d(out, 2)
        out = self.bottom(out)
        for layer in self.up:
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
            out = layer(torch.cat([out, stack.pop()], dim=1))
        return self.final(out)


class NormUNet(nn.Module):
    """fastMRI-style normalisation around :class:`UNet` (as ``fastmri.models.NormUnet`` and the
    U-Net data transform): per sample and real/imaginary channel, ``(x - mean) / std`` clamped
    to [-6, 6] in, ``y * std`` out (the scale undone), added to the input: a global residual keeps the zero-filled image as the
    starting point. No convolution is added, so Table I's FLOPs/params are unchanged."""

    CLAMP = 6.0

    def __init__(self, unet: nn.Module | None = None, residual: bool = True) -> None:
        super().__init__()
        self.unet = unet if unet is not None else UNet()
        # False: a refinement term for E2E-VarNet's k-space cascade, y * std with the U-Net's last 1x1 conv
        # zero-initialised, so an untrained VarNet returns A^H y (fastMRI's NormUnet adds the mean back and
        # starts from a random refinement: 3 tiny epochs left it 5 dB below zero-filled here)
        self.residual = residual
        if not residual:
            last = self.unet.final[-1] if isinstance(self.unet, UNet) else None
            if last is not None:
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(-2, -1), keepdim=True)
        std = x.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
        y = self.unet(((x - mean) / std).clamp(-self.CLAMP, self.CLAMP))
        return x + y * std if self.residual else y * std


@dataclass(frozen=True)
class Baseline:
    """How to build a baseline: module factory, whether cascades share it, whether it uses DC."""

    name: str  # display name (Table I)
    make: Callable[[], nn.Module]
    share: bool = False
    cascade: bool = True  # False: a single module, no data consistency (U-Net)
    kspace: bool = False  # True: E2E-VarNet's k-space cascade (multi-coil only)


VARNET_CHANS, VARNET_POOLS = 8, 2  # a small E2E-VarNet: fastMRI's has 12 cascades of a chans-18, 4-pool U-Net

def parse_baseline(method: str) -> Baseline:
    """``dccnn-3``, ``modl-11``, ``rdn-8``, ``unet`` -> :class:`Baseline`."""
    m = re.fullmatch(r"(dccnn|modl|rdn)-(\d+)", method)
    if m:
        kind, n = m.group(1), int(m.group(2))
        if n < 1:
            raise UserError(f"{method}: the block count must be >= 1")
        if kind == "rdn":
            return Baseline(f"RDN-{n}", lambda: RDN(n))
        return Baseline(f"{'DCCNN' if kind == 'dccnn' else 'MoDL'}-{n}", lambda: DCCNN(n), share=kind == "modl")
    if method == "unet":
        return Baseline("U-Net", NormUNet, cascade=False)
    m = re.fullmatch(r"varnet-(\d+)", method)
    if m and int(m.group(1)) >= 1:
        return Baseline(f"VarNet-{m.group(1)}", lambda: NormUNet(UNet(VARNET_CHANS, VARNET_POOLS), residual=False),
                        kspace=True)
    raise UserError(
        f"unknown method {method!r}; baselines: zero-filled, tv, pics, unet, dccnn-N, modl-N, rdn-N, "
        "varnet-N (multi-coil) (e.g. dccnn-3)"
    )
