"""Atomic file writes: a temporary file in the target's folder, fsync, then a rename.

A crash or a kill never leaves a half-written file: readers see the old file or the new
one. Every writer of bmes-imaging (NIfTI, DICOM, CSV, reports, markers) goes through
this module.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "out" / "a.csv"
>>> _ = write_csv_atomic(p, ["bone", "grade"], [{"bone": "talus", "grade": 3}])
>>> p.read_text()
'bone,grade\\ntalus,3\\n'
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_bytes_atomic", "write_csv_atomic", "write_text_atomic"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None,
                mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For writers that want a file name (``nibabel.save``, ``Dataset.save_as``). The
    temporary file keeps ``path``'s suffixes (or ``suffix``) so such writers pick the
    right format; it is fsynced and renamed over ``path`` when the block exits cleanly
    and removed when it raises.

    Parameters
    ----------
    path
        Final file path; missing parent folders are created.
    suffix
        Suffix of the temporary file (default: all of ``path``'s suffixes).
    mode
        Permissions of the final file (default: as ``open()`` gives under the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sfx = "".join(target.suffixes) if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=sfx or ".tmp",
                                    dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode if mode is not None else 0o666 & ~_umask())  # mkstemp: 0600
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *,
                       mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
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
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        if isinstance(row, dict):
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
        else:
            writer.writerow(["" if v is None else v for v in row])
    return write_text_atomic(path, buf.getvalue())
