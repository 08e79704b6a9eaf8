"""Atomic file writes for exports and screening results (temp file + rename)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_bytes_atomic", "write_csv_atomic", "write_text_atomic"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *,
                       mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    A crash never leaves a half-written file: readers see the old file or the new one.
    ``mode``: file permissions (default: as ``open()`` would give, honouring the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode if mode is not None else 0o666 & ~_umask())  # mkstemp: 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: str | os.PathLike[str], columns: Sequence[str],
                     rows: Iterable[Sequence[Any] | dict[str, Any]]) -> Path:
    """Write a CSV with a header row atomically; rows are sequences or dicts."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        if isinstance(row, dict):
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
        else:
            writer.writerow(["" if v is None else v for v in row])
    return write_text_atomic(path, buf.getvalue())
