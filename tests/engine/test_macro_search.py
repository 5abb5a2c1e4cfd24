"""Searching macro choices: the supernet's mutables, DARTS' derived macro choices, SPOS's fixed
paths, and scoring genotypes inside a supernet."""

import json

import pytest
import torch

from nas_engine.config import Config
from nas_engine.genotype import Edge, Genotype
from nas_engine.oneshot.spos import build_spos, fix_architecture
from nas_engine.oneshot.strategies import restrict_to_genotype
from nas_engine.search import build_oneshot, derive_macro
from nas_engine.task import get_task, load_task_entry_points
from search_spaces import load_space

SPACE = load_space("C")
CELL = ((Edge(0, "conv_3x3"), Edge(1, "sep_conv_5x5")), (Edge(1, "conv_1x1"), Edge(2, "channel_attention")))


@pytest.fixture(scope="module")
def task():
    load_task_entry_points()
    return get_task("csmri")({"size": 32, "cascades": 2, "max_volumes": 2})


def config(strategy: str) -> Config:
    cfg = Config(task="csmri")
    cfg.model.cells, cfg.model.nodes, cfg.model.channels = 1, 2, 8
    cfg.search.strategy = strategy
    return cfg


def genotype(**macro) -> Genotype:
    return Genotype("C", SPACE.ops, 1, 2, CELL, tuple(macro.items()))


def perturb_all_but(model, keep_ids: set) -> None:
    with torch.no_grad():
        for p in model.parameters():
            if id(p) not in keep_ids and p.ndim == 4:
                p.add_(torch.randn_like(p))


def used_parameters(task, model, batch) -> set:
    """Ids of the parameters the output depends on: those that get a gradient (possibly zero, as
    behind a dead ReLU) from a backward pass."""
    model.zero_grad(set_to_none=True)
    task.forward(model, batch).abs().sum().backward()
    used = {id(p) for p in model.parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return used


@pytest.mark.parametrize("macro", [dict(width=8, cascades=2, share=False), dict(width=24, cascades=4, share=True)])
def test_a_fixed_spos_path_runs_that_architecture_only(task, macro):
    torch.manual_seed(0)
    _, oneshot = build_spos(task, SPACE, config("spos"))
    model = oneshot.training_module.model
    fix_architecture(oneshot, genotype(**macro))
    batch = task.example_batch(32, 2)
    model.eval()
    used = used_parameters(task, model, batch)
    with torch.no_grad():
        before = task.forward(model, batch)
    perturb_all_but(model, used)  # every weight the path does not use
    with torch.no_grad():
        assert torch.equal(task.forward(model, batch), before)
    # the path's parameter count is the fixed network's (its cascades' modules, shared or not)
    from nas_engine.retrain import build_model

    cfg = config("spos")
    cfg.model.channels = 16
    fixed = build_model(task, cfg, genotype(**macro))
    n_used = sum(p.numel() for p in model.parameters() if id(p) in used)
    assert n_used == sum(p.numel() for p in fixed.parameters())


@pytest.mark.parametrize("share,macro_draw", [(False, False), (True, False), (True, True)])
def test_a_darts_supernet_restricted_to_a_genotype_ignores_every_other_path(task, share, macro_draw):
    torch.manual_seed(0)
    cfg = config("darts")
    cfg.search.macro_draw = macro_draw  # drawn macro choices: a one-hot weight draws the genotype's every time
    _, oneshot = build_oneshot(task, SPACE, cfg)
    model = oneshot.training_module.model
    g = genotype(width=16, cascades=4, share=share)
    keep = restrict_to_genotype(model, g, macro=oneshot.training_module.choose)
    batch = task.example_batch(32, 2)
    model.eval()
    with torch.no_grad():
        before = task.forward(model, batch)
    used = used_parameters(task, model, batch)
    perturb_all_but(model, used)
    with torch.no_grad():
        after = task.forward(model, batch)
    assert torch.allclose(after, before, atol=1e-4)  # softmax(-1e4) is 0 in float32
    restrict_to_genotype(model, None, keep)  # the alphas as they were
    from nas_engine.oneshot.labels import macro_alphas, macro_label

    now = macro_alphas(model)
    assert set(now) == {"width", "cascades", "share"}
    assert all(torch.equal(a, keep[macro_label(key)]) for key, (a, _) in now.items())


def test_darts_derives_each_macro_choice_by_its_largest_weight(task):
    _, oneshot = build_oneshot(task, SPACE, config("darts"))
    choose = oneshot.training_module.choose
    assert set(choose.choices) == {"width", "cascades", "share"}
    from nas_engine.oneshot.labels import macro_alphas

    with torch.no_grad():
        for key, (alpha, _) in macro_alphas(oneshot.training_module.model).items():
            alpha.zero_()
            alpha[{"width": 2, "cascades": 1, "share": 1}[key]] = 3.0
    macro, probs = derive_macro(oneshot, choose, SPACE)
    assert macro == (("width", 24), ("cascades", 2), ("share", True))
    assert abs(sum(probs["cascades"].values()) - 1) < 1e-6 and max(probs["width"], key=probs["width"].get) == 24


@pytest.mark.long(6)
@pytest.mark.parametrize("finetune", [0, 3])
def test_spos_search_picks_the_lowest_scoring_candidate_and_its_scores_reproduce(cli, tmp_path, finetune):
    out = tmp_path / "spos"
    args = ["search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=spos", "--set",
            "search.epochs=2", "--set", "search.candidates=5", "--set", "search.eval_batches=2", "--set",
            f"search.finetune_steps={finetune}", "--out", out, "--no-progress"]
    rc, stdout, err = cli(*args)
    assert rc == 0, err
    log = (out / "log.txt").read_text()
    assert (f"each after {finetune} steps of its own path" in log) == bool(finetune)
    assert ("fine-tuned and scored 5/5 candidates" in log) == bool(finetune)  # progress without a bar
    cands = json.loads((out / "candidates.json").read_text())
    losses = [c["loss"] for c in cands]
    assert len(cands) == 5 and losses == sorted(losses)
    best = Genotype.load(out / "genotype.json")
    assert best.to_dict() == cands[0]["genotype"] and set(best.macro_dict) == {"width", "cascades", "share"}
    from nas_engine.oneshot.spos import supernet_losses

    again = supernet_losses(out, [Genotype.from_dict(c["genotype"]) for c in cands[:2]])  # fine-tuned alike
    assert again == pytest.approx(losses[:2], rel=1e-6)
    # the scores are kept with what they depend on; only a run with the same key may take them
    from nas_engine.oneshot.spos import known_scores

    kept = json.loads((out / "scores.json").read_text())
    assert sorted(kept["scores"].values()) == losses and kept["key"]["finetune_steps"] == finetune
    assert known_scores(out, kept["key"]) == kept["scores"]
    for change in ({"weights": "0" * 64}, {"finetune_steps": finetune + 1}, {"seed": 1}):
        assert known_scores(out, {**kept["key"], **change}) == {}
    # a scoring interrupted after two candidates resumes: their scores are taken, the rest measured, the same pick
    first = [json.dumps(c["genotype"], sort_keys=True) for c in cands[:2]]
    (out / "scores.json").write_text(json.dumps({"key": kept["key"], "scores": {k: kept["scores"][k] for k in first}}))
    for f in ("genotype.json", "cell.png", "candidates.json"):
        (out / f).unlink()
    rc, _, err = cli(*args, "--resume")
    assert rc == 0, err
    assert "2 of the 5 candidates were scored the same way in this supernet before" in (out / "log.txt").read_text()
    assert json.loads((out / "candidates.json").read_text()) == cands
    rc, _, err = cli("search", "--task", "csmri", "--space", "A", "--config", "tiny", "--set",
                     "search.candidates=5", "--out", tmp_path / "x")
    assert rc == 2 and "search.candidates applies to the candidates a search scores in its supernet; with " \
        "search.strategy=darts set search.select=candidates too" in err
    for bad, msg in (("search.finetune_steps=3", "search.finetune_steps applies to the candidates"),
                     ("search.finetune_steps=-1", "search.finetune_steps must be >= 0, got -1")):
        rc, _, err = cli("search", "--task", "csmri", "--space", "A", "--config", "tiny", "--set", bad,
                         *(["--set", "search.strategy=spos"] if "-1" in bad else []), "--out", tmp_path / "y")
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.long(6)
def test_spos_successive_halving_over_fine_tune_rungs(cli, tmp_path):
    """search.finetune_ladder: every candidate at the first rung's steps, the best 1/eta on to the next; the pick
    is the best of the last rung, each rung's scores are kept, and the rungs' agreement is reported."""
    out = tmp_path / "halving"
    args = ["search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=spos", "--set",
            "search.epochs=1", "--set", "search.candidates=12", "--set", "search.eval_batches=2", "--set",
            "search.finetune_ladder=[0,2]", "--set", "search.halving_eta=4", "--out", out, "--no-progress"]
    rc, stdout, err = cli(*args)
    assert rc == 0, err
    rungs = json.loads((out / "halving.json").read_text())
    assert [(r["finetune_steps"], r["candidates"], r["kept"]) for r in rungs] == [(0, 12, 3), (2, 3, 3)]
    assert -1 <= rungs[0]["tau_next"] <= 1
    cands = json.loads((out / "candidates.json").read_text())
    assert len(cands) == 12 and [c["finetune_steps"] for c in cands] == [2] * 3 + [0] * 9
    assert [c["loss"] for c in cands[:3]] == sorted(c["loss"] for c in cands[:3])
    assert Genotype.load(out / "genotype.json").to_dict() == cands[0]["genotype"]
    raw = json.loads((out / "scores-k0.json").read_text())["scores"]
    tuned = json.loads((out / "scores-k2.json").read_text())["scores"]
    assert len(raw) == 12 and len(tuned) == 3
    # the three that went on are the three best raw scores
    assert set(tuned) == set(sorted(raw, key=raw.get)[:3])
    log = (out / "log.txt").read_text()
    assert "by successive halving over 12 -> 3 candidates at 0 -> 2 fine-tune steps" in log and "ranking check" in log
    for bad, msg in (("search.finetune_ladder=[40,10]", "increasing step counts"),
                     ("search.halving_eta=1", "search.halving_eta must be 2 or more")):
        rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=spos",
                         "--set", bad, "--out", tmp_path / "bad")
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.long(6)
def test_darts_chooses_among_drawn_candidates_in_its_supernet(cli, tmp_path):
    """search.select=candidates: a DARTS supernet scores architectures drawn from the search's own candidate stream,
    each on its one-hot path after its fine-tune, by successive halving; a candidate's kept score is what its path
    scores in the saved supernet again (the fine-tune left the supernet as it was)."""
    from nas_engine.oneshot.spos import sample_genotypes, supernet_losses

    out = tmp_path / "darts_cands"
    args = ["search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.select=candidates",
            "--set", "search.epochs=1", "--set", "search.candidates=6", "--set", "search.eval_batches=2", "--set",
            "search.finetune_ladder=[0,2]", "--set", "search.halving_eta=3", "--out", out, "--no-progress"]
    rc, stdout, err = cli(*args)
    assert rc == 0, err
    rungs = json.loads((out / "halving.json").read_text())
    assert [(r["finetune_steps"], r["candidates"], r["kept"]) for r in rungs] == [(0, 6, 2), (2, 2, 2)]
    cands = json.loads((out / "candidates.json").read_text())
    assert len(cands) == 6 and [c["finetune_steps"] for c in cands] == [2, 2, 0, 0, 0, 0]
    assert Genotype.load(out / "genotype.json").to_dict() == cands[0]["genotype"]
    assert json.loads((out / "selection.json").read_text())["select"] == "candidates"
    assert (out / "genotype_argmax.json").is_file() and "ranking check: Kendall tau" in (out / "log.txt").read_text()
    load_task_entry_points()
    task = get_task("csmri")({"size": 32})
    cfg = Config(task="csmri")
    cfg.model.cells, cfg.model.nodes = 1, 2  # the tiny preset's
    drawn = {json.dumps(g.to_dict(), sort_keys=True) for g in sample_genotypes(task, SPACE, cfg, 6, 0)}
    assert drawn == {json.dumps(c["genotype"], sort_keys=True) for c in cands}  # the candidate stream of seed 0
    assert supernet_losses(out, [Genotype.from_dict(cands[0]["genotype"])])[0] == pytest.approx(cands[0]["loss"],
                                                                                                 rel=1e-5)
    rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=spos",
                     "--set", "search.select=candidates", "--out", tmp_path / "bad")
    assert rc == 2 and "spos chooses among drawn candidates already" in err and len(err.strip().splitlines()) == 1


def test_perturbation_selection_keeps_what_hurts_most_to_remove_and_restores_the_alphas(task):
    from nas_engine.oneshot.selection import perturbation_select
    from nas_engine.oneshot.spos import eval_batches

    torch.manual_seed(0)
    cfg = config("darts")
    cfg.search.select = "perturbation"
    _, oneshot = build_oneshot(task, SPACE, cfg)
    params = {id(p): p.detach().clone() for p in oneshot.arch_parameters()}
    with torch.no_grad():
        for p in oneshot.arch_parameters():
            p.normal_()  # a supernet whose alphas are not uniform
    before = [p.detach().clone() for p in oneshot.arch_parameters()]
    geno, rec = perturbation_select(oneshot, task, SPACE, cfg, eval_batches(task, cfg, task.search_datasets(cfg.search.alpha_fraction)[1], 1),
                                     log=lambda *_: None)
    assert all(torch.equal(a, b) for a, b in zip(oneshot.arch_parameters(), before)) and params
    for edges, (node, inputs) in zip(geno.cell, sorted(rec["inputs"].items())):
        imp = {int(j): v for j, v in inputs.items()}
        assert sorted(e.input for e in edges) == sorted(sorted(imp, key=lambda j: -imp[j])[:2])
        for e in edges:
            deltas = rec["edges"][f"normal/{node.split()[1]}_{e.input}"]["loss_increase"]
            assert e.op == max(deltas, key=deltas.get)
    for key, value in geno.macro:
        deltas = rec["macro"][key]["loss_increase"]
        assert str(value) == max(deltas, key=deltas.get)


def test_perturbation_selection_in_a_supernet_that_draws_its_macro_choices_measures_every_op_on_the_same_draws(task):
    """With ``search.macro_draw`` each pass draws a width, a depth and the sharing: two evaluations of the
    same supernet differ by their draws. The selection evaluates every loss on the same draws (common
    random numbers), so it is a function of the supernet: two selections agree to the last digit, and
    the random state outside it is untouched."""
    from nas_engine.oneshot.selection import perturbation_select
    from nas_engine.oneshot.spos import _score, eval_batches

    torch.manual_seed(0)
    cfg = config("darts")
    cfg.search.select, cfg.search.macro_draw = "perturbation", True
    _, oneshot = build_oneshot(task, SPACE, cfg)
    batches = eval_batches(task, cfg, task.search_datasets(cfg.search.alpha_fraction)[1], 2)
    model = oneshot.training_module.model
    # the supernet is random: evaluations on the same batches differ by their draws
    assert len({round(_score(task, model, batches), 6) for _ in range(6)}) > 1
    torch.manual_seed(1)
    state = torch.random.get_rng_state()
    first = perturbation_select(oneshot, task, SPACE, cfg, batches, log=lambda *_: None)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(2)
    second = perturbation_select(oneshot, task, SPACE, cfg, batches, log=lambda *_: None)
    assert first == second and first[0].macro
    assert first[1]["random_state"] == f"the same for every evaluation (seed {cfg.seed})"


def test_perturbation_selection_needs_darts(cli, tmp_path):
    rc, _, err = cli("search", "--task", "csmri", "--space", "A", "--config", "tiny", "--set", "search.strategy=gdas",
                     "--set", "search.select=perturbation", "--out", tmp_path / "x")
    assert rc == 2 and "use it with search.strategy=darts, not gdas" in err
    rc, _, err = cli("search", "--task", "csmri", "--space", "A", "--config", "tiny", "--set", "search.select=best",
                     "--out", tmp_path / "y")
    assert rc == 2 and "search.select must be one of argmax, perturbation" in err


def test_only_the_labels_module_reads_nni_private_attributes_or_writes_its_labels():
    """NNI's label format and the private attributes of its one-shot modules live in
    nas_engine/oneshot/labels.py alone (our own cell subclasses define, not read, theirs)."""
    import re
    from pathlib import Path

    root = Path(__file__).parents[2]
    hits = []
    for f in sorted((root / "nas_engine").rglob("*.py")) + sorted((root / "tasks").rglob("*.py")):
        if f.name == "labels.py":
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(r"\._arch_alpha\b|['\"]normal/|['\"]macro_['\"]", line):
                hits.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
    assert not hits, hits


@pytest.mark.long(6)
@pytest.mark.parametrize("strategy", ["gdas", "darts"])
def test_gdas_and_darts_with_macro_draw_run_one_candidate_of_each_macro_choice_per_step(task, strategy):
    from nas_engine.oneshot.strategies import HardGumbelCell, HardGumbelInput, HardGumbelLayer, WeightedSumCell

    torch.manual_seed(0)
    cfg = config(strategy)
    cfg.search.macro_draw = strategy == "darts"
    _, oneshot = build_oneshot(task, SPACE, cfg)
    model = oneshot.training_module.model
    # the cell: GDAS draws one op per edge, DARTS keeps every op's weighted sum
    cells = [m for m in model.modules() if isinstance(m, (HardGumbelCell, WeightedSumCell))]
    assert cells and all(isinstance(m, HardGumbelCell if strategy == "gdas" else WeightedSumCell) for m in cells)
    layers = [m for m in model.modules() if isinstance(m, HardGumbelLayer)]
    inputs = [m for m in model.modules() if isinstance(m, HardGumbelInput)]
    assert layers and len(inputs) == 1  # width and share choices; the cascades' exit
    calls = {id(m): set() for m in layers}
    for m in layers:
        for name in m.names:
            m[name].register_forward_hook(lambda mod, *_, m=m, name=name: calls[id(m)].add(name))
    out = task.forward(model, task.example_batch(32, 2))
    out.abs().mean().backward()
    ran = [c for c in calls.values() if c]
    assert ran and all(len(c) == 1 for c in ran)  # one width, one sharing choice per mixed layer that ran
    from nas_engine.oneshot.labels import macro_alphas

    assert all(a.grad is not None for a, _ in macro_alphas(model).values())  # straight-through gradients
    macro, probs = derive_macro(oneshot, oneshot.training_module.choose, SPACE)
    assert [k for k, _ in macro] == ["width", "cascades", "share"]
    assert all(abs(sum(d.values()) - 1) < 1e-6 for d in probs.values())  # plain softmax, no Gumbel noise


def test_dry_run_of_spos_forecasts_its_drawn_paths_and_its_candidates_scoring(cli, tmp_path):
    """SPOS trains one drawn path per step, then scores its candidates: the dry run times 8 draws
    (their mean) and two candidates' scoring with their fine-tuning steps, and writes nothing."""
    import re

    out = tmp_path / "dry"
    rc, stdout, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set",
                          "search.strategy=spos", "--set", "search.candidates=30", "--set", "search.eval_batches=2",
                          "--set", "search.finetune_steps=3", "--dry-run", "--out", out, "--no-progress")
    assert rc == 0, err
    assert "8 drawn paths (the mean step) at batch 1 and 2" in stdout and "a heavier draw goes higher" in stdout
    each, total = re.search(r"then 30 candidates scored on 2 batches after 3 fine-tuning steps each: ([\d.]+) s each "
                            r"\(timed on 2\), ([\d.]+) min", stdout).groups()
    assert float(each) > 0 and float(total) == pytest.approx(30 * float(each) / 60, abs=0.06)
    assert not out.exists()
    # successive halving: 30 -> 8 -> 2 candidates at 0 -> 2 -> 4 steps, each rung's time forecast
    rc, stdout, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set",
                          "search.strategy=spos", "--set", "search.candidates=30", "--set", "search.eval_batches=2",
                          "--set", "search.finetune_ladder=[0,2,4]", "--dry-run", "--out", out, "--no-progress")
    assert rc == 0, err
    assert re.search(r"then successive halving on 2 batches: 30 at 0 steps \([\d.]+ s each\), 8 at 2 steps "
                     r"\([\d.]+ s each\), 2 at 4 steps \([\d.]+ s each\) \(timed on 2\), [\d.]+ min", stdout), stdout
    assert not out.exists()


@pytest.mark.long(4)
def test_spos_under_a_flops_limit_scores_only_candidates_within_it(cli, tmp_path, monkeypatch):
    from nas_engine.complexity import network_flops
    from nas_engine.config import build_config, load_yaml
    from nas_engine.oneshot import spos

    out = tmp_path / "spos"
    limit = 1.0e9  # at 320x320, space C's networks at the tiny depth cost ~0.15-4.5 GFLOPs: most fall out
    rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=spos",
                     "--set", "search.epochs=1", "--set", "search.candidates=4", "--set", "search.eval_batches=1",
                     "--set", f"search.max_flops={limit}", "--out", out, "--no-progress")
    assert rc == 0, err
    cands = json.loads((out / "candidates.json").read_text())
    assert len(cands) == 4 and all(c["flops"] <= limit for c in cands)
    cfg = build_config({k: v for k, v in load_yaml(out / "config.yaml").items() if k != "space"})
    t = get_task("csmri")(cfg.data, seed=cfg.seed)
    best = Genotype.load(out / "genotype.json")
    assert network_flops(t, cfg, best, t.complexity_size) == cands[0]["flops"] <= limit
    assert "FLOPs limit" in (out / "log.txt").read_text()
    monkeypatch.setattr(spos, "GIVE_UP", 5)  # not 100 architectures counted in a test
    rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=spos",
                     "--set", "search.epochs=1", "--set", "search.max_flops=1000", "--out", tmp_path / "none")
    assert rc == 2 and "search.max_flops=1000: none of the 5 architectures drawn" in err and "raise the limit" in err
    rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.max_flops=1e9",
                     "--out", tmp_path / "darts")
    assert rc == 2 and "search.max_flops applies to the candidates a search scores in its supernet; with search.strategy=darts " \
        "set search.select=candidates too" in err


@pytest.mark.long(4)
def test_darts_with_macro_draw_searches_space_c_end_to_end_and_scores_architectures(cli, tmp_path):
    from nas_engine.oneshot.spos import supernet_losses

    out = tmp_path / "darts"
    rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.macro_draw=true",
                     "--set", "search.eval_batches=1", "--out", out, "--no-progress")
    assert rc == 0, err
    best = Genotype.load(out / "genotype.json")
    assert set(best.macro_dict) == {"width", "cascades", "share"}
    others = [genotype(width=8, cascades=1, share=False), genotype(width=24, cascades=2, share=True)]
    first = supernet_losses(out, others)
    assert first == supernet_losses(out, others) and all(0 < x < 10 for x in first)  # one-hot weights draw the same path
    rc, _, err = cli("search", "--task", "csmri", "--space", "C", "--config", "tiny", "--set", "search.strategy=spos",
                     "--set", "search.macro_draw=true", "--out", tmp_path / "x")
    assert rc == 2 and "search.macro_draw is an option of search.strategy=darts, not of spos" in err


@pytest.mark.parametrize("sandwich", [False, True])
def test_spos_sandwich_also_trains_the_deepest_path_of_each_draw(task, sandwich):
    from tasks.csmri.task import SearchCascade

    torch.manual_seed(0)
    cfg = config("spos")
    cfg.search.sandwich = sandwich
    _, oneshot = build_spos(task, SPACE, cfg)
    model = oneshot.training_module.model
    cascade = next(m for m in model.modules() if isinstance(m, SearchCascade))
    seen = []  # per pass: was the output the deepest cascade's?
    last = {}
    cascade.dc[-1].register_forward_hook(lambda m, i, out: last.update(out=out))
    cascade.depth.register_forward_hook(lambda m, i, out: seen.append(torch.equal(out, last["out"])))
    oneshot.training_module.training_step = lambda batch, idx: task.loss(model, batch)  # no trainer to log to
    batch = task.example_batch(32, 2)
    for step in range(8):
        oneshot.training_step(batch, step).backward()
    # SPOS: one pass per step, at a drawn depth (of 1-5); the sandwich: a second pass per step, the deepest
    assert len(seen) == (16 if sandwich else 8)
    if sandwich:
        assert all(seen[1::2]) and not all(seen[0::2])
    else:
        assert not all(seen)


@pytest.mark.parametrize("op_norm", [False, True])
def test_finetuned_scoring_trains_only_a_copy_of_the_path_and_lowers_its_loss(task, op_norm):
    from nas_engine.oneshot.spos import finetune_batches, score_candidates

    torch.manual_seed(0)
    cfg = config("spos")
    cfg.search.op_norm = op_norm  # BatchNorm buffers in the supernet: they are put back too
    _, oneshot = build_spos(task, SPACE, cfg)
    model = oneshot.training_module.model
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == op_norm
    train_w, _ = task.search_datasets(0.5)
    batches = [task.example_batch(32, 2)]
    genos = [genotype(width=8, cascades=2, share=False), genotype(width=24, cascades=1, share=True)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = score_candidates(task, oneshot, genos, batches, tune=batches * 3, lr=1e-3)  # descent on the scored batch
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the supernet is put back after each candidate
    assert score_candidates(task, oneshot, genos, batches, tune=batches * 3, lr=1e-3) == tuned  # the same every time
    raw = score_candidates(task, oneshot, genos, batches)
    assert score_candidates(task, oneshot, genos, batches, tune=batches * 3, lr=0.0) == pytest.approx(raw, abs=1e-6)
    assert all(t < r - 1e-4 for t, r in zip(tuned, raw)), (tuned, raw)
    cfg.search.finetune_steps = 5
    tune = finetune_batches(task, cfg, train_w)
    again = finetune_batches(task, cfg, train_w)  # fixed batches: every candidate is fine-tuned on the same ones
    assert len(tune) == 5 and all(torch.equal(a[k], b[k]) for a, b in zip(tune, again) for k in a if torch.is_tensor(a[k]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_candidates_and_benchmark_samples_come_from_independent_streams(task, seed):
    """A SPOS search of seed S draws its candidates from a stream of its own: none of its first 100 candidates is
    one of the 20 samples `benchmark space` draws at the same seed (with one stream, a seed-0 search's
    candidates 1-20 were the samples 1-20 and its pick repeated a sample)."""
    from nas_engine.app.tables import random_entries
    from nas_engine.oneshot.spos import sample_genotypes

    cfg = Config(task="csmri")
    cfg.model.cells, cfg.model.nodes = 2, 3
    space = load_space("C")
    samples = {Genotype.from_dict(json.loads(e.genotype)).signature()
               for e in random_entries(space, 2, 3, 20, seed, macro=task.macro_space(space.macro_choices))}
    candidates = [g.signature() for g in sample_genotypes(task, space, cfg, 100, seed)]
    assert len(samples) == 20 and len(set(candidates)) == 100
    assert not samples & set(candidates)
