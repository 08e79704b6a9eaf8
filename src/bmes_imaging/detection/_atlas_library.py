"""A site's atlas library: confirmed bone masks of real studies, fused with the shipped atlas.

A reader's confirmed (or imported) bone label map and its T1 series become an atlas
(:func:`add_atlas`, ``bmes atlas add STUDY --bones LABELS``). Atlases live beside the
site's store: the folder ``atlases/`` next to the SQLite file, or ``$BMES_ATLAS_DIR``
(needed when the store is a server database). Each atlas is a folder (0700) holding
``t1.nii.gz``, ``bones.nii.gz`` (on the T1 grid) and ``atlas.json``, files 0600; no
patient identifier is stored, the folder name is a hash.

Automatic bone masks (:func:`._atlas.automatic_bones`) register the shipped atlas and
up to :data:`MAX_SITE_ATLASES` site atlases of the same foot (a right foot serves a
left one mirrored) and fuse them by weighted voting (:func:`fuse_labels`): each
atlas' vote is weighted by how well it matched the image. The shipped atlas stays
the default and takes part in every vote.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..bones import Bone
from ..errors import DetectionError
from ..geometry import apply_affine, resample_to
from ..volume import Volume, load_nifti
from ._atlas_template import PreparedAtlas

__all__ = ["ATLAS_DIR_ENV", "MAX_SITE_ATLASES", "SiteAtlas", "add_atlas", "atlas_dir",
           "fuse_labels", "list_atlases", "site_atlases_for"]

#: Environment variable naming the atlas library folder.
ATLAS_DIR_ENV = "BMES_ATLAS_DIR"
#: At most this many site atlases are registered per study (each costs a registration).
MAX_SITE_ATLASES = 2
#: Weight of an atlas' vote: exp((match - best match) / this); 0.01 NMI apart is e-fold.
VOTE_SCALE = 0.01
_MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class SiteAtlas:
    """One atlas of the library.

    Attributes
    ----------
    path
        Its folder.
    side
        ``"L"`` or ``"R"``.
    bones
        Bone labels it holds.
    added
        ISO date-time it was added.
    """

    path: Path
    side: str
    bones: tuple[int, ...]
    added: str

    @property
    def name(self) -> str:
        """The folder name (a hash, no identifier)."""
        return self.path.name


def atlas_dir(db: str | os.PathLike[str] | None = None) -> Path:
    """The atlas library folder: ``$BMES_ATLAS_DIR``, else ``atlases/`` beside the
    SQLite store (``db``, ``$BMES_DB`` or the default store path).

    Raises
    ------
    DetectionError
        If the store is a server database and ``$BMES_ATLAS_DIR`` is not set.
    """
    env = os.environ.get(ATLAS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from ..store._engine import resolve_url

    url = resolve_url(db)
    if not url.startswith("sqlite:///"):
        raise DetectionError("the store is a server database; set $BMES_ATLAS_DIR to the "
                             "folder where this site's bone atlases are kept")
    return Path(url[len("sqlite:///"):]).parent / "atlases"


def _read_meta(folder: Path) -> SiteAtlas | None:
    try:
        meta = json.loads((folder / "atlas.json").read_text(encoding="utf-8"))
        if not ((folder / "t1.nii.gz").is_file() and (folder / "bones.nii.gz").is_file()):
            return None
        return SiteAtlas(folder, str(meta["side"]), tuple(int(b) for b in meta["bones"]),
                         str(meta.get("added", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_atlases(folder: str | os.PathLike[str] | None = None) -> list[SiteAtlas]:
    """The library's atlases, oldest first (folders that are not atlases are ignored)."""
    root = Path(folder) if folder is not None else atlas_dir()
    if not root.is_dir():
        return []
    found = [a for p in sorted(root.iterdir()) if p.is_dir() and (a := _read_meta(p))]
    return sorted(found, key=lambda a: (a.added, a.name))


def add_atlas(t1: Volume, bones: Volume, folder: str | os.PathLike[str] | None = None, *,
              side: str | None = None) -> SiteAtlas:
    """Store a T1 series and its confirmed bone label map (T1 grid) as an atlas.

    Parameters
    ----------
    t1
        The T1 image.
    bones
        Bone labels in the project convention on the T1 grid
        (:func:`._bone_masks.bones_from_labels` puts any label map there).
    folder
        The library folder (default :func:`atlas_dir`).
    side
        ``"L"`` or ``"R"``; default the T1 series' laterality.

    Raises
    ------
    DetectionError
        Unknown side, label map not on the T1 grid, or fewer than three bones.
    """
    from .._atomic import atomic_path, make_private_dirs, write_text_atomic

    side = (side or t1.info.laterality or "").upper()
    if side not in ("L", "R"):
        raise DetectionError("the atlas' side is unknown (no Laterality in the T1 series); "
                             "give it with --side L or --side R")
    if bones.shape != t1.shape or not np.allclose(bones.affine, t1.affine, atol=1e-3):
        raise DetectionError("the bone label map is not on the T1 grid; resample it first")
    present = sorted(int(b) for b in np.unique(bones.array) if 0 < int(b) <= len(Bone))
    if len(present) < 3:
        raise DetectionError(f"the bone label map holds {len(present)} bone(s); an atlas "
                             "needs at least three confirmed bones")
    root = Path(folder) if folder is not None else atlas_dir()
    digest = hashlib.sha256(np.ascontiguousarray(t1.array).tobytes()
                            + np.ascontiguousarray(bones.array).tobytes()).hexdigest()[:16]
    target = make_private_dirs(root / f"atlas-{digest}")
    import nibabel as nib

    for name, vol, dtype in (("t1.nii.gz", t1, np.float32), ("bones.nii.gz", bones, np.uint8)):
        with atomic_path(target / name) as tmp:
            nib.save(nib.Nifti1Image(np.asarray(vol.array, dtype=dtype), vol.affine), tmp)
    meta = {"side": side, "bones": present,
            "added": datetime.now(UTC).isoformat(timespec="seconds"),
            "format": 1}
    write_text_atomic(target / "atlas.json", json.dumps(meta, indent=2) + "\n")
    atlas = _read_meta(target)
    assert atlas is not None
    return atlas


_PREPARED: dict[tuple[str, str, float], Any] = {}
_LOCK = threading.Lock()


def _prepare(atlas: SiteAtlas, side: str) -> Any:
    """The atlas as a :class:`._atlas_template.PreparedAtlas` at 1 mm for a ``side`` foot."""
    key = (str(atlas.path), side, (atlas.path / "atlas.json").stat().st_mtime)
    with _LOCK:
        if key in _PREPARED:
            return _PREPARED[key]
    t1 = load_nifti(atlas.path / "t1.nii.gz")
    lab = load_nifti(atlas.path / "bones.nii.gz")
    idx = np.argwhere(np.asarray(lab.array) > 0)
    lo_w = apply_affine(lab.affine, idx.min(axis=0)[None])[0]
    hi_w = apply_affine(lab.affine, idx.max(axis=0)[None])[0]
    lo, hi = np.minimum(lo_w, hi_w) - 25.0, np.maximum(lo_w, hi_w) + 25.0
    aff = np.eye(4)
    aff[:3, 3] = lo
    shape = tuple(int(n) for n in np.ceil(hi - lo) + 1)
    tmpl = resample_to(t1, aff, shape, order=1, cval=0.0).array.astype(np.float32)
    labels = resample_to(lab, aff, shape, order=0, cval=0).array.astype(np.uint8)
    body = tmpl[tmpl > 0]
    p_lo, p_hi = np.percentile(body, [1, 99.5]) if body.size else (0.0, 1.0)
    tmpl = np.clip((tmpl - p_lo) / max(float(p_hi - p_lo), 1e-6), 0.0, 1.0).astype(np.float32)
    if side != atlas.side:  # a right foot serves a left one mirrored, and back
        aff = _MIRROR @ aff
    prepared = PreparedAtlas(Volume(labels, aff), tmpl, aff)
    with _LOCK:
        if len(_PREPARED) > 8:
            _PREPARED.clear()
        _PREPARED[key] = prepared
    return prepared


def site_atlases_for(side: str, folder: str | os.PathLike[str] | None = None) -> list[Any]:
    """Prepared site atlases for a ``side`` foot: the same side first, newest first,
    at most :data:`MAX_SITE_ATLASES`; none when the library is empty or unset."""
    try:
        found = list_atlases(folder)
    except DetectionError:
        return []
    found.sort(key=lambda a: (a.side == side, a.added), reverse=True)
    return [_prepare(a, side) for a in found[:MAX_SITE_ATLASES]]


def fuse_labels(candidates: list[tuple[NDArray[np.uint8], float]]
                ) -> tuple[NDArray[np.uint8], dict[int, float]]:
    """Weighted majority vote of label maps on one grid.

    Parameters
    ----------
    candidates
        ``(labels, match)`` per atlas; the vote of each is weighted by
        ``exp((match - best) / VOTE_SCALE)``.

    Returns
    -------
    labels
        Per voxel the bone with the largest vote, where that vote is more than half of
        the total weight (background otherwise).
    agreement
        Per bone, the weighted mean Dice of each atlas' mask with the fused mask (1.0
        with a single atlas).
    """
    if len(candidates) == 1:
        lab = candidates[0][0]
        return lab, {int(b): 1.0 for b in np.unique(lab) if b}
    best = max(m for _, m in candidates)
    weights = [float(np.exp((m - best) / VOTE_SCALE)) for _, m in candidates]
    total = sum(weights)
    union = np.zeros(candidates[0][0].shape, dtype=bool)
    for lab, _ in candidates:
        union |= lab > 0
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(union))
    crops = [lab[box] for lab, _ in candidates]
    best_w = np.full(crops[0].shape, 0.5 * total, dtype=np.float32)
    fused = np.zeros(crops[0].shape, dtype=np.uint8)
    labels_present = sorted({int(b) for c in crops for b in np.unique(c) if b})
    for b in labels_present:
        w = np.zeros(crops[0].shape, dtype=np.float32)
        for c, wt in zip(crops, weights, strict=False):
            w[c == b] += wt
        win = w > best_w
        best_w[win] = w[win]
        fused[win] = b
    agreement: dict[int, float] = {}
    for b in labels_present:
        f = fused == b
        dices = []
        for c in crops:
            m = c == b
            s = int(f.sum() + m.sum())
            dices.append(2.0 * float((f & m).sum()) / s if s else 0.0)
        agreement[b] = float(np.average(dices, weights=weights))
    out = np.zeros(candidates[0][0].shape, dtype=np.uint8)
    out[box] = fused
    return out, agreement
