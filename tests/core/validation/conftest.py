"""Phantom studies, the real detector, and simulated reader reviews saved through the store.

Two separate sets of phantom studies (set A to fit on, set B to check on), each run
through ``detect_study`` with the true bone masks given (so that the figures depend on
the decision only). A simulated reader then reviews each study the way the napari
review saves it: the detector's candidates are saved under ``"detector"`` with their
label map, the reader's final read under the reader's name with their own label map.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.detection import detect_study, grade_for_fraction
from bmes_imaging.phantom import PhantomSpec, generate_study, write_study
from bmes_imaging.volume import Volume

#: (seed, edema bones) of the studies of each set.
SET_A = ((11, ("talus", "navicular", "cuboid")),
         (12, ("calcaneus", "talus", "intermediate_cuneiform")))
SET_B = ((13, ("talus", "cuboid", "navicular")),
         (14, ("calcaneus", "navicular", "lateral_cuneiform")))


@dataclass
class Detected:
    """One phantom study after detection."""

    study_uid: str
    t1_series: str
    fluid_series: str
    fluid_sequence: str
    result: Any  # EdemaResult
    truth_bones: Volume
    study_dir: Path


def _detect(seed: int, bones: tuple[str, ...], root: Path) -> Detected:
    study = generate_study(PhantomSpec(seed=seed, edema_bones=bones, resolution=2.0))
    folder = write_study(study, root / f"study_{seed}")
    det = detect_study(folder / "dicom", root / f"detected_{seed}",
                       bones_path=folder / "truth" / "bones.nii.gz")
    (_, result), = det.results
    return Detected(study.t1.info.study_instance_uid, study.t1.info.series_instance_uid,
                    study.stir.info.series_instance_uid, study.stir.info.sequence or "stir",
                    result, study.bones, folder)


@pytest.fixture(scope="session")
def phantom_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Detected]]:
    """``{"A": [...], "B": [...]}``: detected phantom studies of both sets."""
    root = tmp_path_factory.mktemp("validation_phantoms")
    return {"A": [_detect(s, b, root) for s, b in SET_A],
            "B": [_detect(s, b, root) for s, b in SET_B]}


@dataclass
class Review:
    """What a simulated reader decided on one study (the truth of the hand count)."""

    positive: set[Bone] = field(default_factory=set)
    negative: set[Bone] = field(default_factory=set)
    undecided: set[Bone] = field(default_factory=set)
    painted: set[Bone] = field(default_factory=set)
    relabelled: dict[Bone, Bone] = field(default_factory=dict)
    labels: np.ndarray | None = None


def _ball_in_bone(bones: np.ndarray, bone: Bone, radius: int = 3) -> np.ndarray:
    """A ball of voxels inside ``bone``, around its innermost voxel."""
    from scipy import ndimage

    inside = bones == int(bone)
    depth = ndimage.distance_transform_edt(inside)
    centre = np.unravel_index(int(np.argmax(depth)), bones.shape)
    grid = np.indices(bones.shape)
    d2 = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True))
    return inside & (d2 <= radius * radius)


def simulate_review(det: Detected, *, reject_below: float | None = None,
                    reject: tuple[str, ...] = (), paint: tuple[str, ...] = (),
                    relabel: dict[str, str] | None = None,
                    leave_undecided: tuple[str, ...] = ()) -> tuple[list[Any], Review]:
    """A reader's final findings and labels for ``det`` (see module docs).

    Positive candidates are confirmed, except those named in ``reject``, those with a
    confidence below ``reject_below``, and those left as candidates; ``paint`` adds
    edema to bones the detector called negative; ``relabel`` moves a candidate's edema
    to another bone the detector called negative.
    """
    res = det.result
    bones = np.asarray(res.bones.array)
    labels = np.array(res.edema.array, copy=True)
    vml = res.bones.voxel_volume_ml
    review = Review()
    by_bone = {f.bone: f for f in res.findings}
    relabel_b = {Bone[k.upper()]: Bone[v.upper()] for k, v in (relabel or {}).items()}
    for old, new in relabel_b.items():
        moved = labels == int(old)
        labels[moved] = int(new)
        review.relabelled[old] = new
    for name in paint:
        b = Bone[name.upper()]
        labels[_ball_in_bone(bones, b) & (labels == 0)] = int(b)
        review.painted.add(b)
    findings = []
    for b in sorted(set(by_bone) | set(relabel_b.values()) | review.painted, key=int):
        f = by_bone[b]
        n = int((labels == int(b)).sum())
        fraction = n * vml / f.bone_volume_ml if f.bone_volume_ml else 0.0
        changes: dict[str, Any] = {"source": "Reader A"}
        if b in relabel_b or b in set(relabel_b.values()) or b in review.painted:
            changes.update(edema_volume_ml=round(n * vml, 4), fraction=round(fraction, 4),
                           grade=grade_for_fraction(fraction))
        grade = changes.get("grade", f.grade)
        if grade == 0:
            review.negative.add(b)
        elif b.bone_name in leave_undecided:
            review.undecided.add(b)
        elif b.bone_name in reject or (reject_below is not None and b not in relabel_b
                                       and b not in set(relabel_b.values())
                                       and b not in review.painted
                                       and f.confidence < reject_below):
            changes["status"] = "rejected"
            review.negative.add(b)
        else:
            changes["status"] = "confirmed"
            review.positive.add(b)
        findings.append(dataclasses.replace(f, **changes))
    review.labels = labels
    return findings, review


def save_reviewed(store: Any, det: Detected, findings: list[Any], review: Review,
                  *, reader: str = "Reader A", detector_result: Any = None) -> None:
    """Register the study's series and save the detector's candidates, then the read."""
    store.register_study(study_instance_uid=det.study_uid, series_instance_uid=det.t1_series,
                         sequence="t1")
    store.register_study(study_instance_uid=det.study_uid,
                         series_instance_uid=det.fluid_series, sequence=det.fluid_sequence)
    res = detector_result if detector_result is not None else det.result
    store.save_annotation(det.study_uid, "detector", res.findings, res.edema,
                          series_instance_uid=det.t1_series)
    assert review.labels is not None
    store.save_annotation(det.study_uid, reader, findings,
                          res.edema.with_array(review.labels.astype(np.uint8)),
                          series_instance_uid=det.t1_series)
