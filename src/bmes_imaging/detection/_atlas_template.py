"""T1-like templates of the foot atlas for registration (see :mod:`._atlas`).

Each anatomical class of the packaged atlas gets a generic T1 appearance (fat and
marrow bright, muscle intermediate, tendon and cortex dark); an atlas given as bone
labels only gets a bone-only template. Templates are blurred along the T1 slice
direction like the T1 slice profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..anatomy import load_foot_tissues
from ..bones import Bone
from ..errors import DetectionError
from ..geometry import apply_affine
from ..volume import Volume

__all__ = [
    "AIR",
    "ATLAS_STEP",
    "OTHER",
    "PreparedAtlas",
    "coarse_labels",
    "label_template",
    "slice_profile",
    "tissue_template",
]

MARROW, CORTEX, OTHER, AIR = 1.0, 0.1, 0.45, 0.0
#: Soft tissue assumed within this distance of a bone, air beyond (0: not modelled;
#: modelling it made the registration worse on the phantom).
_ENVELOPE_MM = 0.0
#: The packaged atlas has 0.5 mm voxels; registration works at 1 mm.
ATLAS_STEP = 2
_TISSUE_CACHE: dict[tuple[object, ...], NDArray[np.float32]] = {}


#: Generic T1 appearance (relative to fat) of the atlas' anatomical classes: what any
#: T1-weighted foot image shows, not a particular scanner's or phantom's values.
_T1_APPEARANCE = {
    "air": 0.0, "other_bone": 0.95, "subcutaneous_fat": 1.0, "muscle": 0.38,
    "tendon": 0.08, "cartilage": 0.5, "joint_recess": 0.85, "vessel": 0.1, "skin": 0.55,
    "kager_fat": 1.0,
}


def tissue_template(atlas: Volume) -> tuple[NDArray[np.float32], NDArray[np.float64]] | None:
    """T1-like template from the atlas' tissue classes (soft tissue, air, cortex).

    The packaged atlas carries the classes of every voxel (fat, muscle, tendons...);
    giving each its generic T1 appearance makes a template image like the T1 atlases
    of brain registration, block-averaged from the 0.5 mm classes onto the grid of
    ``atlas`` (the packaged labels every ``ATLAS_STEP`` voxels). Returns None when the
    atlas grid does not match (then the bone-only template is used).
    """
    a = load_foot_tissues()
    f = ATLAS_STEP
    n = np.array(a.codes.shape) // f
    if tuple(-(-np.array(a.codes.shape) // f)) != atlas.shape:
        return None
    lut = np.zeros(256, dtype=np.float32)
    for code, name in a.tissue_names.items():
        lut[code] = _T1_APPEARANCE.get(name, OTHER)
    lut[1:a.other_bone_code + 1] = 0.95
    lut[a.cortex_bit:a.cortex_bit + a.other_bone_code + 1] = 0.08
    key = (a.codes.shape, f)
    if key not in _TISSUE_CACHE:  # the same array serves both sides (mirrored affine)
        total = np.zeros(tuple(n), dtype=np.float32)
        for i in range(f):  # sum of the f**3 sub-grids: a block sum without copies
            for j in range(f):
                for k in range(f):
                    total += lut[a.codes[i:n[0] * f:f, j:n[1] * f:f, k:n[2] * f:f]]
        total *= np.float32(1.0 / f ** 3)
        _TISSUE_CACHE[key] = total
    vals = _TISSUE_CACHE[key]
    aff = atlas.affine.copy()  # block centres: half a 0.5 mm voxel from the labels' grid
    aff[:3, 3] = apply_affine(atlas.affine, [np.full(3, (f - 1) / (2.0 * f))])[0]
    return vals, aff


def coarse_labels(labels: Volume, spacing: float) -> Volume:
    """Nearest-neighbour subsampling of a label volume to about ``spacing`` mm."""
    f = np.maximum(1, np.round(spacing / labels.voxel_sizes)).astype(int)
    if np.all(f == 1):
        return labels
    arr = np.ascontiguousarray(np.asarray(labels.array)[::f[0], ::f[1], ::f[2]])
    aff = labels.affine.copy()
    aff[:3, :3] = labels.affine[:3, :3] * f
    return Volume(arr.astype(np.uint8), aff, labels.info)


def label_template(labels: Volume) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """T1-like template on a ~1 mm grid from bone labels only."""
    vs = labels.voxel_sizes
    f = np.maximum(1, np.round(1.0 / vs)).astype(int)
    lab = np.asarray(labels.array)
    if np.any(f > 1):
        lab = lab[::f[0], ::f[1], ::f[2]]
        aff = labels.affine.copy()
        aff[:3, :3] = labels.affine[:3, :3] * f
    else:
        aff = labels.affine.copy()
    vs2 = vs * f
    bone = lab > 0
    inner = ndimage.distance_transform_edt(bone, sampling=vs2) > 1.0
    tmpl = np.full(lab.shape, OTHER, dtype=np.float32)
    if _ENVELOPE_MM:
        far = ndimage.distance_transform_edt(~bone, sampling=vs2) > _ENVELOPE_MM
        tmpl[far] = AIR
    tmpl[bone] = CORTEX
    tmpl[inner] = MARROW
    return ndimage.gaussian_filter(tmpl, 0.6), aff


def slice_profile(tmpl: NDArray[np.float32], taff: NDArray[np.float64], t1: Volume
                   ) -> NDArray[np.float32]:
    """Blur the template along the T1 slice direction like the T1 slice profile.

    A T1 voxel averages the anatomy over its slice thickness (3-4 mm) but only a
    fraction of a millimetre in plane; the template is blurred the same way along the
    atlas axis closest to the T1 slice normal (Gaussian with FWHM = slice spacing).
    """
    vs = t1.voxel_sizes
    k = int(np.argmax(vs))
    if vs[k] < 1.5 * float(np.median(vs)):
        return tmpl  # near-isotropic T1: nothing to mimic
    normal = t1.affine[:3, k] / vs[k]
    axes = taff[:3, :3] / np.sqrt((taff[:3, :3] ** 2).sum(axis=0))
    ax = int(np.argmax(np.abs(normal @ axes)))
    step = float(np.sqrt((taff[:3, ax] ** 2).sum()))
    sigma = vs[k] / 2.355 / step
    return ndimage.gaussian_filter1d(tmpl, sigma, axis=ax).astype(np.float32)


@dataclass
class PreparedAtlas:
    """An atlas at about 1 mm with what every registration reuses (built once)."""

    labels: Volume
    template: NDArray[np.float32]
    template_affine: NDArray[np.float64]
    #: world centre of all bone voxels
    centre: NDArray[np.float64] = field(init=False)
    #: per bone: a subsample of its voxels' world positions (box for the refinement)
    points: dict[int, NDArray[np.float64]] = field(init=False)
    #: per bone: its mask cropped to its box (uint8 0/1) and that box's voxel-to-world
    masks: dict[int, tuple[NDArray[np.float32], NDArray[np.float64]]] = field(init=False)
    #: slice-profiled templates (full and half resolution) per T1 slice geometry
    profiled: dict[tuple[object, ...], tuple[NDArray[np.float32], NDArray[np.float32],
                                             NDArray[np.float64]]] = field(init=False)

    def __post_init__(self) -> None:
        lab = np.asarray(self.labels.array)
        idx = np.argwhere(lab > 0)
        if len(idx) == 0:
            raise DetectionError("the foot atlas holds no bone labels")
        self.centre = apply_affine(self.labels.affine, idx.mean(axis=0)[None])[0]
        self.points, self.masks, self.profiled = {}, {}, {}
        objects = ndimage.find_objects(np.where(lab <= len(Bone), lab, 0))
        for i, box in enumerate(objects):
            if box is None:
                continue
            b = i + 1
            sub = lab[box] == b
            lo = np.array([sl.start for sl in box], dtype=np.float64)
            self.points[b] = apply_affine(self.labels.affine,
                                          np.argwhere(sub)[::7] + lo)
            shift = np.eye(4)
            shift[:3, 3] = lo
            self.masks[b] = (sub.astype(np.float32), self.labels.affine @ shift)

    def profiled_for(self, t1: Volume) -> tuple[NDArray[np.float32], NDArray[np.float32],
                                                NDArray[np.float64]]:
        """The template blurred like ``t1``'s slice profile, its 2 mm copy and affine."""
        key = (tuple(np.round(t1.voxel_sizes, 3)),
               tuple(np.round(t1.affine[:3, :3], 3).ravel()))
        if key not in self.profiled:
            tmpl = slice_profile(self.template, self.template_affine, t1)
            tmpl2 = np.ascontiguousarray(ndimage.zoom(tmpl, 0.5, order=1))
            taff2 = self.template_affine.copy()
            taff2[:3, :3] = self.template_affine[:3, :3] * (
                np.array(tmpl.shape) - 1) / np.maximum(np.array(tmpl2.shape) - 1, 1)
            if len(self.profiled) > 8:
                self.profiled.clear()
            self.profiled[key] = (tmpl, tmpl2, taff2)
        return self.profiled[key]
