"""Run directories: one per command, never overwritten (``--force`` moves the old one aside)."""

from __future__ import annotations

import datetime as _dt
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import yaml

from .errors import UserError
from .files import read_json, write_json, write_text


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
        usage = shutil.disk_usage(probe)
    except OSError:
        return  # cannot tell (e.g. an odd mount); the write itself will say
    free = usage.free
    if usage.total == 0:  # /proc, /sys: no disk behind it, so no "free space" to speak of
        raise UserError(f"{path}: {probe} is on a virtual file system (like /proc or /sys), not a disk; choose "
                        "another --out")
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


def default_run_dir(kind: str, *parts: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / "-".join([kind, *parts, stamp])


LOCK_NAME = ".lock"
COST_NAME = "cost.json"


def cpu_seconds() -> float:
    """CPU time of this process, all its threads, plus that of its children that have ended (data
    loader workers, DDP processes, subprocess steps), user and system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


_SPEED: list[float] = []


def matmul_gflops() -> float:
    """This CPU's speed as one thread's float64 256x256 matmul rate (GFLOP/s, best of 20), measured
    once per process: machines of one kind differ severalfold, so a cost in CPU seconds is kept with
    the speed it was spent at (``cpu_s * matmul_gflops`` compares across machines)."""
    if not _SPEED:
        import torch

        a = torch.randn(256, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        best, threads = float("inf"), torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for _ in range(20):
                t0 = time.perf_counter()
                a @ a
                best = min(best, time.perf_counter() - t0)
        finally:
            torch.set_num_threads(threads)
        _SPEED.append(2 * 256 ** 3 / best / 1e9)
    return _SPEED[0]


def read_cost(folder: Path) -> dict | None:
    """A run folder's ``cost.json`` (every call that worked in it, summed), or None."""
    return read_json(Path(folder) / COST_NAME)


ECHO = True  # print log lines as well as writing them (False: --quiet)
COMMAND_START: float | None = None  # when the running command began (None: when this process started)


class RunDir:
    """A command's output folder: config, log and artefacts, written atomically.

    While a process writes it, the folder is locked (``.lock``, an advisory ``flock`` that the
    kernel drops when the process ends, however it ends): a second command on the same folder
    stops with one line. ``command`` (``search``/``retrain``) is what the ``--resume`` hints name.
    """

    def __init__(self, path: Path, force: bool = False, resume: bool = False, worker: bool = False,
                 need_bytes: int = MIN_FREE_BYTES, command: str = "") -> None:
        self.path = Path(path)
        self.worker = worker  # a DDP process other than rank 0: reads the run directory, never writes it
        self.command = command
        self.created = False  # made by this command: removed again if it fails before training
        self._lock = None
        if worker:
            return
        self._cpu0, self._wall0 = cpu_seconds(), time.perf_counter()
        self._started = _dt.datetime.now().isoformat(timespec="seconds")
        self._call = os.urandom(6).hex()  # this call's entry in cost.json (two calls may start in one second)
        if resume:
            if not self.path.is_dir():
                raise UserError(f"--resume: run directory {self.path} does not exist")
            check_free_space(self.path, need_bytes)
        else:
            prepare_output(self.path, force, is_dir=True, need_bytes=need_bytes)
            if any(self.path.iterdir()):
                raise UserError(f"{self.path} is not empty")
            self.created = True
        self._acquire()

    def _acquire(self) -> None:
        import fcntl

        f = open(self.path / LOCK_NAME, "a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:  # a lock file removed by a run that just ended (release) and made anew: lock the new one
                same = os.fstat(f.fileno()).st_ino == os.stat(self.path / LOCK_NAME).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                f.close()
                return self._acquire()
        except OSError:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise UserError(f"run directory {self.path} is in use ({who}); wait for that run to end or stop "
                            "it, or choose another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"nasengine pid {os.getpid()}\n")
        f.flush()
        self._lock = f

    def record_cost(self) -> None:
        """Write ``cost.json``: this call's CPU and wall seconds so far beside those of every earlier call
        on this folder (a resumed run counts all its parts), and their sums. Called at every epoch's end
        and when the run ends, so a killed call loses at most its last epoch."""
        if self.worker or self._lock is None:
            return
        old = read_cost(self.path) or {"calls": []}
        calls = [c for c in old.get("calls", []) if c.get("call") != self._call]
        calls.append({"call": self._call, "started": self._started, "command": self.command, "pid": os.getpid(),
                      "cpu_s": round(cpu_seconds() - self._cpu0, 2),
                      "wall_s": round(time.perf_counter() - self._wall0, 2), "matmul_gflops": round(matmul_gflops(), 3),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")})
        write_json(self.path / COST_NAME, {
            "cpu_s": round(sum(c["cpu_s"] for c in calls), 2), "wall_s": round(sum(c["wall_s"] for c in calls), 2),
            "gflop_s_spent": round(sum(c["cpu_s"] * c["matmul_gflops"] for c in calls), 1),
            "note": "cpu_s: process CPU time (all threads, ended children), every call on this folder summed; "
                    "gflop_s_spent: cpu_s times the call's one-thread matmul GFLOP/s (compares machines); "
                    "omp_wait_policy: with ACTIVE (OpenMP's default) cpu_s counts threads spinning while they wait",
            "calls": calls})

    def release(self) -> None:
        """Drop the lock and remove ``.lock`` (a finished run leaves no lock file behind)."""
        if self._lock is not None:
            self.record_cost()
            (self.path / LOCK_NAME).unlink(missing_ok=True)  # while still held: no one else holds this inode
            self._lock.close()  # closing the file drops the lock
            self._lock = None

    def discard_if_unused(self) -> None:
        """After a failure before any checkpoint: remove the folder if this command made it."""
        self.release()
        if self.created and not self.worker and not self.checkpoint.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def resume_hint(self) -> str:
        return f"nasengine {self.command or '<command>'} --resume --out {self.path}"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def log(self, msg: str, echo: bool = True) -> None:
        if self.worker:
            return
        if echo and ECHO:
            from tqdm import tqdm

            tqdm.write(msg)  # above a progress bar that is open, not appended to it
            sys.stdout.flush()
        with open(self.path / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"[{_dt.datetime.now().isoformat(timespec='seconds')}] {msg}\n")

    def write_config(self, cfg_dict: dict) -> None:
        if self.worker:
            return
        write_text(self.path / "config.yaml", yaml.safe_dump(cfg_dict, sort_keys=False))

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.ckpt"
