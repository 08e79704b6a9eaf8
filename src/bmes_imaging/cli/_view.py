"""``bmes view``: open napari with the review plugin and, optionally, a study.

The viewer itself lives in the plugin (``bmes_imaging_napari._viewer_app``), imported
inside :func:`run` only, so the core package never imports napari or Qt.

Examples
--------
::

    bmes view                                   # empty viewer with the review widgets
    bmes view studies/p02_R --reader "A. Reader"
    bmes view studies/p02_R --bones p02_R/truth/bones.nii.gz --detect
    bmes view --queue studies/ --reader AR      # step through a folder of studies
    bmes view --sample                          # the phantom sample study
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

from ..errors import BmesError


def register(subparsers: Any) -> None:
    """Add the ``view`` subcommand."""
    p = subparsers.add_parser(
        "view", help="review edema candidates in napari",
        description="Open napari with the bmes-imaging review widget, the clinical panel "
                    "and (with --queue) the study queue. PATH is a study folder (DICOM or "
                    "NIfTI) or a NIfTI file. Annotations are saved in the store "
                    "(--db, else $BMES_DB, else the per-user SQLite file).")
    p.add_argument("path", nargs="?", type=Path, metavar="PATH",
                   help="study folder (DICOM or t1/stir NIfTI) or NIfTI file to open")
    p.add_argument("--reader", metavar="NAME",
                   help="the reader's name, recorded with every save (else $BMES_READER)")
    p.add_argument("--db", metavar="URL", help="store: SQLite file or SQLAlchemy URL")
    p.add_argument("--bones", type=Path, metavar="LABELS.nii.gz",
                   help="bone label map to use for detection (default: automatic masks)")
    p.add_argument("--queue", type=Path, metavar="FOLDER",
                   help="folder of studies for the study queue")
    p.add_argument("--sample", action="store_true",
                   help="open the phantom sample study (generated on first use)")
    p.add_argument("--detect", action="store_true",
                   help="run detection as soon as the study is open")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="site settings from 'bmes validate --fit' (else $BMES_CONFIG): "
                        "their thresholds and calibration apply to every detection")
    p.set_defaults(func=run)


def _check_path(path: Path | None, what: str) -> None:
    if path is not None and not path.exists():
        raise BmesError(f"{path}: no such {what}; give an existing study folder or file")


def run(args: argparse.Namespace) -> int:
    """Start napari with the plugin; returns when the viewer is closed."""
    _check_path(args.path, "file or folder")
    _check_path(args.bones, "bone label file")
    _check_path(args.queue, "folder")
    if args.config is not None:
        from ..validation import CONFIG_ENV, load_site_config

        load_site_config(args.config)  # a bad file is one line here, not in napari
        os.environ[CONFIG_ENV] = str(args.config)
    if args.db:
        os.environ["BMES_DB"] = str(args.db)
    if args.reader:
        os.environ["BMES_READER"] = args.reader

    try:
        if args.bones is None:
            # automatic bone masks will be needed: start the plugin's bone-mask process
            # (and its atlas) now, on the other core, while napari imports
            importlib.import_module("bmes_imaging_napari._bone_process").start()
        importlib.import_module("napari")
        app = importlib.import_module("bmes_imaging_napari._viewer_app")
    except ModuleNotFoundError as exc:
        raise BmesError(f"bmes view needs the napari extra ({exc.name} is missing): "
                        "pip install 'bmes-imaging[napari]'") from None
    return int(app.open_review_viewer(args.path, bones=args.bones, queue=args.queue,
                                      sample=args.sample, detect=args.detect))
