"""`nasengine reconstruct`: fastMRI test-layout files with their own mask, fully sampled files
under-sampled as in evaluate, the submission layout, and bad input."""

import re

import h5py
import numpy as np
import pytest
import torch

from tasks.csmri.subsample import create_mask_func
from tasks.csmri.transforms import center_crop, ifft2c


def test_layout_file(src, dest, acceleration=4, seed=3):
    """A fastMRI test/challenge file made from a fully sampled one: under-sampled k-space (zeros off
    the mask), ``mask`` [W], attrs ``acceleration`` and ``num_low_frequency``, no target."""
    with h5py.File(src, "r") as f:
        k = np.asarray(f["kspace"])
        attrs = dict(f.attrs)
    width = k.shape[-1]
    mask, n_low, _ = create_mask_func("random", [acceleration], seed=seed)(width, seed=seed)
    mask = mask.astype(bool)
    with h5py.File(dest, "w") as f:
        f.create_dataset("kspace", data=(k * mask).astype(np.complex64))
        f.create_dataset("mask", data=mask)
        f.attrs.update({**attrs, "acceleration": acceleration, "num_low_frequency": n_low})
    return dest, k, mask


test_layout_file.__test__ = False  # a helper, not a test


@pytest.fixture
def test_file(small_data, tmp_path):
    src = sorted((small_data / "test").glob("*.h5"))[0]
    return test_layout_file(src, tmp_path / src.name)


def read(path):
    with h5py.File(path, "r") as f:
        assert list(f.keys()) == ["reconstruction"]
        return np.asarray(f["reconstruction"])


def test_zero_filled_of_a_test_layout_file_is_the_cropped_ifft_of_its_kspace(cli, test_file, tmp_path):
    path, k, mask = test_file
    rc, out, err = cli("reconstruct", "--method", "zero-filled", "--data", path, "--out", tmp_path / "out",
                       "--no-progress")
    assert rc == 0, err
    rec = read(tmp_path / "out" / path.name)
    assert rec.dtype == np.float32
    # the file's own mask, no further under-sampling; fastMRI's crop: 320, or the image where smaller
    h, w = k.shape[1:]
    size = (min(320, h), min(320, w))
    expected = center_crop(ifft2c(torch.from_numpy(k * mask)), size).abs().numpy()
    assert rec.shape == (k.shape[0], *size)
    np.testing.assert_allclose(rec, expected, rtol=1e-4, atol=1e-6 * expected.max())
    assert f"its own mask ({mask.sum()} of {mask.size} lines)" in out
    # --crop sets the output size
    rc, _, err = cli("reconstruct", "--method", "zero-filled", "--data", path, "--out", tmp_path / "c",
                     "--crop", 16, "--no-progress")
    assert rc == 0, err
    np.testing.assert_allclose(read(tmp_path / "c" / path.name), center_crop(torch.from_numpy(expected), (16, 16)),
                               rtol=1e-4, atol=1e-6 * expected.max())


def test_fully_sampled_files_are_undersampled_as_evaluate_does(cli, small_data, tmp_path):
    rc, _, err = cli("evaluate", "--method", "zero-filled", "--config", "tiny", "--data", small_data,
                     "--out", tmp_path / "res.json", "--save-recons", tmp_path / "ev", "--no-progress")
    assert rc == 0, err
    rc, out, err = cli("reconstruct", "--method", "zero-filled", "--config", "tiny", "--data", small_data / "test",
                       "--out", tmp_path / "rec", "--no-progress")
    assert rc == 0, err
    files = sorted(p.name for p in (tmp_path / "ev").glob("*.h5"))  # tiny: evaluate uses 2 volumes
    written = sorted(p.name for p in (tmp_path / "rec").glob("*.h5"))  # reconstruct: every file given
    assert written == sorted(p.name for p in (small_data / "test").glob("*.h5")) and set(files) < set(written)
    for name in files:
        np.testing.assert_array_equal(read(tmp_path / "rec" / name), read(tmp_path / "ev" / name))
    assert "under-sampled as in evaluate" in out


@pytest.mark.long(12)
@pytest.mark.slow
def test_a_trained_network_reconstructs_both_layouts_and_exports(cli, small_data, test_file, tmp_path):
    path, k, mask = test_file
    run = tmp_path / "run"
    rc, _, err = cli("retrain", "--config", "tiny", "--method", "dccnn-3", "--data", small_data, "--out", run,
                     "--epochs", 1, "--no-progress")
    assert rc == 0, err
    # fully sampled files: the same numbers as evaluate --save-recons
    rc, _, err = cli("evaluate", "--checkpoint", run, "--out", tmp_path / "res.json", "--save-recons", tmp_path / "ev",
                     "--no-progress")
    assert rc == 0, err
    rc, _, err = cli("reconstruct", "--checkpoint", run, "--data", small_data / "test", "--out", tmp_path / "rec",
                     "--no-progress", "--batch-size", 3)
    assert rc == 0, err
    for p in (tmp_path / "ev").glob("*.h5"):
        np.testing.assert_allclose(read(tmp_path / "rec" / p.name), read(p), rtol=1e-5, atol=1e-7 * read(p).max())
    # a test-layout file: the network runs at the k-space's full size, then the output is cropped
    rc, _, err = cli("reconstruct", "--checkpoint", run, "--data", path, "--out", tmp_path / "t", "--no-progress")
    assert rc == 0, err
    rec = read(tmp_path / "t" / path.name)
    zf = center_crop(ifft2c(torch.from_numpy(k * mask)), rec.shape[1:]).abs().numpy()
    assert rec.shape == zf.shape and np.isfinite(rec).all()
    assert not np.allclose(rec, zf, rtol=1e-3)  # the network changed the zero-filled image
    # its own options are the run's: --set/--config are refused
    rc, _, err = cli("reconstruct", "--checkpoint", run, "--config", "demo", "--out", tmp_path / "x", "--no-progress")
    assert rc == 2 and "uses the run's own config" in err
    # exported, data consistency included: ONNX (dynamic batch and image size: the test file is
    # 64 x 38, the export example 32 x 32) and TorchScript reproduce the PyTorch reconstruction
    for fmt, name in (("onnx", "network.onnx"), ("torchscript", "network.pt")):
        rc, out, err = cli("export", "--checkpoint", run, "--format", fmt)
        assert rc == 0, err
        worst = float(re.search(r"max relative difference (\S+)", out).group(1))
        assert worst < 1e-3 and (run / name).is_file()
        rc, _, err = cli("reconstruct", "--model", run / name, "--data", path, "--out", tmp_path / fmt,
                         "--no-progress")
        assert rc == 0, err
        exported = read(tmp_path / fmt / path.name)
        assert np.abs(exported - rec).max() / rec.max() < 1e-3, fmt
    rc, _, err = cli("export", "--checkpoint", run, "--format", "onnx")
    assert rc == 2 and "already exists" in err  # never overwritten without --force
    rc, _, err = cli("reconstruct", "--model", run / "model.pt", "--out", tmp_path / "y", "--no-progress")
    assert rc == 2 and "not a TorchScript file written by `nasengine export`" in err  # the state dict


def test_bad_input_is_one_line(cli, test_file, tmp_path):
    path, k, mask = test_file
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("kspace", data=k)
        f.create_dataset("mask", data=np.ones(k.shape[-1] + 1, dtype=bool))
    cases = [
        (["--method", "zero-filled", "--data", bad], "'mask' has shape"),
        (["--method", "zero-filled", "--checkpoint", tmp_path], "exactly one of"),
        (["--method", "bm3d", "--data", path], "unknown method 'bm3d'"),
        (["--method", "zero-filled", "--data", tmp_path / "missing.h5"], "no such file"),
        (["--method", "zero-filled", "--data", path, "--batch-size", 0], "--batch-size must be >= 1"),
    ]
    for args, message in cases:
        rc, _, err = cli("reconstruct", *args, "--out", tmp_path / "o", "--no-progress")
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    with h5py.File(bad, "w") as f:
        f.create_dataset("kspace", data=k)
        f.create_dataset("mask", data=np.zeros(k.shape[-1], dtype=bool))
    rc, _, err = cli("reconstruct", "--method", "zero-filled", "--data", bad, "--out", tmp_path / "o", "--no-progress")
    assert rc == 2 and "samples no k-space line" in err
    # an existing output folder is not overwritten without --force
    (tmp_path / "mine").mkdir()
    rc, _, err = cli("reconstruct", "--method", "zero-filled", "--data", path, "--out", tmp_path / "mine",
                     "--no-progress")
    assert rc == 2 and "already exists" in err
