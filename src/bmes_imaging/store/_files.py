"""Label maps of annotations: serialised in memory, checked on every read.

Since schema 0003 a label map is stored inside the database (table ``label_map``):
gzip-compressed NIfTI-1 bytes, with their SHA-256 in ``annotation.label_sha256``,
committed in the same transaction as the version's row, findings and audit events,
so a store opened from any account or machine sees every review, and a crash leaves
nothing half-written.

Stores older than 0003 kept each map as a file under their annotation folder::

    <root>/.tmp/<random>.nii.gz.part          being written (stray ones are garbage)
    <root>/<StudyInstanceUID>/<reader>/v0003-<random>.nii.gz

The migration moves those files in; :func:`read_label_file` still reads them (a
version whose map was never moved), and :func:`find_orphans` lists files no version
references.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import StoreError
from ..volume import SeriesInfo, Volume

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "SerialisedLabels",
    "check_label_maps",
    "find_orphans",
    "label_map_name",
    "labels_from_bytes",
    "read_label_file",
    "serialise_labels",
    "sha256_bytes",
]

TMP_DIR = ".tmp"
_LABEL_DTYPES = (np.uint8, np.uint16, np.int16, np.int32, np.uint32)


class SerialisedLabels(NamedTuple):
    """A label map ready to store: compressed bytes, their SHA-256, shape, dtype, affine."""

    data: bytes
    sha256: str
    shape: tuple[int, ...]
    dtype: str
    affine: list[list[float]]


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("._")
    return slug[:60] or "reader"


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


def label_map_name(study_instance_uid: str, reader: str, version: int,
                   annotation_id: int) -> str:
    """The name a label map is known by (and written to by a downgrade to schema 0002).

    Examples
    --------
    >>> label_map_name("1.2.3", "Dr A", 4, 17)
    '1.2.3/Dr_A/v0004-00000011.nii.gz'
    """
    return f"{_slug(study_instance_uid)}/{_slug(reader)}/v{version:04d}-{annotation_id:08x}.nii.gz"


def serialise_labels(labels: Volume) -> SerialisedLabels:
    """A label map as gzip-compressed NIfTI-1 bytes with its SHA-256 and grid."""
    import nibabel as nib

    arr = _label_array(labels)
    img = nib.Nifti1Image(arr, labels.affine)
    img.set_sform(labels.affine, code=1)
    img.set_qform(labels.affine, code=1)
    img.header.set_xyzt_units("mm")
    data = gzip.compress(img.to_bytes(), compresslevel=1, mtime=0)  # fast; maps are sparse
    affine = [[float(v) for v in row] for row in np.asarray(labels.affine, dtype=np.float64)]
    return SerialisedLabels(data, sha256_bytes(data), tuple(int(s) for s in arr.shape),
                            str(arr.dtype), affine)


def labels_from_bytes(data: bytes, sha256: str, *, where: str, affine_json: str | None,
                      info: SeriesInfo | None = None) -> Volume:
    """A stored label map back as a :class:`Volume`, after verifying its checksum.

    The affine stored in the database (float64) is used, so the grid is reproduced
    exactly (NIfTI keeps the affine in float32 only).

    Raises
    ------
    StoreError
        If the bytes' SHA-256 differs from the recorded one (``where`` names the map).
    """
    import nibabel as nib

    actual = sha256_bytes(data)
    if actual != sha256:
        raise StoreError(f"{where} is damaged: sha256 {actual[:12]}... differs from the "
                         f"recorded {sha256[:12]}...; restore the store from a backup")
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    arr = np.asanyarray(img.dataobj)
    affine = np.asarray(json.loads(affine_json), dtype=np.float64) if affine_json \
        else img.affine
    return Volume(np.asarray(arr), affine, info)


def read_label_file(root: Path, relative: str, sha256: str, *, affine_json: str | None,
                    info: SeriesInfo | None = None) -> Volume:
    """Read a label map kept as a file (stores older than schema 0003), checksum verified.

    Raises
    ------
    StoreError
        If the file is missing or its checksum differs from the recorded one.
    """
    path = root / relative
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"annotation file {path} is missing; restore it from a backup "
                         "of the annotation folder") from None
    return labels_from_bytes(data, sha256, where=f"annotation file {path}",
                             affine_json=affine_json, info=info)


def check_label_maps(session: Session, root: Path) -> tuple[list[str], set[str]]:
    """Verify every version's label map: ``(problems, names referenced)``.

    A map in the database is checked one at a time (never all of them in memory); a
    map never moved in is checked in its file under ``root``.
    """
    from sqlalchemy import select

    from ._models import Annotation, LabelMap

    rows = session.execute(select(Annotation.id, Annotation.label_path,
                                  Annotation.label_sha256, LabelMap.annotation_id)
                           .outerjoin(LabelMap, LabelMap.annotation_id == Annotation.id)
                           .where(Annotation.label_path.is_not(None))
                           .order_by(Annotation.id)).all()
    problems: list[str] = []
    referenced: set[str] = set()
    for ann_id, rel, sha, in_db in rows:
        referenced.add(str(rel))
        if in_db is not None:
            data = session.scalar(select(LabelMap.data)
                                  .where(LabelMap.annotation_id == ann_id))
            if data is None or sha256_bytes(bytes(data)) != sha:
                problems.append(f"version id {ann_id}: its label map in the database "
                                "fails its checksum")
            continue
        path = root / rel
        if not path.is_file():
            problems.append(f"version id {ann_id}: file {path} is missing")
        elif sha256_bytes(path.read_bytes()) != sha:
            problems.append(f"version id {ann_id}: file {path} fails its checksum")
    return problems, referenced


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
