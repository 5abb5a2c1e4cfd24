"""Command line: ``nasengine <command> ...``.

Every user error is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Sequence

from .errors import RunFailed, UserError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``nasengine <cmd>: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def _quiet_third_party() -> None:
    # NNI on torch 2.13 warns about non-Module classes; Lightning about LeafSpec and workers. Harmless.
    warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


# ---------------------------------------------------------------- shared helpers
def _plugins(args: argparse.Namespace) -> None:
    from search_spaces import load_entry_point_plugins, load_plugin

    load_entry_point_plugins()
    for p in getattr(args, "plugin", None) or []:
        load_plugin(p)


def _saved_config(args: argparse.Namespace) -> dict | None:
    """With ``--resume``, the run's own ``config.yaml`` (read once per command); otherwise None."""
    if not hasattr(args, "saved_config"):
        path = Path(args.out) / "config.yaml" if getattr(args, "resume", False) and args.out else None
        if path is not None and path.is_file():
            from .config import load_yaml

            args.saved_config = load_yaml(path)
        else:
            args.saved_config = None
    return args.saved_config


def _config(args: argparse.Namespace, section: str | None = None, data_overrides: dict | None = None):
    """Preset/YAML + --set + command-line overrides -> (task class, Config)."""
    from tasks import get_task

    from .config import build_config, resolve

    # --resume continues with the run's own config; command-line options still apply on top
    saved = _saved_config(args)
    base = {k: v for k, v in saved.items() if k != "space"} if saved else None
    task_name = args.task or (base or {}).get("task") or "csmri"
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


def _make_task(task_cls, cfg):
    return task_cls(cfg.data, data=cfg.data_path, seed=cfg.seed)


def _open_run(args: argparse.Namespace, kind: str, label: str, model=None):
    """The run directory of ``search``/``retrain``: new (``--force`` moves an old one aside) or resumed.

    Under DDP, Lightning re-runs this command line in each extra process; those processes use
    rank 0's directory (passed on in the environment) and never create, move or write it.
    """
    import os

    from .run import MIN_FREE_BYTES, RUN_DIR_ENV, RunDir, default_run_dir, launched_rank

    if args.resume and not args.out:
        raise UserError("--resume needs --out RUN_DIR (the run to continue)")
    if launched_rank() > 0:
        return RunDir(Path(os.environ.get(RUN_DIR_ENV) or args.out or "."), worker=True)
    out = Path(args.out) if args.out else default_run_dir(kind, args.task, label)
    need = MIN_FREE_BYTES
    if model is not None:  # checkpoint (weights + Adam's two moments) and its temp copy, plus model.pt
        need += 7 * 4 * sum(p.numel() for p in model.parameters())
    run = RunDir(out, force=args.force, resume=args.resume, need_bytes=need)
    os.environ[RUN_DIR_ENV] = str(run.path)  # inherited by the processes DDP starts
    return run


def _compute(args: argparse.Namespace):
    from .lightning import Compute

    return Compute(accelerator=args.accelerator, devices=args.devices, num_nodes=args.num_nodes,
                   strategy=args.strategy)


def _add_common(p: argparse.ArgumentParser, epochs: bool = False) -> None:
    p.add_argument("--task", default=None, help="task name (see `nasengine tasks`; default csmri)")
    p.add_argument("--config", help="preset (demo, paper, tiny) or a YAML file (default: demo)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.channels=8 (repeatable)")
    p.add_argument("--data", help="dataset root with train/ val/ test/ (default: the embedded dataset)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--plugin", action="append", default=[], help="a .py file or module that registers ops")
    if epochs:
        p.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_compute(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compute (PyTorch Lightning; batch sizes stay global)")
    g.add_argument("--accelerator", default="cpu", help="cpu (default), gpu or auto")
    g.add_argument("--devices", type=int, default=1, help="processes (CPU) or GPUs per node; >1 uses DDP")
    g.add_argument("--num-nodes", type=int, default=1, help="machines; start the same command on each with "
                   "MASTER_ADDR, MASTER_PORT, NODE_RANK set (see README)")
    g.add_argument("--strategy", default="auto", help="auto (DDP when more than one process) or ddp")


# ---------------------------------------------------------------- tasks / ops / spaces
def cmd_tasks(args: argparse.Namespace) -> int:
    from tasks import TASKS

    for name, cls in sorted(TASKS.items()):
        methods = f"  [methods: {', '.join(cls.methods)}]" if cls.methods else ""
        print(f"{name:10s} {cls.summary}{methods}")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from search_spaces import OPS

    from .complexity import count, human

    _plugins(args)
    c, s = args.channels, args.size
    print(f"{'op':18s} {'params':>8s} {'FLOPs':>9s}   (C={c}, one {c}x{s}x{s} input, ptflops)")
    for name in sorted(OPS):
        flops, params = count(OPS[name](c), (c, s, s))
        print(f"{name:18s} {params:8d} {human(flops):>9s}")
    return 0


def cmd_spaces(args: argparse.Namespace) -> int:
    from search_spaces import SPACES

    for name, ops in SPACES.items():
        print(f"{name}: {', '.join(ops)}")
    print("custom: --space my_space.yaml (a YAML list of op names; see `nasengine ops`)")
    return 0


# ---------------------------------------------------------------- data
def cmd_data_build(args: argparse.Namespace) -> int:
    from tasks import get_task

    out = get_task(args.task).data_build(args.out, args.size, args.seed)
    print(f"embedded dataset written to {out}")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from tasks import get_task

    print(get_task(args.task).data_inspect(args.file))
    return 0


# ---------------------------------------------------------------- search / retrain
def cmd_search(args: argparse.Namespace) -> int:
    from search_spaces import load_space

    _plugins(args)
    if args.space is None:  # --resume keeps the run's space unless another is given
        args.space = ((_saved_config(args) or {}).get("space") or {}).get("name")
    space = load_space(args.space or "A")
    task_cls, cfg = _config(args, "search")
    compute = _compute(args)
    compute.check_batch(cfg.search.batch_size, "search.batch_size")
    task = _make_task(task_cls, cfg)
    run = _open_run(args, "search", space.name)
    run.write_config({**cfg.to_dict(), "space": {"name": space.name, "ops": list(space.ops)}})
    from .search import run_search

    geno = run_search(task, space, cfg, run, resume=args.resume, progress=not args.no_progress, compute=compute)
    if run.worker:
        return 0
    print(str(geno))
    print(f"run directory: {run.path}  (genotype.json, genotype.txt, cell.png, alphas.csv, log.txt)")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from .genotype import Genotype
    from .io import write_text
    from .train import build_model, run_retrain

    _plugins(args)
    if (args.genotype is None) == (args.method is None):
        raise UserError("give exactly one of --genotype G.json (a searched net) or --method NAME (a baseline)")
    geno = Genotype.load(args.genotype) if args.genotype else None
    task_cls, cfg = _config(args, "train")
    if geno is not None:
        # The genotype fixes the cell (its nodes). Its cell count is the default depth; an explicit
        # --set model.cells=K stacks the same cell K times (search shallow, retrain deep, as DARTS does).
        from dataclasses import replace

        if any(item.split("=", 1)[0].strip() == "model.cells" for item in args.set):
            geno = replace(geno, cells=cfg.model.cells)
        cfg.model.cells, cfg.model.nodes = geno.cells, geno.nodes
    cfg.method = args.method
    compute = _compute(args)
    compute.check_batch(cfg.train.batch_size, "train.batch_size")
    task = _make_task(task_cls, cfg)
    # unknown baseline or op (e.g. a plugin not given) -> clear error before the run directory exists
    model = build_model(task, cfg, geno)
    run = _open_run(args, "retrain", geno.space if geno is not None else args.method, model)
    run.write_config(cfg.to_dict())
    if geno is not None and not run.worker:
        write_text(run / "genotype.json", geno.to_json())
    run_retrain(task, model, cfg, run, resume=args.resume, progress=not args.no_progress, compute=compute)
    if run.worker:
        return 0
    print(f"trained weights: {run / 'model.pt'}  (evaluate with: nasengine evaluate --checkpoint {run.path})")
    return 0


# ---------------------------------------------------------------- evaluate
def _fmt_row(name: str, m: dict) -> str:
    return (
        f"{name:>8s}  {m['psnr']['mean']:6.2f} ± {m['psnr']['std']:4.2f}  "
        f"{m['ssim']['mean']:.4f} ± {m['ssim']['std']:.4f}  "
        f"{m['nmse']['mean']:.4f}  {m['n_volumes']:3d}"
    )


def print_summary(results: dict) -> None:
    print(f"{'accel':>8s}  {'PSNR (dB)':>13s}  {'SSIM':>15s}  {'NMSE':>6s}  vols")
    for acc, m in results.get("by_acceleration", {}).items():
        print(_fmt_row(f"{acc}x", m))
    print(_fmt_row("all", results["overall"]))


def _eval_data_overrides(args: argparse.Namespace) -> dict:
    out = {}
    for key in ("accelerations", "center_fractions", "mask", "crop"):
        v = getattr(args, key, None)
        if v is not None:
            out[key] = v
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .io import write_json
    from .run import prepare_output

    if (args.method is None) == (args.checkpoint is None):
        raise UserError("give exactly one of --method (e.g. zero-filled) or --checkpoint RUN_DIR")
    if args.tune and args.method is None:
        raise UserError("--tune applies to --method (a non-learned method's parameters), not to --checkpoint")
    out = Path(args.out)
    prepare_output(out, args.force)
    if args.save_recons:
        prepare_output(Path(args.save_recons), args.force, is_dir=True)
    progress = not args.no_progress
    if args.checkpoint:
        from .train import load_trained

        _plugins(args)

        def make_task(cfg):
            """The run's own task and data, with this command's overrides on top."""
            from tasks import get_task

            cfg.data.update(_eval_data_overrides(args))
            if args.data is not None:
                cfg.data_path = args.data
            if args.seed is not None:
                cfg.seed = args.seed
            return _make_task(get_task(cfg.task), cfg)

        task, model, run_cfg = load_trained(args.checkpoint, make_task)
        results = task.evaluate_model(model, save_recons=args.save_recons, progress=progress)
        results["method"] = run_cfg.method or "nas"
        results["checkpoint"] = str(args.checkpoint)
        label = f"checkpoint {args.checkpoint}"
    else:
        task_cls, cfg = _config(args, None, _eval_data_overrides(args))
        task = _make_task(task_cls, cfg)
        kw = {"tune": True} if args.tune else {}
        results = task.evaluate_method(args.method, save_recons=args.save_recons, progress=progress, **kw)
        label = args.method
    write_json(out, results)
    print(f"{task.name} / {label} on {results.get('data', '')} ({results.get('split', 'test')} split)")
    print_summary(results)
    print(f"results: {out}")
    return 0


# ---------------------------------------------------------------- benchmark
def cmd_benchmark_complexity(args: argparse.Namespace) -> int:
    from .benchmark import complexity_rows, format_complexity

    _plugins(args)
    if args.config is None:
        args.config = "paper"  # Table I is at the paper's configuration
    task_cls, cfg = _config(args)
    task = _make_task(task_cls, cfg)
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


def _passthrough(args: argparse.Namespace) -> list[str]:
    """This command's shared options, to hand on to the commands it runs."""
    seed = getattr(args, "seed", None)
    return ((["--config", args.config] if args.config else []) + [x for s in args.set for x in ("--set", s)]
            + (["--data", args.data] if args.data else []) + (["--seed", str(seed)] if seed is not None else [])
            + (["--no-progress"] if args.no_progress else []))


def _plan(args: argparse.Namespace, what: str):
    """The shared settings of a benchmark run (tables and random) from its options."""
    from .tables import Plan

    task_cls, cfg = _config(args)
    compute = _compute(args)
    compute.check_batch(cfg.search.batch_size, "search.batch_size")
    compute.check_batch(cfg.train.batch_size, "train.batch_size")
    if args.seeds < 1 or args.other_seeds < 1:
        raise UserError(f"--seeds and --other-seeds must be at least 1, got {args.seeds} and {args.other_seeds}")
    task = _make_task(task_cls, cfg)
    preset = args.config or "demo"
    base_seed = args.seed or 0
    args.config, args.no_progress, args.seed = preset, True, None
    common = ["--task", task.name] + _passthrough(args)
    default_out = Path("benchmarks/results") / (what if preset == "bench" else f"{Path(preset).stem}/{what}")
    plan = Plan(common=common, work=Path(args.work or f"runs/benchmark/{Path(preset).stem}"),
                out=Path(args.out or default_out), seeds=args.seeds, other_seeds=args.other_seeds,
                base_seed=base_seed, compute=compute.cli_args(), preset=preset, sets=list(args.set), data=args.data,
                config={k: v for k, v in cfg.to_dict().items() if k != "seed"})
    command = "nasengine benchmark " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["benchmark"] else [what])
    return task, cfg, plan, command


def cmd_benchmark_table(args: argparse.Namespace) -> int:
    from .tables import run_table

    task, _, plan, command = _plan(args, args.table)
    only = [x.strip() for x in args.only.split(",")] if args.only else None
    report = run_table(args.table, task, plan, command, only)
    print(f"\nreport: {report}")
    return 0


def cmd_benchmark_random(args: argparse.Namespace) -> int:
    from search_spaces import load_space

    from .tables import run_random

    _plugins(args)
    space = load_space(args.space)
    task, cfg, plan, command = _plan(args, "random")
    report = run_random(task, space, cfg, args.n, plan, command)
    print(f"\nreport: {report}")
    return 0


# ---------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """search -> retrain -> evaluate on the embedded data, then a table: zero-filled vs NAS."""
    out = Path(args.out)
    common = ["--task", args.task] + _passthrough(args)
    force = ["--force"] if args.force else []
    steps = [
        ["search", "--space", args.space, "--out", str(out / "search")] + common + force,
        ["retrain", "--genotype", str(out / "search" / "genotype.json"), "--out", str(out / "retrain")] + common + force,
        ["evaluate", "--method", "zero-filled", "--out", str(out / "zero_filled.json")] + common + force,
        ["evaluate", "--checkpoint", str(out / "retrain"), "--out", str(out / "nas.json")]
        + (["--data", args.data] if args.data else []) + (["--no-progress"] if args.no_progress else []) + force,
    ]
    for step in steps:
        print(f"\n$ nasengine {' '.join(step)}", flush=True)
        rc = main(step)
        if rc:
            return rc
    zf = json.loads((out / "zero_filled.json").read_text())
    nas = json.loads((out / "nas.json").read_text())
    print("\nresult on the test split (mean ± std over volumes)")
    print(f"{'method':12s} {'accel':>5s}  {'PSNR (dB)':>13s}  {'SSIM':>15s}")
    for name, r in (("zero-filled", zf), ("NAS", nas)):
        for acc, m in list(r["by_acceleration"].items()) + [("all", r["overall"])]:
            print(f"{name:12s} {acc:>5s}  {m['psnr']['mean']:6.2f} ± {m['psnr']['std']:4.2f}  "
                  f"{m['ssim']['mean']:.4f} ± {m['ssim']['std']:.4f}")
    print(f"\nall outputs under {out}")
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nasengine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    s = sub.add_parser("tasks", help="list the registered tasks")
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("ops", help="list the operations with params and FLOPs")
    s.add_argument("--channels", type=int, default=32)
    s.add_argument("--size", type=int, default=320)
    s.add_argument("--plugin", action="append", default=[])
    s.set_defaults(func=cmd_ops)

    s = sub.add_parser("spaces", help="list the built-in search spaces")
    s.set_defaults(func=cmd_spaces)

    d = sub.add_parser("data", help="build or inspect data in fastMRI single-coil format")
    dsub = d.add_subparsers(dest="data_command", parser_class=_Parser, metavar="ACTION")
    b = dsub.add_parser("build", help="build the embedded real-MR dataset (train/ val/ test/)")
    b.add_argument("--out", help="output folder (default: the cache, ~/.cache/nasengine)")
    b.add_argument("--size", type=int, default=96, help="image size C (crop C x C; default 96)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--task", default="csmri")
    b.set_defaults(func=cmd_data_build)
    i = dsub.add_parser("inspect", help="check one .h5 file and print its layout")
    i.add_argument("file")
    i.add_argument("--task", default="csmri")
    i.set_defaults(func=cmd_data_inspect)
    d.set_defaults(func=lambda a: (d.print_help(), 2)[1])

    s = sub.add_parser("search", help="DARTS architecture search (NNI); writes a run directory")
    s.add_argument("--space", default=None, help="A, B, or a YAML file listing op names (default A)")
    _add_common(s, epochs=True)
    s.add_argument("--out", help="run directory (default: runs/search-TASK-SPACE-TIME)")
    s.add_argument("--force", action="store_true", help="move an existing run directory aside")
    s.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    _add_compute(s)
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("retrain", help="train the fixed network of a genotype on the whole training set")
    s.add_argument("--genotype", help="genotype.json (or a search run directory)")
    s.add_argument("--method", help="a baseline instead: unet, dccnn-N, modl-N, rdn-N")
    _add_common(s, epochs=True)
    s.add_argument("--out", help="run directory (default: runs/retrain-TASK-SPACE-TIME)")
    s.add_argument("--force", action="store_true")
    s.add_argument("--resume", action="store_true")
    _add_compute(s)
    s.set_defaults(func=cmd_retrain)

    e = sub.add_parser("evaluate", help="evaluate a method or a retrained network on the test split")
    e.add_argument("--method", help="a non-learned method, e.g. zero-filled")
    e.add_argument("--checkpoint", help="a retrain run directory")
    _add_common(e)
    e.add_argument("--accelerations", type=float, nargs="+", default=None, help="CS-MRI: default 4 8")
    e.add_argument("--center-fractions", type=float, nargs="+", default=None,
                   help="CS-MRI: one per acceleration (default: the paper's, 4x: 0.08, 8x: 0.04)")
    e.add_argument("--mask", default=None, help="CS-MRI mask type: random (default) or equispaced")
    e.add_argument("--crop", type=int, default=None, help="CS-MRI crop size (default: reconstruction_esc's size)")
    e.add_argument("--out", required=True, help="results JSON path")
    e.add_argument("--save-recons", help="folder for per-volume .h5 reconstructions (fastMRI layout)")
    e.add_argument("--force", action="store_true", help="move existing outputs aside instead of refusing")
    e.add_argument("--tune", action="store_true",
                   help="with --method: choose the method's parameters on the validation split first (CS-MRI: TV)")
    e.set_defaults(func=cmd_evaluate)

    bm = sub.add_parser("benchmark", help="complexity and paper tables")
    bsub = bm.add_subparsers(dest="benchmark_command", parser_class=_Parser, metavar="WHAT")
    c = bsub.add_parser("complexity", help="FLOPs, params (ptflops) and CPU latency of the baselines and genotypes")
    _add_common(c)
    c.add_argument("--size", type=int, default=320)
    c.add_argument("--genotype", action="append", default=[], help="add a searched network (repeatable)")
    c.add_argument("--json", action="store_true", help="print a JSON list of {method, flops, params, ...}")
    c.add_argument("--no-latency", action="store_true", help="skip the CPU timing")
    c.set_defaults(func=cmd_benchmark_complexity)
    def bench_options(t: argparse.ArgumentParser, what: str) -> None:
        _add_common(t)
        t.add_argument("--preset", dest="config", help="bench (the benchmark regime), demo (default, quick), "
                       "paper, tiny, or a YAML config")
        t.add_argument("--out", help=f"report folder (default benchmarks/results/{what} for --preset bench, "
                       f"benchmarks/results/PRESET/{what} otherwise); kept results there count as done")
        t.add_argument("--work", help="where the runs live (default runs/benchmark/PRESET); resumable")
        t.add_argument("--seeds", type=int, default=1, help="seeds of the rows the verdict needs (searched nets, "
                       "DCCNN-3, MoDL-3, U-Net); seeds start at --seed (default 0)")
        t.add_argument("--other-seeds", type=int, default=1, help="seeds of the other learned rows (default 1)")
        _add_compute(t)

    for table, what in (("table1", "every baseline and the searched net (space A, 3 nodes) at two widths"),
                        ("table2", "search + retrain with 2, 3, 4 nodes"), ("table3", "space A vs space B")):
        t = bsub.add_parser(table, help=what)
        bench_options(t, table)
        t.add_argument("--only", help="run just these rows (comma-separated names, e.g. \"TV,DCCNN-3\"); the "
                       "report still shows every kept row")
        t.set_defaults(func=cmd_benchmark_table, table=table)
    r = bsub.add_parser("random", help="random cells retrained like the searched one, against the searched cell")
    bench_options(r, "random")
    r.add_argument("--n", type=int, default=6, help="random cells (default 6); each over --other-seeds seeds, "
                   "the searched cell over --seeds")
    r.add_argument("--space", default="A", help="space of the random and the searched cells (default A)")
    r.set_defaults(func=cmd_benchmark_random)
    bm.set_defaults(func=lambda a: (bm.print_help(), 2)[1])

    s = sub.add_parser("demo", help="search -> retrain -> evaluate, then a table against zero-filled")
    s.add_argument("--space", default="A")
    s.add_argument("--task", default="csmri")
    s.add_argument("--config")
    s.add_argument("--set", action="append", default=[])
    s.add_argument("--data")
    s.add_argument("--out", default="runs/demo")
    s.add_argument("--force", action="store_true")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_third_party()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except RunFailed as e:
        print(f"nasengine: error: {e}", file=sys.stderr)
        return 1
    except UserError as e:
        print(f"nasengine: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasengine: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
