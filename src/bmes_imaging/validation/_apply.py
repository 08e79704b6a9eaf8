"""Detection with the site settings applied (``bmes detect --config FILE``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._site_config import SiteConfig

__all__ = ["detect_study_with_site"]


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
        changed = any(a.grade != b.grade for a, b in zip(applied.findings, result.findings))
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
