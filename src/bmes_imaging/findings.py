"""What a bone finding is: one dataclass, its review status, its grade, when a bone
counts as involved, and how it is written to and read from JSON.

One definition for the detector (:class:`bmes_imaging.detection.BoneFinding`), the store
(:class:`bmes_imaging.store.StoredFinding`), the review plugin and the exports (both
names are aliases of :class:`Finding`), so that a bone is involved, graded, reviewed and
serialised by the same rule everywhere.

Unknown numbers
---------------
A :class:`Finding` holds an unknown number (a signal ratio without marrow to measure, a
figure a reader did not give) as **NaN**, the detector's convention, so that arithmetic
and formatting never need a ``None`` test. Only the grade, a category, is ``None`` when
unknown (a reader's bare "this bone"), and ``finding_id`` is ``None`` before the store
saved it. ``None`` given for a number is read as NaN. The store keeps unknowns as SQL
NULL and converts at its boundary; :func:`finding_to_dict` writes them as JSON ``null``.

Examples
--------
>>> from bmes_imaging.findings import FindingStatus, grade_for_fraction, is_involved
>>> FindingStatus("confirmed") is FindingStatus.CONFIRMED
True
>>> FindingStatus.REJECTED == "rejected"
True
>>> grade_for_fraction(0.3), is_involved("candidate", grade=2)
(2, True)
>>> f = Finding("talus", edema_volume_ml=2.5, grade=1, status="confirmed")
>>> f.involved, f.t1_ratio
(True, nan)
>>> finding_from_dict(finding_to_dict(f)) == f
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from .bones import Bone, bone_from_label, bone_from_name
from .errors import FindingError

__all__ = ["FINDING_STATUSES", "GRADE_LIMITS", "MASK_CHECK_BELOW", "NUMBER_FIELDS", "Finding",
           "FindingStatus",
           "finding_from_dict", "finding_to_dict", "grade_for_fraction", "is_involved",
           "parse_status"]


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

#: An automatic bone mask whose quality (``Finding.bone_mask_quality``, 0-1) is below
#: this asks the reader for a check: on phantoms, true masks scored 0.57-1.0 and masks
#: moved 4 mm off their bone 0-0.47 (``docs/detection.md``, "Mask quality"); the
#: detector's own boundary step treats the same masks as poorly fitting.
MASK_CHECK_BELOW: float = 0.5


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


#: The fields of a :class:`Finding` that hold a measured number (NaN when unknown).
NUMBER_FIELDS: tuple[str, ...] = ("bone_volume_ml", "edema_volume_ml", "fraction", "t1_ratio",
                                  "fluid_ratio", "confidence", "bone_mask_quality")


def _bone(value: object) -> Bone:
    """The bone named by a :class:`Bone`, its label number or its name."""
    if isinstance(value, Bone):
        return value
    try:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return bone_from_label(int(value))
        if isinstance(value, str):
            word = value.strip()
            digits = word.isascii() and word.isdigit()
            return bone_from_label(int(word)) if digits else bone_from_name(word)
    except KeyError as exc:
        raise FindingError(f"Finding.bone: {exc.args[0]}") from None
    raise FindingError("Finding.bone must be a Bone, a bone label number or a bone name, "
                       f"found {value!r}")


def _number(name: str, value: object) -> float:
    """``value`` as a float; ``None`` (unknown) as NaN."""
    if value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise FindingError(f"Finding.{name} must be a number (NaN or None when unknown), "
                           f"found {value!r}") from None


def _grade(value: object) -> int | None:
    """``value`` as a grade 0-3 (a whole number, also as a float), or None."""
    if value is None:
        return None
    if (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)) and float(value).is_integer()
            and 0 <= float(value) <= 3):
        return int(float(value))
    raise FindingError(f"Finding.grade must be 0-3 (or None when not graded), found {value!r}")


@dataclass(frozen=True, eq=False)
class Finding:
    """The edema finding of one bone of one study (detector output or a reader's call).

    Frozen: change a finding with :func:`dataclasses.replace`, which validates again.
    Unknown numbers are NaN (``None`` given is read as NaN; see the module docs). Two
    findings are equal when every field but ``finding_id`` is, NaN equal to NaN.

    Attributes
    ----------
    bone
        The bone (a :class:`~bmes_imaging.bones.Bone`; its label number or name is
        accepted too).
    bone_volume_ml
        Volume of the bone mask inside the image (ml).
    edema_volume_ml
        Volume of the edema voxels of this bone (ml).
    fraction
        ``edema_volume_ml / bone_volume_ml`` (0-1).
    grade
        0 none, 1 < 25 %, 2 25-50 %, 3 > 50 % of the bone (:func:`grade_for_fraction`);
        ``None`` when not graded (a reader's bare "this bone").
    t1_ratio, fluid_ratio
        Mean T1 and fluid intensity over the normal-marrow reference, over the edema
        voxels (over the whole bone marrow when there is no edema).
    confidence
        0-1: how sure the detector is of this row (positive or negative), from the
        strength of evidence in units of the study's normal-marrow spread (a rule, not
        calibrated); 0 when the bone lies mostly outside the fluid series.
    status
        :class:`FindingStatus` (equal to its word): ``"candidate"`` (detector output),
        ``"confirmed"`` or ``"rejected"`` (reader).
    source
        ``"detector"`` or the reader's name.
    primary
        The reader marked this bone as the primary (main) affected site of the foot.
    bone_mask_quality
        0-1: how far the automatic bone mask is to be trusted (image fit, agreement of
        atlases); NaN for imported or seeded masks. ``confidence`` never exceeds it.
        Kept by the store since its schema 0004 (NULL there when unknown).
    finding_id
        The store's database id (``None`` before saving); no part of equality.

    Raises
    ------
    FindingError
        Unknown bone, grade outside 0-3, unknown status, or a number that is none.

    Examples
    --------
    >>> f = Finding(Bone.TALUS, 30.0, 6.0, 0.2, 1, 0.6, 2.1, 0.8)
    >>> f.status, f.involved, f.positive
    (<FindingStatus.CANDIDATE: 'candidate'>, True, True)
    >>> import dataclasses
    >>> dataclasses.replace(f, status="rejected").involved
    False
    """

    bone: Bone
    bone_volume_ml: float = math.nan
    edema_volume_ml: float = math.nan
    fraction: float = math.nan
    grade: int | None = None
    t1_ratio: float = math.nan
    fluid_ratio: float = math.nan
    confidence: float = math.nan
    status: FindingStatus = FindingStatus.CANDIDATE
    source: str = "detector"
    primary: bool = False
    bone_mask_quality: float = math.nan
    finding_id: int | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: the validated values are set once, here
        put(self, "bone", _bone(self.bone))
        for name in NUMBER_FIELDS:
            put(self, name, _number(name, getattr(self, name)))
        put(self, "grade", _grade(self.grade))
        try:
            put(self, "status", parse_status(self.status, what="Finding.status"))
        except ValueError as exc:
            raise FindingError(str(exc)) from None
        put(self, "source", str(self.source))
        put(self, "primary", bool(self.primary))
        if self.finding_id is not None:
            put(self, "finding_id", int(self.finding_id))

    def _key(self) -> tuple[Any, ...]:
        """The fields that make up equality (NaN as None, so unknown equals unknown)."""
        return tuple(None if isinstance(v, float) and math.isnan(v) else v
                     for v in (getattr(self, f.name) for f in fields(self)
                               if f.name != "finding_id"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def involved(self) -> bool:
        """True if the bone counts as involved: not rejected and edema present
        (:func:`is_involved`: grade >= 1; without a grade, edema volume > 0; with
        neither, a reader's bare "this bone" counts)."""
        return is_involved(self.status, self.grade, self.edema_volume_ml)

    @property
    def positive(self) -> bool:
        """Same as :attr:`involved` (the name the detector's findings used)."""
        return self.involved

    @property
    def mask_needs_check(self) -> bool:
        """True when this bone's automatic mask is not to be trusted without a look
        (quality known and below :data:`MASK_CHECK_BELOW`); False for imported or
        seeded masks (quality unknown)."""
        return (not math.isnan(self.bone_mask_quality)
                and self.bone_mask_quality < MASK_CHECK_BELOW)

    def as_bone_finding(self) -> Finding:
        """This finding (kept for callers of the store's former separate class)."""
        return self


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """A JSON-able dict of a finding: every field, the bone by name, unknown numbers as
    ``None`` (JSON ``null``), the status as its word.

    This is the one way a finding is written: the store's audit trail, the review
    plugin's recovery files and its copies of an unsaved review.

    Parameters
    ----------
    finding
        The finding.

    Returns
    -------
    dict
        Keys: the fields of :class:`Finding`, in order.

    Examples
    --------
    >>> d = finding_to_dict(Finding(2, grade=0, status="rejected"))
    >>> d["bone"], d["grade"], d["status"], d["fraction"]
    ('calcaneus', 0, 'rejected', None)
    """
    out: dict[str, Any] = {}
    for f in fields(finding):
        value = getattr(finding, f.name)
        if isinstance(value, Bone):
            value = value.bone_name
        elif isinstance(value, FindingStatus):
            value = value.value
        elif isinstance(value, float) and math.isnan(value):
            value = None
        out[f.name] = value
    return out


def finding_from_dict(data: Mapping[str, Any], **defaults: Any) -> Finding:
    """The finding of a dict written by :func:`finding_to_dict`, or by earlier versions.

    Reads every format written so far: the bone by name (the store's audit trail, this
    module) or by label number (recovery files of the review plugin before the finding
    model was one), unknown numbers as ``None`` or NaN. Keys that are no field are
    ignored; missing ones take ``defaults``, then the field's default.

    Parameters
    ----------
    data
        The dict (``bone`` required).
    **defaults
        Values for fields ``data`` lacks or gives as ``None`` (e.g. ``source=reader``).

    Returns
    -------
    Finding

    Raises
    ------
    FindingError
        If ``bone`` is missing or a value is invalid (see :class:`Finding`).

    Examples
    --------
    >>> old = {"bone": 1, "grade": 2, "t1_ratio": float("nan"), "status": "confirmed"}
    >>> finding_from_dict(old) == finding_from_dict({**old, "bone": "talus"})
    True
    """
    if not isinstance(data, Mapping) or data.get("bone") is None:
        raise FindingError(f"a finding needs a bone, found {data!r}")
    names = {f.name for f in fields(Finding)}
    unknown = set(defaults) - names
    if unknown:
        raise TypeError(f"finding_from_dict: no field {sorted(unknown)}")
    kwargs = {k: v for k, v in defaults.items() if v is not None}
    kwargs.update({k: v for k, v in data.items() if k in names and v is not None})
    return Finding(**kwargs)
