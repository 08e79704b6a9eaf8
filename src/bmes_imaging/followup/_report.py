"""The follow-up section of a report: per foot and per bone over time, and the plots.

De-identified output (pseudonyms) gives days since the baseline instead of calendar
dates (dates identify a patient as much as a name does).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._atomic import write_bytes_atomic
from ._change import CourseThresholds, bone_changes, foot_course
from ._run import FollowUpResult
from ._timeline import Timeline

__all__ = ["follow_up_section", "follow_up_tables", "plot_timeline", "plot_timelines",
           "write_follow_up"]

THRESHOLD_TEXT = ("Course since the previous study: resolved (below {r:g} mL now), new "
                  "(from below {r:g} mL), improving / worse (volume down / up by at least "
                  "{m:g} mL and {f:.0%} of the previous volume), stable otherwise; "
                  "docs/followup.md.")


def _when(p: Any, dated: bool) -> str:
    if dated and p.study.study_date is not None:
        return p.study.study_date.isoformat()
    return "baseline" if p.index == 0 else (f"day {p.days}" if p.days is not None else "?")


def _ml(v: float | None) -> str:
    return "" if v is None else f"{v:+.2f}" if v else "0.00"


def _aofas(rec: Any, index: int, last: int) -> str:
    if rec is None:
        return ""
    v = (getattr(rec, "aofas_initial", None) if index == 0
         else getattr(rec, "aofas_final", None) if index == last else None)
    return "" if v is None else f"{float(v):g}"


def _foot_rows(result: FollowUpResult, recs: Mapping[tuple[str, str], Any],
               name_of: Callable[[str], str], dated: bool, t: CourseThresholds
               ) -> list[list[str]]:
    rows = []
    for tl in result.timelines:
        courses = foot_course(tl, t)
        first, last = tl.points[0], tl.points[-1]
        v0, v1 = courses[0][1], courses[-1][1]
        reg = result.registrations.get((tl.patient, tl.side, last.index))
        rec = recs.get((tl.patient, tl.side))
        a0, a1 = _aofas(rec, 0, -1), _aofas(rec, last.index, last.index)
        rows.append([
            name_of(tl.patient), tl.side, str(len(tl.points)),
            f"{_when(first, dated)} -> {_when(last, dated)}" if len(tl.points) > 1
            else _when(first, dated),
            f"{v0:.2f} -> {v1:.2f}" if len(tl.points) > 1 else f"{v0:.2f}",
            f"{v1 - v0:+.2f}" if len(tl.points) > 1 else "",
            courses[-1][2] if len(tl.points) > 1 else "baseline only",
            f"{a0} -> {a1}" if len(tl.points) > 1 and (a0 or a1) else a0,
            ("" if len(tl.points) == 1 else "not registered" if reg is None else
             f"{reg.rms_mm:.1f} mm rms, {reg.rotation_deg:.1f} deg, "
             f"{float((reg.matrix[:3, 3] ** 2).sum() ** 0.5):.1f} mm"),
        ])
    return rows


def follow_up_tables(result: FollowUpResult, records: Sequence[Any],
                     name_of: Callable[[str], str], *, dated: bool = True,
                     thresholds: CourseThresholds | None = None) -> list[Any]:
    """The follow-up section as :class:`~bmes_imaging.export._page.ReportTable` s.

    Parameters
    ----------
    result
        :func:`~bmes_imaging.followup.follow_up_screened` output.
    records
        Clinical records (AOFAS at diagnosis and at last control).
    name_of
        Patient naming (pseudonyms when de-identified).
    dated
        Show calendar dates (else days since the baseline).
    thresholds
        Course thresholds.
    """
    from ..export._page import ReportTable

    t = thresholds or CourseThresholds()
    recs = {(str(r.patient), str(r.side).upper()): r for r in records}
    foot_rows = _foot_rows(result, recs, name_of, dated, t)
    bone_rows: list[list[str]] = []
    last_course: Counter[str] = Counter()
    for tl in result.timelines:
        changes = bone_changes(tl, t)
        shown = {c.bone for c in changes if c.edema_ml >= t.resolved_ml}
        for c in changes:
            if c.bone not in shown:
                continue
            over = result.overlaps.get((tl.patient, tl.side, c.index), {}).get(c.bone)
            p = tl.points[c.index]
            bone_rows.append([
                name_of(tl.patient), tl.side, c.bone.display_name, _when(p, dated),
                f"{c.edema_ml:.2f}", "" if c.fraction is None else f"{c.fraction:.0%}",
                "" if c.grade is None else str(c.grade),
                _ml(c.change_since_baseline_ml), _ml(c.change_since_previous_ml), c.course,
                "" if over is None else f"{over.persisting_ml:.2f} / {over.new_ml:.2f}"])
            if c.index == len(tl.points) - 1 and c.index > 0:
                last_course[c.course] += 1
    if any(isinstance(r[0], str) and r[0].startswith("P-") for r in foot_rows):
        foot_rows.sort(key=lambda r: (r[0], r[1]))
        bone_rows.sort(key=lambda r: (r[0], r[1], r[2]))
    n_fu = len(result.with_follow_up)
    intro = (f"{n_fu} of {len(result.timelines)} feet have a follow-up study "
             f"({result.status} findings). Each follow-up is registered rigidly to its "
             "baseline from the bone masks (centroid fit; rms residual, rotation and shift "
             "shown). AOFAS: at diagnosis for the baseline, at last control for the last "
             "study. " + THRESHOLD_TEXT.format(r=t.resolved_ml, m=t.min_change_ml,
                                              f=t.min_change_fraction))
    if result.notes:
        intro += " Notes: " + "; ".join(result.notes) + "."
    counts = [[c, str(last_course.get(c, 0))]
              for c in ("resolved", "improving", "stable", "worse", "new")]
    return [
        ReportTable("Follow-up per foot", [
            "patient", "side", "studies", "dates" if dated else "when",
            "edema, baseline -> last (mL)", "change (mL)", "course", "AOFAS",
            "registration"], foot_rows, intro),
        ReportTable("Follow-up: course of the bones at the last study", ["course", "bones"],
                    counts, "Bones with edema (at least "
                    f"{t.resolved_ml:g} mL) at any study of feet with a follow-up."),
        ReportTable("Follow-up per bone and date", [
            "patient", "side", "bone", "date" if dated else "when", "edema (mL)", "fraction",
            "grade", "since baseline (mL)", "since previous (mL)", "course",
            "persisting / new (mL)"], bone_rows,
            "Persisting: follow-up edema where the baseline had edema in the registered "
            "images; new: where it had none (edema that moved or appeared)."),
    ]


def _foot_axes(ax: Any, tl: Timeline, title: str, t: CourseThresholds) -> None:
    changes = bone_changes(tl, t)
    shown = sorted({c.bone for c in changes if c.edema_ml >= t.resolved_ml})
    for bone in shown:
        pts = [(c.days or 0, c.edema_ml) for c in changes if c.bone == bone]
        ax.plot([d / 30.4375 for d, _ in pts], [v for _, v in pts], marker="o",
                color=tuple(x / 255 for x in bone.color), label=bone.display_name)
    ax.set_title(title, fontsize="small")
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize="x-small")
    if shown:
        ax.legend(fontsize="xx-small", loc="upper right")


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return write_bytes_atomic(path, buf.getvalue())


def plot_timeline(tl: Timeline, path: Path, title: str,
                  thresholds: CourseThresholds | None = None) -> Path:
    """One foot: edema volume over time (months since baseline), one line per bone."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 3.2))
    ax = fig.add_subplot()
    _foot_axes(ax, tl, title, thresholds or CourseThresholds())
    ax.set_xlabel("months since baseline")
    ax.set_ylabel("edema (mL)")
    return _save(fig, path)


def plot_timelines(timelines: Sequence[Timeline], path: Path,
                   name_of: Callable[[str], str],
                   thresholds: CourseThresholds | None = None) -> Path | None:
    """Small multiples: every foot with a follow-up (pseudonym order when de-identified)."""
    from matplotlib.figure import Figure

    feet = [tl for tl in timelines if len(tl.points) > 1]
    if not feet:
        return None
    if any(name_of(tl.patient).startswith("P-") for tl in feet):
        feet.sort(key=lambda tl: (name_of(tl.patient), tl.side))
    cols = 4
    rows = (len(feet) + cols - 1) // cols
    fig = Figure(figsize=(3.0 * cols, 2.2 * rows))
    t = thresholds or CourseThresholds()
    for n, tl in enumerate(feet):
        ax = fig.add_subplot(rows, cols, n + 1)
        _foot_axes(ax, tl, f"{name_of(tl.patient)} {tl.side}", t)
    fig.supxlabel("months since baseline")
    fig.supylabel("edema (mL)")
    fig.suptitle("Edema volume per bone over time")
    fig.tight_layout()
    return _save(fig, path)


def follow_up_section(result: FollowUpResult, records: Sequence[Any], *, dated: bool = True,
                      thresholds: CourseThresholds | None = None
                      ) -> Callable[[Path, Callable[[str], str]], tuple[list[Any], list[Path]]]:
    """The follow-up section for :func:`bmes_imaging.export.write_cohort_report`'s
    ``extra``: its tables and the timeline plot (``plots/followup_timelines.png``)."""

    def extra(out: Path, name_of: Callable[[str], str]) -> tuple[list[Any], list[Path]]:
        tables = follow_up_tables(result, records, name_of, dated=dated,
                                  thresholds=thresholds)
        plot = plot_timelines(result.timelines, out / "plots" / "followup_timelines.png",
                              name_of, thresholds)
        return tables, [plot] if plot is not None else []

    return extra


def write_follow_up(result: FollowUpResult, records: Sequence[Any], out_dir: str | Path, *,
                    pseudonymizer: Any = None, fmt: str = "markdown",
                    provenance: Any = None,
                    thresholds: CourseThresholds | None = None) -> list[Path]:
    """Write the follow-up: page, tables (long and wide, CSV and XLSX) and plots.

    Parameters
    ----------
    result
        :func:`~bmes_imaging.followup.follow_up_screened` output.
    records
        Clinical records (AOFAS scores).
    out_dir
        Output folder: ``followup.md`` / ``.html``, ``followup_long.csv`` / ``.xlsx``,
        ``followup_wide.csv`` / ``.xlsx`` (each CSV with its ``.dictionary.csv``),
        ``plots/followup_timelines.png`` and ``plots/feet/<foot>.png``.
    pseudonymizer
        Patients by pseudonym (and days instead of dates) when given.
    fmt
        ``"markdown"`` or ``"html"``.
    provenance
        :class:`~bmes_imaging.export.Provenance` stated at the top of the page.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from .._atomic import write_text_atomic
    from ..export._page import ReportTable, html_page, markdown_page
    from ..export._tables import LONG_COLUMNS, long_rows, wide_columns, wide_rows, write_table

    out = Path(out_dir)
    dated = pseudonymizer is None
    name_of: Callable[[str], str] = (pseudonymizer.patient if pseudonymizer is not None
                                     else (lambda p: p))
    files: list[Path] = []
    about = [f"Follow-up of {len(result.timelines)} feet, {result.status} findings"]
    if provenance is not None and provenance.caveat():
        about.append(provenance.caveat())
    long = long_rows(result.timelines, records, pseudonymizer=pseudonymizer,
                     thresholds=thresholds)
    wide = wide_rows(result.timelines, records, pseudonymizer=pseudonymizer,
                     thresholds=thresholds)
    if not dated:
        for r in (*long, *wide):
            r["study_date"] = ""
    for suffix in (".csv", ".xlsx"):
        files.append(write_table(long, LONG_COLUMNS, out / f"followup_long{suffix}",
                                 sheet="long", about=about))
        files.append(write_table(wide, wide_columns(), out / f"followup_wide{suffix}",
                                 sheet="wide", about=about))
    tables, plots = follow_up_section(result, records, dated=dated,
                                      thresholds=thresholds)(out, name_of)
    for tl in result.with_follow_up:
        name = f"{name_of(tl.patient)}_{tl.side}"
        files.append(plot_timeline(tl, out / "plots" / "feet" / f"{name}.png",
                                   f"{name_of(tl.patient)} {tl.side}", thresholds))
    if provenance is not None:
        tables.insert(0, ReportTable("Data provenance", ["item", "value"], provenance.rows(),
                                     provenance.caveat(),
                                     alert=provenance.images == "phantom"
                                     and provenance.phantom_from_table))
    render = html_page if fmt == "html" else markdown_page
    text = render("BMES follow-up", [f"Feet: {len(result.timelines)}, with follow-up: "
                                     f"{len(result.with_follow_up)}"], tables, plots, out)
    files.append(write_text_atomic(out / ("followup.html" if fmt == "html"
                                          else "followup.md"), text))
    return files + plots
