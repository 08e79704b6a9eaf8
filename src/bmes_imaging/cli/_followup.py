"""``bmes follow-up``: studies of the same foot at several dates, registered and compared.

Examples
--------
::

    bmes follow-up 7 --screen screen/ --images archive/ --db bmes.sqlite --out fu/
    bmes follow-up --all --screen screen/ --images archive/ --db bmes.sqlite --format html
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ._export import add_pseudonym_options, pseudonymizer_from_args


def register(subparsers: Any) -> None:
    """Add the ``follow-up`` subcommand."""
    p = subparsers.add_parser(
        "follow-up", help="edema per bone over time: follow-up studies registered to the "
                          "baseline, change and course, with the AOFAS scores",
        description="Group the screened studies of each foot by date (the store's links, "
                    "the archive's study dates), register every follow-up rigidly to its "
                    "baseline, and report per bone and date: edema volume, fraction, "
                    "grade, change since baseline and since the previous study, course "
                    "(resolved / improving / stable / worse / new; thresholds in "
                    "docs/followup.md), with the AOFAS scores; plots per foot; long and "
                    "wide tables (CSV with data dictionary, XLSX).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("patient", nargs="?", help="clinical patient key (both feet), or --all")
    p.add_argument("--all", action="store_true", help="every foot")
    p.add_argument("--screen", type=Path, required=True, metavar="DIR",
                   help="bmes screen output folder (involvement.csv and label maps)")
    p.add_argument("--images", type=Path, required=True, metavar="ROOT",
                   help="the screened image folder (study dates; provenance)")
    p.add_argument("--db", "--store", dest="store", metavar="URL",
                   help="store with the clinical records and study links (default "
                        "$BMES_DB); without it, studies link by PatientID and laterality")
    p.add_argument("--clinical", type=Path, metavar="TABLE",
                   help="clinical table for the AOFAS scores when no store is used")
    p.add_argument("--status", choices=("candidate", "confirmed"), default="candidate",
                   help="findings to follow (default: candidate, the screening output)")
    p.add_argument("--out", type=Path, default=Path("followup"),
                   help="output folder (default: ./followup)")
    p.add_argument("--format", choices=("markdown", "html"), default="markdown")
    add_pseudonym_options(p, default=True, what="pseudonyms and days since baseline "
                                                "instead of numbers and dates")
    p.set_defaults(func=run)


def _links_and_records(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    from ..export import read_records

    url = args.store or (None if args.clinical else os.environ.get("BMES_DB") or None)
    records: list[Any] = read_records(args.clinical) if args.clinical else []
    if url is None:
        return None, records
    from ..store import open_store

    with open_store(url) as store:
        links = store.study_links()
        if not records:
            records = list(store.clinical_records())
    return links, records


def run(args: argparse.Namespace) -> int:
    """Build the timelines, register, write the follow-up; print one line per foot."""
    from ..export import Provenance, images_provenance
    from ..followup import follow_up_screened, foot_course, study_dates, write_follow_up

    if bool(args.patient) == bool(args.all):
        print("bmes follow-up: error: give one PATIENT or --all", file=sys.stderr)
        return 2
    links, records = _links_and_records(args)
    feet = None
    if args.patient:
        feet = [(str(args.patient), "L"), (str(args.patient), "R")]
    result = follow_up_screened(args.screen, dates=study_dates(args.images), links=links,
                                status=args.status, feet=feet)
    if not result.timelines:
        print(f"bmes follow-up: no {args.status} findings of "
              f"{'this patient' if args.patient else 'any foot'} in the screening output",
              file=sys.stderr)
        return 1
    pseudo = pseudonymizer_from_args(args)
    images, source, from_table = images_provenance(args.images, records,
                                                   show_path=not args.deidentify)
    prov = Provenance(images=images, image_source=source, phantom_from_table=from_table,
                      findings_source=f"{args.status} findings of {args.screen.name}",
                      readers=("detector",) if args.status == "candidate" else (),
                      notes=tuple(result.notes))
    files = write_follow_up(result, records, args.out, pseudonymizer=pseudo,
                            fmt=args.format, provenance=prov)
    shown = result.timelines
    if pseudo is not None:  # pseudonym order, not the source order
        shown = sorted(shown, key=lambda t: (pseudo.patient(t.patient), t.side))
    for tl in shown:
        name = pseudo.patient(tl.patient) if pseudo else tl.patient
        courses = foot_course(tl)
        reg = result.registrations.get((tl.patient, tl.side, tl.points[-1].index))
        line = (f"{name} {tl.side}: {len(tl.points)} studies, edema "
                + " -> ".join(f"{v:.2f}" for _, v, _ in courses) + " mL")
        if len(tl.points) > 1:
            line += f" ({courses[-1][2]})"
            line += (f", registered ({reg.rms_mm:.1f} mm rms)" if reg is not None
                     else ", not registered")
        print(line)
    print(next(f for f in files if f.stem == "followup" and f.suffix in (".md", ".html")))
    return 0
