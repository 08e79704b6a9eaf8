"""Every stack of every real series equals dcm2niix, or is refused at index time.

"Equals": the 8 world corners (RAS+) agree within 0.05 mm, every voxel sits at the
reference voxel of the same world position (dcm2niix flips the row axis), and the
values are equal, or differ by the constant scale the loaded volume documents in
``SeriesInfo.extra["value_scaling"]`` (Philips: dcm2niix writes the precise value
``DV / (RS * SS)``). "Refused": the stack's files are listed by the index as not used,
with a reason naming what they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.dicom import index_files, index_folder, load_series
from bmes_imaging.volume import Volume

from .conftest import DATASETS, REAL_DICOM

pytestmark = pytest.mark.slow  # every real series against a fresh dcm2niix run



@pytest.fixture(autouse=True)
def _needs(real):
    """Skip when the data or dcm2niix are absent (the ``real`` fixture says why)."""


def documented_factor(vol) -> float:
    """The constant by which dcm2niix's value differs from ours, from SeriesInfo."""
    avail = vol.info.extra["value_scaling"]["available"]
    if vol.info.extra["value_scaling"]["scaling"] == "rescale" \
            and "philips_scale_slope" in avail:
        return 1.0 / (avail.get("rescale_slope", 1.0) * avail["philips_scale_slope"])
    return 1.0


def _signed_12bit(path: Path) -> bool:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return int(ds.get("PixelRepresentation", 0) or 0) == 1 \
        and int(ds.get("BitsStored", 16) or 16) == 12


def _check_stacks(index, refs, match) -> tuple[list[str], int]:
    problems = []
    scaled = 0
    for st in index.stacks:
        vol = load_series(st)  # never raises: what cannot load was refused by the index
        got = match(vol, refs)
        if got is None and _signed_12bit(st.files[0]):
            # the one documented dcm2niix difference: this build masks signed 12-bit
            # values as unsigned (see test_12bit_files_each_equal_dcm2niix)
            got = match(Volume(np.mod(vol.array.astype(np.int32), 4096), vol.affine), refs)
        where = f"{st.files[0].relative_to(REAL_DICOM)} ({st.stack_id[-12:]})"
        if got is None:
            problems.append(f"{where}: no dcm2niix volume with the same corners and values")
            continue
        ref, (factor, offset) = got
        if (factor, offset) != (1.0, 0.0):
            expected = documented_factor(vol)
            if not (np.isclose(factor, expected, rtol=1e-4) and abs(offset) < 1e-3 * abs(
                    factor)):
                problems.append(f"{where}: values are {factor:g} x ours + {offset:g} in "
                                f"{ref.name}; documented factor {expected:g}")
            scaled += 1
    return problems, scaled


@pytest.mark.parametrize("folder", list(DATASETS), ids=list(DATASETS.values()))
def test_every_stack_equals_dcm2niix_or_is_refused_at_index(folder, dcm2niix_refs, real,
                                                           real_index):
    index = real_index(folder)
    refs = dcm2niix_refs(folder)
    assert refs
    problems, _ = _check_stacks(index, refs, real.match)
    assert not problems, "\n".join(problems)
    used = {f for st in index.stacks for f in st.files}
    dicom = sorted(p for p in (REAL_DICOM / folder / "In").rglob("*.dcm"))
    assert used or folder == "dcm_qa_12bit"  # (three copies of one image: see below)
    for r in index.rejected:
        assert r.reason
        if r.path.suffix == ".dcm":  # a DICOM file not used says what it is
            assert any(w in r.reason for w in ("structured report", "colour image",
                                               "SOPInstanceUID")), r
    assert sorted(used | {r.path for r in index.rejected if r.path.suffix == ".dcm"}) \
        == dicom


def test_12bit_files_each_equal_dcm2niix(dcm2niix_refs, real):
    """The three 12-bit files share one SOPInstanceUID (the index keeps one of them):
    each indexed on its own equals dcm2niix (unsigned, unsigned with high bits set).

    The signed one (PixelRepresentation 1, BitsStored 12, high bits 0x0F0F garbage):
    the collection's README says its stripes must read -241 and -1 (sign bit at
    HighBit 11); ours do. This dcm2niix (v1.0.20220720, Debian 12) masks it as unsigned
    (0..4095): its values are ours modulo 4096, voxel for voxel, at the same corners.
    """
    from bmes_imaging.volume import Volume

    refs = dcm2niix_refs("dcm_qa_12bit")
    files = sorted((REAL_DICOM / "dcm_qa_12bit" / "In").glob("*.dcm"))
    assert len(files) == 3
    for f in files:
        index = index_files([f])
        if "Signed" not in f.name:
            problems, _ = _check_stacks(index, refs, real.match)
            assert not problems, "\n".join(problems)
            continue
        vol = load_series(index.stacks[0])
        assert vol.array.min() < 0
        values = set(np.unique(vol.array).tolist())
        assert {-241, -1} <= values  # the README's stripes
        as_unsigned = Volume(np.mod(vol.array.astype(np.int32), 4096), vol.affine)
        got = real.match(as_unsigned, refs)
        assert got is not None and got[1] == (1.0, 0.0)


def test_mosaics_are_volumes_not_tiled_slices():
    """A 90 x 90-style mosaic loads as its slices at the true slab, one volume a file."""
    index = index_folder(REAL_DICOM / "dcm_qa_mosaic" / "In" / "cmrr_Asc_6")
    assert len(index.stacks) == 6
    for n, st in enumerate(sorted(index.stacks, key=lambda s: s.instance_numbers), start=1):
        assert st.mosaic_tiles == 40 and st.n_images == 40 and (st.rows, st.columns) == (64, 64)
        assert f"volume {n} of 6" in st.split_reason and "mosaic" in st.split_reason
    vol = load_series(index.stacks[0])
    assert vol.shape == (64, 64, 40)
    assert vol.info.extra["mosaic_tiles"] == 40
    assert abs(vol.affine[2, 2]) > 3  # slices 3.6 mm apart along the (oblique) axial normal


def test_several_mosaic_files_refused_with_4d_advice_not_remove_duplicates():
    files = sorted((REAL_DICOM / "dcm_qa_mosaic" / "In" / "ep2d_Asc_2").glob("*.dcm"))
    from bmes_imaging.dicom._load import read_stack
    from bmes_imaging.errors import DicomSeriesError

    with pytest.raises(DicomSeriesError) as err:
        read_stack(files)
    text = str(err.value)
    assert "remove the duplicates" not in text
    assert "6 volumes of a 4-D series" in text
    with pytest.raises(DicomSeriesError, match="6 image stacks") as err:
        load_series(files)  # through the index: lists the six volumes
    assert "remove the duplicates" not in str(err.value)


def test_mosaic_without_csa_header_is_refused_at_index(tmp_path):
    """The tile count lives only in the CSA header: without it, refuse (never tile)."""
    import pydicom

    src = min((REAL_DICOM / "dcm_qa_mosaic" / "In" / "ep2d_Asc_2").glob("*.dcm"))
    ds = pydicom.dcmread(src)
    for tag in [elem.tag for elem in ds if elem.tag.group == 0x0029]:
        del ds[tag]
    ds.save_as(tmp_path / "mosaic.dcm")
    index = index_folder(tmp_path)
    assert not index.stacks
    (rejected,) = index.rejected
    assert "Siemens mosaic" in rejected.reason and "CSA" in rejected.reason
    from bmes_imaging.dicom._load import read_stack
    from bmes_imaging.errors import DicomSeriesError

    with pytest.raises(DicomSeriesError, match="Siemens mosaic"):
        read_stack([tmp_path / "mosaic.dcm"])


def test_philips_scales_stated_and_selectable(dcm2niix_refs, real):
    """Philips field map: rescale by default (stated), the private scale slope gives
    dcm2niix's values exactly, the real-world map gives Hz for the field map."""
    refs = dcm2niix_refs("dcm_qa_enh")
    index = index_folder(REAL_DICOM / "dcm_qa_enh" / "In" / "Philips")
    assert len(index.stacks) == 2
    units = set()
    for st in index.stacks:
        default = load_series(st)
        stated = default.info.extra["value_scaling"]
        assert stated["scaling"] == "rescale" and "RescaleSlope" in stated["applied"]
        assert {"philips_scale_slope", "real_world_slope"} <= set(stated["available"])
        precise = load_series(st, scaling="philips_precise")
        _, scale = real.match(precise, refs)
        assert scale == (1.0, 0.0)
        mapped = load_series(st, scaling="real_world")
        assert "RealWorldValueMapping" in mapped.info.extra["value_scaling"]["applied"]
        units.add(mapped.info.extra["value_scaling"]["available"]["real_world_units"])
    assert "Hz" in units


def test_scaling_option_refuses_unknown_and_absent_scales():
    from bmes_imaging.errors import DicomSeriesError

    st = index_folder(REAL_DICOM / "dcm_qa_decubitus" / "In" / "HFS" / "3_t1_fl2d_sag").stacks[0]
    with pytest.raises(ValueError, match="scaling must be one of"):
        load_series(st, scaling="magic")
    with pytest.raises(DicomSeriesError, match="Philips private scale slope"):
        load_series(st, scaling="philips_precise")
    same = load_series(st, scaling="real_world")  # no map in these files: rescale kept
    np.testing.assert_array_equal(same.array, load_series(st).array)
    assert "keep the RescaleSlope" in same.info.extra["value_scaling"]["applied"]


def test_the_comparison_can_fail(dcm2niix_refs, real):
    """A shifted or flipped volume does not match: the check is not vacuous."""
    from bmes_imaging.volume import Volume

    refs = dcm2niix_refs("dcm_qa_decubitus")
    st = index_folder(REAL_DICOM / "dcm_qa_decubitus" / "In" / "HFS" / "3_t1_fl2d_sag").stacks[0]
    vol = load_series(st)
    assert real.match(vol, refs) is not None
    shifted = vol.affine.copy()
    shifted[:3, 3] += 0.1
    assert real.match(Volume(vol.array, shifted), refs) is None
    assert real.match(Volume(vol.array[:, ::-1, :].copy(), vol.affine), refs) is None
