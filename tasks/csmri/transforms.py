"""CS-MRI physics as pure functions.

Complex convention (stated once for the whole adapter): a complex image or
k-space is either a complex torch tensor ``[..., H, W]`` or, inside networks, a
real tensor with two channels ``[B, 2, H, W]`` (real, imaginary). FFTs are
centred and orthonormal, as in fastMRI's ``fft2c``/``ifft2c``; columns (the last
axis, W) are the phase-encoding direction that masks subsample.
"""

from __future__ import annotations

from typing import Callable

import torch


def _check_complex(x: torch.Tensor, name: str) -> None:
    if not torch.is_complex(x):
        raise ValueError(f"{name} must be a complex tensor, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dims [..., H, W], got shape {tuple(x.shape)}")


def _roll(x: torch.Tensor, shift_of: Callable[[int], int]) -> torch.Tensor:
    """``torch.roll`` of the last two axes by ``shift_of(size)``, as two slices and a concatenation:
    the same values, and an ONNX export keeps the image size dynamic (the exporter cannot take a
    roll whose shift depends on the input's size)."""
    for dim in (-2, -1):
        n = x.shape[dim]
        s = shift_of(n) % n if n else 0
        x = torch.cat((x.narrow(dim, n - s, s), x.narrow(dim, 0, n - s)), dim)
    return x


def fftshift2(x: torch.Tensor) -> torch.Tensor:
    return _roll(x, lambda n: n // 2)


def ifftshift2(x: torch.Tensor) -> torch.Tensor:
    return _roll(x, lambda n: -(n // 2))


def fft2c(image: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D FFT over the last two axes. ``[..., H, W]`` complex."""
    _check_complex(image, "image")
    return fftshift2(torch.fft.fft2(ifftshift2(image), dim=(-2, -1), norm="ortho"))


def ifft2c(kspace: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D inverse FFT over the last two axes. ``[..., H, W]`` complex."""
    _check_complex(kspace, "kspace")
    return fftshift2(torch.fft.ifft2(ifftshift2(kspace), dim=(-2, -1), norm="ortho"))


def center_crop(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Crop the last two axes of ``x`` to ``shape`` around the centre (fastMRI's rule)."""
    h, w = int(shape[0]), int(shape[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"crop size must be positive, got {shape}")
    if h > x.shape[-2] or w > x.shape[-1]:
        raise ValueError(
            f"crop size {h}x{w} is larger than the image {x.shape[-2]}x{x.shape[-1]}; "
            "use a smaller --crop / crop_size"
        )
    top = (x.shape[-2] - h) // 2
    left = (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]


def complex_to_chan(x: torch.Tensor) -> torch.Tensor:
    """Complex ``[B, H, W]`` (or ``[H, W]``) -> real ``[B, 2, H, W]`` (or ``[2, H, W]``)."""
    _check_complex(x, "x")
    return torch.stack((x.real, x.imag), dim=-3)


def chan_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``[..., 2, H, W]`` -> complex ``[..., H, W]``."""
    if x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(f"expected a [..., 2, H, W] tensor, got shape {tuple(x.shape)}")
    return torch.complex(x[..., 0, :, :].contiguous(), x[..., 1, :, :].contiguous())


def magnitude(x: torch.Tensor) -> torch.Tensor:
    """Magnitude of a 2-channel ``[..., 2, H, W]`` image -> ``[..., H, W]``."""
    if x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(f"expected a [..., 2, H, W] tensor, got shape {tuple(x.shape)}")
    return torch.sqrt(x[..., 0, :, :] ** 2 + x[..., 1, :, :] ** 2)


def data_consistency(
    k_net: torch.Tensor, k_measured: torch.Tensor, mask: torch.Tensor, lam: float | torch.Tensor | None = None
) -> torch.Tensor:
    """Closed-form k-space data consistency ``k = (k_net + lam*m*s) / (1 + lam*m)``.

    ``k_net``, ``k_measured`` complex ``[..., H, W]``; ``mask`` real, broadcastable
    (e.g. ``[..., 1, W]``), 1 on sampled lines. ``lam=None`` is the noiseless limit
    ``lam -> inf``: sampled lines are replaced by the measurement exactly.
    """
    m = mask.to(k_net.real.dtype)
    if lam is None:
        # (1 - m) k_net + m k_measured with m in {0, 1}: the measurement exactly on sampled lines. Written
        # as arithmetic rather than torch.where, which the ONNX exporter cannot take on complex tensors.
        m = (m > 0).to(m.dtype)
        return k_net * (1 - m) + k_measured * m
    return (k_net + lam * m * k_measured) / (1 + lam * m)


class DataConsistency(torch.nn.Module):
    """DC layer on 2-channel images ``[B, 2, H, W]``.

    ``lam=None`` replaces sampled lines (noiseless). A finite ``lam`` weights the
    measurement; with ``learn_lam=True`` it becomes a trainable parameter.
    """

    def __init__(self, lam: float | None = None, learn_lam: bool = False) -> None:
        super().__init__()
        if lam is not None and lam < 0:
            raise ValueError(f"lam must be >= 0 or None (infinity), got {lam}")
        if learn_lam and lam is None:
            raise ValueError("learn_lam needs a finite initial lam")
        if learn_lam:
            self.lam = torch.nn.Parameter(torch.tensor(float(lam)))
        else:
            self.lam = lam

    def forward(self, image: torch.Tensor, k_measured: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``image`` ``[B, 2, H, W]``, ``k_measured`` ``[B, 2, H, W]``, ``mask`` ``[B, 1, 1, W]``."""
        k = fft2c(chan_to_complex(image))
        k0 = chan_to_complex(k_measured)
        k = data_consistency(k, k0, mask[:, 0] if mask.ndim == 4 else mask, self.lam)
        return complex_to_chan(ifft2c(k))
