"""Additive white Gaussian noise removal on grayscale photographs bundled in scikit-image's wheel.

Train: astronaut, coffee, chelsea, rocket, motorcycle (left view); val: moon;
test: camera, coins. Images are converted to gray in [0, 1] and resized by
``scale``; training uses ``patch x patch`` crops, testing whole images.
Backbone: ``x + module(x)`` on ``[B, 1, H, W]``. Metrics: PSNR and SSIM with
data range 1, per image, then mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from nas_engine.errors import UserError
from nas_engine.task import ModuleFactory, Task, aggregate, register_task

SPLITS = {
    "train": ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left"),
    "val": ("moon",),
    "test": ("camera", "coins"),
}


def load_image(name: str, scale: float) -> np.ndarray:
    """A bundled scikit-image photograph as gray float32 ``[H, W]`` in [0, 1] (no download)."""
    from skimage import data, io
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.transform import rescale

    if name == "motorcycle_left":
        from pathlib import Path

        img = io.imread(Path(data.__file__).parent / "motorcycle_left.png")
    else:
        img = getattr(data, name)()
    img = np.asarray(img)
    if img.ndim == 3:
        img = rgb2gray(rgba2rgb(img) if img.shape[-1] == 4 else img)
    img = img.astype(np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    if scale != 1.0:
        img = rescale(img, scale, anti_aliasing=True)
    return np.clip(img, 0, 1).astype(np.float32)


@dataclass
class DenoiseOptions:
    sigma: float = 25.0  # noise std on the 0..255 scale
    patch: int = 48  # training crop size
    scale: float = 0.5  # resize factor applied to every photograph
    max_patches: int = 0  # cap on training patches (0: all)


class NoisyPatches(Dataset):
    """Clean/noisy pairs; noise is seeded per (seed, item, epoch) so runs are reproducible."""

    def __init__(self, images: list[np.ndarray], sigma: float, patch: int | None, seed: int,
                 fixed_noise: bool, max_items: int = 0) -> None:
        self.items: list[np.ndarray] = []
        for img in images:
            if patch is None:
                self.items.append(img)
                continue
            if patch > min(img.shape):
                raise UserError(f"data.patch={patch} is larger than an image ({img.shape[0]}x{img.shape[1]})")
            for y in range(0, img.shape[0] - patch + 1, patch):
                for x in range(0, img.shape[1] - patch + 1, patch):
                    self.items.append(img[y : y + patch, x : x + patch])
        if max_items > 0:
            idx = np.random.RandomState(seed).permutation(len(self.items))[:max_items]
            self.items = [self.items[i] for i in sorted(idx)]
        self.sigma, self.seed, self.fixed, self.epoch = sigma / 255.0, seed, fixed_noise, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        clean = torch.from_numpy(self.items[i])[None]
        g = torch.Generator().manual_seed(hash((self.seed, i, 0 if self.fixed else self.epoch + 1)) & 0x7FFFFFFF)
        noisy = clean + self.sigma * torch.randn(clean.shape, generator=g)
        return {"input": noisy, "target": clean, "index": i}


class Residual(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.module(x)


@register_task("denoise")
class DenoiseTask(Task):
    summary = "Gaussian denoising of grayscale photographs bundled with scikit-image; residual backbone"
    methods = ("noisy",)
    in_channels = 1
    Options = DenoiseOptions
    presets = {"demo": {}, "paper": {"scale": 1.0, "patch": 64}, "tiny": {"patch": 24, "max_patches": 16}}

    def __init__(self, options=None, data=None, seed=0) -> None:
        super().__init__(options, data, seed)
        if data is not None:
            raise UserError("task denoise uses the photographs bundled with scikit-image; it takes no --data")
        o = self.options
        if not o.sigma > 0 or not 0 < o.scale <= 1 or o.patch < 8:
            raise UserError(f"denoise options out of range: sigma > 0, 0 < scale <= 1, patch >= 8 (got {o})")

    def describe_data(self) -> str:
        return f"scikit-image photographs (train {', '.join(SPLITS['train'])}; test {', '.join(SPLITS['test'])})"

    def _images(self, split: str) -> list[np.ndarray]:
        return [load_image(n, self.options.scale) for n in SPLITS[split]]

    def train_dataset(self) -> NoisyPatches:
        o = self.options
        return NoisyPatches(self._images("train"), o.sigma, o.patch, self.seed, False, o.max_patches)

    def search_datasets(self, alpha_fraction: float):
        """Split by image: the architecture step never sees the weight step's photographs."""
        o = self.options
        names = list(SPLITS["train"])
        order = np.random.RandomState(self.seed).permutation(len(names))
        n_alpha = min(max(1, int(round(len(names) * alpha_fraction))), len(names) - 1)
        pick = lambda ids: [load_image(names[i], o.scale) for i in sorted(ids)]  # noqa: E731
        cap = o.max_patches // 2 if o.max_patches else 0
        return (NoisyPatches(pick(order[n_alpha:]), o.sigma, o.patch, self.seed, False, cap),
                NoisyPatches(pick(order[:n_alpha]), o.sigma, o.patch, self.seed + 1, False, cap))

    def build_model(self, make_module: ModuleFactory) -> nn.Module:
        return Residual(make_module())

    @staticmethod
    def image_modules(model: nn.Module) -> list[nn.Module]:
        return [model.module]

    def example_batch(self, size: int, batch: int = 1) -> dict:
        g = torch.Generator().manual_seed(0)
        clean = torch.rand(batch, 1, size, size, generator=g)
        return {"input": clean + self.options.sigma / 255.0 * torch.randn(clean.shape, generator=g), "target": clean}

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        return torch.nn.functional.l1_loss(model(batch["input"]), batch["target"])

    def _results(self, method: str, denoise) -> dict:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity

        ds = NoisyPatches(self._images("test"), self.options.sigma, None, self.seed, True)
        rows = []
        with torch.no_grad():
            for i, name in enumerate(SPLITS["test"]):
                item = ds[i]
                out = denoise(item["input"][None])[0, 0].clamp(0, 1).numpy().astype(np.float64)
                gt = item["target"][0].numpy().astype(np.float64)
                mse = float(np.mean((gt - out) ** 2))
                rows.append({"file": name, "mse": mse, "nmse": mse / float(np.mean(gt**2)),
                             "psnr": float(peak_signal_noise_ratio(gt, out, data_range=1.0)),
                             "ssim": float(structural_similarity(gt, out, data_range=1.0))})
        return {"task": "denoise", "method": method, "data": self.describe_data(), "split": "test",
                "sigma": self.options.sigma, "overall": aggregate(rows), "per_volume": rows}

    def evaluate_method(self, method: str, save_recons=None, progress: bool = True, tune: bool = False) -> dict:
        if method not in self.methods:
            raise UserError(f"unknown method {method!r} for task denoise; available: {', '.join(self.methods)}")
        return self._results(method, lambda x: x)

    def evaluate_model(self, model: nn.Module, save_recons=None, progress: bool = True) -> dict:
        model.eval()
        return self._results("nas", model)
