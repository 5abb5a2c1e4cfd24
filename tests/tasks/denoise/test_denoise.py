"""The denoise task through the task-agnostic layers: complexity, the benchmark runners, macro choices."""

import csv
import json

import pytest
import torch

from nas_engine.task import get_task, load_task_entry_points


@pytest.fixture(scope="module")
def task():
    load_task_entry_points()
    return get_task("denoise")({"patch": 24, "max_patches": 16})


def test_denoise_reports_its_image_module_for_complexity(task):
    from nas_engine.complexity import modules_complexity
    from nas_engine.genotype import Edge, Genotype
    from nas_engine.network import fixed_module_factory

    g = Genotype("A", ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none"), 1, 1,
                 ((Edge(0, "skip_connect"), Edge(1, "skip_connect")),))
    model = task.build_model(fixed_module_factory(g, 1, 4))
    (module,) = task.image_modules(model)
    flops, params = modules_complexity([module], (1, 16, 16))
    # stems 1->4 and 4->4 3x3, the cell's two ReLU + 1x1 preprocessings, head 4->1 3x3, no biases
    assert params == 1 * 4 * 9 + 4 * 4 * 9 + 2 * 4 * 4 + 4 * 1 * 9
    assert flops > params * 16 * 16 * 0.9
    batch = task.example_batch(16, 2)
    assert task.forward(model, batch).shape == batch["target"].shape == (2, 1, 16, 16)


@pytest.mark.long(12)
@pytest.mark.slow
def test_benchmark_random_and_space_run_for_the_denoise_task(cli, tmp_path):
    rc, _, err = cli("benchmark", "random", "--task", "denoise", "--preset", "tiny", "--n", "2",
                     "--out", tmp_path / "random", "--work", tmp_path / "w", "--no-progress")
    assert rc == 0, err
    rows = list(csv.DictReader(open(tmp_path / "random" / "random.csv")))
    assert [r["method"] for r in rows] == ["NAS A 2n", "random-1", "random-2"] and all(float(r["flops"]) > 0 for r in rows)
    rc, _, err = cli("benchmark", "space", "--task", "denoise", "--preset", "tiny", "--n", "2", "--seeds", "2",
                     "--out", tmp_path / "space", "--work", tmp_path / "w", "--no-progress")
    assert rc == 0, err
    g = json.loads((tmp_path / "space" / "c_sample_1" / "seed0" / "genotype.json").read_text())
    assert set(g["macro"]) == {"width"}  # denoise builds no cascades: only the engine's width is sampled
    assert "does not build the space's macro choice(s) cascades, share" in (tmp_path / "space" / "report.md").read_text()
    torch.manual_seed(0)
