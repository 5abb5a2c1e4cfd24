"""Total-variation reconstruction with BART (``bart pics -R T:7:0:0.01 -i 200``), per slice.

Debian's ``bart`` ships no Python helper, so the ``.cfl``/``.hdr`` files are read
and written here: ``.hdr`` lists the dimensions, ``.cfl`` holds complex64 values
in Fortran (column-major) order. BART's unitary centred FFT equals fastMRI's
``fft2c``, so our k-space goes in as it is ([H, W, 1, 1], single coil with
sensitivity one).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from nas_engine.errors import UserError

from .transforms import chan_to_complex

TV_LAMBDA = 0.01
TV_ITERS = 200


def write_cfl(base: Path, arr: np.ndarray) -> None:
    dims = list(arr.shape) + [1] * (16 - arr.ndim)
    Path(f"{base}.hdr").write_text("# Dimensions\n" + " ".join(map(str, dims)) + "\n")
    np.asarray(arr, dtype=np.complex64).ravel(order="F").tofile(f"{base}.cfl")


def read_cfl(base: Path) -> np.ndarray:
    lines = Path(f"{base}.hdr").read_text().splitlines()
    dims = [int(d) for d in lines[1].split()]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return np.fromfile(f"{base}.cfl", dtype=np.complex64).reshape(dims, order="F")


def bart_executable() -> str:
    exe = shutil.which("bart")
    if exe is None:
        raise UserError("TV needs BART: install the Debian package `bart` (apt-get install bart; `make setup` does it)")
    return exe


def tv_slice(kspace: np.ndarray, lam: float = TV_LAMBDA, iters: int = TV_ITERS) -> np.ndarray:
    """TV reconstruction of one measured single-coil k-space ``[H, W]`` (zeros where unsampled)."""
    exe = bart_executable()
    h, w = kspace.shape
    with tempfile.TemporaryDirectory(prefix="nasengine-bart-") as tmp:
        t = Path(tmp)
        write_cfl(t / "ksp", kspace.reshape(h, w, 1, 1))
        write_cfl(t / "sens", np.ones((h, w, 1, 1), dtype=np.complex64))
        cmd = [exe, "pics", "-S", "-R", f"T:7:0:{lam}", "-i", str(iters), str(t / "ksp"), str(t / "sens"), str(t / "out")]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"bart pics failed ({p.returncode}): {p.stderr.strip()[:300]}")
        return read_cfl(t / "out").reshape(h, w)


def tv_reconstructor(lam: float = TV_LAMBDA, iters: int = TV_ITERS):
    """A batch reconstructor (magnitude at data scale) running BART per slice."""
    bart_executable()

    def reconstruct(batch: dict) -> torch.Tensor:
        k = chan_to_complex(batch["kspace"]).numpy()
        if k.ndim != 3:
            raise UserError("TV here is single-coil (sensitivity one); for multi-coil data use --method pics")
        out = [np.abs(tv_slice(k[i], lam, iters)) for i in range(k.shape[0])]
        return torch.from_numpy(np.stack(out)).float() / batch["scale"].view(-1, 1, 1).float()

    return reconstruct
