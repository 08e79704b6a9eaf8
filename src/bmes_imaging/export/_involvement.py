"""The involvement table: one row per foot in the shape of the study's Table 1.

Clinical fields come from the clinical records; the bones come from imaging findings of
ONE status (``confirmed`` reader findings, or ``candidate`` detector output), never
mixed: the ``findings`` column and the XLSX sheet title say which.

Examples
--------
::

    from bmes_imaging.export import involvement_rows, write_involvement_table
    rows = involvement_rows(records, read_findings_table("involvement.csv"))
    write_involvement_table(rows, "table1_imaging.xlsx")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..bones import Bone
from ..errors import ExportError
from ._cohort import FootFindings
from ._pseudonym import Pseudonymizer
from ._records import vitamin_d_class_of
from ._tables import write_table

__all__ = ["INVOLVEMENT_TABLE_COLUMNS", "involvement_rows", "write_involvement_table"]

#: Columns of the per-foot involvement table.
INVOLVEMENT_TABLE_COLUMNS: tuple[str, ...] = (
    "patient", "age", "sex", "side", "findings", "primary_bone", "primary_from",
    "other_bones", "n_bones", "edema_volumes_ml", "total_edema_ml", "clinical_primary_bones",
    "symptom_months", "complaint_to_visit_months", "vitamin_d_ng_ml", "vitamin_d_class",
    "aofas_initial", "aofas_final",
)


def _num(v: Any) -> Any:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, 3)


def involvement_rows(records: Sequence[Any], findings: Sequence[FootFindings], *,
                     pseudonymizer: Pseudonymizer | None = None) -> list[dict[str, Any]]:
    """Build one row per foot record, bones from ``findings`` of a single status.

    Parameters
    ----------
    records
        Clinical records, one per foot.
    findings
        Per-foot findings (:func:`read_findings_table` or from the store), all
        ``confirmed`` or all ``candidate``.
    pseudonymizer
        When given, patients are replaced by their pseudonyms and the rows are in
        pseudonym order (not the source table's).

    Returns
    -------
    list of dict
        Rows keyed by :data:`INVOLVEMENT_TABLE_COLUMNS`.

    Raises
    ------
    ExportError
        If findings of different statuses are mixed.
    """
    statuses = {f.status for f in findings}
    if len(statuses) > 1:
        raise ExportError("findings mix " + " and ".join(sorted(statuses)) + "; export one "
                          "kind at a time (--status confirmed or --status candidate)")
    status = statuses.pop() if statuses else "none"
    by_foot = {(str(f.patient), f.side.upper()): f for f in findings}
    rows = []
    for rec in records:
        foot = by_foot.get((str(rec.patient), str(rec.side).upper()))
        bones: tuple[Bone, ...] = foot.bones if foot else ()
        primary: Bone | None = None
        primary_from = ""
        if foot and foot.primary is not None:
            primary, primary_from = foot.primary, "reader"
        elif bones:
            primary, primary_from = bones[0], "largest edema"
        others = [b for b in bones if b is not primary]
        vols = foot.edema_ml if foot else {}
        patient = str(rec.patient)
        rows.append({
            "patient": pseudonymizer.patient(patient) if pseudonymizer else patient,
            "age": _num(rec.age), "sex": rec.sex, "side": rec.side,
            "findings": status if foot else "none",
            "primary_bone": primary.bone_name if primary else "",
            "primary_from": primary_from,
            "other_bones": "+".join(b.bone_name for b in others),
            "n_bones": len(bones),
            "edema_volumes_ml": "; ".join(f"{b.bone_name} {vols.get(b, 0.0):.2f}" for b in bones),
            "total_edema_ml": round(sum(vols.get(b, 0.0) for b in bones), 3) if bones else 0.0,
            "clinical_primary_bones": "+".join(Bone(b).bone_name for b in rec.primary_bones),
            "symptom_months": _num(rec.symptom_months),
            "complaint_to_visit_months": _num(rec.complaint_to_visit_months),
            "vitamin_d_ng_ml": _num(rec.vitamin_d_ng_ml),
            "vitamin_d_class": vitamin_d_class_of(rec.vitamin_d_ng_ml) or "",
            "aofas_initial": _num(rec.aofas_initial), "aofas_final": _num(rec.aofas_final),
        })
    if pseudonymizer is not None:  # pseudonym order: the source order is not kept
        rows.sort(key=lambda r: (str(r["patient"]), str(r["side"])))
    return rows


def write_involvement_table(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the involvement table as CSV or XLSX (by suffix), atomically.

    CSV: the data dictionary is written beside it (``<stem>.dictionary.csv``). XLSX:
    header in row 1, numbers (patient numbers too) as numbers, frozen header, filters
    and column widths; the data sheet is titled with the findings status it holds, a
    ``columns`` sheet gives each column's meaning and unit, an ``about`` sheet what
    the bones come from.
    """
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise ExportError(f"{path}: write .csv or .xlsx")
    statuses = sorted({r["findings"] for r in rows if r["findings"] != "none"}) or ["none"]
    about = [f"One row per foot; bones from {' / '.join(statuses)} imaging findings only"]
    if path.suffix.lower() == ".xlsx":
        rows = [{**r, "patient": int(r["patient"]) if str(r["patient"]).isdigit()
                 else r["patient"]} for r in rows]
    return write_table(rows, INVOLVEMENT_TABLE_COLUMNS, path,
                       sheet=f"Involvement ({'+'.join(statuses)})", about=about)
