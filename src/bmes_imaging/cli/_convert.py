"""``bmes convert SERIES... OUT.nii.gz``: load one DICOM series and write it as NIfTI.

SERIES is a folder holding one image stack, a single (possibly multi-frame) file, or
several files. For a folder holding several stacks, ``--stack`` picks one by its stack
id (``bmes index`` lists them). The NIfTI's sform and qform are the series' RAS+ affine,
so it lines up with dcm2niix's output voxel for voxel in world coordinates.

``bmes convert SEG.dcm [SERIES...] OUT.nii.gz``: a DICOM SEG is written as its label
map (bone labels, other structures from 15) on the grid of its source series (SERIES,
else found beside the SEG, else the SEG's own planes), and its edema segments beside
it as ``OUT_edema.nii.gz`` (:func:`bmes_imaging.dicom.read_seg`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import DicomSeriesError, NiftiError

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``convert`` subcommand."""
    p = subparsers.add_parser(
        "convert", help="convert one DICOM series to NIfTI (.nii / .nii.gz)",
        description="Load one DICOM series (a folder holding one stack, a file, or several "
                    "files) with exact geometry and write it as NIfTI with a RAS+ affine.")
    p.add_argument("series", nargs="+", metavar="SERIES",
                   help="folder, file, or several files of one series; or a DICOM SEG "
                        "(then optionally its source series)")
    p.add_argument("out", metavar="OUT", help="output file ending in .nii or .nii.gz")
    p.add_argument("--stack", metavar="STACK_ID",
                   help="with a folder holding several stacks: the stack to convert "
                        "(ids as printed by `bmes index`)")
    p.add_argument("--spacing-tolerance", type=float, default=0.01, metavar="F",
                   help="accepted relative deviation of slice gaps (default 0.01 = 1%%)")
    p.add_argument("--decoding-plugin", default=None, metavar="NAME",
                   help="pydicom decoder for compressed data: pylibjpeg, pyjpegls, "
                        "pillow or gdcm (default: pylibjpeg, and JPEG 2000 through "
                        "GDCM's codec on all cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert and print a one-line summary (no patient identifiers)."""
    from ..dicom import index_folder, is_seg_file, load_series

    out = Path(args.out)
    if not (out.name.endswith(".nii") or out.name.endswith(".nii.gz")):
        raise NiftiError(f"{out}: the output name must end in .nii or .nii.gz")
    sources = [Path(s) for s in args.series]
    if not args.stack and is_seg_file(sources[0]):
        return _convert_seg(sources[0], sources[1:], out)
    opts = {"spacing_tolerance": args.spacing_tolerance,
            "decoding_plugin": args.decoding_plugin}
    source: Any
    if args.stack:
        if len(sources) != 1 or not sources[0].is_dir():
            raise DicomSeriesError("--stack needs exactly one folder as SERIES")
        index = index_folder(sources[0])
        try:
            source = index.stack(args.stack)
        except KeyError:
            known = ", ".join(s.stack_id for s in index.stacks[:20]) or "none"
            raise DicomSeriesError(f"folder {sources[0]} has no stack {args.stack!r} "
                                   f"(stacks: {known})") from None
    elif len(sources) == 1:
        source = sources[0]
    else:
        source = sources
    vol = load_series(source, **opts)
    vol.to_nifti(out)
    info = vol.info
    sizes = " x ".join(f"{v:.3g}" for v in vol.voxel_sizes)
    described = ", ".join(str(v) for v in (info.series_description, info.sequence,
                                           info.plane) if v)
    print(f"{out}: {vol.shape[0]} x {vol.shape[1]} x {vol.shape[2]} voxels of {sizes} mm, "
          f"{vol.array.dtype}" + (f" ({described})" if described else ""))
    return 0


def _convert_seg(seg_path: Path, reference: list[Path], out: Path) -> int:
    """Write a SEG's label map to ``out`` and its edema map beside it."""
    from .._outbound import terminal_text
    from ..dicom import load_series, read_seg

    ref = None
    if reference:
        ref = load_series(reference[0] if len(reference) == 1 else reference)
    seg = read_seg(seg_path, reference=ref)
    seg.labels.to_nifti(out)
    written = [out]
    if any(s.role == "edema" for s in seg.segments):
        stem = out.name.removesuffix(".gz").removesuffix(".nii")
        written.append(out.with_name(stem + "_edema" + out.name[len(stem):]))
        seg.edema.to_nifti(written[-1])
    grids = {"reference": "the series given", "source": "its source series",
             "seg": "the SEG's own planes", "resampled": "the series given (resampled)"}
    shape = " x ".join(str(n) for n in seg.labels.shape)
    print(f"{terminal_text(', '.join(map(str, written)))}: {shape} voxels on the grid of "
          f"{grids[seg.grid]}, {len(seg.segments)} segment(s) ({seg.segmentation_type})")
    for s in seg.segments:
        print("  " + s.describe())
    return 0
