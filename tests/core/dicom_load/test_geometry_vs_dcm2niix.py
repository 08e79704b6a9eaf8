"""Geometry equal to dcm2niix: every voxel at the same RAS+ position with the same value.

Series are written with write_series in four orientations (file names shuffled, slice
order reversed or not), converted to Enhanced MR (highdicom legacy conversion) and to
JPEG 2000 (gdcmconv), then loaded with load_series and with the real dcm2niix.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bmes_imaging.dicom import write_series
from bmes_imaging.dicom._load import read_stack

pytestmark = pytest.mark.skipif(shutil.which("dcm2niix") is None or
                                shutil.which("gdcmconv") is None,
                                reason="needs dcm2niix and gdcmconv (Debian packages)")

ORIENTATIONS = ["sagittal", "axial", "coronal", "oblique"]


def _series(tmp_path, volume_factory, orientation, reverse):
    vol = volume_factory(orientation, shape=(14, 11, 8), seed=len(orientation),
                         reverse_slices=reverse)
    files = write_series(vol, tmp_path / "dicom", patient_id="3", uid_seed=orientation,
                         shuffle_seed=7, series_description=f"{orientation} test")
    return vol, files


def _compare(vol, nii, dicom_tools):
    data = np.asarray(nii.get_fdata())
    dicom_tools["assert_same_voxels"](vol, nii.affine, data)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reversed"])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_single_frame_matches_dcm2niix(tmp_path, volume_factory, dicom_tools,
                                       orientation, reverse):
    written, files = _series(tmp_path, volume_factory, orientation, reverse)
    vol = read_stack(files[::-1])
    nii = dicom_tools["run_dcm2niix"](tmp_path / "dicom", tmp_path / "nii")
    _compare(vol, nii, dicom_tools)
    # and the loaded volume is the written one, in world coordinates
    dicom_tools["assert_same_voxels"](vol, written.affine, written.array, rtol_values=2e-3)
    assert vol.info.plane == ("oblique" if orientation == "oblique" else orientation)
    assert len(vol.info.sop_instance_uids) == vol.shape[2]


def test_comparison_detects_a_flipped_axis(tmp_path, volume_factory, dicom_tools):
    """The check itself can fail: a volume with its row axis flipped does not match."""
    from bmes_imaging.volume import Volume

    _, files = _series(tmp_path, volume_factory, "oblique", False)
    vol = read_stack(files)
    nii = dicom_tools["run_dcm2niix"](tmp_path / "dicom", tmp_path / "nii")
    flipped = Volume(vol.array[:, ::-1, :], vol.affine)
    with pytest.raises(AssertionError):
        _compare(flipped, nii, dicom_tools)
    shifted = vol.affine.copy()
    shifted[:3, 3] += 0.02
    with pytest.raises(AssertionError):
        _compare(Volume(vol.array, shifted), nii, dicom_tools)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_multiframe_matches_dcm2niix(tmp_path, volume_factory, dicom_tools, orientation):
    _written, files = _series(tmp_path, volume_factory, orientation, True)
    mf_dir = tmp_path / "enhanced"
    mf_dir.mkdir()
    dicom_tools["to_multiframe"](files, mf_dir / "enhanced.dcm")
    vol = read_stack([mf_dir / "enhanced.dcm"])
    assert vol.info.sop_class_uid == "1.2.840.10008.5.1.4.1.1.4.4"  # legacy converted MR
    assert sorted(vol.info.frame_numbers) == list(range(1, vol.shape[2] + 1))
    nii = dicom_tools["run_dcm2niix"](mf_dir, tmp_path / "nii")
    _compare(vol, nii, dicom_tools)
    single = read_stack(files)
    np.testing.assert_array_equal(vol.array, single.array)
    np.testing.assert_allclose(vol.affine, single.affine, atol=1e-9)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_jpeg2000_matches_dcm2niix(tmp_path, volume_factory, dicom_tools, orientation):
    _written, files = _series(tmp_path, volume_factory, orientation, True)
    j2k = dicom_tools["gdcmconv"](files, tmp_path / "j2k", "--j2k")
    vol = read_stack(j2k)
    assert vol.info.extra["transfer_syntaxes"] == ["1.2.840.10008.1.2.4.90"]
    nii = dicom_tools["run_dcm2niix"](tmp_path / "j2k", tmp_path / "nii")
    _compare(vol, nii, dicom_tools)


REAL_MR = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
           "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm", "MR_small_padded.dcm"]


@pytest.mark.parametrize("name", REAL_MR)
def test_real_mr_files_match_dcm2niix(tmp_path, dicom_tools, name):
    """pydicom's own MR test files (not written here) load as dcm2niix reads them."""
    from pathlib import Path

    import pydicom

    source = Path(pydicom.__file__).parent / "data" / "test_files" / name
    if not source.is_file():
        pytest.skip(f"{name} not shipped with this pydicom")
    (tmp_path / "in").mkdir()
    shutil.copyfile(source, tmp_path / "in" / name)
    vol = read_stack([tmp_path / "in" / name])
    nii = dicom_tools["run_dcm2niix"](tmp_path / "in", tmp_path / "nii")
    data = np.asarray(nii.get_fdata())
    dicom_tools["assert_same_voxels"](vol, nii.affine, data.reshape(data.shape[:2] + (-1,)))
