"""What every command shares: plugins, config resolution from the command line, the task, the run
directory and the compute settings."""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import RunFailed, UserError
from ..task import TASKS, get_task, load_task_entry_points

DEFAULT_TASK = "csmri"


def load_plugins(specs: list[str]) -> None:
    """Register the installed tasks and ops (entry points), then the ``--plugin`` files/modules."""
    from search_spaces import load_entry_point_plugins, load_plugin

    load_task_entry_points()
    load_entry_point_plugins()
    for p in specs:
        load_plugin(p)


def plugin_args(argv: list[str]) -> list[str]:
    """The ``--plugin`` values of a command line, before it is parsed (tasks and ops they register
    must exist when the parser is built)."""
    out = []
    for k, a in enumerate(argv):
        if a == "--plugin" and k + 1 < len(argv):
            out.append(argv[k + 1])
        elif a.startswith("--plugin="):
            out.append(a.split("=", 1)[1])
    return out


def saved_config(args: argparse.Namespace) -> dict | None:
    """With ``--resume``, the run's own ``config.yaml`` (read once per command); otherwise None."""
    if not hasattr(args, "saved_config"):
        path = Path(args.out) / "config.yaml" if getattr(args, "resume", False) and args.out else None
        if path is not None and path.is_file():
            from ..config import load_yaml

            args.saved_config = load_yaml(path)
        else:
            args.saved_config = None
    return args.saved_config


def resolve_config(args: argparse.Namespace, section: str | None = None, data_overrides: dict | None = None):
    """Preset/YAML + --set + command-line overrides -> (task class, Config)."""
    from ..config import build_config, resolve

    # --resume continues with the run's own config; command-line options still apply on top
    saved = saved_config(args)
    base = {k: v for k, v in saved.items() if k != "space"} if saved else None
    task_name = args.task or (base or {}).get("task") or DEFAULT_TASK
    task_cls = get_task(task_name)
    args.task = task_name
    overrides: dict = {"task": task_name}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.data is not None:
        overrides["data_path"] = args.data
    if section and getattr(args, "epochs", None) is not None:
        overrides[section] = {"epochs": args.epochs}
    if data_overrides:
        overrides["data"] = data_overrides
    raw = resolve(args.config, args.set, overrides, task_cls.presets, base=base)
    return task_cls, build_config(raw)


def make_task(task_cls, cfg):
    return task_cls(cfg.data, data=cfg.data_path, seed=cfg.seed)


def task_flag_overrides(args: argparse.Namespace, task_cls, kind: str = "cli_options") -> dict:
    """``data`` overrides from the task-specific flags of ``evaluate`` (e.g. CS-MRI's ``--accelerations``),
    or (``kind="build_options"``) the keyword arguments of ``data build``; a flag of another task is an
    error, not silently ignored."""
    out = {}
    mine = {o.flag for o in getattr(task_cls, kind)}
    for cls in TASKS.values():
        for o in getattr(cls, kind):
            v = getattr(args, o.flag.lstrip("-").replace("-", "_"), None)
            if v is None:
                continue
            if o.flag not in mine:
                raise UserError(f"{o.flag} is an option of task {cls.name}; task {task_cls.name} does not take it")
            out[o.key] = v
    return out


def open_run(args: argparse.Namespace, kind: str, label: str, model=None):
    """The run directory of ``search``/``retrain``: new (``--force`` moves an old one aside) or resumed,
    and locked while this process writes it.

    Under DDP, Lightning re-runs this command line in each extra process; those processes use
    rank 0's directory (passed on in the environment) and never create, move or write it.
    """
    from ..distributed import RUN_DIR_ENV, launched_rank
    from ..rundir import MIN_FREE_BYTES, RunDir, default_run_dir

    if args.resume and not args.out:
        raise UserError("--resume needs --out RUN_DIR (the run to continue)")
    if launched_rank() > 0:
        return RunDir(Path(os.environ.get(RUN_DIR_ENV) or args.out or "."), worker=True)
    out = Path(args.out) if args.out else default_run_dir(kind, args.task, label)
    need = MIN_FREE_BYTES
    if model is not None:  # checkpoint (weights + Adam's two moments) and its temp copy, plus model.pt
        need += 7 * 4 * sum(p.numel() for p in model.parameters())
    run = RunDir(out, force=args.force, resume=args.resume, need_bytes=need, command=kind)
    os.environ[RUN_DIR_ENV] = str(run.path)  # inherited by the processes DDP starts
    plugins = [str(Path(p).resolve()) if Path(p).exists() else p for p in getattr(args, "plugin", None) or []]
    if plugins:  # what evaluate/reconstruct/export of this run will need too (load_trained names them)
        from ..files import write_json

        write_json(run / "plugins.json", plugins)
    return run


@contextmanager
def discard_on_bad_input(run):
    """A command that fails on bad input before training wrote a checkpoint leaves no run directory
    behind (one it made; a resumed run's folder is the user's and stays). A run that failed while
    training (diverged, interrupted) keeps its folder: its log says what happened."""
    try:
        yield run
    except Exception as e:
        if not isinstance(e, RunFailed):
            run.discard_if_unused()
        raise
    finally:
        run.release()


def compute_of(args: argparse.Namespace):
    from ..distributed import Compute

    try:
        return Compute(accelerator=args.accelerator, devices=args.devices, num_nodes=args.num_nodes,
                       strategy=args.strategy)
    except UserError as e:
        from ..oneshot.strategies import STRATEGIES

        if args.strategy in STRATEGIES:  # a search strategy given to --ddp-strategy (old name --strategy)
            raise UserError(f"{e}; --ddp-strategy (old name --strategy) spreads a run over processes: for the "
                            f"search strategy write --set search.strategy={args.strategy}") from None
        raise


def passthrough(args: argparse.Namespace) -> list[str]:
    """This command's shared options, to hand on to the commands it runs."""
    seed = getattr(args, "seed", None)
    return ((["--config", args.config] if args.config else []) + [x for s in args.set for x in ("--set", s)]
            + (["--data", args.data] if args.data else []) + (["--seed", str(seed)] if seed is not None else [])
            + [x for p in getattr(args, "plugin", None) or [] for x in ("--plugin", p)]
            + (["--no-progress"] if args.no_progress else []))


def add_common(p: argparse.ArgumentParser, epochs: bool = False,
               data_help: str = "dataset root with train/ val/ test/ (default: the embedded dataset)") -> None:
    p.add_argument("--task", default=None, help=f"task name (see `nasengine tasks`; default {DEFAULT_TASK})")
    p.add_argument("--config", help="preset (demo, bench, paper, tiny) or a YAML file (default: demo)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.channels=8 (repeatable)")
    p.add_argument("--data", help=data_help)
    p.add_argument("--seed", type=int, default=None, help="seed of the weights, data order and masks (default: the "
                   "config's, 0)")
    add_plugin(p)
    if epochs:
        p.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (also when stderr is not a terminal)")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no per-epoch lines")


def add_plugin(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[],
                   help="a .py file or module that registers ops or tasks (repeatable)")


def add_logger(p: argparse.ArgumentParser) -> None:
    p.add_argument("--logger", default="csv", help="csv (default: metrics.csv in the run directory, always written) "
                   "or tensorboard (also event files in RUN/tensorboard: losses, learning rate, alphas, validation)")


def add_compute(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compute (PyTorch Lightning; batch sizes stay global)")
    g.add_argument("--accelerator", default="cpu", help="cpu (default), gpu or auto")
    g.add_argument("--devices", type=int, default=1, help="processes (CPU) or GPUs per node; >1 uses DDP")
    g.add_argument("--num-nodes", type=int, default=1, help="machines; start the same command on each with "
                   "MASTER_ADDR, MASTER_PORT, NODE_RANK set (see docs/running.md)")
    g.add_argument("--ddp-strategy", "--strategy", dest="strategy", default="auto",
                   help="how several processes train: auto (DDP when more than one process) or ddp (--strategy: the "
                        "same, its older name; the search strategy is the config key search.strategy)")


