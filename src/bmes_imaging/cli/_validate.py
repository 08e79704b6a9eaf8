"""``bmes validate``: the detector measured on the site's own reads.

::

    bmes validate --out DIR [--db URL] [--reader NAME] [--since DATE]
                  [--fit [--target-sensitivity S]]

Reads every reader's final review in the store (never changes one) against the
detector's stored candidates and writes CSVs, plots and a Markdown / HTML report to
DIR; with ``--fit`` also ``DIR/site_config.toml`` for ``bmes detect --config``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._db import add_db_option

__all__ = ["add_site_config_option", "register", "run"]


def add_site_config_option(p: argparse.ArgumentParser) -> None:
    """Add ``--config FILE``: the site settings ``bmes validate --fit`` writes, applied to
    every detection of the command (``args.config``; None: ``$BMES_CONFIG``)."""
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="site settings (TOML) from `bmes validate --fit`: their thresholds "
                        "and calibration apply to every detection (default $BMES_CONFIG)")


def _date(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def register(subparsers: Any) -> None:
    """Add the ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate", help="measure the detector on the store's confirmed reads; fit site "
                         "settings",
        description="Compare the detector's stored candidates with every reader's final "
                    "review in the store (confirmed, rejected, relabelled, painted): "
                    "sensitivity, specificity, PPV with Wilson intervals, kappa, Dice and "
                    "Bland-Altman volumes, per bone, scanner, fluid sequence and reader; "
                    "ROC (bones) and FROC (regions) with the current operating point; "
                    "reliability of the confidence. Writes OUT/summary.csv, bone_reads.csv, "
                    "roc.csv, froc.csv, reliability.csv, plots and report.md / report.html. "
                    "Reviews are only read.")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_db_option(p)
    p.add_argument("--reader", metavar="NAME", help="only this reader's reviews")
    p.add_argument("--since", type=_date, metavar="DATE",
                   help="only reviews saved on or after DATE (YYYY-MM-DD, UTC)")
    p.add_argument("--fit", action="store_true",
                   help="fit site settings (decision threshold, calibration) and write "
                        "OUT/site_config.toml; refused with fewer than 20 positive and 20 "
                        "negative bone reads")
    p.add_argument("--target-sensitivity", type=float, metavar="S",
                   help="with --fit: the strictest threshold keeping this bone-level "
                        "sensitivity (default: largest Youden index)")
    p.set_defaults(func=run)


def _fmt(v: float) -> str:
    return "n/a" if v != v else f"{v:.3f}"  # NaN is the one value unequal to itself


def run(args: argparse.Namespace) -> int:
    """Run ``bmes validate``; print the headline figures and where the report is."""
    from .._outbound import terminal_text
    from ..store import open_store
    from ..validation import validate

    with open_store(args.db) as store:
        res = validate(store, args.out, reader=args.reader, since=args.since, fit=args.fit,
                       target_sensitivity=args.target_sensitivity)
    o = res.overall
    c = o.confusion
    lo_se, hi_se = c.interval("sensitivity")
    lo_sp, hi_sp = c.interval("specificity")
    print(f"{o.studies} studies, {o.reads} reads by {o.readers} reader(s), {o.bones} bone "
          f"reads ({c.positives} positive, {c.negatives} negative, {o.undecided} undecided)")
    print(f"sensitivity {_fmt(c.sensitivity)} ({_fmt(lo_se)}-{_fmt(hi_se)}), specificity "
          f"{_fmt(c.specificity)} ({_fmt(lo_sp)}-{_fmt(hi_sp)}), PPV {_fmt(c.ppv)}, "
          f"kappa {_fmt(o.kappa)}, Dice {_fmt(o.dice_pooled)}, ROC AUC {_fmt(res.roc.auc)}")
    if res.site_path is not None and res.site is not None:
        e = res.site.expected
        print(f"site settings: {terminal_text(res.site_path)} (threshold "
              f"{res.site.bone_score_min:.4f}: expected sensitivity {e['sensitivity']}, "
              f"specificity {e['specificity']})")
    print(f"report: {terminal_text(res.files[-1])}")
    return 0
