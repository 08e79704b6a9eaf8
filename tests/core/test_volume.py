import nibabel as nib
import numpy as np
import pytest

from bmes_imaging.errors import GeometryError, NiftiError
from bmes_imaging.geometry import affine_from_dicom, plane_of, resample_to
from bmes_imaging.volume import Volume, load_nifti


def test_nifti_round_trip_is_exact(tmp_path) -> None:
    rng = np.random.default_rng(0)
    aff = np.array([[0, 0, 3.0, -10], [-0.5, 0, 0, 20], [0, -0.4, 0, 5], [0, 0, 0, 1]])
    vol = Volume(rng.normal(size=(6, 7, 5)).astype(np.float32), aff)
    vol.to_nifti(tmp_path / "a.nii.gz")
    back = load_nifti(tmp_path / "a.nii.gz")
    assert np.array_equal(back.array, vol.array)
    assert np.allclose(back.affine, aff)
    assert not list(tmp_path.glob(".a.nii.gz*"))  # no temporary left behind


def test_load_nifti_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not nifti")
    with pytest.raises(NiftiError, match=r"bad\.nii\.gz"):
        load_nifti(bad)
    nib.save(nib.Nifti1Image(np.zeros((2, 2), np.float32), np.eye(4)), tmp_path / "2d.nii")
    with pytest.raises(NiftiError, match="3-D"):
        load_nifti(tmp_path / "2d.nii")


def test_singular_affine_is_refused() -> None:
    with pytest.raises(GeometryError, match="singular"):
        Volume(np.zeros((2, 2, 2)), np.diag([1, 0, 1, 1]))


def test_affine_from_dicom_axial() -> None:
    # axial slice, rows along +x (L) in LPS, columns along +y (P)
    a = affine_from_dicom([-100, -120, 30], [1, 0, 0, 0, 1, 0], [0.8, 0.6], [0, 0, 4])
    # voxel (0,0,0) is IPP converted to RAS
    assert np.allclose(a[:3, 3], [100, 120, 30])
    # i steps by column spacing 0.6 along L -> -x in RAS; j by row spacing 0.8 along P
    assert np.allclose(a[:3, 0], [-0.6, 0, 0]) and np.allclose(a[:3, 1], [0, -0.8, 0])
    assert plane_of([1, 0, 0, 0, 1, 0]) == "axial"
    assert plane_of([0, 1, 0, 0, 0, -1]) == "sagittal"
    assert plane_of([1, 0, 0, 0, 0, -1]) == "coronal"
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    assert plane_of([c, s, 0, 0, 0, -1]) == "oblique"


def test_resample_identity_and_shift() -> None:
    arr = np.zeros((10, 10, 10), np.float32)
    arr[4, 5, 6] = 1
    vol = Volume(arr, np.eye(4))
    same = resample_to(vol, np.eye(4), (10, 10, 10))
    assert np.array_equal(same.array, arr)
    shifted = np.eye(4)
    shifted[:3, 3] = [1, 0, 0]  # target voxel 3 is world 4
    out = resample_to(vol, shifted, (10, 10, 10), order=0)
    assert out.array[3, 5, 6] == 1
