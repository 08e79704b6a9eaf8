"""Agreement between two readers: Cohen's kappa of bone involvement, Dice of edema masks.

For each study both readers annotated, the latest version of each reader is used.

* **Bone involvement**: for each bone of the vocabulary, a reader calls it involved
  when their finding for it is not rejected and shows edema (grade >= 1, or edema
  volume > 0 without a grade; see :attr:`StoredFinding.involved`); no finding means
  not involved. Kappa is computed per study (14 bones) and pooled over every
  (study, bone) pair.
* **Edema masks**: the label maps (edema voxels carry their bone's label) are compared
  as binary masks (label > 0); a reader's map on another grid is resampled to the
  first reader's grid (nearest neighbour). Pooled Dice sums intersections and sizes
  over studies.

Undefined values (kappa when both readers gave one category for everything; Dice
when both masks are empty) are ``nan`` and skipped in means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bones import Bone
from ..errors import StoreError
from ..metrics import cohen_kappa, dice  # re-exported: one definition

if TYPE_CHECKING:
    from ._store import LoadedAnnotation, Store

__all__ = ["AgreementReport", "StudyAgreement", "cohen_kappa", "dice", "reader_agreement"]


@dataclass(frozen=True)
class StudyAgreement:
    """Agreement of two readers on one study (on one foot's T1 series when the study
    holds both feet: ``series_instance_uid`` says which)."""

    study_instance_uid: str
    kappa: float
    dice: float
    involved_a: tuple[str, ...]
    involved_b: tuple[str, ...]
    version_a: int
    version_b: int
    series_instance_uid: str | None = None


@dataclass
class AgreementReport:
    """Per-study and pooled agreement of ``reader_a`` and ``reader_b``."""

    reader_a: str
    reader_b: str
    studies: list[StudyAgreement] = field(default_factory=list)
    pooled_kappa: float = math.nan
    pooled_dice: float = math.nan
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _involvement(loaded: LoadedAnnotation) -> np.ndarray:
    calls = np.zeros(len(Bone), dtype=np.int8)
    for f in loaded.findings:
        if f.involved:
            calls[int(f.bone) - 1] = 1
    return calls


def _masks(a: LoadedAnnotation, b: LoadedAnnotation) -> tuple[np.ndarray, np.ndarray]:
    from ..geometry import resample_to

    assert a.labels is not None and b.labels is not None
    mask_a = a.labels.array > 0
    lb = b.labels
    if lb.shape != a.labels.shape or not np.allclose(lb.affine, a.labels.affine, atol=1e-4):
        lb = resample_to(lb, a.labels.affine, a.labels.shape, order=0)
    return mask_a, np.asarray(lb.array) > 0



def _feet(store: Any, uids: Iterable[str], reader_a: str, reader_b: str
          ) -> list[tuple[str, str | None]]:
    """(study, T1 series) pairs to compare: one per study, or one per T1 series when
    the readers' annotations of a study lie on several (both feet in one study)."""
    out: list[tuple[str, str | None]] = []
    for uid in uids:
        series = sorted({v.series_instance_uid for r in (reader_a, reader_b)
                         for v in store.annotations(uid, r) if v.series_instance_uid})
        if len(series) > 1:
            out.extend((uid, s) for s in series)
        else:
            out.append((uid, None))
    return out

def reader_agreement(store: Store, reader_a: str, reader_b: str,
                     studies: list[str] | None = None) -> AgreementReport:
    """Cohen's kappa of bone involvement and Dice of edema masks between two readers.

    Parameters
    ----------
    store
        The store holding both readers' annotations.
    reader_a, reader_b
        Reader names as saved.
    studies
        StudyInstanceUIDs to compare (default: every study both readers annotated).

    Returns
    -------
    AgreementReport
        Per study and pooled; studies only one reader annotated are in ``skipped``.
    """
    if reader_a == reader_b:
        raise StoreError("agreement needs two different readers")
    uids = studies if studies is not None else store.studies()
    report = AgreementReport(reader_a, reader_b)
    calls_a: list[np.ndarray] = []
    calls_b: list[np.ndarray] = []
    inter = size = 0
    for uid, series in _feet(store, uids, reader_a, reader_b):
        a = store.latest_annotation(uid, reader_a, with_labels=False,
                                    series_instance_uid=series)
        b = store.latest_annotation(uid, reader_b, with_labels=False,
                                    series_instance_uid=series)
        if a is None or b is None:
            missing = reader_a if a is None else reader_b
            if studies is not None or (a is not None or b is not None):
                report.skipped.append((uid, f"no annotation by {missing}"))
            continue
        ia, ib = _involvement(a), _involvement(b)
        calls_a.append(ia)
        calls_b.append(ib)
        d = math.nan
        if a.labels is not None and b.labels is not None:
            ma, mb = _masks(a, b)
            d = dice(ma, mb)
            inter += int(np.logical_and(ma, mb).sum())
            size += int(ma.sum()) + int(mb.sum())
        report.studies.append(StudyAgreement(
            uid, cohen_kappa(ia, ib), d,
            tuple(Bone(int(i) + 1).bone_name for i in np.flatnonzero(ia)),
            tuple(Bone(int(i) + 1).bone_name for i in np.flatnonzero(ib)),
            a.version.version, b.version.version, series))
    if calls_a:
        report.pooled_kappa = cohen_kappa(np.concatenate(calls_a), np.concatenate(calls_b))
    if size:
        report.pooled_dice = 2.0 * inter / size
    return report
