"""Write a :class:`~bmes_imaging.volume.Volume` as a single-frame DICOM MR series.

Used by the phantom generator and the tests: one MR Image Storage file per slice ``k``
of a volume indexed ``(column, row, slice)``, explicit VR little endian, with the exact
geometry of the volume's affine (ImagePositionPatient, ImageOrientationPatient,
PixelSpacing, SliceThickness, SpacingBetweenSlices) and a rescale slope / intercept
chosen so the voxel values round-trip.

Examples
--------
>>> import tempfile, numpy as np
>>> from bmes_imaging import Volume
>>> from bmes_imaging.dicom import write_series
>>> vol = Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.diag([0.5, 0.6, 3, 1]))
>>> with tempfile.TemporaryDirectory() as d:
...     files = write_series(vol, d, patient_id="7", uid_seed="doc")
...     len(files)
4
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._atomic import atomic_path, make_private_dirs
from ..errors import GeometryError
from ..geometry import LPS_TO_RAS

__all__ = ["MR_IMAGE_STORAGE", "write_series"]

#: SOP Class UID of (single-frame) MR Image Storage.
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

#: Default study date / time written when ``attributes`` gives none (keeps output
#: deterministic; the phantom is not an acquisition).
_DEFAULT_DATE = "20150601"
_DEFAULT_TIME = "090000"

_DTYPES: dict[str, tuple[type[np.integer[Any]], int]] = {
    "uint16": (np.uint16, 0),
    "int16": (np.int16, 1),
    "uint8": (np.uint8, 0),
}


def _ds_str(value: float) -> str:
    """Format ``value`` as a DICOM DS string (at most 16 characters)."""
    from pydicom.valuerep import format_number_as_ds

    return str(format_number_as_ds(float(value)))


def _scaling(data: NDArray[Any], dtype: type[np.integer[Any]]) -> tuple[float, float]:
    """Choose (slope, intercept) so ``data`` fits ``dtype`` with small round-trip error.

    Integer data already inside the range of ``dtype`` is stored as is (slope 1,
    intercept 0). Otherwise the value range is spread over the full stored range; the
    slope and intercept are the values their DS strings read back as, so the stored
    integers are computed against exactly what a reader will apply.
    """
    info = np.iinfo(dtype)
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    if finite.size == 0:
        return 1.0, 0.0
    lo, hi = float(finite.min()), float(finite.max())
    is_integral = data.dtype.kind in "iub" or bool(np.all(np.equal(np.mod(finite, 1), 0)))
    if is_integral and lo >= info.min and hi <= info.max:
        return 1.0, 0.0
    span = hi - lo
    levels = float(info.max) - float(info.min) - 2.0  # a little headroom for DS rounding
    slope = float(_ds_str(span / levels)) if span > 0 else 1.0
    if slope <= 0:
        slope = 1.0
    # intercept so that lo maps to (info.min + 1)
    intercept = float(_ds_str(lo - (float(info.min) + 1.0) * slope))
    return slope, intercept


def _geometry(affine: NDArray[np.float64], shape: tuple[int, int, int]) -> dict[str, Any]:
    """DICOM geometry (LPS) of a volume indexed (column, row, slice)."""
    lps = LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)
    col_step = lps[:3, 0]  # i: along a row
    row_step = lps[:3, 1]  # j: down a column
    slice_step = lps[:3, 2]
    col_spacing = float(np.linalg.norm(col_step))
    row_spacing = float(np.linalg.norm(row_step))
    if col_spacing <= 0 or row_spacing <= 0:
        raise GeometryError("affine has a zero in-plane voxel size; cannot write DICOM")
    row_dir = col_step / col_spacing
    col_dir = row_step / row_spacing
    if abs(float(np.dot(row_dir, col_dir))) > 1e-6:
        raise GeometryError(
            "affine has sheared in-plane axes (i and j not perpendicular); DICOM "
            "ImageOrientationPatient cannot represent it: resample to an orthogonal grid")
    normal = np.cross(row_dir, col_dir)
    spacing = float(abs(np.dot(slice_step, normal)))
    if shape[2] > 1 and spacing < 1e-6:
        raise GeometryError("affine's slice axis lies in the image plane; cannot write DICOM")
    if spacing < 1e-6:
        spacing = float(np.linalg.norm(slice_step)) or 1.0
    positions = lps[:3, 3][None, :] + np.arange(shape[2])[:, None] * slice_step[None, :]
    return {
        "iop": np.concatenate([row_dir, col_dir]),
        "pixel_spacing": (row_spacing, col_spacing),
        "positions": positions,
        "normal": normal,
        "spacing": spacing,
    }


def _uid(seed: str | None, *parts: str) -> str:
    from pydicom.uid import generate_uid

    if seed is None:
        return str(generate_uid())
    return str(generate_uid(entropy_srcs=[seed, *parts]))


def _age_string(age: int | str | None) -> str | None:
    if age is None:
        return None
    if isinstance(age, str):
        return age
    return f"{int(age):03d}Y"


def _atomic_save(ds: Any, path: Path) -> None:
    with atomic_path(path, suffix=".tmp") as tmp:
        ds.save_as(tmp, enforce_file_format=True)


def write_series(
    volume: Any,
    out_dir: str | os.PathLike[str],
    *,
    patient_id: str,
    patient_name: str | None = None,
    patient_sex: str | None = None,
    patient_age: int | str | None = None,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    series_number: int = 1,
    series_description: str = "",
    modality: str = "MR",
    manufacturer: str = "SIEMENS",
    attributes: Mapping[str, Any] | None = None,
    dtype: str = "uint16",
    shuffle_seed: int | None = None,
    uid_seed: str | None = None,
    filename_pattern: str = "IM{index:05d}.dcm",
) -> list[Path]:
    """Write ``volume`` as a single-frame MR Image Storage series, one file per slice.

    Parameters
    ----------
    volume
        :class:`~bmes_imaging.volume.Volume` indexed ``(column, row, slice)`` with a RAS+
        affine; its in-plane axes must be perpendicular (any slice direction is fine).
    out_dir
        Folder to write into (created if needed).
    patient_id, patient_name, patient_sex, patient_age
        Patient module values (``patient_age`` as years or a DICOM AS string).
    study_instance_uid, series_instance_uid, frame_of_reference_uid
        UIDs; generated (from ``uid_seed`` when given) if ``None``.
    series_number, series_description, modality, manufacturer
        Series values.
    attributes
        Extra DICOM keywords and values, e.g. ``ScanningSequence``, ``SequenceVariant``,
        ``ScanOptions``, ``RepetitionTime``, ``EchoTime``, ``InversionTime``,
        ``Laterality``, ``MagneticFieldStrength``, ``StudyDate``. They override defaults.
    dtype
        Stored integer type: ``"uint16"`` (default), ``"int16"`` or ``"uint8"``.
    shuffle_seed
        If given, the file names (``filename_pattern`` indices) are assigned to slices
        in an order shuffled with this seed, so names say nothing about position.
    uid_seed
        If given, every UID is derived from it (and the slice index): the same inputs
        give byte-identical files.
    filename_pattern
        Format string with ``{index}`` (0-based) for the file names.

    Returns
    -------
    list of pathlib.Path
        The written files, in slice order ``k = 0 .. nk-1``.

    Raises
    ------
    GeometryError
        If the affine cannot be expressed as DICOM geometry (sheared in-plane axes).
    ValueError
        If ``dtype`` is not supported or the volume is not 3-D.

    Notes
    -----
    Values are stored as ``(value - intercept) / slope`` rounded to ``dtype``; integer
    volumes that fit ``dtype`` are stored unchanged (slope 1, intercept 0), otherwise the
    error is at most half a slope, i.e. below ``range / 65533`` for 16-bit storage.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, found {dtype!r}")
    data = _checked_array(volume)
    study_uid = study_instance_uid or _uid(uid_seed, "study")
    series_uid = series_instance_uid or _uid(uid_seed, "series", study_uid,
                                             str(series_number), series_description)
    np_dtype = _DTYPES[dtype][0]
    series = _Series(
        data=data, np_dtype=np_dtype, pixel_representation=_DTYPES[dtype][1],
        geo=_geometry(volume.affine, _shape3(data)),
        scaling=_scaling(data, np_dtype), study_uid=study_uid, series_uid=series_uid,
        for_uid=frame_of_reference_uid or _uid(uid_seed, "frame-of-reference", study_uid),
        uid_seed=uid_seed, patient=(str(patient_id), patient_name or "", patient_sex or "",
                                    _age_string(patient_age)),
        series_values=(int(series_number), series_description, modality, manufacturer),
        extra=dict(attributes or {}))
    nk = int(data.shape[2])
    order = (np.arange(nk) if shuffle_seed is None
             else np.random.default_rng(shuffle_seed).permutation(nk))
    out = Path(out_dir)
    make_private_dirs(out)  # 0700 whatever the umask
    paths: list[Path] = []
    for k in range(nk):
        ds = _slice_dataset(series, k)
        ds.PixelData = _stored_plane(series, k)
        path = out / filename_pattern.format(index=int(order[k]))
        _atomic_save(ds, path)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class _Series:
    """What every slice file of one written series shares."""

    data: NDArray[Any]
    np_dtype: type[np.integer[Any]]
    pixel_representation: int
    geo: dict[str, Any]
    scaling: tuple[float, float]  # slope, intercept
    study_uid: str
    series_uid: str
    for_uid: str
    uid_seed: str | None
    patient: tuple[str, str, str, str | None]  # id, name, sex, age string
    series_values: tuple[int, str, str, str]  # number, description, modality, manufacturer
    extra: dict[str, Any]


def _slice_dataset(series: _Series, k: int) -> Any:
    """The dataset of slice ``k`` without its pixels (defaults, then the extra attributes)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    geo, (slope, intercept) = series.geo, series.scaling
    number, description, modality, manufacturer = series.series_values
    patient_id, patient_name, patient_sex, age = series.patient
    bits = np.dtype(series.np_dtype).itemsize * 8
    sop_uid = (_uid(series.uid_seed, "instance", series.series_uid, str(k))
               if series.uid_seed else _uid(None))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MR_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    for prefix in ("Study", "Series", "Acquisition", "Content"):
        setattr(ds, f"{prefix}Date", _DEFAULT_DATE)
        setattr(ds, f"{prefix}Time", _DEFAULT_TIME)
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.Manufacturer = manufacturer
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = patient_sex
    if age is not None:
        ds.PatientAge = age
    ds.BodyPartExamined = "FOOT"
    ds.Laterality = ""
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SliceThickness = _ds_str(geo["spacing"])
    ds.RepetitionTime = "500"
    ds.EchoTime = "15"
    ds.EchoTrainLength = 1
    ds.MagneticFieldStrength = "1.5"
    ds.SpacingBetweenSlices = _ds_str(geo["spacing"])
    ds.PatientPosition = "FFS"
    ds.StudyInstanceUID = series.study_uid
    ds.SeriesInstanceUID = series.series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = k + 1
    pos = geo["positions"][k]
    ds.ImagePositionPatient = [_ds_str(v) for v in pos]
    ds.ImageOrientationPatient = [_ds_str(v) for v in geo["iop"]]
    ds.FrameOfReferenceUID = series.for_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = _ds_str(float(np.dot(pos, geo["normal"])))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = int(series.data.shape[1])
    ds.Columns = int(series.data.shape[0])
    ds.PixelSpacing = [_ds_str(v) for v in geo["pixel_spacing"]]
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = series.pixel_representation
    ds.RescaleIntercept = _ds_str(intercept)
    ds.RescaleSlope = _ds_str(slope)
    ds.RescaleType = "US"
    for keyword, value in series.extra.items():
        setattr(ds, keyword, value)
    return ds


def _stored_plane(series: _Series, k: int) -> bytes:
    """Slice ``k`` as stored values ``(value - intercept) / slope``, little endian."""
    slope, intercept = series.scaling
    plane = series.data[:, :, k].T  # DICOM pixels are (row, column)
    if slope == 1.0 and intercept == 0.0 and series.data.dtype.kind in "iub":
        stored = plane
    else:
        stored = np.rint((plane.astype(np.float64) - intercept) / slope)
        stored = np.nan_to_num(stored, nan=0.0)
    info = np.iinfo(series.np_dtype)
    stored = np.clip(stored, info.min, info.max).astype(series.np_dtype)
    return np.ascontiguousarray(stored).astype(
        np.dtype(series.np_dtype).newbyteorder("<"), copy=False).tobytes()


def _shape3(data: NDArray[Any]) -> tuple[int, int, int]:
    ni, nj, nk = (int(s) for s in data.shape)
    return ni, nj, nk


def _checked_array(volume: Any) -> NDArray[Any]:
    """The volume's array, 3-D (booleans as uint8); ValueError otherwise."""
    data = np.asarray(volume.array)
    if data.ndim != 3:
        raise ValueError(f"write_series needs a 3-D volume, found shape {data.shape}")
    return data.astype(np.uint8) if data.dtype == np.bool_ else data
