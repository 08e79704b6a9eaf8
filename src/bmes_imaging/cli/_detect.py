"""``bmes detect``: find bone marrow edema per bone in one study folder.

Examples
--------
::

    bmes detect pacs_export/study_0001 --out results/study_0001
    bmes detect study/ --out out/ --bones study_bones.nii.gz
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._validate import add_site_config_option


def register(subparsers: Any) -> None:
    """Add the ``detect`` subcommand."""
    p = subparsers.add_parser(
        "detect", help="detect bone marrow edema per bone in one study folder",
        description="Index STUDY_DIR (any folder holding one study's DICOM files; other "
                    "files are ignored), pair the T1 and fluid-sensitive series per foot, "
                    "align them, build bone masks and flag marrow darker on T1 and brighter "
                    "on the fluid image than normal marrow. Writes OUT/involvement.csv, "
                    "OUT/edema.nii.gz, OUT/bones.nii.gz and OUT/overlay.png.")
    p.add_argument("study_dir", type=Path, metavar="STUDY_DIR")
    p.add_argument("--out", type=Path, required=True, metavar="OUT", help="output folder")
    p.add_argument("--bones", type=Path, metavar="LABELS.nii.gz",
                   help="bone label map (project labels, any grid); default: automatic "
                        "bone masks from the foot atlas")
    p.add_argument("--force", action="store_true",
                   help="analyse the study even when its BodyPartExamined, field of view or "
                        "atlas fit says it is not a foot or ankle")
    p.add_argument("--no-refine", action="store_true",
                   help="trust the scanner geometry (no motion correction of the fluid series)")
    p.add_argument("--fluid-ratio-min", type=float, default=None,
                   help="minimum fluid / normal-marrow ratio of a voxel starting an edema "
                        "region, on top of the study-adaptive z-score rule (default 1.5)")
    p.add_argument("--t1-ratio-max", type=float, default=None,
                   help="maximum T1 / normal-marrow ratio of a voxel starting an edema "
                        "region, on top of the study-adaptive z-score rule (default 0.92)")
    add_site_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run detection; print one line per positive bone and the notes."""
    from ..detection import DetectionConfig, detect_study

    changes = {}
    if args.fluid_ratio_min is not None:
        changes["fluid_ratio_min"] = args.fluid_ratio_min
    if args.t1_ratio_max is not None:
        changes["t1_ratio_max"] = args.t1_ratio_max
    from ..validation import detect_study_with_site, load_site_config, site_config_path

    site_path = site_config_path(args.config)
    site = load_site_config(site_path) if site_path is not None else None
    cfg = (site.detection_config() if site else DetectionConfig()).replace(**changes)
    det = (detect_study_with_site(args.study_dir, args.out, site, config=cfg,
                                  bones_path=args.bones, refine_alignment=not args.no_refine,
                                  force=args.force)
           if site else detect_study(args.study_dir, args.out, bones_path=args.bones,
                                     config=cfg, refine_alignment=not args.no_refine,
                                     force=args.force))
    positives = [r for r in det.rows if int(r["grade"]) >= 1]
    for r in positives:
        print(f"{r['side'] or '?'} {r['bone']}: {float(r['fraction']) * 100:.0f} % of the bone "
              f"(grade {r['grade']}, {r['edema_volume_ml']} ml, confidence {r['confidence']})")
    if not positives:
        print("no bone marrow edema found")
    for n in det.notes:
        print(f"note: {n}")
    print(f"results in {args.out}")
    return 0
