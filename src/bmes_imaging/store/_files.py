"""Label-map files of annotations: durable write, versioned names, checked reads.

Layout under the annotation folder::

    <root>/.tmp/<random>.nii.gz.part          being written (stray ones are garbage)
    <root>/<StudyInstanceUID>/<reader>/v0003-<random>.nii.gz

A label map is serialised to gzip-compressed NIfTI-1 in memory, written to a temporary
file, flushed and fsynced; inside the database write transaction it is hard-linked to
its versioned name (a link never replaces an existing file) and the folder is fsynced;
the temporary name is removed once the transaction has committed. The row that references it commits after that,
so a committed row always has its complete file. A crash can only leave an
unreferenced file behind (:func:`find_orphans` lists them).

The writer holds an advisory lock (``flock``) on the file from its creation until its
row has committed, so the clean-up on the next open (:mod:`._identity`) can tell a
dead writer's leftovers from a save in progress. Files are created 0600, folders 0700.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import secrets
from pathlib import Path

import numpy as np

from .._atomic import FILE_MODE, make_private_dirs
from ..errors import StoreError
from ..volume import SeriesInfo, Volume

__all__ = [
    "PreparedLabels",
    "commit_label_file",
    "find_orphans",
    "prepare_label_file",
    "read_label_file",
    "sha256_bytes",
]

TMP_DIR = ".tmp"
_LABEL_DTYPES = (np.uint8, np.uint16, np.int16, np.int32, np.uint32)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("._")
    return slug[:60] or "reader"


class PreparedLabels:
    """A label map written to a temporary file, waiting for its versioned name."""

    def __init__(self, root: Path, tmp_path: Path, sha256: str, shape: tuple[int, ...],
                 dtype: str, affine: list[list[float]], fd: int = -1) -> None:
        self.root, self.tmp_path, self.sha256 = root, tmp_path, sha256
        self.shape, self.dtype, self.affine = shape, dtype, affine
        self.final_path: Path | None = None
        self._fd = fd  # open and locked until release(): "a save is in progress"

    def release(self) -> None:
        """Remove the temporary name and drop the writer's lock (after the commit)."""
        self.tmp_path.unlink(missing_ok=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        """Remove the temporary file and, if linked but not committed, the final one."""
        self.tmp_path.unlink(missing_ok=True)
        if self.final_path is not None:
            self.final_path.unlink(missing_ok=True)
            self.final_path = None
        self.release()


def _label_array(labels: Volume) -> np.ndarray:
    arr = np.asarray(labels.array)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if arr.dtype.kind in "iu":
        return arr if arr.dtype in _LABEL_DTYPES else arr.astype(np.int32)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        out = arr.astype(np.int32)
        return out.astype(np.uint8) if out.min(initial=0) >= 0 and out.max(initial=0) < 256 \
            else out
    raise StoreError(f"a label map must hold whole numbers (bone labels), found dtype "
                     f"{arr.dtype} with fractional values; nothing was saved")


def prepare_label_file(root: Path, labels: Volume) -> PreparedLabels:
    """Serialise ``labels`` and write it durably to a temporary file under ``root``."""
    import nibabel as nib

    arr = _label_array(labels)
    img = nib.Nifti1Image(arr, labels.affine)
    img.set_sform(labels.affine, code=1)
    img.set_qform(labels.affine, code=1)
    img.header.set_xyzt_units("mm")
    data = gzip.compress(img.to_bytes(), compresslevel=1, mtime=0)  # as nibabel
    tmp_dir = make_private_dirs(root / TMP_DIR)
    tmp_path = tmp_dir / f"{secrets.token_hex(8)}.nii.gz.part"
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with contextlib.suppress(OSError):  # no locks here: the age rule applies
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp_path.unlink(missing_ok=True)
        raise
    affine = [[float(v) for v in row] for row in np.asarray(labels.affine, dtype=np.float64)]
    return PreparedLabels(root, tmp_path, sha256_bytes(data), tuple(int(s) for s in arr.shape),
                          str(arr.dtype), affine, fd)


def commit_label_file(prepared: PreparedLabels, study_instance_uid: str, reader: str,
                      version: int) -> str:
    """Give the prepared file its versioned name (never overwriting); return it relative."""
    folder = make_private_dirs(prepared.root / _slug(study_instance_uid) / _slug(reader))
    while True:
        final = folder / f"v{version:04d}-{secrets.token_hex(4)}.nii.gz"
        try:
            os.link(prepared.tmp_path, final)
        except FileExistsError:
            continue
        break
    prepared.final_path = final
    _fsync_dir(folder)
    return final.relative_to(prepared.root).as_posix()


def read_label_file(root: Path, relative: str, sha256: str, *, affine_json: str | None,
                    info: SeriesInfo | None = None) -> Volume:
    """Read a stored label map, verify its checksum, return it as a :class:`Volume`.

    The affine stored in the database (float64) is used, so the grid is reproduced
    exactly (NIfTI keeps the affine in float32 only).

    Raises
    ------
    StoreError
        If the file is missing or its checksum differs from the recorded one.
    """
    import nibabel as nib

    path = root / relative
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"annotation file {path} is missing; restore it from a backup "
                         "of the annotation folder") from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise StoreError(f"annotation file {path} is damaged: sha256 {actual[:12]}... "
                         f"differs from the recorded {sha256[:12]}...; restore it from a "
                         "backup")
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    arr = np.asanyarray(img.dataobj)
    affine = np.asarray(json.loads(affine_json), dtype=np.float64) if affine_json \
        else img.affine
    return Volume(np.asarray(arr), affine, info)


def find_orphans(root: Path, referenced: set[str]) -> list[Path]:
    """Files under ``root`` no database row references (crash leftovers, temp files).

    The folder's identity file (``.bmes-store-id``) is not an orphan.
    """
    if not root.is_dir():
        return []
    orphans: list[Path] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if "/" not in rel and ".bmes-store-id" in rel:  # the identity (or its writer's)
            continue
        if rel not in referenced:
            orphans.append(path)
    return orphans
