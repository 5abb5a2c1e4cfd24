"""The embedded dataset: real MR brain volumes written in fastMRI's single-coil format.

No knee data can be downloaded at run time, so we build a small stand-in from
real T1 MR volumes that registry packages ship:

* Colin27 single-subject T1 (Debian ``mricron-data``, ``templates/ch2.nii.gz``)
  -> ``train/`` and ``val/`` (disjoint slabs of neighbouring axial slices);
* the MNI152 2009a T1 template (inside the ``nilearn`` wheel) -> ``test/`` only,
  a second, held-out "subject".

Two variants: ``axial`` (the demo's: 120 axial Colin27 slices, 6 axial MNI152
slabs) and ``3view`` (the ``bench`` preset's: every Colin27 slice of the full
head, skull included, in the three orientations whose content covers at least
20% of the square, ~500 slices, and MNI152 slabs in the three orientations).
``ch2better`` is not used: it is skull-stripped with the CSF removed, unlike the
full-head test subject.

Per slice the magnitude image is resized to ``size x size``, placed in a field of
view twice as long in the read-out (row) direction and ~15% wider in the
phase-encoding direction (as fastMRI's 640x368 around a 320x320 crop), given a
smooth synthetic phase and a little complex Gaussian noise, and Fourier
transformed to ``kspace``. ``reconstruction_esc`` is the magnitude of the
centre-cropped IFFT, exactly as fastMRI defines it. Intensities are scaled to
the order of fastMRI knee data (max ~1e-4) so MSE values have the same order.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from nas_engine.errors import UserError

from .transforms import center_crop, fft2c, ifft2c

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
FORMAT_VERSION = 1
DEFAULT_SIZE = 96
TARGET_MAX = 1e-4  # order of fastMRI knee reconstruction_esc maxima
NOISE_LEVEL = 0.01  # complex noise std relative to the image maximum


def mni152_path() -> Path:
    try:
        import nilearn  # noqa: F401  (only its data file is used)
    except ImportError:
        raise UserError("the nilearn package is missing; reinstall nasengine (pip install -e .)") from None
    p = Path(nilearn.__file__).parent / "datasets" / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    if not p.exists():
        raise UserError(f"MNI152 template not found in the nilearn wheel at {p}")
    return p


@dataclass(frozen=True)
class Source:
    name: str
    path: Path
    z_range: tuple[int, int]  # axial slices with brain content


def available_sources() -> tuple[Source | None, Source]:
    """(Colin27 or None when mricron-data is not installed, MNI152)."""
    colin = Source("colin27", COLIN27, (30, 150)) if COLIN27.exists() else None
    return colin, Source("mni152", mni152_path(), (40, 160))


def load_axial(src: Source, size: int) -> np.ndarray:
    """Axial slices ``[n, size, size]`` float64 in [0, 1], anterior up."""
    import nibabel as nib
    from skimage.transform import resize

    vol = np.asarray(nib.load(str(src.path)).get_fdata(), dtype=np.float64)  # x, y, z
    vol = vol / vol.max()
    out = []
    for z in range(*src.z_range):
        sl = np.rot90(vol[:, :, z])  # rows = y (anterior up), cols = x
        h, w = sl.shape
        n = max(h, w)
        sq = np.zeros((n, n))
        sq[(n - h) // 2 : (n - h) // 2 + h, (n - w) // 2 : (n - w) // 2 + w] = sl
        out.append(resize(sq, (size, size), anti_aliasing=True, order=3, mode="constant"))
    return np.clip(np.stack(out), 0, None)


COLIN27_BET = Path("/usr/share/mricron/templates/ch2bet.nii.gz")  # Colin27, brain extracted (BET)
VIEWS = ("axial", "3view", "3view+bet")
MIN_CONTENT = 0.2  # 3view: a slice is usable when >= 20% of its square is above 10% of the max


def load_views(src: Source, size: int) -> dict[str, np.ndarray]:
    """Slices of all three orientations ``{view: [n, size, size]}`` in [0, 1], superior/anterior up;
    only slices whose content covers at least :data:`MIN_CONTENT` of the square."""
    import nibabel as nib
    from skimage.transform import resize

    vol = np.asarray(nib.load(str(src.path)).get_fdata(), dtype=np.float64)  # x, y, z
    vol = vol / vol.max()
    out = {}
    for axis, view in ((0, "sag"), (1, "cor"), (2, "ax")):
        stack = np.moveaxis(vol, axis, 0)
        slices = []
        for sl in stack:
            sl = np.rot90(sl)
            h, w = sl.shape
            n = max(h, w)
            if (sl > 0.1).sum() < MIN_CONTENT * n * n:
                continue
            sq = np.zeros((n, n))
            sq[(n - h) // 2: (n - h) // 2 + h, (n - w) // 2: (n - w) // 2 + w] = sl
            slices.append(resize(sq, (size, size), anti_aliasing=True, order=3, mode="constant"))
        out[view] = np.clip(np.stack(slices), 0, None)
    return out


def phase_coefficients(rng: np.random.RandomState) -> np.ndarray:
    """Random coefficients of a smooth phase (offset, linear, cross, quadratic terms)."""
    return rng.uniform(-1, 1, size=6) * np.array([np.pi, 1.0, 1.0, 0.6, 0.6, 0.6])


def polynomial_phase(c: np.ndarray, h: int, w: int) -> np.ndarray:
    """The phase map ``[h, w]`` of coefficients ``c`` on [-1, 1]^2."""
    y, x = np.mgrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    return c[0] + c[1] * x + c[2] * y + c[3] * x * y + c[4] * x**2 + c[5] * y**2


def smooth_phase(rng: np.random.RandomState, size: int, n: int) -> np.ndarray:
    """A smooth phase map per slice ``[n, size, size]``: low-order polynomial, slowly varying over slices."""
    base = phase_coefficients(rng)
    drift = rng.uniform(-0.05, 0.05, size=6)
    return np.stack([polynomial_phase(base + i * drift, size, size) for i in range(n)])


def ismrmrd_header(kshape: tuple[int, int], size: int) -> bytes:
    """A minimal ISMRMRD XML header with the fields fastMRI's SliceDataset reads."""
    h, w = kshape
    center = w // 2
    return f"""<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <encoding>
    <encodedSpace><matrixSize><x>{h}</x><y>{w}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{2 * size}</x><y>{w}</y><z>1</z></fieldOfView_mm></encodedSpace>
    <reconSpace><matrixSize><x>{size}</x><y>{size}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{size}</x><y>{size}</y><z>1</z></fieldOfView_mm></reconSpace>
    <encodingLimits>
      <kspace_encoding_step_1><minimum>0</minimum><maximum>{w - 1}</maximum><center>{center}</center></kspace_encoding_step_1>
    </encodingLimits>
    <trajectory>cartesian</trajectory>
  </encoding>
</ismrmrdHeader>
""".encode()


def kspace_shape(size: int) -> tuple[int, int]:
    w = int(round(size * 1.15))
    return 2 * size, w + (w % 2)


def write_volume(path: Path, magnitude: np.ndarray, rng: np.random.RandomState, patient: str,
                 coils: int = 1) -> None:
    """Write one fastMRI file from magnitude slices ``[n, size, size]``: single-coil (``kspace``
    ``[n, H, W]``, ``reconstruction_esc``), or with ``coils`` > 1 multi-coil (``kspace``
    ``[n, coils, H, W]``, ``reconstruction_rss``): the object seen through birdcage sensitivities over
    the whole field of view, with receiver noise correlated between coils (a random covariance per
    volume) of the same total level as the single-coil files."""
    n, size, _ = magnitude.shape
    kh, kw = kshape = kspace_shape(size)
    img = magnitude * TARGET_MAX * np.exp(1j * smooth_phase(rng, size, n))
    fov = np.zeros((n, kh, kw), dtype=np.complex128)
    top, left = (kh - size) // 2, (kw - size) // 2
    fov[:, top : top + size, left : left + size] = img
    sigma = NOISE_LEVEL * TARGET_MAX
    if coils > 1:
        from .coils import birdcage_maps, correlated_noise, noise_covariance

        cov = noise_covariance(coils, rng)
        fov = fov[:, None] * birdcage_maps(coils, kh, kw)[None]
        fov = fov + sigma / np.sqrt(coils) * correlated_noise(fov.shape, cov, rng)
    else:
        fov = fov + sigma / np.sqrt(2) * (rng.standard_normal(fov.shape) + 1j * rng.standard_normal(fov.shape))
    kspace = fft2c(torch.from_numpy(fov.astype(np.complex64)))
    images = center_crop(ifft2c(kspace), (size, size))
    if coils > 1:
        from .coils import rss

        target_name, target = "reconstruction_rss", rss(images).numpy().astype(np.float32)
    else:
        target_name, target = "reconstruction_esc", images.abs().numpy().astype(np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace.numpy().astype(np.complex64))
        f.create_dataset(target_name, data=target)
        f.create_dataset("ismrmrd_header", data=np.bytes_(ismrmrd_header(kshape, size)))
        f.attrs["max"] = float(target.max())
        f.attrs["norm"] = float(np.linalg.norm(target))
        f.attrs["acquisition"] = "AXT1_BRAIN_STANDIN"
        f.attrs["patient_id"] = hashlib.sha1(patient.encode()).hexdigest()


def _slabs(n: int, slab: int, stride: int) -> list[tuple[int, int]]:
    return [(s, s + slab) for s in range(0, n - slab + 1, stride)]


def _build_3view(tmp: Path, colin: Source, mni: Source, size: int, rng: np.random.RandomState, say,
                 bet: bool = False, write=write_volume) -> None:
    """Colin27 in three orientations -> train/val (every fifth slab of 8 to val), MNI152 -> test.
    ``bet``: also Colin27's brain-extracted volume (the MNI152 test template is brain-extracted),
    written last so that the other files are the same as without it."""

    def colin_slabs(name: str, src: Source) -> None:
        n_train = n_val = 0
        for view, vol in load_views(src, size).items():
            for i, (a, b) in enumerate(_slabs(len(vol), 8, 8)):
                split = "val" if i % 5 == 3 else "train"
                n_val += split == "val"
                n_train += split == "train"
                write(tmp / split / f"{name}_{view}{i:02d}.h5", vol[a:b], rng, f"{name}-{view}-{i}")
        say(f"{name} (3 views): {n_train} train + {n_val} val volumes of 8 slices")

    colin_slabs("colin27", colin)
    n_test = 0
    for view, vol in load_views(mni, size).items():
        for i, (a, b) in enumerate(_slabs(len(vol), 6, 20)):
            write(tmp / "test" / f"mni152_{view}{i:02d}.h5", vol[a:b], rng, f"mni152-{view}-{i}")
            n_test += 1
    say(f"mni152 (3 views): {n_test} test volumes of 6 slices (held-out subject)")
    if bet:
        colin_slabs("colin27bet", Source("colin27bet", COLIN27_BET, (0, 0)))


def build(out: str | os.PathLike, size: int = DEFAULT_SIZE, seed: int = 0, quiet: bool = False,
          views: str = "axial", coils: int = 1) -> Path:
    """Build the embedded dataset into ``out`` (``train/ val/ test/``), atomically.
    ``views``: ``axial`` (demo) or ``3view`` (bench; needs Colin27). ``coils`` > 1: fastMRI's
    multi-coil layout with simulated receive coils (see :func:`write_volume`)."""
    if not 1 <= coils <= 64:
        raise UserError(f"--coils must be between 1 and 64, got {coils}")
    write = functools.partial(write_volume, coils=coils)
    if views not in VIEWS:
        raise UserError(f"embedded views must be one of {', '.join(VIEWS)}, got {views!r}")
    if size < 16 or size > 512:
        raise UserError(f"--size must be between 16 and 512, got {size}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file, not a folder; choose another --out")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty; choose another --out or remove it")
    make_folder(out.parent, f"the folder of {out}", "choose another --out")
    colin, mni = available_sources()
    rng = np.random.RandomState(seed)
    say = (lambda *a: None) if quiet else print
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent if out.parent.exists() else None))
    try:
        for split in ("train", "val", "test"):
            (tmp / split).mkdir()
        slab = 8
        if views.startswith("3view"):
            if colin is None or (views == "3view+bet" and not COLIN27_BET.exists()):
                raise UserError("the 3view embedded dataset needs Colin27: install the Debian package "
                                "mricron-data (apt-get install mricron-data; `make setup` does it as root)")
            _build_3view(tmp, colin, mni, size, rng, say, bet=views == "3view+bet", write=write)
        elif colin is not None:
            vol = load_axial(colin, size)
            slabs = _slabs(len(vol), slab, slab)  # disjoint slabs of 8 neighbouring slices
            val_ids = set(range(3, len(slabs), 5))  # every fifth slab to validation
            for i, (a, b) in enumerate(slabs):
                split = "val" if i in val_ids else "train"
                write(tmp / split / f"colin27_ax{a + colin.z_range[0]:03d}-{b - 1 + colin.z_range[0]:03d}.h5", vol[a:b], rng, f"colin27-{i}")
            say(f"colin27: {len(slabs) - len(val_ids)} train + {len(val_ids)} val volumes of {slab} slices")
            mni_vol = load_axial(mni, size)
            mni_slabs = _slabs(len(mni_vol), 6, 20)
            for i, (a, b) in enumerate(mni_slabs):
                write(tmp / "test" / f"mni152_ax{a + mni.z_range[0]:03d}-{b - 1 + mni.z_range[0]:03d}.h5", mni_vol[a:b], rng, f"mni152-{i}")
            say(f"mni152: {len(mni_slabs)} test volumes of 6 slices (held-out subject)")
        else:
            say(
                "warning: Debian's mricron-data (Colin27) is not installed; building from the MNI152 "
                "template alone (train/val/test are disjoint slabs of one subject: a fit measure only)"
            )
            vol = load_axial(mni, size)
            slabs = _slabs(len(vol), slab, slab)
            for i, (a, b) in enumerate(slabs):
                split = ("train", "train", "train", "val", "test")[i % 5]
                write(tmp / split / f"mni152_ax{a + mni.z_range[0]:03d}-{b - 1 + mni.z_range[0]:03d}.h5", vol[a:b], rng, f"mni152-{i}")
        (tmp / "README.txt").write_text(
            f"nasengine embedded dataset (fastMRI {'single-coil' if coils == 1 else f'multi-coil, {coils} coils,'} format)\n"
            f"format {FORMAT_VERSION}, size {size}, seed {seed}, views {views}\n"
            "Real T1 brain MR magnitude (Colin27 / MNI152) with synthetic smooth phase and noise;\n"
            "a stand-in for knee data, not fastMRI.\n"
        )
        if out.exists():
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def make_folder(path: Path, what: str, fix: str) -> None:
    """Create ``path`` (and its parents) or stop with one line saying why not and what to do."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-")
        probe.close()
    except FileExistsError:
        raise UserError(f"{path}: {what} is a file, not a folder; {fix}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot write {what} ({e.strerror or e.__class__.__name__}); {fix}") from None


def default_root() -> Path:
    """Where the embedded data lives: ``$NASENGINE_DATA`` or ``~/.cache/nasengine``."""
    env = os.environ.get("NASENGINE_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nasengine"


def ensure_embedded(size: int = DEFAULT_SIZE, quiet: bool = True, views: str = "axial", coils: int = 1) -> Path:
    """The embedded dataset for ``size``, ``views`` and ``coils``, built on first use."""
    colin, _ = available_sources()
    tag = "colin27+mni152" if colin is not None else "mni152"
    if views != "axial":
        tag += f"-{views}"
    if coils > 1:
        tag += f"-{coils}coil"
    path = default_root() / f"embedded-v{FORMAT_VERSION}-{tag}-{size}"
    if not (path / "test").is_dir():
        make_folder(path.parent, "the embedded data's folder ($NASENGINE_DATA, else ~/.cache/nasengine)",
                    "set NASENGINE_DATA to a folder you can write")
        if not quiet:
            print(f"building the embedded dataset in {path} (first use) ...")
        build(path, size=size, quiet=quiet, views=views, coils=coils)
    return path
