"""The GPU tier (``make test-gpu``, ``pytest -m gpu``): what needs CUDA. Skipped, with the reason, on a
machine where PyTorch sees no CUDA GPU."""

import copy

import pytest
import torch

from nas_engine.genotype import Edge, Genotype
from nas_engine.network import fixed_module_factory
from nas_engine.task import get_task, load_task_entry_points

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="no CUDA GPU here: the gpu tier runs on a GPU machine (make test-gpu)")]

OPS = ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")
CELL = Genotype("A", OPS, 1, 2, ((Edge(0, "sep_conv_3x3"), Edge(1, "dil_2_conv_3x3")),
                                 (Edge(1, "skip_connect"), Edge(2, "dil_3_conv_3x3"))))


@pytest.fixture(scope="module")
def task():
    load_task_entry_points()
    return get_task("csmri")({"size": 32, "cascades": 2, "max_volumes": 2})


def to(batch: dict, device: str) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def loss_and_grads(task, model, batch):
    model.zero_grad()
    loss = task.loss(model, batch)
    loss.backward()
    return float(loss), [p.grad.detach().float().cpu().clone() for p in model.parameters() if p.grad is not None]


def test_a_retrain_step_on_cuda_matches_the_cpu(task):
    torch.manual_seed(0)
    cpu = task.build_model(fixed_module_factory(CELL, 2, 8, bias=True))
    gpu = copy.deepcopy(cpu).cuda()
    batch = task.example_batch(32, 2)
    lc, gc = loss_and_grads(task, cpu, batch)
    lg, gg = loss_and_grads(task, gpu, to(batch, "cuda"))
    assert lg == pytest.approx(lc, rel=1e-4)
    assert len(gc) == len(gg) and all(torch.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(gc, gg))


def test_a_search_step_on_cuda_matches_the_cpu(task):
    from nas_engine.config import Config
    from nas_engine.oneshot.build import build_oneshot
    from search_spaces import load_space

    cfg = Config(task="csmri")
    cfg.model.cells, cfg.model.nodes, cfg.model.channels = 1, 2, 8
    torch.manual_seed(0)
    _, oneshot = build_oneshot(task, load_space("A"), cfg)
    cpu = oneshot.training_module.model
    gpu = copy.deepcopy(cpu).cuda()
    batch = task.example_batch(32, 2)
    lc, gc = loss_and_grads(task, cpu, batch)
    lg, gg = loss_and_grads(task, gpu, to(batch, "cuda"))
    assert lg == pytest.approx(lc, rel=1e-4)
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(gc, gg))


def test_bf16_autocast_on_cuda_keeps_float32_around_the_module(task):
    torch.manual_seed(0)
    full = task.build_model(fixed_module_factory(CELL, 2, 8)).cuda()
    half = task.build_model(fixed_module_factory(CELL, 2, 8, precision="bf16")).cuda()
    half.load_state_dict(full.state_dict())
    batch = to(task.example_batch(32, 2), "cuda")
    with torch.no_grad():
        a, b = task.forward(full, batch), task.forward(half, batch)
    assert b.dtype == torch.float32 and torch.isfinite(b).all()
    assert float((a - b).abs().max() / a.abs().max()) < 5e-2  # bfloat16 keeps ~3 significant digits


@pytest.mark.slow
def test_search_retrain_ddp_and_export_on_one_gpu(cli, tmp_path):
    rc, _, err = cli("search", "--config", "tiny", "--accelerator", "gpu", "--out", tmp_path / "s", "--no-progress")
    assert rc == 0, err
    rc, _, err = cli("retrain", "--config", "tiny", "--genotype", tmp_path / "s" / "genotype.json", "--accelerator",
                     "gpu", "--devices", "1", "--ddp-strategy", "ddp", "--out", tmp_path / "r", "--no-progress")
    assert rc == 0, err
    rc, out, err = cli("evaluate", "--checkpoint", tmp_path / "r", "--out", tmp_path / "r.json", "--no-progress")
    assert rc == 0, err

    from nas_engine.export import export_model
    from nas_engine.retrain import load_trained

    t, model, cfg = load_trained(tmp_path / "r", lambda c: get_task(c.task)(c.data, data=c.data_path, seed=c.seed))
    diff = export_model(t, model.cuda(), cfg.to_dict(), "torchscript", tmp_path / "net.pt")
    assert diff < 1e-4 and (tmp_path / "net.pt").stat().st_size > 0
