"""Detection with the site settings applied (``bmes detect --config FILE``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._site_config import SiteConfig

__all__ = ["detect_study_with_site", "screen_study_with_site"]


def detect_study_with_site(study_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                           site: SiteConfig, *, config: Any = None, **kwargs: Any) -> Any:
    """:func:`~bmes_imaging.detection.detect_study` with the site settings applied.

    Detection runs with ``config`` (default: the site's ``[detection]`` settings on the
    defaults, :meth:`SiteConfig.detection_config`), then every side's result
    gets the site's decision threshold and calibration
    (:meth:`SiteConfig.apply_to_result`) and the outputs are written again:
    ``involvement.csv``, ``edema*.nii.gz`` and, when a bone was reported negative by the
    threshold, ``overlay*.png``.

    Returns
    -------
    StudyDetection
        With the site-applied results and rows.
    """
    from .._atomic import write_csv_atomic
    from ..detection import INVOLVEMENT_COLUMNS, detect_study, write_results
    from ..detection._study import involvement_rows

    cfg = config if config is not None else site.detection_config()
    det = detect_study(study_dir, out_dir, config=cfg, **kwargs)
    several = len(det.results) > 1
    rows: list[dict[str, Any]] = []
    results = []
    old_rows = det.rows
    for side, result in det.results:
        applied = site.apply_to_result(result)
        changed = any(a.grade != b.grade
                      for a, b in zip(applied.findings, result.findings, strict=False))
        suffix = f"_{side}" if several and side else ""
        write_results(applied, out_dir, side=side, suffix=suffix, csv_file=False,
                      overlay=False)
        if changed:
            write_results(applied, out_dir, t1=_t1_of(study_dir, side, several), side=side,
                          suffix=suffix, csv_file=False)
        first = next((r for r in old_rows if r["side"] == (side or "")), {})
        rows += involvement_rows(applied, study_instance_uid=first.get("study_instance_uid"),
                                 patient_id=first.get("patient_id"), side=side)
        results.append((side, applied))
        det.notes += applied.coverage_notes[len(result.coverage_notes):]
    write_csv_atomic(Path(out_dir) / "involvement.csv", INVOLVEMENT_COLUMNS, rows)
    det.results, det.rows = results, rows
    return det


def _t1_of(study_dir: str | os.PathLike[str], side: str | None, several: bool) -> Any:
    """The T1 of ``side`` (for the overlay picture), or None."""
    from ..dicom import index_folder, load_series, pair_series

    pairs = pair_series(index_folder(Path(study_dir))).pairs
    for pair in pairs:
        if not several or pair.side == side:
            return load_series(pair.t1)
    return None


def screen_study_with_site(task: Any, out_dir: Path, site: SiteConfig
                           ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Screening study function (``bmes screen --config``): the default one
    (:func:`bmes_imaging.screening.detect_pair`) with the site's detector settings,
    then the decision threshold and calibration applied to the study's rows,
    ``involvement.csv`` and ``edema.nii.gz`` (the overlay picture keeps the detector's
    own candidates)."""
    from types import SimpleNamespace

    from .._atomic import write_csv_atomic
    from ..detection import INVOLVEMENT_COLUMNS
    from ..screening import detect_pair
    from ..volume import load_nifti

    rows, timings = detect_pair(task, out_dir, site.detection_config())
    demoted: list[int] = []
    for row in rows:
        demote, confidence = site.decide(SimpleNamespace(
            grade=int(row["grade"]), confidence=float(row["confidence"] or "nan")))
        if demote:
            row.update(grade=0, edema_volume_ml=f"{0.0:.3f}", fraction=f"{0.0:.4f}")
            demoted.append(int(row["bone_label"]))
        if confidence is not None:
            row["confidence"] = f"{confidence:.3f}"
    if demoted:
        edema = load_nifti(out_dir / "edema.nii.gz")
        arr = np.array(edema.array, copy=True)
        arr[np.isin(arr, demoted)] = 0
        edema.with_array(arr).to_nifti(out_dir / "edema.nii.gz")
    write_csv_atomic(out_dir / "involvement.csv", INVOLVEMENT_COLUMNS, rows)
    return rows, timings
