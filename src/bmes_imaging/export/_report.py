"""The cohort report: recomputed figures, plots and disagreements, as Markdown or HTML.

Examples
--------
The report of the study's table, de-identified, with the figures its text states::

    from bmes_imaging.export import write_cohort_report
    write_cohort_report("table1_clinical.csv", "report/",
                        stated="sample_data/study_text_figures.json")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from .._atomic import write_text_atomic
from ..bones import Bone
from ..errors import ExportError
from ._cohort import CohortSummary, FootFindings, summarize_cohort
from ._page import ReportTable, html_page, markdown_page
from ._plots import plot_aofas, plot_bones, plot_vitamin_d
from ._provenance import Provenance
from ._pseudonym import Pseudonymizer, default_key_path, key_fingerprint, load_pseudonym_key
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

    @property
    def n_disagree(self) -> int:
        """Stated figures that contradict the records (the report's first list)."""
        return sum(1 for c in self.comparisons if c.status == "disagrees")

    @property
    def n_rounding(self) -> int:
        """Stated means off by rounding only (the report's second list)."""
        return sum(1 for c in self.comparisons if c.status == "rounding")

    def disagreement_line(self) -> str:
        """The count as the report shows it, e.g. ``"5 disagree, 3 rounding differences"``."""
        return (f"{self.n_disagree} stated figure(s) disagree with the records, "
                f"{self.n_rounding} differ by rounding only")


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


def _patient_table(s: CohortSummary) -> ReportTable:
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
    return ReportTable("Patients (recomputed from the clinical records)",
                       ["figure", "value", "unit"], rows,
                       "Patient-level figures count each patient once (a bilateral patient "
                       "has two feet).")


def _bone_tables(s: CohortSummary, why_no_imaging: str) -> list[ReportTable]:
    """Feet per bone and bones per foot: records, and imaging when findings are given."""
    imaging = bool(s.findings)
    bone_rows = []
    for bone in Bone:
        f = s[f"feet_{bone.bone_name}"]
        found = s.figures.get(f"findings_feet_{bone.bone_name}")
        if not f.value and not (found and found.value):
            continue
        row = [bone.display_name, f.formatted()]
        row.append(found.formatted() if found else "0") if imaging else row.append(
            "n/a")
        bone_rows.append(row)
    bone_rows.append(["any cuneiform", s["feet_cuneiform"].formatted(),
                      s["findings_feet_cuneiform"].formatted() if imaging else "n/a"])
    img_head = (f"feet ({s.findings_status} findings)" if imaging
                else "feet (imaging findings)")
    intro = ""
    if s["feet_talus"].bound != "exact":
        intro = ("The records list no other affected bones, so per-bone counts are lower "
                 "bounds (>=) and the single-bone count an upper bound (<=).")
    if why_no_imaging:
        intro = (intro + " " if intro else "") + f"Imaging column: {why_no_imaging}"
    per_foot_rows = []
    for key, label in (("single_bone", "single bone"), ("two_bones", "two bones"),
                       ("three_bones", "three bones"), ("more_bones", "four or more")):
        rec = s.figures.get(f"feet_{key}")
        img = s.figures.get(f"findings_feet_{key}")
        per_foot_rows.append([label, rec.formatted() if rec else "-",
                              img.formatted() if img else "n/a"])
    return [
        ReportTable("Feet per bone", ["bone", "feet (clinical records)", img_head],
                    bone_rows, intro),
        ReportTable("Bones per foot", ["involvement", "feet (clinical records)", img_head],
                    per_foot_rows, f"Imaging column: {why_no_imaging}" if why_no_imaging
                    else ""),
    ]


def _imaging_summary(s: CohortSummary) -> ReportTable | None:
    """Per bone: feet with edema, edema volume (median, range) and grades."""
    if not s.findings:
        return None
    rows = []
    for bone in Bone:
        vols = sorted(f.edema_ml.get(bone, 0.0) for f in s.findings if bone in f.bones)
        if not vols:
            continue
        grades = [f.grades.get(bone) for f in s.findings if bone in f.bones]
        known = [g for g in grades if g is not None]
        counts = " / ".join(str(sum(1 for g in known if g == n)) for n in (1, 2, 3))
        rows.append([bone.display_name, _feet(len(vols)), f"{median(vols):.2f}",
                     f"{vols[0]:.2f}-{vols[-1]:.2f}", f"{sum(vols):.2f}",
                     counts if known else "n/a"])
    return ReportTable(
        f"Imaging summary ({s.findings_status} findings)",
        ["bone", "feet with edema", "edema volume, median (mL)", "range (mL)", "total (mL)",
         "grade 1 / 2 / 3 (feet)"], rows,
        "Edema per bone over the feet with findings; grade by extent of the bone "
        "(1 < 25 %, 2 25-50 %, 3 > 50 %).")


def _sort_by_name(rows: list[list[Any]], deidentify: bool) -> list[list[Any]]:
    """Rows by their first cell (the pseudonym) when de-identified: the source order
    (which can be matched against the table) is not kept."""
    if not deidentify:
        return rows
    return sorted(rows, key=lambda r: (str(r[0]), str(r[1])))


def _per_patient(s: CohortSummary, name_of: Callable[[str], str],
                 deidentify: bool) -> ReportTable:
    per_patient = []
    for p in s.patients:
        feet = [r for r in s.records if str(r.patient) == str(p.patient)]
        bones = sorted({b for r in feet for b in r.primary_bones})
        per_patient.append([
            name_of(str(p.patient)), "+".join(sorted(r.side for r in feet)),
            _fmt(p.age, 0), p.sex or "", ", ".join(b.display_name for b in bones),
            _fmt(p.vitamin_d_ng_ml), vitamin_d_class_of(p.vitamin_d_ng_ml) or "",
            f"{_fmt(p.aofas_initial, 0)} -> {_fmt(p.aofas_final, 0)}"])
    return ReportTable("Per patient", ["patient", "side", "age", "sex", "primary bone(s)",
                                       "25(OH)D", "class", "AOFAS"],
                       _sort_by_name(per_patient, deidentify),
                       "Ordered by pseudonym, not as in the source table." if deidentify
                       else "")


def _records_vs_findings(s: CohortSummary, name_of: Callable[[str], str], deidentify: bool,
                         caveat: str) -> ReportTable:
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
    intro = (f"The recorded primary bone is among the {s.findings_status} findings in "
             f"{agree} of {with_findings} feet with findings "
             f"({_feet(len(s.records) - with_findings)} without).")
    if caveat:
        intro += " " + caveat
    return ReportTable(f"Clinical records against {s.findings_status} findings", [
        "patient", "side", "bones in the record", f"bones with {s.findings_status} edema",
        "recorded primary found", "found but not recorded"],
        _sort_by_name(rows_cmp, deidentify), intro)


def _stated_tables(comparisons: list[Comparison], stated_source: str) -> list[ReportTable]:
    dis = [c for c in comparisons if c.status == "disagrees"]
    rnd = [c for c in comparisons if c.status == "rounding"]
    rest = [c for c in comparisons if not c.is_disagreement]

    def crow(c: Comparison) -> list[str]:
        return [c.label, c.stated.text or f"{c.stated.value:g}", c.stated.where,
                f"{c.stated.value:.{c.stated.decimals}f}", c.recomputed, c.note]

    head = ["figure", "stated as", "where", "stated", "recomputed", "note"]
    return [
        ReportTable(f"Disagreements with the stated figures ({len(dis)})", head,
                    [crow(c) for c in dis],
                    f"Stated figures from: {stated_source}. These figures contradict "
                    "the clinical records; the report uses the recomputed values.",
                    alert=True),
        ReportTable(f"Rounding differences ({len(rnd)})", head, [crow(c) for c in rnd],
                    "Means that differ from the recomputed value by more than half "
                    "but at most one unit of the last stated digit (truncated or "
                    "rounded differently)."),
        ReportTable("Stated figures that agree or cannot be checked exactly",
                    head + ["status"], [crow(c) + [c.status] for c in rest]),
    ]


def _tables(s: CohortSummary, comparisons: list[Comparison], stated_source: str | None,
            name_of: Callable[[str], str], *, deidentify: bool = True,
            provenance: Provenance | None = None, why_no_imaging: str = ""
            ) -> list[ReportTable]:
    prov = provenance or Provenance()
    caveat = prov.caveat()
    t = [ReportTable("Data provenance", ["item", "value"], prov.rows(), caveat,
                     alert=prov.images == "phantom" and prov.phantom_from_table),
         _patient_table(s)]
    t += _bone_tables(s, why_no_imaging)
    summary = _imaging_summary(s)
    if summary is not None:
        t.append(summary)
    t.append(_per_patient(s, name_of, deidentify))
    if s.findings:
        t.append(_records_vs_findings(s, name_of, deidentify, caveat))
    if stated_source is not None:
        t += _stated_tables(comparisons, stated_source)
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
    provenance: Provenance | None = None,
    key_path: str | Path | None = None,
    why_no_imaging: str = "",
    extra: Callable[[Path, Callable[[str], str]], tuple[list[ReportTable], list[Path]]]
    | None = None,
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
        Replace patient numbers by stable pseudonyms (default), listed in pseudonym
        order.
    pseudonym_key
        Key for the pseudonyms (default: :func:`load_pseudonym_key` of ``key_path``).
    provenance
        Where the images, findings and settings come from (stated first in the report).
    key_path
        The pseudonym key file (named in the report with the key's fingerprint).
    why_no_imaging
        Why the imaging columns are empty (e.g. no findings of the requested status).
    extra
        ``extra(out_dir, name_of) -> (tables, plots)``: further sections (the follow-up).

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
    name_of, key_text = _names(deidentify, pseudonym_key, key_path)
    out = Path(out_dir)
    plots = [plot_bones(summary, out / "plots" / "bones_involved.png"),
             plot_aofas(summary, out / "plots" / "aofas_before_after.png", name_of),
             plot_vitamin_d(summary, out / "plots" / "vitamin_d.png", name_of)]
    if not findings and not why_no_imaging:
        why_no_imaging = "no imaging findings were given (--findings or --db)"
    tables = _tables(summary, comparisons, stated_source, name_of, deidentify=deidentify,
                     provenance=provenance, why_no_imaging=why_no_imaging)
    if extra is not None:
        more_tables, more_plots = extra(out, name_of)
        tables += more_tables
        plots += more_plots
    meta = [f"Clinical records: {Path(source).name if deidentify else source}",
            f"Patients: {key_text}"]
    if findings:
        meta.append(f"Findings: {summary.findings_status} only ({len(findings)} feet)")
    if provenance is not None and provenance.images == "phantom":
        meta.insert(0, "PHANTOM DATA: " + provenance.caveat())
    render = html_page if fmt == "html" else markdown_page
    text = render(title, meta, tables, plots, out)
    path = write_text_atomic(out / ("report.html" if fmt == "html" else "report.md"), text)
    return CohortReport(path, summary, comparisons, plots)


def _names(deidentify: bool, key: bytes | None, key_path: str | Path | None
           ) -> tuple[Callable[[str], str], str]:
    """The patient naming function and the sentence saying how patients are named."""
    if not deidentify:
        return (lambda pid: pid), "identified by clinical patient number"
    if key is None:
        key = load_pseudonym_key(key_path)
        key_path = key_path if key_path is not None else default_key_path()
    where = f"key file {Path(key_path).name}" if key_path is not None else "a key given in code"
    return (Pseudonymizer(key).patient,
            (f"pseudonymised (keyed hash; {where}, fingerprint {key_fingerprint(key)}); "
            "listed in pseudonym order"))
