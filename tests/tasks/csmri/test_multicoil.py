"""Multi-coil data in fastMRI's layout: the embedded builder, the reader, zero-filled RSS and PICS."""

import json

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from nas_engine.app.cli import main
from nas_engine.errors import UserError
from tasks.csmri.coils import rss_target
from tasks.csmri.data import SliceDataset, inspect_volume, list_volumes
from tasks.csmri.subsample import create_mask_func
from tasks.csmri.task import zero_filled


def test_the_builder_writes_fastmri_multicoil_files(multicoil_data):
    f = list_volumes(multicoil_data / "test")[0]
    with h5py.File(f, "r") as h:
        k, rec = h["kspace"][()], h["reconstruction_rss"][()]
        assert "reconstruction_esc" not in h and "ismrmrd_header" in h
        assert h.attrs["max"] == pytest.approx(float(rec.max()))
    assert k.dtype == np.complex64 and k.ndim == 4 and k.shape[1] == 4 and rec.shape[1:] == (48, 48)
    # the target is fastMRI's: RSS of the centre-cropped coil images
    np.testing.assert_allclose(rss_target(torch.from_numpy(k), (48, 48)).numpy(), rec, rtol=1e-5, atol=1e-12)
    # the coils see different parts of the object (sensitivities), and their noise is correlated
    coil_energy = (np.abs(k) ** 2).sum((0, 2, 3))
    assert coil_energy.max() / coil_energy.min() > 1.05
    info = inspect_volume(f)
    assert info.coils == 4 and info.kspace_shape == k.shape[-2:] and info.recon_shape == (48, 48)


def test_the_reader_gives_per_coil_items_and_fully_sampled_zero_filled_is_the_target(multicoil_data):
    files = list_volumes(multicoil_data / "test")[:1]
    ds = SliceDataset(files, create_mask_func("random", [4.0], [0.1], seed=0), fixed_masks=True)
    item = ds[0]
    assert item["input"].shape == item["kspace"].shape == item["image"].shape == (4, 2, 48, 48)
    assert item["input"].abs().max() == pytest.approx(6.0, rel=1e-5)  # one scale over all coils
    with h5py.File(files[0], "r") as h:
        np.testing.assert_array_equal(item["target"].numpy(), h["reconstruction_rss"][0])
    # sampled lines only where the mask says, in every coil
    unsampled = item["mask"][0, 0] == 0
    assert item["kspace"][..., unsampled].abs().max() == 0 and item["kspace"][..., ~unsampled].abs().max() > 0
    full = SliceDataset(files, lambda w, seed=None: (np.ones(w, np.float32), w, 1.0), fixed_masks=True)
    b = default_collate([full[0]])
    np.testing.assert_allclose(zero_filled(b)[0].numpy(), b["target"][0].numpy(), rtol=1e-4, atol=1e-10)


def test_layouts_do_not_mix_in_one_dataset(multicoil_data, small_data):
    files = list_volumes(multicoil_data / "test")[:1] + list_volumes(small_data / "test")[:1]
    with pytest.raises(UserError, match="mix k-space layouts .*single-coil.*4 coils"):
        SliceDataset(files, create_mask_func("random", [4.0], None, seed=0))


@pytest.mark.slow
def test_pics_beats_zero_filled_by_more_than_1db_at_4x(multicoil_data, tmp_path, capsys):
    out = {}
    for method in ("zero-filled", "pics"):
        rc = main(["evaluate", "--method", method, "--data", str(multicoil_data), "--accelerations", "4",
                   "--center-fractions", "0.1", "--set", "data.max_volumes=2", "--out", str(tmp_path / f"{method}.json"),
                   "--no-progress"])
        assert rc == 0, capsys.readouterr().err
        out[method] = json.loads((tmp_path / f"{method}.json").read_text())
    zf, pics = (out[m]["by_acceleration"]["4"]["psnr"]["mean"] for m in ("zero-filled", "pics"))
    assert pics > zf + 1.0, (zf, pics)
    assert out["pics"]["pics"] == {"lambda": 0.01, "iters": 50}


def test_multicoil_bad_input_is_one_line(multicoil_data, tmp_path, capsys):
    # too few calibration lines for ESPIRiT (8x with 4% of 48 columns: 2 lines)
    rc = main(["evaluate", "--method", "pics", "--data", str(multicoil_data), "--accelerations", "8",
               "--center-fractions", "0.04", "--out", str(tmp_path / "p.json"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "ESPIRiT needs at least 4 fully sampled centre lines" in err and "Traceback" not in err
    rc = main(["evaluate", "--method", "tv", "--data", str(multicoil_data), "--out", str(tmp_path / "t.json"),
               "--no-progress"])
    assert rc == 2 and "use --method pics" in capsys.readouterr().err
    rc = main(["data", "build", "--coils", "0", "--out", str(tmp_path / "d")])
    assert rc == 2 and "--coils must be between 1 and 64" in capsys.readouterr().err


# ---------------------------------------------------------------- networks
def test_grad_dc_with_one_coil_is_the_single_coil_dc():
    """eta = 1, one coil of sensitivity one: the gradient step replaces the sampled lines exactly."""
    from tasks.csmri.multicoil import SenseDC
    from tasks.csmri.transforms import DataConsistency

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 12, 10, generator=g)
    mask = (torch.rand(2, 1, 1, 10, generator=g) < 0.5).float()
    k = torch.randn(2, 2, 12, 10, generator=g) * mask
    from tasks.csmri.transforms import chan_to_complex

    sens = torch.ones(2, 1, 12, 10, dtype=torch.complex64)
    got = SenseDC("grad")(x, chan_to_complex(k).unsqueeze(1), sens, mask)
    want = DataConsistency(None)(x, k, mask)
    assert torch.allclose(got, want, atol=1e-5)


def test_learned_sensitivities_start_as_the_normalised_acs_coil_images():
    from tasks.csmri.coils import acs_lines, rss
    from tasks.csmri.multicoil import SensitivityModel, acs_mask
    from tasks.csmri.transforms import ifft2c

    g = torch.Generator().manual_seed(1)
    k = torch.complex(torch.randn(2, 3, 16, 16, generator=g), torch.randn(2, 3, 16, 16, generator=g))
    mask = torch.zeros(2, 1, 1, 16)
    mask[0, ..., 6:11] = 1
    mask[1, ..., [1, 7, 8, 9, 12]] = 1
    acs = acs_mask(mask)
    assert [int(acs[b].sum()) for b in range(2)] == [acs_lines(mask[b].reshape(-1).numpy() > 0) for b in range(2)] == [5, 3]
    s = SensitivityModel()(k * mask, mask)
    np.testing.assert_allclose(rss(s, 1).detach().numpy(), 1.0, rtol=1e-5)
    low = ifft2c(k * acs)
    np.testing.assert_allclose(s.detach().numpy(), (low / rss(low, 1).unsqueeze(1)).numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_search_retrain_evaluate_on_multicoil_data_beats_zero_filled(multicoil_data, tmp_path, capsys):
    """The usual commands on multi-coil files; a short training already beats zero-filled RSS on the
    training loss (the test that catches a learned model losing to a trivial method)."""
    from torch.utils.data import DataLoader

    from nas_engine.app.options import make_task
    from nas_engine.retrain import load_trained
    from nas_engine.task import get_task

    run = tmp_path / "dccnn"
    rc = main(["retrain", "--method", "dccnn-3", "--config", "tiny", "--data", str(multicoil_data), "--out", str(run),
               "--set", "train.epochs=4", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    task, model, _ = load_trained(run, lambda cfg: make_task(get_task(cfg.task), cfg))
    assert task.coils == 4 and model.multicoil
    ds = task.make_dataset(task.split_files("train"), fixed_masks=True)
    net = zf = 0.0
    model.eval()
    with torch.no_grad():
        for batch in DataLoader(ds, batch_size=8):
            target = batch["target"] * batch["scale"].view(-1, 1, 1).float()
            net += float(task.loss(model, batch)) * len(target)
            zf += float(torch.nn.functional.l1_loss(zero_filled(batch) * batch["scale"].view(-1, 1, 1).float(),
                                                    target)) * len(target)
    assert net < 0.9 * zf, (net, zf)
    rc = main(["search", "--space", "A", "--config", "tiny", "--data", str(multicoil_data), "--out", str(tmp_path / "s"),
               "--set", "data.dc=cg", "--set", "data.cg_iters=3", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rc = main(["evaluate", "--checkpoint", str(run), "--out", str(tmp_path / "e.json"), "--no-progress"])
    assert rc == 0 and json.loads((tmp_path / "e.json").read_text())["overall"]["psnr"]["mean"] > 10
    capsys.readouterr()


@pytest.mark.slow
def test_a_network_of_one_layout_refuses_the_other(multicoil_data, small_data, tmp_path, capsys):
    run = tmp_path / "sc"
    rc = main(["retrain", "--method", "dccnn-3", "--config", "tiny", "--data", str(small_data), "--out", str(run),
               "--set", "train.epochs=1", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rc = main(["evaluate", "--checkpoint", str(run), "--data", str(multicoil_data), "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "trained on single-coil data and cannot take multi-coil files" in err
    rc = main(["retrain", "--method", "dccnn-3", "--config", "tiny", "--data", str(multicoil_data),
               "--out", str(tmp_path / "y"), "--set", "data.dc=newton"])
    assert rc == 2 and "data.dc must be one of grad, cg" in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_table_mc_runs_classical_rows_on_multicoil_files(multicoil_data, small_data, tmp_path, capsys):
    out = tmp_path / "table_mc"
    args = ["benchmark", "table-mc", "--preset", "tiny", "--set", "data.center_fractions=[0.1,0.1]",
            "--only", "Zero-filled,PICS", "--out", str(out), "--work", str(tmp_path / "w")]
    rc = main(args + ["--data", str(multicoil_data)])
    assert rc == 0, capsys.readouterr().err
    rows = {r.split(",")[0]: r.split(",") for r in (out / "table_mc.csv").read_text().splitlines()[1:]}
    header = (out / "table_mc.csv").read_text().splitlines()[0].split(",")
    psnr = {m: float(r[header.index("psnr")]) for m, r in rows.items()}
    assert psnr["PICS"] > psnr["Zero-filled"] + 1.0
    report = (out / "report.md").read_text()
    assert "PICS: lambda" in report and "28.95" not in report  # no single-coil paper numbers here
    rc = main(args[:-4] + ["--out", str(tmp_path / "o2"), "--work", str(tmp_path / "w2"), "--data", str(small_data)])
    assert rc == 2 and "needs multi-coil data" in capsys.readouterr().err


def test_an_untrained_varnet_returns_the_sense_combined_zero_filled_image():
    """E2E-VarNet's refinement starts at zero: the untrained network returns A^H y with its learned
    sensitivities; it trains from there (a random refinement put it 5 dB below zero-filled)."""
    from tasks.csmri.baselines import parse_baseline
    from tasks.csmri.coils import sense_adjoint
    from tasks.csmri.multicoil import MultiCoilCascade
    from tasks.csmri.transforms import chan_to_complex, complex_to_chan

    b = parse_baseline("varnet-2")
    assert b.kspace and b.name == "VarNet-2"
    net = MultiCoilCascade(b.make, 2, kspace=True)
    g = torch.Generator().manual_seed(3)
    mask = torch.zeros(2, 1, 1, 16)
    mask[..., ::3] = 1
    mask[..., 6:10] = 1
    k = torch.randn(2, 3, 2, 16, 16, generator=g) * mask.unsqueeze(1)
    out = net(k, mask)
    kc = chan_to_complex(k)
    want = complex_to_chan(sense_adjoint(kc, net.sens(kc, mask)))
    assert torch.allclose(out, want, atol=1e-6)
    out.abs().sum().backward()  # and it can learn: the U-Net's last layer gets a gradient
    assert net.blocks[0].unet.final[-1].weight.grad.abs().sum() > 0


def test_varnet_needs_multicoil_files(small_data, tmp_path, capsys):
    rc = main(["retrain", "--method", "varnet-4", "--config", "tiny", "--data", str(small_data),
               "--out", str(tmp_path / "v"), "--no-progress"])
    assert rc == 2 and "varnet-4 is a multi-coil network" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_multicoil_flops_add_the_sensitivity_cnn_and_the_sense_ffts_counted_by_hand():
    from tasks.csmri.baselines import parse_baseline
    from tasks.csmri.multicoil import MultiCoilCascade, fft_macs, sense_macs

    assert fft_macs(16) == 160  # 5 N log2 N / 2 with N = 16
    grad = MultiCoilCascade(parse_baseline("dccnn-3").make, 3, dc="grad")
    # n = 16, one FFT 160, per coil op 160 + 4*16 = 224; sensitivities 2*(160 + 48); A^H y 2*224;
    # per grad cascade 2*2*224 + 3*2*16
    assert sense_macs(grad, coils=2, size=4) == 2 * 208 + 2 * 224 + 3 * (2 * 2 * 224 + 96)
    cg = MultiCoilCascade(parse_baseline("dccnn-3").make, 3, dc="cg", cg_iters=10)
    assert sense_macs(cg, 2, 4) == 2 * 208 + 2 * 224 + 3 * (2 * 224 + 10 * (2 * 2 * 224 + 12 * 16))
    assert sense_macs(cg, 8, 320) > 5 * sense_macs(grad, 8, 320)


def test_complexity_of_a_multicoil_network_counts_what_ptflops_cannot_see(multicoil_data):
    from nas_engine.complexity import complexity_rows
    from nas_engine.config import Config
    from tasks.csmri.task import CSMRITask

    rows = complexity_rows(CSMRITask(data=str(multicoil_data)), Config(), {"DCCNN-3": "dccnn-3"}, [], 320,
                           with_latency=False, progress=lambda *a: None)
    (r,) = rows
    assert r["extra_flops"] > 0 and r["flops"] == 17488896000 + r["extra_flops"]  # Table I's modules + the rest
    assert "paper_flops" not in r  # the paper's single-coil count is not this network's


@pytest.mark.slow
def test_espirit_sensitivities_for_the_networks(multicoil_data, tmp_path, capsys):
    """data.sens=espirit: BART's ESPIRiT maps per slice in the batch ("sens", unit RSS inside the
    object), and a network built without its own sensitivity CNN that trains on them."""
    from tasks.csmri.coils import rss
    from tasks.csmri.transforms import chan_to_complex

    files = list_volumes(multicoil_data / "test")[:1]
    ds = SliceDataset(files, create_mask_func("random", [4.0], [0.1], seed=0), fixed_masks=True, espirit=True)
    item = ds[2]
    assert item["sens"].shape == (4, 2, 48, 48)
    r = rss(chan_to_complex(item["sens"]), 0)
    inside = item["target"] > 0.3 * item["target"].max()
    assert torch.allclose(r[inside], torch.ones(int(inside.sum())), atol=1e-3)
    assert ds[2]["sens"] is not None and ds._maps  # fixed masks: computed once
    run = tmp_path / "es"
    rc = main(["retrain", "--method", "dccnn-3", "--config", "tiny", "--data", str(multicoil_data), "--out", str(run),
               "--set", "data.sens=espirit", "--set", "data.center_fractions=[0.1,0.1]", "--set", "train.epochs=1",
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    state = torch.load(run / "model.pt", weights_only=True)
    assert not any(k.startswith("sens.") for k in state)  # no learned sensitivity CNN
    rc = main(["retrain", "--method", "dccnn-3", "--config", "tiny", "--data", str(multicoil_data),
               "--out", str(tmp_path / "b"), "--set", "data.sens=caldir"])
    assert rc == 2 and "data.sens must be learned or espirit" in capsys.readouterr().err


def test_reconstruct_a_multicoil_test_layout_file_with_its_own_mask(multicoil_data, tmp_path, capsys):
    """fastMRI's multi-coil test files: under-sampled kspace [slices, coils, H, W] plus mask [W]; the
    zero-filled output is the RSS of the coil images of exactly that k-space."""
    from tasks.csmri.coils import rss
    from tasks.csmri.transforms import ifft2c

    with h5py.File(list_volumes(multicoil_data / "test")[0], "r") as f:
        k = f["kspace"][()]
    mask = np.zeros(k.shape[-1], dtype=bool)
    mask[::3] = True
    mask[k.shape[-1] // 2 - 4: k.shape[-1] // 2 + 4] = True
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["kspace"], f["mask"] = (k * mask).astype(np.complex64), mask
    rc = main(["reconstruct", "--method", "zero-filled", "--data", str(tmp_path / "t.h5"), "--out", str(tmp_path / "o"),
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    with h5py.File(tmp_path / "o" / "t.h5", "r") as f:
        rec = f["reconstruction"][()]
    want = rss(ifft2c(torch.from_numpy((k * mask).astype(np.complex64)))).numpy()
    np.testing.assert_allclose(rec, want, rtol=1e-4, atol=1e-10)
