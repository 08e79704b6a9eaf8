"""One finding vocabulary: statuses, grades and the involved rule shared by every layer."""

from __future__ import annotations

import math

import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.detection import BoneFinding
from bmes_imaging.errors import FindingError
from bmes_imaging.findings import (
    FINDING_STATUSES,
    FindingStatus,
    grade_for_fraction,
    is_involved,
    parse_status,
)
from bmes_imaging.store import StoredFinding


def test_statuses_are_one_list_everywhere() -> None:
    from bmes_imaging.store._findings import FINDING_STATUSES as stored

    assert FINDING_STATUSES == ("candidate", "confirmed", "rejected") == stored
    assert [s.value for s in FindingStatus] == list(FINDING_STATUSES)


@pytest.mark.parametrize("word", ["Confirmed", " rejected ", "CANDIDATE"])
def test_status_words_are_read_in_any_case(word: str) -> None:
    assert parse_status(word).value == word.strip().lower()


def test_unknown_status_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="candidate, confirmed, rejected"):
        parse_status("maybe")
    with pytest.raises(FindingError, match=r"Finding\.status must be one of"):
        BoneFinding(Bone.TALUS, 10, 1, 0.1, 1, 0.7, 2.0, 0.9, status="maybe")


@pytest.mark.parametrize(("status", "grade", "ml", "involved"), [
    ("candidate", 1, 0.5, True), ("confirmed", 0, 0.0, False), ("rejected", 3, 9.0, False),
    ("confirmed", 2, 4.0, True), ("candidate", 0, 0.0, False)])
def test_detector_and_store_agree_on_involved(status: str, grade: int, ml: float,
                                              involved: bool) -> None:
    found = BoneFinding(Bone.CUBOID, 10.0, ml, ml / 10.0, grade, 0.7, 2.0, 0.8, status=status)
    stored = StoredFinding(Bone.CUBOID, 10.0, ml, ml / 10.0, grade, 0.7, 2.0, 0.8,
                           status=status)
    assert found.positive is stored.involved is is_involved(status, grade, ml) is involved


def test_involved_without_a_grade_follows_the_volume_then_the_reader() -> None:
    assert is_involved("confirmed", None, 0.2) and not is_involved("confirmed", None, 0.0)
    assert is_involved("confirmed", None, None)  # a reader's bare "this bone"
    assert is_involved("confirmed", None, math.nan)
    assert not is_involved("rejected", None, None)


def test_grade_limits_are_inclusive_as_the_seed_study_grades() -> None:
    assert [grade_for_fraction(f) for f in (math.nan, -0.1, 0.0, 0.249, 0.25, 0.5, 0.500001)] \
        == [0, 0, 0, 1, 2, 2, 3]
