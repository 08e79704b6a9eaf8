"""SNOMED CT codes of the bones in SEG and SR: valid concept identifiers (Verhoeff check
digit, partition 00), one per bone where a concept is confirmed, the fifth metatarsal its
own (301000), and only the unconfirmed metatarsals sharing the broader *Metatarsus*."""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from bmes_imaging import Volume
from bmes_imaging.bones import Bone
from bmes_imaging.export import read_edema_seg, read_edema_sr, write_edema_sr
from bmes_imaging.export._seg import bone_code

from .conftest import finding_for, small_t1
from .test_seg_complete import dciodvfy_errors

needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                    reason="dciodvfy (dicom3tools) missing")

# Verhoeff's scheme, built from its definition rather than typed in: multiplication in the
# dihedral group D5 and the position permutation (1 5 7 6 2 8 3 0 9 4) applied i mod 8 times.
_P1 = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)


def _d5(j: int, k: int) -> int:
    if j < 5:
        return (j + k) % 5 + (5 if k >= 5 else 0)
    return (j - k) % 5 + (0 if k >= 5 else 5)


_D = [[_d5(j, k) for k in range(10)] for j in range(10)]
_P = [list(range(10))]
for _ in range(7):
    _P.append([_P1[x] for x in _P[-1]])


def verhoeff_ok(digits: str) -> bool:
    """True when the last digit is the Verhoeff check digit of the others."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def is_concept_id(code: str) -> bool:
    """A SNOMED CT concept identifier: 6-18 digits, no leading zero, partition identifier
    ``00`` (the two digits before the check digit, short format concept), check digit."""
    return (code.isdigit() and 6 <= len(code) <= 18 and code[0] != "0"
            and code[-3:-1] == "00" and verhoeff_ok(code))


def test_check_digit_helper() -> None:
    # concepts the project and DICOM use: SNOMED CT root, Clinical finding, Volume, Edema
    for code in ("138875005", "404684003", "118565006", "79654002", "67453005"):
        assert is_concept_id(code), code
    # Verhoeff catches every single-digit error and every adjacent transposition
    base = "301000"
    for pos in range(len(base)):
        for digit in "0123456789":
            if digit != base[pos]:
                assert not verhoeff_ok(base[:pos] + digit + base[pos + 1:])
    for pos in range(len(base) - 1):
        swapped = base[:pos] + base[pos + 1] + base[pos] + base[pos + 2:]
        if swapped != base:
            assert not verhoeff_ok(swapped)
    assert not is_concept_id("301001") and not is_concept_id("0301000")
    assert not is_concept_id("138875015")  # partition 01: a description, not a concept


def test_every_bone_code_is_a_valid_concept_id() -> None:
    for bone in Bone:
        code = bone_code(bone)
        assert code.scheme_designator == "SCT"
        assert is_concept_id(str(code.value)), (bone, code.value)
        if bone.info.snomed_verified:
            assert code.value == bone.info.snomed_code


def test_one_code_per_bone_except_unconfirmed_metatarsals() -> None:
    assert (bone_code(Bone.FIFTH_METATARSAL).value,
            bone_code(Bone.FIFTH_METATARSAL).meaning) == ("301000", "Fifth metatarsal bone")
    by_code: dict[str, list[Bone]] = {}
    for bone in Bone:
        by_code.setdefault(str(bone_code(bone).value), []).append(bone)
    shared = {code: bones for code, bones in by_code.items() if len(bones) > 1}
    # only the first to fourth metatarsal (no confirmed own concept) share a code, the
    # broader "Metatarsus"; every other bone, the fifth metatarsal included, has its own
    assert set(shared) <= {"280711000"}
    for bones in shared.values():
        assert all(b.bone_name.endswith("_metatarsal") and not b.info.snomed_verified
                   for b in bones)
    assert Bone.FIFTH_METATARSAL not in shared.get("280711000", [])


@pytest.fixture
def study(tmp_path: Path) -> tuple[Volume, np.ndarray, np.ndarray]:
    t1 = small_t1(tmp_path / "t1", seed=5, shape=(40, 32, 8), uid_seed="sctcodes")
    bones = np.zeros(t1.shape, np.uint8)
    bones[5:20, 5:20, 2:6] = int(Bone.TALUS)
    bones[2:8, 25:30, 3:5] = int(Bone.FIRST_METATARSAL)
    bones[30:38, 25:31, 3:6] = int(Bone.FIFTH_METATARSAL)
    edema = np.zeros_like(bones)
    edema[8:12, 8:12, 3:5] = int(Bone.TALUS)
    edema[32:35, 26:29, 4:5] = int(Bone.FIFTH_METATARSAL)
    return t1, bones, edema


@needs_dciodvfy
def test_seg_and_sr_carry_the_bone_codes(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    out = write_edema_sr(t1, tmp_path / "sr.dcm", seg_path=tmp_path / "seg.dcm",
                         edema=t1.with_array(edema), bones=t1.with_array(bones),
                         findings=[finding_for(Bone.TALUS), finding_for(Bone.FIFTH_METATARSAL)],
                         reader="Reader^A")
    assert dciodvfy_errors(out.seg.path) == [] and dciodvfy_errors(out.path) == []
    ds = pydicom.dcmread(out.seg.path)
    bone_segments = {str(s.TrackingID): str(s.SegmentedPropertyTypeCodeSequence[0].CodeValue)
                     for s in ds.SegmentSequence if "AnatomicRegionSequence" not in s}
    edema_regions = {str(s.TrackingID): str(s.AnatomicRegionSequence[0].CodeValue)
                     for s in ds.SegmentSequence if "AnatomicRegionSequence" in s}
    assert bone_segments == {"talus": "67453005", "first_metatarsal": "280711000",
                             "fifth_metatarsal": "301000"}
    assert set(edema_regions.values()) == {"67453005", "301000"}
    assert all(is_concept_id(c) for c in (*bone_segments.values(), *edema_regions.values()))
    back = read_edema_seg(out.seg.path, t1)  # the bones come back from their codes
    assert back.bones is not None and np.array_equal(back.bones.array, bones)
    # SR: the finding site of each measurement group is the bone's code
    sr = hd.sr.srread(str(out.path))
    sites = {str(g.finding_sites[0].value.value)
             for g in sr.content.get_volumetric_roi_measurement_groups()}  # type: ignore[attr-defined]
    assert sites == {"67453005", "301000"}
    assert {m.bone for m in read_edema_sr(out.path)} == {Bone.TALUS, Bone.FIFTH_METATARSAL}
