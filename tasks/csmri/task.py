"""The CS-MRI task adapter (Yan et al., single-coil fastMRI setting)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from nas_engine.errors import UserError

from ..base import Task, register_task
from .data import SliceDataset, list_volumes
from .embedded import DEFAULT_SIZE, ensure_embedded
from .evaluate import collect, save_reconstructions, score
from .subsample import create_mask_func
from .transforms import magnitude

SPLITS = ("train", "val", "test")


def zero_filled(batch: dict) -> torch.Tensor:
    """Zero-filled reconstruction: magnitude of the IFFT of the measured k-space, at data scale."""
    return magnitude(batch["input"]) / batch["scale"].view(-1, 1, 1).to(batch["input"].dtype)


@register_task("csmri")
class CSMRITask(Task):
    summary = "single-coil compressed-sensing MRI, fastMRI .h5 format; cascades of (module -> data consistency)"
    methods = ("zero-filled",)

    def data_root(self, data: str | None, size: int = DEFAULT_SIZE) -> Path:
        if data is None:
            return ensure_embedded(size, quiet=False)
        root = Path(data)
        if not root.exists():
            raise UserError(f"--data {root}: no such file or directory")
        return root

    @staticmethod
    def split_files(root: Path, split: str) -> list[Path]:
        """Files of ``split``: ``root/split/*.h5`` if that folder exists; a flat folder or a file is a test set."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}")
        if (root / split).is_dir():
            return list_volumes(root / split)
        if root.is_file() or split == "test":
            return list_volumes(root)
        raise UserError(f"--data {root}: no {split}/ folder with .h5 files (expected {'/, '.join(SPLITS)}/)")

    @staticmethod
    def make_dataset(
        files: Sequence[Path],
        accelerations: Sequence[float] = (4, 8),
        center_fractions: Sequence[float] | None = None,
        mask: str = "random",
        crop: int | None = None,
        seed: int = 0,
        fixed_masks: bool = True,
    ) -> SliceDataset:
        try:
            mask_func = create_mask_func(mask, list(accelerations), center_fractions, seed=seed)
        except ValueError as e:
            raise UserError(f"mask: {e}") from None
        return SliceDataset(files, mask_func, crop_size=crop, fixed_masks=fixed_masks, seed=seed)

    def evaluate_method(
        self,
        method: str,
        data: str | None,
        accelerations: Sequence[float] = (4, 8),
        center_fractions: Sequence[float] | None = None,
        mask: str = "random",
        crop: int | None = None,
        seed: int = 0,
        save_recons: str | None = None,
        progress: bool = True,
        batch_size: int = 8,
    ) -> dict:
        if method not in self.methods:
            raise UserError(f"unknown method {method!r} for task csmri; available: {', '.join(self.methods)}")
        root = self.data_root(data)
        ds = self.make_dataset(self.split_files(root, "test"), accelerations, center_fractions, mask, crop, seed)
        collected = collect(ds, zero_filled, batch_size=batch_size, progress=progress)
        results = {
            "task": "csmri",
            "method": method,
            "data": str(root),
            "split": "test",
            "accelerations": [float(a) for a in accelerations],
            "mask": mask,
            "seed": seed,
            **score(collected),
        }
        if save_recons:
            save_reconstructions(collected, save_recons)
        return results
