"""The :class:`Volume`: voxels plus an affine to RAS+ millimetres, and NIfTI I/O.

Examples
--------
>>> import numpy as np
>>> from bmes_imaging import Volume
>>> vol = Volume(np.zeros((4, 5, 6), np.float32), np.diag([0.5, 0.5, 3.0, 1.0]))
>>> vol.shape, vol.voxel_sizes.tolist()
((4, 5, 6), [0.5, 0.5, 3.0])
>>> vol.world([[0, 0, 0], [1, 1, 1]]).tolist()
[[0.0, 0.0, 0.0], [0.5, 0.5, 3.0]]
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._atomic import atomic_path
from .errors import NiftiError
from .geometry import apply_affine, check_affine, voxel_sizes

__all__ = ["SeriesInfo", "Volume", "load_nifti"]


@dataclass(frozen=True)
class SeriesInfo:
    """What later stages need to know about the series a volume came from.

    Every field is optional: a NIfTI file carries none of them. Patient identifiers
    live here for linking only; never log them.

    Attributes
    ----------
    study_instance_uid, series_instance_uid, frame_of_reference_uid
        DICOM UIDs.
    patient_id
        PatientID (0010,0020), for linking to clinical records.
    modality, manufacturer, series_description, series_number
        As in the DICOM header.
    laterality
        ``"L"`` or ``"R"`` (from Laterality / ImageLaterality, else the description).
    sequence
        ``"t1"``, ``"stir"``, ``"t2_fs"``, ``"pd_fs"`` or ``"other"``.
    plane
        ``"sagittal"``, ``"axial"``, ``"coronal"`` or ``"oblique"``.
    repetition_time, echo_time, inversion_time
        In ms.
    sop_class_uid
        SOP Class UID of the source images.
    sop_instance_uids
        One per slice (``k``) in array order; for a multi-frame file the one UID repeated.
    frame_numbers
        1-based frame numbers per slice for multi-frame sources, else empty.
    source_files
        Files the voxels were read from, one per slice (repeated for multi-frame).
    extra
        Anything else a stage wants to carry (free-form, not persisted).
    """

    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None
    patient_id: str | None = None
    modality: str | None = None
    manufacturer: str | None = None
    series_description: str | None = None
    series_number: int | None = None
    laterality: str | None = None
    sequence: str | None = None
    plane: str | None = None
    repetition_time: float | None = None
    echo_time: float | None = None
    inversion_time: float | None = None
    sop_class_uid: str | None = None
    sop_instance_uids: tuple[str, ...] = ()
    frame_numbers: tuple[int, ...] = ()
    source_files: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def replace(self, **changes: Any) -> SeriesInfo:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


class Volume:
    """A 3-D image: ``array[i, j, k]`` plus a 4x4 ``affine`` to RAS+ millimetres.

    ``nibabel.Nifti1Image(vol.array, vol.affine)`` is a correct NIfTI image of it.

    Parameters
    ----------
    array
        3-D voxel array (intensities after rescale, or integer labels).
    affine
        4x4 matrix mapping ``(i, j, k, 1)`` to RAS+ mm.
    info
        Series metadata (:class:`SeriesInfo`); empty by default.

    Raises
    ------
    GeometryError
        If the affine is not a valid 4x4 affine.
    ValueError
        If the array is not 3-D.
    """

    __slots__ = ("affine", "array", "info")

    def __init__(self, array: ArrayLike, affine: ArrayLike,
                 info: SeriesInfo | None = None) -> None:
        arr = np.asarray(array)
        if arr.ndim != 3:
            raise ValueError(f"Volume needs a 3-D array, found {arr.ndim}-D shape {arr.shape}")
        self.array: NDArray[Any] = arr
        self.affine: NDArray[np.float64] = check_affine(affine)
        self.info: SeriesInfo = info if info is not None else SeriesInfo()

    def __repr__(self) -> str:
        vs = ", ".join(f"{v:.3g}" for v in self.voxel_sizes)
        seq = f" {self.info.sequence}" if self.info.sequence else ""
        return (f"<Volume{seq} shape={self.shape} voxel=({vs}) mm "
                f"dtype={self.array.dtype}>")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(ni, nj, nk)``."""
        s = self.array.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def voxel_sizes(self) -> NDArray[np.float64]:
        """Voxel edge lengths in mm along ``i, j, k``."""
        return voxel_sizes(self.affine)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (cm³)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    def world(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """RAS+ mm positions of ``(N, 3)`` voxel indices."""
        return apply_affine(self.affine, ijk)

    def with_array(self, array: ArrayLike, info: SeriesInfo | None = None) -> Volume:
        """A volume on the same grid holding ``array`` (e.g. a mask of this image)."""
        arr = np.asarray(array)
        if arr.shape != self.array.shape:
            raise ValueError(f"array shape {arr.shape} does not match grid {self.array.shape}")
        return Volume(arr, self.affine, self.info if info is None else info)

    def to_nifti(self, path: str | os.PathLike[str] | None = None) -> Any:
        """Return a ``nibabel.Nifti1Image``; with ``path``, also write it atomically.

        The file is written to a temporary name beside ``path`` and renamed, so a crash
        never leaves a half-written file. Integer arrays keep their type; the sform and
        qform are both set to the affine (code 1, scanner).
        """
        import nibabel as nib

        arr = self.array
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8)
        img = nib.Nifti1Image(arr, self.affine)
        img.set_sform(self.affine, code=1)
        img.set_qform(self.affine, code=1)
        img.header.set_xyzt_units("mm")
        if path is not None:
            with atomic_path(path, suffix="".join(Path(path).suffixes) or ".nii") as tmp:
                nib.save(img, tmp)
        return img


def load_nifti(path: str | os.PathLike[str], *, info: SeriesInfo | None = None) -> Volume:
    """Load a NIfTI-1/2 file (``.nii`` or ``.nii.gz``) as a :class:`Volume`.

    The sform is used when set, else the qform (nibabel's ``get_best_affine``).
    Scaling (``scl_slope``/``scl_inter``) is applied for non-integer data.

    Raises
    ------
    NiftiError
        If the file is missing, not NIfTI, or not 3-D (a 4-D file with one volume is
        accepted).
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    p = Path(path)
    try:
        img = nib.load(str(p))
    except FileNotFoundError:
        raise NiftiError(f"{p}: no such file") from None
    except (ImageFileError, OSError, EOFError, ValueError) as exc:
        raise NiftiError(f"{p}: not a readable NIfTI file ({exc})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise NiftiError(f"{p}: expected a NIfTI image, found {type(img).__name__}")
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        pass
    elif len(shape) != 3:
        raise NiftiError(f"{p}: expected a 3-D image, found shape {shape}")
    try:
        proxy: Any = img.dataobj  # ArrayProxy carries the NIfTI scaling
        slope, inter = proxy.slope, proxy.inter
        if np.issubdtype(img.get_data_dtype(), np.integer) and slope == 1 and inter == 0:
            data = np.asarray(img.dataobj)
        else:
            data = img.get_fdata(dtype=np.float32)
    except (OSError, EOFError, ValueError) as exc:
        raise NiftiError(f"{p}: cannot read voxel data ({exc})") from None
    if data.ndim == 4:
        data = data[..., 0]
    return Volume(data, img.affine, info)
