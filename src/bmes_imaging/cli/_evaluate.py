"""``bmes evaluate``: score detector output against ground truth.

Examples
--------
::

    bmes evaluate --truth phantoms/p01_L --pred results/p01_L
    bmes evaluate --truth phantoms/ --pred results/ --csv scores.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate", help="bone-level sensitivity / specificity and voxel Dice against truth",
        description="Compare edema label maps (and bone masks) with ground truth. TRUTH and "
                    "PRED are each an edema NIfTI file, a folder holding edema.nii.gz "
                    "(bmes detect output), a phantom study folder (truth/edema.nii.gz), or "
                    "a folder of such study folders matched by name.")
    p.add_argument("--truth", type=Path, required=True)
    p.add_argument("--pred", type=Path, required=True)
    p.add_argument("--min-truth-ml", type=float, default=0.05,
                   help="truth edema volume (ml) that makes a bone positive (default 0.05)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write per-study scores here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the evaluation table."""
    from .._atomic import write_csv_atomic
    from ..detection._evaluate import evaluate

    ev = evaluate(args.truth, args.pred, min_truth_ml=args.min_truth_ml)
    print(ev.table())
    if args.csv:
        write_csv_atomic(  # cells through csv_cell: a study name is data
            args.csv, ["study", "tp", "fp", "tn", "fn", "dice", "missed", "false_positive"],
            [[s.name, len(s.tp), len(s.fp), len(s.tn), len(s.fn), f"{s.dice:.4f}",
              "+".join(b.bone_name for b in s.fn), "+".join(b.bone_name for b in s.fp)]
             for s in ev.studies])
    return 0
