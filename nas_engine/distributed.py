"""Several processes (DDP): which rank this is, where the run directory is, the compute settings,
and the reductions every rank must call together.

Batch sizes are *global*: with ``W`` processes each one takes ``batch_size / W``
samples of the same global batch, and DDP averages the gradients, so 1 and W
processes train the same network (up to float rounding).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytorch_lightning as pl
import torch

from .errors import UserError

RUN_DIR_ENV = "NASENGINE_RUN_DIR"


def launched_rank() -> int:
    """Global rank of this process as set by a DDP launcher (Lightning, torchrun); 0 otherwise.

    Lightning starts the other local processes by re-running the same command line with
    ``LOCAL_RANK`` (and ``NODE_RANK`` on other nodes) in the environment; torchrun sets
    ``RANK``, SLURM's srun ``SLURM_PROCID``. Those processes must not create, move or
    write the run directory.
    """
    env = os.environ
    if "RANK" in env:
        return int(env["RANK"])
    if int(env.get("SLURM_NTASKS", 1)) > 1 and "SLURM_PROCID" in env:  # srun: one task per process
        return int(env["SLURM_PROCID"])
    local, node = int(env.get("LOCAL_RANK", 0)), int(env.get("NODE_RANK", 0))
    return node * 10_000 + local  # only "is it zero" matters here


def rank_and_world() -> tuple[int, int]:
    """(global rank, world size) of this process; (0, 1) outside a process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def epoch_mean(trainer: pl.Trainer, values: list[float]) -> float:
    """Mean of this epoch's per-step values over all processes (every rank must call it)."""
    t = torch.tensor([sum(values), float(len(values))], dtype=torch.float64)
    if trainer.world_size > 1:  # on the strategy's device: nccl reduces GPU tensors only
        t = trainer.strategy.reduce(t.to(trainer.strategy.root_device), reduce_op="sum").cpu()
    return float(t[0] / t[1]) if t[1] > 0 else float("nan")


def rank_spread(trainer: pl.Trainer, tensors: list[torch.Tensor]) -> float:
    """Largest difference of ``tensors`` between any process and rank 0 (0.0 in one process).
    Every rank must call it."""
    if trainer.world_size == 1:
        return 0.0
    flat = torch.cat([t.detach().float().flatten() for t in tensors])
    gathered = trainer.strategy.all_gather(flat)  # (world, n)
    return float((gathered - gathered[0]).abs().max())


STRATEGIES = ("auto", "ddp")
ACCELERATORS = ("cpu", "gpu", "auto")


@dataclass
class Compute:
    """Where training runs: Lightning's accelerator/devices/num_nodes/strategy.

    ``devices`` processes per node (CPU processes with the gloo backend, or GPUs with nccl),
    ``num_nodes`` machines; Lightning's DDP launches the extra local processes itself by
    re-running the same command line. ``auto`` with more than one process means ``ddp``.
    """

    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise UserError(f"--accelerator {self.accelerator}: expected one of {', '.join(ACCELERATORS)}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"--ddp-strategy {self.strategy}: expected one of {', '.join(STRATEGIES)} "
                            "(DDP re-runs this command in each process; ddp_spawn and others are not supported)")
        if self.accelerator == "gpu" and not torch.cuda.is_available():
            raise UserError("--accelerator gpu: PyTorch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                            "use --accelerator cpu, or install a CUDA build of torch on a GPU machine")
        for name in ("devices", "num_nodes"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")

    @property
    def world(self) -> int:
        return self.devices * self.num_nodes

    def check_batch(self, batch_size: int, key: str) -> None:
        """The global batch must split evenly over the processes."""
        if batch_size % self.world:
            raise UserError(f"{key}={batch_size} cannot be split over {self.world} processes (the batch size is "
                            f"global); use a multiple of {self.world}: --set {key}={self.world * max(1, batch_size // self.world)}")

    def cli_args(self) -> list[str]:
        """The command-line flags that give these settings (the defaults left out)."""
        out = []
        for name, flag, default in (("accelerator", "--accelerator", "cpu"), ("devices", "--devices", 1),
                                    ("num_nodes", "--num-nodes", 1), ("strategy", "--ddp-strategy", "auto")):
            if getattr(self, name) != default:
                out += [flag, str(getattr(self, name))]
        return out

    def trainer_kwargs(self) -> dict:
        # Lightning's DDP uses gloo for CPU processes and nccl for GPUs
        strategy = "ddp" if self.strategy == "auto" and self.world > 1 else self.strategy
        return {"accelerator": self.accelerator, "devices": self.devices, "num_nodes": self.num_nodes,
                "strategy": strategy}


