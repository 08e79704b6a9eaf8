"""4-D series split into volumes at index time, or refused there; pairing only picks
stacks that load, and prefers anatomy sequences."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bmes_imaging.dicom import index_folder, load_series, pair_series, write_series
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.errors import DicomSeriesError
from bmes_imaging.volume import Volume

SERIES = "1.2.826.0.1.3680043.8.498.4242"
STUDY = "1.2.826.0.1.3680043.8.498.4240"


def _volume(seed: int, shape=(16, 12, 6)) -> Volume:
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    affine[:3, :3] = np.array([[0.0, 0, -1], [-1, 0, 0], [0, -1, 0]]) @ np.diag([0.8, 0.8, 3])
    affine[:3, 3] = (10.0, -20.0, 30.0)
    rng = np.random.default_rng(seed)
    return Volume(rng.integers(0, 900, shape).astype(np.float32), affine)


def _assert_same_world(loaded: Volume, vol: Volume) -> None:
    """Same voxels at the same RAS+ positions (the loader orders slices along the
    normal, so the slice axis may run the other way)."""
    m = np.linalg.inv(vol.affine) @ loaded.affine
    ijk = np.indices(loaded.shape).reshape(3, -1).T
    theirs = np.rint(ijk @ m[:3, :3].T + m[:3, 3]).astype(int)
    np.testing.assert_allclose(ijk @ m[:3, :3].T + m[:3, 3], theirs, atol=1e-3)
    np.testing.assert_array_equal(loaded.array[tuple(ijk.T)], vol.array[tuple(theirs.T)])


def _write_4d(folder, n_volumes: int, **kw) -> list[Volume]:
    vols = [_volume(t) for t in range(n_volumes)]
    for t, vol in enumerate(vols):
        write_series(vol, folder, patient_id="9", study_instance_uid=STUDY,
                     series_instance_uid=SERIES, series_number=7, uid_seed=f"t{t}",
                     frame_of_reference_uid=STUDY + ".1",
                     series_description=kw.get("description", "t2_tse_fs_sag"),
                     attributes={"RepetitionTime": 4000, "EchoTime": 70,
                                 "ScanOptions": "FS", "ScanningSequence": "SE"},
                     filename_pattern=f"t{t}_{{index:03d}}.dcm")
    return vols


def test_even_repeats_become_one_stack_per_volume(tmp_path):
    vols = _write_4d(tmp_path, 3)
    index = index_folder(tmp_path)
    assert len(index.stacks) == 3 and not index.rejected
    for t, st in enumerate(index.stacks):
        assert st.stack_id == f"{SERIES}#v{t + 1}"
        assert f"volume {t + 1} of 3 of a 4-D series" in st.split_reason
        assert st.n_images == 6
        _assert_same_world(load_series(st), vols[t])


def test_loader_message_for_4d_files_gives_no_remove_duplicates_advice(tmp_path):
    _write_4d(tmp_path, 2)
    with pytest.raises(DicomSeriesError) as err:
        read_stack(sorted(tmp_path.glob("*.dcm")))
    assert "remove the duplicates" not in str(err.value)
    assert "2 volumes of a 4-D series" in str(err.value)


def test_uneven_repeats_are_refused_at_index_time_with_the_reason(tmp_path):
    _write_4d(tmp_path, 2)
    # a third image at one position only (an incomplete repeat)
    extra = _volume(5, shape=(16, 12, 1))
    extra.affine[:3, 3] = _volume(0).affine[:3, 3]
    write_series(extra, tmp_path, patient_id="9", study_instance_uid=STUDY,
                 series_instance_uid=SERIES, series_number=7, uid_seed="extra",
                 series_description="t2_tse_fs_sag",
                 attributes={"RepetitionTime": 4000, "EchoTime": 70, "ScanOptions": "FS",
                             "ScanningSequence": "SE"},
                 filename_pattern="x_{index:03d}.dcm")
    index = index_folder(tmp_path)
    assert not index.stacks
    assert len(index.rejected) == 13
    for r in index.rejected:
        assert "series 7 't2_tse_fs_sag'" in r.reason
        assert "repeat unevenly" in r.reason and "2 to 3 images" in r.reason


def test_pairing_skips_unloadable_stacks_and_says_why(tmp_path):
    t1 = _volume(1, shape=(16, 12, 8))
    common = {"patient_id": "9", "study_instance_uid": STUDY}
    t1_attrs = {"RepetitionTime": 500, "EchoTime": 12, "ScanningSequence": "SE"}
    files = write_series(t1, tmp_path / "t1_gap", series_number=2,
                         series_description="t1_tse_sag", attributes=t1_attrs,
                         uid_seed="gap", **common)
    import pydicom

    ds = pydicom.dcmread(files[3])  # one slice 1 mm off its place: uneven gaps
    ds.ImagePositionPatient = [float(v) + d for v, d in
                               zip(ds.ImagePositionPatient, (1.0, 0.0, 0.0), strict=True)]
    ds.save_as(files[3])
    _write_4d(tmp_path / "fluid", 1)
    pairing = pair_series(index_folder(tmp_path))
    assert not pairing.pairs
    (unpaired,) = pairing.unpaired
    assert "no loadable T1" in unpaired[2] and "not evenly spaced" in unpaired[2]
    # a loadable T1 (gradient echo, derived) and a spin-echo T1: the spin echo is chosen
    write_series(t1, tmp_path / "t1_ok", series_number=3, series_description="t1_tse_sag",
                 attributes=t1_attrs, uid_seed="ok", **common)
    write_series(t1, tmp_path / "t1_gre", series_number=1, series_description="t1_fl2d_sag",
                 attributes={"RepetitionTime": 250, "EchoTime": 3, "ScanningSequence": "GR",
                             "ImageType": ["DERIVED", "SECONDARY", "MPR"]},
                 uid_seed="gre", **common)
    (pair,) = pair_series(index_folder(tmp_path)).pairs
    assert pair.t1.series_number == 3
    load_series(pair.t1)
    load_series(pair.fluid)


def test_multiframe_file_with_repeated_positions_splits_by_frame(tmp_path):
    """An Enhanced MR file holding two time points of one stack: two volumes."""
    pytest.importorskip("highdicom")
    import pydicom
    from highdicom.legacy import LegacyConvertedEnhancedMRImage
    from pydicom.uid import generate_uid

    vols = _write_4d(tmp_path / "single", 2)
    datasets = [pydicom.dcmread(f) for f in sorted((tmp_path / "single").glob("*.dcm"))]
    image = LegacyConvertedEnhancedMRImage(
        legacy_datasets=datasets, series_instance_uid=generate_uid(), series_number=99,
        sop_instance_uid=generate_uid(), instance_number=1)
    (tmp_path / "mf").mkdir()
    image.save_as(tmp_path / "mf" / "enhanced.dcm")
    shutil.rmtree(tmp_path / "single")
    index = index_folder(tmp_path / "mf")
    assert len(index.stacks) == 2, [s.split_reason for s in index.stacks]
    got = sorted(load_series(st).array.sum() for st in index.stacks)
    assert got == sorted(v.array.sum() for v in vols)
    assert all("4-D series" in st.split_reason and "frame order" in st.split_reason
               for st in index.stacks)
