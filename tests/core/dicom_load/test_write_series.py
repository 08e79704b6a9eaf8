"""write_series: geometry, value round trip, determinism, shuffled names."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from bmes_imaging.dicom import write_series
from bmes_imaging.errors import GeometryError
from bmes_imaging.geometry import LPS_TO_RAS, apply_affine
from bmes_imaging.volume import Volume


@pytest.mark.parametrize("orientation", ["axial", "sagittal", "coronal", "oblique"])
def test_positions_and_values_round_trip(tmp_path, volume_factory, orientation):
    vol = volume_factory(orientation, seed=3)
    files = write_series(vol, tmp_path, patient_id="4", uid_seed="t", shuffle_seed=1)
    assert len(files) == vol.shape[2]
    span = float(vol.array.max() - vol.array.min())
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        # IPP is the LPS position of voxel (0, 0, k)
        expected = (LPS_TO_RAS[:3, :3] @ apply_affine(vol.affine, [[0, 0, k]])[0])
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], expected,
                                   atol=1e-6)
        # IOP row direction is the i axis, column direction the j axis (LPS)
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        lps = LPS_TO_RAS @ vol.affine
        np.testing.assert_allclose(iop[:3], lps[:3, 0] / np.linalg.norm(lps[:3, 0]),
                                   atol=1e-9)
        np.testing.assert_allclose(iop[3:], lps[:3, 1] / np.linalg.norm(lps[:3, 1]),
                                   atol=1e-9)
        assert ds.Rows == vol.shape[1] and ds.Columns == vol.shape[0]
        values = ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.abs(values - vol.array[:, :, k]).max() <= 1e-3 * span


def test_integer_volume_is_stored_unscaled(tmp_path, volume_factory):
    vol = volume_factory("axial", dtype=np.float32)
    ivol = Volume(np.rint(vol.array).astype(np.int16), vol.affine)
    files = write_series(ivol, tmp_path, patient_id="1", dtype="int16", uid_seed="i")
    ds = pydicom.dcmread(files[2])
    assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == 0.0
    np.testing.assert_array_equal(ds.pixel_array.T, ivol.array[:, :, 2])


def test_deterministic_and_shuffled(tmp_path, volume_factory):
    vol = volume_factory("sagittal", shape=(6, 5, 9))
    a = write_series(vol, tmp_path / "a", patient_id="2", uid_seed="s", shuffle_seed=5)
    b = write_series(vol, tmp_path / "b", patient_id="2", uid_seed="s", shuffle_seed=5)
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    assert [p.name for p in a] != sorted(p.name for p in a)  # names carry no order
    c = write_series(vol, tmp_path / "c", patient_id="2", uid_seed="other")
    assert pydicom.dcmread(c[0]).SeriesInstanceUID != pydicom.dcmread(a[0]).SeriesInstanceUID


def test_attributes_are_written(tmp_path, volume_factory):
    vol = volume_factory("coronal", shape=(4, 4, 2))
    files = write_series(vol, tmp_path, patient_id="9", series_description="STIR COR",
                         attributes={"InversionTime": 150, "Laterality": "L",
                                     "ScanOptions": ["IR"]}, uid_seed="a")
    ds = pydicom.dcmread(files[0])
    assert float(ds.InversionTime) == 150 and ds.Laterality == "L"
    assert ds.SeriesDescription == "STIR COR" and ds.PatientID == "9"


def test_sheared_in_plane_axes_refused(tmp_path):
    affine = np.eye(4)
    affine[0, 1] = 0.3
    with pytest.raises(GeometryError):
        write_series(Volume(np.zeros((3, 3, 3)), affine), tmp_path, patient_id="1")
