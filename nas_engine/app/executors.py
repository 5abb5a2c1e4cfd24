"""Where a benchmark's entries run: one after another in this process (``local``, the default), or as
Ray tasks (``ray``) on this machine's cores or on a Ray cluster.

A benchmark is a list of independent (row, seed) entries, each a search and/or a retraining and an
evaluation that writes its kept folder (``results.json`` last, atomically: its presence marks the
entry done). The Ray executor submits each entry as a task with its own CPU/GPU resources and thread
count; the workers write the kept results themselves, so ``--out`` and ``--work`` must be on storage
every node sees (this machine alone: nothing to share). The driver rewrites the report after every
finished entry. A task whose worker dies is run again (``RETRIES`` times); an entry that fails by
itself is reported with its log; a rerun of the same command continues, since kept entries are
done. Ctrl-C cancels what is running.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UserError

EXECUTORS = ("local", "ray")
RETRIES = 2  # a task whose worker dies (killed, out of memory, a node lost) runs again this many times


@dataclass(frozen=True)
class Executor:
    kind: str = "local"
    workers: int = 0  # ray: entries at a time on this machine (0: as many as its cores allow)
    address: str | None = None  # ray: a running cluster ("auto": the one this node belongs to)
    cpus_per_entry: float = 1.0
    gpus_per_entry: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise UserError(f"--executor {self.kind}: choose one of {', '.join(EXECUTORS)}")
        if self.workers < 0 or self.cpus_per_entry <= 0 or self.gpus_per_entry < 0:
            raise UserError("--workers must be >= 0, --cpus-per-entry > 0 and --gpus-per-entry >= 0")
        if self.kind == "local" and (self.workers or self.address or self.gpus_per_entry):
            raise UserError("--workers, --address and --gpus-per-entry are options of --executor ray")

    def run(self, jobs: list, plan, run_one: Callable, done: Callable[[], None]) -> None:
        """Run ``run_one(entry, seed, plan)`` for every ``(entry, seed)`` of ``jobs`` in waves (a
        list of lists: a wave starts when the one before has finished), calling ``done()`` after each."""
        if self.kind == "local":
            n, total = 0, sum(len(w) for w in jobs)
            for wave in jobs:
                for e, seed in wave:
                    n += 1
                    print(f"\n=== {n}/{total}: {e.name}, seed {seed}", flush=True)
                    run_one(e, seed, plan)
                    done()
            return
        self._run_ray(jobs, plan, run_one, done)

    # ------------------------------------------------------------------ ray
    def _run_ray(self, jobs: list, plan, run_one: Callable, done: Callable[[], None]) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'nasengine[ray]'") from None
        from tqdm import tqdm

        if self.address:
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
            except (ConnectionError, RuntimeError) as err:
                first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                raise UserError(f"--address {self.address}: no Ray cluster there ({first}); start one with "
                                "`ray start --head`, or leave out --address for this machine") from None
        else:
            cpus = os.cpu_count() or 1
            if self.workers:
                cpus = max(1, int(round(self.workers * self.cpus_per_entry)))
            ray.init(num_cpus=cpus, num_gpus=None if self.gpus_per_entry else 0, include_dashboard=False,
                     log_to_driver=False, ignore_reinit_error=True)
        threads = max(1, int(self.cpus_per_entry))
        task = ray.remote(num_cpus=self.cpus_per_entry, num_gpus=self.gpus_per_entry, max_retries=RETRIES,
                          retry_exceptions=False)(run_entry_in_worker)
        total = sum(len(w) for w in jobs)
        failed: list[str] = []
        bar = tqdm(total=total, desc="entries", unit="entry", file=sys.stdout, disable=not sys.stdout.isatty())
        pending: dict = {}
        try:
            for wave in jobs:
                pending = {task.remote(e, seed, plan, threads, run_one): (e, seed) for e, seed in wave}
                for e, seed in wave:
                    tqdm.write(f"[{e.name} seed {seed}] submitted")
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        e, seed = pending.pop(ref)
                        log = log_path(plan, e, seed)
                        try:
                            ray.get(ref)
                            tqdm.write(f"[{e.name} seed {seed}] done (log: {log})")
                        except Exception as err:  # the task's error, or its worker lost RETRIES + 1 times
                            first = (str(err).strip().splitlines() or [type(err).__name__])[-1]
                            failed.append(f"{e.name} seed {seed} ({first}; log: {log})")
                            tqdm.write(f"[{e.name} seed {seed}] FAILED: {first} (log: {log})")
                        bar.update(1)
                        done()
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            bar.close()
            ray.shutdown()
        if failed:
            raise UserError(f"{len(failed)} of {total} entries failed: {'; '.join(failed)}; the others are kept, "
                            "and the same command reruns the failed ones")


def log_path(plan, e, seed: int) -> Path:
    """An entry's output under Ray: beside, not in, its work folder (which must hold only its runs)."""
    return plan.work / "logs" / f"{e.slug}-seed{seed}.log"


def run_entry_in_worker(e, seed: int, plan, threads: int, run_one: Callable) -> str:
    """One (entry, seed) in a Ray worker: its own thread count, its output in ``--work/logs/``, the
    command line's steps in this process."""
    import contextlib

    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    log = log_path(plan, e, seed)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        print(f"[{e.name} seed {seed}] Ray worker pid {os.getpid()}, {threads} thread(s)", flush=True)
        return str(run_one(e, seed, plan))  # run_one, plan.cli: functions, pickled by reference
