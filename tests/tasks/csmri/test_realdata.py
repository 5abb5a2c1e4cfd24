"""``nasengine data build --real`` end to end on sdists made here (the real ones are 90 MB of downloads):
checksums, extraction of the data member only, every layout (the half-resolution ones included), the
README's provenance, atomic and reproducible output, and one line for a changed download."""

from __future__ import annotations

import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("ismrmrd")

from tasks.csmri import realdata  # noqa: E402


def _pyqmri_file(path: Path, contrasts: int, coils: int, n: int, seed: int) -> None:
    """A file in pyqmri's layout: ``real_dat``/``imag_dat`` [contrasts, coils, 1, n, n], DC at the corner."""
    rng = np.random.RandomState(seed)
    img = np.zeros((contrasts, coils, 1, n, n), np.complex64)
    img[..., 4:n - 4, 4:n - 4] = rng.rand(contrasts, 1, 1, n - 8, n - 8) * np.exp(1j * rng.rand(1, coils, 1, 1, 1))
    k = np.fft.fft2(img, axes=(-2, -1), norm="ortho")
    with h5py.File(path, "w") as f:
        f["real_dat"], f["imag_dat"] = k.real.astype(np.float32), k.imag.astype(np.float32)
        f.attrs["fa"] = np.radians(np.arange(1, contrasts + 1) * 2.0)


@pytest.fixture
def fake_sources(tmp_path, monkeypatch):
    """Two sdists in a --sources folder, each with its data member and a decoy file, pinned by their hashes."""
    folder = tmp_path / "sdists"
    folder.mkdir()
    made = []
    for i, src in enumerate(realdata.SOURCES):
        raw = tmp_path / f"raw{i}.h5"
        _pyqmri_file(raw, contrasts=3 - i, coils=4, n=32, seed=i)
        sdist = folder / f"{src.name}-{src.version}.tar.gz"
        with tarfile.open(sdist, "w:gz") as tar:
            tar.add(raw, arcname=src.member)
            tar.add(raw, arcname=f"{src.name}-{src.version}/setup.py")  # not extracted
        made.append(realdata.RealSource(src.name, src.version, src.requirement, realdata.sha256(sdist), src.member,
                                        src.licence, src.stem, src.what))
    monkeypatch.setattr(realdata, "SOURCES", tuple(made))
    return folder


def test_build_real_from_sources(cli, tmp_path, fake_sources):
    out = tmp_path / "real"
    rc, stdout, err = cli("data", "build", "--real", "--out", out, "--sources", fake_sources)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", *sorted(realdata.LAYOUTS)]
    readme = (out / "README.txt").read_text()
    assert "TEST ONLY" in readme and all(s.sha256 in readme for s in realdata.SOURCES)
    for folder, (single, stems, factor) in realdata.LAYOUTS.items():
        assert sorted(p.name for p in (out / folder / "test").iterdir()) == sorted(f"{s}.h5" for s in stems)
        with h5py.File(out / folder / "test" / "pyqmri_vfa_brain.h5" if "pyqmri_vfa_brain" in stems
                       else out / folder / "test" / f"{stems[0]}.h5") as f:
            k = f["kspace"]
            assert k.shape[-2:] == (32 // factor, 32 // factor)
            assert (k.ndim == 3) == single  # single-coil: [slices, H, W]; multi-coil: [slices, coils, H, W]
            assert ("reconstruction_esc" if single else "reconstruction_rss") in f
    # the half-resolution brain is the central quarter of the full one's measured k-space, coil by coil
    with h5py.File(out / "multicoil" / "test" / "pyqmri_vfa_brain.h5") as full, \
            h5py.File(out / "multicoil_half" / "test" / "pyqmri_vfa_brain.h5") as half:
        np.testing.assert_array_equal(half["kspace"][()], full["kspace"][:, :, 8:24, 8:24])
    rc, stdout, err = cli("data", "inspect", out / "singlecoil_half" / "test" / "pyqmri_vfa_brain.h5")
    assert rc == 0 and "16 x 16" in stdout
    # reproducible: a second build is byte for byte the same; an existing set is not overwritten
    rc, _, err = cli("data", "build", "--real", "--out", tmp_path / "again", "--sources", fake_sources)
    assert rc == 0, err
    for p in sorted(out.rglob("*.h5")):
        assert p.read_bytes() == (tmp_path / "again" / p.relative_to(out)).read_bytes(), p
    rc, _, err = cli("data", "build", "--real", "--out", out, "--sources", fake_sources)
    assert rc == 2 and "already exists" in err


def test_build_real_refuses_a_changed_download_and_leaves_nothing(cli, tmp_path, fake_sources):
    sdist = fake_sources / f"{realdata.SOURCES[1].name}-{realdata.SOURCES[1].version}.tar.gz"
    sdist.write_bytes(sdist.read_bytes() + b"\0")  # one byte more: another file
    rc, _, err = cli("data", "build", "--real", "--out", tmp_path / "real", "--sources", fake_sources)
    assert rc == 2 and "SHA-256" in err and "not the pinned" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "real").exists() and not list(tmp_path.glob(".real-*"))  # nothing half-written
    rc, _, err = cli("data", "build", "--real", "--out", tmp_path / "real", "--sources", tmp_path / "nowhere")
    assert rc == 2 and "not a folder" in err
