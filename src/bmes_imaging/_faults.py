"""One clear line for operating-system and database faults.

A full disk, a read-only folder, a store another program holds or a database server
that went away are not bugs: the user gets one line naming the path (or the store) and
what to do, never a traceback, an SQL statement or its parameters.

Examples
--------
>>> import errno
>>> line = os_error_line(OSError(errno.ENOSPC, "No space left on device", "/data/out.csv"))
>>> for part in line.split("; "):
...     print(part)
cannot write /data/out.csv: the disk is full (no space left on device)
free space or write to another disk
"""

from __future__ import annotations

import errno
from typing import Any

from ._outbound import terminal_text

__all__ = ["db_error_message", "os_error_line"]

_OS_HINTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full (no space left on device)",
                   "free space or write to another disk"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space or write to another disk"),
    errno.EFBIG: ("the file grew past what the file system allows",
                  "write to another disk"),
    errno.EACCES: ("permission denied",
                   "check the permissions of the file and its folder, or write elsewhere"),
    errno.EPERM: ("the operation is not permitted",
                  "check the permissions (or immutable flag) of the file and its folder"),
    errno.EROFS: ("the file system is read-only", "write to a writable folder"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path"),
    errno.EISDIR: ("it is a folder", "give a file name"),
    errno.EEXIST: ("it exists already", "remove it or choose another name"),
    errno.EIO: ("an input/output error occurred (failing disk or lost network share)",
                "check the disk or share, then retry"),
    errno.EMFILE: ("too many files are open",
                   "close other programs or raise the limit (ulimit -n), then retry"),
    errno.ENAMETOOLONG: ("the file name is too long", "use a shorter path"),
    errno.ESTALE: ("the network share went away (stale handle)",
                   "mount the share again, then retry"),
}


def os_error_line(exc: OSError) -> str:
    """One line for an :class:`OSError`: which path, what happened, what to do."""
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    hint = _OS_HINTS.get(exc.errno or -1)
    what = hint[0] if hint else (exc.strerror or type(exc).__name__).lower()
    todo = f"; {hint[1]}" if hint else ""
    if not paths:
        return terminal_text(f"{what}{todo}")
    verb = "read" if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR) else "write"
    where = " -> ".join(terminal_text(p) for p in paths)
    return f"cannot {verb} {where}: {what}{todo}"


#: (words of the driver's message, what to tell), the first match wins
_DB_FAULTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("readonly", "read-only", "read only"),
     "the store {store} is read-only, so {what} saved nothing; check the permissions of "
     "the file and its folder, or open a writable copy"),
    (("full", "no space", "quota"),
     "the disk holding the store {store} is full; {what} saved nothing; free space, then "
     "retry"),
    (("locked", "busy"),
     "the store {store} is held by another program; {what} did nothing; close the other "
     "program or try again later"),
    (("not a database", "malformed", "file is encrypted"),
     "the store {store} is damaged or not a bmes-imaging store; restore it from a backup "
     "or give the right file"),
    (("unable to open", "disk i/o"),
     "cannot open the store {store}: the database file cannot be opened; check the "
     "location, its permissions and free space"),
    (("connect", "server closed", "terminat", "timeout", "timed out", "network",
      "broken pipe", "ssl"),
     "the database server of the store {store} cannot be reached (connection lost or "
     "refused); {what} did nothing; check that the server runs and retry"),
)


def db_error_message(exc: BaseException, store: str, *, what: str = "the operation") -> str:
    """One line for a database error (SQLAlchemy ``DBAPIError`` or a DB-API error).

    Only the kind of fault and the store's name (password hidden by the caller) are
    shown: never the SQL statement, never its parameters.
    """
    orig: Any = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = first.lower()
    for words, message in _DB_FAULTS:
        if any(w in low for w in words):
            return message.format(store=store, what=what)
    return (f"the store {store} refused {what} ({type(orig).__name__}; the statement "
            "and its values are not shown); nothing was saved")
