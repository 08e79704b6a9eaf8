"""Follow-up of screened studies: timelines from the store's links and the study dates,
each follow-up registered to its baseline, per-bone change and overlap.

Inputs are what the workflow already has: the screening output (``involvement.csv`` and
each study's ``bones.nii.gz`` / ``edema.nii.gz``), the store's links of studies to feet
(patient, side), and the study dates of the image archive's index.

Examples
--------
::

    from bmes_imaging.followup import follow_up_screened, study_dates
    result = follow_up_screened("screen/", dates=study_dates("archive/"),
                                links=store.study_links())
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..bones import Bone
from ..errors import BmesError, ExportError
from ._register import EdemaOverlap, Registration, edema_overlap, register_follow_up
from ._timeline import Timeline, build_timelines, parse_study_date, read_study_findings

__all__ = ["FollowUpResult", "follow_up_screened", "study_dates"]

log = logging.getLogger(__name__)

Key = tuple[str, str, int]


@dataclass
class FollowUpResult:
    """Timelines of the feet with their registrations and edema overlaps.

    Attributes
    ----------
    timelines
        One per foot (all feet with a dated study; those with one study too).
    registrations
        ``(patient, side, index)`` -> registration of that follow-up to the baseline
        (``None`` when it could not be done; the reason is in ``notes``).
    overlaps
        ``(patient, side, index)`` -> per-bone persisting / new / resolved edema.
    notes
        What could not be done and why (no patient identifiers).
    status
        Findings status of the timelines.
    """

    timelines: list[Timeline]
    registrations: dict[Key, Registration | None] = field(default_factory=dict)
    overlaps: dict[Key, dict[Bone, EdemaOverlap]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: str = "candidate"

    @property
    def with_follow_up(self) -> list[Timeline]:
        """Feet with two or more studies."""
        return [t for t in self.timelines if len(t.points) > 1]


def study_dates(root: str | os.PathLike[str]) -> dict[str, _dt.date | None]:
    """StudyInstanceUID -> study date of every study under ``root`` (DICOM index)."""
    from ..dicom import index_folder

    out: dict[str, _dt.date | None] = {}
    for stack in index_folder(root).stacks:
        uid = stack.study_instance_uid
        if uid and out.get(uid) is None:
            try:
                out[uid] = parse_study_date(stack.study_date)
            except ExportError:
                out[uid] = None
    return out


def _maps(screen_dir: Path, uid: str, side: str) -> tuple[Path, Path]:
    from ..screening._plan import study_key

    folder = screen_dir / "studies" / study_key(uid, side)
    return folder / "bones.nii.gz", folder / "edema.nii.gz"


def follow_up_screened(screen_dir: str | os.PathLike[str], *,
                       dates: Mapping[str, _dt.date | None],
                       links: Mapping[str, tuple[str, str] | None] | None = None,
                       status: str = "candidate",
                       feet: Iterable[tuple[str, str]] | None = None,
                       register: bool = True) -> FollowUpResult:
    """Timelines of screened studies, each follow-up registered to its baseline.

    Parameters
    ----------
    screen_dir
        ``bmes screen`` output folder.
    dates
        StudyInstanceUID -> study date (:func:`study_dates`).
    links
        StudyInstanceUID -> ``(patient, side)`` (``Store.study_links()``); ``None``
        uses the DICOM PatientID and laterality of the involvement table.
    status
        Findings status to follow (``candidate`` from screening, ``confirmed``).
    feet
        Only these ``(patient, side)`` feet (default: every foot).
    register
        Register follow-ups and compare edema voxel by voxel (needs the label maps).

    Returns
    -------
    FollowUpResult

    Raises
    ------
    ExportError
        If the screening output has no involvement table.
    """
    screen = Path(screen_dir)
    studies = read_study_findings(screen / "involvement.csv", status=status, dates=dates,
                                  links=links)
    if feet is not None:
        wanted = {(str(p), str(s).upper()) for p, s in feet}
        studies = [s for s in studies if (s.patient, s.side) in wanted]
    result = FollowUpResult(build_timelines(studies), status=status)
    undated = sum(1 for s in studies if s.study_date is None)
    if undated:
        result.notes.append(f"{undated} study(ies) without a study date are placed last "
                            "in their foot's timeline")
    if not register:
        return result
    from ..volume import load_nifti

    for tl in result.with_follow_up:
        base = tl.baseline.study
        b_bones, b_edema = _maps(screen, base.study_instance_uid, tl.side)
        for p in tl.points[1:]:
            key = (tl.patient, tl.side, p.index)
            f_bones, f_edema = _maps(screen, p.study.study_instance_uid, tl.side)
            if not all(x.is_file() for x in (b_bones, b_edema, f_bones, f_edema)):
                result.registrations[key] = None
                result.notes.append(f"timepoint {p.index} of a foot: label maps missing in "
                                    "the screening output; not registered")
                continue
            try:
                reg = register_follow_up(load_nifti(b_bones), load_nifti(f_bones))
            except BmesError as exc:
                result.registrations[key] = None
                result.notes.append(f"timepoint {p.index} of a foot not registered: {exc}")
                continue
            result.registrations[key] = reg
            result.overlaps[key] = edema_overlap(load_nifti(b_edema), load_nifti(f_edema),
                                                 reg)
            log.info("follow-up %d registered: rms %.2f mm, %.1f deg", p.index, reg.rms_mm,
                     reg.rotation_deg)
    return result


def first_study_of_each_foot(findings_csv: Path,
                             images: Path | None) -> tuple[set[str] | None, str]:
    """The first study of each foot of a findings table that holds several per foot.

    Parameters
    ----------
    findings_csv
        An ``involvement.csv`` (screening or review output).
    images
        The archive the studies came from (their dates); ``None`` if not known.

    Returns
    -------
    (set of StudyInstanceUID or None, note)
        ``None`` when each foot has one study, or when no dates are known (then the note
        says that the feet's bones are combined and how to avoid it).
    """
    import csv

    from .._outbound import from_csv_cell

    per_foot: dict[tuple[str, str], set[str]] = {}
    with findings_csv.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            uid = from_csv_cell((row.get("study_instance_uid") or "").strip())
            foot = ((row.get("patient_id") or "").strip(), (row.get("side") or "").upper())
            per_foot.setdefault(foot, set()).add(uid)
    several = sum(1 for v in per_foot.values() if len(v) > 1)
    if not several:
        return None, ""
    if images is None:
        return None, (f"{several} feet have several studies in {findings_csv.name}: their "
                      "bones are combined (give --images ROOT to report each foot's first "
                      "study; bmes follow-up compares them)")
    dates = study_dates(images)
    first = {min(v, key=lambda u: (dates.get(u) is None, str(dates.get(u) or ""), u))
             for v in per_foot.values()}
    return first, (f"{several} feet have several studies: each foot's first study is "
                   "reported (bmes follow-up compares them)")
