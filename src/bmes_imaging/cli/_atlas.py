"""``bmes atlas``: the site's library of confirmed bone masks used as atlases.

Examples
--------
::

    bmes atlas add pacs_export/study_0001 --bones reviewed/bones.nii.gz
    bmes atlas list
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``atlas`` subcommand (``add``, ``list``)."""
    p = subparsers.add_parser(
        "atlas", help="the site's bone atlases (confirmed bone masks of real studies)",
        description="Confirmed or imported bone masks of real studies become atlases that "
                    "automatic bone masks fuse with the shipped foot atlas. They live beside "
                    "the store (atlases/ next to the SQLite file) or in $BMES_ATLAS_DIR.")
    sub = p.add_subparsers(dest="atlas_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="store a study's T1 and its confirmed bone label map",
                         description="Index STUDY (a folder holding the study's DICOM "
                                     "files), load its T1 series and store it with LABELS "
                                     "(project bone labels, any grid) as an atlas.")
    add.add_argument("study", type=Path, metavar="STUDY")
    add.add_argument("--bones", type=Path, required=True, metavar="LABELS",
                     help="bone label map (NIfTI, project labels 1-14, any grid)")
    add.add_argument("--side", choices=("L", "R"),
                     help="the foot (default: the T1 series' laterality; needed when the "
                          "study holds both feet or does not say)")
    add.add_argument("--force", action="store_true",
                     help="store it even when its header says it is not a foot or ankle")
    add.add_argument("--db", metavar="URL", help="the store whose atlases to use "
                     "(default $BMES_DB); $BMES_ATLAS_DIR overrides the folder")
    add.set_defaults(func=run_add)
    ls = sub.add_parser("list", help="list the site's atlases")
    ls.add_argument("--db", metavar="URL", help="the store whose atlases to list")
    ls.set_defaults(func=run_list)


def _t1_stack(study: Path, side: str | None) -> Any:
    from ..dicom import index_folder
    from ..errors import DetectionError

    stacks = [s for s in index_folder(study).stacks if s.sequence == "t1"]
    if side:
        same = [s for s in stacks if (s.laterality or "").upper() in (side, "")]
        stacks = same or stacks
    if not stacks:
        raise DetectionError(f"{study}: no T1 series found; an atlas needs the T1 image the "
                             "bone masks were drawn on")
    if len(stacks) > 1 and not side:
        raise DetectionError(f"{study}: {len(stacks)} T1 series; say which foot with --side")
    return max(stacks, key=lambda s: s.n_images)


def run_add(args: argparse.Namespace) -> int:
    """Store the study's T1 and label map as an atlas; print where."""
    from ..detection._atlas_library import add_atlas, atlas_dir
    from ..detection._body_part import check_body_part
    from ..detection._bone_masks import bones_from_labels
    from ..dicom import load_series
    from ..volume import load_nifti

    stack = _t1_stack(args.study, args.side)
    if not args.force:
        check_body_part(stack.body_part, str(args.study))
    t1 = load_series(stack)
    labels = bones_from_labels(load_nifti(args.bones), t1)
    atlas = add_atlas(t1, labels, atlas_dir(args.db), side=args.side)
    print(f"atlas {atlas.name} ({atlas.side} foot, {len(atlas.bones)} bones) in "
          f"{atlas.path.parent}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print one line per atlas (the shipped one first)."""
    from ..bones import Bone
    from ..detection._atlas_library import atlas_dir, list_atlases

    folder = atlas_dir(args.db)
    print("shipped  VHF foot atlas (R, mirrored for L), 14 bones, always used")
    found = list_atlases(folder)
    for a in found:
        names = ", ".join(Bone(b).bone_name for b in a.bones[:4])
        more = f" +{len(a.bones) - 4}" if len(a.bones) > 4 else ""
        print(f"{a.name}  {a.side}  {len(a.bones)} bones ({names}{more})  added {a.added}")
    print(f"{len(found)} site atlas(es) in {folder}")
    return 0
