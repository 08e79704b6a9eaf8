"""``read_seg``: DICOM SEG back to label maps, for SEGs made here and made as others do.

The other writers' habits (3D Slicer, OHIF) are reproduced with highdicom: their own
segment numbering and codes, frames in another order, only some slices, FRACTIONAL
pixels, overlapping segments, a SEG whose source series is not at hand. Every expected
map is built independently of the reader, from the arrays the SEG was made of.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from bmes_imaging import Volume
from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.detection import BoneFinding
from bmes_imaging.dicom import load_series, read_seg, write_series
from bmes_imaging.dicom._seg import EDEMA_OUTSIDE_BONES, is_seg_file
from bmes_imaging.errors import BmesError, DicomFileError
from bmes_imaging.export import write_edema_seg
from bmes_imaging.volume import load_nifti

READER = "Reader^A"


def _t1_affine(side: str) -> np.ndarray:
    """Sagittal T1 (i anterior, j superior, k along R or L), placed on one side."""
    if side == "right":
        return np.array([[0, 0, 3.0, 20], [0.7, 0, 0, -50], [0, 0.7, 0, -40], [0, 0, 0, 1]])
    return np.array([[0, 0, -3.0, -20], [0.7, 0, 0, -50], [0, 0.7, 0, -40], [0, 0, 0, 1]])


def _maps(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    bones = np.zeros(shape, np.uint8)
    bones[5:20, 5:20, 2:6] = int(Bone.TALUS)
    bones[22:35, 5:25, 1:7] = int(Bone.CALCANEUS)
    bones[2:8, 25:30, 3:5] = int(Bone.FIFTH_METATARSAL)
    edema = np.zeros_like(bones)
    edema[8:12, 8:12, 3:5] = int(Bone.TALUS)
    edema[25:28, 10:14, 2:4] = int(Bone.CALCANEUS)
    return bones, edema


def _study(folder: Path, side: str) -> Volume:
    arr = np.random.default_rng(3).uniform(0, 800, (40, 32, 8)).astype(np.float32)
    write_series(Volume(arr, _t1_affine(side)), folder / "t1", patient_id="7",
                 series_description="T1 SAG", uid_seed=f"segread-{side}", shuffle_seed=2)
    return load_series(folder / "t1")


@pytest.fixture
def t1(tmp_path: Path) -> Volume:
    return _study(tmp_path, "right")


def _finding(bone: Bone) -> BoneFinding:
    return BoneFinding(bone, 2.0, 0.3, 0.15, 1, 0.6, 1.8, 0.9, status="confirmed")


def _export(t1: Volume, out: Path, bones: np.ndarray, edema: np.ndarray) -> Path:
    confirmed = [_finding(Bone(int(v))) for v in np.unique(edema) if v]
    return write_edema_seg(t1, out, edema=t1.with_array(edema), bones=t1.with_array(bones),
                           findings=confirmed, reader=READER).path


# ------------------------------------------------------------- SEGs made as others do

def _code(value: str, meaning: str) -> Any:
    from pydicom.sr.coding import Code

    return Code(value, "SCT", meaning)


def _description(number: int, label: str, prop: Any, *, category: Any = None,
                 region: Any = None) -> Any:
    import highdicom as hd

    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=label,
        segmented_property_category=category or _code("85756007", "Tissue"),
        segmented_property_type=prop, anatomic_regions=[region] if region else None,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        display_color=hd.color.CIELabColor.from_rgb(10, 200, 30))


def _slicer_seg(t1: Volume, out: Path, masks: list[np.ndarray], descriptions: list[Any],
                *, fractional: bool = False, slices: list[int] | None = None) -> Path:
    """A SEG as another tool writes it: its own segments, only non-empty frames."""
    import highdicom as hd

    keep = slices if slices is not None else list(range(t1.shape[2]))
    sources = [pydicom.dcmread(t1.info.source_files[k]) for k in keep]
    stacked = np.stack(masks, axis=-1).transpose(2, 1, 0, 3)[keep]
    kind = hd.seg.SegmentationTypeValues.FRACTIONAL if fractional \
        else hd.seg.SegmentationTypeValues.BINARY
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=stacked.astype(np.float32 if fractional else np.uint8),
        segmentation_type=kind, segment_descriptions=descriptions,
        series_instance_uid=hd.UID(), series_number=3, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="Slicer-like", manufacturer_model_name="test",
        software_versions="1", device_serial_number="1", omit_empty_frames=True)
    seg.save_as(out)
    return out


def _reorder_frames(path: Path, seed: int) -> None:
    """Shuffle a FRACTIONAL SEG's frames (pixels and per-frame groups together)."""
    ds = pydicom.dcmread(path)
    n = int(ds.NumberOfFrames)
    order = np.random.default_rng(seed).permutation(n)
    frames = ds.pixel_array.reshape(n, ds.Rows, ds.Columns)[order]
    groups = list(ds.PerFrameFunctionalGroupsSequence)
    ds.PerFrameFunctionalGroupsSequence = [groups[i] for i in order]
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path)


def _talus_mask(shape: tuple[int, int, int]) -> np.ndarray:
    return _maps(shape)[0] == int(Bone.TALUS)


# ------------------------------------------------------------- round trips

@pytest.mark.parametrize("side", ["left", "right"])
def test_exported_seg_reads_back_voxel_for_voxel(tmp_path: Path, side: str) -> None:
    t1 = _study(tmp_path, side)
    bones, edema = _maps(t1.shape)
    path = _export(t1, tmp_path / "seg.dcm", bones, edema)
    for kwargs, grid in (({"reference": t1}, "reference"), ({}, "source")):
        seg = read_seg(path, **kwargs)
        assert seg.grid == grid
        assert seg.labels.shape == t1.shape and np.allclose(seg.labels.affine, t1.affine)
        assert np.array_equal(seg.labels.array, bones)
        assert np.array_equal(seg.edema.array, edema)
        assert seg.labels.array.dtype == np.uint8 and seg.overlap_voxels == 0
    roles = {(s.role, s.bone) for s in seg.segments}
    assert roles == {("bone", Bone.TALUS), ("bone", Bone.CALCANEUS),
                     ("bone", Bone.FIFTH_METATARSAL), ("edema", Bone.TALUS),
                     ("edema", Bone.CALCANEUS)}
    talus = next(s for s in seg.segments if s.role == "bone" and s.bone is Bone.TALUS)
    assert talus.voxels == int(np.count_nonzero(bones == int(Bone.TALUS)))
    assert talus.color is not None and np.allclose(talus.color, Bone.TALUS.color, atol=2)
    # and the other way round: what was read exports to a SEG that reads the same again
    again = _export(t1, tmp_path / "again.dcm", seg.labels.array, seg.edema.array)
    back = read_seg(again, reference=t1)
    assert np.array_equal(back.labels.array, bones) and np.array_equal(back.edema.array, edema)


def test_source_missing_uses_the_seg_planes(tmp_path: Path, t1: Volume) -> None:
    bones, edema = _maps(t1.shape)
    path = _export(t1, tmp_path / "seg.dcm", bones, edema)
    alone = tmp_path / "elsewhere" / "deeper"
    alone.mkdir(parents=True)
    moved = Path(shutil.copy(path, alone / "seg.dcm"))
    seg = read_seg(moved)
    assert seg.grid == "seg"
    # the empty first and last slices are not in the SEG: its planes span slices 1-6
    occupied = [k for k in range(t1.shape[2]) if bones[:, :, k].any() or edema[:, :, k].any()]
    k0, k1 = occupied[0], occupied[-1]
    assert seg.labels.shape == (40, 32, k1 - k0 + 1)
    assert np.array_equal(seg.labels.array, bones[:, :, k0:k1 + 1])
    assert np.array_equal(seg.edema.array, edema[:, :, k0:k1 + 1])
    corners = np.array([[0, 0, 0], [39, 31, k1 - k0]])
    assert np.allclose(seg.labels.world(corners), t1.world(corners + [0, 0, k0]), atol=1e-4)
    assert is_seg_file(moved) and not is_seg_file(t1.info.source_files[0])


def test_slicer_numbering_codes_order_and_some_slices(tmp_path: Path, t1: Volume) -> None:
    bones, _ = _maps(t1.shape)
    calcaneus = bones == int(Bone.CALCANEUS)
    talus = bones == int(Bone.TALUS)
    tumour = np.zeros(t1.shape, bool)
    tumour[30:34, 26:30, 5] = True
    descriptions = [  # calcaneus first, the talus by label only, a structure of no bone
        _description(1, "calcaneus", _code("80144004", "Calcaneus"),
                     category=_code("91723000", "Anatomical Structure")),
        _description(2, "Talus", _code("85756007", "Tissue")),
        _description(3, "Segment_3", _code("108369006", "Neoplasm"))]
    path = _slicer_seg(t1, tmp_path / "slicer.dcm", [calcaneus, talus, tumour],
                       descriptions, fractional=True, slices=[1, 2, 3, 4, 5, 6])
    _reorder_frames(path, seed=5)
    seg = read_seg(path, reference=t1)
    expected = np.where(calcaneus, int(Bone.CALCANEUS), 0)
    expected = np.where(talus, int(Bone.TALUS), expected)
    expected = np.where(tumour & (expected == 0), 15, expected)
    assert np.array_equal(seg.labels.array, expected)
    assert not seg.edema.array.any() and seg.segmentation_type == "FRACTIONAL"
    other = seg.segment(3)
    assert (other.role, other.value, other.bone) == ("other", 15, None)
    assert seg.segment(2).bone is Bone.TALUS and seg.segment(1).bone is Bone.CALCANEUS
    assert seg.overlap_voxels == int(np.count_nonzero(tumour & (calcaneus | talus)))


def test_fractional_threshold_and_overlap(tmp_path: Path, t1: Volume) -> None:
    rng = np.random.default_rng(8)
    fraction = rng.uniform(0, 1, t1.shape).astype(np.float32)
    first = np.where(_talus_mask(t1.shape), fraction, 0)
    second = np.zeros(t1.shape, np.float32)
    second[10:25, 10:25, 3:5] = 1.0  # overlaps the talus
    descriptions = [_description(1, "Navicular", _code("75772009", "Navicular")),
                    _description(2, "Cuboid", _code("81012005", "Cuboid"))]
    path = _slicer_seg(t1, tmp_path / "frac.dcm", [first, second], descriptions,
                       fractional=True)
    seg = read_seg(path, reference=t1)
    stored = np.round(first * 255) / 255  # the file keeps 8-bit fractions
    one = stored >= 0.5
    expected = np.where(one, int(Bone.NAVICULAR), 0)
    expected = np.where((second > 0) & ~one, int(Bone.CUBOID), expected)
    assert np.array_equal(seg.labels.array, expected)
    assert seg.overlap_voxels == int(np.count_nonzero(one & (second > 0)))


def test_generic_edema_takes_the_bone_underneath(tmp_path: Path, t1: Volume) -> None:
    bones, _ = _maps(t1.shape)
    edema = np.zeros(t1.shape, bool)
    edema[8:12, 8:12, 3:5] = True   # inside the talus
    edema[0:2, 0:2, 4] = True       # in no bone
    descriptions = [_description(1, "Talus", _code("67453005", "Talus")),
                    _description(2, "Edema", _code("79654002", "Edema"),
                                 category=_code("49755003", "Morphologically Abnormal "
                                                "Structure")),
                    _description(3, "Calcaneus", _code("80144004", "Calcaneus"))]
    path = _slicer_seg(t1, tmp_path / "edema.dcm",
                       [bones == int(Bone.TALUS), edema, bones == int(Bone.CALCANEUS)],
                       descriptions)
    seg = read_seg(path, reference=t1)
    expected = np.zeros(t1.shape, np.uint8)
    expected[8:12, 8:12, 3:5] = int(Bone.TALUS)
    expected[0:2, 0:2, 4] = EDEMA_OUTSIDE_BONES
    assert np.array_equal(seg.edema.array, expected)
    assert seg.segment(2).role == "edema" and seg.segment(2).bone is None


def test_labelmap_seg(tmp_path: Path, t1: Volume) -> None:
    """Label Map Segmentation Storage: one frame per slice holding segment numbers."""
    import highdicom as hd

    bones, _ = _maps(t1.shape)
    numbered = np.select([bones == int(Bone.CALCANEUS), bones == int(Bone.TALUS)], [1, 2], 0)
    seg = hd.seg.Segmentation(
        source_images=[pydicom.dcmread(f) for f in t1.info.source_files],
        pixel_array=numbered.transpose(2, 1, 0).astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
        segment_descriptions=[_description(1, "Calcaneus", _code("80144004", "Calcaneus")),
                              _description(2, "Talus", _code("67453005", "Talus"))],
        series_instance_uid=hd.UID(), series_number=3, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="OHIF-like", manufacturer_model_name="test",
        software_versions="1", device_serial_number="1")
    seg.save_as(tmp_path / "labelmap.dcm")
    read = read_seg(tmp_path / "labelmap.dcm", reference=t1)
    expected = np.where(bones == int(Bone.FIFTH_METATARSAL), 0, bones)
    assert read.segmentation_type == "LABELMAP"
    assert np.array_equal(read.labels.array, expected)
    assert [s.number for s in read.segments] == [1, 2]  # no background segment


def test_other_grid_is_resampled(tmp_path: Path, t1: Volume) -> None:
    bones, edema = _maps(t1.shape)
    path = _export(t1, tmp_path / "seg.dcm", bones, edema)
    fine = t1.affine.copy()
    fine[:3, :2] /= 2.0  # half the in-plane voxel size, shifted: no ties to round
    fine[:3, 3] = t1.world([[-0.2, -0.2, 0.0]])[0]
    reference = Volume(np.zeros((80, 64, 8), np.float32), fine)
    seg = read_seg(path, reference=reference)
    assert seg.grid == "resampled" and seg.labels.shape == (80, 64, 8)
    centres = reference.world(np.argwhere(seg.labels.array == int(Bone.TALUS)))
    ijk = np.rint(np.linalg.solve(t1.affine, np.c_[centres, np.ones(len(centres))].T)[:3])
    assert np.all(bones[tuple(ijk.astype(int))] == int(Bone.TALUS))


# ------------------------------------------------------------- refusals

def test_refusals_name_the_file(tmp_path: Path, t1: Volume) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM")
    for path in (text, Path(t1.info.source_files[0])):
        with pytest.raises(DicomFileError) as err:
            read_seg(path)
        assert str(path) in str(err.value)
    assert "not a DICOM SEG" in str(err.value)


def _damaged(t1: Volume, tmp_path: Path, change: Any) -> Path:
    bones, edema = _maps(t1.shape)
    path = _export(t1, tmp_path / "seg.dcm", bones, edema)
    ds = pydicom.dcmread(path)
    change(ds)
    out = tmp_path / "damaged.dcm"
    ds.save_as(out)
    return out


def _no_positions(ds: Any) -> None:
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.PlanePositionSequence


def _tiled(ds: Any) -> None:
    ds.DimensionOrganizationType = "TILED_FULL"


def _huge(ds: Any) -> None:
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 9000


def _tiny_spacing(ds: Any) -> None:
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices = 1e-6


@pytest.mark.parametrize(("change", "words"), [
    (_no_positions, "no plane position"),
    (_tiled, "dimension organisation TILED_FULL"),
    (_huge, "beyond the limit"),
    (_tiny_spacing, "does not fit"),
])
def test_refusals_before_allocation(tmp_path: Path, t1: Volume, change: Any,
                                    words: str) -> None:
    path = _damaged(t1, tmp_path, change)
    with pytest.raises(BmesError, match=words) as err:
        read_seg(path, find_source=False)
    assert str(path) in str(err.value)


def test_segments_outside_the_reference_are_refused(tmp_path: Path, t1: Volume) -> None:
    bones, edema = _maps(t1.shape)
    path = _export(t1, tmp_path / "seg.dcm", bones, edema)
    cropped = Volume(t1.array[:, :, :4], t1.affine)
    with pytest.raises(DicomFileError, match="outside the grid"):
        read_seg(path, reference=cropped)


def test_hostile_label_never_reaches_the_terminal(tmp_path: Path, t1: Volume,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    hostile = "Talus\x1b[2J\x07"
    path = _slicer_seg(t1, tmp_path / "hostile.dcm", [_talus_mask(t1.shape)],
                       [_description(1, hostile, _code("67453005", "Talus"))])
    seg = read_seg(path, reference=t1)
    assert seg.segment(1).label == hostile and seg.segment(1).bone is Bone.TALUS
    assert "\x1b" not in seg.segment(1).describe()
    out = tmp_path / "labels.nii.gz"
    assert main(["convert", str(path), str(t1.info.source_files[0].rsplit("/", 1)[0]),
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x07" not in printed and "\\x1b" in printed


# ------------------------------------------------------------- bmes convert

def test_convert_writes_the_label_maps(tmp_path: Path, t1: Volume,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bones, edema = _maps(t1.shape)
    path = _export(t1, tmp_path / "seg.dcm", bones, edema)
    out = tmp_path / "out" / "labels.nii.gz"
    assert main(["convert", str(path), str(out)]) == 0
    img = load_nifti(out)
    assert np.array_equal(img.array, bones) and img.array.dtype == np.uint8
    assert np.allclose(img.affine, t1.affine, atol=1e-5)
    assert np.array_equal(load_nifti(tmp_path / "out" / "labels_edema.nii.gz").array, edema)
    printed = capsys.readouterr().out
    assert "source series" in printed and "Talus" in printed
