"""What a bone finding is: its review status, its grade and when a bone counts as involved.

One definition for the detector (:class:`bmes_imaging.detection.BoneFinding`), the store
(:class:`bmes_imaging.store.StoredFinding`), the review plugin and the exports, so that a
bone is involved, graded and reviewed by the same rule everywhere.

Examples
--------
>>> from bmes_imaging.findings import FindingStatus, grade_for_fraction, is_involved
>>> FindingStatus("confirmed") is FindingStatus.CONFIRMED
True
>>> FindingStatus.REJECTED == "rejected"
True
>>> grade_for_fraction(0.3), is_involved("candidate", grade=2)
(2, True)
"""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = ["FINDING_STATUSES", "GRADE_LIMITS", "FindingStatus", "grade_for_fraction",
           "is_involved", "parse_status"]


class FindingStatus(StrEnum):
    """Review status of a finding.

    A ``str`` enum: each member equals its value (``FindingStatus.CONFIRMED ==
    "confirmed"``), so files and databases keep the plain words.
    """

    #: detector output not yet reviewed
    CANDIDATE = "candidate"
    #: a reader agreed (possibly after relabelling or painting)
    CONFIRMED = "confirmed"
    #: a reader said there is no edema in this bone
    REJECTED = "rejected"


#: The statuses as plain words, in review order.
FINDING_STATUSES: tuple[str, ...] = tuple(s.value for s in FindingStatus)

#: Fractions of the bone that separate grades 1 / 2 / 3 (< 25 %, 25-50 %, > 50 %).
GRADE_LIMITS: tuple[float, float] = (0.25, 0.50)


def parse_status(value: object, *, what: str = "status") -> FindingStatus:
    """The status named by ``value`` (a member or its word, any case, spaces trimmed).

    Parameters
    ----------
    value
        ``"candidate"``, ``"confirmed"``, ``"rejected"`` or a :class:`FindingStatus`.
    what
        How the caller names the field, for the error message.

    Returns
    -------
    FindingStatus

    Raises
    ------
    ValueError
        If ``value`` is no status; the message lists the valid ones.

    Examples
    --------
    >>> parse_status(" Confirmed ")
    <FindingStatus.CONFIRMED: 'confirmed'>
    """
    if isinstance(value, FindingStatus):
        return value
    word = str(value).strip().lower()
    try:
        return FindingStatus(word)
    except ValueError:
        raise ValueError(f"{what} must be one of {', '.join(FINDING_STATUSES)}, "
                         f"found {value!r}") from None


def grade_for_fraction(fraction: float,
                       limits: tuple[float, float] = GRADE_LIMITS) -> int:
    """Grade edema by extent: 0 none, 1 < 25 %, 2 25-50 %, 3 > 50 % of the bone.

    Parameters
    ----------
    fraction
        Edema volume over bone volume (0-1); NaN or <= 0 is grade 0.
    limits
        The fractions that separate grade 1 from 2 and 2 from 3.

    Returns
    -------
    int
        0-3.

    Examples
    --------
    >>> [grade_for_fraction(f) for f in (0.0, 0.1, 0.25, 0.5, 0.51)]
    [0, 1, 2, 2, 3]
    """
    if not math.isfinite(fraction) or fraction <= 0:
        return 0
    if fraction < limits[0]:
        return 1
    if fraction <= limits[1]:
        return 2
    return 3


def is_involved(status: str, grade: int | None = None,
                edema_volume_ml: float | None = None) -> bool:
    """Whether a bone counts as involved: not rejected, and edema present.

    Edema is present when the grade is >= 1; without a grade, when the edema volume is
    above 0; a finding with neither (a reader's bare "this bone") counts as involved
    unless rejected.

    Parameters
    ----------
    status
        The finding's review status.
    grade, edema_volume_ml
        What is known of its edema (``None`` or NaN where unknown).

    Returns
    -------
    bool

    Examples
    --------
    >>> is_involved("confirmed", grade=0), is_involved("rejected", grade=3)
    (False, False)
    >>> is_involved("candidate", edema_volume_ml=0.4), is_involved("confirmed")
    (True, True)
    """
    if parse_status(status) is FindingStatus.REJECTED:
        return False
    if grade is not None:
        return int(grade) >= 1
    if edema_volume_ml is not None and math.isfinite(edema_volume_ml):
        return edema_volume_ml > 0
    return True
