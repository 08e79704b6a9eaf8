"""load_series on folders, file lists and indexed stacks (through the folder index)."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.dicom import index_folder, load_series, write_series
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.errors import DicomSeriesError

STIR = {"ScanningSequence": ["SE", "IR"], "SequenceVariant": ["SK", "SP", "MP"],
        "ScanOptions": ["IR"], "RepetitionTime": 4000, "EchoTime": 30,
        "InversionTime": 150, "Laterality": "L"}


@pytest.fixture
def study(tmp_path, volume_factory):
    t1 = volume_factory("sagittal", shape=(12, 10, 6), seed=1)
    stir = volume_factory("sagittal", shape=(12, 10, 5), spacing=(0.5, 0.6, 3.5), seed=2)
    folder = tmp_path / "dicom"
    t1_files = write_series(t1, folder, patient_id="8", uid_seed="study", series_number=1,
                            series_description="T1 SE SAG", shuffle_seed=1,
                            filename_pattern="A{index:03d}.dcm",
                            attributes={"RepetitionTime": 550, "EchoTime": 12,
                                        "Laterality": "L"})
    stir_files = write_series(stir, folder, patient_id="8", uid_seed="study",
                              series_number=2, series_description="STIR SAG",
                              shuffle_seed=2, filename_pattern="B{index:03d}.dcm",
                              attributes=STIR)
    return folder, t1_files, stir_files


def test_folder_with_one_stack(tmp_path, volume_factory):
    vol = volume_factory("oblique", shape=(12, 10, 7), seed=4)
    files = write_series(vol, tmp_path / "one", patient_id="2", uid_seed="one",
                         shuffle_seed=3, attributes=STIR)
    loaded = load_series(tmp_path / "one")
    direct = read_stack(files)
    np.testing.assert_array_equal(loaded.array, direct.array)
    np.testing.assert_allclose(loaded.affine, direct.affine)
    assert loaded.info.sequence == "stir" and loaded.info.laterality == "L"
    assert loaded.info.extra["stack_id"] == loaded.info.series_instance_uid


def test_folder_with_two_stacks_is_refused_listing_both(study):
    folder, _t1_files, _stir_files = study
    with pytest.raises(DicomSeriesError, match="2 image stacks") as err:
        load_series(folder)
    index = index_folder(folder)
    for stack in index.stacks:
        assert stack.stack_id in str(err.value)
    assert "T1 SE SAG" in str(err.value) and "STIR SAG" in str(err.value)


def test_stack_and_file_list(study):
    folder, t1_files, stir_files = study
    index = index_folder(folder)
    by_sequence = {s.sequence: s for s in index.stacks}
    t1 = load_series(by_sequence["t1"])
    stir = load_series(by_sequence["stir"])
    assert t1.shape == (12, 10, 6) and stir.shape == (12, 10, 5)
    assert (t1.info.sequence, stir.info.sequence) == ("t1", "stir")
    from_list = load_series(list(reversed(stir_files)))
    np.testing.assert_array_equal(from_list.array, stir.array)
    assert from_list.info.sequence == "stir"
    with pytest.raises(DicomSeriesError, match="2 image stacks"):
        load_series([*t1_files[:2], *stir_files[:2]])


def test_single_file_gets_classified(study):
    _, _, stir_files = study
    vol = load_series(stir_files[0])
    assert vol.shape[2] == 1 and vol.info.sequence == "stir"


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(DicomSeriesError, match="no loadable image stack"):
        load_series(tmp_path / "empty")
