"""The commands that work on one task: tasks, ops, spaces, data, search, retrain, evaluate."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..task import TASKS, get_task
from .options import (
    DEFAULT_TASK,
    compute_of,
    discard_on_bad_input,
    make_task,
    open_run,
    resolve_config,
    saved_config,
    task_flag_overrides,
)


def cmd_tasks(args: argparse.Namespace) -> int:
    for name, cls in sorted(TASKS.items()):
        listed = [f"methods: {', '.join(cls.methods)}"] if cls.methods else []
        listed += [f"baselines: {', '.join(cls.trainable_methods)}"] if cls.trainable_methods else []
        methods = f"  [{'; '.join(listed)}]" if listed else ""
        print(f"{name:10s} {cls.summary}{methods}")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from search_spaces import OPS

    from ..complexity import count, human

    c, s = args.channels, args.size
    print(f"{'op':18s} {'params':>8s} {'FLOPs':>9s}   (C={c}, one {c}x{s}x{s} input, ptflops)")
    for name in sorted(OPS):
        flops, params = count(OPS[name](c), (c, s, s))
        print(f"{name:18s} {params:8d} {human(flops):>9s}")
    return 0


def cmd_spaces(args: argparse.Namespace) -> int:
    from search_spaces import MACROS, SPACES

    for name, ops in SPACES.items():
        macro = MACROS.get(name)
        print(f"{name}: {', '.join(ops)}"
              + (f"; macro choices: {'; '.join(f'{k} {list(v)}' for k, v in macro.items())}" if macro else ""))
    print("custom: --space my_space.yaml (a YAML list of op names, or {name, ops, macro}; see `nasengine ops` and "
          "docs/extending.md)")
    return 0


# ---------------------------------------------------------------- data
def cmd_data_build(args: argparse.Namespace) -> int:
    task_cls = get_task(args.task)
    if args.real:
        print(f"real test set written to {task_cls.data_build_real(args.out, args.sources)}")
        return 0
    if args.sources:
        raise UserError("--sources goes with --real (the folder of already fetched source distributions)")
    out = task_cls.data_build(args.out, args.size, args.seed, **task_flag_overrides(args, task_cls, "build_options"))
    print(f"embedded dataset written to {out}")
    return 0


def cmd_data_convert(args: argparse.Namespace) -> int:
    files = get_task(args.task).data_convert(args.sources, args.out, single_coil=args.single_coil, force=args.force)
    print(f"{len(files)} file(s) in {args.out} ({'single' if args.single_coil else 'multi'}-coil fastMRI layout); "
          f"check one with: nasengine data inspect {files[0]}")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    print(get_task(args.task).data_inspect(args.file))
    return 0


# ---------------------------------------------------------------- search / retrain
def print_forecast(f, what: str, knobs: str) -> int:
    for line in f.lines(what, knobs):
        print(line)
    return 0



def cmd_search(args: argparse.Namespace) -> int:
    from search_spaces import load_space

    own = ((saved_config(args) or {}).get("space") or {}).get("name")
    if args.space is None:  # --resume keeps the run's space
        args.space = own
    space = load_space(args.space or "A")
    if own is not None and space.name != own:
        raise UserError(f"--space {args.space}: the run in {args.out} searches space {own}; a resumed search keeps its "
                        "space (leave out --space, or start a new run with another --out)")
    from ..training import make_loggers

    make_loggers(None, args.logger)  # an unknown --logger is an error before anything runs
    task_cls, cfg = resolve_config(args, "search")
    compute = compute_of(args)
    compute.check_batch(cfg.search.batch_size, "search.batch_size")
    compute.check_batch(cfg.search.arch_batch_size, "search.arch_batch_size")
    from ..oneshot.strategies import check_processes

    check_processes(cfg, compute.world)
    task = make_task(task_cls, cfg)
    if args.dry_run:
        from ..search import SEARCH_KNOBS, forecast_search

        return print_forecast(forecast_search(task, space, cfg), "search", SEARCH_KNOBS)
    from ..search import run_search

    with discard_on_bad_input(open_run(args, "search", space.name)) as run:
        run.write_config({**cfg.to_dict(), "space": {"name": space.name, "ops": list(space.ops)}})
        geno = run_search(task, space, cfg, run, resume=args.resume, progress=not args.no_progress, compute=compute,
                          logger=args.logger)
    if run.worker:
        return 0
    print(str(geno))
    print(f"run directory: {run.path}  (genotype.json, genotype.txt, cell.png, alphas.csv, log.txt)")
    return 0


def built_from_macro(geno, task_cls, cfg, sets: list[str]) -> None:
    """A genotype's macro choices (width, the task's own, e.g. cascades) are what trains: put them into ``cfg``
    (so that config.yaml records what is built), with one line for each ``--set`` they override."""
    from ..network import apply_macro

    given = {item.split("=", 1)[0].strip(): item.split("=", 1)[1].strip() for item in sets if "=" in item}
    for key, v in apply_macro(geno, task_cls, cfg).items():
        if key in given and str(given[key]).lower() != str(v).lower():
            print(f"note: --set {key}={given[key]} is not what trains: the genotype chooses {v} for it (its macro "
                  "choices win; config.yaml records what is built)", flush=True)


def cmd_retrain(args: argparse.Namespace) -> int:
    from ..files import write_text
    from ..genotype import Genotype
    from ..retrain import build_model, run_retrain

    if (args.genotype is None) == (args.method is None):
        raise UserError("give exactly one of --genotype G.json (a searched net) or --method NAME (a baseline)")
    from ..training import make_loggers

    make_loggers(None, args.logger)  # an unknown --logger is an error before anything runs
    geno = Genotype.load(args.genotype) if args.genotype else None
    task_cls, cfg = resolve_config(args, "train")
    if geno is not None:
        # The genotype fixes the cell (its nodes). Its cell count is the default depth; an explicit
        # --set model.cells=K stacks the same cell K times (search shallow, retrain deep, as DARTS does).
        from dataclasses import replace

        if any(item.split("=", 1)[0].strip() == "model.cells" for item in args.set):
            geno = replace(geno, cells=cfg.model.cells)
        cfg.model.cells, cfg.model.nodes = geno.cells, geno.nodes
        built_from_macro(geno, task_cls, cfg, args.set)
    cfg.method = args.method
    compute = compute_of(args)
    compute.check_batch(cfg.train.batch_size, "train.batch_size")
    task = make_task(task_cls, cfg)
    if args.dry_run:
        from ..retrain import forecast_retrain, retrain_knobs

        return print_forecast(forecast_retrain(task, lambda: build_model(task, cfg, geno), cfg), "retrain",
                              retrain_knobs(cfg))
    # unknown baseline or op (e.g. a plugin not given) -> clear error before the run directory exists
    model = build_model(task, cfg, geno)
    with discard_on_bad_input(open_run(args, "retrain", geno.space if geno is not None else args.method, model)) as run:
        run.write_config(cfg.to_dict())
        if geno is not None and not run.worker:
            write_text(run / "genotype.json", geno.to_json())
        run_retrain(task, model, cfg, run, resume=args.resume, progress=not args.no_progress, compute=compute,
                    logger=args.logger)
    if run.worker:
        return 0
    print(f"trained weights: {run / 'model.pt'}  (evaluate with: nasengine evaluate --checkpoint {run.path})")
    return 0


# ---------------------------------------------------------------- evaluate
def format_results(task_cls, results: dict) -> str:
    """The results as a table: one row per group of test cases (e.g. acceleration), then all."""
    ms = task_cls.metrics
    rows = [(label, [f"{r[m.name]['mean']:{m.fmt}} ± {r[m.name]['std']:{m.fmt}}" if m.name in r else "-"
                     for m in ms], str(r.get("n_volumes", ""))) for label, r in task_cls.result_rows(results)]
    widths = [max(len(m.title), *(len(cells[k]) for _, cells, _ in rows)) for k, m in enumerate(ms)]
    lines = [f"{'':>8s}  " + "  ".join(f"{m.title:>{w}s}" for m, w in zip(ms, widths)) + "  cases"]
    for label, cells, n in rows:
        lines.append(f"{label:>8s}  " + "  ".join(f"{c:>{w}s}" for c, w in zip(cells, widths)) + f"  {n:>5s}")
    return "\n".join(lines)


def run_task(args: argparse.Namespace, data: bool = True):
    """``cfg -> task`` for a trained run: the run's own task and data options, with this command's
    overrides on top (the task's data flags, --seed, and --data unless ``data`` is False)."""

    def make(cfg):
        task_cls = get_task(cfg.task)
        cfg.data.update(task_flag_overrides(args, task_cls))
        if data and args.data is not None:
            cfg.data_path = args.data
        if args.seed is not None:
            cfg.seed = args.seed
        return make_task(task_cls, cfg)

    return make


def refuse_run_config(args: argparse.Namespace, command: str, source: str = "--checkpoint") -> None:
    given = [f for f, v in (("--set", args.set), ("--config", args.config), ("--task", args.task)) if v]
    if given:
        raise UserError(f"{command} {source} uses the run's own config and task, so {', '.join(given)} would "
                        "be ignored; drop it (--data, --seed and the task's data flags do apply)")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..files import write_json
    from ..rundir import prepare_output

    if (args.method is None) == (args.checkpoint is None):
        raise UserError("give exactly one of --method (a non-learned method: `nasengine tasks` lists them) or "
                        "--checkpoint RUN_DIR")
    if args.tune and args.method is None:
        raise UserError("--tune applies to --method (a non-learned method's parameters), not to --checkpoint")
    if args.checkpoint:
        refuse_run_config(args, "evaluate")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; evaluate writes one results file, e.g. --out {out / 'results.json'}")
    prepare_output(out, args.force)
    if args.save_recons:
        prepare_output(Path(args.save_recons), args.force, is_dir=True)
    progress = not args.no_progress
    if args.checkpoint:
        from ..retrain import load_trained

        task, model, run_cfg = load_trained(args.checkpoint, run_task(args))
        results = task.evaluate_model(model, save_recons=args.save_recons, progress=progress)
        results["method"] = run_cfg.method or "nas"
        results["checkpoint"] = str(args.checkpoint)
        label = f"checkpoint {args.checkpoint}"
    else:
        task_cls = get_task(args.task or DEFAULT_TASK)
        if args.tune and args.method not in task_cls.tunable_methods:
            raise UserError(f"--tune: method {args.method!r} of task {task_cls.name} has no parameters to tune"
                            + (f" (tunable: {', '.join(task_cls.tunable_methods)})" if task_cls.tunable_methods else ""))
        task_cls, cfg = resolve_config(args, None, task_flag_overrides(args, task_cls))
        task = make_task(task_cls, cfg)
        kw = {"tune": True} if args.tune else {}
        results = task.evaluate_method(args.method, save_recons=args.save_recons, progress=progress, **kw)
        label = args.method
    write_json(out, results)
    print(f"{task.name} / {label} on {results.get('data', '')} ({results.get('split', 'test')} split)")
    print(format_results(type(task), results))
    print(f"results: {out}")
    return 0


# ---------------------------------------------------------------- reconstruct
def cmd_reconstruct(args: argparse.Namespace) -> int:
    from ..rundir import prepare_output

    if sum(x is not None for x in (args.method, args.checkpoint, args.model)) != 1:
        raise UserError("give exactly one of --checkpoint RUN_DIR (a retrained network), --model FILE (an exported "
                        "one) or --method (a non-learned method: `nasengine tasks` lists them)")
    if args.model is not None and args.device != "cpu":
        raise UserError("--model runs an exported network on the CPU (onnxruntime / TorchScript); drop --device, "
                        "or use --checkpoint RUN_DIR with --device cuda")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.device not in ("cpu", "cuda"):
        raise UserError(f"--device {args.device}: choose cpu or cuda")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device here (torch.cuda.is_available() is False); use --device cpu")
    out = Path(args.out)
    if out.is_file():
        raise UserError(f"--out {out} is a file; reconstruct writes a folder of .h5 files")
    if args.data is not None and not Path(args.data).exists():
        raise UserError(f"--data {args.data}: no such file or directory")
    forward = None
    if args.checkpoint:
        from ..retrain import load_trained

        refuse_run_config(args, "reconstruct")
        task, model, _ = load_trained(args.checkpoint, run_task(args, data=False))
        model = model.eval().to(args.device)
        forward = lambda batch: task.forward(model, batch)  # noqa: E731
        label = f"checkpoint {args.checkpoint}"
    elif args.model:
        from ..config import build_config
        from ..export import load_exported

        refuse_run_config(args, "reconstruct", "--model")
        config, forward = load_exported(args.model)
        task = run_task(args, data=False)(build_config(config))
        label = f"model {args.model}"
    else:
        task_cls = get_task(args.task or DEFAULT_TASK)
        task_cls, cfg = resolve_config(args, None, task_flag_overrides(args, task_cls))
        cfg.data_path = None  # --data is the input here, not a dataset root
        task = make_task(task_cls, cfg)
        if args.method not in task.methods:
            raise UserError(f"unknown method {args.method!r} for task {task.name}; available: "
                            f"{', '.join(task.methods) or 'none'} (or --checkpoint RUN_DIR for a trained network)")
        label = args.method
    prepare_output(out, args.force, is_dir=True)
    try:
        written = task.reconstruct(args.data, out, forward=forward, method=args.method, batch_size=args.batch_size,
                                   progress=not args.no_progress, device=args.device)
    except (UserError, KeyboardInterrupt):
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing written: leave no empty folder that a rerun would refuse
        raise
    for path, how in written:
        print(f"{path}  ({how})")
    print(f"{task.name} / {label}: {len(written)} file(s) reconstructed into {out}")
    return 0


# ---------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> int:
    from ..export import FORMATS, export_model
    from ..retrain import load_trained
    from ..rundir import prepare_output

    if args.format not in FORMATS:
        raise UserError(f"--format {args.format}: choose one of {', '.join(FORMATS)}")
    out = Path(args.out) if args.out else Path(args.checkpoint) / f"network{FORMATS[args.format]}"
    if out.suffix != FORMATS[args.format]:
        raise UserError(f"--out {out}: a {args.format} file ends in {FORMATS[args.format]} (reconstruct --model "
                        "tells the formats apart by it)")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name, e.g. {out / ('network' + FORMATS[args.format])}")
    task, model, cfg = load_trained(args.checkpoint, lambda cfg: make_task(get_task(cfg.task), cfg))
    prepare_output(out, args.force)
    worst = export_model(task, model, cfg.to_dict(), args.format, out)
    print(f"exported {args.checkpoint} ({args.format}) to {out}; against PyTorch on two example batches: "
          f"max relative difference {worst:.1e}")
    print(f"reconstruct with: nasengine reconstruct --model {out} --data SCANS --out DIR")
    return 0
