"""The detector's candidates against the readers' final reads, collected from the store.

For every study (one foot: one T1 series when a study holds both feet) and every
reader, the reader's **final read** is their newest saved version; the detector's
candidates are the newest version saved under the source ``"detector"`` at or before
that read (else the newest one). Nothing is written: the store is only read.

A bone's reader call:

* **positive** when the reader's finding is ``confirmed`` and shows edema (grade >= 1,
  or edema volume > 0 without a grade), or the reader painted edema in a bone that has
  no finding. ``how`` says ``confirmed`` (the detector had called it), ``relabelled``
  (the reader's edema lies on edema the detector gave another bone) or ``painted``;
* **negative** when the finding is ``rejected`` (``how``: ``rejected``), or shows no
  edema or is absent (``relabelled`` when the detector's edema of the bone now lies in
  another bone of the reader's map, else ``not involved``);
* **undecided** (``None``) when the reader left a finding with edema as ``candidate``:
  such bones are counted apart and left out of every figure (a confirmed read is what
  is measured).

The bones compared are those with a detector or a reader finding (the detector reports
every bone inside the images). Masks: the reader's final mask is their edema on bones
read positive; the detector's is every candidate voxel; bones left undecided are
removed from both. The detector's map is resampled (nearest neighbour) to the reader's
grid when they differ.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..bones import Bone
from ..errors import StoreError
from ._score import bone_score, detector_positive, stated_probability

__all__ = ["DETECTOR_SOURCE", "NOT_RECORDED", "BoneRead", "ReadSet", "StudyRead",
           "collect_reads"]

log = logging.getLogger(__name__)

#: The source name the detector's candidates are saved under.
DETECTOR_SOURCE = "detector"
#: Group value when the store does not hold the attribute.
NOT_RECORDED = "not recorded"
_FLUID = {"stir": "STIR", "t2_fs": "T2-FS", "pd_fs": "PD-FS"}
_SCANNER_COLUMNS = (("manufacturer",), ("manufacturer_model_name", "model"),
                    ("magnetic_field_strength", "field_strength"))


@dataclass(frozen=True)
class BoneRead:
    """One bone of one study: the detector's call and score against one reader's read."""

    study_instance_uid: str
    series_instance_uid: str | None
    reader: str
    bone: Bone
    score: float
    stated_probability: float
    detector_call: bool
    reader_call: bool | None
    how: str
    detector_ml: float
    reader_ml: float
    dice: float
    sequence: str
    scanner: str


@dataclass
class StudyRead:
    """One reader's final read of one study (one foot) against the detector's candidates.

    ``regions`` are the detector's connected candidate regions as (score, overlaps the
    reader's final mask); ``lesion_scores`` the best score of a region touching each of
    the reader's connected lesions (``-inf`` when none does).
    """

    study_instance_uid: str
    series_instance_uid: str | None
    reader: str
    reader_version: int
    read_at: datetime
    detector_version: int
    sequence: str
    scanner: str
    bones: list[BoneRead] = field(default_factory=list)
    intersection: int = 0
    size: int = 0
    regions: list[tuple[float, bool]] = field(default_factory=list)
    lesion_scores: list[float] = field(default_factory=list)

    @property
    def dice(self) -> float:
        """Voxel Dice of candidate and final masks (``nan`` when both are empty)."""
        return 2.0 * self.intersection / self.size if self.size else math.nan


@dataclass
class ReadSet:
    """Every final read collected, and what was left out with the reason."""

    studies: list[StudyRead] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    scanner_recorded: bool = False

    @property
    def bone_reads(self) -> list[BoneRead]:
        """Every bone read, undecided ones included."""
        return [b for s in self.studies for b in s.bones]

    @property
    def decided(self) -> list[BoneRead]:
        """Bone reads with a positive or negative reader call."""
        return [b for b in self.bone_reads if b.reader_call is not None]

    @property
    def readers(self) -> list[str]:
        """Readers with at least one final read."""
        return sorted({s.reader for s in self.studies})

    @property
    def study_uids(self) -> list[str]:
        """Studies with at least one final read."""
        return sorted({s.study_instance_uid for s in self.studies})


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _series_table(store: Any) -> dict[str, list[dict[str, Any]]]:
    """Every registered series' attributes per StudyInstanceUID (read by reflection, so
    columns a newer store records, e.g. the manufacturer, are seen)."""
    from sqlalchemy import MetaData, Table, select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        meta = MetaData()
        series = Table("imaging_series", meta, autoload_with=store.engine)
        study = Table("imaging_study", meta, autoload_with=store.engine)
        q = select(series, study.c.study_instance_uid.label("_study_uid")).join(
            study, series.c.study_id == study.c.id)
        with store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
    except SQLAlchemyError as exc:  # an older or foreign schema: groups say so
        log.warning("series attributes not readable (%s); sequence and scanner groups "
                    "are 'not recorded'", type(exc).__name__)
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(str(r["_study_uid"]), []).append(r)
    return out


def _groups(series: list[dict[str, Any]]) -> tuple[str, str, bool]:
    """(fluid sequence, scanner, scanner recorded) of one study's series."""
    fluids = sorted({_FLUID[str(s.get("sequence"))] for s in series
                     if str(s.get("sequence")) in _FLUID})
    sequence = "+".join(fluids) if fluids else NOT_RECORDED
    parts: list[str] = []
    for names in _SCANNER_COLUMNS:
        values = sorted({str(s[n]) for s in series for n in names
                         if s.get(n) not in (None, "")})
        if values:
            value = "/".join(values)
            parts.append(value + " T" if names[0] == "magnetic_field_strength" else value)
    return sequence, (" ".join(parts) if parts else NOT_RECORDED), bool(parts)


def _feet(versions: list[Any]) -> list[str | None]:
    series = sorted({v.series_instance_uid for v in versions if v.series_instance_uid})
    return list(series) if len(series) > 1 else [None]


def _pick_detector(store: Any, uid: str, series: str | None, read_at: datetime) -> Any:
    versions = store.annotations(uid, DETECTOR_SOURCE, series_instance_uid=series)
    if not versions:
        return None
    before = [v for v in versions if _aware(v.created_at) <= read_at]
    pool = before or versions
    return max(pool, key=lambda v: (_aware(v.created_at), v.annotation_id))


def _label_arrays(det: Any, read: Any) -> tuple[NDArray[Any] | None, NDArray[Any] | None, float]:
    """Detector and reader label arrays on the reader's grid, and the voxel volume."""
    from ..geometry import resample_to

    rl, dl = read.labels, det.labels
    if rl is None and dl is None:
        return None, None, math.nan
    ref = rl if rl is not None else dl
    vml = float(ref.voxel_volume_ml)
    r = None if rl is None else np.asarray(rl.array)
    d = None
    if dl is not None:
        if dl.shape != ref.shape or not np.allclose(dl.affine, ref.affine, atol=1e-4):
            dl = resample_to(dl, ref.affine, ref.shape, order=0)
        d = np.asarray(dl.array)
    return d, r, vml


def _reader_call(rf: Any, painted: bool, det_pos: bool, moved_in: bool,
                 moved_out: bool) -> tuple[bool | None, str]:
    if rf is None:
        if painted:
            return True, "relabelled" if moved_in else "painted"
        return False, "relabelled" if (det_pos and moved_out) else "not involved"
    if rf.status == "rejected":
        return False, "rejected"
    if not rf.involved:
        return False, "relabelled" if (det_pos and moved_out) else "not involved"
    if rf.status == "confirmed":
        if det_pos:
            return True, "confirmed"
        return True, "relabelled" if moved_in else "painted"
    return None, "unreviewed"


def _edema_ml(finding: Any) -> float:
    """A finding's edema volume (ml); 0 without a finding or when not measured (NaN)."""
    ml = float(getattr(finding, "edema_volume_ml", None) or 0.0)
    return 0.0 if math.isnan(ml) else ml


def _components(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int32], int]:
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    return lab, int(n)


def _study_read(store: Any, uid: str, series: str | None, reader: str, version: Any,
                det_version: Any, sequence: str, scanner: str) -> StudyRead:
    read = store.load_annotation(version.annotation_id)
    det = store.load_annotation(det_version.annotation_id)
    d_arr, r_arr, vml = _label_arrays(det, read)
    d_find = {f.bone: f for f in det.findings}
    r_find = {f.bone: f for f in read.findings}
    bones = sorted(set(d_find) | set(r_find), key=int)
    if r_arr is not None:
        bones = sorted(set(bones) | {Bone(int(v)) for v in np.unique(r_arr) if 0 < v <= len(Bone)},
                       key=int)
    sr = StudyRead(uid, series, reader, version.version, _aware(version.created_at),
                   det_version.version, sequence, scanner)
    final = np.zeros(r_arr.shape, bool) if r_arr is not None else None
    cand = (d_arr > 0) if d_arr is not None else None
    calls: dict[Bone, bool | None] = {}
    for b in bones:
        i = int(b)
        df, rf = d_find.get(b), r_find.get(b)
        det_pos = df is not None and detector_positive(df)
        r_mask = (r_arr == i) if r_arr is not None else None
        d_mask = (d_arr == i) if d_arr is not None else None
        painted = bool(r_mask is not None and r_mask.any())
        moved_in = bool(painted and d_arr is not None
                        and ((d_arr > 0) & (d_arr != i) & r_mask).any())
        moved_out = bool(d_mask is not None and r_arr is not None
                         and ((r_arr > 0) & (r_arr != i) & d_mask).any())
        call, how = _reader_call(rf, painted, det_pos, moved_in, moved_out)
        calls[b] = call
        d_ml = (float(d_mask.sum()) * vml if d_mask is not None
                else _edema_ml(df))
        r_ml = 0.0
        if call:
            r_ml = (float(r_mask.sum()) * vml if r_mask is not None
                    else _edema_ml(rf))
        bd = math.nan
        if d_mask is not None and r_mask is not None:
            from ..metrics import dice

            bd = dice(d_mask, r_mask if call else np.zeros_like(r_mask))
        if final is not None and call:
            final |= r_mask  # type: ignore[operator]
        if call is None and cand is not None:
            cand &= ~d_mask  # type: ignore[operator]
        sr.bones.append(BoneRead(
            uid, series, reader, b, bone_score(df) if df is not None else 0.0,
            stated_probability(df) if df is not None else math.nan, det_pos, call, how,
            d_ml, r_ml, bd, sequence, scanner))
    _masks_and_regions(sr, d_arr, cand, final, d_find)
    return sr


def _masks_and_regions(sr: StudyRead, d_arr: NDArray[Any] | None,
                       cand: NDArray[np.bool_] | None, final: NDArray[np.bool_] | None,
                       d_find: dict[Bone, Any]) -> None:
    if cand is None or final is None or d_arr is None:
        return
    sr.intersection = int((cand & final).sum())
    sr.size = int(cand.sum()) + int(final.sum())
    lesions, n_lesions = _components(final)
    best = np.full(n_lesions + 1, -np.inf)
    for i in np.unique(d_arr[cand]):
        b = Bone(int(i))
        score = bone_score(d_find[b]) if b in d_find else 0.0
        regions, n = _components(cand & (d_arr == i))
        for k in range(1, n + 1):
            region = regions == k
            hit = lesions[region]
            sr.regions.append((score, bool((hit > 0).any())))
            for les in np.unique(hit[hit > 0]):
                best[les] = max(best[les], score)
    sr.lesion_scores = [float(s) for s in best[1:]]


def collect_reads(store: Any, *, reader: str | None = None, since: datetime | None = None,
                  studies: Iterable[str] | None = None) -> ReadSet:
    """Collect every reader's final read against the detector's candidates.

    Parameters
    ----------
    store
        An open :class:`bmes_imaging.store.Store` (only read).
    reader
        Only this reader's reads (default: every reader).
    since
        Only final reads saved at or after this time (naive times are UTC).
    studies
        Only these StudyInstanceUIDs (default: every study of the store).

    Returns
    -------
    ReadSet

    Raises
    ------
    StoreError
        If ``reader`` has no saved review in the store.
    """
    readers = [r for r in store.readers() if r != DETECTOR_SOURCE]
    if reader is not None:
        if reader not in readers:
            raise StoreError(f"reader {reader!r} has no saved review in the store "
                             f"({len(readers)} reader(s) have)")
        readers = [reader]
    since_utc = None if since is None else _aware(since)
    series_by_study = _series_table(store)
    out = ReadSet()
    for uid in (list(studies) if studies is not None else store.studies()):
        sequence, scanner, recorded = _groups(series_by_study.get(uid, []))
        out.scanner_recorded |= recorded
        for name in readers:
            versions = store.annotations(uid, name)
            for series in _feet(versions):
                mine = [v for v in versions if series is None
                        or v.series_instance_uid in (series, None)]
                if not mine:
                    continue
                last = max(mine, key=lambda v: (_aware(v.created_at), v.annotation_id))
                if since_utc is not None and _aware(last.created_at) < since_utc:
                    out.skipped.append((uid, f"{name}'s final read is before --since"))
                    continue
                det = _pick_detector(store, uid, series, _aware(last.created_at))
                if det is None:
                    out.skipped.append((uid, "no detector candidates stored"))
                    continue
                out.studies.append(_study_read(store, uid, series, name, last, det,
                                               sequence, scanner))
    log.info("collected %d final read(s) of %d study(ies); %d skipped", len(out.studies),
             len(out.study_uids), len(out.skipped))
    return out
