"""Marrow fields of one study in atlas space: edema, red-marrow islands, texture.

Every field is defined on the atlas grid (so it moves with the anatomy and is the same
for T1 and STIR) and stored as ``uint8`` weights (0..255) in a full-size sparse array
that the sampler reads with the same flat indices as the class codes.

Edema of a bone is an ill-defined, soft-edged region: a noisy anisotropic distance to a
centre (on an articular surface for subchondral and moderate edema, near the bone's
middle for diffuse edema), thresholded at the quantile that gives the drawn fraction of
the bone's marrow, with a logistic edge 1-2.5 mm wide. Fractions: subchondral 6-20 %,
moderate 25-50 %, diffuse 60-85 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..anatomy import CARTILAGE, CORTEX_BIT, Atlas
from ..bones import Bone

__all__ = ["EXTENTS", "FRACTION_RANGES", "MarrowFields", "draw_marrow_fields"]

#: Allowed ``edema_extent`` values.
EXTENTS = ("subchondral", "moderate", "diffuse", "mixed")
#: Target fraction of the bone's marrow for each extent.
FRACTION_RANGES: dict[str, tuple[float, float]] = {
    "subchondral": (0.06, 0.20),
    "moderate": (0.25, 0.50),
    "diffuse": (0.60, 0.85),
}
_TILE = 64


@dataclass
class MarrowFields:
    """Per-study marrow fields on the atlas grid.

    Attributes
    ----------
    edema
        ``uint8`` weight 0..255 of edema per atlas voxel (0 outside edema bones);
        truth is ``edema >= 128``.
    red
        ``uint8`` weight of red-marrow islands, or ``None``.
    texture_fine, texture_coarse
        ``float32`` periodic noise tiles (64^3, zero mean, unit s.d.) indexed by atlas
        voxel index modulo 64.
    extents, fractions
        Per edema bone: the extent drawn and the target fraction of its marrow.
    """

    edema: NDArray[np.uint8] | None
    red: NDArray[np.uint8] | None
    texture_fine: NDArray[np.float32]
    texture_coarse: NDArray[np.float32]
    extents: dict[Bone, str] = field(default_factory=dict)
    fractions: dict[Bone, float] = field(default_factory=dict)


def _tile(rng: np.random.Generator, sigma: float) -> NDArray[np.float32]:
    noise = rng.standard_normal((_TILE, _TILE, _TILE)).astype(np.float32)
    t = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    t -= t.mean()
    t /= t.std() + 1e-6
    return t


def _box(mask: NDArray[np.bool_], margin: int) -> tuple[slice, slice, slice]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + margin + 1, mask.shape)
    return (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])),
            slice(int(lo[2]), int(hi[2])))


def _bone_boxes(a: Atlas) -> dict[int, tuple[slice, slice, slice]]:
    """Bounding boxes of each bone (marrow and cortex), computed once per process."""
    cache = _bone_boxes.__dict__.setdefault("cache", {})
    # keyed on the array itself (kept alive here), not its id(): a freed parametric
    # atlas's id can be reused by the next one
    if cache.get("codes") is not a.codes:
        base = a.codes & np.uint8(CORTEX_BIT - 1)
        boxes = {}
        for obj, sl in enumerate(ndimage.find_objects(np.where(a.codes > 0, base, 0)),
                                 start=1):
            if sl is not None and obj <= len(Bone):
                boxes[obj] = sl
        cache.clear()
        cache["codes"] = a.codes
        cache["boxes"] = boxes
    boxes_out: dict[int, tuple[slice, slice, slice]] = cache["boxes"]
    return boxes_out


def _grow(sl: tuple[slice, slice, slice], n: int,
          shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    return tuple(slice(max(s.start - n, 0), min(s.stop + n, dim))  # type: ignore[return-value]
                 for s, dim in zip(sl, shape, strict=False))


def _edema_weights(a: Atlas, bone: Bone, extent: str, fraction: float,
                   rng: np.random.Generator, coarse: NDArray[np.float32]
                   ) -> tuple[tuple[slice, slice, slice], NDArray[np.uint8]]:
    """Edema weight (0..255) over the bone's box for one bone."""
    box = _grow(_bone_boxes(a)[int(bone)], 3, a.codes.shape)
    codes = a.codes[box]
    marrow = codes == int(bone)
    whole = marrow | (codes == (int(bone) | CORTEX_BIT))
    idx = np.argwhere(marrow)
    pts = idx * a.pitch
    if extent == "diffuse":
        centre = pts.mean(0) + rng.normal(0, 4.0, 3)
        radii = rng.uniform(0.8, 1.25, 3)
    else:
        # an articular surface: bone voxels next to cartilage
        art = whole & ndimage.binary_dilation(codes == CARTILAGE, iterations=3)
        cand = np.argwhere(art)
        if bone == Bone.TALUS and len(cand) and rng.uniform() < 0.6:
            top = cand[:, 2] >= np.percentile(cand[:, 2], 80)  # talar dome
            cand = cand[top]
        if len(cand) == 0:
            cand = idx
        centre = cand[rng.integers(len(cand))] * a.pitch
        radii = rng.uniform(0.7, 1.4, 3)
    rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rel = ((pts - centre) @ rot) / radii
    dist = np.sqrt((rel ** 2).sum(1))
    # low-frequency irregularity (mm), from the coarse tile at the atlas voxel
    gidx = idx + np.array([s.start for s in box])
    wobble = coarse[gidx[:, 0] % _TILE, gidx[:, 1] % _TILE, gidx[:, 2] % _TILE]
    g = -dist + rng.uniform(2.0, 3.5) * wobble
    # fraction of the whole bone (cortex included, as the truth counts it)
    share = min(fraction * float(whole.sum()) / max(len(g), 1), 0.98)
    tau = np.quantile(g, 1.0 - share)
    width = rng.uniform(1.0, 2.5)
    w = 1.0 / (1.0 + np.exp(-(g - tau) / width))
    out = np.zeros(codes.shape, np.uint8)
    out[tuple(idx.T)] = np.clip(np.rint(w * 255.0), 0, 255).astype(np.uint8)
    return box, out


def _red_weights(a: Atlas, rng: np.random.Generator
                 ) -> tuple[tuple[slice, slice, slice], NDArray[np.uint8]]:
    """Three to six soft islands of red marrow in the calcaneus (5-9 mm)."""
    box = _grow(_bone_boxes(a)[int(Bone.CALCANEUS)], 2, a.codes.shape)
    marrow = a.codes[box] == int(Bone.CALCANEUS)
    idx = np.argwhere(marrow)
    pts = idx * a.pitch
    w = np.zeros(len(idx), np.float32)
    for _ in range(int(rng.integers(3, 7))):
        c = pts[rng.integers(len(pts))]
        r = rng.uniform(2.5, 4.5)
        d = np.sqrt(((pts - c) ** 2).sum(1)) / r
        w = np.maximum(w, np.exp(-(d ** 3)).astype(np.float32) * rng.uniform(0.6, 1.0))
    out = np.zeros(marrow.shape, np.uint8)
    out[tuple(idx.T)] = np.rint(w * 255).astype(np.uint8)
    return box, out


def draw_marrow_fields(a: Atlas, rng: np.random.Generator, bones: tuple[Bone, ...],
                       extent: str, *, red_marrow: bool) -> MarrowFields:
    """Draw texture, edema (for ``bones``) and optional red marrow of one study.

    Parameters
    ----------
    a
        The atlas.
    rng
        The study's generator (consumed in a fixed order).
    bones
        Bones with edema (empty for a normal study).
    extent
        One of :data:`EXTENTS`; ``"mixed"`` draws per bone (the first bone moderate or
        diffuse, the others any).
    red_marrow
        Add red-marrow islands in the calcaneus.
    """
    fine = _tile(rng, 0.9)
    coarse = _tile(rng, 5.0)
    fields = MarrowFields(None, None, fine, coarse)
    if bones:
        edema = np.zeros(a.codes.shape, np.uint8)
        for n, bone in enumerate(bones):
            if extent == "mixed":
                choices = ("moderate", "diffuse") if n == 0 else tuple(FRACTION_RANGES)
                ext = choices[int(rng.integers(len(choices)))]
            else:
                ext = extent
            lo, hi = FRACTION_RANGES[ext]
            frac = float(rng.uniform(lo, hi))
            box, w = _edema_weights(a, bone, ext, frac, rng, coarse)
            edema[box] = np.maximum(edema[box], w)
            fields.extents[bone] = ext
            fields.fractions[bone] = frac
        fields.edema = edema
    if red_marrow:
        red = np.zeros(a.codes.shape, np.uint8)
        box, w = _red_weights(a, rng)
        red[box] = w
        fields.red = red
    return fields
