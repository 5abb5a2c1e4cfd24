"""``nasengine benchmark``: complexity (Table I's columns), the paper's tables over seeds, random cells."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..errors import UserError
from .options import compute_of, make_task, passthrough, resolve_config


def cmd_benchmark_complexity(args: argparse.Namespace) -> int:
    from ..complexity import complexity_rows, format_complexity

    if args.config is None:
        args.config = "paper"  # Table I is at the paper's configuration
    task_cls, cfg = resolve_config(args)
    task = make_task(task_cls, cfg)
    say = (lambda *_: None) if args.json else (lambda m: print(m, file=sys.stderr))
    rows = complexity_rows(task, cfg, task.paper_methods, args.genotype, args.size,
                           with_latency=not args.no_latency, progress=say)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"reconstruction modules only, all cascades, one {task.in_channels}x{args.size}x{args.size} input "
              "(ptflops, pytorch backend); latency = whole network incl. data consistency, batch 1, this CPU")
        print(format_complexity(rows))
    return 0


def config_defaults(task_cls) -> dict:
    """The default of every setting, flat: the engine's and the task's (``data.*``)."""
    import dataclasses

    from ..config import Config
    from .tables import flat_config

    return {**flat_config(Config().to_dict()), **flat_config({"data": dataclasses.asdict(task_cls.Options())})}


def preload_modules(*packages: str) -> list[str]:
    """Import every module of ``packages`` now. A benchmark runs for hours and imports most modules
    lazily, the first time a row needs one; a module edited in the meantime (a checkout, a pull)
    would then run new code against old code already loaded (this crashed a table1 row once).
    Modules whose optional dependencies are missing are skipped. Returns the names imported."""
    import importlib
    import pkgutil

    done = []
    for name in packages:
        pkg = importlib.import_module(name)
        for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), f"{name}."):
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional extra (export, tensorboard) not installed
                continue
            done.append(info.name)
    return done


def _plan(args: argparse.Namespace, what: str):
    """The shared settings of a benchmark run (tables and random) from its options."""
    from .tables import Plan, tables_of

    task_cls, cfg = resolve_config(args)
    preload_modules("nas_engine", "search_spaces", task_cls.__module__.rpartition(".")[0] or task_cls.__module__)
    compute = compute_of(args)
    compute.check_batch(cfg.search.batch_size, "search.batch_size")
    compute.check_batch(cfg.search.arch_batch_size, "search.arch_batch_size")
    compute.check_batch(cfg.train.batch_size, "train.batch_size")
    if args.seeds < 1 or args.other_seeds < 1:
        raise UserError(f"--seeds and --other-seeds must be at least 1, got {args.seeds} and {args.other_seeds}")
    task = make_task(task_cls, cfg)
    preset = args.config or "demo"
    base_seed = args.seed or 0
    args.config, args.no_progress, args.seed = preset, True, None
    common = ["--task", task.name] + passthrough(args)
    default_out = Path("benchmarks/results") / (what if preset == "bench" else f"{Path(preset).stem}/{what}")
    # csmri's work folders keep their place; another task's runs get a folder of their own (a shared one would
    # hold the other task's experiments and refuse)
    work = f"runs/benchmark/{Path(preset).stem}" if task.name == "csmri" else f"runs/benchmark/{task.name}/{Path(preset).stem}"
    plan = Plan(cli=args.cli, common=common, work=Path(args.work or work),
                out=Path(args.out or default_out), seeds=args.seeds, other_seeds=args.other_seeds,
                base_seed=base_seed, compute=compute.cli_args(), preset=preset, sets=list(args.set), data=args.data,
                config={k: v for k, v in cfg.to_dict().items() if k != "seed"}, defaults=config_defaults(task_cls),
                tables=tables_of(task), run_first=task.benchmark_run_first, tunable=tuple(task.tunable_methods),
                complexity_size=task.complexity_size, executor=executor_of(args),
                restore_weights=getattr(args, "restore_weights", False))
    if plan.executor.kind != "local":
        task.describe_data()  # the embedded data built once here, not by every worker at once
    argv = sys.argv[2:] if sys.argv[1:2] == ["benchmark"] else [what]
    return task, cfg, plan, "nasengine benchmark " + shlex.join(reproducible_argv(argv, default_out))


def reproducible_argv(argv: list[str], default_out: Path) -> list[str]:
    """The benchmark's own arguments as a report's "Made by" line gives them: without ``--work``
    (where the intermediate runs live changes no result) and without an ``--out`` that is the default
    results folder (by an absolute path or from another checkout), so the line reruns from any clone."""
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        name, eq, value = a.partition("=")
        if name in ("--work", "--out"):
            if not eq:
                value, skip = (argv[i + 1] if i + 1 < len(argv) else ""), True
            if name == "--work" or Path(value).parts[-len(default_out.parts):] == default_out.parts:
                continue
            out += [name, value]
            continue
        out.append(a)
    return out


def halving_of(args: argparse.Namespace) -> int:
    if args.halving and args.halving < 2:
        raise UserError(f"--halving {args.halving}: eta must be at least 2 (keep the best 1/eta at each rung)")
    return args.halving or 0


def executor_of(args: argparse.Namespace):
    from .executors import Executor

    return Executor(args.executor, args.workers, args.address, args.cpus_per_entry, args.gpus_per_entry)


def cmd_benchmark_table(args: argparse.Namespace) -> int:
    from .tables import run_table

    task_cls, _ = resolve_config(args)
    for s in task_cls({}, data=args.data).benchmark_sets(args.table):  # a table's own defaults (table_mc: coils)
        if not any(x.startswith(s.split("=", 1)[0] + "=") for x in args.set):
            args.set.append(s)
    task, _, plan, command = _plan(args, args.table)
    task.check_table(args.table)
    only = [x.strip() for x in args.only.split(",")] if args.only else None
    report = run_table(args.table, task, plan, command, only)
    print(f"\nreport: {report}")
    return 0


def cmd_benchmark_random(args: argparse.Namespace) -> int:
    from search_spaces import load_space

    from .tables import run_random

    space = load_space(args.space)
    ops = [x.strip() for x in args.ops.split(",") if x.strip()] if args.ops is not None else None
    task, cfg, plan, command = _plan(args, "random" if ops is None else f"random_{'_'.join(ops)}")
    report = run_random(task, space, cfg, args.n, plan, command, ops, halving=halving_of(args))
    print(f"\nreport: {report}")
    return 0


def cmd_benchmark_space(args: argparse.Namespace) -> int:
    from search_spaces import load_space

    from .tables import run_space

    space = load_space(args.space)
    args.other_seeds = args.search_seeds  # the searched rows' seeds (the samples': --seeds)
    task, cfg, plan, command = _plan(args, f"space_{space.name}")
    search = [x.strip() for x in args.search.split(",") if x.strip()] if args.search else []
    limits = [x.strip() for x in args.flops_limits.split(",") if x.strip()] if args.flops_limits else []
    report = run_space(task, space, cfg, args.n, plan, command, search, halving=halving_of(args), flops_limits=limits)
    print(f"\nreport: {report}")
    return 0


def cmd_benchmark_rescore(args: argparse.Namespace) -> int:
    import re

    from ..task import get_task
    from .options import DEFAULT_TASK, task_flag_overrides
    from .rescore import rescore_table

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.tag):
        raise UserError(f"--tag {args.tag!r}: use letters, digits, '_', '-' or '.' (it names files)")
    if not Path(args.data).exists():
        raise UserError(f"--data {args.data}: no such file or directory")
    overrides = task_flag_overrides(args, get_task(DEFAULT_TASK))
    report = rescore_table(Path(args.table), args.data, overrides, args.tag, progress=not args.no_progress)
    print(report.read_text(), end="")
    print(f"report: {report}")
    return 0


def cmd_benchmark_pool(args: argparse.Namespace) -> int:
    from .pool_report import write_pool_report

    if args.draws < 1:
        raise UserError(f"--draws {args.draws}: give at least 1")
    report = write_pool_report(Path(args.results), draws=args.draws, proxies=not args.no_proxies,
                               progress=not args.no_progress)
    print(report.read_text(), end="")
    print(f"report: {report}  pool: {report.with_name('pool.json')}")
    return 0
