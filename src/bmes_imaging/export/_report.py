"""The cohort report: recomputed figures, plots and disagreements, as Markdown or HTML.

Examples
--------
The report of the study's table, de-identified, with the figures its text states::

    from bmes_imaging.export import write_cohort_report
    write_cohort_report("table1_clinical.csv", "report/",
                        stated="sample_data/study_text_figures.json")
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_text_atomic
from ..bones import Bone
from ..errors import ExportError
from ._cohort import CohortSummary, FootFindings, summarize_cohort
from ._page import ReportTable, html_page, markdown_page
from ._plots import plot_aofas, plot_bones, plot_vitamin_d
from ._pseudonym import Pseudonymizer, load_pseudonym_key
from ._records import read_records, vitamin_d_class_of
from ._stated import Comparison, compare_figures, read_stated_figures

__all__ = ["CohortReport", "write_cohort_report"]


@dataclass
class CohortReport:
    """What :func:`write_cohort_report` produced."""

    path: Path
    summary: CohortSummary
    comparisons: list[Comparison] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Comparison]:
        """Stated figures the records contradict (including rounding differences)."""
        return [c for c in self.comparisons if c.is_disagreement]


def _fmt(v: float | None, d: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{d}f}"


def _feet(n: int) -> str:
    return f"{n} foot" if n == 1 else f"{n} feet"


def _num(v: float | None, d: int) -> str:
    if v is not None and float(v).is_integer():
        d = 0
    return _fmt(v, d)


def _range_row(s: CohortSummary, key: str, label: str, unit: str, d: int = 1) -> list[str]:
    mean, lo, hi = s[f"{key}_mean"].value, s[f"{key}_min"].value, s[f"{key}_max"].value
    return [label, f"{_fmt(mean, d)} ({_num(lo, d)}-{_num(hi, d)})", unit]


def _tables(s: CohortSummary, comparisons: list[Comparison], stated_source: str | None,
            name_of: Callable[[str], str]) -> list[ReportTable]:
    t: list[ReportTable] = []
    rows = [
        ["Patients / feet", f"{s['patients'].formatted()} / {s['feet'].formatted()}", ""],
        _range_row(s, "age", "Age, mean (range)", "years"),
        ["Sex, M / F", f"{s['sex_male'].formatted()} / {s['sex_female'].formatted()}",
         "patients"],
        _range_row(s, "symptom_months", "Symptom duration, mean (range)", "months", 2),
        _range_row(s, "time_to_visit_months", "Complaint to first visit, mean (range)",
                   "months", 2),
        _range_row(s, "vitamin_d", "Serum 25(OH)D, mean (range)", "ng/mL", 2),
        ["Vitamin D deficient / insufficient / sufficient",
         " / ".join(s[f"vitamin_d_{c}"].formatted()
                    for c in ("deficient", "insufficient", "sufficient")),
         "patients (<= 20 / 20-30 / >= 30 ng/mL)"],
        ["AOFAS at diagnosis -> last control, mean",
         (f"{_fmt(s['aofas_initial_mean'].value)} -> {_fmt(s['aofas_final_mean'].value)} "
          f"(change {_fmt(s['aofas_change_mean'].value)})"), "points"],
        ["Rheumatoid arthritis", s["rheumatoid_arthritis"].formatted(), "patients"],
    ]
    t.append(ReportTable("Patients (recomputed from the clinical records)",
                    ["figure", "value", "unit"], rows,
                    "Patient-level figures count each patient once (a bilateral patient "
                    "has two feet)."))
    bone_rows = []
    for bone in Bone:
        f = s[f"feet_{bone.bone_name}"]
        found = s.figures.get(f"findings_feet_{bone.bone_name}")
        if not f.value and not (found and found.value):
            continue
        row = [bone.display_name, f.formatted()]
        if s.findings:
            row.append(found.formatted() if found else "0")
        bone_rows.append(row)
    cun = s["feet_cuneiform"]
    bone_rows.append(["any cuneiform", cun.formatted()]
                     + ([s["findings_feet_cuneiform"].formatted()] if s.findings else []))
    header = ["bone", "feet (clinical records)"]
    if s.findings:
        header.append(f"feet ({s.findings_status} findings)")
    intro = ""
    if s["feet_talus"].bound != "exact":
        intro = ("The records list no other affected bones, so per-bone counts are lower "
                 "bounds (>=) and the single-bone count an upper bound (<=).")
    t.append(ReportTable("Feet per bone", header, bone_rows, intro))
    t.append(ReportTable("Bones per foot", ["involvement", "feet"], [
        ["single bone", s["feet_single_bone"].formatted()],
        ["two bones", s["feet_two_bones"].formatted()],
        ["three bones", s["feet_three_bones"].formatted()],
    ]))
    per_patient = []
    for p in s.patients:
        feet = [r for r in s.records if str(r.patient) == str(p.patient)]
        bones = sorted({b for r in feet for b in r.primary_bones})
        per_patient.append([
            name_of(str(p.patient)), "+".join(sorted(r.side for r in feet)),
            _fmt(p.age, 0), p.sex or "", ", ".join(b.display_name for b in bones),
            _fmt(p.vitamin_d_ng_ml), vitamin_d_class_of(p.vitamin_d_ng_ml) or "",
            f"{_fmt(p.aofas_initial, 0)} -> {_fmt(p.aofas_final, 0)}"])
    t.append(ReportTable("Per patient", ["patient", "side", "age", "sex", "primary bone(s)",
                                    "25(OH)D", "class", "AOFAS"], per_patient))
    if s.findings:
        by_foot = {(str(f.patient), f.side.upper()): f for f in s.findings}
        rows_cmp = []
        agree = with_findings = 0
        for rec in s.records:
            foot = by_foot.get((str(rec.patient), str(rec.side).upper()))
            recorded = {Bone(b) for b in (*rec.primary_bones, *rec.other_bones)}
            found_bones = set(foot.bones) if foot else set()
            primary_found = bool(set(rec.primary_bones) & found_bones)
            agree += primary_found
            with_findings += foot is not None
            rows_cmp.append([
                name_of(str(rec.patient)), rec.side,
                ", ".join(b.display_name for b in sorted(recorded)) or "-",
                ", ".join(b.display_name for b in sorted(found_bones)) or "-",
                ("yes" if primary_found else "no") if foot else "no findings",
                ", ".join(b.display_name for b in sorted(found_bones - recorded)) or "-"])
        t.append(ReportTable(f"Clinical records against {s.findings_status} findings", [
            "patient", "side", "bones in the record", f"bones with {s.findings_status} edema",
            "recorded primary found", "found but not recorded"], rows_cmp,
            f"The recorded primary bone is among the {s.findings_status} findings in "
            f"{agree} of {with_findings} feet with findings ({_feet(len(s.records) - with_findings)}"
            " without)."))
    if stated_source is not None:
        dis = [c for c in comparisons if c.status == "disagrees"]
        rnd = [c for c in comparisons if c.status == "rounding"]
        rest = [c for c in comparisons if not c.is_disagreement]

        def crow(c: Comparison) -> list[str]:
            return [c.label, c.stated.text or f"{c.stated.value:g}", c.stated.where,
                    f"{c.stated.value:.{c.stated.decimals}f}", c.recomputed, c.note]

        head = ["figure", "stated as", "where", "stated", "recomputed", "note"]
        t.append(ReportTable(f"Disagreements with the stated figures ({len(dis)})", head,
                        [crow(c) for c in dis],
                        f"Stated figures from: {stated_source}. These figures contradict "
                        "the clinical records; the report uses the recomputed values.",
                        alert=True))
        t.append(ReportTable(f"Rounding differences ({len(rnd)})", head, [crow(c) for c in rnd],
                        "Means that differ from the recomputed value by more than half "
                        "but at most one unit of the last stated digit (truncated or "
                        "rounded differently)."))
        t.append(ReportTable("Stated figures that agree or cannot be checked exactly",
                        head + ["status"], [crow(c) + [c.status] for c in rest]))
    return t


def write_cohort_report(
    records: str | Path | Sequence[Any],
    out_dir: str | Path,
    *,
    findings: Sequence[FootFindings] = (),
    stated: str | Path | None = None,
    fmt: str = "markdown",
    deidentify: bool = True,
    pseudonym_key: bytes | None = None,
    title: str = "BMES cohort report",
) -> CohortReport:
    """Recompute the cohort's figures and write the report with its plots.

    Parameters
    ----------
    records
        Clinical table path (CSV/XLSX) or records (one per foot).
    out_dir
        Folder for ``report.md`` / ``report.html`` and ``plots/*.png``.
    findings
        Per-foot findings of ONE status (confirmed or candidate) to count per bone.
    stated
        Stated-figures file (JSON/YAML/CSV); disagreements are listed.
    fmt
        ``"markdown"`` or ``"html"``.
    deidentify
        Replace patient numbers by stable pseudonyms (default).
    pseudonym_key
        Key for the pseudonyms (default: :func:`load_pseudonym_key`).

    Returns
    -------
    CohortReport

    Raises
    ------
    ExportError
        Unknown format, no records, mixed finding statuses, unreadable stated figures.
    """
    if fmt not in ("markdown", "html"):
        raise ExportError(f"report format must be 'markdown' or 'html', found {fmt!r}")
    source = str(records) if isinstance(records, (str, Path)) else "records given in code"
    recs = read_records(records) if isinstance(records, (str, Path)) else list(records)
    summary = summarize_cohort(recs, findings)
    comparisons: list[Comparison] = []
    stated_source = None
    if stated is not None:
        stated_source, figs = read_stated_figures(stated)
        comparisons = compare_figures(summary, figs)
    if deidentify:
        pseudo = Pseudonymizer(pseudonym_key if pseudonym_key is not None
                               else load_pseudonym_key())
        name_of: Callable[[str], str] = pseudo.patient
    else:
        def name_of(pid: str) -> str:
            return pid
    out = Path(out_dir)
    plots = [plot_bones(summary, out / "plots" / "bones_involved.png"),
             plot_aofas(summary, out / "plots" / "aofas_before_after.png", name_of),
             plot_vitamin_d(summary, out / "plots" / "vitamin_d.png", name_of)]
    tables = _tables(summary, comparisons, stated_source, name_of)
    meta = [f"Clinical records: {Path(source).name if deidentify else source}",
            f"Generated: {_dt.date.today().isoformat()}",
            "Patients: " + ("pseudonymised (keyed hash)" if deidentify
                            else "identified by clinical patient number")]
    if findings:
        meta.append(f"Findings: {summary.findings_status} only ({len(findings)} feet)")
    render = html_page if fmt == "html" else markdown_page
    text = render(title, meta, tables, plots, out)
    path = write_text_atomic(out / ("report.html" if fmt == "html" else "report.md"), text)
    return CohortReport(path, summary, comparisons, plots)
