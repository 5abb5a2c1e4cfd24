import json

import numpy as np
import pytest
import torch

from nas_engine.app.cli import main
from nas_engine.complexity import modules_complexity
from nas_engine.errors import UserError
from tasks.csmri.baselines import parse_baseline
from tasks.csmri.paper import TABLE1_COMPLEXITY, TABLE1_METHODS
from tasks.csmri.task import CSMRITask

# Table I of Yan et al. as printed (FLOPs, params), typed here from the paper, not from the code.
PAPER_TABLE1 = {"unet": (12.17e9, 3349e3), "dccnn-3": (17.41e9, 170.0e3), "dccnn-11": (62.87e9, 613.9e3),
                "modl-3": (17.41e9, 56.7e3), "modl-11": (62.87e9, 204.3e3), "rdn-3": (26.03e9, 86.79e3),
                "rdn-8": (68.79e9, 86.79e3)}


def test_the_code_carries_the_papers_table1():
    assert {TABLE1_METHODS[n]: v for n, v in TABLE1_COMPLEXITY.items()} == PAPER_TABLE1


@pytest.mark.parametrize("method", list(PAPER_TABLE1))
def test_complexity_reproduces_table1_within_1_percent(method):
    """Paper configuration: 3 cascades, one 2x320x320 input, reconstruction modules only (ptflops)."""
    task = CSMRITask({"cascades": 3})
    model = task.build_baseline(method)
    flops, params = modules_complexity(task.image_modules(model), (2, 320, 320))
    paper_flops, paper_params = PAPER_TABLE1[method]
    assert abs(flops / paper_flops - 1) < 0.01, (flops, paper_flops)
    assert abs(params / paper_params - 1) < 0.01, (params, paper_params)


def test_dccnn3_params_by_hand():
    # conv 2->32 (576 + 32), 3 blocks of two 32->32 convs (9216 + 32 each), conv 32->2 (576 + 2) = 56,674
    m = parse_baseline("dccnn-3").make()
    assert sum(p.numel() for p in m.parameters()) == 56_674
    modl = CSMRITask({"cascades": 3}).build_baseline("modl-3")
    assert sum(p.numel() for p in modl.parameters()) == 56_674  # one module shared by the 3 cascades
    assert modl.blocks[0] is modl.blocks[2]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["unet", "dccnn-2", "modl-2", "rdn-2"])
def test_every_baseline_trains_and_evaluates_on_tiny_data(method, tmp_path, capsys):
    rc = main(["retrain", "--config", "tiny", "--method", method, "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rc = main(["evaluate", "--checkpoint", str(tmp_path / "r"), "--out", str(tmp_path / "r.json"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["method"] == method and np.isfinite(res["overall"]["psnr"]["mean"])


def test_unknown_baseline_is_a_clear_error(tmp_path, capsys):
    rc = main(["retrain", "--method", "resnet-3", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown method 'resnet-3'" in err and not (tmp_path / "r").exists()
    with pytest.raises(UserError):
        parse_baseline("dccnn-0")


def test_cfl_round_trip(tmp_path):
    from tasks.csmri.tv import read_cfl, write_cfl

    a = (np.arange(24).reshape(2, 3, 4) + 1j * np.arange(24).reshape(2, 3, 4)[::-1]).astype(np.complex64)
    write_cfl(tmp_path / "x", a)
    assert (tmp_path / "x.hdr").read_text().splitlines()[1].split()[:4] == ["2", "3", "4", "1"]
    assert np.array_equal(read_cfl(tmp_path / "x"), a)


def test_tv_improves_over_zero_filled_on_an_embedded_slice(embedded):
    pytest.importorskip("shutil").which("bart") or pytest.skip("Debian package bart not installed")
    from tasks.csmri.metrics import psnr
    from tasks.csmri.task import zero_filled
    from tasks.csmri.tv import tv_reconstructor

    task = CSMRITask({"accelerations": [4.0]}, seed=0)
    ds = task.make_dataset(task.split_files("test")[2:3])
    batch = torch.utils.data.default_collate([ds[2]])
    gt = batch["target"].numpy()
    zf = zero_filled(batch).numpy()
    tv = tv_reconstructor(iters=100)(batch).numpy()
    assert psnr(gt, tv) > psnr(gt, zf) + 1.0


@pytest.mark.parametrize("nodes,paper_flops,paper_params", [(2, 11.37e9, 107.7e3), (3, 15.07e9, 142.3e3),
                                                            (4, 18.76e9, 176.8e3)])
def test_searched_net_skeleton_reproduces_tables_1_and_2(nodes, paper_flops, paper_params):
    """Paper config (C=32, N=3 cells, 3 cascades): a space-A cell whose 2*M edges are all separable/dilated
    convs has exactly the parameter count of the paper's searched nets, and FLOPs within 1%."""
    from nas_engine.genotype import Edge, Genotype
    from nas_engine.network import fixed_module_factory

    ops = ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")
    cell = tuple((Edge(0, ops[i % 3]), Edge(i + 1, ops[(i + 1) % 3])) for i in range(nodes))
    g = Genotype("A", ops, 3, nodes, cell)
    task = CSMRITask({"cascades": 3})
    model = task.build_model(fixed_module_factory(g, 2, 32))
    flops, params = modules_complexity(task.image_modules(model), (2, 320, 320))
    assert round(params / 100) == round(paper_params / 100)  # 107.7K / 142.3K / 176.8K exactly at 0.1K
    assert abs(flops / paper_flops - 1) < 0.01, flops


def test_unet_output_follows_the_input_scale():
    """fastMRI's normalisation makes the U-Net scale-equivariant: f(a x) = a f(x). The bare 2019
    U-Net ends in instance norms and is not (its output ignored the input's scale)."""
    torch.manual_seed(0)
    net = parse_baseline("unet").make().eval()
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        y, y3 = net(x), net(3.0 * x)
    assert torch.allclose(y3, 3.0 * y, rtol=1e-4, atol=1e-4)


@pytest.mark.long(6)
@pytest.mark.slow
def test_unet_training_l1_beats_zero_filled(small_data):
    """After a short training on embedded MR slices, the U-Net's L1 to the fully sampled image is
    below the zero-filled image's L1 (the shipped U-Net scored below zero-filled)."""
    from torch.utils.data import DataLoader

    task = CSMRITask({"cascades": 1}, data=str(small_data), seed=0)
    torch.manual_seed(0)
    model = task.build_baseline("unet")
    ds = task.train_dataset()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    for _ in range(4):
        for batch in loader:
            opt.zero_grad()
            task.loss(model, batch).backward()
            opt.step()
    model.eval()
    net_l1 = zf_l1 = 0.0
    with torch.no_grad():
        for batch in DataLoader(ds, batch_size=16):
            net_l1 += float(task.loss(model, batch)) * len(batch["input"])
            zf_l1 += float(torch.nn.functional.l1_loss(batch["input"], batch["image"])) * len(batch["input"])
    assert net_l1 < 0.9 * zf_l1, (net_l1, zf_l1)


def test_tv_tuned_on_validation_reports_the_choice(small_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(CSMRITask, "TV_GRID", {"lambda": (1e-4, 0.03), "iters": (30,)})
    rc = main(["evaluate", "--method", "tv", "--tune", "--data", str(small_data), "--out", str(tmp_path / "tv.json"),
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    tv = json.loads((tmp_path / "tv.json").read_text())["tv"]
    grid = tv["tuned_on_val"]["grid"]
    assert [g["lambda"] for g in grid] == [1e-4, 0.03] and tv["tuned_on_val"]["val_slices"] > 0
    best = max(grid, key=lambda g: g["val_psnr"])
    assert (tv["lambda"], tv["iters"]) == (best["lambda"], best["iters"])
    rc = main(["evaluate", "--checkpoint", str(tmp_path), "--tune", "--out", str(tmp_path / "x.json")])
    assert rc == 2 and "--tune applies to --method" in capsys.readouterr().err
