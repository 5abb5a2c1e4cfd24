"""Command line: ``nasengine <command> ...``.

Every user error is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Sequence

from .. import __version__
from ..errors import Interrupted, RunFailed, UserError, did_you_mean
from ..task import TASKS
from .benchmark_commands import (
    cmd_benchmark_complexity,
    cmd_benchmark_pool,
    cmd_benchmark_random,
    cmd_benchmark_rescore,
    cmd_benchmark_space,
    cmd_benchmark_table,
)
from .commands import (
    cmd_data_build,
    cmd_data_convert,
    cmd_data_inspect,
    cmd_evaluate,
    cmd_export,
    cmd_ops,
    cmd_reconstruct,
    cmd_retrain,
    cmd_search,
    cmd_spaces,
    cmd_tasks,
)
from .demo import cmd_demo
from .options import DEFAULT_TASK, add_common, add_compute, add_logger, add_plugin, load_plugins, plugin_args


class UsageError(UserError):
    """A command-line mistake found by argparse; its message already names the command."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``nasengine <cmd>: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        import re

        m = re.match(r"argument .*: invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
            message = f"unknown command {m.group(1)!r}{did_you_mean(m.group(1), choices)}; choose from {', '.join(choices)}"
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def quiet_third_party() -> None:
    # NNI on torch 2.13 warns about non-Module classes; Lightning about LeafSpec and workers. Harmless.
    warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # tiny runs have fewer steps per epoch than the logging interval; the per-epoch numbers are logged anyway
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def quiet_output(args: argparse.Namespace) -> None:
    """``--quiet``: no bars and no per-epoch lines (the final lines and errors stay). Where stderr
    is not a terminal (a log file, CI, a cluster job) there are no bars either: their carriage-return
    updates would fill the log; the per-epoch lines say the same once per epoch."""
    if not hasattr(args, "no_progress"):
        return
    if getattr(args, "quiet", False):
        from .. import rundir

        rundir.ECHO = False
        args.no_progress = True
    if not sys.stderr.isatty():
        args.no_progress = True


def add_task_flags(parser: argparse.ArgumentParser, kind: str = "cli_options") -> None:
    """Every registered task's own flags of a command: ``cli_options`` (evaluate, reconstruct; e.g.
    CS-MRI's ``--accelerations``) or ``build_options`` (``data build``; e.g. ``--coils``)."""
    seen = set()
    for task_cls in TASKS.values():
        for o in getattr(task_cls, kind):
            if o.flag not in seen:
                seen.add(o.flag)
                parser.add_argument(o.flag, type=o.type, nargs=o.nargs, default=None, help=o.help)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nasengine", description="Differentiable architecture search (DARTS on NNI) for low-level "
                "imaging: search a cell, retrain it, evaluate, reconstruct new scans, export.")
    p.add_argument("--version", action="version", version=f"nasengine {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    s = sub.add_parser("tasks", help="list the registered tasks")
    add_plugin(s)
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("ops", help="list the operations with params and FLOPs")
    s.add_argument("--channels", type=int, default=32, help="channels C of each op (default 32, the paper's)")
    s.add_argument("--size", type=int, default=320, help="image size the FLOPs are counted at (default 320)")
    add_plugin(s)
    s.set_defaults(func=cmd_ops)

    s = sub.add_parser("spaces", help="list the built-in search spaces")
    add_plugin(s)
    s.set_defaults(func=cmd_spaces)

    d = sub.add_parser("data", help="build, convert or inspect data in fastMRI's single- or multi-coil format")
    dsub = d.add_subparsers(dest="data_command", parser_class=_Parser, metavar="ACTION")
    b = dsub.add_parser("build", help="build the embedded real-MR dataset (train/ val/ test/)")
    b.add_argument("--out", help="output folder (default: the cache, ~/.cache/nasengine)")
    b.add_argument("--size", type=int, default=96, help="image size C (crop C x C; default 96)")
    b.add_argument("--seed", type=int, default=0, help="seed of the simulated phase (default 0)")
    b.add_argument("--task", default=DEFAULT_TASK, help=f"task whose data to build (default {DEFAULT_TASK})")
    b.add_argument("--real", action="store_true", help="build the task's test set of measured data instead (CS-MRI: "
                   "raw k-space fetched from the package index by pinned version; test only)")
    b.add_argument("--sources", help="with --real: a folder holding the source distributions already (offline)")
    add_task_flags(b, "build_options")  # each task's own build flags (e.g. CS-MRI's --coils)
    add_plugin(b)
    b.set_defaults(func=cmd_data_build)
    c = dsub.add_parser("convert", help="convert scanner raw data (ISMRMRD/MRD .h5, Siemens twix .dat) to fastMRI files")
    c.add_argument("sources", nargs="+", metavar="SRC", help="raw files: MRD .h5 or twix .dat, fully sampled Cartesian")
    c.add_argument("--out", required=True, help="output folder: one .h5 per input, named as the input")
    c.add_argument("--single-coil", action="store_true", help="fastMRI's single-coil layout: one coil emulated from "
                   "the channels (ESC), reconstruction_esc (default: multi-coil, reconstruction_rss)")
    c.add_argument("--force", action="store_true", help="move existing outputs aside (NAME.h5.old) instead of refusing")
    c.add_argument("--task", default=DEFAULT_TASK, help=f"task whose format to write (default {DEFAULT_TASK})")
    add_plugin(c)
    c.set_defaults(func=cmd_data_convert)
    i = dsub.add_parser("inspect", help="check one .h5 file and print its layout")
    i.add_argument("file", help="an .h5 file")
    i.add_argument("--task", default=DEFAULT_TASK, help=f"task whose format to check (default {DEFAULT_TASK})")
    add_plugin(i)
    i.set_defaults(func=cmd_data_inspect)
    d.set_defaults(func=lambda a: (d.print_help(), 2)[1])

    s = sub.add_parser(
        "search", help="architecture search (NNI: DARTS unless search.strategy says gdas, pcdarts, proxyless, spos or "
        "ranked); writes a run directory", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Search a space for a cell (and its macro choices) on the task's data; the run directory keeps "
        "the genotype, its picture, the\nsearch's history and checkpoints (resumable). Strategies and their options: "
        "docs/search.md; every --set key with its\ndefault: nas_engine/config.py (search.*, model.*, train.*, data.*).",
        epilog="examples:\n"
        "  nasengine search --task csmri --space A                       # DARTS, demo preset, embedded data\n"
        "  nasengine search --space C --config bench --set search.strategy=ranked --out runs/c\n"
        "  nasengine search --space A --set search.epochs=20 --set model.channels=16 --dry-run\n"
        "  nasengine search --resume --out runs/c                        # go on after a stop")
    s.add_argument("--space", default=None, help="a built-in space (A, B, C: see `nasengine spaces`) or a YAML file (default A)")
    add_common(s, epochs=True)
    s.add_argument("--out", help="run directory (default: runs/search-TASK-SPACE-TIME)")
    s.add_argument("--force", action="store_true", help="move an existing run directory aside")
    s.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    s.add_argument("--dry-run", action="store_true", help="forecast peak memory and time per step and epoch "
                   "from two steps at batch 1 and 2, then exit (no run directory)")
    add_logger(s)
    add_compute(s)
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("retrain", help="train the fixed network of a genotype on the whole training set")
    s.add_argument("--genotype", help="genotype.json (or a search run directory)")
    s.add_argument("--method", help="a hand-made baseline of the task instead of a genotype (`nasengine tasks` lists them)")
    add_common(s, epochs=True)
    s.add_argument("--out", help="run directory (default: runs/retrain-TASK-SPACE-TIME)")
    s.add_argument("--force", action="store_true", help="move an existing run directory aside")
    s.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    s.add_argument("--dry-run", action="store_true", help="forecast peak memory and time, then exit (no run directory)")
    add_logger(s)
    add_compute(s)
    s.set_defaults(func=cmd_retrain)

    e = sub.add_parser("evaluate", help="evaluate a method or a retrained network on the test split")
    e.add_argument("--method", help="a non-learned method of the task (`nasengine tasks` lists them)")
    e.add_argument("--checkpoint", help="a retrain run directory")
    add_common(e)
    add_task_flags(e)
    e.add_argument("--out", required=True, help="results JSON path")
    e.add_argument("--save-recons", help="folder for per-volume .h5 reconstructions (fastMRI layout)")
    e.add_argument("--force", action="store_true", help="move existing outputs aside instead of refusing")
    e.add_argument("--tune", action="store_true",
                   help="with --method: choose the method's parameters on the validation split first (the task's "
                   "tunable methods)")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("reconstruct", help="reconstruct new scans (no targets needed): fastMRI test/challenge "
                       "files with their own mask, or fully sampled files under-sampled as in evaluate")
    r.add_argument("--checkpoint", help="a retrain run directory")
    r.add_argument("--model", help="an exported network instead (.onnx or TorchScript .pt, from `nasengine export`)")
    r.add_argument("--method", help="a non-learned method of the task instead (`nasengine tasks` lists them)")
    add_common(r, data_help="an .h5 file or a folder of them (default: the test split of the embedded dataset)")
    add_task_flags(r)
    r.add_argument("--out", required=True, help="output folder: one .h5 per input, named as the input, with "
                   "'reconstruction' [slices, H, W] (fastMRI's submission layout)")
    r.add_argument("--batch-size", type=int, default=8, help="slices per forward pass (default 8)")
    r.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    r.add_argument("--force", action="store_true", help="move an existing --out folder aside instead of refusing")
    r.set_defaults(func=cmd_reconstruct)

    x = sub.add_parser("export", help="export a retrained network with its data consistency (ONNX or TorchScript), "
                       "checked against PyTorch")
    x.add_argument("--checkpoint", required=True, help="a retrain run directory")
    x.add_argument("--format", default="onnx", help="onnx (default; needs the export extra) or torchscript")
    x.add_argument("--out", help="output file (default: RUN_DIR/network.onnx or network.pt)")
    x.add_argument("--force", action="store_true", help="move an existing --out file aside instead of refusing")
    x.set_defaults(func=cmd_export)

    bm = sub.add_parser("benchmark", help="benchmarks: complexity, the paper's tables, random cells, a space's "
                        "samples, re-scoring on other test sets, the tabular pool")
    bsub = bm.add_subparsers(dest="benchmark_command", parser_class=_Parser, metavar="WHAT")
    c = bsub.add_parser("complexity", help="FLOPs, params (ptflops) and CPU latency of the baselines and genotypes")
    add_common(c)
    c.add_argument("--size", type=int, default=320, help="image size (default 320, the paper's)")
    c.add_argument("--genotype", action="append", default=[], help="add a searched network (repeatable)")
    c.add_argument("--json", action="store_true", help="print a JSON list of {method, flops, params, ...}")
    c.add_argument("--no-latency", action="store_true", help="skip the CPU timing")
    c.set_defaults(func=cmd_benchmark_complexity)
    def bench_options(t: argparse.ArgumentParser, what: str) -> None:
        add_common(t)
        t.add_argument("--preset", dest="config", help="bench (the benchmark regime), demo (default, quick), "
                       "paper, tiny, or a YAML config (--config is the same option)")
        t.add_argument("--out", help=f"report folder (default benchmarks/results/{what} for --preset bench, "
                       f"benchmarks/results/PRESET/{what} otherwise); kept results there count as done")
        t.add_argument("--work", help="where the runs live (default runs/benchmark/PRESET, for a task other than csmri "
                       "runs/benchmark/TASK/PRESET); resumable")
        t.add_argument("--seeds", type=int, default=1, help="seeds of the rows the verdict needs (searched nets, "
                       "the hand-made rows the task marks core); seeds start at --seed (default 0)")
        t.add_argument("--other-seeds", type=int, default=1, help="seeds of the other learned rows (default 1)")
        t.add_argument("--restore-weights", action="store_true", help="retrain each kept learned seed that has no "
                       "weights (model.pt) from its kept genotype and settings, so that evaluate --checkpoint and "
                       "benchmark rescore can use it; its results become the new evaluation's (the old in entry.json)")
        add_compute(t)
        x = t.add_argument_group("executor (where the entries run: docs/benchmarks-on-ray.md)")
        x.add_argument("--executor", default="local", help="local (default: one entry after another, in this "
                       "process) or ray (entries as Ray tasks: pip install 'nasengine[ray]')")
        x.add_argument("--workers", type=int, default=0, help="ray on this machine: entries at a time (default: "
                       "as many as the cores allow at --cpus-per-entry)")
        x.add_argument("--address", help="ray: a running Ray cluster (auto: the one this node belongs to)")
        x.add_argument("--cpus-per-entry", type=float, default=1.0, help="ray: CPUs (and torch threads) of each "
                       "entry (default 1)")
        x.add_argument("--gpus-per-entry", type=float, default=0.0, help="ray: GPUs of each entry (default 0)")

    for table, what in (("table1", "every baseline and the searched net (space A, 3 nodes) at two widths"),
                        ("table2", "search + retrain with 2, 3, 4 nodes"), ("table3", "space A vs space B"),
                        ("strategies", "the searched net by each search.strategy (darts, gdas, pcdarts, proxyless): "
                                       "agreement with darts and each cell's PSNR, also against random cells"),
                        ("pareto", "cost-aware search (search.cost=flops) at growing weights next to the task's "
                                   "reference hand-made networks: a PSNR-vs-FLOPs front"),
                        ("table_mc", "multi-coil data (--data MC_DIR, or the embedded data with data.coils=8): "
                                     "the task's multi-coil table (classical parallel imaging, unrolled networks, the searched net)")):
        t = bsub.add_parser(table.replace("_", "-"), help=what)
        bench_options(t, table)
        t.add_argument("--only", help="run just these rows (comma-separated row names of the table); the "
                       "report still shows every kept row")
        t.set_defaults(func=cmd_benchmark_table, table=table)
    r = bsub.add_parser("random", help="random cells retrained like the searched one, against the searched cell")
    bench_options(r, "random")
    r.add_argument("--n", type=int, default=6, help="random cells (default 6); each over --other-seeds seeds, "
                   "the searched cell over --seeds")
    r.add_argument("--space", default="A", help="space of the random and the searched cells (default A)")
    r.add_argument("--ops", help="draw the random cells' ops from these alone (comma-separated ops of --space; "
                   "e.g. sep_conv_3x3: is the search better than its favourite op on every edge with "
                   "random wiring?); rows random-OPS-k, default --out benchmarks/results/random_OPS")
    r.add_argument("--halving", type=int, default=0, metavar="ETA", help="successive halving of the random cells: "
                   "each rung trains 1/ETA of the next one's epochs, the best 1/ETA by validation go on")
    r.set_defaults(func=cmd_benchmark_random)
    sp = bsub.add_parser("space", help="architectures sampled uniformly from a space (cell and macro choices), "
                         "retrained: do they differ by more than seed noise? PSNR against FLOPs, Pareto front")
    bench_options(sp, "space_SPACE")
    sp.add_argument("--space", default="C", help="the space to sample (default C; a built-in name or a YAML file)")
    sp.add_argument("--n", type=int, default=20, help="architectures to sample (default 20); each over --seeds "
                    "seeds (use 2 or more: the seed noise is measured within architectures)")
    sp.add_argument("--search", help="also search the space with these strategies (comma-separated, e.g. spos,darts; "
                    "also spos-sandwich, and spos-finetune: spos' supernet, each candidate scored after 40 steps of "
                    "its own path; darts-pt: darts' supernet, chosen by perturbation; spos-halving, darts-halving: that "
                    "supernet, 256 candidates by successive halving over 10 -> 40 -> 160 fine-tune steps), each over "
                    "--search-seeds "
                    "seeds, retrained like the samples; each supernet also scores the samples: "
                    "the report gives how well it ranks them (Kendall tau, Spearman rho)")
    sp.add_argument("--search-seeds", type=int, default=3, help="search seeds of each --search strategy (default 3)")
    sp.add_argument("--flops-limits", metavar="ROW/K,...", help="the cost-aware front: SPOS searches whose candidates "
                    "cost at most the FLOPs of ROW (a hand-made row of the task's tables) over K, each choosing as the "
                    "last SPOS row of --search does and in its supernet (spos,spos-finetune: by fine-tuned scores, in "
                    "plain spos' supernet), over --search-seeds seeds, retrained like the samples")
    sp.add_argument("--halving", type=int, default=0, metavar="ETA", help="successive halving of the samples: "
                    "each rung trains 1/ETA of the next one's epochs, the best 1/ETA by validation go on (the "
                    "report shows the rungs and how their rankings agree)")
    sp.set_defaults(func=cmd_benchmark_space)
    rs = bsub.add_parser("rescore", help="score every kept entry of a benchmark table on another test set (e.g. "
                         "the real one), from its kept weights, without retraining")
    rs.add_argument("table", help="a kept table folder, e.g. benchmarks/results/table1")
    rs.add_argument("--data", required=True, help="dataset root with test/ (e.g. the real test set's singlecoil/)")
    rs.add_argument("--tag", required=True, help="name of the new columns: results-TAG.json per seed, rescore-TAG.md")
    add_task_flags(rs)
    rs.add_argument("--no-progress", action="store_true", help="no progress bars")
    rs.set_defaults(func=cmd_benchmark_rescore)
    pl = bsub.add_parser("pool", help="a space benchmark's sampled architectures as a tabular pool (pool.json) and "
                         "its report (pool.md): rankers (zero-cost proxies, early training, supernets) against FLOPs "
                         "and parameters; random search with and without successive halving simulated against the "
                         "searched rows at equal cost")
    pl.add_argument("results", help="a kept space benchmark folder, e.g. benchmarks/results/space_C")
    pl.add_argument("--draws", type=int, default=1000, help="random-search resamples per budget (default 1000)")
    pl.add_argument("--no-proxies", action="store_true", help="do not measure the zero-cost proxies (a few CPU "
                    "seconds per architecture; kept in proxies.json, measured once)")
    pl.add_argument("--no-progress", action="store_true", help="no progress bars")
    pl.set_defaults(func=cmd_benchmark_pool)
    bm.set_defaults(func=lambda a: (bm.print_help(), 2)[1])

    s = sub.add_parser("demo", help="search -> retrain -> evaluate, then a table against the task's reference method")
    s.add_argument("--space", default="A", help="a built-in space (A, B, C: see `nasengine spaces`) or a YAML file (default A)")
    s.add_argument("--task", default=DEFAULT_TASK, help=f"task name (default {DEFAULT_TASK})")
    s.add_argument("--config", help="preset (demo, bench, paper, tiny) or a YAML file (default: demo)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    s.add_argument("--data", help="dataset root with train/ val/ test/ (default: the embedded dataset)")
    add_plugin(s)
    s.add_argument("--out", default="runs/demo", help="folder of the three runs and the table (default runs/demo)")
    s.add_argument("--force", action="store_true", help="move an existing --out aside")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    s.add_argument("--quiet", action="store_true", help="no progress bars and no per-epoch lines")
    s.set_defaults(func=cmd_demo)
    return p


_DEPTH = [0]  # main() calls in progress: the demo and the benchmarks run commands through main()


def main(argv: Sequence[str] | None = None) -> int:
    _DEPTH[0] += 1
    try:
        return _main(argv)
    finally:
        _DEPTH[0] -= 1


def _main(argv: Sequence[str] | None) -> int:
    import time

    from .. import rundir

    # a command run by another one counts its time (log.txt's first-step line) from its own start
    saved = rundir.COMMAND_START, rundir.ECHO
    rundir.COMMAND_START = time.time() if _DEPTH[0] > 1 else None
    try:
        return _run(argv)
    finally:
        rundir.COMMAND_START, rundir.ECHO = saved  # --quiet lasts as long as its command


def _run(argv: Sequence[str] | None) -> int:
    quiet_third_party()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        load_plugins(plugin_args(argv))  # tasks and ops exist before the parser lists their options
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        args.cli = main  # commands that run other commands (demo, benchmark) call back through this
        quiet_output(args)
        return int(args.func(args) or 0)
    except Interrupted as e:
        print(f"nasengine: {e}", file=sys.stderr)
        return e.exit_code
    except RunFailed as e:
        print(f"nasengine: error: {e}", file=sys.stderr)
        return 1
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    except UserError as e:
        print(f"nasengine: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasengine: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
