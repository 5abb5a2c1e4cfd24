"""Multi-coil MRI physics as pure functions: coil sensitivities, the SENSE operator, root-sum-of-squares
and conjugate gradient on the normal equations.

Conventions as in :mod:`.transforms` (centred orthonormal FFTs over the last two axes; columns are
phase encoding), with the coil axis just before the image axes: k-space and coil images are complex
``[..., C, H, W]``, sensitivity maps ``[..., C, H, W]``, a coil-combined image ``[..., H, W]``, a mask
real and broadcastable to k-space (``[..., 1, 1, W]`` or ``[..., 1, W]``).

The SENSE model of a measurement: ``y = M F S x`` (sensitivities ``S``, FFT ``F``, mask ``M``); its
adjoint ``A^H y = sum_c conj(S_c) F^-1 (M y_c)``. With sensitivities normalised to
``sum_c |S_c|^2 = 1`` (ESPIRiT's and the birdcage model's), ``A^H A = I`` when nothing is masked.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .transforms import fft2c, ifft2c


def rss(coil_images: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Root-sum-of-squares over the coil axis (fastMRI's ``rss``): ``sqrt(sum_c |x_c|^2)``."""
    return torch.sqrt((coil_images.abs() ** 2).sum(dim))


def rss_target(kspace: torch.Tensor, crop: tuple[int, int]) -> torch.Tensor:
    """fastMRI's ``reconstruction_rss`` of fully sampled coil k-space ``[..., C, H, W]``: the
    root-sum-of-squares of the centre-cropped coil images."""
    from .transforms import center_crop

    return rss(center_crop(ifft2c(kspace), crop))


def acs_lines(mask: np.ndarray) -> int:
    """The width of the fully sampled calibration region of a column mask ``[W]`` as BART finds it: the
    largest ``n`` with every column of ``[W//2 - n//2, W//2 - n//2 + n)`` sampled."""
    w = mask.shape[-1]
    n = 0
    while n < w and all(mask[w // 2 - (n + 1) // 2: w // 2 - (n + 1) // 2 + n + 1]):
        n += 1
    return n


def birdcage_maps(coils: int, height: int, width: int, r: float = 1.5) -> np.ndarray:
    """Sensitivities ``[coils, height, width]`` complex64 of ``coils`` loops evenly placed on a circle of
    radius ``r`` (in units of the half field of view) around the object: magnitude falling as 1/distance,
    phase turning with the angle around each coil -- the birdcage model of ``sigpy.mri.birdcage_maps``
    (2-D case), normalised so that ``sum_c |S_c|^2 = 1`` everywhere."""
    if coils < 1:
        raise ValueError(f"coils must be >= 1, got {coils}")
    c, y, x = np.mgrid[:coils, :height, :width].astype(np.float64)
    coil_x = r * np.cos(c * (2 * np.pi / coils))
    coil_y = r * np.sin(c * (2 * np.pi / coils))
    x_co = (x - width / 2.0) / (width / 2.0) - coil_x
    y_co = (y - height / 2.0) / (height / 2.0) - coil_y
    dist = np.sqrt(x_co**2 + y_co**2)
    phi = np.arctan2(x_co, -y_co) - c * (2 * np.pi / coils)
    maps = np.exp(1j * phi) / dist
    maps /= np.sqrt((np.abs(maps) ** 2).sum(0, keepdims=True))
    return maps.astype(np.complex64)


def noise_covariance(coils: int, rng: np.random.RandomState, coupling: float = 0.3) -> np.ndarray:
    """A random receiver noise covariance ``[coils, coils]`` (Hermitian, positive definite): unit-mean
    variances that differ by coil, and correlations between coils of up to about ``coupling``."""
    g = (rng.standard_normal((coils, coils)) + 1j * rng.standard_normal((coils, coils))) / np.sqrt(2 * coils)
    mix = np.eye(coils) + coupling * g
    gains = rng.uniform(0.7, 1.3, size=coils)
    cov = (gains[:, None] * mix) @ (gains[:, None] * mix).conj().T
    return cov / np.real(np.trace(cov)) * coils


def correlated_noise(shape: tuple[int, ...], cov: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Complex Gaussian noise ``[..., C, H, W]`` whose coil axis has covariance ``cov``."""
    chol = np.linalg.cholesky(cov)
    white = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
    return np.einsum("ij,...jhw->...ihw", chol, white)


def sense_forward(image: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``A x = M F S x``: image ``[..., H, W]`` -> measured coil k-space ``[..., C, H, W]``."""
    k = fft2c(sens * image.unsqueeze(-3))
    return k if mask is None else k * mask.to(k.real.dtype)


def sense_adjoint(kspace: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``A^H y = sum_c conj(S_c) F^-1 M y_c``: coil k-space ``[..., C, H, W]`` -> image ``[..., H, W]``."""
    if mask is not None:
        kspace = kspace * mask.to(kspace.real.dtype)
    return (sens.conj() * ifft2c(kspace)).sum(-3)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``<a, b> = sum conj(a) b`` over the image axes, one per batch element ``[...]``."""
    return (a.conj() * b).sum((-2, -1))


def conjugate_gradient(normal: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor, x0: torch.Tensor,
                       iters: int = 10, tol: float = 1e-6) -> torch.Tensor:
    """Solve ``normal(x) = rhs`` for a Hermitian positive definite ``normal``, batched over the leading
    axes of ``[..., H, W]`` (each element stops improving once its residual falls below ``tol`` relative
    to ``rhs``). Differentiable: the iterations are plain tensor algebra (MoDL's data consistency)."""
    x = x0
    r = rhs - normal(x)
    p = r
    rr = _dot(r, r).real
    stop = (tol**2) * _dot(rhs, rhs).real
    for _ in range(iters):
        active = rr > stop
        if not bool(active.any()):
            break
        ap = normal(p)
        pap = _dot(p, ap).real
        alpha = torch.where(active, rr / torch.where(pap > 0, pap, torch.ones_like(pap)), torch.zeros_like(rr))
        x = x + alpha[..., None, None] * p
        r = r - alpha[..., None, None] * ap
        rr_new = _dot(r, r).real
        beta = torch.where(active, rr_new / torch.where(rr > 0, rr, torch.ones_like(rr)), torch.zeros_like(rr))
        p = r + beta[..., None, None] * p
        rr = rr_new
    return x


def sense_cg_dc(x_net: torch.Tensor, kspace: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor,
                lam: float | torch.Tensor, iters: int = 10, tol: float = 1e-6) -> torch.Tensor:
    """MoDL's data consistency with coil sensitivities: ``argmin_x ||A x - y||^2 + lam ||x - x_net||^2``,
    i.e. ``(A^H A + lam I) x = A^H y + lam x_net``, by conjugate gradient from ``x_net``."""

    def normal(x: torch.Tensor) -> torch.Tensor:
        return sense_adjoint(sense_forward(x, sens, mask), sens) + lam * x

    return conjugate_gradient(normal, sense_adjoint(kspace, sens, mask) + lam * x_net, x_net, iters, tol)
