"""A store that knows itself: safe creation, an identity, and owned clean-up on open.

* **Creation.** A SQLite store is created only where no file exists (or, with
  ``init=True``, over an empty file): it is built under a temporary name, migrated,
  given its identity and then linked into place, so a new store never shows up as a
  0-byte file. An existing empty (0-byte) file, a file that is not SQLite, or a SQLite
  database of another program is refused, never initialised over.
* **Identity.** The store records a UUID (table ``store_identity``); its label-map
  folder (where stores older than schema 0003 kept their maps; new maps are in the
  database) carries the same UUID in :data:`IDENTITY_FILE`. A folder with no identity
  file is claimed only when it holds no label map or holds label maps this store
  references (positive evidence); otherwise it is left alone.
* **Clean-up on open.** In a folder the store owns, temporary ``.part`` files and
  unreferenced label maps whose writer is gone (no process holds the writer's lock;
  where the file system has no locks: older than the orphan age, default 1 h, setting
  ``orphan_age_s`` or ``$BMES_ORPHAN_AGE_S``) are removed. Nothing is ever deleted in
  a folder the store does not own.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, select

from .._atomic import (
    STALE_AGE_S,
    glob_escape,
    is_abandoned,
    make_private_dirs,
    remove_abandoned,
    write_bytes_atomic,
)
from ..errors import StoreError
from ._clinical_db import now
from ._engine import make_engine, read_session, run_migrations, write_transaction
from ._models import Annotation, StoreIdentity

__all__ = [
    "IDENTITY_FILE",
    "ORPHAN_AGE_ENV",
    "check_sqlite_file",
    "claim_folder",
    "clean_on_open",
    "create_if_new",
    "create_sqlite_store",
    "ensure_identity",
    "folder_owner",
    "open_failure_line",
    "orphan_age",
    "sqlite_file",
]

log = logging.getLogger("bmes_imaging.store._store")

#: File in the label-map folder holding the UUID of the store that owns the folder.
IDENTITY_FILE = ".bmes-store-id"
#: Environment variable: age (seconds) after which a temporary file counts as abandoned
#: where file locks do not work.
ORPHAN_AGE_ENV = "BMES_ORPHAN_AGE_S"
_SQLITE_HEADER = b"SQLite format 3\x00"
_LABEL_NAME = re.compile(r"v\d{4,}-[0-9a-f]{8}\.nii\.gz")
_CREATING = ".creating"


def orphan_age(value: float | None = None) -> float:
    """The orphan age in seconds: ``value``, else ``$BMES_ORPHAN_AGE_S``, else 3600."""
    if value is not None:
        return float(value)
    env = os.environ.get(ORPHAN_AGE_ENV)
    try:
        return float(env) if env else STALE_AGE_S
    except ValueError:
        raise StoreError(f"${ORPHAN_AGE_ENV} must be a number of seconds") from None


def _sqlite_tables(path: Path) -> set[str] | None:
    """Table names of a SQLite file read without changing it; ``None`` if unreadable."""
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error:
        return None
    finally:
        con.close()


def check_sqlite_file(path: Path, *, init: bool = False) -> str:
    """What ``path`` is: ``"missing"``, ``"empty"`` (only with ``init``) or ``"store"``.

    Raises
    ------
    StoreError
        For an empty file (without ``init``), a folder, a file that is not SQLite or a
        SQLite database of another program: nothing is changed.
    """
    if not path.exists():
        return "missing"
    if path.is_dir():
        raise StoreError(f"cannot open the store {path}: it is a folder; give the store's "
                         "file (e.g. bmes.sqlite)")
    if path.stat().st_size == 0:
        if init:
            return "empty"
        raise StoreError(
            f"cannot open the store {path}: the file is empty (0 bytes), so it is not a "
            "bmes-imaging store (a store is never initialised over an existing file: an "
            "earlier store may have been lost here); restore it from a backup, or run "
            "with --init to make a new, empty store in it")
    with open(path, "rb") as fh:
        head = fh.read(len(_SQLITE_HEADER))
    if head != _SQLITE_HEADER:
        raise StoreError(f"cannot open the store {path}: the file is not an SQLite "
                         "database (nothing was changed); give the store's file")
    tables = _sqlite_tables(path)
    if tables is None or "alembic_version" in tables:
        return "store"  # a store (or unreadable here: opening it says why)
    if not tables and init:
        return "empty"
    raise StoreError(
        f"cannot open the store {path}: it is an SQLite database "
        + ("of another program (no bmes-imaging tables)" if tables else "with no tables")
        + "; nothing was changed; give the store's file"
        + ("" if tables else ", or run with --init to make a new store in it"))


def ensure_identity(engine: Engine) -> str:
    """The store's UUID, recorded on first use."""
    with read_session(engine, what="reading the store identity") as s:
        found = s.scalar(select(StoreIdentity.store_uuid).where(StoreIdentity.id == 1))
    if found:
        return str(found)

    def work(session: object) -> str:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        row = session.get(StoreIdentity, 1)
        if row is None:
            row = StoreIdentity(id=1, store_uuid=str(uuid.uuid4()), created_at=now())
            session.add(row)
        return str(row.store_uuid)

    try:
        return write_transaction(engine, work, what="recording the store identity")
    except StoreError:
        with read_session(engine) as s:  # another process recorded it first
            found = s.scalar(select(StoreIdentity.store_uuid).where(StoreIdentity.id == 1))
        if found:
            return str(found)
        raise


@contextlib.contextmanager
def _locked_new_file(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def create_sqlite_store(path: Path, *, over_empty: bool = False) -> None:
    """Create a new SQLite store at ``path`` (0600): built aside, then linked into place.

    With ``over_empty`` an empty file at ``path`` is replaced; otherwise, if another
    process created the store meanwhile, that one is kept.
    """
    folder = make_private_dirs(path.parent)
    remove_abandoned(p for p in folder.glob(f".{glob_escape(path.name)}.*{_CREATING}*")
                     if p.name.endswith(_CREATING))
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}{_CREATING}"
    try:
        _build_and_link(tmp, path, folder, over_empty=over_empty)
    except StoreError as exc:  # name the store the user asked for, not the temporary file
        raise StoreError(str(exc).replace(str(tmp), str(path))) from None
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)


def _build_and_link(tmp: Path, path: Path, folder: Path, *, over_empty: bool) -> None:
    """Migrate a new store at ``tmp``, fold its WAL in, then link it to ``path``."""
    with _locked_new_file(tmp):
        engine = make_engine("sqlite:///" + str(tmp))
        try:
            run_migrations(engine)
            ensure_identity(engine)
        finally:
            engine.dispose()
        con = sqlite3.connect(tmp)  # fold the WAL into the file before it is linked
        try:
            con.execute("PRAGMA journal_mode = DELETE")
        finally:
            con.close()
        _fsync(tmp)
        if over_empty:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(tmp, path)
        _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def folder_owner(folder: Path) -> str | None:
    """UUID of the store that owns the label-map folder, or ``None`` if unmarked."""
    try:
        return (folder / IDENTITY_FILE).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None


def _label_maps(folder: Path) -> list[Path]:
    """Label-map files in the layout the store writes (``<study>/<reader>/vNNNN-x.nii.gz``)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.glob("*/*/v*.nii.gz")
            if p.is_file() and _LABEL_NAME.fullmatch(p.name)]


def _referenced(engine: Engine) -> set[str]:
    with read_session(engine, what="listing label maps") as s:
        return {r for r in s.scalars(select(Annotation.label_path)
                                     .where(Annotation.label_path.is_not(None))) if r}


def claim_folder(folder: Path, store_uuid: str, engine: Engine, *, create: bool) -> bool:
    """Whether the store owns ``folder``; mark it as the store's where that is certain.

    An unmarked folder is claimed when it does not exist yet (with ``create``), holds
    no label map, or holds label maps this store references.
    """
    owner = folder_owner(folder)
    if owner is not None:
        return owner == store_uuid
    if not folder.exists():
        if not create:
            return False
        make_private_dirs(folder)
    else:
        maps = _label_maps(folder)
        if maps:
            referenced = _referenced(engine)
            if not any(p.relative_to(folder).as_posix() in referenced for p in maps):
                return False
    try:
        write_bytes_atomic(folder / IDENTITY_FILE, (store_uuid + "\n").encode("ascii"))
    except OSError:
        return False  # a read-only folder: used, never cleaned
    return folder_owner(folder) == store_uuid


def clean_on_open(folder: Path, engine: Engine, *, max_age_s: float) -> list[Path]:
    """Remove abandoned temporary files and unreferenced label maps from an owned folder.

    The caller checks ownership. A label map is removed only when no writer holds its
    lock (a save in progress holds it until its row is committed), it is older than
    the lock grace, and the store, asked again after taking the lock, does not
    reference it.
    """
    removed = remove_abandoned(sorted((folder / ".tmp").glob("*.part")), max_age_s=max_age_s)
    maps = _label_maps(folder)
    if maps:
        referenced = _referenced(engine)
        for path in maps:
            rel = path.relative_to(folder).as_posix()
            if rel in referenced or not is_abandoned(path, max_age_s=max_age_s):
                continue
            if _remove_if_unreferenced(path, rel, engine):
                removed.append(path)
    if removed:
        log.info("removed %d abandoned annotation file(s) left by interrupted saves",
                 len(removed))
    return removed


def _remove_if_unreferenced(path: Path, rel: str, engine: Engine) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            pass  # no locks: the age check of is_abandoned decided
        if rel in _referenced(engine):
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def sqlite_file(url: str) -> Path | None:
    """The SQLite file of a store URL, or ``None`` (another database, in memory)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - reported when the engine is made
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def create_if_new(url: str, *, init: bool) -> None:
    """Create a SQLite store where no file exists (or over an empty one with ``init``)."""
    from .._faults import os_error_line

    path = sqlite_file(url)
    if path is None:
        return
    from sqlalchemy.exc import DBAPIError

    from .._faults import db_error_message

    try:
        state = check_sqlite_file(path, init=init)
        if state != "store":
            create_sqlite_store(path, over_empty=state == "empty")
    except OSError as exc:
        raise StoreError(f"cannot create the store: {os_error_line(exc)}") from None
    except (sqlite3.Error, DBAPIError) as exc:
        raise StoreError(db_error_message(exc, str(path), what="creating the store")) \
            from None


def open_failure_line(url: str, exc: BaseException) -> str:
    """One line for a store that cannot be opened (read-only folder named as such)."""
    from .._faults import db_error_message
    from ._engine import shown_url

    path = sqlite_file(url)
    if path is not None and path.parent.is_dir():
        read_only = bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
        if read_only or not os.access(path.parent, os.W_OK):
            return (f"cannot open the store {path}: its folder is "
                    f"{'on a read-only file system' if read_only else 'not writable'} (a "
                    "SQLite store writes beside itself, e.g. its -wal file); make the folder "
                    "writable or copy the store to a writable place")
    line = db_error_message(exc, shown_url(url), what="opening the store")
    return line if line.startswith("cannot open") else "cannot open the store: " + line
