"""Fixtures for the DICOM loading tests: synthetic volumes in named orientations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bmes_imaging.volume import Volume

#: Direction of (i, j, k) in RAS+ for each orientation, as a 3x3 rotation.
_ORIENTATIONS: dict[str, np.ndarray] = {
    # axial: i -> L (rows run R to L), j -> P (columns run A to P), k -> S
    "axial": np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]]),
    # sagittal: i -> P, j -> I, k -> L  (as Siemens sagittals: IOP 0 1 0 0 0 -1)
    "sagittal": np.array([[0.0, 0, -1], [-1, 0, 0], [0, -1, 0]]),
    # coronal: i -> L, j -> I, k -> A  (IOP 1 0 0 0 0 -1)
    "coronal": np.array([[-1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    # double oblique: sagittal tilted about two axes
    "oblique": Rotation.from_euler("xz", [17.0, -23.0], degrees=True).as_matrix()
    @ np.array([[0.0, 0, -1], [-1, 0, 0], [0, -1, 0]]),
}


def make_volume(orientation: str = "axial", shape: tuple[int, int, int] = (12, 10, 7),
                spacing: tuple[float, float, float] = (0.45, 0.55, 3.3),
                origin: tuple[float, float, float] = (12.5, -40.25, 33.0),
                seed: int = 0, reverse_slices: bool = False,
                dtype: type = np.float32) -> Volume:
    """A volume with smooth-plus-noise content in a named orientation."""
    rot = _ORIENTATIONS[orientation]
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(spacing)
    affine[:3, 3] = origin
    rng = np.random.default_rng(seed)
    ii, jj, kk = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    data = (200 + 50 * np.sin(ii / 3.0) + 30 * jj + 11 * kk
            + rng.normal(0, 5, shape)).astype(dtype)
    if reverse_slices:
        flip = np.eye(4)
        flip[2, 2] = -1
        flip[2, 3] = shape[2] - 1
        affine = affine @ flip
        data = data[:, :, ::-1].copy()
    return Volume(data, affine)


@pytest.fixture
def volume_factory() -> Callable[..., Volume]:
    """Return :func:`make_volume` (orientation, shape, spacing, origin, seed...)."""
    return make_volume


# ----------------------------------------------------------------- conversions

def to_multiframe(files: list, out_path) -> None:
    """Legacy-convert single-frame MR files to one Enhanced MR file (highdicom)."""
    import pydicom
    from highdicom.legacy import LegacyConvertedEnhancedMRImage
    from pydicom.uid import generate_uid

    datasets = [pydicom.dcmread(f) for f in files]
    image = LegacyConvertedEnhancedMRImage(
        legacy_datasets=datasets, series_instance_uid=generate_uid(), series_number=99,
        sop_instance_uid=generate_uid(), instance_number=1)
    image.save_as(out_path)


def gdcmconv(files: list, out_dir, option: str) -> list:
    """Copy ``files`` into ``out_dir`` re-encoded by ``gdcmconv option`` (e.g. --j2k)."""
    import subprocess
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for f in files:
        target = out / Path(f).name
        subprocess.run(["gdcmconv", option, str(f), str(target)], check=True,
                       capture_output=True)
        made.append(target)
    return made


def recode(files: list, out_dir, transfer_syntax: str) -> list:
    """Copy ``files`` re-encoded with pydicom (implicit VR, big endian, deflated)."""
    from pathlib import Path

    import pydicom
    from pydicom.filewriter import dcmwrite
    from pydicom.uid import ExplicitVRBigEndian

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for f in files:
        ds = pydicom.dcmread(f)
        if transfer_syntax == ExplicitVRBigEndian:
            arr = ds.pixel_array
            ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        target = out / Path(f).name
        dcmwrite(target, ds, enforce_file_format=True)
        made.append(target)
    return made


def run_dcm2niix(in_dir, out_dir):
    """Run the real dcm2niix on ``in_dir``; return the one NIfTI it wrote (nibabel)."""
    import subprocess
    from pathlib import Path

    import nibabel as nib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dcm2niix", "-b", "n", "-z", "n", "-f", "ref", "-o", str(out),
                    str(in_dir)], check=True, capture_output=True)
    written = sorted(out.glob("*.nii"))
    assert len(written) == 1, f"dcm2niix wrote {[p.name for p in written]}"
    return nib.load(written[0])


def assert_same_voxels(vol: Volume, ref_affine: np.ndarray, ref_array: np.ndarray, *,
                       mm: float = 0.01, rtol_values: float = 1e-4) -> None:
    """Every voxel of ``vol`` is at the same RAS+ position (within ``mm``) and has the
    same value as a voxel of the reference grid; the grids are the same voxel set."""
    from bmes_imaging.geometry import apply_affine

    m = np.linalg.inv(ref_affine) @ vol.affine  # our index -> reference index
    perm = np.rint(m[:3, :3])
    shift = np.rint(m[:3, 3])
    assert np.all(np.abs(perm).sum(axis=0) == 1) and np.all(np.abs(perm).sum(axis=1) == 1), \
        f"index axes are not a permutation of the reference's: {m[:3, :3].round(3)}"
    assert sorted(vol.shape) == sorted(ref_array.shape[:3])
    ijk = np.indices(vol.shape).reshape(3, -1).T
    ref_ijk = (ijk @ perm.T + shift).astype(int)
    assert ref_ijk.min() >= 0 and np.all(ref_ijk.max(axis=0) < np.array(ref_array.shape[:3]))
    ours = apply_affine(vol.affine, ijk)
    theirs = apply_affine(ref_affine, ref_ijk)
    assert np.abs(ours - theirs).max() <= mm
    values = vol.array[tuple(ijk.T)].astype(np.float64)
    ref_values = np.asarray(ref_array, dtype=np.float64)[tuple(ref_ijk.T)]
    span = max(1.0, float(np.ptp(ref_values)))
    np.testing.assert_allclose(values, ref_values, rtol=0, atol=rtol_values * span)


@pytest.fixture
def dicom_tools() -> dict[str, Callable[..., object]]:
    """Conversion helpers: to_multiframe, gdcmconv, recode, run_dcm2niix,
    assert_same_voxels."""
    return {"to_multiframe": to_multiframe, "gdcmconv": gdcmconv, "recode": recode,
            "run_dcm2niix": run_dcm2niix, "assert_same_voxels": assert_same_voxels}
