"""``bmes pacs``: C-ECHO, C-FIND, C-GET / C-MOVE and C-STORE with a PACS.

Examples
--------
::

    bmes pacs echo --host 127.0.0.1 --port 4242 --called-aet ORTHANC
    bmes pacs find --host pacs --port 104 --date 20240101-20240630 --csv studies.csv
    bmes pacs retrieve --host pacs --port 104 --patient-id 123 --out archive/
    bmes pacs retrieve --settings pacs.toml --study-uid 1.2.3 --out archive/ \\
        --move-aet BMES_STORE --store-port 11113
    bmes pacs send --settings pacs.toml edema_seg.dcm edema_sr.dcm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "add_connection_args", "add_move_args", "add_query_args", "matching_studies", "register",
    "settings_from_args",
]


def add_connection_args(p: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """The peer options shared by every ``pacs`` command (and ``screen --pacs``).

    With a ``prefix`` (``"pacs-"``: ``--pacs-settings``) there is no ``--host``: the
    command names the peer its own way.
    """
    g = p.add_argument_group("PACS")
    g.add_argument(f"--{prefix}settings", type=Path, metavar="FILE",
                   help="TOML file with a [pacs] table (host, port, called_aet, aet, "
                        "move_aet, store_port, timeout); options win over it")
    if not prefix:
        g.add_argument("--host", help="PACS host")
    g.add_argument("--port", type=int, help="PACS port")
    g.add_argument("--aet", help="our AE title (default BMES)")
    g.add_argument("--called-aet", help="the PACS' AE title (default ANY-SCP)")
    g.add_argument("--timeout", type=float, help="seconds per network step (default 30)")


def settings_from_args(args: argparse.Namespace, *, host: str | None = None,
                       port: int | None = None) -> Any:
    """:class:`~bmes_imaging.pacs.PacsSettings` from the options and the settings file
    (``host`` and ``port``, when given, win over ``--host`` and ``--port``)."""
    from ..pacs import load_settings

    return load_settings(
        getattr(args, "settings", None) or getattr(args, "pacs_settings", None),
        host=host or getattr(args, "host", None), port=port or args.port, aet=args.aet,
        called_aet=args.called_aet, timeout=args.timeout,
        move_aet=getattr(args, "move_aet", None), store_port=getattr(args, "store_port", None),
        store_host=getattr(args, "store_host", None))


def add_query_args(p: Any) -> None:
    """The C-FIND query options (patient, date, study, modality) on a parser or group."""
    p.add_argument("--patient-id", metavar="ID", help="only this patient's studies")
    p.add_argument("--date", metavar="YYYYMMDD-YYYYMMDD", help="study date or date range")
    p.add_argument("--study-uid", metavar="UID", help="only this study")
    p.add_argument("--modality", default="MR",
                   help="studies holding this modality, and its series (default MR; "
                        "'any' for every study and series)")


def add_move_args(p: Any) -> None:
    """The C-MOVE options (our AE title and storage SCP) on a parser or group."""
    p.add_argument("--move-aet", metavar="AET",
                   help="retrieve with C-MOVE to this AE title (a storage SCP of ours the "
                        "PACS knows); default: C-GET")
    p.add_argument("--store-port", type=int, metavar="PORT",
                   help="port of our storage SCP for C-MOVE (default 11113)")
    p.add_argument("--store-host", metavar="ADDRESS",
                   help="address our storage SCP listens on (default all)")


def register(subparsers: Any) -> None:
    """Add ``pacs`` with ``echo``, ``find``, ``retrieve`` and ``send``."""
    p = subparsers.add_parser("pacs", help="query / retrieve from a PACS, send SEG and SR",
                              description="DICOM networking with a PACS (pynetdicom).")
    sub = p.add_subparsers(dest="pacs_command", metavar="COMMAND")
    e = sub.add_parser("echo", help="C-ECHO: is the PACS there and does it accept us?")
    add_connection_args(e)
    e.set_defaults(func=run_echo)
    f = sub.add_parser("find", help="C-FIND: studies with their series (MR by default)")
    add_connection_args(f)
    add_query_args(f)
    f.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per series")
    f.set_defaults(func=run_find)
    r = sub.add_parser("retrieve", help="C-GET / C-MOVE the T1 and fluid series of the "
                                        "matching studies (resumable)")
    add_connection_args(r)
    add_query_args(r)
    add_move_args(r)
    r.add_argument("--out", type=Path, required=True, help="folder for the retrieved files")
    r.add_argument("--all-series", action="store_true",
                   help="every series of the studies, not only T1 and fluid-sensitive")
    r.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    r.set_defaults(func=run_retrieve)
    s = sub.add_parser("send", help="C-STORE files (e.g. a SEG and an SR) to the PACS")
    add_connection_args(s)
    s.add_argument("files", nargs="+", type=Path, help="DICOM files or folders")
    s.set_defaults(func=run_send)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def _peer_settings(args: argparse.Namespace) -> Any | None:
    """The connection settings of ``args``; None (and the error said) without a peer."""
    settings = settings_from_args(args)
    if getattr(args, "host", None) or getattr(args, "settings", None):
        return settings
    print("bmes pacs: error: give --host and --port (or --settings FILE)", file=sys.stderr)
    return None


def run_echo(args: argparse.Namespace) -> int:
    """C-ECHO."""
    from ..pacs import echo

    settings = _peer_settings(args)
    if settings is None:
        return 2
    seconds = echo(settings)
    print(f"C-ECHO {settings.peer}: success in {seconds * 1000:.0f} ms")
    return 0


def matching_studies(settings: Any, args: argparse.Namespace) -> list[Any]:
    """C-FIND the studies (with their series) that the :func:`add_query_args` options of
    ``args`` match."""
    from ..pacs import find_studies

    modality = None if str(args.modality).lower() in ("any", "all", "") else str(args.modality)
    return find_studies(settings, patient_id=args.patient_id, date=args.date,
                        study_uid=args.study_uid, modality=modality)


def run_find(args: argparse.Namespace) -> int:
    """C-FIND studies and their series."""
    from .._outbound import terminal_text
    from ..pacs import write_find_csv

    settings = _peer_settings(args)
    if settings is None:
        return 2
    studies = matching_studies(settings, args)
    for st in studies:
        print(terminal_text(f"{st.study_instance_uid}  {st.study_date or '-'}  "
                            f"{st.study_description or '-'}  ({len(st.series)} series)"))
        for se in st.series:
            number = "-" if se.series_number is None else se.series_number
            print(terminal_text(f"    {number:>4}  {se.modality:<4} {se.sequence:<6} "
                                f"{se.instances or '?':>4} images  {se.series_description}"))
    if args.csv:
        print(f"wrote {write_find_csv(studies, args.csv)}", file=sys.stderr)
    print(f"{len(studies)} studies, {sum(len(s.series) for s in studies)} series",
          file=sys.stderr)
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    """Retrieve the T1 and fluid series of the matching studies."""
    from ..pacs import retrieve

    settings = _peer_settings(args)
    if settings is None:
        return 2
    studies = matching_studies(settings, args)
    result = retrieve(settings, studies, args.out, all_series=args.all_series,
                      progress=None if args.no_progress else _progress_line)
    if not args.no_progress:
        print(file=sys.stderr)
    print(f"{result.studies} studies, {len(result.series)} series: {result.received} "
          f"instances received, {result.already_present} already present, "
          f"{result.failed} failed; in {result.out}")
    return 0 if result.failed == 0 else 1


def _progress_line(text: str) -> None:
    sys.stderr.write("\r\x1b[2K" + text if sys.stderr.isatty() else text + "\n")
    sys.stderr.flush()


def run_send(args: argparse.Namespace) -> int:
    """C-STORE files."""
    from ..pacs import send

    settings = _peer_settings(args)
    if settings is None:
        return 2
    result = send(settings, args.files)
    for path, status in result.failed:
        print(f"bmes pacs send: {path}: refused by {settings.peer}: status {status}",
              file=sys.stderr)
    print(f"{result.sent} sent to {settings.peer}, {len(result.failed)} refused")
    return 0 if not result.failed else 1
