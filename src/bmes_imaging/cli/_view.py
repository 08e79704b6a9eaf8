"""``bmes view``: open napari with the review plugin and, optionally, a study.

napari is started through its public entry points only (``napari.Viewer``,
``Window.add_plugin_dock_widget`` with the plugin's npe2 widget names,
``viewer.open_sample``, ``napari.run``); no plugin module is imported, and the core
package never imports napari or Qt at import time.

Starting and stopping: with no display the command says so in one line and exits 1
before Qt (or any helper process) starts; Ctrl+C and SIGTERM close the viewer and end
the plugin's helper process (exit 130 / 143), as closing the window does.

A study folder inside a ``bmes demo`` output (``OUT/cohort/p01_L``) is reviewed with
that run's store (``OUT/bmes.sqlite``) unless ``--db`` or ``$BMES_DB`` says otherwise;
the review shows the run's screening candidates (``OUT/screen``) at once.

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
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import BmesError
from ._validate import add_site_config_option

#: The plugin's npe2 name and its widgets' display names (napari.yaml).
PLUGIN = "bmes-imaging"


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
    add_site_config_option(p)
    p.set_defaults(func=run)


def _check_path(path: Path | None, what: str) -> None:
    if path is not None and not path.exists():
        raise BmesError(f"{path}: no such {what}; give an existing study folder or file")


def _x_display_reachable(display: str, timeout_s: float = 1.0) -> bool:
    """True if an X server answers at ``display`` (``[host]:N[.S]``)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        for address in (path, "\0" + path):  # the file, then the abstract socket
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(timeout_s)
                    s.connect(address)
                    return True
            except OSError:
                continue
        if host == "unix":
            return False
        host = "localhost"
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=timeout_s):
            return True
    except OSError:
        return False


def display_problem(env: dict[str, str] | None = None) -> str | None:
    """Why napari cannot open a window here, or None when it can (or Qt decides).

    Checked before Qt starts: a missing display would otherwise abort the process
    (SIGABRT) after a page of Qt warnings.
    """
    env = dict(os.environ) if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "")
    if sys.platform in ("darwin", "win32") or (
            platform and not platform.startswith(("xcb", "wayland"))):
        return None  # offscreen, vnc, a desktop OS: Qt's own business
    wayland = env.get("WAYLAND_DISPLAY")
    if wayland and not platform.startswith("xcb"):
        runtime = env.get("XDG_RUNTIME_DIR", "")
        if Path(wayland).is_absolute() or (Path(runtime) / wayland).exists():
            return None
    display = env.get("DISPLAY")
    if not display:
        return ("no display to open napari on (DISPLAY is not set): run it in a desktop "
                "session, over 'ssh -X', or under 'xvfb-run -a'")
    if not _x_display_reachable(display):
        return (f"no display to open napari on (no X server answers at DISPLAY={display}):"
                " run it in a desktop session, over 'ssh -X', or under 'xvfb-run -a'")
    return None


def _use_run_folders(path: Path | None) -> None:
    """Review a ``bmes demo`` study with that run's store (unless one is given)."""
    if path is None or os.environ.get("BMES_DB"):
        return
    from ..study import find_run_folders

    run = find_run_folders(path)
    if run.store is not None:
        os.environ["BMES_DB"] = str(run.store)


def run(args: argparse.Namespace) -> int:
    """Start napari with the plugin; returns when the viewer is closed."""
    _check_path(args.path, "file or folder")
    _check_path(args.bones, "bone label file")
    _check_path(args.queue, "folder")
    if args.config is not None:
        from ..validation import CONFIG_ENV, load_site_config

        load_site_config(args.config)  # a bad file is one line here, not in napari
        os.environ[CONFIG_ENV] = str(args.config)
    problem = display_problem()
    if problem is not None:
        raise BmesError(problem)
    if args.db:
        os.environ["BMES_DB"] = str(args.db)
    else:
        _use_run_folders(args.path or args.queue)
    if args.reader:
        os.environ["BMES_READER"] = args.reader
    try:
        napari = importlib.import_module("napari")
    except ModuleNotFoundError as exc:
        raise BmesError(f"bmes view needs the napari extra ({exc.name} is missing): "
                        "pip install 'bmes-imaging[napari]'") from None
    return _run_viewer(napari, args)


def _run_viewer(napari: Any, args: argparse.Namespace) -> int:
    """Open the viewer and its docks, then run napari's event loop until it closes.

    Ctrl+C (also where SIGINT was ignored, as in a background job) and SIGTERM end it,
    from the first moment: napari quits its event loop on SIGINT and re-raises
    ``KeyboardInterrupt``; SIGTERM is turned into SIGINT. Exit 130 / 143.
    """
    terminated: list[int] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        terminated.append(signum)
        os.kill(os.getpid(), signal.SIGINT)

    previous = (signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.signal(signal.SIGTERM, on_sigterm))
    try:
        _open_viewer(napari, args)
        napari.run()
    except KeyboardInterrupt:
        return 143 if terminated else 130
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    return 0


def _open_viewer(napari: Any, args: argparse.Namespace) -> Any:
    """The viewer with the plugin's docks and the study, through napari's public API."""
    viewer = napari.Viewer(title="bmes-imaging review")
    window = viewer.window
    window.add_plugin_dock_widget(PLUGIN, "Clinical record")
    # tabbed with the record: the findings table gets the dock's full height (all 14
    # bones at 1600x1000); patient, side and date stay on the canvas
    review_dock, review = window.add_plugin_dock_widget(PLUGIN, "Review", tabify=True)
    review_dock.raise_()
    if args.queue is not None:
        _, queue_widget = window.add_plugin_dock_widget(PLUGIN, "Study queue")
        queue_widget.set_folder(args.queue)
    if args.sample:
        viewer.open_sample(PLUGIN, "phantom_study")
    elif args.path is not None:
        if args.path.is_dir():
            # in a worker (the window shows at once); a picker when it holds several
            review.open_study_in_background(args.path)
        else:
            viewer.open(str(args.path), plugin=PLUGIN)
    if args.bones is not None:
        viewer.open(str(args.bones), plugin=PLUGIN)
    if args.detect:
        review.run_detection()
    return viewer
