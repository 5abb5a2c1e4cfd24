"""Raw-data import: MRD and Siemens twix files made here, converted to fastMRI files; broken input refused.

The files are written with the formats' own packages (``ismrmrd``, ``twixtools.write_twix``) from a known
object, so the converted k-space can be checked against the object exactly.
"""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

ismrmrd = pytest.importorskip("ismrmrd")
twixtools = pytest.importorskip("twixtools")

from nas_engine.errors import UserError  # noqa: E402
from tasks.csmri import rawdata  # noqa: E402
from tasks.csmri.rawdata import emulate_single_coil, fastmri_arrays, read_raw  # noqa: E402


def _fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), axes=(-2, -1), norm="ortho"), axes=(-2, -1))


def _ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), axes=(-2, -1), norm="ortho"), axes=(-2, -1))


def coil_object(coils=2, slices=1, n=16, os_factor=2, seed=0):
    """Complex coil images ``[slices, coils, os*n, n]`` (readout oversampled: the object fills the middle
    half of the readout field of view) and their fully sampled k-space."""
    rng = np.random.RandomState(seed)
    img = np.zeros((slices, coils, os_factor * n, n), np.complex64)
    top = (os_factor * n - n) // 2
    obj = rng.rand(slices, 1, n - 4, n - 4) * np.exp(1j * rng.rand(slices, coils, 1, 1))
    img[:, :, top + 2: top + n - 2, 2: n - 2] = obj
    return img, _fft2c(img).astype(np.complex64)


def write_mrd(path: Path, kspace: np.ndarray, recon_x: int | None = None, skip_lines=(), header: str | None = None,
              traj: str = "cartesian", partial: bool = False, noise_scan: bool = True, bad_line: int | None = None):
    """An MRD file of ``kspace`` [slices, coils, readout, lines]: one acquisition per (slice, line), with a noise
    scan first (skipped by the reader)."""
    from ismrmrd import xsd

    s, c, nx, ny = kspace.shape
    if header is None:
        header = rawdata.mrd_header(recon_x or nx, ny, (200.0, 200.0, 4.0), "TEST", "unit", 3.0,
                                    oversampled_readout=nx)
        if traj != "cartesian" or partial:
            h = xsd.CreateFromDocument(header)
            if traj != "cartesian":
                h.encoding[0].trajectory = xsd.trajectoryType(traj)
            if partial:
                h.encoding[0].encodingLimits.kspace_encoding_step_1.minimum = ny // 4
            header = xsd.ToXML(h)
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=True) as d:
        if header != "":
            d.write_xml_header(header)
        if noise_scan:
            acq = ismrmrd.Acquisition.from_array(np.ones((c, nx), np.complex64))
            acq.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
            d.append_acquisition(acq)
        for si in range(s):
            for line in range(ny):
                if line in skip_lines:
                    continue
                data = kspace[si, :, :, line]
                if bad_line == line:
                    data = data[:, : nx // 2]
                acq = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data))
                acq.idx.kspace_encode_step_1 = line
                acq.idx.slice = si
                d.append_acquisition(acq)
    return path


def _buffer(name: str, text: str) -> bytes:
    raw = text.encode("latin1") + b"\x00"
    return name.encode() + b"\x00" + struct.pack("<I", len(raw)) + raw


def write_twix(path: Path, kspace: np.ndarray, seq: str = "gre", trajectory: int = 1, partial_fourier: int = 16,
               lines: int | None = None, truncate: int = 0):
    """A Siemens VE twix file of ``kspace`` [coils, lines, readout] (readout oversampled x2), written with
    twixtools' own writer from a protocol header made here."""
    from twixtools.mdb import Mdb_local

    c, ny, nx = kspace.shape
    yaps = "\n".join([
        "### ASCCONV BEGIN ###",
        f"sKSpace.lBaseResolution = {nx // 2}", f"sKSpace.lPhaseEncodingLines = {lines or ny}",
        "sKSpace.lPartitions = 1", "sKSpace.ucDimension = 2", f"sKSpace.ucTrajectory = {trajectory}",
        f"sKSpace.ucPhasePartialFourier = {partial_fourier}", "sKSpace.ucReadoutPartialFourier = 16",
        "sSliceArray.asSlice[0].dThickness = 4", "sSliceArray.asSlice[0].dPhaseFOV = 200",
        "sSliceArray.asSlice[0].dReadoutFOV = 200", "sSliceArray.asSlice[0].sNormal.dTra = 1",
        "### ASCCONV END ###", ""])
    bufs = [_buffer("Config", '<ParamString."tPatientName">  { "xxxx" }\n'),
            _buffer("Dicom", '<ParamString."SoftwareVersions">  { "syngo MR XA30" }\n'
                             '<ParamString."Manufacturer">  { "SIEMENS" }\n'
                             '<ParamString."ManufacturersModelName">  { "Test" }\n'
                             '<ParamDouble."flMagneticFieldStrength">  { 2.89 }\n'),
            _buffer("Meas", f'<ParamString."tSequenceFileName">  {{ "%CustomerSeq%\\\\{seq}" }}\n'
                            '<ParamString."tPatientPosition">  { "HFS" }\n'),
            _buffer("MeasYaps", yaps)]
    body = b"".join(bufs)
    hdr = struct.pack("<II", 8 + len(body), len(bufs)) + body
    mdbs = []
    for line in range(ny):
        m = Mdb_local(np.ascontiguousarray(kspace[:, line, :]))
        m.mdh.Counter.Lin = line
        m.mdh.CenterCol = nx // 2
        m.mdh.CenterLin = ny // 2
        m.mdh.EvalInfoMask = 0
        mdbs.append(m)
    scan = {"hdr_str": np.frombuffer(hdr, dtype="<S1"), "mdb": mdbs, "hdr": {}}
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        twixtools.write_twix([scan], str(path))
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - truncate])
    return path


# ------------------------------------------------------------------ MRD
def test_mrd_converts_to_multicoil_with_oversampling_removed(tmp_path, cli):
    img, k = coil_object(coils=3, slices=2, n=16)
    src = write_mrd(tmp_path / "scan.h5", k, recon_x=16)
    scan = read_raw(src)
    assert scan.kind == "mrd" and scan.kspace.shape == (2, 3, 16, 16)
    # the readout field of view halved: the object's middle 16 rows, exactly
    np.testing.assert_allclose(_ifft2c(scan.kspace), img[:, :, 8:24, :], atol=1e-5)
    rc, out, err = cli("data", "convert", src, "--out", tmp_path / "mc")
    assert rc == 0, err
    with h5py.File(tmp_path / "mc" / "scan.h5", "r") as f:
        assert f["kspace"].shape == (2, 3, 16, 16)
        rss = np.sqrt((np.abs(img[:, :, 8:24]) ** 2).sum(1))
        np.testing.assert_allclose(f["reconstruction_rss"][()], rss, atol=1e-5)
        assert b"ismrmrdHeader" in f["ismrmrd_header"][()]
        assert f.attrs["max"] == pytest.approx(rss.max(), rel=1e-5)
    rc, out, err = cli("data", "inspect", tmp_path / "mc" / "scan.h5")
    assert rc == 0 and "3 coils (multi-coil)" in out and "16 x 16" in out
    # refuses to overwrite; --force moves the old file aside
    rc, out, err = cli("data", "convert", src, "--out", tmp_path / "mc")
    assert rc == 2 and "already exists" in err and "Traceback" not in err
    rc, out, err = cli("data", "convert", src, "--out", tmp_path / "mc", "--force")
    assert rc == 0 and (tmp_path / "mc" / "scan.h5.old").is_file()


def test_single_coil_emulation_is_one_image_and_fits_rss():
    img, k = coil_object(coils=4, slices=1, n=24, os_factor=1)
    scan = rawdata.RawScan(k, rawdata.mrd_header(24, 24, (1.0, 1.0, 1.0)), "x", "mrd").check()
    arrays = fastmri_arrays(scan, single_coil=True)
    esc = _ifft2c(arrays["kspace"][0])
    w, combo = emulate_single_coil(img[0])
    np.testing.assert_allclose(esc, combo, atol=1e-5)  # the k-space is the Fourier transform of the ESC image
    np.testing.assert_allclose(arrays["reconstruction_esc"][0], np.abs(combo), atol=1e-5)
    rss = np.sqrt((np.abs(img[0]) ** 2).sum(0))
    # least squares: no other single weight vector (e.g. the first coil alone, or equal weights) fits RSS better
    for other in (np.eye(4)[0], np.ones(4) / 2):
        assert np.linalg.norm(combo - rss) <= np.linalg.norm(np.tensordot(other, img[0], 1) - rss) + 1e-9


def test_lower_resolution_is_the_central_k_space_of_the_same_field_of_view():
    from ismrmrd import xsd

    img, k = coil_object(coils=2, slices=1, n=24, os_factor=1)
    scan = rawdata.RawScan(k, rawdata.mrd_header(24, 24, (220.0, 220.0, 5.0)), "x", "mrd").check()
    half = rawdata.lower_resolution(scan, 2)
    assert half.kspace.shape == (1, 2, 12, 12)
    np.testing.assert_array_equal(half.kspace, k[:, :, 6:18, 6:18])  # DC (12, 12) -> (6, 6): still the centre
    assert half.kspace[0, 0, 6, 6] == k[0, 0, 12, 12]
    # a smoothed copy of the object: what a 12-line scan of the same field of view images (its mean kept)
    low = _ifft2c(half.kspace)
    assert np.abs(low.mean((-2, -1)) - 2 * img.mean((-2, -1))).max() < 1e-5  # ortho FFT: sqrt(N/n) times the mean
    enc = xsd.CreateFromDocument(half.header).encoding[0]
    assert (enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y, enc.reconSpace.matrixSize.x) == (12, 12, 12)
    assert enc.encodedSpace.fieldOfView_mm.x == 220.0 and enc.encodingLimits.kspace_encoding_step_1.center == 6
    with pytest.raises(UserError, match="too small"):
        rawdata.lower_resolution(scan, 8)


def test_convert_single_coil_then_evaluate(tmp_path, cli):
    img, k = coil_object(coils=2, slices=3, n=32)
    src = write_mrd(tmp_path / "brain.h5", k, recon_x=32)
    rc, out, err = cli("data", "convert", src, "--out", tmp_path / "sc", "--single-coil")
    assert rc == 0, err
    with h5py.File(tmp_path / "sc" / "brain.h5", "r") as f:
        assert f["kspace"].shape == (3, 32, 32) and f["reconstruction_esc"].shape == (3, 32, 32)
    rc, out, err = cli("evaluate", "--method", "zero-filled", "--data", tmp_path / "sc", "--out", tmp_path / "r.json",
                       "--no-progress", "--accelerations", "4")
    assert rc == 0, err
    assert "4x" in out


@pytest.mark.parametrize("kind,kw,message", [
    ("undersampled", {"skip_lines": (1, 3, 5)}, "misses 3 of 16 phase-encoding lines"),
    ("radial", {"traj": "radial"}, "radial trajectory"),
    ("partial Fourier", {"partial": True}, "partial Fourier"),
    ("mixed sizes", {"bad_line": 5}, "mixed matrix sizes"),
    ("no header", {"header": ""}, "not an MRD file"),
    ("bad header", {"header": "<ismrmrdHeader>broken"}, "does not parse"),
])
def test_mrd_refusals(tmp_path, cli, kind, kw, message):
    img, k = coil_object(coils=2, slices=1, n=16, os_factor=1)
    src = write_mrd(tmp_path / "bad.h5", k, **kw)
    rc, out, err = cli("data", "convert", src, "--out", tmp_path / "out")
    assert rc == 2, kind
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "bad.h5").exists() and not any((tmp_path / "out").glob(".*"))  # nothing half-written


def test_foreign_and_fastmri_files_refused(tmp_path, cli, good_kspace, write_h5):
    fm = write_h5(tmp_path / "fm.h5", kspace=good_kspace)
    rc, out, err = cli("data", "convert", fm, "--out", tmp_path / "o")
    assert rc == 2 and "already a fastMRI file" in err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    rc, out, err = cli("data", "convert", other, "--out", tmp_path / "o")
    assert rc == 2 and "unknown layout" in err
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    rc, out, err = cli("data", "convert", txt, "--out", tmp_path / "o")
    assert rc == 2 and "neither HDF5" in err
    rc, out, err = cli("data", "convert", tmp_path / "missing.dat", "--out", tmp_path / "o")
    assert rc == 2 and "no such file" in err


# ------------------------------------------------------------------ twix
def test_twix_converts_with_oversampling_removed(tmp_path, cli):
    img, k = coil_object(coils=2, slices=1, n=16)  # [1, coils, 32 readout, 16 lines]
    src = write_twix(tmp_path / "meas.dat", np.transpose(k[0], (0, 2, 1)))
    scan = read_raw(src)
    assert scan.kind == "twix" and scan.kspace.shape == (1, 2, 16, 16) and scan.acquisition == "GRE"
    # twixtools removes the oversampling in its own way (a crop of the image, no renormalisation): same image,
    # up to one constant factor
    got = _ifft2c(scan.kspace[0])
    want = img[0, :, 8:24, :]
    ratio = np.vdot(want, got) / np.vdot(want, want)
    np.testing.assert_allclose(got, ratio * want, atol=1e-4 * np.abs(got).max())
    rc, out, err = cli("data", "convert", src, "--out", tmp_path / "o")
    assert rc == 0, err
    assert "SIEMENS" in h5py.File(tmp_path / "o" / "meas.h5", "r")["ismrmrd_header"][()].decode()


@pytest.mark.parametrize("kw,message", [
    ({"seq": "ep2d_bold"}, "EPI sequence"),
    ({"trajectory": 2}, "non-Cartesian"),
    ({"partial_fourier": 4}, "partial Fourier"),
    ({"lines": 24}, "under-sampled"),
    ({"truncate": 3000}, ""),
])
def test_twix_refusals(tmp_path, cli, kw, message):
    img, k = coil_object(coils=2, slices=1, n=16)
    src = write_twix(tmp_path / "meas.dat", np.transpose(k[0], (0, 2, 1)), **kw)
    rc, out, err = cli("data", "convert", src, "--out", tmp_path / "o")
    if kw.get("truncate"):  # a truncated file: refused, or read as far as it goes (fewer lines: under-sampled)
        assert rc == 2 and "Traceback" not in err
        return
    assert rc == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "o" / "meas.h5").exists()


# ------------------------------------------------------------------ property-based: no traceback on broken files
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _valid_files(folder: Path) -> dict[str, bytes]:
    """One small valid file of each kind the readers take, as bytes."""
    img, k = coil_object(coils=2, slices=1, n=8)
    mrd = write_mrd(folder / "v.h5", k, recon_x=8).read_bytes()
    twix = write_twix(folder / "v.dat", np.transpose(k[0], (0, 2, 1))).read_bytes()
    with h5py.File(folder / "f.h5", "w") as f:
        f["kspace"] = k[0, 0]
    return {"mrd": mrd, "twix": twix, "fastmri": (folder / "f.h5").read_bytes()}


def _read_any(path: Path, kind: str) -> None:
    """What a user's command does with the file: read it as raw data (MRD, twix) or as a fastMRI volume
    (inspect, then load every slice as evaluate does)."""
    if kind == "fastmri":
        from tasks.csmri.data import SliceDataset, inspect_volume
        from tasks.csmri.subsample import create_mask_func

        inspect_volume(path)
        ds = SliceDataset([path], create_mask_func("random", [4], [0.08]), crop_size=4)
        for i in range(len(ds)):
            ds[i]
    else:
        read_raw(path)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    return _valid_files(tmp_path_factory.mktemp("valid"))


@pytest.mark.parametrize("kind", ["mrd", "twix", "fastmri"])
def test_corrupted_files_give_one_line(kind, valid_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"fuzz-{kind}")
    good = valid_files[kind]
    suffix = ".dat" if kind == "twix" else ".h5"

    @FUZZ
    @given(cut=st.integers(0, len(good)), flips=st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(1, 255)),
                                                         max_size=8))
    def check(cut, flips):
        data = bytearray(good[:cut] if cut < len(good) and not flips else good)
        for pos, x in flips:
            data[pos] ^= x
        path = folder / f"x{suffix}"
        path.write_bytes(bytes(data))
        try:
            _read_any(path, kind)
        except UserError as e:
            assert str(e) and "\n" not in str(e)

    check()


@pytest.mark.parametrize("suffix", [".h5", ".dat"])
def test_random_bytes_give_one_line(suffix, tmp_path_factory):
    folder = tmp_path_factory.mktemp("random")

    @FUZZ
    @given(data=st.binary(max_size=4096))
    def check(data):
        path = folder / f"r{suffix}"
        path.write_bytes(data)
        with pytest.raises(UserError):
            read_raw(path)

    check()
