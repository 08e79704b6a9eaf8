"""``bmes report``: the cohort report recomputed from the clinical records and findings.

Examples
--------
::

    bmes report table1_clinical.csv --stated sample_data/study_text_figures.json --out report/
    bmes report table1_clinical.csv --findings screen_out/involvement.csv --format html \\
        --images archive/ --key ~/keys/study.key
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ._db import optional_store
from ._export import add_pseudonym_options


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report", help="cohort report (Markdown/HTML with plots) recomputed from the records",
        description="Recompute the study's summary from the clinical table (and optional "
                    "findings), plot it, and list where stated figures disagree. Patients "
                    "are pseudonymised by default.")
    p.add_argument("clinical", type=Path, nargs="?",
                   help="clinical table (CSV or XLSX), one row per patient; omit with --store")
    p.add_argument("--db", "--store", dest="store", metavar="URL",
                   help="annotation store (SQLAlchemy URL or SQLite path): clinical records "
                        "when no table is given, and reader findings when --findings is "
                        "not (default $BMES_DB when no table is given)")
    p.add_argument("--out", type=Path, default=Path("report"),
                   help="output folder (default: ./report)")
    p.add_argument("--findings", type=Path, metavar="INVOLVEMENT_CSV",
                   help="involvement.csv from bmes screen / detect, to count feet per bone")
    p.add_argument("--status", choices=("confirmed", "candidate"), default=None,
                   help="which findings to count (never mixed; default: confirmed, or "
                        "candidate when the findings file holds candidates only, which "
                        "the report then says)")
    p.add_argument("--images", type=Path, metavar="ROOT",
                   help="the image folder the findings come from (stated in the report's "
                        "provenance: phantoms or DICOM)")
    p.add_argument("--follow-up", dest="follow_up", type=Path, metavar="SCREEN_DIR",
                   help="add the follow-up section (bmes follow-up) from this bmes screen "
                        "output; needs --images for the study dates")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="site settings file the detection used (default: $BMES_CONFIG; "
                        "none: the detector's defaults)")
    p.add_argument("--stated", type=Path, metavar="FIGURES",
                   help="stated figures (JSON/YAML/CSV, e.g. a paper's text) to check")
    p.add_argument("--format", choices=("markdown", "html"), default="markdown")
    add_pseudonym_options(p, default=True,
                          what="replace patient numbers by stable pseudonyms")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; print its path and the number of disagreements."""
    from ..export import load_pseudonym_key, write_cohort_report
    from ..export._pseudonym import default_key_path

    if args.clinical is None and args.store is None:
        args.store = os.environ.get("BMES_DB") or None  # --db, else $BMES_DB
    if args.clinical is None and args.store is None:
        print("bmes report: error: give the clinical table or --db", file=sys.stderr)
        return 2
    with optional_store(args.store) as store:
        records: Any = args.clinical
        if records is None:
            assert store is not None
            records = store.clinical_records()
        findings, status, why = _findings(args, store)
        links = store.study_links() if store is not None else None
    from ..export import Provenance, images_provenance, settings_text
    from ..export._records import read_records

    recs = read_records(records) if isinstance(records, Path) else list(records)
    images, source, from_table = images_provenance(args.images, recs,
                                                   show_path=not args.deidentify)
    readers = sorted({r for f in findings for r in f.readers})
    prov = Provenance(
        images=images, image_source=source, phantom_from_table=from_table,
        findings_source=(f"{status} findings from {args.findings.name}" if args.findings
                         else f"{status} findings from the store" if store is not None
                         else "none"),
        detection=settings_text(args.config), readers=tuple(readers),
        notes=(why,) if why else ())
    extra = None
    if args.follow_up is not None:
        if args.images is None:
            print("bmes report: error: --follow-up needs --images (the study dates)",
                  file=sys.stderr)
            return 2
        from ..followup import follow_up_screened, follow_up_section, study_dates

        follow = follow_up_screened(args.follow_up, dates=study_dates(args.images),
                                    links=links, status=status)
        extra = follow_up_section(follow, recs, dated=not args.deidentify)
    key = load_pseudonym_key(args.key_file) if args.deidentify else None
    report = write_cohort_report(records if isinstance(records, Path) else recs, args.out,
                                 findings=findings,
                                 stated=args.stated, fmt=args.format,
                                 deidentify=args.deidentify, pseudonym_key=key,
                                 key_path=args.key_file or default_key_path(),
                                 provenance=prov, why_no_imaging=why, extra=extra)
    print(report.path)
    if why:
        print(f"bmes report: {why}", file=sys.stderr)
    if args.stated is not None:
        # the same two counts as the report's two sections
        print(report.disagreement_line(), file=sys.stderr)
        for c in report.disagreements:
            print(f"  {c.label}: stated {c.stated.value:.{c.stated.decimals}f} "
                  f"({c.stated.where}), recomputed {c.recomputed} [{c.status}]",
                  file=sys.stderr)
    return 0


def _findings(args: argparse.Namespace, store: Any) -> tuple[Any, str, str]:
    """``(findings, status, why the imaging columns are empty or what was chosen)``."""
    from ..export import findings_from_store, findings_statuses, read_findings_table

    status = args.status or "confirmed"
    if args.findings:
        counts = findings_statuses(args.findings)
        held = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no rows"
        why = ""
        if args.status is None and not counts.get("confirmed") and counts.get("candidate"):
            status = "candidate"
            why = (f"{args.findings.name} holds candidate findings only (unreviewed "
                   "detector output): they are reported as candidates")
        studies, note = _baseline_studies(args)
        findings = read_findings_table(args.findings, status=status, studies=studies)
        if note:
            why = (why + "; " if why else "") + note
        if not findings:
            why = (f"{args.findings.name} holds no {status} findings ({held} rows with "
                   "edema); choose --status to match")
        return findings, status, why
    if store is not None:
        findings = findings_from_store(store, status=status)
        why = "" if findings else f"the store holds no {status} findings"
        return findings, status, why
    return (), status, ""


def _baseline_studies(args: argparse.Namespace) -> tuple[set[str] | None, str]:
    """The first study of each foot when the findings hold several (dates from
    ``--images``); ``None`` when each foot has one study or no dates are known."""
    from ..followup import first_study_of_each_foot

    return first_study_of_each_foot(args.findings, args.images)

