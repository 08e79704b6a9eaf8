"""Soft tissue running into a bone mask leaves it; edematous marrow inside the cortex stays."""

from __future__ import annotations

import numpy as np

from bmes_imaging.detection import _bone_trim
from bmes_imaging.detection._bone_trim import trim_soft_tissue

_VS = np.array([0.5, 0.5, 3.0])


def _foot(shift_mm: float, edema_side: float = -1.0
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(T1, mask, true bone, edema): a round bone (cortex 1.5 mm, marrow bright, a dark
    edematous patch against its cortex) in muscle, and its mask shifted by ``shift_mm``."""
    n = 80
    y, x = np.mgrid[:n, :n] * 0.5
    r = np.hypot(x - 20.0, y - 20.0)
    img2 = np.full((n, n), 0.4, dtype=np.float32)  # muscle
    img2[r < 10.0] = 0.05  # cortex
    img2[r < 8.5] = 1.0  # marrow
    # against the cortex (the mask's side or the far side), T1 as dark as muscle
    edema2 = (r < 8.5) & ((x - 20.0) * edema_side > 4.0)
    img2[edema2] = 0.4
    mask2 = np.hypot(x - 20.0 - shift_mm, y - 20.0) < 10.0
    stack = lambda a: np.repeat(a[:, :, None], 6, axis=2)  # noqa: E731
    return (stack(img2), stack(mask2).astype(np.uint8), stack(r < 10.0), stack(edema2))


def test_muscle_in_a_shifted_mask_leaves_it_and_edema_stays() -> None:
    img, mask, bone, edema = _foot(-4.0)
    out = trim_soft_tissue(img, _VS, mask)
    muscle_in_mask = (mask > 0) & ~bone
    assert muscle_in_mask.sum() > 500
    assert (out[muscle_in_mask] == 0).mean() > 0.9
    assert (out[edema & (mask > 0)] == 1).all()  # enclosed by the cortex: still bone
    marrow = (img > 0.9) & (mask > 0)
    assert (out[marrow] == 1).all()


def test_a_mask_on_the_bone_is_kept() -> None:
    img, mask, _bone, _edema = _foot(0.0)
    out = trim_soft_tissue(img, _VS, mask)
    assert (out == mask).all()


def test_a_bone_that_would_lose_too_much_keeps_its_mask(monkeypatch) -> None:
    img, mask, _bone, _edema = _foot(-4.0)
    monkeypatch.setattr(_bone_trim, "MAX_LOSS", 0.05)
    out = trim_soft_tissue(img, _VS, mask)
    assert (out == mask).all()


def test_only_the_chosen_bones_lose_voxels() -> None:
    img, mask, _bone, _edema = _foot(-4.0)
    assert (trim_soft_tissue(img, _VS, mask, bones={2}) == mask).all()
    assert (trim_soft_tissue(img, _VS, mask, bones={1}) != mask).any()


def test_a_lesion_reaching_past_a_shifted_mask_stays_with_far_mm(monkeypatch) -> None:
    img, mask, bone, edema = _foot(-4.0, edema_side=1.0)
    inside = edema & (mask > 0)
    assert (edema & (mask == 0)).any()  # the lesion runs up to 2.5 mm past the mask
    monkeypatch.setattr(_bone_trim, "FAR_MM", 3.0)
    out = trim_soft_tissue(img, _VS, mask)
    assert (out[inside] == 1).all()
    assert (out[(mask > 0) & ~bone] == 0).mean() > 0.9  # the muscle still leaves
