"""Macro choices in the genotype: JSON, validation, and the fixed network they build."""

import json
import random

import pytest
import torch

from nas_engine.config import Config
from nas_engine.errors import UserError
from nas_engine.genotype import Edge, Genotype
from nas_engine.retrain import build_model
from nas_engine.task import get_task, load_task_entry_points
from search_spaces import load_space

CELL = ((Edge(0, "conv_3x3"), Edge(1, "channel_attention")), (Edge(1, "sep_conv_5x5"), Edge(2, "conv_1x1")))


def genotype(**macro) -> Genotype:
    return Genotype("C", load_space("C").ops, 1, 2, CELL, tuple(macro.items()))


@pytest.fixture(scope="module")
def task():
    load_task_entry_points()
    return get_task("csmri")({"size": 32, "cascades": 3, "max_volumes": 2})


def test_macro_json_round_trip_and_text(tmp_path):
    g = genotype(width=16, cascades=4, share=True)
    (tmp_path / "g.json").write_text(g.to_json())
    back = Genotype.load(tmp_path / "g.json")
    assert back == g and back.macro_dict == {"width": 16, "cascades": 4, "share": True}
    assert json.loads(g.to_json())["macro"] == {"width": 16, "cascades": 4, "share": True}
    assert "macro: width 16, cascades 4, share yes" in str(g)
    assert "macro" not in json.loads(Genotype("A", load_space("A").ops, 1, 1, ((Edge(0, "sep_conv_3x3"),
                                                                                 Edge(1, "skip_connect")),)).to_json())


def test_a_macro_value_outside_the_space_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a choice of space C"):
        genotype(width=32)
    d = genotype(width=8).to_dict()
    d["macro"] = {"depth": 3}
    (tmp_path / "g.json").write_text(json.dumps(d))
    with pytest.raises(UserError, match="macro depth=3 is not a choice of space C"):
        Genotype.load(tmp_path / "g.json")


def test_the_fixed_network_takes_width_cascades_and_sharing_from_the_genotype(task):
    cfg = Config(task="csmri")
    cfg.model.cells, cfg.model.nodes, cfg.model.channels = 1, 2, 16
    own = build_model(task, cfg, genotype(width=8, cascades=4, share=False))
    shared = build_model(task, cfg, genotype(width=8, cascades=4, share=True))
    wide = build_model(task, cfg, genotype(width=24, cascades=2, share=False))
    assert len(own.blocks) == 4 and len({id(b) for b in own.blocks}) == 4
    assert len(shared.blocks) == 4 and len({id(b) for b in shared.blocks}) == 1
    assert len(wide.blocks) == 2 and task.options.cascades == 3  # the task itself is unchanged
    assert own.blocks[0].stem0.out_channels == 8 and wide.blocks[0].stem0.out_channels == 24
    n_own, n_shared = (sum(p.numel() for p in m.parameters()) for m in (own, shared))
    assert n_own == 4 * n_shared
    batch = task.example_batch(32, 2)
    assert task.forward(own, batch).shape == batch["input"].shape


def test_a_macro_choice_the_task_does_not_build_is_one_line(task):
    class NoCascades(type(task)):
        macro_options = {}

    t = NoCascades({"size": 32})
    with pytest.raises(UserError, match="chooses cascades, which task csmri does not build"):
        t.with_macro({"width": 8, "cascades": 2})
    assert t.macro_space(load_space("C").macro_choices) == {"width": (8, 16, 24)}
    assert task.macro_space(load_space("C").macro_choices) == load_space("C").macro_choices


def test_random_architectures_draw_the_macro_choices_uniformly():
    s = load_space("C")
    rng = random.Random(0)
    draws = [Genotype.random("C", s.ops, 2, 3, rng, macro=s.macro_choices) for _ in range(600)]
    for key, choices in s.macro_choices.items():
        counts = {c: sum(g.macro_dict[key] == c for g in draws) for c in choices}
        expected = 600 / len(choices)
        assert all(abs(n - expected) < 4 * (expected ** 0.5) for n in counts.values()), (key, counts)
    # without macro choices the draws are those of before (the kept random cells stay reproducible)
    a = load_space("A")
    assert Genotype.random("A", a.ops, 2, 3, random.Random(5)) == \
        Genotype.random("A", a.ops, 2, 3, random.Random(5), macro={})


def test_complexity_counts_the_macro_network(task):
    from nas_engine.complexity import complexity_rows

    cfg = Config(task="csmri")
    rows = {}
    for cascades in (1, 2):
        g = genotype(width=8, cascades=cascades, share=False)
        path = f"/tmp/nasengine-test-macro-{cascades}.json"
        open(path, "w").write(g.to_json())
        rows[cascades] = complexity_rows(task, cfg, {}, [path], 32, with_latency=False, progress=lambda *_: None)[0]
    assert rows[2]["flops"] == 2 * rows[1]["flops"] and rows[2]["params"] == 2 * rows[1]["params"]
    torch.manual_seed(0)


def test_channels_last_computes_the_same_network_faster_layout(task):
    """The speed lever: weights in NHWC order give the same outputs within float rounding, for
    architectures of every op of space C, and the training module turns it on."""
    from nas_engine.network import fixed_module_factory, to_channels_last
    from nas_engine.training import TaskModule

    s = load_space("C")
    rng = random.Random(3)
    batch = task.example_batch(32, 2)
    for _ in range(3):
        g = Genotype.random("C", s.ops, 1, 3, rng, macro=s.macro_choices)
        t = task.with_macro(g.macro_dict)
        torch.manual_seed(0)
        a = t.build_model(fixed_module_factory(g, 2, g.macro_dict["width"], bias=True))
        torch.manual_seed(0)
        b = to_channels_last(t.build_model(fixed_module_factory(g, 2, g.macro_dict["width"], bias=True)))
        convs = [p for p in b.parameters() if p.ndim == 4 and p.shape[-1] > 1]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
        with torch.no_grad():
            oa, ob = task.forward(a, batch), task.forward(b, batch)
        assert oa.shape == ob.shape
        assert float((oa - ob).abs().max()) <= 1e-5 * float(oa.abs().max())
    m = TaskModule(task, a, lr=1e-3)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in m.model.parameters() if p.ndim == 4)


def test_a_macro_value_of_another_type_is_refused():
    """1 == True in Python: share=1 or cascades=true must not pass for a choice of the space."""
    with pytest.raises(ValueError, match="not a choice of space C"):
        genotype(width=8, cascades=2, share=1)
    with pytest.raises(ValueError, match="not a choice of space C"):
        genotype(width=8, cascades=True, share=False)


def test_retrain_says_when_the_genotypes_macro_choices_override_a_set_and_records_what_it_built(cli, tmp_path):
    import yaml

    g = tmp_path / "g.json"
    g.write_text(json.dumps({"space": "C", "ops": ["conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "dil_2_conv_3x3",
                                                   "conv_1x1", "channel_attention", "skip_connect", "none"],
                             "cells": 1, "nodes": 2,
                             "cell": [[{"input": 0, "op": "conv_3x3"}, {"input": 1, "op": "skip_connect"}],
                                      [{"input": 2, "op": "conv_3x3"}, {"input": 0, "op": "conv_1x1"}]],
                             "macro": {"width": 8, "cascades": 2, "share": False}}))
    out = tmp_path / "run"
    rc, stdout, err = cli("retrain", "--genotype", g, "--config", "tiny", "--set", "model.channels=16", "--set",
                          "data.cascades=2", "--out", out, "--no-progress")
    assert rc == 0, err
    notes = [line for line in stdout.splitlines() if line.startswith("note:")]
    # only the --set the genotype overrides (cascades=2 agrees with it)
    assert notes == ["note: --set model.channels=16 is not what trains: the genotype chooses 8 for it (its macro "
                     "choices win; config.yaml records what is built)"]
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"]["channels"] == 8 and cfg["data"]["cascades"] == 2 and cfg["data"]["share_weights"] is False
