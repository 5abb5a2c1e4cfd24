"""Run directories: one per command, never overwritten (``--force`` moves the old one aside)."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import sys
from pathlib import Path

import yaml

from .errors import UserError
from .io import write_text


def quiet_lightning() -> None:
    """Lightning's start-up chatter (GPU/TPU lines, tips) is noise on a CPU CLI."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def move_aside(path: Path) -> Path:
    """Rename an existing output out of the way (``--force`` never deletes)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = path.with_name(f"{path.name}.old-{stamp}")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.name}.old-{stamp}-{n}")
        n += 1
    path.rename(dest)
    return dest


MIN_FREE_BYTES = 100 * 2**20  # checkpoints, logs and figures of a run on the demo config stay well below


def check_free_space(path: Path, need_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail before any work if the file system that will hold ``path`` has less than ``need_bytes`` free."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell (e.g. an odd mount); the write itself will say
    if free < need_bytes:
        raise UserError(f"only {free / 2**20:.0f} MiB free on the disk of {path}; this run needs about "
                        f"{need_bytes / 2**20:.0f} MiB for checkpoints and outputs. Free some space or choose another --out")


def prepare_output(path: Path, force: bool, is_dir: bool = False, need_bytes: int = MIN_FREE_BYTES) -> None:
    """Refuse to overwrite a user's file or folder unless ``--force``, which moves it aside; fail
    early if the disk is nearly full or the folder is not writable."""
    check_free_space(path, need_bytes)
    if path.exists():
        if not force:
            raise UserError(f"{path} already exists; pass --force to move it aside, or choose another --out")
        moved = move_aside(path)
        print(f"moved existing {path} to {moved}", file=sys.stderr)
    parent = path if is_dir else path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"output folder {parent} is not writable")


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


def default_run_dir(kind: str, *parts: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / "-".join([kind, *parts, stamp])


class RunDir:
    """A command's output folder: config, log and artefacts, written atomically."""

    def __init__(self, path: Path, force: bool = False, resume: bool = False, worker: bool = False,
                 need_bytes: int = MIN_FREE_BYTES) -> None:
        self.path = Path(path)
        self.worker = worker  # a DDP process other than rank 0: reads the run directory, never writes it
        if worker:
            return
        if resume:
            if not self.path.is_dir():
                raise UserError(f"--resume: run directory {self.path} does not exist")
            check_free_space(self.path, need_bytes)
        else:
            prepare_output(self.path, force, is_dir=True, need_bytes=need_bytes)
            if any(self.path.iterdir()):
                raise UserError(f"{self.path} is not empty")

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def log(self, msg: str, echo: bool = True) -> None:
        if self.worker:
            return
        if echo:
            print(msg, flush=True)
        with open(self.path / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"[{_dt.datetime.now().isoformat(timespec='seconds')}] {msg}\n")

    def write_config(self, cfg_dict: dict) -> None:
        if self.worker:
            return
        write_text(self.path / "config.yaml", yaml.safe_dump(cfg_dict, sort_keys=False))

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.ckpt"
