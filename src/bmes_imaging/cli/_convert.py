"""``bmes convert SERIES... OUT.nii.gz``: load one DICOM series and write it as NIfTI.

SERIES is a folder holding one image stack, a single (possibly multi-frame) file, or
several files. For a folder holding several stacks, ``--stack`` picks one by its stack
id (``bmes index`` lists them). The NIfTI's sform and qform are the series' RAS+ affine,
so it lines up with dcm2niix's output voxel for voxel in world coordinates.
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
                   help="folder, file, or several files of one series")
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
    from ..dicom import index_folder, load_series

    out = Path(args.out)
    if not (out.name.endswith(".nii") or out.name.endswith(".nii.gz")):
        raise NiftiError(f"{out}: the output name must end in .nii or .nii.gz")
    sources = [Path(s) for s in args.series]
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
