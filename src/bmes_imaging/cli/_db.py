"""``bmes db``: the store's schema and integrity, for IT people.

::

    bmes db upgrade [--db URL] [--annotations DIR ...]
    bmes db check [--db URL]
    bmes db downgrade REVISION [--db URL] --annotations DIR

``upgrade`` creates the store or brings its schema to this version's (under the
migration lock, so it is safe while others open the store); from a store older than
revision 0003 it moves the label-map files of ``--annotations`` (default
``$BMES_ANNOTATIONS``, else the store's old default folder; repeat the option for the
folders of every account that saved reviews) into the database.
``check`` changes nothing: it compares the schema with this version's and verifies
every label map's checksum; exit 1 when either fails. ``downgrade`` goes back to an
older revision (e.g. ``0002_store_identity`` writes the label maps back to files in
``--annotations``) before installing an older bmes-imaging.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "add_db_option", "optional_store", "register", "run_check", "run_downgrade", "run_upgrade",
]

#: help of the store option shared by every subcommand that opens the store
DB_HELP = ("store database: SQLAlchemy URL or SQLite file "
           "(default $BMES_DB, else ~/.local/share/bmes-imaging/bmes.sqlite)")


def add_db_option(p: argparse.ArgumentParser) -> None:
    """Add ``--db`` / ``--store URL`` (the store database; ``args.db``) to ``p``.

    Parameters
    ----------
    p
        A (sub)command's parser.
    """
    p.add_argument("--db", "--store", dest="db", metavar="URL", help=DB_HELP)


@contextmanager
def optional_store(url: str | None) -> Iterator[Any]:
    """The store at ``url``, open for the ``with`` block and closed after it; None (no
    store opened) when ``url`` is None."""
    if url is None:
        yield None
        return
    from ..store import open_store

    with open_store(url) as store:
        yield store


def register(subparsers: Any) -> None:
    """Add the ``db`` subcommand with ``upgrade``, ``check`` and ``downgrade``."""
    parser = subparsers.add_parser(
        "db", help="create / upgrade / check the store's database (for IT)",
        description="The store's schema (Alembic migrations) and integrity. Back up the "
                    "database before an upgrade (docs/store.md: pg_dump, SQLite .backup).")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)

    up = actions.add_parser("upgrade", help="create the store or upgrade its schema")
    add_db_option(up)
    up.add_argument("--annotations", type=Path, metavar="DIR", action="append",
                    help="label-map folder of a store older than 0003, moved into the "
                         "database (default $BMES_ANNOTATIONS, else the old default); "
                         "repeat it for the folders of every account that saved reviews")
    up.set_defaults(func=run_upgrade)

    check = actions.add_parser("check", help="schema revision and every label map's "
                                             "checksum (changes nothing)")
    add_db_option(check)
    check.set_defaults(func=run_check)

    down = actions.add_parser("downgrade", help="go back to an older schema revision")
    down.add_argument("revision", metavar="REVISION",
                      help="target revision, e.g. 0002_store_identity")
    add_db_option(down)
    down.add_argument("--annotations", type=Path, metavar="DIR", required=True,
                      help="folder the label maps are written to (below revision 0003)")
    down.set_defaults(func=run_downgrade)


def _revision(url: str) -> str | None:
    """The schema revision of ``url`` without creating anything (``None``: new store)."""
    from ..store._engine import current_revision, make_engine
    from ..store._identity import sqlite_file

    path = sqlite_file(url)
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        return None
    engine = make_engine(url)
    try:
        return current_revision(engine)
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError

        if not isinstance(exc, DBAPIError):
            raise
        from ..errors import StoreError
        from ..store._identity import open_failure_line

        raise StoreError(open_failure_line(url, exc)) from None
    finally:
        engine.dispose()


def run_upgrade(args: argparse.Namespace) -> int:
    """Create or upgrade the store; print the revision before and after."""
    from ..store import HEAD_REVISION, open_store, resolve_url
    from ..store._engine import shown_url

    url = resolve_url(args.db)
    before = _revision(url)
    folders = [p.expanduser().absolute() for p in args.annotations or ()]
    if len(folders) > 1:  # every folder searched for the files to move in
        from ..store._engine import make_engine, run_migrations

        engine = make_engine(url)
        try:
            run_migrations(engine, annotation_dir=folders)
        finally:
            engine.dispose()
    with open_store(url, annotation_dir=folders[0] if folders else None) as store:
        n = len(store.annotations())
    if before == HEAD_REVISION:
        print(f"{shown_url(url)}: schema {HEAD_REVISION} is current; nothing to do")
    else:
        print(f"{shown_url(url)}: schema {before or '(new store)'} -> {HEAD_REVISION}; "
              f"{n} annotation versions")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Compare the schema with this version's and verify every label map (read only)."""
    from ..store import HEAD_REVISION, open_store, resolve_url
    from ..store._engine import shown_url

    url = resolve_url(args.db)
    shown = shown_url(url)
    revision = _revision(url)
    if revision != HEAD_REVISION:
        print(f"{shown}: schema {revision or '(none: not a store yet)'}, this version of "
              f"bmes-imaging expects {HEAD_REVISION}; run `bmes db upgrade` (after a backup)")
        return 1
    with open_store(url) as store:
        versions = store.annotations()
        problems, orphans = store.check_annotations()
        n_studies = len(store.studies())
    n_maps = sum(v.label_path is not None for v in versions)
    print(f"{shown}: schema {revision} (current); {n_studies} studies, {len(versions)} "
          f"annotation versions, {n_maps} label maps checked")
    for line in problems:
        print(f"  problem: {line}")
    if orphans:
        print(f"  {len(orphans)} unreferenced file(s) in the old annotation folder "
              f"{store.annotation_dir} (Store.remove_orphans removes them)")
    return 1 if problems else 0


def run_downgrade(args: argparse.Namespace) -> int:
    """Go back to an older schema revision (label maps written to ``--annotations``)."""
    from alembic.util import CommandError

    from ..errors import StoreError
    from ..store import resolve_url
    from ..store._engine import make_engine, run_migrations, shown_url

    url = resolve_url(args.db)
    before = _revision(url)
    engine = make_engine(url)
    try:
        run_migrations(engine, annotation_dir=args.annotations.expanduser().absolute(),
                       revision=args.revision, downgrade=True)
    except CommandError as exc:
        raise StoreError(f"cannot go down to revision {args.revision!r} ({exc})") from None
    finally:
        engine.dispose()
    print(f"{shown_url(url)}: schema {before} -> {args.revision}; install the "
          "bmes-imaging version that expects it")
    return 0
