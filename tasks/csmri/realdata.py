"""The real test set: measured k-space from source distributions on the package index.

``nasengine data build --real`` fetches two source distributions by pinned version and SHA-256 with pip
(no other host), extracts only their data files and converts them (:mod:`.rawdata`):

* ``pyqmri==1.3.0`` (Apache-2.0): ``test/VFA_cart_smalltest.h5``, an in-vivo brain, one axial slice of a
  T1-weighted spoiled gradient echo at 10 flip angles (1-19 degrees), 13 receive channels (virtual coils),
  Cartesian, fully sampled, 224 x 224. Each flip angle is one slice of the volume.
* ``twixtools==0.24`` (MIT): ``example_data/gre.dat``, Siemens Skyra 3T raw data of a physical phantom,
  a 2D gradient echo, 2 channels, 160 lines x 320 samples (readout oversampled x2; 160 x 160 after removal).

Layout (``--data`` roots; test split only: never train, tune or select on it)::

    real-v2/singlecoil/test/         both files, emulated single coil (ESC), reconstruction_esc
    real-v2/multicoil/test/          the brain, 13 channels, reconstruction_rss
    real-v2/phantom_multicoil/test/  the phantom, 2 channels
    real-v2/singlecoil_half/test/    as singlecoil/, at half the resolution (the central quarter of k-space)
    real-v2/multicoil_half/test/     as multicoil/, at half the resolution
    real-v2/README.txt               provenance, licences, checksums

The ``_half`` folders are the same measurements seen by a scan of the same field of view at half the matrix
(112 x 112 for the brain, about 2 mm pixels): the pixel size of the embedded training data (a whole head in
96 x 96), so that a network trained there meets anatomy at the scale it learned. The full-resolution
folders are the harder, honest case (1 mm: structures twice the size the network has seen).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nas_engine.errors import UserError

REAL_VERSION = 2  # 2: the _half folders


@dataclass(frozen=True)
class RealSource:
    name: str
    version: str
    requirement: str  # what pip downloads
    sha256: str  # of the sdist
    member: str  # the data file inside it
    licence: str
    stem: str  # the converted file's name
    what: str


SOURCES = (
    RealSource("pyqmri", "1.3.0", "pyqmri==1.3.0",
               "36d015a999ca0f3f46e078444cbb928b8471049d2d2d8ae88afd122561f76642",
               "pyqmri-1.3.0/test/VFA_cart_smalltest.h5", "Apache-2.0", "pyqmri_vfa_brain",
               "in-vivo brain, T1w spoiled gradient echo at 10 flip angles, 13 channels, 224x224, fully sampled"),
    # twixtools' sdist reports version 0.0.0 in its metadata (its version comes from git), so pip refuses
    # `twixtools==0.24`; the file is named on the index's own file host, pinned by its hash.
    RealSource("twixtools", "0.24",
               "https://files.pythonhosted.org/packages/17/49/ad4dd04245db61f086a41f275e1a12e52c73ca65239c779f7c4fbcf7fa24/"
               "twixtools-0.24.tar.gz",
               "d9ee05cc9cdf5287d6e331e5aa693b8bd15c33bdb4d4e73e4f2f259aeaedfdaa",
               "twixtools-0.24/example_data/gre.dat", "MIT", "twixtools_gre_phantom",
               "physical phantom, Siemens Skyra 3T 2D gradient echo, 2 channels, 160x160 (x2 readout oversampling "
               "removed), fully sampled"),
)

LAYOUTS = {  # folder -> (single-coil?, source stems, resolution divided by)
    "singlecoil": (True, ("pyqmri_vfa_brain", "twixtools_gre_phantom"), 1),
    "multicoil": (False, ("pyqmri_vfa_brain",), 1),
    "phantom_multicoil": (False, ("twixtools_gre_phantom",), 1),
    "singlecoil_half": (True, ("pyqmri_vfa_brain", "twixtools_gre_phantom"), 2),
    "multicoil_half": (False, ("pyqmri_vfa_brain",), 2),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sdist(src: RealSource, folder: Path, sources: Path | None) -> Path:
    """The sdist of ``src``: from ``sources`` (a folder of already downloaded sdists) or fetched with pip."""
    fname = f"{src.name}-{src.version}.tar.gz"
    if sources is not None:
        path = sources / fname
        if not path.is_file():
            raise UserError(f"--sources {sources}: no {fname} there (fetch it with: pip download --no-deps --no-binary "
                            f":all: --no-build-isolation -d {sources} {src.requirement})")
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "--no-build-isolation", "--disable-pip-version-check", "-d", str(folder), src.requirement]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except FileNotFoundError:
            raise UserError("pip is not available in this Python; download the sdists by hand and pass --sources DIR")
        except subprocess.TimeoutExpired:
            raise UserError(f"pip download {src.requirement} took over 30 minutes; check the network, or pass "
                            "--sources DIR with the sdists") from None
        path = folder / fname
        if done.returncode != 0 or not path.is_file():
            last = next((ln for ln in reversed((done.stderr or "").splitlines()) if ln.strip() and "Location" not in ln), "")
            raise UserError(f"could not fetch {src.name} {src.version} from the package index ({last.strip()[:160] or 'pip failed'}); "
                            "offline? download it elsewhere and pass --sources DIR")
    got = sha256(path)
    if got != src.sha256:
        raise UserError(f"{path}: SHA-256 {got[:16]}... is not the pinned {src.sha256[:16]}... of {src.name} "
                        f"{src.version}; a changed or corrupt download")
    return path


def _extract(sdist: Path, member: str, dest: Path) -> Path:
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            info = tar.getmember(member)
            f = tar.extractfile(info)
            if f is None:
                raise KeyError(member)
            out = dest / Path(member).name
            with open(out, "wb") as w:
                shutil.copyfileobj(f, w)
    except (KeyError, tarfile.TarError, EOFError, OSError) as e:
        raise UserError(f"{sdist}: cannot extract {member} ({e.__class__.__name__})") from None
    return out


def build_real(out: str | os.PathLike | None = None, sources: str | os.PathLike | None = None,
               quiet: bool = False) -> Path:
    """Fetch, check, extract and convert the real test set into ``out`` (default: the data cache),
    atomically: the folder appears whole or not at all."""
    from .embedded import default_root
    from .rawdata import lower_resolution, read_raw, write_fastmri

    out = Path(out) if out else default_root() / f"real-v{REAL_VERSION}"
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty; choose another --out or remove it")
    src_dir = Path(sources) if sources else None
    if src_dir is not None and not src_dir.is_dir():
        raise UserError(f"--sources {src_dir}: not a folder")
    say = (lambda *a: None) if quiet else print
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".real-", dir=out.parent))
    except OSError as e:
        raise UserError(f"--out {out}: cannot write there ({e.strerror or e.__class__.__name__}); choose another "
                        "folder (or set NASENGINE_DATA)") from None
    try:
        dl = tmp / ".download"
        dl.mkdir()
        scans = {}
        lines = []
        for src in SOURCES:
            say(f"fetching {src.name} {src.version} (sdist) ...")
            sd = _sdist(src, dl, src_dir)
            raw = _extract(sd, src.member, dl)
            scans[src.stem] = read_raw(raw)
            k = scans[src.stem].kspace
            lines.append(f"- {src.stem}.h5 <- {src.name}=={src.version} ({src.licence}), member {src.member}; sdist "
                         f"sha256 {src.sha256}; raw file sha256 {sha256(raw)}\n  {src.what}; converted k-space "
                         f"{k.shape[0]} slices x {k.shape[1]} coils x {k.shape[2]} x {k.shape[3]}")
            say(f"  {src.stem}: {k.shape[0]} slices x {k.shape[1]} coils x {k.shape[2]} x {k.shape[3]}")
        for folder, (single, stems, factor) in LAYOUTS.items():
            for stem in stems:
                scan = scans[stem] if factor == 1 else lower_resolution(scans[stem], factor)
                write_fastmri(scan, tmp / folder / "test" / f"{stem}.h5", single_coil=single)
        shutil.rmtree(dl)
        (tmp / "README.txt").write_text(
            f"nasengine real test set, version {REAL_VERSION}: measured k-space from source distributions on the "
            "package index (fetched by pinned version and SHA-256, data members only).\n"
            "TEST ONLY: never train, tune or select on these files.\n\n" + "\n".join(lines) + "\n\n"
            "Folders (each a --data root with test/):\n"
            "- singlecoil/: both files, single coil emulated from the channels (ESC: the complex combination of the "
            "coil images closest to their root-sum-of-squares), reconstruction_esc\n"
            "- multicoil/: the brain, 13 channels, reconstruction_rss\n"
            "- phantom_multicoil/: the phantom, 2 channels, reconstruction_rss\n"
            "- singlecoil_half/, multicoil_half/: as singlecoil/ and multicoil/ at half the resolution (the central "
            "quarter of the measured k-space: the same field of view with half the matrix, about the pixel size of "
            "the embedded training data)\n"
            "Licences: pyqmri is Apache-2.0 (its test data ships in its sdist); twixtools is MIT.\n")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def real_root(build: bool = True, quiet: bool = True) -> Path:
    """The cached real test set, built on first use when ``build``."""
    from .embedded import default_root

    path = default_root() / f"real-v{REAL_VERSION}"
    if not (path / "singlecoil" / "test").is_dir():
        if not build:
            raise UserError(f"the real test set is not built ({path}); run: nasengine data build --real")
        build_real(path, quiet=quiet)
    return path
