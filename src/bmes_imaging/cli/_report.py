"""``bmes report``: the cohort report recomputed from the clinical records and findings.

Examples
--------
::

    bmes report table1_clinical.csv --stated sample_data/study_text_figures.json --out report/
    bmes report table1_clinical.csv --findings screen_out/involvement.csv --format html
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


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
    p.add_argument("--status", choices=("confirmed", "candidate"), default="confirmed",
                   help="which findings to count (never mixed; default: confirmed)")
    p.add_argument("--stated", type=Path, metavar="FIGURES",
                   help="stated figures (JSON/YAML/CSV, e.g. a paper's text) to check")
    p.add_argument("--format", choices=("markdown", "html"), default="markdown")
    p.add_argument("--deidentify", action=argparse.BooleanOptionalAction, default=True,
                   help="replace patient numbers by stable pseudonyms (default: on)")
    p.add_argument("--key-file", type=Path,
                   help="pseudonym key file (default: $BMES_PSEUDONYM_KEY_FILE or the "
                        "user data folder; created on first use)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; print its path and the number of disagreements."""
    from ..export import (
        findings_from_store,
        load_pseudonym_key,
        read_findings_table,
        write_cohort_report,
    )

    if args.clinical is None and args.store is None:
        args.store = os.environ.get("BMES_DB") or None  # --db, else $BMES_DB
    if args.clinical is None and args.store is None:
        print("bmes report: error: give the clinical table or --db", file=sys.stderr)
        return 2
    store = None
    if args.store is not None:
        from ..store import open_store

        store = open_store(args.store)
    try:
        records: Any = args.clinical
        if records is None:
            assert store is not None
            records = store.clinical_records()
        if args.findings:
            findings: Any = read_findings_table(args.findings, status=args.status)
        elif store is not None:
            findings = findings_from_store(store, status=args.status)
        else:
            findings = ()
    finally:
        if store is not None:
            store.close()
    key = load_pseudonym_key(args.key_file) if args.deidentify else None
    report = write_cohort_report(records, args.out, findings=findings,
                                 stated=args.stated, fmt=args.format,
                                 deidentify=args.deidentify, pseudonym_key=key)
    print(report.path)
    if args.stated is not None:
        dis = report.disagreements
        print(f"{len(dis)} stated figure(s) disagree with the records", file=sys.stderr)
        for c in dis:
            print(f"  {c.label}: stated {c.stated.value:.{c.stated.decimals}f} "
                  f"({c.stated.where}), recomputed {c.recomputed} [{c.status}]",
                  file=sys.stderr)
    return 0
