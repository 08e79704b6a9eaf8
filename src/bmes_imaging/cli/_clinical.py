"""``bmes clinical``: import, check, show and link clinical records.

::

    bmes clinical import FILE [--dry-run] [--db URL]
    bmes clinical show PATIENT [--db URL] [--reference-ranges RANGES.json]
    bmes clinical link [--mapping MAP.csv] [--relink] [--db URL]
    bmes clinical template OUT.csv

``--db`` takes a SQLAlchemy URL or a SQLite file path (default ``$BMES_DB``, else
``~/.local/share/bmes-imaging/bmes.sqlite``).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._db import add_db_option

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``clinical`` subcommand and its actions."""
    parser = subparsers.add_parser(
        "clinical", help="import, check, show and link clinical records",
        description="Clinical records (Table 1 layout or the template with labs) in the "
                    "store: import all-or-nothing, show a patient, link DICOM studies.")
    actions = parser.add_subparsers(dest="clinical_action", metavar="ACTION", required=True)

    def db_option(p: argparse.ArgumentParser) -> None:
        add_db_option(p)
        p.add_argument("--init", action="store_true",
                       help="make a new store in an existing EMPTY file (an empty or "
                            "foreign file is refused otherwise)")

    p_import = actions.add_parser("import", help="import a CSV/XLSX clinical table")
    p_import.add_argument("file", metavar="FILE", help="CSV (UTF-8) or XLSX table")
    p_import.add_argument("--dry-run", action="store_true",
                          help="only check the file and report every problem at once")
    db_option(p_import)

    p_show = actions.add_parser("show", help="show a patient's records and linked studies")
    p_show.add_argument("patient", metavar="PATIENT", help="pseudonymous patient key")
    p_show.add_argument("--reference-ranges", metavar="JSON",
                        help='lab reference ranges JSON, e.g. {"esr_mm_h": [null, 15]} '
                             '(default: $BMES_LAB_RANGES, else built-in adult limits)')
    db_option(p_show)

    p_link = actions.add_parser(
        "link", help="link registered DICOM studies to clinical feet",
        description="Link by DICOM PatientID = patient key, or by a mapping table CSV with "
                    "columns patient, patient_id; side from laterality. Lists what stays "
                    "unlinked; never guesses.")
    p_link.add_argument("--mapping", metavar="CSV", help="mapping table (patient, patient_id)")
    p_link.add_argument("--relink", action="store_true", help="re-link linked studies too")
    p_link.add_argument("--dicom", metavar="FOLDER",
                        help="first index this DICOM folder and register its studies")
    p_link.add_argument("--show-identifiers", action="store_true",
                        help="print patient keys that are DICOM PatientIDs (default: hidden)")
    db_option(p_link)

    p_tpl = actions.add_parser("template", help="write the clinical template CSV")
    p_tpl.add_argument("out", metavar="OUT", help="file to write (CSV)")
    parser.set_defaults(func=run)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return "+".join(b.bone_name for b in value) or "-"
    return str(value)


def run(args: argparse.Namespace) -> int:
    """Run ``bmes clinical ACTION``."""
    action = args.clinical_action
    if action == "template":
        from ..clinical import write_template

        print(write_template(args.out))
        return 0
    if action == "import" and args.dry_run:
        return _dry_run(args)
    from ..store import open_store

    with open_store(args.db, init=args.init) as store:
        if action == "import":
            report = store.import_clinical(args.file)
            print(f"imported {report.file_name}: {report.n_patients} patients, "
                  f"{report.n_feet} feet ({report.n_new_feet} new, "
                  f"{report.n_updated_feet} updated)")
            return 0
        if action == "show":
            return _show(store, args)
        if action == "link":
            return _link(store, args)
    raise AssertionError(action)  # pragma: no cover


def _dry_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..clinical import read_clinical_table, validate_clinical_table

    errors = validate_clinical_table(args.file)
    if errors:
        for e in errors:
            print(e)
        print(f"{len(errors)} problem(s); nothing would be imported")
        return 1
    records = read_clinical_table(args.file)
    summary = f"{len({r.patient for r in records})} patients, {len(records)} feet"
    if args.db is not None or _default_store_exists():
        from ..store import open_store

        with open_store(args.db) as store:
            report = store.import_clinical(args.file, dry_run=True)
        summary += f" ({report.n_new_feet} new, {report.n_updated_feet} would be updated)"
    print(f"{Path(args.file).name}: valid, {summary}; dry run, nothing imported")
    return 0


def _default_store_exists() -> bool:
    import os

    from ..store import DB_ENV, default_db_path

    return bool(os.environ.get(DB_ENV)) or default_db_path().exists()


def _show(store: Any, args: argparse.Namespace) -> int:
    from ..clinical import LabReferenceRanges
    from ..errors import ClinicalRecordError, StoreError

    try:
        ranges = (LabReferenceRanges.from_json(args.reference_ranges)
                  if args.reference_ranges else LabReferenceRanges.configured())
    except (OSError, ValueError) as exc:
        raise ClinicalRecordError(f"cannot use the lab reference ranges: {exc}") from None
    records = store.clinical_records(args.patient)
    if not records:
        raise StoreError("no clinical record for this patient key; check it or import "
                         "the clinical table first")
    studies: dict[str, list[str]] = {}
    for uid in store.studies():
        foot = store.study_foot(uid)
        if foot is not None and foot[0] == records[0].patient:
            studies.setdefault(foot[1], []).append(uid)
    first = records[0]
    print(f"patient {first.patient}: age {first.age}, sex {first.sex}, rheumatoid arthritis "
          f"{_fmt(first.rheumatoid_arthritis)}")
    for r in records:
        print(f"  foot {r.side}: primary {_fmt(r.primary_bones)}, other {_fmt(r.other_bones)}")
        print(f"    symptoms {_fmt(r.symptom_months)} months, complaint to visit "
              f"{_fmt(r.complaint_to_visit_months)} months, follow-up "
              f"{_fmt(r.follow_up_months)} months")
        unit = f" (recorded in {r.vitamin_d_unit})" if r.vitamin_d_unit else ""
        print(f"    25(OH)D {_fmt(r.vitamin_d_ng_ml)} ng/mL{unit}: {_fmt(r.vitamin_d_class)}")
        for lab, flag in ranges.flags(r).items():
            value = getattr(r, lab)
            if value is not None:
                rng = getattr(ranges, lab)
                print(f"    {lab} {_fmt(value)} {rng.unit}: {flag}")
        print(f"    AOFAS {_fmt(r.aofas_initial)} -> {_fmt(r.aofas_final)} "
              f"(change {_fmt(r.aofas_change)})")
        for uid in studies.get(r.side, []):
            print(f"    study {uid}")
    return 0


def _link(store: Any, args: argparse.Namespace) -> int:
    if args.dicom:
        from ..dicom import index_folder

        index = index_folder(args.dicom)
        for stack in index.stacks:
            store.register_study(stack)
    report = store.link_studies(args.mapping, relink=args.relink)
    hidden = 0
    for item in report.linked:
        # linked by PatientID, the patient key IS the DICOM PatientID: an identifier
        show = args.show_identifiers or item.method != "patient_id"
        hidden += not show
        print(f"linked   study {item.study_instance_uid} -> patient "
              f"{item.patient if show else '<PatientID>'} foot {item.side} (by {item.method})")
    for uid, reason in report.unlinked_studies:
        print(f"UNLINKED study {uid}: {reason}")
    for patient, side in report.unlinked_records:
        print(f"NO STUDY patient {patient} foot {side}")
    print(f"{len(report.linked)} linked, {len(report.unlinked_studies)} studies unlinked, "
          f"{len(report.unlinked_records)} feet without a study")
    if hidden:
        print(f"({hidden} patient key(s) equal to the DICOM PatientID not shown; "
              "--show-identifiers prints them)")
    return 0
