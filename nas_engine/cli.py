"""Command line: ``nasengine <command> ...``.

Every user error is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``nasengine <cmd>: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def _quiet_third_party() -> None:
    # NNI on torch 2.13 warns about non-Module classes; Lightning about LeafSpec. Harmless.
    warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")


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


def prepare_output(path: Path, force: bool) -> None:
    """Refuse to overwrite a user's file unless ``--force``, which moves it aside."""
    if path.exists():
        if not force:
            raise UserError(f"{path} already exists; pass --force to move it aside, or choose another --out")
        moved = move_aside(path)
        print(f"moved existing {path} to {moved}", file=sys.stderr)
    parent = path.parent if path.suffix else path
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"output folder {parent} is not writable")


# ---------------------------------------------------------------- tasks
def cmd_tasks(args: argparse.Namespace) -> int:
    from tasks import TASKS

    for name, cls in sorted(TASKS.items()):
        methods = f"  [methods: {', '.join(cls.methods)}]" if cls.methods else ""
        print(f"{name:10s} {cls.summary}{methods}")
    return 0


# ---------------------------------------------------------------- data
def cmd_data_build(args: argparse.Namespace) -> int:
    from tasks.csmri.embedded import build, default_root, FORMAT_VERSION

    out = Path(args.out) if args.out else default_root() / f"embedded-v{FORMAT_VERSION}-custom-{args.size}"
    build(out, size=args.size, seed=args.seed)
    print(f"embedded dataset written to {out}")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from tasks.csmri.data import inspect_volume

    info = inspect_volume(args.file)
    print(f"file:        {info.path}")
    print(f"slices:      {info.num_slices}")
    print(f"kspace:      {info.kspace_shape[0]} x {info.kspace_shape[1]} (complex)")
    print(f"recon_esc:   {'%d x %d' % info.recon_shape if info.recon_shape else 'absent'}")
    for k in ("acquisition", "patient_id", "max", "norm"):
        if k in info.attrs:
            print(f"{k + ':':12s} {info.attrs[k]}")
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
    for acc, m in results["by_acceleration"].items():
        print(_fmt_row(f"{acc}x", m))
    print(_fmt_row("all", results["overall"]))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tasks import get_task
    from .io import write_json

    task = get_task(args.task)()
    for a in args.accelerations:
        if not a >= 1:
            raise UserError(f"--accelerations: acceleration must be >= 1, got {a}")
    out = Path(args.out)
    prepare_output(out, args.force)
    if args.save_recons:
        prepare_output(Path(args.save_recons), args.force)
    if args.method is None:
        raise UserError("give --method (e.g. zero-filled)")
    results = task.evaluate_method(
        args.method,
        args.data,
        accelerations=args.accelerations,
        center_fractions=args.center_fractions,
        mask=args.mask,
        crop=args.crop,
        seed=args.seed,
        save_recons=args.save_recons,
        progress=not args.no_progress,
    )
    write_json(out, results)
    print(f"{args.task} / {args.method} on {results['data']} ({results['split']} split)")
    print_summary(results)
    print(f"results: {out}")
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nasengine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    s = sub.add_parser("tasks", help="list the registered tasks")
    s.set_defaults(func=cmd_tasks)

    d = sub.add_parser("data", help="build or inspect data in fastMRI single-coil format")
    dsub = d.add_subparsers(dest="data_command", parser_class=_Parser, metavar="ACTION")
    b = dsub.add_parser("build", help="build the embedded real-MR dataset (train/ val/ test/)")
    b.add_argument("--out", help="output folder (default: the cache, ~/.cache/nasengine)")
    b.add_argument("--size", type=int, default=96, help="image size C (crop C x C; default 96)")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=cmd_data_build)
    i = dsub.add_parser("inspect", help="check one .h5 file and print its layout")
    i.add_argument("file")
    i.set_defaults(func=cmd_data_inspect)
    d.set_defaults(func=lambda a: (d.print_help(), 2)[1])

    e = sub.add_parser("evaluate", help="evaluate a method on the test split and write results.json")
    e.add_argument("--task", default="csmri")
    e.add_argument("--method", help="a non-learned method, e.g. zero-filled")
    e.add_argument("--data", help="dataset root (train/ val/ test/ folders) or a folder/file of .h5 (default: embedded)")
    e.add_argument("--accelerations", type=float, nargs="+", default=[4, 8])
    e.add_argument("--center-fractions", type=float, nargs="+", default=None,
                   help="one per acceleration (default: the paper's, 4x: 0.08, 8x: 0.04)")
    e.add_argument("--mask", default="random", help="mask type: random (default) or equispaced")
    e.add_argument("--crop", type=int, default=None, help="crop size (default: reconstruction_esc's size)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True, help="results JSON path")
    e.add_argument("--save-recons", help="folder for per-volume .h5 reconstructions (fastMRI layout)")
    e.add_argument("--force", action="store_true", help="move existing outputs aside instead of refusing")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_evaluate)
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
    except UserError as e:
        print(f"nasengine: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasengine: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
