"""``bmes export``: involvement tables (CSV/XLSX), DICOM SEG and DICOM SR (TID 1500).

Examples
--------
::

    bmes export involvement table1_clinical.csv --findings screen/involvement.csv \\
        --status confirmed --out table1_imaging.xlsx
    bmes export seg study/T1_SAG --edema edema.nii.gz --bones bones.nii.gz \\
        --confirm talus,navicular --reader "Reader^A" --out edema_seg.dcm
    bmes export sr study/ --db bmes.sqlite --out edema_sr.dcm   # + edema_sr_seg.dcm
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ._db import optional_store


def register(subparsers: Any) -> None:
    """Add the ``export`` subcommand with ``involvement`` and ``seg``."""
    p = subparsers.add_parser("export", help="involvement table (CSV/XLSX), DICOM SEG or SR",
                              description="Export results for analysis or for PACS viewers.")
    sub = p.add_subparsers(dest="export_kind", metavar="KIND")
    inv = sub.add_parser("involvement", help="one row per foot in the shape of Table 1",
                         description="Clinical fields plus imaging bones of ONE status per "
                                     "foot (never mixed); CSV or XLSX by the --out suffix.")
    inv.add_argument("clinical", type=Path, nargs="?",
                     help="clinical table (CSV or XLSX); omit with --store")
    inv.add_argument("--findings", type=Path, metavar="INVOLVEMENT_CSV",
                     help="involvement.csv from bmes screen / detect / review")
    inv.add_argument("--images", type=Path, metavar="ROOT",
                     help="the screened archive: where a foot has several studies "
                          "(follow-up), its first study by date is tabulated")
    inv.add_argument("--db", "--store", dest="store", metavar="URL",
                     help="annotation store: clinical records when no table is given, "
                          "reader findings when --findings is not (default $BMES_DB)")
    inv.add_argument("--status", choices=("confirmed", "candidate"), default="confirmed",
                     help="which findings to tabulate (default: confirmed)")
    inv.add_argument("--out", type=Path, required=True, help="output .csv or .xlsx")
    add_pseudonym_options(inv, default=False)
    inv.set_defaults(func=run_involvement)

    seg = sub.add_parser("seg", help="confirmed edema and bones as a DICOM SEG",
                         description="Write a DICOM Segmentation referencing the T1 series: "
                                     "a segment per bone and per bone with confirmed edema.")
    _seg_args(seg, "output SEG file (.dcm)")
    seg.set_defaults(func=run_seg)
    sr = sub.add_parser("sr", help="per-bone edema volume, fraction and grade as a DICOM SR "
                                   "(TID 1500), with its SEG",
                        description="Write a DICOM Comprehensive 3D SR measurement report "
                                    "(TID 1500): per bone with confirmed edema its volume, "
                                    "fraction of the bone and grade, referencing the SEG "
                                    "segment (written beside it, --seg) and the T1 series.")
    _seg_args(sr, "output SR file (.dcm)")
    sr.add_argument("--seg", type=Path, metavar="SEG.dcm",
                    help="where the SEG it references goes (default: OUT stem + _seg.dcm)")
    sr.set_defaults(func=run_sr)
    p.set_defaults(func=lambda args: _missing_kind(p))


def _missing_kind(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _seg_args(p: argparse.ArgumentParser, out_help: str) -> None:
    """The arguments shared by ``export seg`` and ``export sr``."""
    p.add_argument("t1", type=Path,
                   help="the T1 series: its folder, or a study folder holding one T1 series")
    p.add_argument("--edema", type=Path, help="edema label map (T1 grid)")
    bones = p.add_mutually_exclusive_group()
    bones.add_argument("--bones", type=Path,
                       help="bone label map (T1 grid); default: the automatic bone masks "
                            "(foot atlas), as the napari review exports them")
    bones.add_argument("--no-bones", action="store_true", help="no bone segments")
    p.add_argument("--bones-source", choices=("manual", "semiautomatic", "automatic"),
                   default="manual",
                   help="how the --bones map was made (SEG SegmentAlgorithmType; default "
                        "manual)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--db", "--store", dest="store", metavar="URL",
                       help="take the edema labels and finding statuses from the reader's "
                            "latest annotation of this study in the store")
    which.add_argument("--findings", type=Path, metavar="INVOLVEMENT_CSV",
                       help="rows with status 'confirmed' name the confirmed bones")
    which.add_argument("--confirm", metavar="BONES",
                       help="comma-separated bones the reader confirms, e.g. talus,navicular")
    p.add_argument("--reader", help="reader name (content creator); with --store, whose "
                                    "annotation (default: the newest of any reader)")
    p.add_argument("--out", type=Path, required=True, help=out_help)
    add_pseudonym_options(p, default=False)


def add_pseudonym_options(
        p: argparse.ArgumentParser, *, default: bool,
        what: str = "replace patient identifiers by stable pseudonyms (PS3.15 basic profile "
                    "for DICOM)") -> None:
    """Add ``--deidentify`` / ``--no-deidentify`` and ``--key-file`` / ``--key FILE``
    (``args.deidentify``, ``args.key_file``; see :func:`pseudonymizer_from_args`).

    Parameters
    ----------
    p
        A (sub)command's parser.
    default
        Whether the command de-identifies without ``--deidentify``.
    what
        What de-identifying does in this command (the option's help).
    """
    p.add_argument("--deidentify", action=argparse.BooleanOptionalAction, default=default,
                   help=f"{what} (default: {'on' if default else 'off'})")
    p.add_argument("--key-file", "--key", dest="key_file", type=Path, metavar="FILE",
                   help="pseudonym key file (default: $BMES_PSEUDONYM_KEY, else "
                        "~/.local/share/bmes-imaging/pseudonym.key; created, with a warning, "
                        "when missing)")


def run_involvement(args: argparse.Namespace) -> int:
    """Write the per-foot involvement table."""
    from ..export import (
        findings_from_store,
        involvement_rows,
        read_findings_table,
        read_records,
        write_involvement_table,
    )

    if args.store is None and (args.clinical is None or args.findings is None):
        args.store = os.environ.get("BMES_DB") or None  # --db, else $BMES_DB
    if (args.clinical is None and args.store is None) or (
            args.findings is None and args.store is None):
        print("bmes export involvement: error: give the clinical table (or --db) and "
              "--findings (or --db)", file=sys.stderr)
        return 2
    with optional_store(args.store) as store:
        records = (read_records(args.clinical) if args.clinical is not None
                   else store.clinical_records())
        if args.findings is not None:
            from ..followup import first_study_of_each_foot

            studies, note = first_study_of_each_foot(args.findings, args.images)
            if note:
                print(f"bmes export involvement: {note}", file=sys.stderr)
            findings = read_findings_table(args.findings, status=args.status, studies=studies)
        else:
            findings = findings_from_store(store, status=args.status)
    rows = involvement_rows(records, findings, pseudonymizer=pseudonymizer_from_args(args))
    path = write_involvement_table(rows, args.out)
    print(path)
    print(f"{len(rows)} feet, {sum(r['findings'] != 'none' for r in rows)} with {args.status} "
          "findings", file=sys.stderr)
    return 0


def _t1_stack(path: Path) -> Any:
    """The T1 stack of a folder (the only stack, or the only one classified T1)."""
    from ..dicom import index_folder
    from ..errors import ExportError

    if not path.is_dir():
        return path
    stacks = index_folder(path).stacks
    if len(stacks) == 1:
        return stacks[0]
    t1 = [s for s in stacks if s.sequence == "t1"]
    if len(t1) != 1:
        found = ", ".join(f"{s.series_number} {s.series_description} ({s.sequence})"
                          for s in stacks) or "none"
        raise ExportError(f"{path}: expected one T1 series, found {len(t1)} among: {found}; "
                          "give the T1 series folder")
    return t1[0]


def _confirmed(bone: Any, reader: str | None) -> Any:
    """A bone the reader confirmed on the command line (no detector figures: unknown)."""
    from ..findings import Finding, FindingStatus

    return Finding(bone, status=FindingStatus.CONFIRMED, source=reader or "reader")


def _seg_inputs(args: argparse.Namespace) -> dict[str, Any] | None:
    """T1, masks, findings and reader of ``export seg`` / ``export sr``; None on a usage
    error (reported)."""
    import numpy as np

    from ..bones import bone_from_name
    from ..dicom import load_series
    from ..errors import ExportError
    from ..export._cohort import read_findings_table
    from ..volume import load_nifti

    t1 = load_series(_t1_stack(args.t1))

    def labels(path: Path) -> Any:
        vol = load_nifti(path)
        return t1.with_array(np.rint(vol.array).astype(np.uint8)) if vol.shape == t1.shape \
            else vol

    reader = args.reader
    findings: list[Any] = []
    if args.store:
        uid = t1.info.study_instance_uid
        with optional_store(args.store) as store:
            loaded = store.latest_annotation(  # this T1's foot, if the study has two
                str(uid), args.reader, series_instance_uid=t1.info.series_instance_uid)
        if loaded is None or loaded.labels is None:
            raise ExportError("the store holds no annotation with a label map for this study"
                              + (f" by {args.reader}" if args.reader else ""))
        edema = t1.with_array(np.rint(loaded.labels.array).astype(np.uint8)) \
            if loaded.labels.shape == t1.shape else loaded.labels
        findings = list(loaded.findings)
        reader = loaded.version.reader
    elif args.edema is None or args.reader is None:
        print(f"bmes export {args.export_kind}: error: give --edema and --reader (or --db)",
              file=sys.stderr)
        return None
    else:
        edema = labels(args.edema)
    if args.confirm:
        try:
            findings = [_confirmed(bone_from_name(b), reader)
                        for b in args.confirm.split(",") if b]
        except KeyError as exc:
            raise ExportError(str(exc)) from None
    elif args.findings:
        findings = [_confirmed(b, reader) for foot in read_findings_table(args.findings)
                    for b in foot.bones]
    bones, source = None, None
    if args.bones:
        bones, source = labels(args.bones), args.bones_source
    elif not args.no_bones:  # the atlas' masks, as the review plugin exports them
        from ..detection import automatic_bones

        bones, source = automatic_bones(t1), "automatic"
    return {"t1": t1, "edema": edema, "bones": bones, "bone_source": source,
            "findings": findings, "reader": reader}


def pseudonymizer_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~bmes_imaging.export.Pseudonymizer` of ``--key-file`` with
    ``--deidentify``, else None (options of :func:`add_pseudonym_options`)."""
    from ..export import Pseudonymizer, load_pseudonym_key

    return Pseudonymizer(load_pseudonym_key(args.key_file)) if args.deidentify else None


def _deidentification(args: argparse.Namespace) -> dict[str, Any]:
    """``deidentify`` and ``pseudonymizer`` of the SEG / SR writers from ``args``."""
    return {"deidentify": args.deidentify, "pseudonymizer": pseudonymizer_from_args(args)}


def run_seg(args: argparse.Namespace) -> int:
    """Write the DICOM SEG."""
    from ..export import write_edema_seg

    inputs = _seg_inputs(args)
    if inputs is None:
        return 2
    out = write_edema_seg(inputs.pop("t1"), args.out, **inputs, **_deidentification(args))
    print(out.path)
    print(f"{len(out.bone_segments)} bone segments ({out.bone_algorithm_type or 'none'}), "
          f"{len(out.edema_segments)} confirmed edema segments"
          + (f"; de-identified T1 copies in {out.source_files[0].parent}"
             if out.source_files else ""), file=sys.stderr)
    return 0


def run_sr(args: argparse.Namespace) -> int:
    """Write the SEG and the DICOM SR (TID 1500) that references it."""
    from ..export import write_edema_sr

    inputs = _seg_inputs(args)
    if inputs is None:
        return 2
    seg_path = args.seg or args.out.with_name(args.out.stem + "_seg.dcm")
    out = write_edema_sr(inputs.pop("t1"), args.out, seg_path=seg_path, **inputs,
                         **_deidentification(args))
    print(out.path)
    print(f"{len(out.measurements)} bones measured; SEG {out.seg.path} "
          f"({len(out.seg.bone_segments)} bone, {len(out.seg.edema_segments)} edema segments)",
          file=sys.stderr)
    return 0
