"""The CS-MRI task adapter (Yan et al., single-coil fastMRI setting)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from nas_engine.errors import UserError
from nas_engine.task import IMAGE_METRICS, ModuleFactory, Task, TaskOption, register_task

from .coils import rss
from .data import SliceDataset, list_volumes
from .embedded import DEFAULT_SIZE, ensure_embedded
from .evaluate import collect, save_reconstructions, score
from .paper import BENCHMARK_REFERENCES, PARETO_REFERENCES, RUN_FIRST, TABLE1_COMPLEXITY, TABLE1_METHODS, benchmark_tables, paper_psnr
from .subsample import create_mask_func
from .transforms import DataConsistency, magnitude

SPLITS = ("train", "val", "test")


@dataclass
class CSMRIOptions:
    size: int = DEFAULT_SIZE  # size of the embedded dataset (ignored with --data)
    crop: int | None = None  # crop size; default: reconstruction_esc's size
    accelerations: list[float] = field(default_factory=lambda: [4.0, 8.0])
    center_fractions: list[float] | None = None  # default: the paper's (4x: 0.08, 8x: 0.04)
    mask: str = "random"  # random | equispaced | equispaced_fraction
    cascades: int = 3
    share_weights: bool = False  # MoDL-style: one module for all cascades
    dc_lambda: float | None = None  # None: noiseless DC (replace sampled lines)
    learn_lambda: bool = False
    max_volumes: int = 0  # use at most this many volumes per split (0: all)
    embedded: str = "axial"  # embedded dataset: axial (demo), 3view (Colin27 full head, three orientations) or
    # 3view+bet (bench: 3view plus Colin27 brain-extracted, as the MNI152 test template is)
    augment: bool = False  # training: random flips/transposes and a fresh smooth phase per epoch
    noise: list[float] | None = None  # training: [lo, hi] complex Gaussian noise per slice, std drawn from [lo, hi]
    # times the slice's peak magnitude (the real test set has ~0.045, the embedded data 0.008; docs/real-data.md)
    patch: int = 0  # training: a random patch x patch window of each slice (0: whole slices); with data.size=192
    # (the embedded data at ~1.1 mm, the real test set's pixel size) it trains at that scale for the cost of 96 x 96
    coils: int = 1  # embedded data: simulated receive coils (> 1: fastMRI's multi-coil layout); --data decides itself
    sens: str = "learned"  # multi-coil sensitivities: learned (from the ACS, in the network) | espirit (BART, per slice)
    dc: str = "grad"  # multi-coil data consistency: grad (learned gradient step) | cg (MoDL, conjugate gradient)
    cg_iters: int = 10  # multi-coil dc=cg: conjugate-gradient iterations per cascade
    tv_lambda: float = 0.01  # TV (BART pics -R T:7:0:lambda): weight, on the [-6, 6] input scale
    tv_iters: int = 200  # TV iterations
    pics_lambda: float = 0.01  # PICS (ESPIRiT + bart pics -R W:7:0:lambda, l1-wavelet): weight, input scale
    pics_iters: int = 50  # PICS iterations


class Cascade(nn.Module):
    """``cascades`` x (image module with global residual -> data consistency), on ``[B, 2, H, W]``."""

    multicoil = False

    def __init__(self, make_module: ModuleFactory, cascades: int, share_weights: bool,
                 dc_lambda: float | None, learn_lambda: bool) -> None:
        super().__init__()
        if share_weights:
            shared = make_module()
            self.blocks = nn.ModuleList([shared] * cascades)
        else:
            self.blocks = nn.ModuleList(make_module() for _ in range(cascades))
        self.dc = nn.ModuleList(DataConsistency(dc_lambda, learn_lambda) for _ in range(cascades))

    def forward(self, x: torch.Tensor, k_measured: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block, dc in zip(self.blocks, self.dc):
            x = dc(x + block(x), k_measured, mask)
        return x


class SharedRef(nn.Module):
    """Calls the module ``owner.<name>``, registered there, without registering it (no parameters of
    its own). Looked up at each call: a search strategy replaces the owner's module by its mutated
    version, and the reference must reach that one."""

    def __init__(self, owner: nn.Module, name: str) -> None:
        super().__init__()
        object.__setattr__(self, "_owner", owner)
        self._name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self._owner, self._name)(x)


class SearchCascade(nn.Module):
    """The cascade of a search over macro choices: the deepest candidate's cascades, each block one
    module of its own or the one shared module (``choose.layer("share", ...)``), and the output
    taken after one of the candidate depths (``choose.one_of("cascades", ...)``)."""

    multicoil = False

    def __init__(self, make_module: ModuleFactory, cascades: Sequence[int], share: Sequence[bool], choose,
                 dc_lambda: float | None, learn_lambda: bool) -> None:
        super().__init__()
        # the shared module sits once in the module tree (NNI's mutation visits every path to a module,
        # and would mutate one reached twice twice); the cascades call it through a reference
        self.shared = make_module() if True in share else None
        blocks = []
        for _ in range(max(cascades)):
            cands = {s: (SharedRef(self, "shared") if s else make_module()) for s in share}
            blocks.append(choose.layer("share", cands) if len(cands) > 1 else next(iter(cands.values())))
        self.blocks = nn.ModuleList(blocks)
        self.dc = nn.ModuleList(DataConsistency(dc_lambda, learn_lambda) for _ in blocks)
        self.exits = tuple(cascades)
        self.depth = choose.one_of("cascades", self.exits) if len(self.exits) > 1 else None

    def forward(self, x: torch.Tensor, k_measured: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        outs = {}
        for i, (block, dc) in enumerate(zip(self.blocks, self.dc), 1):
            x = dc(x + block(x), k_measured, mask)
            outs[i] = x
        return x if self.depth is None else self.depth([outs[c] for c in self.exits])


class Plain(nn.Module):
    """A single module without data consistency (fastMRI's U-Net baseline)."""

    multicoil = False

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, k_measured: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def zero_filled(batch: dict) -> torch.Tensor:
    """Zero-filled reconstruction: magnitude of the IFFT of the measured k-space (multi-coil: the
    root-sum-of-squares of the coil images, fastMRI's), at data scale."""
    mag = magnitude(batch["input"])
    if mag.ndim == 4:  # [B, C, H, W]
        mag = rss(mag, 1)
    return mag / batch["scale"].view(-1, 1, 1).to(batch["input"].dtype)


@register_task("csmri")
class CSMRITask(Task):
    summary = ("compressed-sensing MRI, fastMRI .h5 format (single- and multi-coil); cascades of (module -> data "
               "consistency)")
    methods = ("zero-filled", "tv", "pics")
    trainable_methods = ("unet", "dccnn-N", "modl-N", "rdn-N", "varnet-N")
    in_channels = 2
    Options = CSMRIOptions
    metrics = IMAGE_METRICS
    group_key = "by_acceleration"
    group_label = "{}x"
    tunable_methods = ("tv", "pics")
    cli_options = (
        TaskOption("--accelerations", "accelerations", float, "+", "CS-MRI: default 4 8"),
        TaskOption("--center-fractions", "center_fractions", float, "+",
                   "CS-MRI: one per acceleration (default: the paper's, 4x: 0.08, 8x: 0.04)"),
        TaskOption("--mask", "mask", str, None, "CS-MRI mask type: random (default), equispaced or "
                   "equispaced_fraction (fastMRI's)"),
        TaskOption("--crop", "crop", int, None, "CS-MRI crop size (default: reconstruction_esc's size; for "
                   "reconstruct without it, fastMRI's 320 or the image where smaller)"),
    )
    # Table I of the paper: display name -> method, and its (FLOPs, params)
    paper_methods = TABLE1_METHODS
    paper_complexity = TABLE1_COMPLEXITY
    macro_options = {"cascades": "cascades", "share": "share_weights"}
    presets = {
        "demo": {"size": 96, "cascades": 3},
        "bench": {"size": 96, "cascades": 3, "embedded": "3view+bet", "augment": True},
        "paper": {"size": 320, "cascades": 3},
        "tiny": {"size": 32, "cascades": 2, "max_volumes": 2},
    }

    benchmark_references = BENCHMARK_REFERENCES
    pareto_references = PARETO_REFERENCES
    benchmark_run_first = RUN_FIRST
    complexity_size = 320  # Table I: one 2x320x320 input

    @classmethod
    def paper_psnr(cls, table: str = "table1") -> dict[str, float]:
        return {} if table == "table_mc" else paper_psnr()  # the paper's numbers are single-coil

    @classmethod
    def benchmark_tables(cls) -> dict:
        return benchmark_tables()

    def benchmark_sets(self, table: str) -> list[str]:
        return ["data.coils=8"] if table == "table_mc" and self.data is None else []  # embedded data, 8 coils

    def check_table(self, table: str) -> None:
        if table == "table_mc" and not self.coils:
            raise UserError(f"benchmark table-mc needs multi-coil data; {self.root} is single-coil "
                            "(give --data with multi-coil files, or --set data.coils=N)")

    def benchmark_note(self, table: str) -> str:
        note = ("Test split, metrics per volume (fastMRI definitions), averaged over volumes per seed; the table "
                "gives the mean over seeds ± the std over seeds (no ± with one seed), all accelerations mixed as in "
                "the paper, and per acceleration. Every method sees the same test masks. FLOPs/params: the "
                f"reconstruction modules as trained, all cascades, one {self.in_channels}x320x320 input (ptflops).")
        if table == "table_mc":
            note += ("\n\nMulti-coil: FLOPs/params are the image modules (ptflops, as Table I) plus the sensitivity "
                     "CNN (ptflops, once per coil) and the SENSE data consistency's FFTs and complex arithmetic, "
                     "counted analytically (tasks/csmri/multicoil.py: sense_macs); no paper column.")
        return note

    def __init__(self, options=None, data=None, seed=0) -> None:
        super().__init__(options, data, seed)
        o = self.options
        from .embedded import VIEWS

        if o.embedded not in VIEWS:
            raise UserError(f"data.embedded must be one of {', '.join(VIEWS)}, got {o.embedded!r}")
        if not 16 <= o.size <= 512:
            raise UserError(f"data.size must be between 16 and 512 (the embedded images are size x size), got {o.size}")
        if o.crop is not None and o.crop < 8:
            raise UserError(f"data.crop must be at least 8 pixels, got {o.crop}")
        if o.cascades < 1:
            raise UserError(f"data.cascades must be >= 1, got {o.cascades}")
        for a in o.accelerations:
            if not a >= 1:
                raise UserError(f"acceleration must be >= 1, got {a}")
        try:  # validate the mask settings before any work starts
            create_mask_func(o.mask, list(o.accelerations), o.center_fractions)
        except ValueError as e:
            raise UserError(f"mask: {e}") from None
        if not 1 <= o.coils <= 64:
            raise UserError(f"data.coils must be between 1 and 64, got {o.coils}")
        from .multicoil import DC_KINDS

        if o.dc not in DC_KINDS:
            raise UserError(f"data.dc must be one of {', '.join(DC_KINDS)}, got {o.dc!r}")
        if o.noise is not None and (len(o.noise) != 2 or not 0 <= float(o.noise[0]) <= float(o.noise[1]) <= 1):
            raise UserError(f"data.noise must be [lo, hi] with 0 <= lo <= hi <= 1 (noise std over the slice's peak), "
                            f"got {o.noise}; e.g. --set data.noise=[0.01,0.08]")
        if o.patch and not 8 <= o.patch:
            raise UserError(f"data.patch must be 0 (whole slices) or at least 8 pixels, got {o.patch}")
        if o.sens not in ("learned", "espirit"):
            raise UserError(f"data.sens must be learned or espirit, got {o.sens!r}")
        self._root: Path | None = None
        self._coils: int | None = None

    @property
    def coils(self) -> int:
        """0 for single-coil data; else the coil count of the data's files (the first file found)."""
        if self._coils is None:
            if self.data is None and self.options.coils == 1:
                self._coils = 0
            else:
                from .data import inspect_volume

                split = next((s for s in ("train", "test") if (self.root / s).is_dir()), "test")
                self._coils = inspect_volume(self.split_files(split)[0]).coils
        return self._coils

    # ------------------------------------------------------------------ data
    @property
    def root(self) -> Path:
        if self._root is None:
            if self.data is None:
                self._root = ensure_embedded(self.options.size, quiet=False, views=self.options.embedded,
                                             coils=self.options.coils)
            else:
                self._root = Path(self.data)
                if not self._root.exists():
                    raise UserError(f"--data {self._root}: no such file or directory")
        return self._root

    def describe_data(self) -> str:
        return str(self.root)

    def split_files(self, split: str) -> list[Path]:
        """``root/split/*.h5`` if that folder exists; a flat folder or a single file is a test set."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}")
        root = self.root
        if (root / split).is_dir():
            files = list_volumes(root / split)
        elif root.is_file() or split == "test":
            files = list_volumes(root)
        else:
            raise UserError(f"--data {root}: no {split}/ folder with .h5 files (expected train/, val/, test/)")
        return files[: self.options.max_volumes] if self.options.max_volumes > 0 else files

    def make_dataset(self, files: Sequence[Path], fixed_masks: bool = True) -> SliceDataset:
        o = self.options
        mask_func = create_mask_func(o.mask, list(o.accelerations), o.center_fractions, seed=self.seed)
        return SliceDataset(files, mask_func, crop_size=o.crop, fixed_masks=fixed_masks, seed=self.seed,
                            augment=o.augment, espirit=o.sens == "espirit", noise=o.noise, patch=o.patch)

    def train_dataset(self) -> SliceDataset:
        return self.make_dataset(self.split_files("train"), fixed_masks=False)

    def search_datasets(self, alpha_fraction: float):
        """Split the training set by volume: a ``1 - alpha_fraction`` share for weights, the rest for alphas."""
        ds = self.train_dataset()
        n_vol = len(ds.volumes)
        if n_vol < 2:
            raise UserError("search needs at least 2 training volumes (one for weights, one for the architecture)")
        order = np.random.RandomState(self.seed).permutation(n_vol)
        n_alpha = min(max(1, int(round(n_vol * alpha_fraction))), n_vol - 1)
        alpha_vols = set(order[:n_alpha].tolist())
        w_idx = [i for i, (v, _) in enumerate(ds.index) if v not in alpha_vols]
        a_idx = [i for i, (v, _) in enumerate(ds.index) if v in alpha_vols]
        return Subset(ds, w_idx), Subset(ds, a_idx)

    build_options = (TaskOption("--coils", "coils", int, None,
                                "CS-MRI: simulate N receive coils (birdcage sensitivities, correlated noise) and "
                                "write fastMRI's multi-coil layout (default 1: single-coil)"),)

    @classmethod
    def data_build(cls, out: str | None, size: int, seed: int, coils: int = 1) -> str:
        from .embedded import FORMAT_VERSION, build, default_root

        tag = f"-{coils}coil" if coils > 1 else ""
        dest = Path(out) if out else default_root() / f"embedded-v{FORMAT_VERSION}-custom{tag}-{size}"
        return str(build(dest, size=size, seed=seed, coils=coils))

    @classmethod
    def data_build_real(cls, out: str | None, sources: str | None = None) -> str:
        from .realdata import build_real

        return str(build_real(out, sources))

    @classmethod
    def data_convert(cls, sources: list[str], out: str, single_coil: bool = False, force: bool = False) -> list[str]:
        from .rawdata import convert

        done = []
        for src in sources:
            dest = convert(src, out, single_coil=single_coil, force=force)
            print(f"{src} -> {dest}")
            done.append(str(dest))
        return done

    @classmethod
    def data_inspect(cls, path: str) -> str:
        from .data import inspect_volume

        info = inspect_volume(path)
        lines = [
            f"file:        {info.path}",
            f"slices:      {info.num_slices}",
            f"kspace:      {info.kspace_shape[0]} x {info.kspace_shape[1]} (complex)"
            + (f", {info.coils} coils (multi-coil)" if info.coils else " (single-coil)"),
            f"{'recon_rss:' if info.coils else 'recon_esc:':12s} {'%d x %d' % info.recon_shape if info.recon_shape else 'absent'}",
        ]
        lines += [f"{k + ':':12s} {info.attrs[k]}" for k in ("acquisition", "patient_id", "max", "norm") if k in info.attrs]
        return "\n".join(lines)

    # ------------------------------------------------------------------ model
    def build_model(self, make_module: ModuleFactory) -> nn.Module:
        o = self.options
        if self.coils:
            return self._multicoil(make_module, o.share_weights, o.dc)
        return Cascade(make_module, o.cascades, o.share_weights, o.dc_lambda, o.learn_lambda)

    def build_search_model(self, make_module: ModuleFactory, choices, choose) -> nn.Module:
        """Cascades and weight sharing searched (``choices``: ``cascades``, ``share``), single-coil."""
        if not choices:
            return self.build_model(make_module)
        if self.coils:
            raise UserError("searching cascades/share needs single-coil data for now; use a space without "
                            "macro choices (A, B) on multi-coil data")
        o = self.options
        return SearchCascade(make_module, choices.get("cascades", (o.cascades,)),
                             choices.get("share", (o.share_weights,)), choose, o.dc_lambda, o.learn_lambda)

    def _multicoil(self, make_module: ModuleFactory, share: bool, dc: str, plain: bool = False,
                   kspace: bool = False, cascades: int | None = None) -> nn.Module:
        from .multicoil import MultiCoilCascade

        o = self.options
        return MultiCoilCascade(make_module, cascades or o.cascades, share, dc,
                                0.05 if o.dc_lambda is None else o.dc_lambda, o.cg_iters, plain=plain, kspace=kspace,
                                learn_sens=o.sens == "learned")

    def build_baseline(self, method: str) -> nn.Module:
        """A hand-designed baseline (``unet``, ``dccnn-N``, ``modl-N``, ``rdn-N``) in this task's backbone."""
        from .baselines import parse_baseline

        b = parse_baseline(method)
        if b.kspace and not self.coils:
            raise UserError(f"{method} is a multi-coil network (E2E-VarNet); {self.root} holds single-coil files")
        if b.kspace:  # varnet-N: N k-space cascades
            return self._multicoil(b.make, False, "grad", kspace=True, cascades=int(method.split("-")[1]))
        if self.coils:  # MoDL keeps its own DC (CG), the others take data.dc
            return self._multicoil(b.make, b.share, "cg" if method.startswith("modl") else self.options.dc,
                                   plain=not b.cascade)
        if not b.cascade:
            return Plain(b.make())
        o = self.options
        return Cascade(b.make, o.cascades, b.share, o.dc_lambda, o.learn_lambda)

    @staticmethod
    def image_modules(model: nn.Module) -> list[nn.Module]:
        """The reconstruction modules in order of application (a shared module appears once per cascade)."""
        if isinstance(model, Plain):
            return [model.module]
        return list(model.blocks)  # a multi-coil cascade too (its sensitivity CNN and DC: extra_complexity)

    def extra_complexity(self, model: nn.Module, size: int) -> tuple[int, int]:
        """Multi-coil networks: the sensitivity CNN (ptflops, once per coil) and the SENSE data
        consistency's FFTs and complex arithmetic (counted analytically, :func:`.multicoil.sense_macs`).
        Single-coil: nothing (Table I counts the image modules only; its DC FFTs are not in it either)."""
        if not getattr(model, "multicoil", False):
            return 0, 0
        from nas_engine.complexity import count

        from .multicoil import sense_macs

        coils = self.coils or self.options.coils
        cnn_flops, cnn_params = count(model.sens.refine, (2, size, size)) if model.sens is not None else (0, 0)
        return coils * cnn_flops + sense_macs(model, coils, size), cnn_params

    def weights_hint(self, state: dict) -> str:
        trained_multi = any(k.startswith("sens.") or (k.startswith("dc.") and k.endswith(".weight")) for k in state)
        if trained_multi != bool(self.coils):
            was, now = ("multi", "single") if trained_multi else ("single", "multi")
            return (f"this network was trained on {was}-coil data and cannot take {now}-coil files "
                    f"({self.root}); give --data with {was}-coil files")
        return ""

    def example_batch(self, size: int, batch: int = 1, width: int | None = None) -> dict:
        """A random batch with real shapes (timing, complexity, export); ``size`` x ``width or size``."""
        g = torch.Generator().manual_seed(0)
        width = width or size
        mask = torch.zeros(batch, 1, 1, width)
        mask[..., ::4] = 1
        mask[..., width // 2 - 4: width // 2 + 4] = 1  # a calibration region (multi-coil sensitivities)
        coils = (self.coils,) if self.coils else ()
        out = {"input": torch.randn(batch, *coils, 2, size, width, generator=g), "mask": mask,
               "kspace": torch.randn(batch, *coils, 2, size, width, generator=g) * mask}
        out["image"] = torch.randn(batch, 2, size, width, generator=g)  # a target: the loss can run on it
        if self.coils:  # the multi-coil loss's target and scale; given sensitivities (data.sens=espirit)
            out["target"], out["scale"] = torch.rand(batch, size, width, generator=g), torch.ones(batch, dtype=torch.float64)
            if self.options.sens == "espirit":
                s = torch.randn(batch, self.coils, 2, size, width, generator=g)
                out["sens"] = s / s.pow(2).sum((1, 2), keepdim=True).sqrt()
        return out

    EXPORT_INPUTS = ("input", "kspace", "mask")

    def export_signature(self):
        """The cascade's inputs (zero-filled image, measured k-space, mask); batch, height and width
        may change (a test file is reconstructed at its k-space's full size)."""
        size = self.options.crop or self.options.size
        if self.coils:
            raise UserError("export takes single-coil networks for now (a multi-coil network's sensitivity "
                            "calibration loops over the batch in Python)")

        def example(variant: int) -> tuple:
            b = self.example_batch(size, 2) if variant == 0 else self.example_batch(size + 8, 3, width=size + 3)
            return tuple(b[n] for n in self.EXPORT_INPUTS)

        image = {0: "batch", 2: "height", 3: "width"}
        return self.EXPORT_INPUTS, example, (image, image, {0: "batch", 3: "width"})

    def forward(self, model: nn.Module, batch: dict) -> torch.Tensor:
        multi = batch["kspace"].ndim == 5  # multi-coil [B, C, 2, H, W]
        if getattr(model, "multicoil", multi) != multi:
            raise UserError(f"this network was trained on {'multi' if not multi else 'single'}-coil data and "
                            f"cannot take {'multi' if multi else 'single'}-coil files")
        if multi:
            return model(batch["kspace"], batch["mask"], batch.get("sens"))
        return model(batch["input"], batch["kspace"], batch["mask"])

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        """L1 between the reconstruction and the fully sampled complex image (both scaled), as the paper.
        Multi-coil: L1 between its magnitude and the root-sum-of-squares target (scaled), fastMRI's target."""
        out = self.forward(model, batch)
        if batch["kspace"].ndim == 5:
            target = batch["target"] * batch["scale"].view(-1, 1, 1).to(batch["target"].dtype)
            return torch.nn.functional.l1_loss(magnitude(out), target)
        return torch.nn.functional.l1_loss(out, batch["image"])

    # ------------------------------------------------------------------ evaluation
    def _results(self, method: str, reconstruct, save_recons, progress) -> dict:
        ds = self.make_dataset(self.split_files("test"), fixed_masks=True)
        collected = collect(ds, reconstruct, progress=progress)
        results = {
            "task": "csmri",
            "method": method,
            "data": str(self.root),
            "split": "test",
            "accelerations": [float(a) for a in self.options.accelerations],
            "mask": self.options.mask,
            "seed": self.seed,
            **score(collected),
        }
        if save_recons:
            save_reconstructions(collected, save_recons)
        return results

    def draw_panel(self, entries: list[tuple[str, Path]]):
        """Target, each method's reconstruction and its error map, for one 4x and one 8x test slice."""
        from .figures import draw_panel

        return draw_panel(self.make_dataset(self.split_files("test"), fixed_masks=True), entries,
                          len(set(self.options.accelerations)))

    TV_GRID = {"lambda": (0.001, 0.003, 0.01, 0.03, 0.1), "iters": (50, 200)}
    PICS_GRID = {"lambda": (0.001, 0.003, 0.01, 0.03), "iters": (50,)}

    def iterative_settings(self, method: str) -> tuple[float, int]:
        """``(lambda, iterations)`` of ``tv``/``pics`` from the ``data.tv_*`` / ``data.pics_*`` settings."""
        return getattr(self.options, f"{method}_lambda"), getattr(self.options, f"{method}_iters")

    def iterative_reconstructor(self, method: str, lam: float | None = None, iters: int | None = None):
        """TV (``bart pics -R T``, single coil) or PICS (ESPIRiT + ``bart pics -R W``, l1-wavelet) with
        weight ``lam`` and ``iters`` iterations (default: :meth:`iterative_settings`)."""
        default_lam, default_iters = self.iterative_settings(method)
        lam, iters = default_lam if lam is None else lam, default_iters if iters is None else iters
        if method == "tv":
            from .tv import tv_reconstructor

            return tv_reconstructor(lam, iters)
        from .pics import pics_reconstructor

        return pics_reconstructor(lam, iters)

    def tune(self, method: str, progress: bool = True, every: int = 4) -> dict:
        """Choose an iterative method's weight and iteration count on the validation split (every
        ``every``-th slice, fixed masks): the pair with the best mean PSNR. Returns ``{"lambda", "iters",
        "grid"}``."""
        from torch.utils.data import Subset
        from tqdm import tqdm

        ds = self.make_dataset(self.split_files("val"), fixed_masks=True)
        sub = Subset(ds, list(range(0, len(ds), every)))
        grid = []
        g = self.TV_GRID if method == "tv" else self.PICS_GRID
        pairs = [(lam, it) for lam in g["lambda"] for it in g["iters"]]
        for lam, it in tqdm(pairs, desc=f"{method} on val", disable=not progress, leave=False):
            psnr = score(collect(sub, self.iterative_reconstructor(method, lam, it), progress=False))["overall"]["psnr"]["mean"]
            grid.append({"lambda": lam, "iters": it, "val_psnr": psnr})
        best = max(grid, key=lambda g: g["val_psnr"])
        return {"lambda": best["lambda"], "iters": best["iters"], "val_slices": len(sub), "grid": grid}

    def evaluate_method(self, method: str, save_recons: str | None = None, progress: bool = True,
                        tune: bool = False) -> dict:
        """``tune``: choose the method's parameters on the validation split first (TV, PICS)."""
        if method not in self.methods:
            raise UserError(
                f"unknown method {method!r} for task csmri; available: {', '.join(self.methods)} "
                f"(trainable baselines {', '.join(self.trainable_methods)}: use `retrain --method`)"
            )
        if method in self.tunable_methods:
            tuning = self.tune(method, progress) if tune else None
            lam, iters = (tuning["lambda"], tuning["iters"]) if tuning else self.iterative_settings(method)
            results = self._results(method, self.iterative_reconstructor(method, lam, iters), save_recons, progress)
            results[method] = {"lambda": lam, "iters": iters, **({"tuned_on_val": tuning} if tuning else {})}
            return results
        return self._results(method, zero_filled, save_recons, progress)

    def reconstruct(self, path, out, forward=None, method=None, batch_size=8, progress=True, device="cpu"):
        """fastMRI test/challenge files with their own mask, or fully sampled files under-sampled as in
        ``evaluate``; written in fastMRI's submission layout, cropped to ``data.crop`` (``--crop``) or
        the file's reconstruction size (see tasks/csmri/reconstruct.py)."""
        from .reconstruct import model_reconstructor, reconstruct_files

        if forward is not None:
            fn = model_reconstructor(forward, device)
        elif method == "zero-filled":
            fn = zero_filled
        elif method in self.tunable_methods:
            fn = self.iterative_reconstructor(method)
        else:
            raise UserError(f"unknown method {method!r} for reconstruct; choose one of {', '.join(self.methods)}, "
                            "or --checkpoint RUN_DIR for a trained network")
        o = self.options
        mask_func = create_mask_func(o.mask, list(o.accelerations), o.center_fractions, seed=self.seed)

        espirit = o.sens == "espirit" and forward is not None  # a network that takes ESPIRiT maps

        def make_dataset(files, size):
            return SliceDataset(files, mask_func, crop_size=size, fixed_masks=True, seed=self.seed, espirit=espirit)

        files = self.split_files("test") if path is None else list_volumes(path)
        return reconstruct_files(files, Path(out), fn, make_dataset, o.crop, batch_size, progress, espirit)

    def validate(self, model: nn.Module):
        """PSNR and SSIM on the val split (fixed masks), and one slice as zero-filled | output | target."""
        if self.data is not None and not (self.root / "val").is_dir():
            return None
        model.eval()
        ds = self.make_dataset(self.split_files("val"), fixed_masks=True)
        collected = collect(ds, self.model_reconstructor(model), progress=False)
        overall = score(collected)["overall"]
        item = ds[0]
        target, out, _ = collected[item["fname"]][item["slice"]]
        zf = zero_filled({k: (v.unsqueeze(0) if torch.is_tensor(v) else v) for k, v in item.items()})[0].numpy()
        image = np.concatenate([zf, out, target], axis=1) / max(float(target.max()), 1e-30)
        return {"psnr": overall["psnr"]["mean"], "ssim": overall["ssim"]["mean"]}, np.clip(image, 0, 1)

    def model_reconstructor(self, model: nn.Module):
        """batch -> magnitude of ``model``'s output at the data's own scale."""
        from .reconstruct import model_reconstructor

        return model_reconstructor(lambda batch: self.forward(model, batch))

    def evaluate_model(self, model: nn.Module, save_recons: str | None = None, progress: bool = True,
                       method: str = "nas") -> dict:
        model.eval()
        return self._results(method, self.model_reconstructor(model), save_recons, progress)
