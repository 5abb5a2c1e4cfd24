"""Reconstructing new scans (``nasengine reconstruct``): every volume of a file or folder, written
in fastMRI's submission layout (``reconstruction`` [slices, h, w] float32, one ``.h5`` per input,
same name).

Two input layouts:

- **fastMRI test/challenge files** carry a ``mask`` dataset ``[W]``: their ``kspace`` is already
  under-sampled (zeros off the mask). They are reconstructed with that mask and no further
  sampling, at the k-space's full size, so that data consistency uses the measured lines
  exactly; the result is then centre-cropped (fastMRI: the reconstruction size, 320 x 320 for
  knee and brain, or ``--crop``). The zero-filled output is therefore ``|crop(IFFT(kspace))|``.
- **fully sampled files** (no ``mask``) are cropped and under-sampled exactly as ``evaluate``
  does (fixed per-slice masks from the task's mask options and seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np
import torch

from nas_engine.errors import UserError
from nas_engine.files import atomic_write

from .data import SliceDataset, input_scale, inspect_volume
from .transforms import center_crop, complex_to_chan, ifft2c, magnitude

FASTMRI_CROP = (320, 320)  # fastMRI's reconstruction size for knee and brain

# batch -> magnitude images [B, H, W] at the data's own scale (the batch's layout, uncropped)
Reconstructor = Callable[[dict], torch.Tensor]


def file_mask(path: Path, width: int) -> np.ndarray | None:
    """The ``mask`` of a fastMRI test/challenge file as a 0/1 float vector of length ``width``
    (None when the file has none); a clear error when it cannot be a mask for this k-space."""
    with h5py.File(path, "r") as f:
        if "mask" not in f:
            return None
        m = np.asarray(f["mask"])
    if m.ndim != 1 or m.shape[0] != width:
        raise UserError(f"{path}: 'mask' has shape {m.shape}, expected [{width}] (one entry per k-space column)")
    if not np.all(np.isin(m, (0, 1))):
        raise UserError(f"{path}: 'mask' must hold only 0 and 1 (or False/True), got other values")
    if not m.any():
        raise UserError(f"{path}: 'mask' samples no k-space line; nothing to reconstruct from")
    return m.astype(np.float32)


def output_crop(info, given: int | None) -> tuple[int, int]:
    """``--crop`` if given; else the file's reconstruction size; else fastMRI's 320 x 320 (or the
    image itself where it is smaller)."""
    h, w = info.kspace_shape
    if given is not None:
        crop = (int(given), int(given))
    elif info.recon_shape is not None:
        crop = tuple(info.recon_shape)
    else:
        crop = (min(FASTMRI_CROP[0], h), min(FASTMRI_CROP[1], w))
    if crop[0] > h or crop[1] > w:
        raise UserError(f"{info.path}: crop {crop[0]}x{crop[1]} is larger than the image {h}x{w}; use a smaller --crop")
    return crop


def measured_batches(path: Path, mask: np.ndarray, batch_size: int, espirit: bool = False) -> Iterator[dict]:
    """Batches of a test-layout file: its own k-space and mask, scaled as in training (zero-filled
    image in [-6, 6], one scale over all coils of a multi-coil slice); ``espirit``: with ESPIRiT
    sensitivities (``sens``) of each multi-coil slice."""
    m = torch.from_numpy(mask).view(1, 1, -1)
    with h5py.File(path, "r") as f:
        ks = f["kspace"]
        for start in range(0, ks.shape[0], batch_size):
            k = torch.from_numpy(np.asarray(ks[start:start + batch_size]).astype(np.complex64))
            if not torch.isfinite(torch.view_as_real(k)).all():
                raise UserError(f"{path}: slices {start}-{start + len(k) - 1} of 'kspace' contain NaN or Inf values")
            k = k * m[0]
            zf = ifft2c(k)
            multi = k.ndim == 4  # [slices, coils, H, W]
            scale = input_scale(zf.flatten(-3, -2) if multi else zf)  # as SliceDataset scales a training slice
            s = scale.float().view(-1, *(1,) * (k.ndim - 1))
            batch = {"input": complex_to_chan(zf * s).float(), "kspace": complex_to_chan(k * s).float(),
                     "mask": m.expand(len(k), 1, 1, -1).float().clone(), "scale": scale}
            if multi and espirit:
                from .pics import espirit_maps

                batch["sens"] = torch.stack([complex_to_chan(torch.from_numpy(espirit_maps(x.numpy(), mask > 0)))
                                             for x in k]).float()
            yield batch


def reconstruct_files(files: list[Path], out: Path, reconstruct: Reconstructor, make_dataset, crop: int | None,
                      batch_size: int = 8, progress: bool = True, espirit: bool = False) -> list[tuple[Path, str]]:
    """Reconstruct every volume of ``files`` into ``out``; returns ``(written file, how)`` pairs.
    ``make_dataset(files, crop)`` builds the under-sampling dataset of fully sampled files."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    infos = [inspect_volume(p) for p in files]  # every file checked before the first is written
    masks = [file_mask(i.path, i.kspace_shape[1]) for i in infos]
    written = []
    bar = tqdm(total=sum(i.num_slices for i in infos), desc="reconstruct", unit="slice", disable=not progress)
    for info, mask in zip(infos, masks):
        size = output_crop(info, crop)
        slices = []
        with torch.no_grad():
            if mask is not None:
                for batch in measured_batches(info.path, mask, batch_size, espirit):
                    slices.append(center_crop(reconstruct(batch), size))
                    bar.update(len(batch["scale"]))
                how = f"its own mask ({int(mask.sum())} of {mask.size} lines)"
            else:
                ds: SliceDataset = make_dataset([info.path], size)
                for batch in DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0):
                    slices.append(reconstruct(batch))
                    bar.update(len(batch["scale"]))
                how = "fully sampled, under-sampled as in evaluate"
        rec = torch.cat(slices).cpu().numpy().astype(np.float32)

        def write(tmp: str, rec: np.ndarray = rec) -> None:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("reconstruction", data=rec)

        written.append((atomic_write(out / info.path.name, write), how))
    bar.close()
    return written


def model_reconstructor(forward: Callable[[dict], torch.Tensor], device: str = "cpu") -> Reconstructor:
    """Magnitude of a network's output at the data's scale; the batch moves to ``device``."""

    def reconstruct(batch: dict) -> torch.Tensor:
        moved = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        return (magnitude(forward(moved)) / moved["scale"].view(-1, 1, 1).float()).cpu()

    return reconstruct
