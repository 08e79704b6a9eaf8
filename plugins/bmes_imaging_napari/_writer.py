"""napari writer: a labels layer (edema or bone labels) to NIfTI, atomically.

The file carries the layer's RAS+ affine, so it overlays the T1 in any NIfTI viewer and
reads back voxel-exact with :func:`bmes_imaging.load_nifti`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging.errors import NiftiError
from bmes_imaging.volume import Volume

from ._layers import META_KEY

__all__ = ["affine_from_layer_state", "write_labels"]


def affine_from_layer_state(meta: dict[str, Any]) -> np.ndarray:
    """The RAS+ affine of a layer from its state dict (as napari passes to writers)."""
    ours = (meta.get("metadata") or {}).get(META_KEY) or {}
    if ours.get("affine") is not None:
        return np.asarray(ours["affine"], dtype=np.float64)
    physical = np.eye(4)
    if meta.get("scale") is not None:
        physical[:3, :3] = np.diag(np.asarray(meta["scale"], dtype=np.float64)[-3:])
    if meta.get("translate") is not None:
        physical[:3, 3] = np.asarray(meta["translate"], dtype=np.float64)[-3:]
    affine = meta.get("affine")
    if affine is None:
        return physical
    matrix = getattr(affine, "affine_matrix", affine)
    return np.asarray(matrix, dtype=np.float64)[-4:, -4:] @ physical


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a 3-D labels layer to ``path`` (``.nii`` or ``.nii.gz``); return ``[path]``.

    Raises
    ------
    NiftiError
        If the layer is not 3-D or the extension is not a NIfTI one.
    """
    target = Path(path)
    if not target.name.lower().endswith((".nii", ".nii.gz")):
        raise NiftiError(f"{target}: edema labels are written as NIfTI; use a name "
                         "ending in .nii.gz")
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise NiftiError(f"{target}: expected a 3-D labels layer, found shape {arr.shape}")
    if arr.max(initial=0) <= np.iinfo(np.uint8).max and arr.min(initial=0) >= 0:
        arr = arr.astype(np.uint8)
    ours = (meta.get("metadata") or {}).get(META_KEY) or {}
    if ours.get("order") is not None and ours.get("affine") is not None:
        arr = arr.transpose(np.argsort(ours["order"]))  # back to the volume's axis order
    Volume(arr, affine_from_layer_state(meta), ours.get("info")).to_nifti(target)
    return [str(target)]
