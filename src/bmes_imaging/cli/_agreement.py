"""``bmes agreement``: inter-reader agreement from the store.

::

    bmes agreement READER_A READER_B [--study UID ...] [--db URL] [--json]

Cohen's kappa of bone involvement and Dice of the edema masks between the latest
annotations of two readers, per study and pooled.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ._db import add_db_option

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``agreement`` subcommand."""
    parser = subparsers.add_parser(
        "agreement", help="kappa of bone involvement and Dice of edema masks between readers",
        description="Compare two readers' latest annotations in the store: Cohen's kappa "
                    "of bone involvement and Dice of the edema masks, per study and pooled.")
    parser.add_argument("reader_a", metavar="READER_A")
    parser.add_argument("reader_b", metavar="READER_B")
    parser.add_argument("--study", action="append", metavar="UID",
                        help="only this StudyInstanceUID (repeatable)")
    add_db_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _num(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    """Run ``bmes agreement``."""
    from ..store import open_store, reader_agreement

    with open_store(args.db) as store:
        report = reader_agreement(store, args.reader_a, args.reader_b, args.study)
    if args.json:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else x

        print(json.dumps({
            "reader_a": report.reader_a, "reader_b": report.reader_b,
            "pooled_kappa": clean(report.pooled_kappa),
            "pooled_dice": clean(report.pooled_dice),
            "studies": [{"study_instance_uid": s.study_instance_uid, "kappa": clean(s.kappa),
                         "dice": clean(s.dice), "involved_a": list(s.involved_a),
                         "involved_b": list(s.involved_b), "version_a": s.version_a,
                         "version_b": s.version_b,
                         "series_instance_uid": s.series_instance_uid}
                        for s in report.studies],
            "skipped": [{"study_instance_uid": u, "reason": r} for u, r in report.skipped],
        }, indent=2))
        return 0
    print(f"{'study':<64} {'kappa':>6} {'dice':>6}  bones {args.reader_a} | {args.reader_b}")
    for s in report.studies:
        name = s.study_instance_uid + (f" (T1 series {s.series_instance_uid})"
                                       if s.series_instance_uid else "")
        print(f"{name:<64} {_num(s.kappa):>6} {_num(s.dice):>6}  "
              f"{'+'.join(s.involved_a) or '-'} | {'+'.join(s.involved_b) or '-'}")
    for uid, reason in report.skipped:
        print(f"{uid:<64} skipped: {reason}")
    print(f"pooled over {len(report.studies)} studies: kappa {_num(report.pooled_kappa)}, "
          f"dice {_num(report.pooled_dice)}")
    return 0
