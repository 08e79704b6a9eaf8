"""The validation report: Markdown and HTML (every value escaped), with the plots."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._atomic import write_text_atomic
from ..export._page import ReportTable, html_page, markdown_page
from ._metrics import GroupSummary
from ._reads import NOT_RECORDED, ReadSet
from ._roc import FrocPoint, RocCurve
from ._site_config import SiteConfig

__all__ = ["ReportInput", "write_report"]


@dataclass
class ReportInput:
    """Everything the report shows."""

    reads: ReadSet
    summaries: list[GroupSummary]
    roc: RocCurve
    froc: list[FrocPoint]
    reliability: list[dict[str, Any]]
    plots: list[Path]
    filters: list[str]
    store: str
    generated: str
    site: SiteConfig | None = None
    site_path: Path | None = None
    fit_refused: str | None = None


def _f(v: float, d: int = 2) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{d}f}"


def _ci(s: GroupSummary, name: str) -> str:
    c = s.confusion
    v = getattr(c, name)
    if not math.isfinite(v):
        return "-"
    lo, hi = c.interval(name)
    return f"{v:.2f} ({lo:.2f}-{hi:.2f})"


def _group_table(title: str, rows: Sequence[GroupSummary], intro: str = "") -> ReportTable:
    header = ["group", "studies", "readers", "bones", "pos / neg", "sensitivity (95 % CI)",
              "specificity (95 % CI)", "PPV (95 % CI)", "kappa", "Dice", "volume bias (LoA) ml"]
    out = []
    for s in rows:
        c, v = s.confusion, s.volume
        dice = s.dice_pooled if math.isfinite(s.dice_pooled) else s.dice_mean
        loa = f"{_f(v.bias)} ({_f(v.lower)} to {_f(v.upper)})" if v.n else "-"
        out.append([s.value, str(s.studies), str(s.readers), str(s.bones),
                    f"{c.positives} / {c.negatives}", _ci(s, "sensitivity"),
                    _ci(s, "specificity"), _ci(s, "ppv"), _f(s.kappa), _f(dice), loa])
    return ReportTable(title, header, out, intro)


def _tables(inp: ReportInput) -> list[ReportTable]:
    by = {g: [s for s in inp.summaries if s.group == g]
          for g in ("overall", "bone", "scanner", "sequence", "reader")}
    scanner_intro = ("Manufacturer, model and field strength are not recorded in this "
                     "store: every study is in the group 'not recorded'."
                     if not inp.reads.scanner_recorded else "")
    tables = [
        _group_table("Overall (bone level)", by["overall"],
                     "Detector calls against the readers' confirmed and rejected reads; "
                     "intervals are Wilson 95 %. Dice: pooled voxel Dice of candidate "
                     "and final masks."),
        _group_table("Per bone", by["bone"], "Dice: mean per-bone Dice where either "
                     "called edema."),
        _group_table("Per scanner", by["scanner"], scanner_intro),
        _group_table("Per fluid-sensitive sequence", by["sequence"]),
        _group_table("Per reader", by["reader"]),
    ]
    how = Counter((b.how, b.reader_call) for b in inp.reads.bone_reads)
    label = {True: "positive", False: "negative", None: "left out (undecided)"}
    tables.append(ReportTable("How the reads were made", ["reader's read", "counted as", "bones"],
                         [[h, label[c], str(n)] for (h, c), n in sorted(
                             how.items(), key=lambda x: (str(x[0][1]), x[0][0]))]))
    op = inp.roc.operating
    roc_rows = [["AUC (bone level)", _f(inp.roc.auc, 3)],
                ["current operating point: sensitivity / specificity",
                 f"{_f(op.sensitivity)} / {_f(op.specificity)}"],
                ["current threshold (lowest score called positive)",
                 _f(inp.roc.operating_threshold, 4)]]
    if inp.froc:
        last = inp.froc[-1]
        roc_rows.append([("FROC operating point: lesions found / false-positive regions "
                         "per study"),
                         f"{last.lesions_found} of {last.lesions} / {_f(last.fp_per_study)}"])
    tables.append(ReportTable("ROC and FROC", ["what", "value"], roc_rows,
                         "Score of a bone: the detector's score when it gives one, else "
                         "0.5 + confidence / 2 for a positive call and 0.5 - confidence / 2 "
                         "for a negative one. FROC regions: connected candidate regions, "
                         "true when they touch the reader's final edema."))
    tables.append(ReportTable("Reliability (stated confidence)", [
        "bin", "bones", "mean stated", "observed positive (95 % CI)"],
        [[f"{r['bin_low']:.1f}-{r['bin_high']:.1f}", str(r["bones"]),
          _f(r["mean_probability"]),
          f"{_f(r['observed_positive'])} ({_f(r['observed_low'])}-{_f(r['observed_high'])})"]
         for r in inp.reliability]))
    tables.append(_site_table(inp))
    if inp.reads.skipped:
        counts = Counter(reason for _, reason in inp.reads.skipped)
        tables.append(ReportTable("Left out", ["reason", "reads"],
                             [[r, str(n)] for r, n in sorted(counts.items())]))
    return tables


def _site_table(inp: ReportInput) -> ReportTable:
    if inp.site is None:
        intro = inp.fit_refused or "No site settings were fitted (run with --fit)."
        return ReportTable("Site settings", ["what", "value"], [], intro)
    e = inp.site.expected
    rows = [["file", str(inp.site_path) if inp.site_path else "-"],
            ["decision threshold (bone score)", _f(inp.site.bone_score_min or math.nan, 4)]]
    for name in ("sensitivity", "specificity", "ppv"):
        lo, hi = e.get(f"{name}_ci", [math.nan, math.nan])
        rows.append([f"expected {name} (95 % CI)",
                     f"{_f(e.get(name, math.nan))} ({_f(lo)}-{_f(hi)})"])
    if inp.site.calibration is not None:
        cal = inp.site.calibration
        rows.append(["calibration", (f"logistic, intercept {cal.intercept:.3f}, "
                                    f"slope {cal.slope:.3f}")])
    return ReportTable("Site settings", ["what", "value"], rows,
                  "Fitted on these reads; load with `bmes detect --config FILE` or "
                  "BMES_CONFIG.")


def _meta(inp: ReportInput) -> list[str]:
    r = inp.reads
    decided = r.decided
    pos = sum(1 for b in decided if b.reader_call)
    times = sorted(s.read_at for s in r.studies)
    span = (f"{times[0].date().isoformat()} to {times[-1].date().isoformat()}"
            if times else "-")
    sequences = sorted({s.sequence for s in r.studies})
    return [f"generated {inp.generated} from the store {inp.store}",
            (f"measured on {len(r.study_uids)} studies, {len(r.studies)} final reads by "
            f"{len(r.readers)} reader(s), read {span}"),
            (f"{len(decided)} bone reads: {pos} positive, {len(decided) - pos} negative; "
            f"{len(r.bone_reads) - len(decided)} left undecided (candidates not confirmed "
            "or rejected) are not counted"),
            "filters: " + (", ".join(inp.filters) if inp.filters else "none"),
            "fluid-sensitive sequences: " + (", ".join(sequences) or NOT_RECORDED)]


def write_report(inp: ReportInput, out: Path) -> list[Path]:
    """Write ``OUT/report.md`` and ``OUT/report.html``; return both paths."""
    title = "Detector validation against the site's reads"
    meta = _meta(inp)
    tables = _tables(inp)
    md = write_text_atomic(out / "report.md", markdown_page(title, meta, tables, inp.plots, out))
    page = write_text_atomic(out / "report.html",
                             html_page(title, meta, tables, inp.plots, out, plots_first=True))
    return [md, page]
