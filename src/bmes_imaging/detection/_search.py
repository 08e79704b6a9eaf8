"""Where and at what size the global search of :mod:`._atlas` looks for the foot:
starts from the image.

The translation search of the atlas registration covers +-36 mm around a centre. The
centre of the T1 field of view is a poor one: a technologist centres the field on the
hindfoot of a foot in neutral position, so a plantar-flexed, large or off-centre foot
lies 20-50 mm from it (tuning feet: bones 20-48 mm behind it). The imaged body itself
says where the foot is: the centroid of the largest connected body region (signal above
8 % of the range at 6 mm) lay within 5 mm of the true bones' centroid on every tuning
foot. Its width says the foot's size (:func:`body_size`): the search tries sizes
around it instead of fixed ones, which missed large and small feet unlike the atlas.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..geometry import apply_affine
from ..volume import Volume

__all__ = ["body_centre", "body_size"]

#: Standard deviation (mm) of the imaged body's narrowest principal axis (the width of
#: the ankle and foot) per unit of foot size. Chosen on the 26 tuning feet of
#: ``bench/tune_bone_masks.py`` (harsh seeds 7100-7113, ``--unlike`` 7200-7211) with 6 mm
#: taken across the slices, where the blocks are 6.6 mm: :func:`body_size` therefore
#: reads about 9 % above the true size on those feet (ratio 1.02-1.22, median 1.09), and
#: the search's factors 0.9 / 1.0 / 1.1 of it (:data:`._atlas._SCHEDULE`) were tuned
#: with that reading (about 0.98 / 1.09 / 1.2 of the true size).
_WIDTH_SD_PER_SIZE = 14.4


def body_centre(t1: Volume, fixed6: NDArray[np.float32], faff6: NDArray[np.float64],
                body: NDArray[np.bool_]) -> NDArray[np.float64]:
    """World centre of the imaged body: the centroid of the largest connected region of
    ``body`` (a mask on the 6 mm grid ``fixed6`` / ``faff6``), or the centre of the
    field of view when there is none."""
    fov = apply_affine(t1.affine, [(np.array(t1.shape) - 1) / 2.0])[0]
    region = _largest_region(body)
    if region is None or region.sum() < 8:
        return np.asarray(fov, dtype=np.float64)
    return np.asarray(apply_affine(faff6, [np.argwhere(region).mean(axis=0)])[0],
                      dtype=np.float64)


def _largest_region(body: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
    """The largest connected region of ``body``; None when it is empty."""
    lab, n = ndimage.label(body)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())[1:]
    return np.asarray(lab == (int(np.argmax(sizes)) + 1))


def body_size(faff6: NDArray[np.float64], body: NDArray[np.bool_]) -> float | None:
    """Foot size (relative to the atlas foot) read from the imaged body's width.

    The standard deviation of the largest body region along its narrowest principal
    axis (the width of the ankle and foot, little changed by flexion or by a field of
    view that cuts the toes or the leg) divided by :data:`_WIDTH_SD_PER_SIZE`; clipped
    to 0.75-1.35. None when the region is too small to tell, or when it reaches both
    ends of the grid along its narrowest direction: slices that do not span the foot's
    width read too small a size (tuning feet with half the slice coverage: 0.65-1.0 of
    the size read with full coverage, and 3 of 4 wholly misplaced), and the search
    then keeps its fixed sizes.
    """
    region = _largest_region(body)
    if region is None or region.sum() < 30:
        return None
    idx = np.argwhere(region)
    evals, evecs = np.linalg.eigh(np.cov((idx @ faff6[:3, :3].T).T))  # mm
    # the grid axis closest to the narrowest direction: a body cut at both of its ends
    # (slices not spanning the foot's width) says nothing of the width
    axis = int(np.argmax(np.abs(np.linalg.solve(faff6[:3, :3], evecs[:, 0]))))
    if idx[:, axis].min() == 0 and idx[:, axis].max() == region.shape[axis] - 1:
        return None
    sd = float(np.sqrt(max(float(evals[0]), 0.0)))
    return float(np.clip(sd / _WIDTH_SD_PER_SIZE, 0.75, 1.35))
