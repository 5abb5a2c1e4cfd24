"""fastMRI ``.h5`` reading (single- and multi-coil) and the slice dataset.

A single-coil file holds ``kspace`` ``[slices, H, W]`` complex64, optionally
``reconstruction_esc`` ``[slices, h, w]`` float32, and attrs ``max``, ``norm``,
``acquisition``, ``patient_id``; a multi-coil file ``kspace`` ``[slices, coils, H, W]``
and ``reconstruction_rss``. Per slice (and coil): centred IFFT -> centre crop -> FFT
gives the fully sampled k-space; a mask gives the measurement; the zero-filled
image is scaled by one positive constant so that it lies in [-6, 6].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from nas_engine.errors import UserError

from .coils import rss
from .subsample import MaskFunc, seed_from_name
from .transforms import center_crop, complex_to_chan, fft2c, ifft2c

INPUT_RANGE = 6.0  # the paper's input normalisation: zero-filled image in [-6, 6]


@dataclass(frozen=True)
class VolumeInfo:
    path: Path
    num_slices: int
    kspace_shape: tuple[int, int]
    recon_shape: tuple[int, int] | None
    attrs: dict
    coils: int = 0  # 0: single-coil layout; C: multi-coil (kspace [slices, C, H, W], reconstruction_rss)

    @property
    def target_key(self) -> str:
        """fastMRI's target of this layout: ``reconstruction_esc`` (single-coil) or ``reconstruction_rss``."""
        return "reconstruction_rss" if self.coils else "reconstruction_esc"


def input_scale(zf: torch.Tensor) -> torch.Tensor:
    """The positive constant per zero-filled image ``zf`` ``[..., H, W]`` (complex) that puts its real
    and imaginary parts into [-INPUT_RANGE, INPUT_RANGE] (1 for an all-zero image), float64."""
    peak = torch.maximum(zf.real.abs().amax((-2, -1)), zf.imag.abs().amax((-2, -1))).double()
    # tensor / tensor: an exact IEEE division (a scalar / tensor goes through the reciprocal, 1 ulp off)
    return torch.where(peak > 0, torch.full_like(peak, INPUT_RANGE) / torch.where(peak > 0, peak, 1.0), 1.0)


# what h5py raises on a damaged file, anywhere inside it (a bad B-tree is a RuntimeError, a bad heap an OSError)
CORRUPT_H5 = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError)


def inspect_volume(path: str | os.PathLike) -> VolumeInfo:
    """Open one fastMRI single- or multi-coil file and check its structure; ``UserError`` if bad."""
    try:
        return _inspect_volume(Path(path))
    except UserError:
        raise
    except CORRUPT_H5 as e:
        raise UserError(f"{path}: a damaged HDF5 file (corrupt or truncated?): {e.__class__.__name__}") from None


def _inspect_volume(path: Path) -> VolumeInfo:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected an .h5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"{path}: not a readable HDF5 file (corrupt or truncated?): {e.__class__.__name__}") from None
    with f:
        if "kspace" not in f:
            keys = ", ".join(sorted(f.keys())) or "none"
            raise UserError(f"{path}: no 'kspace' dataset (datasets found: {keys}); not a fastMRI file?")
        ks = f["kspace"]
        if not isinstance(ks, h5py.Dataset):
            raise UserError(f"{path}: 'kspace' is not a dataset")
        if ks.ndim not in (3, 4):
            raise UserError(f"{path}: 'kspace' must be [slices, H, W] (single-coil) or [slices, coils, H, W] "
                            f"(multi-coil), got shape {ks.shape}")
        coils = int(ks.shape[1]) if ks.ndim == 4 else 0
        if ks.ndim == 4 and coils < 1:
            raise UserError(f"{path}: multi-coil 'kspace' {ks.shape} has no coils")
        if not np.issubdtype(ks.dtype, np.complexfloating):
            raise UserError(f"{path}: 'kspace' must be complex (complex64), got dtype {ks.dtype}")
        if ks.shape[0] == 0:
            raise UserError(f"{path}: empty volume (0 slices)")
        if min(ks.shape[-2:]) < 2:
            raise UserError(f"{path}: k-space slices of shape {ks.shape[-2:]} are too small")
        recon_shape = None
        target = "reconstruction_rss" if coils else "reconstruction_esc"
        if target in f:
            rec = f[target]
            if rec.ndim != 3 or rec.shape[0] != ks.shape[0]:
                raise UserError(f"{path}: '{target}' shape {rec.shape} does not match kspace {ks.shape}")
            recon_shape = tuple(rec.shape[1:])
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        return VolumeInfo(path, int(ks.shape[0]), tuple(ks.shape[-2:]), recon_shape, attrs, coils)


def list_volumes(path: str | os.PathLike) -> list[Path]:
    """An ``.h5`` file, or a directory of them (sorted). ``UserError`` when there is none."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or directory")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix == ".h5" and p.is_file())
    if not files:
        raise UserError(f"{path}: no .h5 files in this directory")
    return files


class SliceDataset(Dataset):
    """Slices of fastMRI single- or multi-coil volumes, under-sampled and scaled for a network.

    Each item is a dict:
      ``input``  [2, h, w] zero-filled image, scaled into [-6, 6]
      ``image``  [2, h, w] fully sampled complex image, same scale (training target)
      ``kspace`` [2, h, w] measured (masked) k-space, same scale
      ``mask``   [1, 1, w] sampled columns
      ``target`` [h, w] magnitude target at the data's own scale (``reconstruction_esc`` if present)
      ``scale``  the positive constant applied (divide by it to undo)
      ``acceleration``, ``fname``, ``slice``.
    Multi-coil files (``kspace`` [slices, C, H, W]) give ``input``, ``image`` and ``kspace`` per coil,
    ``[C, 2, h, w]`` (one scale for all coils), and the target is ``reconstruction_rss`` (or the RSS of
    the cropped coil images). One dataset holds one layout. With ``espirit``, items also hold
    ``sens`` [C, 2, h, w], BART's ESPIRiT maps of the measured k-space.
    With ``augment`` (training sets only, ``fixed_masks=False``) each epoch sees every slice
    flipped/transposed at random and with a fresh smooth phase (see :meth:`augment_image`).
    Files are opened per item (lazily), so a directory of hundreds of volumes is fine.
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        mask_func: MaskFunc,
        crop_size: int | tuple[int, int] | None = None,
        fixed_masks: bool = True,
        seed: int = 0,
        augment: bool = False,
        espirit: bool = False,
        noise: Sequence[float] | None = None,
        patch: int = 0,
    ) -> None:
        self.volumes = [inspect_volume(p) for p in files]
        self.espirit = espirit  # multi-coil: ESPIRiT sensitivities per slice (BART), item "sens"
        self._maps: dict[tuple[str, int], torch.Tensor] = {}  # fixed masks: the same maps every epoch
        layouts = sorted({v.coils for v in self.volumes})
        if len(layouts) > 1:
            name = {0: "single-coil"}
            raise UserError("these files mix k-space layouts (" + ", ".join(name.get(c, f"{c} coils") for c in layouts)
                            + "); give one folder per layout and coil count")
        self.coils = layouts[0] if layouts else 0  # 0: single-coil
        self.mask_func = mask_func
        self.fixed_masks = fixed_masks
        self.augment = augment
        self.noise = tuple(noise) if noise else None  # training only (fixed_masks=False): see add_noise
        self.patch = int(patch)  # training only: a random patch x patch window of each slice (see random_patch)
        self.seed = int(seed)
        self.epoch = 0
        self.crop: dict[Path, tuple[int, int]] = {}
        self.use_esc: dict[Path, bool] = {}
        self.index: list[tuple[int, int]] = []
        for vi, info in enumerate(self.volumes):
            if isinstance(crop_size, (tuple, list)):
                crop = (int(crop_size[0]), int(crop_size[1]))
            elif crop_size is not None:
                crop = (int(crop_size), int(crop_size))
            elif info.recon_shape is not None:
                crop = info.recon_shape  # fastMRI: crop to the reconstruction's size
            else:
                raise UserError(f"{info.path}: no '{info.target_key}'; give a crop size (--crop / crop_size)")
            if crop[0] > info.kspace_shape[0] or crop[1] > info.kspace_shape[1]:
                raise UserError(
                    f"{info.path}: crop {crop[0]}x{crop[1]} is larger than the image "
                    f"{info.kspace_shape[0]}x{info.kspace_shape[1]}; use a smaller crop size"
                )
            self.crop[info.path] = crop
            # reconstruction_esc/_rss is the target only at its own size; otherwise |cropped image| (or its RSS).
            self.use_esc[info.path] = info.recon_shape is not None and tuple(info.recon_shape) == crop
            self.index.extend((vi, s) for s in range(info.num_slices))

    def set_epoch(self, epoch: int) -> None:
        """Training masks are redrawn each epoch, reproducibly from (seed, epoch, file, slice)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def mask_seed(self, fname: str, slice_idx: int) -> tuple[int, ...]:
        if self.fixed_masks:
            return seed_from_name(fname, slice_idx, self.seed)
        return seed_from_name(fname, slice_idx, self.seed, self.epoch + 1)

    def augment_image(self, image: torch.Tensor, target: np.ndarray | None, fname: str, s: int):
        """A random flip of each axis, a transposition (square crops) and a fresh smooth phase
        (a low-order polynomial, as a B0/coil phase), drawn from (seed, epoch, file, slice)."""
        rng = np.random.RandomState(np.array(seed_from_name(fname, s, self.seed, 7919 + self.epoch), dtype=np.uint32))
        flips = [d for d, f in zip((-2, -1), rng.rand(2) < 0.5) if f]
        transpose = image.shape[-1] == image.shape[-2] and rng.rand() < 0.5
        from .embedded import phase_coefficients, polynomial_phase  # the embedded data's phase family

        phase = polynomial_phase(phase_coefficients(rng), *image.shape[-2:])
        image = image * torch.from_numpy(np.exp(1j * phase).astype(np.complex64))

        def geometric(a):
            if flips:
                a = torch.flip(a, flips)
            return a.transpose(-2, -1) if transpose else a

        image = geometric(image).contiguous()
        if target is not None:
            target = geometric(torch.from_numpy(target)).contiguous().numpy()
        return image, target

    def random_patch(self, image: torch.Tensor, target: np.ndarray | None, fname: str, s: int):
        """A ``patch x patch`` window of the image (and target) at a place drawn from (seed, epoch, file, slice):
        a network trains on data at its own pixel size (e.g. a 1 mm embedded build, ``data.size=192``) at the
        cost of small images; the window's k-space is then under-sampled as a scan of that field of view."""
        rng = np.random.RandomState(np.array(seed_from_name(fname, s, self.seed, 104729 + self.epoch), dtype=np.uint32))
        h, w = image.shape[-2:]
        ph, pw = min(self.patch, h), min(self.patch, w)
        top, left = rng.randint(0, h - ph + 1), rng.randint(0, w - pw + 1)
        image = image[..., top:top + ph, left:left + pw].contiguous()
        if target is not None:
            target = np.ascontiguousarray(target[..., top:top + ph, left:left + pw])
        return image, target

    def add_noise(self, image: torch.Tensor, fname: str, s: int) -> torch.Tensor:
        """White complex Gaussian noise (white in k-space too), std drawn uniformly from ``self.noise`` times
        the slice's peak magnitude, from (seed, epoch, file, slice)."""
        rng = np.random.RandomState(np.array(seed_from_name(fname, s, self.seed, 15485863 + self.epoch), dtype=np.uint32))
        lo, hi = self.noise
        sigma = rng.uniform(lo, hi) * float(image.abs().max()) / np.sqrt(2)
        n = rng.standard_normal(image.shape) + 1j * rng.standard_normal(image.shape)
        return image + torch.from_numpy((sigma * n).astype(np.complex64))

    def __getitem__(self, i: int) -> dict:
        vi, s = self.index[i]
        info = self.volumes[vi]
        try:
            with h5py.File(info.path, "r") as f:
                k = np.asarray(f["kspace"][s])
                target = np.asarray(f[info.target_key][s], dtype=np.float32) if self.use_esc[info.path] else None
        except CORRUPT_H5 as e:
            raise UserError(f"{info.path}: slice {s} cannot be read (a damaged HDF5 file?): {e.__class__.__name__}") from None
        if not np.all(np.isfinite(k)):
            raise UserError(f"{info.path}: slice {s} of 'kspace' contains NaN or Inf values")
        if not np.any(k):
            raise UserError(f"{info.path}: slice {s} of 'kspace' is all zero")
        crop = self.crop[info.path]
        image = center_crop(ifft2c(torch.from_numpy(k.astype(np.complex64))), crop)
        if self.augment and not self.fixed_masks:  # training only
            image, target = self.augment_image(image, target, info.path.name, s)
        if self.patch and not self.fixed_masks:  # training only
            image, target = self.random_patch(image, target, info.path.name, s)
        if self.noise and not self.fixed_masks:  # training only
            image = self.add_noise(image, info.path.name, s)
            target = None  # the target is the noisy fully sampled image, as in a measured scan
        kfull = fft2c(image)
        mask_np, _, acc = self.mask_func(image.shape[-1], seed=self.mask_seed(info.path.name, s))
        mask = torch.from_numpy(mask_np).view(1, 1, -1)
        kmeas = kfull * mask[0]
        zf = ifft2c(kmeas)
        scale = float(input_scale(zf.reshape(-1, zf.shape[-1])))  # one scale for all coils
        if target is None:
            target = (rss(image) if self.coils else image.abs()).numpy().astype(np.float32)
        elif not np.all(np.isfinite(target)):
            raise UserError(f"{info.path}: slice {s} of '{info.target_key}' contains NaN or Inf values")
        extra = {}
        if self.espirit and self.coils:
            key = (info.path.name, s)
            maps = self._maps.get(key) if self.fixed_masks else None
            if maps is None:
                from .pics import espirit_maps

                maps = torch.from_numpy(espirit_maps(kmeas.numpy(), mask_np > 0))
                if self.fixed_masks:
                    self._maps[key] = maps
            extra["sens"] = complex_to_chan(maps).float()
        return {
            **extra,
            "input": complex_to_chan(zf * scale).float(),
            "image": complex_to_chan(image * scale).float(),
            "kspace": complex_to_chan(kmeas * scale).float(),
            "mask": mask.float(),
            "target": torch.from_numpy(target),
            "scale": torch.tensor(scale, dtype=torch.float64),
            "acceleration": torch.tensor(acc),
            "fname": info.path.name,
            "slice": s,
        }
