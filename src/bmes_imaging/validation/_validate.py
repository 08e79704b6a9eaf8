"""``validate``: measure the detector on the store's reads and write every output."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._atomic import write_csv_atomic
from .._outbound import csv_cell
from ._calibration import RELIABILITY_COLUMNS, reliability_table
from ._fit import MIN_NEGATIVE, MIN_POSITIVE, fit_site_config
from ._metrics import SUMMARY_COLUMNS, GroupSummary, summary_rows
from ._plots import plot_bland_altman, plot_froc, plot_reliability, plot_roc
from ._reads import ReadSet, collect_reads
from ._report import ReportInput, write_report
from ._roc import FROC_COLUMNS, ROC_COLUMNS, FrocPoint, RocCurve, froc_curve, froc_rows, roc_curve
from ._site_config import SiteConfig, SiteConfigError, write_site_config

__all__ = ["BONE_READ_COLUMNS", "SITE_CONFIG_NAME", "ValidationResult", "validate"]

log = logging.getLogger(__name__)

#: Name of the fitted settings file in the output folder.
SITE_CONFIG_NAME = "site_config.toml"
#: Columns of ``bone_reads.csv``.
BONE_READ_COLUMNS = ("study_instance_uid", "series_instance_uid", "reader", "bone",
                     "bone_label", "score", "stated_probability", "detector_call",
                     "reader_call", "how", "detector_ml", "reader_ml", "dice", "sequence",
                     "scanner")


@dataclass
class ValidationResult:
    """What :func:`validate` measured and wrote."""

    reads: ReadSet
    summaries: list[GroupSummary]
    roc: RocCurve
    froc: list[FrocPoint]
    reliability: list[dict[str, Any]]
    site: SiteConfig | None = None
    site_path: Path | None = None
    fit_refused: str | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def overall(self) -> GroupSummary:
        """The overall figures."""
        return self.summaries[0]


def _csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    return write_csv_atomic(path, columns, [{k: csv_cell(v) for k, v in r.items()}
                                            for r in rows])


def _bone_rows(reads: ReadSet) -> list[dict[str, Any]]:
    def call(v: bool | None) -> str:
        return "" if v is None else ("positive" if v else "negative")

    return [{"study_instance_uid": b.study_instance_uid,
             "series_instance_uid": b.series_instance_uid or "", "reader": b.reader,
             "bone": b.bone.bone_name, "bone_label": int(b.bone), "score": round(b.score, 6),
             "stated_probability": b.stated_probability, "detector_call": call(b.detector_call),
             "reader_call": call(b.reader_call), "how": b.how,
             "detector_ml": round(b.detector_ml, 4), "reader_ml": round(b.reader_ml, 4),
             "dice": b.dice, "sequence": b.sequence, "scanner": b.scanner}
            for b in reads.bone_reads]


def validate(store: Any, out: str | os.PathLike[str], *, reader: str | None = None,
             since: datetime | None = None, fit: bool = False,
             target_sensitivity: float | None = None, min_positive: int = MIN_POSITIVE,
             min_negative: int = MIN_NEGATIVE) -> ValidationResult:
    """Measure the detector against the store's final reads and write the results.

    Writes to ``out``: ``summary.csv`` (overall, per bone, scanner, sequence, reader),
    ``bone_reads.csv``, ``roc.csv``, ``froc.csv``, ``reliability.csv``, the plots
    ``roc.png``, ``froc.png``, ``reliability.png``, ``bland_altman.png``, and
    ``report.md`` / ``report.html``; with ``fit``, ``site_config.toml`` too.

    Parameters
    ----------
    store
        An open store (only read; no review is changed).
    out
        Output folder (created).
    reader, since
        Only this reader's reads / reads saved at or after this time.
    fit
        Fit site settings (refused, and said why in the report, with too few reads).
    target_sensitivity
        Fit the strictest threshold that keeps this bone-level sensitivity.
    min_positive, min_negative
        Fewest positive / negative bone reads a fit accepts.

    Returns
    -------
    ValidationResult

    Raises
    ------
    SiteConfigError
        If ``fit`` is asked and there are too few reads (after writing the report).
    StoreError
        If the store holds no read to validate on.
    """
    from ..errors import StoreError

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    reads = collect_reads(store, reader=reader, since=since)
    if not reads.studies:
        why = f" ({len(reads.skipped)} left out: {reads.skipped[0][1]})" if reads.skipped \
            else ""
        raise StoreError("no reviewed study with stored detector candidates to validate "
                         f"on{why}; readers save reviews in `bmes view`")
    decided = reads.decided
    res = ValidationResult(reads, summary_rows(reads), roc_curve(decided), froc_curve(reads),
                           reliability_table([b.stated_probability for b in decided],
                                             [bool(b.reader_call) for b in decided]))
    refused: SiteConfigError | None = None
    if fit:
        try:
            res.site = fit_site_config(reads, target_sensitivity=target_sensitivity,
                                       min_positive=min_positive, min_negative=min_negative)
        except SiteConfigError as exc:
            refused, res.fit_refused = exc, str(exc)
    if res.site is not None:
        res.site_path = write_site_config(
            folder / SITE_CONFIG_NAME, res.site,
            header="bmes-imaging site settings, fitted by `bmes validate --fit` on this "
                   "site's reads.\nLoad with `bmes detect --config FILE` or BMES_CONFIG.")
        res.files.append(res.site_path)
    _write_outputs(res, folder, store, reader, since)
    if refused is not None:
        raise SiteConfigError(f"{refused}; the validation report (without site settings) "
                              f"is in {folder}") from None
    return res


def _write_outputs(res: ValidationResult, folder: Path, store: Any, reader: str | None,
                   since: datetime | None) -> None:
    calibrated = None
    if res.site is not None and res.site.calibration is not None:
        cal = res.site.calibration
        decided = res.reads.decided
        calibrated = reliability_table([float(cal.probability(b.score)) for b in decided],
                                       [bool(b.reader_call) for b in decided])
    res.files += [
        _csv(folder / "summary.csv", SUMMARY_COLUMNS, [s.row() for s in res.summaries]),
        _csv(folder / "bone_reads.csv", BONE_READ_COLUMNS, _bone_rows(res.reads)),
        _csv(folder / "roc.csv", ROC_COLUMNS, res.roc.rows()),
        _csv(folder / "froc.csv", FROC_COLUMNS, froc_rows(res.froc)),
        _csv(folder / "reliability.csv", RELIABILITY_COLUMNS, res.reliability),
    ]
    plots = [plot_roc(res.roc, folder / "roc.png",
                      res.site.bone_score_min if res.site is not None else None),
             plot_froc(res.froc, folder / "froc.png"),
             plot_reliability(res.reliability, folder / "reliability.png", calibrated),
             plot_bland_altman(res.reads.bone_reads, folder / "bland_altman.png")]
    filters = [f"reader {reader}"] if reader else []
    if since is not None:
        filters.append(f"reads since {since.date().isoformat()}")
    inp = ReportInput(res.reads, res.summaries, res.roc, res.froc, res.reliability, plots,
                      filters, repr(store).strip("<>").removeprefix("Store "),
                      datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                      res.site, res.site_path, res.fit_refused)
    res.files += plots + write_report(inp, folder)
