"""Enhanced MR files holding several stacks (multi-echo, Dixon water / fat, StackIDs).

The files are built here: a single-frame series legacy-converted to an Enhanced MR
file (highdicom), whose frames are then repeated with pydicom with other pixel values
and per-frame functional groups (MREchoSequence, MRImageFrameTypeSequence,
FrameContentSequence StackID, PlanePositionSequence), interleaved (slice by slice) so
that a stack's frames are not one block of the file.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from bmes_imaging.dicom import index_files, index_folder, load_series, write_series
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.errors import DicomSeriesError
from bmes_imaging.volume import Volume


@pytest.fixture
def source(tmp_path, volume_factory, dicom_tools):
    """A 6-slice uint16 series, its single-frame files and its Enhanced MR conversion."""
    vol = volume_factory("sagittal", shape=(9, 8, 6), seed=7)
    ivol = Volume(np.clip(np.rint(vol.array), 0, 4000).astype(np.uint16), vol.affine)
    files = write_series(ivol, tmp_path / "single", patient_id="1", uid_seed="mfs",
                         series_description="t2_dixon_sag")
    enhanced = tmp_path / "converted.dcm"
    dicom_tools["to_multiframe"](files, enhanced)
    return files, enhanced


def _variant_pixels(arr: np.ndarray, n: int) -> np.ndarray:
    """Distinct but known stored values for variant ``n`` (0 keeps the original)."""
    return arr if n == 0 else (arr // (n + 1) + 7 * n).astype(arr.dtype)


def _build(enhanced: Path, out: Path, variants: list[dict]) -> Path:
    """Repeat the frames of ``enhanced`` once per variant, interleaved slice by slice.

    A variant sets ``echo`` (MREchoSequence EffectiveEchoTime), ``frame_type``
    (MRImageFrameTypeSequence FrameType), ``stack_id`` (FrameContentSequence StackID)
    and ``shift`` (LPS mm added to ImagePositionPatient) in every frame's own group.
    """
    ds = pydicom.dcmread(enhanced)
    arr = ds.pixel_array
    if arr.ndim == 2:
        arr = arr[None]
    items, planes = [], []
    for i, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        for n, v in enumerate(variants):
            new = copy.deepcopy(item)
            if "echo" in v:
                echo = Dataset()
                echo.EffectiveEchoTime = v["echo"]
                new.MREchoSequence = [echo]
            if "frame_type" in v:
                ftype = Dataset()
                ftype.FrameType = v["frame_type"]
                new.MRImageFrameTypeSequence = [ftype]
            if "stack_id" in v:
                new.FrameContentSequence[0].StackID = v["stack_id"]
            if "orientation" in v:
                plane = Dataset()
                plane.ImageOrientationPatient = v["orientation"]
                new.PlaneOrientationSequence = [plane]
            if "shift" in v:
                pos = [float(x) for x in new.PlanePositionSequence[0].ImagePositionPatient]
                new.PlanePositionSequence[0].ImagePositionPatient = [
                    f"{p + s:.6g}" for p, s in zip(pos, v["shift"], strict=True)]
            items.append(new)
            planes.append(_variant_pixels(arr[i], n))
    ds.PerFrameFunctionalGroupsSequence = items
    ds.NumberOfFrames = len(items)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PixelData = np.stack(planes).astype("<u2").tobytes()
    ds.save_as(out)
    return out


TWO_ECHOES = [{"echo": 10.0}, {"echo": 80.0}]


def test_index_lists_one_stack_per_echo(tmp_path, source):
    _, enhanced = source
    path = _build(enhanced, tmp_path / "echoes.dcm", TWO_ECHOES)
    index = index_files([path])
    assert len(index.stacks) == 2
    a, b = index.stacks
    uid = pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID
    assert (a.stack_id, b.stack_id) == (f"{uid}#1", f"{uid}#2")
    assert (a.echo_time, b.echo_time) == (10.0, 80.0)
    assert a.frame_numbers == (1, 3, 5, 7, 9, 11)
    assert b.frame_numbers == (2, 4, 6, 8, 10, 12)
    assert a.n_images == b.n_images == 6 and len(a.positions) == 6
    assert a.files == b.files == (path,)
    assert "echo time" in a.split_reason and "TE 10 ms" in a.split_reason
    assert "TE 80 ms" in b.split_reason


def test_each_echo_loads_with_exact_geometry(tmp_path, source):
    files, enhanced = source
    path = _build(enhanced, tmp_path / "echoes.dcm", TWO_ECHOES)
    original = read_stack(files)
    first, second = index_files([path]).stacks
    echo1 = load_series(first)
    echo2 = read_stack(first.files, stack=second)
    np.testing.assert_array_equal(echo1.array, original.array)
    np.testing.assert_array_equal(echo2.array, _variant_pixels(original.array, 1))
    for vol in (echo1, echo2):
        np.testing.assert_allclose(vol.affine, original.affine, atol=1e-6)
    assert sorted(echo1.info.frame_numbers) == [1, 3, 5, 7, 9, 11]
    assert sorted(echo2.info.frame_numbers) == [2, 4, 6, 8, 10, 12]
    assert (echo1.info.echo_time, echo2.info.echo_time) == (10.0, 80.0)
    assert echo2.info.extra["stack_id"] == second.stack_id


def test_screening_task_loads_its_stack_of_a_multiframe_file(tmp_path, source):
    """A screening task (sent to a worker as files and frame numbers) loads the stack
    it was planned with, not the whole file; a file changed since is a clear error."""
    from bmes_imaging.screening._plan import _frames_of
    from bmes_imaging.screening._study import load_task_series

    _, enhanced = source
    path = _build(enhanced, tmp_path / "echoes.dcm", TWO_ECHOES)
    first, second = index_files([path]).stacks
    files = tuple(str(f) for f in second.files)
    vol = load_task_series(files, _frames_of(second))
    np.testing.assert_array_equal(vol.array, load_series(second).array)
    assert vol.info.echo_time == 80.0
    assert _frames_of(first) == (1, 3, 5, 7, 9, 11)
    with pytest.raises(DicomSeriesError, match="no stack with frames"):
        load_task_series(files, (1, 2))


def test_whole_file_is_refused_listing_the_stacks(tmp_path, source):
    _, enhanced = source
    path = _build(enhanced, tmp_path / "echoes.dcm", TWO_ECHOES)
    uid = pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID
    with pytest.raises(DicomSeriesError) as err:
        load_series(path)
    text = str(err.value)
    assert str(path) in text and "2 image stacks" in text
    assert f"{uid}#1" in text and f"{uid}#2" in text and "TE 80 ms" in text
    assert "index_files" in text
    # read_stack without a chosen stack: the same refusal from the frames themselves
    with pytest.raises(DicomSeriesError, match=r"echoes\.dcm holds 2 image stacks") as err:
        read_stack([path])
    assert "TE 10 ms: 6 frames" in str(err.value) and "TE 80 ms: 6 frames" in str(err.value)
    # a folder holding the file: two stacks, refused as any folder with two stacks
    with pytest.raises(DicomSeriesError, match="2 image stacks"):
        load_series(_alone(path, tmp_path))


def _alone(path: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "alone"
    folder.mkdir()
    (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_dixon_water_and_fat_by_frame_type(tmp_path, source):
    files, enhanced = source
    path = _build(enhanced, tmp_path / "dixon.dcm", [
        {"echo": 4.8, "frame_type": ["DERIVED", "PRIMARY", "DIXON", "WATER"]},
        {"echo": 4.8, "frame_type": ["DERIVED", "PRIMARY", "DIXON", "FAT"]},
    ])
    index = index_folder(path.parent)
    stacks = [s for s in index.stacks if s.files == (path,)]
    assert len(stacks) == 2
    assert [s.image_type[-1] for s in stacks] == ["FAT", "WATER"]  # ordered by type
    assert all("differ in frame type" in s.split_reason for s in stacks)
    fat, water = stacks
    original = read_stack(files)
    np.testing.assert_array_equal(load_series(water).array, original.array)
    np.testing.assert_array_equal(load_series(fat).array,
                                  _variant_pixels(original.array, 1))


def test_stacks_by_stack_id_and_position(tmp_path, source):
    """Two StackIDs, the second shifted 5 mm in-plane: each loads at its own place."""
    files, enhanced = source
    path = _build(enhanced, tmp_path / "stacks.dcm", [
        {"stack_id": "1"}, {"stack_id": "2", "shift": (0.0, 5.0, 0.0)}])
    one, two = index_files([path]).stacks
    assert "StackID" in one.split_reason and "StackID 2" in two.split_reason
    original = read_stack(files)
    a, b = load_series(one), load_series(two)
    np.testing.assert_array_equal(a.array, original.array)
    np.testing.assert_allclose(a.affine, original.affine, atol=1e-6)
    expected = original.affine.copy()
    expected[:3, 3] += (0.0, -5.0, 0.0)  # LPS +5 mm posterior is RAS -5 mm
    np.testing.assert_allclose(b.affine, expected, atol=1e-4)


def test_fast_and_careful_header_readers_split_alike(tmp_path, source, monkeypatch):
    _, enhanced = source
    path = _build(enhanced, tmp_path / "echoes.dcm", TWO_ECHOES)
    fast = index_files([path])
    from bmes_imaging.dicom import _header

    monkeypatch.setattr(_header, "scan_header", lambda p: None)  # pydicom reads it
    careful = index_files([path])

    def summary(index):
        return [(s.stack_id, s.frame_numbers, s.echo_time, s.positions, s.split_reason)
                for s in index.stacks]

    assert summary(fast) == summary(careful) and len(fast.stacks) == 2


def test_single_stack_file_is_unchanged(tmp_path, source):
    files, enhanced = source
    path = _build(enhanced, tmp_path / "one.dcm", [{"echo": 12.0}])
    (stack,) = index_files([path]).stacks
    assert stack.frame_numbers == () and stack.split_reason == "" and stack.n_images == 6
    np.testing.assert_array_equal(load_series(path).array, read_stack(files).array)


def test_stack_naming_missing_frames_is_refused(tmp_path, source):
    _, enhanced = source
    path = _build(enhanced, tmp_path / "echoes.dcm", TWO_ECHOES)
    stack = index_files([path]).stacks[0].replace(frame_numbers=(1, 3, 99))
    with pytest.raises(DicomSeriesError, match=r"frame\(s\) \[99\]"):
        load_series(stack)


def test_orientations_are_separate_stacks(tmp_path, source):
    """Same per-frame values, two orientations (e.g. a multi-frame 3-plane localizer)."""
    _, enhanced = source
    path = _build(enhanced, tmp_path / "planes.dcm", [
        {}, {"orientation": ["1", "0", "0", "0", "0", "-1"]}])
    stacks = index_files([path]).stacks
    assert len(stacks) == 2
    assert {s.image_orientation for s in stacks} == {(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
                                                     (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)}
    assert all(s.split_reason.endswith("differ in orientation") for s in stacks)
    with pytest.raises(DicomSeriesError, match=r"orientation 1\\0\\0\\0\\0\\-1: 6 frames"):
        read_stack([path])


def test_stack_ids_when_the_series_has_other_files(tmp_path, source):
    files, enhanced = source
    path = _build(enhanced, tmp_path / "echoes.dcm", TWO_ECHOES)
    uid = pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID
    ds = pydicom.dcmread(path)
    ds.SeriesInstanceUID = uid  # same series as the single-frame files
    ds.save_as(path)
    ids = sorted(s.stack_id for s in index_files([*files, path]).stacks)
    assert ids == [f"{uid}#1", f"{uid}#mf1.1", f"{uid}#mf1.2"]
