"""The screening's candidates of a study (``bmes screen`` / ``bmes demo`` output).

``bmes screen ROOT --out OUT`` writes, per study and side, ``OUT/studies/<key>/`` with
``involvement.csv`` (one row per bone), ``edema.nii.gz`` and ``bones.nii.gz`` on the T1
grid (:func:`bmes_imaging.screening.run_study`). A study folder inside a run (the
``bmes demo`` layout, :func:`bmes_imaging.study.find_run_folders`) is shown with these
candidates at once, without running detection again.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging.study import Study, find_run_folders
from bmes_imaging.volume import Volume, load_nifti

__all__ = ["ScreeningCandidates", "read_screening_candidates"]


@dataclass
class ScreeningCandidates:
    """Findings (all ``candidate``), edema and bone labels on the study's T1 grid."""

    findings: list[Any]
    edema: Volume
    bones: Volume | None
    folder: Path


def _number(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key) or "nan")
    except ValueError:
        return math.nan


def _finding(row: dict[str, str]) -> Any:
    from bmes_imaging.findings import finding_from_dict

    return finding_from_dict({
        "bone": int(row["bone_label"]), "bone_volume_ml": _number(row, "bone_volume_ml"),
        "edema_volume_ml": _number(row, "edema_volume_ml"),
        "fraction": _number(row, "fraction"), "grade": int(row.get("grade") or 0),
        "t1_ratio": _number(row, "t1_ratio"), "fluid_ratio": _number(row, "fluid_ratio"),
        "confidence": _number(row, "confidence"), "status": "candidate",
        "source": "detector", "primary": False,
        "bone_mask_quality": _number(row, "bone_mask_quality")})


def _on_grid(path: Path, t1: Volume) -> Volume | None:
    if not path.is_file():
        return None
    vol = load_nifti(path)
    if vol.shape != t1.shape or not np.allclose(vol.affine, t1.affine, atol=1e-3):
        return None
    return vol


def read_screening_candidates(study: Study) -> ScreeningCandidates | None:
    """The screening run's candidates of ``study``, or None when there are none.

    The run is found beside the study's source folder; its per-study folder by the
    screening key of StudyInstanceUID and side. Masks on another grid than the T1 (a
    different series was screened) are not used.
    """
    if study.source is None:
        return None
    screen = find_run_folders(study.source).screen
    if screen is None:
        return None
    from bmes_imaging.screening import study_key

    folder = screen / "studies" / study_key(study.key, study.side)
    table = folder / "involvement.csv"
    if not table.is_file():
        return None
    edema = _on_grid(folder / "edema.nii.gz", study.t1)
    if edema is None:
        return None
    with table.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("bone_label")]
    findings = sorted((_finding(r) for r in rows), key=lambda f: int(f.bone))
    edema = edema.with_array(np.ascontiguousarray(edema.array, dtype=np.uint8))
    return ScreeningCandidates(findings=findings, edema=edema,
                               bones=_on_grid(folder / "bones.nii.gz", study.t1),
                               folder=folder)
