"""Parity with fastMRI's own code (the official ``fastmri`` 0.3.0 package, installed by ``make``
without its heavy dependencies: ``pip install --no-deps fastmri runstats``): masks, centred FFTs,
crops, the metrics of ``fastmri.evaluate``, and its ``SliceDataset`` reading our files.

One deliberate deviation: fastMRI seeds a validation mask per *volume* (``tuple(map(ord, fname))``),
we seed it per *slice* (the same tuple plus the slice index and the run's seed), so each slice of a
volume gets its own mask; the per-volume tuple itself is the same (tested below)."""

import json

import fastmri
import fastmri.evaluate as fm_eval
import h5py
import numpy as np
import pytest
import torch
from fastmri.data import subsample as fm_sub
from fastmri.data import transforms as fm_t
from fastmri.data.mri_data import SliceDataset as FastMRISliceDataset

from tasks.csmri.metrics import volume_metrics
from tasks.csmri.subsample import create_mask_func, seed_from_name
from tasks.csmri.transforms import center_crop, fft2c, ifft2c

FASTMRI_MASKS = {"random": fm_sub.RandomMaskFunc, "equispaced": fm_sub.EquiSpacedMaskFunc,
                 "equispaced_fraction": fm_sub.EquispacedMaskFractionFunc}


@pytest.mark.parametrize("kind", sorted(FASTMRI_MASKS))
@pytest.mark.parametrize("width", [36, 96, 320, 368, 372, 640])
def test_masks_equal_fastmris_for_every_seed(kind, width):
    ours = create_mask_func(kind, [4, 8], [0.08, 0.04])
    theirs = FASTMRI_MASKS[kind]([0.08, 0.04], [4, 8])
    for seed in list(range(40)) + [seed_from_name("file1000001.h5"), seed_from_name("brain.h5", 3, 0)]:
        mask, n_low, _ = ours(width, seed=seed)
        ref, ref_low = theirs((1, width, 2), seed=seed)
        assert n_low == ref_low
        np.testing.assert_array_equal(mask, ref.numpy().reshape(-1), err_msg=f"{kind} {width} {seed}")


def test_per_volume_seed_is_fastmris():
    assert seed_from_name("file1000001.h5") == tuple(map(ord, "file1000001.h5"))


@pytest.mark.parametrize("shape", [(3, 64, 38), (2, 33, 31), (1, 640, 368)])
def test_centred_ffts_and_crops_equal_fastmris(shape):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    for ours, theirs in ((fft2c, fastmri.fft2c), (ifft2c, fastmri.ifft2c)):
        np.testing.assert_allclose(torch.view_as_real(ours(x)), theirs(torch.view_as_real(x)), rtol=1e-5, atol=1e-5)
    for crop in ((shape[1] // 2, shape[2] // 2), (shape[1] - 1, shape[2]), (min(shape[1:]), min(shape[1:]))):
        torch.testing.assert_close(torch.view_as_real(center_crop(x, crop)),
                                   fm_t.complex_center_crop(torch.view_as_real(x), crop), rtol=0, atol=0)
        torch.testing.assert_close(center_crop(x.real, crop), fm_t.center_crop(x.real, crop), rtol=0, atol=0)


def test_metrics_on_saved_reconstructions_equal_fastmri_evaluate(cli, small_data, tmp_path):
    rc, _, err = cli("evaluate", "--method", "zero-filled", "--config", "tiny", "--data", small_data,
                     "--out", tmp_path / "res.json", "--save-recons", tmp_path / "recons", "--no-progress")
    assert rc == 0, err
    results = json.loads((tmp_path / "res.json").read_text())
    assert results["per_volume"]
    for row in results["per_volume"]:
        with h5py.File(small_data / "test" / row["file"], "r") as f:
            gt = np.asarray(f["reconstruction_esc"])
        with h5py.File(tmp_path / "recons" / row["file"], "r") as f:
            pred = np.asarray(f["reconstruction"])
        assert row["nmse"] == pytest.approx(fm_eval.nmse(gt, pred), rel=1e-6)
        assert row["psnr"] == pytest.approx(fm_eval.psnr(gt, pred), rel=1e-6)
        assert row["ssim"] == pytest.approx(fm_eval.ssim(gt, pred), rel=1e-6)
        assert row["mse"] == pytest.approx(fm_eval.mse(gt, pred), rel=1e-6)
    # and on arbitrary volumes (values outside [0, max], a different data range)
    rng = np.random.default_rng(0)
    gt = rng.random((4, 40, 36)).astype(np.float32)
    pred = (gt + 0.1 * rng.standard_normal(gt.shape)).astype(np.float32)
    ours = volume_metrics(gt, pred)
    for name in ("mse", "nmse", "psnr", "ssim"):
        assert ours[name] == pytest.approx(getattr(fm_eval, name)(gt, pred), rel=1e-6), name


def test_fastmri_slice_dataset_reads_the_embedded_files(small_data):
    files = sorted((small_data / "test").glob("*.h5"))
    ds = FastMRISliceDataset(small_data / "test", challenge="singlecoil", transform=None)
    n = 0
    for path in files:
        with h5py.File(path, "r") as f:
            n += f["kspace"].shape[0]
    assert len(ds) == n
    kspace, mask, target, attrs, fname, slice_num = ds[0]
    with h5py.File(small_data / "test" / fname, "r") as f:
        np.testing.assert_array_equal(kspace, f["kspace"][slice_num])
        np.testing.assert_array_equal(target, f["reconstruction_esc"][slice_num])
    assert mask is None  # fully sampled files carry no mask
    # the ISMRMRD header gives fastMRI the k-space and reconstruction sizes
    assert tuple(attrs["recon_size"][:2]) == target.shape and attrs["encoding_size"][1] == kspace.shape[1]
