"""The library API: search, retrain and evaluate from Python, in this process, with the run directories,
resume and results of the command line (``nasengine search|retrain|evaluate`` write the same files).

    from nas_engine import api

    cfg = api.config("tiny", sets=["search.epochs=2"])        # a preset (demo, bench, paper, tiny) or a YAML file
    genotype = api.search(cfg, space="A", out="runs/s")         # writes runs/s/genotype.json, cell.png, ...
    api.retrain(cfg, genotype, out="runs/r")                    # writes runs/r/model.pt
    results = api.evaluate("runs/r")                            # the test split: {"overall": {"psnr": ...}, ...}
    reference = api.evaluate_method(cfg, "zero-filled")

Each call takes the config it is given (``api.config`` resolves a preset, ``--set``-style items and the task
exactly as the CLI does) and returns Python objects; errors are :class:`nas_engine.errors.UserError` with the
CLI's one-line messages. One process: ``--devices``/DDP and Ray executors stay command-line features.
"""

from __future__ import annotations

from pathlib import Path

from .config import Config, build_config, resolve
from .errors import UserError
from .genotype import Genotype

__all__ = ["config", "search", "retrain", "evaluate", "evaluate_method", "make_task"]


def _task_class(name: str):
    from .task import get_task, load_task_entry_points

    load_task_entry_points()
    return get_task(name)


def config(preset: str = "demo", task: str = "csmri", sets: list[str] | tuple[str, ...] = (), data: str | None = None,
           seed: int | None = None) -> Config:
    """A validated config: ``preset`` (a name or a YAML file), then ``sets`` (``"search.epochs=2"``, as
    ``--set``), for ``task``; ``data``: a dataset root (default: the embedded data); ``seed``: as ``--seed``."""
    task_cls = _task_class(task)
    cfg = build_config(resolve(preset, list(sets), {"task": task}, task_cls.presets))
    if data is not None:
        cfg.data_path = str(data)
    if seed is not None:
        cfg.seed = int(seed)
    return cfg


def make_task(cfg: Config):
    """The task ``cfg`` names, built with its data options."""
    return _task_class(cfg.task)(cfg.data, data=cfg.data_path, seed=cfg.seed)


def _run_dir(out, kind: str, label: str, resume: bool, force: bool, cfg: Config):
    from .rundir import RunDir, default_run_dir

    return RunDir(Path(out) if out is not None else default_run_dir(kind, cfg.task, label), force=force, resume=resume,
                  command=kind)


def search(cfg: Config, space: str = "A", out: str | Path | None = None, resume: bool = False, force: bool = False,
           progress: bool = False) -> Genotype:
    """``nasengine search``: search ``space`` (a built-in name or a YAML file) with ``cfg``'s strategy; the run
    directory ``out`` (default ``runs/search-TASK-SPACE-TIME``) as the CLI writes it. Returns the genotype."""
    from search_spaces import load_space

    from .search import run_search

    sp = load_space(space)
    task = make_task(cfg)
    run = _run_dir(out, "search", sp.name, resume, force, cfg)
    try:
        run.write_config({**cfg.to_dict(), "space": {"name": sp.name, "ops": list(sp.ops)}})
        return run_search(task, sp, cfg, run, resume=resume, progress=progress)
    except UserError:
        run.discard_if_unused()  # bad input before any checkpoint: no run folder left behind (as the CLI)
        raise
    finally:
        run.release()


def retrain(cfg: Config, genotype: Genotype | str | Path | None = None, method: str | None = None,
            out: str | Path | None = None, resume: bool = False, force: bool = False, progress: bool = False) -> Path:
    """``nasengine retrain``: train ``genotype`` (a :class:`Genotype` or its JSON file) or the hand-made ``method``
    on the whole training set; the genotype's macro choices win over ``cfg`` (as the CLI does, config.yaml records
    what is built). Returns the run directory (``model.pt`` in it)."""
    import dataclasses

    from .files import write_text
    from .network import apply_macro, build_model
    from .retrain import run_retrain

    if (genotype is None) == (method is None):
        raise UserError("give exactly one of genotype= (a searched net) or method= (a hand-made baseline)")
    geno = Genotype.load(genotype) if isinstance(genotype, (str, Path)) else genotype
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model), data=dict(cfg.data), method=method)
    if geno is not None:
        cfg.model.cells, cfg.model.nodes = geno.cells, geno.nodes
        apply_macro(geno, _task_class(cfg.task), cfg)
    task = make_task(cfg)
    model = build_model(task, cfg, geno)
    run = _run_dir(out, "retrain", geno.space if geno is not None else method, resume, force, cfg)
    try:
        run.write_config(cfg.to_dict())
        if geno is not None:
            write_text(run / "genotype.json", geno.to_json())
        run_retrain(task, model, cfg, run, resume=resume, progress=progress)
    except UserError:
        run.discard_if_unused()
        raise
    finally:
        run.release()
    return run.path


def evaluate(checkpoint: str | Path, data: str | None = None, save_recons: str | Path | None = None,
             progress: bool = False) -> dict:
    """``nasengine evaluate --checkpoint``: a retrained run's network on its test split (``data``: another
    dataset root, or one of its splits). Returns the results (per volume and overall, as the CLI's JSON)."""
    from .retrain import load_trained

    def made(cfg: Config):
        if data is not None:
            cfg.data_path = str(data)
        return make_task(cfg)

    task, model, run_cfg = load_trained(checkpoint, made)
    results = task.evaluate_model(model, save_recons=str(save_recons) if save_recons else None, progress=progress)
    results["method"] = run_cfg.method or "nas"
    results["checkpoint"] = str(checkpoint)
    return results


def evaluate_method(cfg: Config, method: str, tune: bool = False, progress: bool = False) -> dict:
    """``nasengine evaluate --method``: a non-learned method (CS-MRI: zero-filled, tv, pics) on ``cfg``'s test
    split; ``tune``: its parameters chosen on the validation split first."""
    return make_task(cfg).evaluate_method(method, progress=progress, **({"tune": True} if tune else {}))
