"""Atomic, private file writes: a temporary file in the target's folder, fsync, a rename.

A crash or a kill never leaves a half-written file: readers see the old file or the new
one. Every writer of bmes-imaging (NIfTI, DICOM, CSV, reports, markers) goes through
this module.

Files are created ``0600`` and missing folders ``0700`` whatever the umask (the
toolkit writes health data). A writer holds an advisory lock (``flock``) on its
temporary file until the rename, so the next write of the same target removes the
temporary files of writers that died (``kill -9``, power loss) at once, and those
older than :data:`STALE_AGE_S` where the file system has no locks. Every CSV cell goes
through :func:`bmes_imaging._outbound.csv_cell` (no spreadsheet formula from data).

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "out" / "a.csv"
>>> _ = write_csv_atomic(p, ["bone", "grade"], [{"bone": "talus", "grade": 3}])
>>> p.read_text(), oct(p.stat().st_mode & 0o777)
('bone,grade\\ntalus,3\\n', '0o600')
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._outbound import csv_cell

__all__ = ["FILE_MODE", "FOLDER_MODE", "STALE_AGE_S", "PrivateLogFile", "atomic_path",
           "is_abandoned",
           "make_private_dirs", "remove_abandoned", "sweep_temp_files", "write_bytes_atomic",
           "write_csv_atomic", "write_text_atomic"]

#: Permissions of every file bmes-imaging creates.
FILE_MODE = 0o600
#: Permissions of every folder bmes-imaging creates.
FOLDER_MODE = 0o700
#: Age after which an unlocked temporary file counts as abandoned where ``flock`` does not
#: work (some network file systems); with working locks a dead writer's file goes at once.
STALE_AGE_S = 3600.0
#: A temporary file younger than this is never removed (its writer may not hold its lock
#: yet: the file is created, then locked).
LOCK_GRACE_S = 2.0


class PrivateLogFile(logging.FileHandler):
    """A log file created 0600 (whatever the umask); a full disk does not print tracebacks.

    When a line cannot be written (disk full, share gone) the handler notes it in
    :attr:`failed` and drops the line: the run itself reports the fault where it
    matters (its results cannot be written either), in one line.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))
        super().__init__(path, encoding="utf-8")
        self.failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed = True

    def flush(self) -> None:
        """Flush; a full disk marks the log as failed instead of raising."""
        try:
            super().flush()
        except OSError:
            self.failed = True

    def close(self) -> None:
        """Close; a full disk (the last lines cannot be written) does not raise."""
        try:
            super().close()
        except OSError:
            self.failed = True
            self.stream = None  # type: ignore[assignment]


def make_private_dirs(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` and its missing parents with mode 0700; return it.

    Folders that exist already keep their permissions.
    """
    path = Path(folder)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        os.chmod(p, FOLDER_MODE)  # the umask may have taken bits away, never add them
    if not path.is_dir():
        raise NotADirectoryError(20, "not a folder", str(path))
    return path


def is_abandoned(path: Path, *, max_age_s: float = STALE_AGE_S,
                 grace_s: float = LOCK_GRACE_S) -> bool:
    """Whether the temporary file ``path`` belongs to no living writer.

    True when nobody holds its lock and it is older than ``grace_s``; where locks do
    not work, when it is older than ``max_age_s``.
    """
    try:
        age = time.time() - path.stat().st_mtime
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a living writer holds it
    except OSError:
        return age >= max_age_s  # no locks here: only the age tells
    finally:
        os.close(fd)
    return age >= grace_s


#: Name of a temporary file of :func:`atomic_path`: ``.<target>.<8 random><suffix>``.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}(?P<suffix>(?:\.[^.]+)*)")


def sweep_temp_files(folder: str | os.PathLike[str], *, recursive: bool = True,
                     max_age_s: float = STALE_AGE_S) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` writers that died under ``folder``.

    For a resumed run (``bmes screen``): targets that are not written again would keep
    a dead writer's temporary file otherwise. Returns the files removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    found = root.rglob(".*") if recursive else root.glob(".*")
    temps = []
    for p in found:
        m = _TEMP_NAME.fullmatch(p.name)
        if m and m.group("suffix") in ("".join(Path(m.group("target")).suffixes), ".tmp"):
            temps.append(p)
    return remove_abandoned(temps, max_age_s=max_age_s)


def remove_abandoned(paths: Iterable[Path], *, max_age_s: float = STALE_AGE_S) -> list[Path]:
    """Delete the abandoned temporary files among ``paths``; return those deleted."""
    removed = []
    for p in paths:
        if p.is_file() and is_abandoned(p, max_age_s=max_age_s):
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None,
                mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For writers that want a file name (``nibabel.save``, ``Dataset.save_as``). The
    temporary file keeps ``path``'s suffixes (or ``suffix``) so such writers pick the
    right format; it is locked while written, fsynced and renamed over ``path`` when
    the block exits cleanly, and removed when it raises. Temporary files of earlier
    writers of the same target that died are removed first.

    Parameters
    ----------
    path
        Final file path; missing parent folders are created (0700).
    suffix
        Suffix of the temporary file (default: all of ``path``'s suffixes).
    mode
        Permissions of the final file (default: 0600, whatever the umask).
    """
    target = Path(path)
    make_private_dirs(target.parent)
    sfx = "".join(target.suffixes) if suffix is None else suffix
    prefix = f".{target.name}."
    remove_abandoned(p for p in target.parent.glob(f"{glob_escape(prefix)}*")
                     if p.name.endswith(sfx or ".tmp"))
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=sfx or ".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # no locks on this file system: the age rule applies
        os.fchmod(fd, FILE_MODE if mode is None else mode)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None or Path(exc.filename) == tmp:  # name the file the user asked
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped (``[*]``, ``[?]``, ``[[]``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *,
                       mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (0600 unless ``mode``); return the path."""
    with atomic_path(path, mode=mode) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (newlines written as given)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: str | os.PathLike[str], columns: Sequence[str],
                     rows: Iterable[Sequence[Any] | dict[str, Any]]) -> Path:
    """Write a CSV with a header row atomically; rows are sequences or dicts.

    ``None`` is written as an empty cell; dict keys not in ``columns`` are ignored.
    Every cell goes through :func:`~bmes_imaging._outbound.csv_cell`: text from data
    that a spreadsheet would run as a formula gets a leading ``'``, control characters
    are escaped; numbers stay numbers.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = write_csv_atomic(p, ["id", "change"], [["=1+1", -3.5]])
    >>> p.read_text()
    "id,change\\n'=1+1,-3.5\\n"
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        if isinstance(row, dict):
            writer.writerow([csv_cell(row.get(c)) for c in columns])
        else:
            writer.writerow([csv_cell(v) for v in row])
    return write_text_atomic(path, buf.getvalue())
