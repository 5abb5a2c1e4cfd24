"""The benchmark's bookkeeping without training anything: which kept seeds count, and what a
report row is made of."""

import json
import re
from pathlib import Path

import pytest

from nas_engine.app.tables import Plan, kept_rows, tables_of
from nas_engine.files import write_json
from nas_engine.task import get_task, load_task_entry_points

load_task_entry_points()
TABLES = tables_of(get_task("csmri"))


def keep(plan: Plan, entry, seed: int, psnr: float) -> None:
    d = plan.out / entry.slug / f"seed{seed}"
    vols = [{"file": f"v{k}.h5", "mse": 1.0, "nmse": 0.1, "psnr": psnr + k, "ssim": 0.5} for k in range(2)]
    overall = {m: {"mean": sum(v[m] for v in vols) / 2, "std": 0.5} for m in ("mse", "nmse", "psnr", "ssim")}
    write_json(d / "entry.json", {"key": plan.key(entry, seed), "seconds": {"retrain": 60.0}})
    write_json(d / "complexity.json", {"flops": 1e9, "params": 1e3, "latency_s": 0.1})
    write_json(d / "results.json", {"overall": {**overall, "n_volumes": 2}, "per_volume": vols})


def test_a_report_keeps_every_kept_seed_not_only_those_asked_for(tmp_path):
    dccnn = next(e for e in TABLES["table1"] if e.name == "DCCNN-3")
    three = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", seeds=3)
    for seed, psnr in ((0, 20.0), (1, 21.0), (2, 22.0)):
        keep(three, dccnn, seed, psnr)
    one = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", seeds=1)
    (row,) = kept_rows([dccnn], one)
    assert row["seeds"] == 3
    assert row["psnr"] == 21.5  # mean over seeds of each seed's mean over its two volumes
    assert abs(row["psnr_std"] - 1.0) < 1e-12  # std over seeds (ddof 1)
    assert row["seconds"] == 60.0
    assert json.loads((one.out / "dccnn_3" / "seed2" / "results.json").read_text())["overall"]["n_volumes"] == 2


def test_a_setting_added_since_at_its_default_keeps_kept_results(tmp_path):
    import pytest

    from nas_engine.app.tables import find_done
    from nas_engine.errors import UserError

    nas = next(e for e in TABLES["table1"] if e.name == "NAS A 3n")
    old = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", config={"model": {"channels": 16}})
    keep(old, nas, 0, 20.0)
    defaults = {"model.channels": 16, "model.checkpoint": False}
    same = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", defaults=defaults,
                config={"model": {"channels": 16, "checkpoint": False}})
    assert find_done(same, nas, 0) == tmp_path / "table1" / "nas_a_3n" / "seed0"
    other = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", defaults=defaults,
                 config={"model": {"channels": 16, "checkpoint": True}})
    with pytest.raises(UserError, match="holds a result of another experiment") as e:
        find_done(other, nas, 0)
    # the refusal names the setting that differs, not two whole configurations
    assert "config.model.checkpoint None there, True here" in str(e.value) and len(str(e.value)) < 300


def test_key_differences_are_short_dotted_names():
    from nas_engine.app.tables import _diff

    a = {"entry": "x", "config": {"model": {"channels": 16}, "data": {"size": 96, "path": "p" * 100}}}
    b = {"entry": "x", "config": {"model": {"channels": 8}, "data": {"size": 96, "path": "q" * 100}, "task": "denoise"}}
    text = _diff(a, b)
    assert text.startswith("config.model.channels 16 there, 8 here; config.data.path 'ppp")
    assert "config.task None there, 'denoise' here" in text and len(text) < 200
    assert _diff(a, a) == "same" and _diff(None, a) == "no key"
    many = {f"k{i}": i for i in range(7)}
    assert _diff(many, {k: v + 1 for k, v in many.items()}).endswith("; and 3 more")


def test_settings_an_entry_never_reads_keep_its_results(tmp_path):
    """Biases in the searched module (``model.bias``) rerun searched and random cells, not DCCNN-3;
    search settings rerun searched cells, not random ones; training settings rerun all but TV."""
    import pytest

    from nas_engine.app.tables import find_done, random_entries
    from nas_engine.errors import UserError
    from search_spaces.registry import load_space

    rows = {e.name: e for e in TABLES["table1"]}
    (rand,) = random_entries(load_space("A"), 2, 3, 1, seed=0)
    entries = [rows["TV"], rows["DCCNN-3"], rows["NAS A 3n"], rand]
    cfg = {"model": {"bias": False}, "search": {"arc_lr": 3e-3}, "train": {"epochs": 10}}
    old = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", config=cfg)
    for e in entries:
        keep(old, e, 0, 20.0)

    def kept(changes: dict) -> set[str]:
        new = {k: {**v, **changes.get(k, {})} for k, v in cfg.items()}
        plan = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", config=new)
        out = set()
        for e in entries:
            try:
                out |= {e.name} if find_done(plan, e, 0) else set()
            except UserError:
                pass
        return out

    assert kept({}) == {"TV", "DCCNN-3", "NAS A 3n", "random-1"}
    assert kept({"model": {"bias": True}}) == {"TV", "DCCNN-3"}
    assert kept({"search": {"arc_lr": 1e-2}}) == {"TV", "DCCNN-3", "random-1"}
    assert kept({"train": {"epochs": 20}}) == {"TV"}
    with pytest.raises(UserError, match="another experiment"):
        find_done(Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1",
                       config={**cfg, "train": {"epochs": 20}}), rows["DCCNN-3"], 0)


def test_pareto_rows_search_with_their_cost_weight(monkeypatch, tmp_path):
    import nas_engine.app.tables as T

    calls = []

    def fake_run(argv, own_process=False, cli=None):
        calls.append(argv)
        if argv[0] == "evaluate":
            Path(argv[argv.index("--out") + 1]).write_text('{"overall": {}}')
        if argv[0] == "search":
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True)
            (out / "cell.png").write_bytes(b"")
            (out / "genotype.json").write_text("{}")

    from pathlib import Path

    monkeypatch.setattr(T, "_run", fake_run)
    monkeypatch.setattr(T, "complexity_of", lambda *a: {})
    rows = {e.name: e for e in TABLES["pareto"]}
    assert {"DCCNN-3", "MoDL-3", "NAS A 3n"} <= set(rows) and len(rows) == 3 + len(T.PARETO_WEIGHTS)
    plan = Plan(common=["--config", "tiny"], work=tmp_path / "w", out=tmp_path / "o")
    T.run_seed(rows["NAS A 3n cost 0.01"], 0, plan)
    (search,) = [a for a in calls if a[0] == "search"]
    assert search[-4:] == ["--set", "search.cost=flops", "--set", "search.cost_weight=0.01"]
    # the plain searched row's key has no search_sets: results kept before pareto existed still count
    assert "search_sets" not in plan.key(rows["NAS A 3n"], 0)
    assert plan.key(rows["NAS A 3n cost 0.01"], 0)["search_sets"] == ["search.cost=flops", "search.cost_weight=0.01"]


def test_a_work_folder_of_another_experiment_is_not_reused(tmp_path):
    """A finished search in ``--work`` is reused only by the experiment that made it: a cell searched
    bias-free must not be retrained as if it were the cell searched with biases."""
    import pytest

    from nas_engine.app.tables import claim_work
    from nas_engine.errors import UserError

    nas = next(e for e in TABLES["table1"] if e.name == "NAS A 3n")
    plan = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", config={"model": {"bias": False}})
    folder = claim_work(plan, nas, 0)
    (folder / "search").mkdir()
    assert claim_work(plan, nas, 0) == folder  # the same experiment resumes there
    biased = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1", config={"model": {"bias": True}})
    with pytest.raises(UserError, match="another experiment .*give another --work"):
        claim_work(biased, nas, 0)
    old = tmp_path / "w" / "nas_a_3n" / "seed1"  # left by a version that wrote no key
    (old / "search").mkdir(parents=True)
    with pytest.raises(UserError, match="unknown experiment"):
        claim_work(biased, nas, 1)


@pytest.mark.long(2.5, group="import_steps")
def test_a_benchmark_imports_every_module_before_its_first_row(import_steps):
    """A module first imported hours into a benchmark, after an edit, ran new code against old
    (an AttributeError in a row's evaluation). In a fresh interpreter (``import_steps``: conftest) nothing lazy is
    imported with the loader; after preload_modules, every module of the engine, the spaces and the
    task package is."""
    lazy = ["nas_engine.complexity", "nas_engine.search", "tasks.csmri.pics", "tasks.csmri.multicoil"]
    assert "nas_engine.app.benchmark_commands" in import_steps["benchmark loader"]
    assert not [m for m in lazy if m in import_steps["benchmark loader"]]
    assert all(m in import_steps["preload"] for m in lazy)
    assert "search_spaces.ops" in import_steps["preloaded"] and "tasks.csmri.pics" in import_steps["preloaded"]


def test_strategies_report_counts_what_each_cell_shares_with_darts(tmp_path):
    """The agreement section on two hand-written cells: shared edges, wiring and op counts, the
    chance level of a uniformly random cell, and the paired comparisons (with darts, with random)."""
    from nas_engine.app.report import strategy_lines
    from nas_engine.genotype import Edge, Genotype

    ops = ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")
    sep, dil2, skip = "sep_conv_3x3", "dil_2_conv_3x3", "skip_connect"

    def cell(*nodes):
        return Genotype("A", ops, 2, 3, tuple(tuple(Edge(j, op) for j, op in n) for n in nodes))

    darts = cell(((0, sep), (1, skip)), ((0, dil2), (2, sep)), ((1, sep), (3, skip)))
    gdas = cell(((0, sep), (1, sep)), ((0, dil2), (1, sep)), ((2, skip), (3, skip)))
    entries = TABLES["strategies"]
    assert [e.search_sets for e in entries[1:]] == [("search.strategy=gdas",), ("search.strategy=pcdarts",),
                                                    ("search.strategy=proxyless",)]
    plan = Plan(common=[], work=tmp_path / "w", out=tmp_path / "strategies")
    table1 = Plan(common=[], work=tmp_path / "w", out=tmp_path / "table1")  # darts' cell, kept by table1
    rows = []
    for where, e, g, psnr in ((table1, entries[0], darts, 20.0), (plan, entries[1], gdas, 20.5)):
        keep(where, e, 0, psnr)
        (where.out / e.slug / "seed0" / "genotype.json").write_text(g.to_json())
        rows += kept_rows([e], plan)
    random_cell = Plan(common=[], work=tmp_path / "w", out=tmp_path / "random")
    keep(random_cell, type(entries[0])("random-1", "random"), 0, 19.0)
    assert strategy_lines(entries[1:], rows[1:], plan)[-1].startswith("(no darts row kept yet")
    lines = "\n".join(strategy_lines(entries, rows, plan, draws=4000))
    # edges (0,0,sep) (1,0,dil_2) (2,3,skip); wiring {0,1} + {0} + {3}; op counts identical (3 sep, 2 skip, 1 dil_2)
    assert "| NAS A 3n GDAS | 0 | 3 | 4 | 6 | 0:sep 1:sep \\| 0:dil_2 1:sep \\| 2:skip 3:skip |" in lines
    assert "| NAS A 3n | 0 | 6 | 6 | 6 |" in lines
    # chance: per node 2 x P(input drawn) x P(op) = (2 + 4/3 + 1) / 4 = 1.08 edges, wiring 4.33
    assert "NAS A 3n GDAS 3.0/4.0/6.0 (1 seed); a uniformly random cell 1.1/4.3/" in lines
    assert "NAS A 3n GDAS - NAS A 3n: +0.50 dB" in lines
    assert "NAS A 3n GDAS - the mean of 1 random cells at the same training seed: +1.50 dB" in lines


def test_pareto_report_sets_each_cost_weight_against_weight_zero_and_the_best_hand_made_net(tmp_path):
    """The cost section on hand-written rows: weights in order, FLOPs as a multiple of the weight-0
    cell's, the op counts of each cell, and the paired comparisons (weight 0, best hand-made)."""
    from nas_engine.app.report import pareto_lines
    from nas_engine.genotype import Edge, Genotype

    ops = ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")
    sep, skip = "sep_conv_3x3", "skip_connect"

    def cell(*nodes):
        return Genotype("A", ops, 2, 3, tuple(tuple(Edge(j, op) for j, op in n) for n in nodes))

    entries = TABLES["pareto"]
    assert [e.name for e in entries] == ["DCCNN-3", "MoDL-3", "NAS A 3n", "NAS A 3n cost 0.01",
                                         "NAS A 3n cost 0.015", "NAS A 3n cost 0.02", "NAS A 3n cost 0.03"]
    by = {e.name: e for e in entries}
    plan = Plan(common=[], work=tmp_path / "w", out=tmp_path / "pareto")
    for name, psnr, flops, g in (("DCCNN-3", 21.0, 8e9, None),
                                 ("NAS A 3n", 20.0, 2e9, cell(((0, sep), (1, sep)), ((0, sep), (2, sep)),
                                                              ((1, sep), (3, skip)))),
                                 ("NAS A 3n cost 0.03", 19.5, 1e9, cell(((0, sep), (1, skip)), ((0, skip), (2, sep)),
                                                                       ((1, skip), (3, skip))))):
        keep(plan, by[name], 0, psnr)
        d = plan.out / by[name].slug / "seed0"
        write_json(d / "complexity.json", {"flops": flops, "params": 2e3, "latency_s": 0.1})
        if g is not None:
            (d / "genotype.json").write_text(g.to_json())
    rows = kept_rows(entries, plan)
    lines = "\n".join(pareto_lines(entries, rows))
    assert "| 0 | 1 | 20.50 | 2.00G | 1.00x | 2.0K | sep 5, skip 1 | 0:sep 1:sep \\| 0:sep 2:sep \\| 1:sep 3:skip |" \
        in lines
    assert "| 0.03 | 1 | 20.00 | 1.00G | 0.50x | 2.0K | skip 4, sep 2 |" in lines
    assert lines.index("| 0 |") < lines.index("| 0.03 |")
    assert "NAS A 3n cost 0.03 - NAS A 3n: -0.50 dB" in lines
    assert "NAS A 3n cost 0.03 - DCCNN-3: -1.50 dB" in lines
    assert "NAS A 3n - DCCNN-3: -1.00 dB" in lines


def test_every_kept_row_keeps_its_experiment_key(tmp_path):
    """The rows of the tables, now listed by the task, are the experiments whose results are kept
    (tests/fixtures/kept_row_signatures.json: the keys, but the config, of the kept results'
    entry.json at seed 0): a change here would silently turn every kept result into another experiment."""
    kept = json.loads((Path(__file__).parents[1] / "fixtures" / "kept_row_signatures.json").read_text())
    assert {"table1", "table_mc", "pareto"} <= set(kept)
    for table, rows in kept.items():
        mine = {e.name: e for e in TABLES[table]}
        for name, key in rows.items():
            plan = Plan(common=[], work=tmp_path, out=tmp_path, preset=key["preset"], sets=key["sets"],
                        data=key["data"], base_seed=key["eval_seed"])
            assert {k: v for k, v in plan.key(mine[name], 0).items() if k != "config"} == key, (table, name)


def test_the_application_names_no_method_of_a_task():
    """The benchmark layer takes its rows, methods and sizes from the task: no module of
    nas_engine/app names a CS-MRI method or table row."""
    app = Path(__file__).parents[2] / "nas_engine" / "app"
    csmri = get_task("csmri")
    names = {e.name for t in csmri.benchmark_tables().values() for e in t} - {"NAS A 3n"}
    methods = set(csmri.methods) | {"unet", "dccnn", "modl", "rdn", "varnet"}
    hits = []
    for f in sorted(app.glob("*.py")):
        text = f.read_text()
        for word in sorted(names | methods):
            if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.I):
                hits.append(f"{f.name}: {word}")
    assert not hits, hits


def test_a_reports_made_by_line_reruns_from_any_clone():
    from nas_engine.app.benchmark_commands import reproducible_argv

    default = Path("benchmarks/results/space_C")
    argv = ["space", "--preset", "bench", "--out", "/home/x/clone/benchmarks/results/space_C", "--work=/scratch/w",
            "--only", "NAS A 3n,DCCNN-3"]
    assert reproducible_argv(argv, default) == ["space", "--preset", "bench", "--only", "NAS A 3n,DCCNN-3"]
    # an --out of the user's own is part of the command; --work never is
    assert reproducible_argv(["space", "--out=mine", "--work", "w"], default) == ["space", "--out", "mine"]
