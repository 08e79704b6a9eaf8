"""A screening run's candidates into the store, as unreviewed findings a reader opens.

``bmes screen ARCHIVE --out OUT --db URL`` writes its files as always, then calls
:func:`save_screen_candidates`: for every study the run finished, the detector's
findings (status ``candidate``) and its edema label map (``OUT/studies/<key>/
edema.nii.gz``, on the T1 grid) are saved as one version under the source
``"detector"``. The napari review opens the detector's newest version of a study as its
candidates, so a reader starts from them instead of running detection again.

A study whose candidates from the same run (same input fingerprint) are stored
already is not saved twice, so a resumed or repeated screening adds nothing new.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import StoreError

__all__ = ["DETECTOR_SOURCE", "save_screen_candidates"]

log = logging.getLogger("bmes_imaging.store._store")

#: Source name of the detector's findings (the napari review loads this one).
DETECTOR_SOURCE = "detector"
_MARKER = "screen_done.json"
_NOTE = "bmes screen candidates {key} {fingerprint}"


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise StoreError(f"{path} is missing: give the --out folder of a finished "
                         "bmes screen run") from None


def _finding(row: dict[str, str], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"bone": row.get("bone", ""), "status": "candidate",
                           "source": DETECTOR_SOURCE}
    for name in ("bone_volume_ml", "edema_volume_ml", "fraction", "t1_ratio",
                 "fluid_ratio", "confidence", "bone_mask_quality"):
        value = (row.get(name) or "").strip()
        try:
            out[name] = float(value) if value else None
        except ValueError:
            raise StoreError(f"{where}: {name} must be a number, found {value!r}") from None
    grade = (row.get("grade") or "").strip()
    try:
        out["grade"] = int(float(grade)) if grade else None
    except ValueError:
        raise StoreError(f"{where}: grade must be 0-3, found {grade!r}") from None
    return out


def _fingerprint(study_dir: Path) -> str:
    try:
        return str(json.loads((study_dir / _MARKER).read_text(encoding="utf-8"))
                   .get("fingerprint") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def save_screen_candidates(store: Any, out: str | os.PathLike[str]) -> list[Any]:
    """Save every finished study of a screening run as the detector's candidates.

    Parameters
    ----------
    store
        An open :class:`~bmes_imaging.store.Store`.
    out
        The screening's output folder (``studies.csv``, ``studies/<key>/...``).

    Returns
    -------
    list of AnnotationVersion
        The versions saved by this call (studies stored already are left out).

    Raises
    ------
    StoreError
        If ``out`` is not a screening's output folder, a study's table cannot be read,
        or the store refuses a write (studies saved before that stay saved).
    """
    from ..volume import load_nifti

    root = Path(out)
    saved = []
    for row in _read_csv(root / "studies.csv"):
        if row.get("status") != "done" or not row.get("study_instance_uid"):
            continue
        key, uid = row["study_key"], row["study_instance_uid"]
        study_dir = root / "studies" / key
        inv = study_dir / "involvement.csv"
        edema = study_dir / "edema.nii.gz"
        if not inv.is_file():
            continue  # a check-only run, or a study function that writes no findings
        findings = [_finding(r, f"{inv} row {i + 2}") for i, r in enumerate(_read_csv(inv))]
        note = _NOTE.format(key=key, fingerprint=_fingerprint(study_dir) or "-")
        if any(v.note == note for v in store.annotations(uid, DETECTOR_SOURCE)):
            continue
        side = row.get("side") or None
        store.register_study(study_instance_uid=uid,
                             laterality=side if side in ("L", "R") else None)
        if edema.is_file():
            labels = load_nifti(edema)
            saved.append(store.save_annotation(uid, DETECTOR_SOURCE, findings, labels,
                                               note=note))
        else:
            saved.append(store.save_findings(uid, findings, DETECTOR_SOURCE, note=note))
    log.info("stored the candidates of %d screened studies", len(saved))
    return saved
