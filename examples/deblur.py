# deblur.py: Gaussian deblurring of scikit-image's photographs, as a nasengine task plugin
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.functional import conv2d, l1_loss, pad
from torch.utils.data import Dataset

from nas_engine.task import Task, aggregate, register_task


def photo(name: str, size: int) -> torch.Tensor:
    """A photograph bundled with scikit-image, gray, [1, size, size] in [0, 1]."""
    from skimage import color, data, transform

    img = getattr(data, name)()
    img = color.rgb2gray(img) if img.ndim == 3 else img / 255.0
    return torch.tensor(transform.resize(img, (size, size), anti_aliasing=True), dtype=torch.float32)[None]


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [1, H, W], reflected borders."""
    r = int(3 * sigma)
    k = torch.exp(-torch.arange(-r, r + 1.0) ** 2 / (2 * sigma**2))
    k = k / k.sum()
    x = conv2d(pad(x[None], (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return conv2d(pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))[0]


class Blurred(Dataset):
    """(blurred, sharp) crops of ``patch`` x ``patch`` from whole photographs."""

    def __init__(self, names, size: int, sigma: float, patch: int) -> None:
        crops = [photo(n, size)[:, y:y + patch, x:x + patch] for n in names
                 for y in range(0, size - patch + 1, patch) for x in range(0, size - patch + 1, patch)]
        self.items = [{"input": blur(c, sigma), "target": c} for c in crops]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class Residual(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.module(x)


@dataclass
class DeblurOptions:  # the `data:` section of a config: --set data.sigma=2
    size: int = 128
    patch: int = 32
    sigma: float = 1.5


@register_task("deblur")
class DeblurTask(Task):
    summary = "Gaussian deblurring of scikit-image photographs (the README's plugin example)"
    in_channels = 1  # the searched cell maps 1 x H x W to itself
    Options = DeblurOptions
    presets = {"tiny": {"size": 64}}

    def crops(self, names) -> Blurred:
        return Blurred(names, self.options.size, self.options.sigma, self.options.patch)

    def search_datasets(self, alpha_fraction: float):  # weights and alphas see different photographs
        return self.crops(["camera", "moon"]), self.crops(["coins"])

    def train_dataset(self) -> Blurred:
        return self.crops(["camera", "moon", "coins"])

    def build_model(self, make_module) -> nn.Module:
        return Residual(make_module())

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        return l1_loss(model(batch["input"]), batch["target"])

    def score(self, restore, method: str) -> dict:
        """PSNR/SSIM/NMSE of ``restore(blurred) -> sharp`` on test photographs never trained on."""
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity

        rows = []
        for name in ("astronaut", "coffee"):
            sharp = photo(name, self.options.size)
            with torch.no_grad():
                out = restore(blur(sharp, self.options.sigma)[None])[0, 0].clamp(0, 1).double().numpy()
            gt = sharp[0].double().numpy()
            mse = float(np.mean((gt - out) ** 2))
            rows.append({"file": name, "mse": mse, "nmse": mse / float(np.mean(gt**2)),
                         "psnr": peak_signal_noise_ratio(gt, out, data_range=1.0),
                         "ssim": structural_similarity(gt, out, data_range=1.0)})
        return {"task": "deblur", "method": method, "data": "scikit-image photographs", "split": "test",
                "overall": aggregate(rows), "per_volume": rows}

    def evaluate_model(self, model: nn.Module, save_recons=None, progress: bool = True) -> dict:
        return self.score(model.eval(), "nas")

    methods = ("blurred",)  # optional: non-learned methods, `evaluate --method blurred`

    def evaluate_method(self, method: str, save_recons=None, progress: bool = True, tune: bool = False) -> dict:
        return self.score(lambda x: x, method)  # the blurred input itself: the score to beat
