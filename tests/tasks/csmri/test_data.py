from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from nas_engine.errors import UserError
from tasks.csmri.data import SliceDataset, inspect_volume, list_volumes
from tasks.csmri.embedded import kspace_shape
from tasks.csmri.subsample import create_mask_func
from tasks.csmri.transforms import center_crop, fft2c, ifft2c, magnitude


def test_embedded_layout_is_fastmri_single_coil(embedded):
    for split in ("train", "val", "test"):
        assert list_volumes(embedded / split)
    train = {p.name for p in list_volumes(embedded / "train")}
    test = {p.name for p in list_volumes(embedded / "test")}
    assert all(n.startswith("colin27") for n in train) and all(n.startswith("mni152") for n in test)
    f = list_volumes(embedded / "test")[0]
    with h5py.File(f, "r") as h:
        assert h["kspace"].dtype == np.complex64
        assert h["kspace"].shape[1:] == kspace_shape(96) == (192, 110)
        assert h["reconstruction_esc"].shape[1:] == (96, 96)
        assert h["reconstruction_esc"].dtype == np.float32
        for key in ("max", "norm", "acquisition", "patient_id"):
            assert key in h.attrs
        assert b"ismrmrdHeader" in h["ismrmrd_header"][()]
        # reconstruction_esc is exactly |crop(ifft2c(kspace))| and attrs agree with it
        k = torch.from_numpy(h["kspace"][0])
        esc = center_crop(ifft2c(k), (96, 96)).abs().numpy()
        assert np.allclose(esc, h["reconstruction_esc"][0], rtol=1e-4, atol=1e-9)
        assert h.attrs["max"] == pytest.approx(float(h["reconstruction_esc"][()].max()))
        # real data is complex: the phase is not constant inside the object
        img = center_crop(ifft2c(k), (96, 96)).numpy()
        obj = np.abs(img) > 0.3 * np.abs(img).max()
        assert np.angle(img[obj]).std() > 0.05


def test_train_val_test_share_no_slice(embedded):
    names = [p.name for s in ("train", "val", "test") for p in list_volumes(embedded / s)]
    assert len(names) == len(set(names))
    spans = []
    for s in ("train", "val"):
        for p in list_volumes(embedded / s):
            a, b = p.stem.split("_ax")[1].split("-")
            spans.append((int(a), int(b)))
    spans.sort()
    assert all(prev[1] < nxt[0] for prev, nxt in zip(spans, spans[1:]))


def test_slice_dataset_sample(embedded):
    files = list_volumes(embedded / "test")
    ds = SliceDataset(files, create_mask_func("random", [4, 8]))
    assert len(ds) == sum(inspect_volume(f).num_slices for f in files)
    s = ds[0]
    assert s["input"].shape == s["image"].shape == s["kspace"].shape == (2, 96, 96)
    assert s["mask"].shape == (1, 1, 96) and s["target"].shape == (96, 96)
    assert s["input"].abs().max().item() == pytest.approx(6.0, rel=1e-5)
    # the zero-filled input is the IFFT of the measured k-space; measured = full k-space on sampled lines
    k_full = fft2c(torch.complex(s["image"][0], s["image"][1]))
    k_meas = torch.complex(s["kspace"][0], s["kspace"][1])
    m = s["mask"][0, 0] > 0
    assert torch.allclose(k_meas[:, m], k_full[:, m], atol=1e-4)
    assert torch.all(k_meas[:, ~m] == 0)
    # undoing the scale gives the target (reconstruction_esc) from the full image
    assert torch.allclose(magnitude(s["image"]).double() / s["scale"], s["target"].double(), rtol=1e-3, atol=1e-8)
    assert s["acceleration"].item() in (4.0, 8.0)
    # fixed masks: same item, same mask
    assert torch.equal(ds[0]["mask"], s["mask"])


def test_training_masks_change_per_epoch_reproducibly(embedded):
    files = list_volumes(embedded / "train")[:1]
    ds = SliceDataset(files, create_mask_func("random", [4, 8]), fixed_masks=False, seed=1)
    ds.set_epoch(0)
    m0 = ds[2]["mask"]
    ds.set_epoch(1)
    m1 = ds[2]["mask"]
    ds.set_epoch(0)
    assert torch.equal(ds[2]["mask"], m0) and not torch.equal(m0, m1)


def test_training_noise_is_at_its_level_reproducible_and_never_on_fixed_masks(embedded):
    """data.noise: training slices get white complex noise of std level x peak, the level drawn from [lo, hi] per
    (epoch, slice); the target is the noisy image (as in a measured scan); validation/test sets get none."""
    files = list_volumes(embedded / "train")[:1]
    mask = create_mask_func("random", [4])
    clean = SliceDataset(files, mask, fixed_masks=False, seed=1)[2]
    noisy_ds = SliceDataset(files, mask, fixed_masks=False, seed=1, noise=(0.05, 0.05))
    noisy = noisy_ds[2]
    img = lambda s: torch.complex(s["image"][0].double(), s["image"][1].double()) / s["scale"]  # noqa: E731
    diff = img(noisy) - img(clean)
    level = diff.abs().pow(2).mean().sqrt() / img(clean).abs().max()
    assert level.item() == pytest.approx(0.05, rel=0.05)
    assert torch.allclose(magnitude(noisy["image"]).double() / noisy["scale"], noisy["target"].double(), rtol=1e-3,
                          atol=1e-8)
    assert torch.equal(noisy_ds[2]["image"], noisy["image"])  # same epoch, same noise
    noisy_ds.set_epoch(1)
    assert not torch.equal(noisy_ds[2]["image"], noisy["image"])  # a fresh draw each epoch
    fixed = SliceDataset(files, mask, fixed_masks=True, seed=1)
    assert torch.equal(SliceDataset(files, mask, fixed_masks=True, seed=1, noise=(0.05, 0.05))[2]["image"], fixed[2]["image"])


def test_training_patches_are_windows_of_the_slice_and_never_on_fixed_masks(embedded):
    """data.patch: each training item is a patch x patch window of its slice (the target the same window, the mask
    drawn for the window's width), at a place that changes by epoch; validation/test items stay whole."""
    files = list_volumes(embedded / "train")[:1]
    mask = create_mask_func("random", [4])
    whole = SliceDataset(files, mask, fixed_masks=False, seed=1)[2]
    ds = SliceDataset(files, mask, fixed_masks=False, seed=1, patch=16)
    item = ds[2]
    assert item["input"].shape[-2:] == item["target"].shape == (16, 16) and item["mask"].shape[-1] == 16
    full = whole["target"].numpy()
    windows = [(t, lft) for t in range(full.shape[0] - 15) for lft in range(full.shape[1] - 15)
               if np.allclose(full[t:t + 16, lft:lft + 16], item["target"].numpy(), rtol=1e-5, atol=1e-8)]
    assert len(windows) >= 1  # the patch is the whole slice's target at one place
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["target"], item["target"])  # another place next epoch
    fixed = SliceDataset(files, mask, fixed_masks=True, seed=1, patch=16)[2]
    assert fixed["target"].shape == whole["target"].shape


def test_bad_data_options_are_one_line(cli, tmp_path):
    for bad, msg in (("data.patch=4", "data.patch must be 0 (whole slices) or at least 8 pixels, got 4"),
                     ("data.noise=[0.2,0.1]", "data.noise must be [lo, hi] with 0 <= lo <= hi <= 1")):
        rc, _, err = cli("retrain", "--method", "dccnn-2", "--config", "tiny", "--set", bad, "--out", tmp_path / "x")
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err


def test_target_falls_back_to_cropped_magnitude(tmp_path, good_kspace, write_h5):
    f = write_h5(tmp_path / "a.h5", kspace=good_kspace)
    with pytest.raises(UserError, match="crop size"):
        SliceDataset([f], create_mask_func("random", [4]))
    ds = SliceDataset([f], create_mask_func("random", [4]), crop_size=20)
    img = center_crop(ifft2c(torch.from_numpy(good_kspace[1])), (20, 20)).abs()
    assert torch.allclose(ds[1]["target"], img.float(), rtol=1e-5)


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda w, p, k: p.write_bytes(b"not an hdf5 file at all"), "not a readable HDF5"),
        (lambda w, p, k: w(p, image=np.abs(k)), "no 'kspace'"),
        (lambda w, p, k: w(p, kspace=k.real), "must be complex"),
        (lambda w, p, k: w(p, kspace=k[0]), r"\[slices, H, W\]"),
        (lambda w, p, k: w(p, kspace=k[:0]), "empty volume"),
    ],
)
def test_bad_files_are_named(tmp_path, good_kspace, write_h5, make, msg):
    p = tmp_path / "bad.h5"
    make(write_h5, p, good_kspace)
    with pytest.raises(UserError, match=msg) as e:
        inspect_volume(p)
    assert "bad.h5" in str(e.value)


def test_truncated_file(tmp_path, good_kspace, write_h5):
    p = write_h5(tmp_path / "t.h5", kspace=good_kspace)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable HDF5"):
        inspect_volume(p)


def test_nan_slice_is_reported_with_file_and_slice(tmp_path, good_kspace, write_h5):
    k = good_kspace.copy()
    k[1, 3, 3] = np.nan
    ds = SliceDataset([write_h5(tmp_path / "n.h5", kspace=k)], create_mask_func("random", [4]), crop_size=20)
    ds[0]
    with pytest.raises(UserError, match=r"n\.h5: slice 1 .*NaN"):
        ds[1]


def test_crop_larger_than_image(tmp_path, good_kspace, write_h5):
    f = write_h5(tmp_path / "c.h5", kspace=good_kspace)
    with pytest.raises(UserError, match="larger than the image"):
        SliceDataset([f], create_mask_func("random", [4]), crop_size=64)


def test_ismrmrd_header_has_what_fastmri_slicedataset_reads(embedded):
    """fastMRI's SliceDataset._retrieve_metadata: encoded/recon matrix sizes and the k-space limits."""
    import xml.etree.ElementTree as etree

    ns = {"i": "http://www.ismrm.org/ISMRMRD"}
    f = list_volumes(embedded / "train")[0]
    with h5py.File(f, "r") as h:
        root = etree.fromstring(h["ismrmrd_header"][()])
        kshape = h["kspace"].shape

    def q(path):
        return int(root.find("/".join(f"i:{p}" for p in path), ns).text)

    enc = [q(["encoding", "encodedSpace", "matrixSize", a]) for a in "xyz"]
    rec = [q(["encoding", "reconSpace", "matrixSize", a]) for a in "xyz"]
    center = q(["encoding", "encodingLimits", "kspace_encoding_step_1", "center"])
    maximum = q(["encoding", "encodingLimits", "kspace_encoding_step_1", "maximum"]) + 1
    assert enc[:2] == list(kshape[1:]) and rec[:2] == [96, 96]
    padding_left = enc[1] // 2 - center
    assert padding_left == 0 and padding_left + maximum == kshape[2]  # no zero-padded columns


def test_all_zero_slice_is_reported(tmp_path, good_kspace, write_h5):
    k = good_kspace.copy()
    k[0] = 0
    ds = SliceDataset([write_h5(tmp_path / "z.h5", kspace=k)], create_mask_func("random", [4]), crop_size=20)
    with pytest.raises(UserError, match=r"z\.h5: slice 0 of 'kspace' is all zero"):
        ds[0]


def test_many_volumes_are_never_open_at_once(tmp_path, good_kspace, write_h5):
    """A directory of hundreds of volumes: files are opened per item and closed again."""
    import psutil

    for i in range(120):
        write_h5(tmp_path / f"v{i:03d}.h5", kspace=good_kspace)
    me = psutil.Process()

    def open_h5():
        return [f.path for f in me.open_files() if f.path.endswith(".h5")]

    ds = SliceDataset(list_volumes(tmp_path), create_mask_func("random", [4.0], [0.08]), crop_size=32)
    assert len(ds) == 240 and open_h5() == []
    for i in range(0, len(ds), 7):
        ds[i]
        assert open_h5() == []


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_search_weight_and_architecture_splits_share_no_volume(small_data, fraction):
    from tasks.csmri.task import CSMRITask

    task = CSMRITask({}, data=str(small_data), seed=3)
    w, a = task.search_datasets(fraction)
    ds = w.dataset
    vols_w = {ds.index[i][0] for i in w.indices}
    vols_a = {ds.index[i][0] for i in a.indices}
    assert vols_w and vols_a and not vols_w & vols_a
    assert len(w) + len(a) == len(ds) and sorted(list(w.indices) + list(a.indices)) == list(range(len(ds)))
    assert len(vols_a) == min(max(1, round(len(ds.volumes) * fraction)), len(ds.volumes) - 1)


@pytest.mark.skipif(not Path("/usr/share/mricron/templates/ch2bet.nii.gz").exists(),
                    reason="needs Debian's mricron-data (Colin27); `make setup` installs it as root")
@pytest.mark.long(5)
def test_bench_data_three_views_and_augmentation(tmp_path):
    """The bench dataset has sagittal, coronal and axial slabs; augmentation changes training
    samples per epoch (reproducibly) and never touches fixed-mask (evaluation) sets."""
    from tasks.csmri.embedded import build

    root = build(tmp_path / "d", size=32, quiet=True, views="3view")
    bet = build(tmp_path / "b", size=32, quiet=True, views="3view+bet")
    # 3view+bet adds brain-extracted Colin27 volumes and leaves every other file as 3view writes it
    for split in ("train", "val", "test"):
        plain = {p.name: p.read_bytes() for p in list_volumes(root / split)}
        more = {p.name: p.read_bytes() for p in list_volumes(bet / split)}
        assert {n: b for n, b in more.items() if n in plain} == plain
        assert all(n.startswith("colin27bet_") for n in set(more) - set(plain))
        assert (split == "test") == (set(more) == set(plain))
    names = [p.name for p in list_volumes(root / "train")]
    assert any("_sag" in n for n in names) and any("_cor" in n for n in names) and any("_ax" in n for n in names)
    assert all(n.startswith("mni152_") for n in (p.name for p in list_volumes(root / "test")))
    files = list_volumes(root / "train")[:1]
    mf = create_mask_func("random", [4.0], [0.08])
    aug = SliceDataset(files, mf, fixed_masks=False, seed=0, augment=True)
    plain = SliceDataset(files, mf, fixed_masks=False, seed=0, augment=False)
    a0 = aug[0]["image"]
    t_aug, t_plain = aug[0]["target"], plain[0]["target"]
    assert torch.equal(t_aug.flatten().sort().values, t_plain.flatten().sort().values)  # same pixels, moved
    assert not torch.allclose(a0, plain[0]["image"])
    assert torch.equal(aug[0]["image"], a0)  # reproducible within an epoch
    aug.set_epoch(1)
    assert not torch.equal(aug[0]["image"], a0)
    fixed = SliceDataset(files, mf, fixed_masks=True, seed=0, augment=True)
    assert torch.equal(fixed[0]["image"], SliceDataset(files, mf, fixed_masks=True, seed=0)[0]["image"])


def test_input_scale_is_exactly_6_over_the_peak_per_image():
    """One rule for training slices and test-layout batches (reconstruct): 6 / max(|re|, |im|),
    to the last bit as a Python division, per image of a batch; 1 for an all-zero image."""
    import torch

    from tasks.csmri.data import input_scale

    g = torch.Generator().manual_seed(0)
    for i in range(200):
        zf = torch.complex(torch.randn(2, 7, 9, generator=g) * 10.0 ** (i % 7 - 3), torch.randn(2, 7, 9, generator=g))
        peaks = [float(torch.maximum(z.real.abs().max(), z.imag.abs().max())) for z in zf]
        assert input_scale(zf).tolist() == [6.0 / p for p in peaks]
    assert float(input_scale(torch.zeros(3, 3, dtype=torch.complex64))) == 1.0
