"""``bmes screen``: screen every study of an archive for bone marrow edema.

Examples
--------
::

    bmes screen archive/ --out screen_out/ --workers 2
    bmes screen archive/ --out screen_out/ --scheduler tcp://10.0.0.5:8786
    bmes screen cache/ --out screen_out/ --pacs pacs.example.org:104 --called-aet PACS \\
        --date 20240101-20240630
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._pacs import (
    add_connection_args,
    add_move_args,
    add_query_args,
    matching_studies,
    settings_from_args,
)
from ._validate import add_site_config_option


def register(subparsers: Any) -> None:
    """Add the ``screen`` subcommand."""
    p = subparsers.add_parser(
        "screen", help="screen a whole archive (index, pair, detect) in parallel with Dask",
        description="Index ROOT, pair T1 and fluid-sensitive series per study and side, "
                    "detect edema in each, and write OUT/studies.csv, OUT/involvement.csv, "
                    "per-study masks and OUT/screen.log. A second run skips studies "
                    "already done with unchanged inputs. Exit 0 when the run finished "
                    "(even with failed studies), 1 when no study could be processed.")
    p.add_argument("root", type=Path, help="archive folder (DICOM files at any depth)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: number of CPUs)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="running Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--retry-failed", action="store_true",
                   help="redo studies that failed before with the same inputs")
    p.add_argument("--check-only", action="store_true",
                   help="only pair and load every study's series (checks an archive; no "
                        "detection)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    add_site_config_option(p)
    p.add_argument("--db", "--store", dest="db", metavar="URL",
                   help="also store each study's candidates as unreviewed detector "
                        "findings in this store (SQLAlchemy URL or SQLite file), for the "
                        "napari review to open")
    _pacs_args(p)
    p.set_defaults(func=run)


def _pacs_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "screen what a PACS query returns",
        "With --pacs (or --pacs-settings) the matching MR studies' T1 and fluid series are "
        "first retrieved into ROOT (C-GET, or C-MOVE with --move-aet; resumable), then ROOT "
        "is screened.")
    g.add_argument("--pacs", metavar="HOST[:PORT]", help="the PACS to query (port 104 "
                                                         "by default)")
    add_query_args(g)
    add_move_args(g)
    add_connection_args(p, prefix="pacs-")


def _retrieve_from_pacs(args: argparse.Namespace) -> None:
    """Retrieve what the PACS query returns into ROOT (bmes pacs retrieve)."""
    from ..pacs import retrieve

    host, port = args.pacs, None
    if args.pacs and ":" in args.pacs:
        host, _, text = args.pacs.rpartition(":")
        port = int(text)
    settings = settings_from_args(args, host=host, port=port)
    studies = matching_studies(settings, args)
    args.root.mkdir(parents=True, exist_ok=True)
    got = retrieve(settings, studies, args.root, progress=None if args.no_progress else
                   (lambda line: print(line, file=sys.stderr)))
    print(f"{settings.peer}: {len(studies)} studies, {len(got.series)} series: "
          f"{got.received} instances received, {got.already_present} already in {args.root}",
          file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the screening; 2 on usage errors, 1 when nothing could be processed."""
    if args.pacs or args.pacs_settings:
        _retrieve_from_pacs(args)
    if not args.root.is_dir():
        print(f"bmes screen: error: {args.root} is not a folder", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("bmes screen: error: --workers must be at least 1", file=sys.stderr)
        return 2
    from ..screening import load_only, screen
    from ..validation import load_site_config, screen_study_with_site, site_config_path

    site_path = None if args.check_only else site_config_path(args.config)
    site = load_site_config(site_path) if site_path is not None else None
    result = screen(args.root, args.out, workers=args.workers, scheduler=args.scheduler,
                    retry_failed=args.retry_failed, progress=not args.no_progress,
                    config=site, study_function=load_only if args.check_only
                    else (screen_study_with_site if site else None))
    print(f"{result.n_done} studies done, {result.n_failed} failed "
          f"({result.n_resumed} from an earlier run), {len(result.rejected)} files not used; "
          f"results in {result.out}")
    if args.db and not args.check_only and result.n_done:
        from ..store import open_store, save_screen_candidates

        with open_store(args.db) as store:
            saved = save_screen_candidates(store, result.out)
        print(f"{len(saved)} studies' candidates stored as unreviewed detector findings")
    if result.n_done == 0:
        print("bmes screen: error: no study could be processed; see "
              f"{result.out / 'studies.csv'} for the reasons", file=sys.stderr)
        return 1
    return 0
