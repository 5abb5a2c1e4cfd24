"""Scanner raw data -> fastMRI files (``nasengine data convert``).

Readers, each returning a :class:`RawScan` (fully sampled Cartesian k-space, readout oversampling removed):

* ISMRMRD/MRD ``.h5`` through the ``ismrmrd`` package (the vendor-neutral format every converter writes:
  siemens_to_ismrmrd, ge_to_ismrmrd, Philips' and Bruker's);
* Siemens twix ``.dat`` (VB and VD/VE) through ``twixtools``;
* the pyqmri test layout (``real_dat``/``imag_dat`` [contrasts, coils, slices, H, W], DC at the corner),
  which the real test set uses (``nasengine data build --real``).

:func:`write_fastmri` writes fastMRI's multi-coil layout (``kspace`` [slices, coils, H, W] with H the
readout, ``reconstruction_rss``, the MRD XML header as ``ismrmrd_header``) or, with ``single_coil``, the
single-coil layout with an emulated single coil (ESC, as fastMRI's ``reconstruction_esc``: the complex
linear combination of the coil images closest in least squares to their root-sum-of-squares, Tygert and
Zbontar 2020), so that the k-space stays the Fourier transform of one image with its measured noise.

Refused with one line (``UserError``): non-Cartesian trajectories, partial Fourier, under-sampled or
parallel-imaging acquisitions (missing lines), EPI (reversed lines), 3D encodings, mixed matrix sizes or
coil counts, NaN data, files of another kind. Nothing is written until a whole volume is read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nas_engine.errors import UserError

from .data import CORRUPT_H5

RAW_EXTRA = "pip install 'nasengine[raw]' (ismrmrd, twixtools; `make setup` installs it)"


@dataclass
class RawScan:
    """Fully sampled Cartesian k-space ``[slices, coils, H, W]`` (H: readout, W: phase encoding) with
    DC at ``(H // 2, W // 2)`` (fastMRI's centred convention: ``ifft2c`` gives the image)."""

    kspace: np.ndarray
    header: str  # ISMRMRD XML
    source: str  # the input file's name
    kind: str  # "mrd", "twix", "pyqmri"
    acquisition: str = "UNKNOWN"
    slice_labels: list[str] = field(default_factory=list)

    def check(self) -> "RawScan":
        k = self.kspace
        if k.ndim != 4:
            raise UserError(f"{self.source}: k-space must be [slices, coils, H, W], got shape {k.shape}")
        if min(k.shape) < 1 or min(k.shape[-2:]) < 4:
            raise UserError(f"{self.source}: k-space of shape {k.shape} is too small to be an image")
        if not np.all(np.isfinite(k)):
            raise UserError(f"{self.source}: the k-space contains NaN or Inf values")
        if not np.any(k):
            raise UserError(f"{self.source}: the k-space is all zero")
        empty = ~np.any(k, axis=(1, 2))  # [slices, lines]: phase-encoding lines with no sample in any coil
        if empty.any():
            s = int(np.flatnonzero(empty.any(1))[0])
            raise UserError(f"{self.source}: slice {s} misses {int(empty[s].sum())} of {k.shape[-1]} phase-encoding "
                            "lines (under-sampled or partial Fourier); convert fully sampled data only")
        self.kspace = k.astype(np.complex64)
        return self


# ------------------------------------------------------------------ helpers
def centred_fft(x: np.ndarray, axes: tuple[int, ...] = (-2, -1), inverse: bool = False) -> np.ndarray:
    """fastMRI's centred orthonormal (I)FFT over ``axes`` (numpy; ``transforms.fft2c``/``ifft2c`` in torch)."""
    f = np.fft.ifftn if inverse else np.fft.fftn
    return np.fft.fftshift(f(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def remove_readout_oversampling(kspace: np.ndarray, factor: int, axis: int = -2) -> np.ndarray:
    """Crop the centre ``1/factor`` of the field of view along the readout ``axis`` (k-space in, k-space
    out, centred convention), as scanners do before reconstruction; the ``ortho`` norm keeps the
    per-pixel image values, so the noise level per pixel is unchanged."""
    if factor == 1:
        return kspace
    n = kspace.shape[axis]
    if n % factor:
        raise UserError(f"readout of {n} samples is not divisible by the oversampling factor {factor}")
    img = centred_fft(kspace, (axis,), inverse=True)
    keep = n // factor
    start = (n - keep) // 2
    img = np.take(img, np.arange(start, start + keep), axis=axis)
    return centred_fft(img, (axis,)).astype(np.complex64)


def mrd_header(readout: int, lines: int, fov_mm: tuple[float, float, float], vendor: str = "",
               model: str = "", field_t: float | None = None, oversampled_readout: int | None = None) -> str:
    """A minimal ISMRMRD XML header of a 2D Cartesian fully sampled acquisition (through ``ismrmrd.xsd``)."""
    from ismrmrd import xsd

    enc_x = oversampled_readout or readout
    fx, fy, fz = fov_mm
    h1 = int(round((field_t or 3.0) * 42.577478e6))
    enc = xsd.encodingType(
        encodedSpace=xsd.encodingSpaceType(matrixSize=xsd.matrixSizeType(x=enc_x, y=lines, z=1),
                                           fieldOfView_mm=xsd.fieldOfViewMm(x=fx * enc_x / readout, y=fy, z=fz)),
        reconSpace=xsd.encodingSpaceType(matrixSize=xsd.matrixSizeType(x=readout, y=lines, z=1),
                                         fieldOfView_mm=xsd.fieldOfViewMm(x=fx, y=fy, z=fz)),
        encodingLimits=xsd.encodingLimitsType(
            kspace_encoding_step_1=xsd.limitType(minimum=0, maximum=lines - 1, center=lines // 2)),
        trajectory=xsd.trajectoryType.CARTESIAN)
    hdr = xsd.ismrmrdHeader(
        experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=h1), encoding=[enc],
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(
            systemVendor=vendor or None, systemModel=model or None,
            systemFieldStrength_T=field_t) if (vendor or model or field_t) else None)
    return xsd.ToXML(hdr)


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"reading this file needs the {module} package: {RAW_EXTRA}") from None


# ------------------------------------------------------------------ MRD
def read_mrd(path: str | os.PathLike, group: str = "dataset") -> RawScan:
    """An ISMRMRD/MRD ``.h5`` file: the XML header's first encoding, every imaging acquisition (noise,
    calibration, navigator, phase-correction and dummy scans are skipped) placed by its
    ``kspace_encode_step_1``; slices, contrasts and repetitions become the slices of the volume, averages
    are averaged."""
    import h5py

    ismrmrd = _need("ismrmrd")
    from ismrmrd import xsd

    path = Path(path)
    with h5py.File(path, "r") as f:
        if group not in f or "xml" not in f[group]:
            raise UserError(f"{path}: not an MRD file, or one without its header (no /{group}/xml); MRD files are "
                            "written by siemens_to_ismrmrd, ge_to_ismrmrd and the ismrmrd package")
        if "data" not in f[group]:
            raise UserError(f"{path}: MRD file without acquisitions (no /{group}/data)")
    dset = ismrmrd.Dataset(str(path), group, mode="r")
    try:
        xml = dset.read_xml_header()
        xml = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else str(xml)
        try:
            hdr = xsd.CreateFromDocument(xml)
        except Exception as e:  # xsdata's parser errors have no common base
            raise UserError(f"{path}: the MRD XML header does not parse ({e.__class__.__name__}: "
                            f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None
        if not hdr.encoding:
            raise UserError(f"{path}: the MRD header has no encoding")
        enc = hdr.encoding[0]
        traj = getattr(enc.trajectory, "value", enc.trajectory)
        if traj != "cartesian":
            raise UserError(f"{path}: {traj} trajectory; only Cartesian acquisitions can be converted (grid "
                            "non-Cartesian data first, e.g. with BART)")
        if enc.encodedSpace.matrixSize.z > 1:
            raise UserError(f"{path}: a 3D encoding ({enc.encodedSpace.matrixSize.z} partitions); convert 2D "
                            "multi-slice acquisitions only")
        pi = enc.parallelImaging
        if pi is not None and pi.accelerationFactor is not None and pi.accelerationFactor.kspace_encoding_step_1 > 1:
            raise UserError(f"{path}: parallel imaging (acceleration {pi.accelerationFactor.kspace_encoding_step_1} "
                            "in phase encoding): under-sampled; convert fully sampled data only")
        lines = int(enc.encodedSpace.matrixSize.y)
        lim = enc.encodingLimits.kspace_encoding_step_1 if enc.encodingLimits else None
        center = int(lim.center) if lim is not None else lines // 2
        if lim is not None and (lim.maximum - lim.minimum + 1 < lines or abs(center - lines // 2) > 1):
            raise UserError(f"{path}: partial Fourier or asymmetric phase encoding (lines {lim.minimum}..{lim.maximum}, "
                            f"centre {center}, matrix {lines}); convert fully sampled symmetric data only")
        rx = int(enc.reconSpace.matrixSize.x)
        skip = {ismrmrd.ACQ_IS_NOISE_MEASUREMENT, ismrmrd.ACQ_IS_PARALLEL_CALIBRATION, ismrmrd.ACQ_IS_NAVIGATION_DATA,
                ismrmrd.ACQ_IS_PHASECORR_DATA, ismrmrd.ACQ_IS_DUMMYSCAN_DATA, ismrmrd.ACQ_IS_RTFEEDBACK_DATA,
                ismrmrd.ACQ_IS_HPFEEDBACK_DATA}
        n = dset.number_of_acquisitions()
        sums: dict[tuple[int, int, int], np.ndarray] = {}
        counts: dict[tuple[int, int, int], np.ndarray] = {}
        shape = None
        for i in range(n):
            acq = dset.read_acquisition(i)
            if any(acq.is_flag_set(fl) for fl in skip):
                continue
            if acq.is_flag_set(ismrmrd.ACQ_IS_REVERSE):
                raise UserError(f"{path}: reversed readouts (EPI); EPI needs ghost correction first, not supported")
            if acq.idx.kspace_encode_step_2 != 0:
                raise UserError(f"{path}: acquisition {i} has a second phase-encoding step (3D); not supported")
            data = np.asarray(acq.data)
            if shape is None:
                shape = data.shape
            elif data.shape != shape:
                raise UserError(f"{path}: mixed matrix sizes ({shape[0]} coils x {shape[1]} samples, then "
                                f"{data.shape[0]} x {data.shape[1]} at acquisition {i}); convert one protocol per file")
            line = int(acq.idx.kspace_encode_step_1)
            if line >= lines:
                raise UserError(f"{path}: acquisition {i} has line {line} outside the encoded matrix ({lines} lines)")
            key = (int(acq.idx.repetition), int(acq.idx.contrast), int(acq.idx.slice))
            if key not in sums:
                sums[key] = np.zeros((shape[0], shape[1], lines), np.complex128)
                counts[key] = np.zeros(lines, np.int64)
            sums[key][:, :, line] += data
            counts[key][line] += 1
    finally:
        dset.close()
    if not sums:
        raise UserError(f"{path}: no imaging acquisitions in this MRD file")
    keys = sorted(sums)
    k = np.stack([sums[key] / np.maximum(counts[key], 1) for key in keys]).astype(np.complex64)
    for key in keys:
        if (counts[key] == 0).any():
            raise UserError(f"{path}: repetition/contrast/slice {key} misses {int((counts[key] == 0).sum())} of {lines} "
                            "phase-encoding lines (under-sampled); convert fully sampled data only")
    samples = k.shape[2]
    if samples != rx:
        if samples % rx:
            raise UserError(f"{path}: {samples} readout samples against a reconstruction matrix of {rx}: not an "
                            "integer oversampling factor")
        k = remove_readout_oversampling(k, samples // rx, axis=2)
    meas = hdr.measurementInformation
    acquisition = str(getattr(meas, "protocolName", None) or "MRD").upper()
    labels = [f"rep{r}_contrast{c}_slice{s}" for r, c, s in keys]
    return RawScan(k, xml, path.name, "mrd", acquisition, labels).check()


# ------------------------------------------------------------------ twix
SIEMENS_PARTIAL_FOURIER_OFF = 16  # ucPhasePartialFourier: 1 = 4/8, 2 = 5/8, 4 = 6/8, 8 = 7/8, 16 = off


def read_twix(path: str | os.PathLike) -> RawScan:
    """A Siemens twix ``.dat`` file (the last measurement of a multi-raid file, its image scans; readout
    oversampling removed by twixtools, averages and segments averaged)."""
    try:
        return _read_twix(Path(path))
    except UserError:
        raise
    except CORRUPT as e:  # a damaged header or data block, found after twixtools mapped the file
        raise UserError(f"{path}: a damaged Siemens twix file ({e.__class__.__name__})") from None


def _read_twix(path: Path) -> RawScan:
    twixtools = _need("twixtools")
    import contextlib
    import io

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise UserError(f"{path}: too short to be a Siemens twix file")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # twixtools prints progress and warnings
            # geometry and physiology are not needed, and their parsers need header fields a file may lack
            scans = twixtools.read_twix(str(path), parse_geometry=False, parse_pmu=False, verbose=False)
            twix = twixtools.map_twix(scans, verbose=False)
    except Exception as e:  # a foreign or truncated file fails anywhere inside twixtools
        raise UserError(f"{path}: not a readable Siemens twix file (truncated or another format?): "
                        f"{e.__class__.__name__}") from None
    if not twix or "image" not in twix[-1] or "hdr" not in twix[-1]:
        raise UserError(f"{path}: no image scans in this twix file")
    meas = twix[-1]
    hdr = meas["hdr"]
    yaps = hdr.get("MeasYaps", {})
    ksp = yaps.get("sKSpace", {})
    traj = ksp.get("ucTrajectory", 1)
    seqname = str(hdr.get("Meas", {}).get("tSequenceFileName", "") or "").replace("%", "").split("\\")[-1]
    if traj != 1:
        raise UserError(f"{path}: a non-Cartesian sequence ({seqname or 'trajectory ' + str(traj)}); only Cartesian "
                        "acquisitions can be converted")
    epi = seqname.lower().startswith(("ep2d", "ep3d", "epfid", "epse", "epi")) or "epi" in seqname.lower()
    reflected = any(m.is_flag_set("REFLECT") for m in scans[-1]["mdb"] if not m.is_flag_set("SYNCDATA"))
    if "phasecorr" in meas or epi or reflected:
        raise UserError(f"{path}: an EPI sequence ({seqname or 'phase-correction scans present'}); EPI needs ghost "
                        "correction first, not supported")
    for key in ("ucPhasePartialFourier", "ucReadoutPartialFourier"):
        if ksp.get(key, SIEMENS_PARTIAL_FOURIER_OFF) != SIEMENS_PARTIAL_FOURIER_OFF:
            raise UserError(f"{path}: partial Fourier ({key} = {ksp.get(key)}); convert fully sampled data only")
    if ksp.get("ucDimension", 2) != 2:
        raise UserError(f"{path}: a 3D sequence; convert 2D multi-slice acquisitions only")
    pat = yaps.get("sPat", {})
    if pat.get("lAccelFactPE", 1) > 1:
        raise UserError(f"{path}: parallel imaging (acceleration {pat.get('lAccelFactPE')}): under-sampled; convert "
                        "fully sampled data only")
    im = meas["image"]
    im.flags["remove_os"] = True
    for d in ("Ave", "Seg"):
        im.flags["average"][d] = True
    im.flags["squeeze_singletons"] = False
    try:
        data = np.asarray(im[:])
    except Exception as e:
        raise UserError(f"{path}: the twix image data cannot be read ({e.__class__.__name__}); truncated?") from None
    dims = list(im.dims)
    # [..., Lin, Cha, Col] -> slices x coils x readout x lines
    lead = [d for d in dims if d not in ("Lin", "Cha", "Col", "Par")]
    if data.shape[dims.index("Par")] > 1:
        raise UserError(f"{path}: {data.shape[dims.index('Par')]} partitions (3D); not supported")
    order = [dims.index(d) for d in lead] + [dims.index("Par"), dims.index("Cha"), dims.index("Col"), dims.index("Lin")]
    k = np.transpose(data, order).reshape(-1, data.shape[dims.index("Cha")], data.shape[dims.index("Col")],
                                          data.shape[dims.index("Lin")])
    k = k[[i for i in range(k.shape[0]) if np.any(k[i])]] if np.any(k) else k  # unused counter combinations
    lines = int(ksp.get("lPhaseEncodingLines", k.shape[-1]) or k.shape[-1])
    if k.shape[-1] < lines:
        raise UserError(f"{path}: {k.shape[-1]} of {lines} phase-encoding lines (under-sampled); convert fully "
                        "sampled data only")
    slc = (yaps.get("sSliceArray", {}).get("asSlice") or [{}])[0]
    dicom = hdr.get("Dicom", {})
    fov = (float(slc.get("dReadoutFOV", 0) or 0), float(slc.get("dPhaseFOV", 0) or 0), float(slc.get("dThickness", 0) or 0))
    xml = mrd_header(k.shape[2], k.shape[3], fov, str(dicom.get("Manufacturer", "SIEMENS")),
                     str(dicom.get("ManufacturersModelName", "")), dicom.get("flMagneticFieldStrength"),
                     oversampled_readout=2 * k.shape[2])
    scan = RawScan(k, xml, path.name, "twix", (seqname or "TWIX").upper(), [f"slice{i}" for i in range(k.shape[0])])
    return scan.check()


# ------------------------------------------------------------------ pyqmri test layout
def read_pyqmri(path: str | os.PathLike) -> RawScan:
    """pyqmri's Cartesian test files: ``real_dat``/``imag_dat`` ``[contrasts, coils, slices, H, W]``
    float32 with DC at index 0 (a plain ``ifft2`` gives a centred image). Each (contrast, slice) becomes a
    slice of the volume, labelled with its flip angle (attr ``fa``, radians)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        if "real_dat" not in f or "imag_dat" not in f:
            raise UserError(f"{path}: not a pyqmri file (no real_dat/imag_dat)")
        re_, im_ = f["real_dat"], f["imag_dat"]
        if re_.shape != im_.shape or re_.ndim != 5:
            raise UserError(f"{path}: real_dat {re_.shape} / imag_dat {im_.shape}: expected two equal "
                            "[contrasts, coils, slices, H, W] arrays")
        k = np.asarray(re_, dtype=np.float32) + 1j * np.asarray(im_, dtype=np.float32)
        fa = np.degrees(np.asarray(f.attrs.get("fa", np.zeros(k.shape[0])))).ravel()
    n_c, coils, n_s, h, w = k.shape
    img = np.fft.ifft2(k, axes=(-2, -1), norm="ortho")  # centred image (DC at the corner of k)
    kc = centred_fft(img)
    kc = np.transpose(kc, (0, 2, 1, 3, 4)).reshape(n_c * n_s, coils, h, w)  # (contrast, slice) -> slices
    labels = [f"fa{fa[c]:.0f}_slice{s}" if c < len(fa) else f"contrast{c}_slice{s}" for c in range(n_c) for s in range(n_s)]
    xml = mrd_header(h, w, (0.0, 0.0, 0.0))
    return RawScan(kc.astype(np.complex64), xml, path.name, "pyqmri", "VFA_T1_SPGR", labels).check()


# ------------------------------------------------------------------ dispatch and writing
# what h5py, numpy and the format packages raise on a damaged file, anywhere inside them
CORRUPT = CORRUPT_H5 + (LookupError, EOFError, MemoryError)


def read_raw(path: str | os.PathLike) -> RawScan:
    """Read ``path`` by its content: MRD (``/dataset/xml``), pyqmri (``real_dat``), twix (anything else
    that twixtools opens; ``.dat``). A damaged file is one ``UserError`` line, whatever fails inside."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give an MRD .h5 or a Siemens twix .dat file")
    if not h5py.is_hdf5(path):
        if path.suffix.lower() == ".dat":
            return read_twix(path)
        raise UserError(f"{path}: neither HDF5 (MRD) nor a Siemens twix .dat file")
    kind = "HDF5"
    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
            mrd = "dataset" in f and isinstance(f["dataset"], h5py.Group)
        if mrd:
            kind = "MRD"
            return read_mrd(path)
        if "real_dat" in keys:
            kind = "pyqmri"
            return read_pyqmri(path)
    except UserError:
        raise
    except CORRUPT as e:
        raise UserError(f"{path}: cannot be read as {kind} (corrupt or truncated?): {e.__class__.__name__}") from None
    if "kspace" in keys:
        raise UserError(f"{path}: already a fastMRI file (has 'kspace'); use it directly (nasengine data inspect)")
    raise UserError(f"{path}: an HDF5 file of unknown layout (keys: {', '.join(sorted(keys)) or 'none'}); "
                    "expected MRD (/dataset/xml, /dataset/data)")


def emulate_single_coil(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ESC: the complex weights ``w`` [coils] minimising ``|| sum_c w_c x_c - rss ||^2`` over the slice
    (``images`` [coils, H, W]) and the combined image ``sum_c w_c x_c``."""
    x = images.reshape(images.shape[0], -1).T.astype(np.complex128)
    target = np.sqrt((np.abs(x) ** 2).sum(1))
    w, *_ = np.linalg.lstsq(x, target.astype(np.complex128), rcond=None)
    return w, (x @ w).reshape(images.shape[1:])


def lower_resolution(scan: RawScan, factor: int = 2) -> RawScan:
    """The same acquisition at ``1/factor`` of its resolution: the central ``H/factor x W/factor`` of its k-space
    (what a scan of the same field of view with fewer phase-encoding lines and a shorter readout measures, noise
    included), DC kept at the centre; the header's matrix sizes divided likewise, its field of view kept."""
    from ismrmrd import xsd

    s, c, h, w = scan.kspace.shape
    nh, nw = h // factor, w // factor
    if factor < 1 or min(nh, nw) < 4:
        raise UserError(f"{scan.source}: k-space {h}x{w} is too small for 1/{factor} of its resolution")
    top, left = h // 2 - nh // 2, w // 2 - nw // 2  # DC (h//2, w//2) lands on (nh//2, nw//2)
    hdr = xsd.CreateFromDocument(scan.header)
    for enc in hdr.encoding:
        for space in (enc.encodedSpace, enc.reconSpace):
            space.matrixSize.x = max(1, int(space.matrixSize.x) // factor)
            space.matrixSize.y = max(1, int(space.matrixSize.y) // factor)
        lim = enc.encodingLimits.kspace_encoding_step_1 if enc.encodingLimits else None
        if lim is not None:
            lim.minimum, lim.maximum, lim.center = 0, nw - 1, nw // 2
    return replace(scan, kspace=np.ascontiguousarray(scan.kspace[:, :, top:top + nh, left:left + nw]),
                   header=xsd.ToXML(hdr))


def fastmri_arrays(scan: RawScan, single_coil: bool = False) -> dict[str, np.ndarray]:
    """``kspace`` and the target (``reconstruction_rss`` or, single-coil, ``reconstruction_esc``)."""
    k = scan.kspace
    images = centred_fft(k, inverse=True)
    if not single_coil:
        rss = np.sqrt((np.abs(images) ** 2).sum(1)).astype(np.float32)
        return {"kspace": k.astype(np.complex64), "reconstruction_rss": rss}
    esc = np.stack([emulate_single_coil(images[s])[1] for s in range(k.shape[0])])
    return {"kspace": centred_fft(esc).astype(np.complex64), "reconstruction_esc": np.abs(esc).astype(np.float32)}


def write_fastmri(scan: RawScan, out: str | os.PathLike, single_coil: bool = False) -> Path:
    """Write ``scan`` as one fastMRI ``.h5`` at ``out``, atomically (a temporary file, then a rename)."""
    import h5py

    from nas_engine.files import atomic_write

    arrays = fastmri_arrays(scan, single_coil)
    target = next(v for key, v in arrays.items() if key.startswith("reconstruction"))

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            for key, v in arrays.items():
                f.create_dataset(key, data=v)
            f.create_dataset("ismrmrd_header", data=np.bytes_(scan.header))
            f.attrs["max"] = float(target.max())
            f.attrs["norm"] = float(np.linalg.norm(target))
            f.attrs["acquisition"] = scan.acquisition
            f.attrs["patient_id"] = hashlib.sha1(scan.source.encode()).hexdigest()
            f.attrs["source"] = f"{scan.kind}:{scan.source}"
            f.attrs["slice_labels"] = ",".join(scan.slice_labels)

    return atomic_write(out, write)


def convert(src: str | os.PathLike, out_dir: str | os.PathLike, single_coil: bool = False,
            force: bool = False) -> Path:
    """Convert one raw file into ``out_dir/<stem>.h5``; refuses to replace an existing file unless ``force``
    (then the old one is moved aside to ``<stem>.h5.old``)."""
    src = Path(src)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a folder for the converted .h5 files")
    dest = out_dir / f"{src.stem}.h5"
    if dest.exists() and not force:
        raise UserError(f"{dest} already exists; pass --force to move it aside, or choose another --out")
    scan = read_raw(src)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            os.replace(dest, dest.with_name(dest.name + ".old"))
        return write_fastmri(scan, dest, single_coil)
    except PermissionError:
        raise UserError(f"--out {out_dir}: not writable (permission denied); choose another folder") from None
    except OSError as e:
        raise UserError(f"--out {out_dir}: cannot write there ({e.strerror or e.__class__.__name__})") from None
