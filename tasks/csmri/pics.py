"""Parallel-imaging compressed sensing with BART: ESPIRiT sensitivities from the auto-calibration
lines (``bart ecalib``), then ``bart pics`` with an l1-wavelet prior, per slice.

ESPIRiT is BART's here because BART is already the TV baseline's dependency (Debian's ``bart``), so a
multi-coil user needs nothing new; ``ecalib -m 1`` keeps one set of maps, and ``-r`` is the
calibration size, the fully sampled centre of the measured k-space. The kernel is BART's 6x6, narrowed to
the calibration width less 3 (at least 3) when fewer lines are sampled (small images): on the embedded
48x48 data a 4x4 kernel on 5 lines gave maps with holes in the object and PICS at -6 to 7 dB, a 3x3
kernel 22-25 dB; on 8 lines 5x5 gave 27.5 dB, 6x6 22.9. A slice with fewer than 4 fully sampled centre
lines cannot be calibrated: one clear error, naming ``--center-fractions``. ``-W`` (soft weighting of
the singular vectors) keeps the maps usable where the object fills the field of view: on the full-head
validation slices of the 48x48 4-coil data, PICS went from 12.9 to 18.3 dB with it (zero-filled ~18),
on the test slices from 25.5 to 25.2; on the 96x96 8-coil data val 20.8 -> 21.3, test 24.3 -> 23.9
(4 + 4 slices each, λ 0.01). Small images with few calibration lines remain PICS's weak case.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from nas_engine.errors import UserError

from .coils import acs_lines
from .transforms import chan_to_complex
from .tv import bart_executable, read_cfl, write_cfl

PICS_LAMBDA = 0.01
PICS_ITERS = 50
KERNEL = 6  # ESPIRiT's calibration kernel (BART's default), shrunk to the calibration lines down to MIN_ACS
MIN_ACS = 4


def _bart(exe: str, *args: str) -> None:
    p = subprocess.run([exe, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"bart {args[0]} failed ({p.returncode}): {p.stderr.strip()[:300]}")


def _write_kspace(t: Path, kspace: np.ndarray) -> None:
    """Coil k-space ``[C, H, W]`` as BART's ``t/ksp`` ``[H, W, 1, C]``."""
    c, h, w = kspace.shape
    write_cfl(t / "ksp", np.moveaxis(kspace, 0, -1).reshape(h, w, 1, c))


def _ecalib(exe: str, t: Path, mask: np.ndarray) -> None:
    """ESPIRiT maps of ``t/ksp`` (column mask ``mask`` [W]) into ``t/sens``."""
    n = acs_lines(mask)
    if n < MIN_ACS:
        raise UserError(f"ESPIRiT needs at least {MIN_ACS} fully sampled centre lines, this mask has {n}; "
                        "raise --center-fractions (or give sensitivities another way)")
    k = min(KERNEL, max(3, n - 3))  # measured on the embedded data: wider kernels give maps with holes
    _bart(exe, "ecalib", "-m", "1", "-W", "-k", f"{k}:{k}:1", str(t / "ksp"), str(t / "sens"))


def espirit_maps(kspace: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ESPIRiT sensitivities ``[C, H, W]`` of measured coil k-space ``[C, H, W]`` with column mask ``[W]``."""
    exe = bart_executable()
    c, h, w = kspace.shape
    with tempfile.TemporaryDirectory(prefix="nasengine-bart-") as tmp:
        t = Path(tmp)
        _write_kspace(t, kspace)
        _ecalib(exe, t, mask)
        return np.moveaxis(read_cfl(t / "sens").reshape(h, w, c), -1, 0)


def pics_slice(kspace: np.ndarray, mask: np.ndarray, lam: float = PICS_LAMBDA, iters: int = PICS_ITERS) -> np.ndarray:
    """The l1-wavelet PICS image ``[H, W]`` of measured coil k-space ``[C, H, W]`` (zeros where unsampled):
    ESPIRiT and PICS on the same k-space file, the maps passed on as BART wrote them."""
    exe = bart_executable()
    c, h, w = kspace.shape
    with tempfile.TemporaryDirectory(prefix="nasengine-bart-") as tmp:
        t = Path(tmp)
        _write_kspace(t, kspace)
        _ecalib(exe, t, mask)
        _bart(exe, "pics", "-S", "-R", f"W:7:0:{lam}", "-i", str(iters), str(t / "ksp"), str(t / "sens"), str(t / "out"))
        return read_cfl(t / "out").reshape(h, w)


def pics_reconstructor(lam: float = PICS_LAMBDA, iters: int = PICS_ITERS):
    """A batch reconstructor (magnitude at data scale): ESPIRiT + l1-wavelet PICS per slice. Single-coil
    batches are one coil."""
    bart_executable()

    def reconstruct(batch: dict) -> torch.Tensor:
        k = chan_to_complex(batch["kspace"]).numpy()
        if k.ndim == 3:  # single-coil [B, H, W]
            k = k[:, None]
        mask = batch["mask"].reshape(k.shape[0], -1).numpy() > 0
        out = [np.abs(pics_slice(k[i], mask[i], lam, iters)) for i in range(k.shape[0])]
        return torch.from_numpy(np.stack(out)).float() / batch["scale"].view(-1, 1, 1).float()

    return reconstruct
